package httpapi

import (
	"net/http"
	"time"
)

// The front door is what every request passes before a handler, against
// clients that hold connections open or send what no client should:
//
//   - the http.Server's timeouts (ChatHTTPServer): the request line and
//     headers within ReadHeaderTimeout, the whole request within
//     ReadTimeout, a keep-alive connection idle for at most IdleTimeout,
//     headers of at most MaxHeaderBytes; the WebSocket handshake's answer
//     within HandshakeTimeout;
//   - caps per client address on the connections open and on those without
//     a valid session yet (connTracker, limits.go), and on the WebSockets
//     of a user and of an address (socketTracker);
//   - no state-changing request from another site's page (csrf.go), and
//     bodies read whole before the handler, up to MaxBodyBytes (body.go);
//   - the security headers on every answer (headers.go).
//
// Each refusal is counted in chat_limited_total{limit}, by the names of
// limits.go.

// frontDoorDefaults fills the zero timeouts and sizes of cfg.
func frontDoorDefaults(cfg *Config) {
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&cfg.ReadHeaderTimeout, 10 * time.Second}, {&cfg.ReadTimeout, 30 * time.Second},
		{&cfg.IdleTimeout, 60 * time.Second}, {&cfg.HandshakeTimeout, 10 * time.Second},
	} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 16 << 10
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
}

// ChatHTTPServer returns the http.Server for the chat's listener: the
// chat handler behind the front door's timeouts and header limit, with the
// caps per client address on its connections.
func (s *Server) ChatHTTPServer() *http.Server {
	hs := s.httpServer(s.handler)
	hs.ConnContext, hs.ConnState = s.peers.connContext, s.peers.connState
	return hs
}

// ManagementHTTPServer returns the http.Server for a listener of
// Management()'s own: the same timeouts and header limit, no caps.
func (s *Server) ManagementHTTPServer() *http.Server { return s.httpServer(s.mgmt) }

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
	}
}

// frontDoor is h behind the security headers and the checks of each
// request: its origin and type (crossSiteRefusal), then its body
// (readBody).
func (s *Server) frontDoor(h http.Handler) http.Handler {
	return securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.peers.handling(r.Context())
		limit, status, err := s.crossSiteRefusal(r)
		if err == nil {
			limit, status, err = s.readBody(w, r)
		}
		if err != nil {
			if limit != "" {
				s.hit(limit)
			}
			if status == http.StatusRequestEntityTooLarge || status == http.StatusRequestTimeout {
				w.Header().Set("Connection", "close") // the rest of the body is not worth waiting for
			}
			s.writeErrorStatus(w, r, "request", status, err)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// hit counts a refusal by limit, as the service counts its own limits
// biting (chat_limited_total).
func (s *Server) hit(limit string) { s.svc.Metrics().Limited(limit) }
