package httpapi

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver/service"
)

// Config tunes the transport. Zero fields take the defaults in their comments.
type Config struct {
	AllowedOrigins []string      // origins allowed on the upgrade besides the request's own host
	AuthMode       string        // "password" (default) or "proxy"
	ProxyHeader    string        // default X-Forwarded-User
	TrustedProxies []*net.IPNet  // proxy mode: TCP peers whose ProxyHeader is believed; none: nobody's
	SessionTTL     time.Duration // cookie lifetime; default 7 days
	RateLimit      float64       // commands per second per connection; 0 disables
	RateBurst      int           // default 40
	RateBytes      float64       // with RateLimit: bytes of replies per second per connection; 0: not counted
	RateBytesBurst int           // burst of RateBytes; default 4 RateBytes
	RateFlood      int           // commands a connection may owe, sent while refused, before it is closed with 1008; default 5 RateBurst
	SendQueue      int           // bytes queued per connection before it is closed with 1008; default 4 MiB
	PingInterval   time.Duration // default 25s
	PongTimeout    time.Duration // a connection silent this long is closed; default 60s
	WriteTimeout   time.Duration // bound on one frame write; default 10s
	RequestTimeout time.Duration // bound on one REST call or command; default 10s
	Gatherer       prometheus.Gatherer
	Web            http.Handler // serves everything outside /api, /ws and the probes
	Pprof          bool         // serve /debug/pprof
	// SeparateManagement serves /healthz, /readyz, /metrics and
	// /debug/pprof only on Management(); the chat handler answers 404 there.
	SeparateManagement bool
	Logger             *slog.Logger

	// The front door (front.go): zero timeouts and sizes take the defaults
	// in their comments; a zero cap is no cap.
	ReadHeaderTimeout            time.Duration // a request's line and headers; default 10s
	ReadTimeout                  time.Duration // a whole request, headers and body; default 30s
	IdleTimeout                  time.Duration // a keep-alive connection idle after a request; default 60s
	HandshakeTimeout             time.Duration // writing the WebSocket handshake's answer; default 10s
	MaxHeaderBytes               int           // a request's line and headers; default 16 KiB
	MaxBodyBytes                 int64         // a request's body; default 64 KiB
	MaxConnsPerAddress           int           // connections open from one client address
	MaxUnauthenticatedPerAddress int           // connections from one client address without a valid session yet
	MaxSocketsPerUser            int           // WebSockets of one user
	MaxSocketsPerAddress         int           // WebSockets from one client address
}

// Server is the HTTP side of the chat server.
type Server struct {
	cfg      Config
	svc      *service.Service
	log      *slog.Logger
	upgrader websocket.Upgrader
	handler  http.Handler
	mgmt     http.Handler

	seed     maphash.Seed
	conns    [connShards]connShard
	wg       sync.WaitGroup // connection handlers and the pinger
	writers  *writers
	peers    *connTracker   // the chat listener's connections, per client address
	sockets  *socketTracker // WebSockets per user and client address
	draining atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

const connShards = 32

type connShard struct {
	mu sync.Mutex
	m  map[*wsConn]struct{}
}

// New returns the transport for svc. It starts the pinger; Shutdown stops it.
func New(svc *service.Service, cfg Config) *Server {
	if cfg.AuthMode == "" {
		cfg.AuthMode = "password"
	}
	if cfg.ProxyHeader == "" {
		cfg.ProxyHeader = "X-Forwarded-User"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 40
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 4 << 20
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	frontDoorDefaults(&cfg)
	// One writer per CPU but one: the message path (readers, the store, the
	// ackers) keeps a CPU while the writers work through a broadcast.
	s := &Server{cfg: cfg, svc: svc, log: cfg.Logger, seed: maphash.MakeSeed(), stop: make(chan struct{}), writers: newWriters(max(1, runtime.GOMAXPROCS(0)-1))}
	for i := range s.conns {
		s.conns[i].m = map[*wsConn]struct{}{}
	}
	s.peers = newConnTracker(cfg, s.trusted, s.hit)
	s.sockets = newSocketTracker(cfg)
	s.upgrader = websocket.Upgrader{
		// Every connection keeps its read buffer for life. Commands are a
		// few hundred bytes; larger frames are read straight into the
		// message, past the buffer. 256 rather than 1024 bytes took idle
		// connections from 8.6-8.9 to 7.1-8.2 KiB each (make bench, idle),
		// and max throughput did not move.
		ReadBufferSize:   256,
		WriteBufferSize:  maxFrame + 512,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      s.checkOrigin,
		HandshakeTimeout: cfg.HandshakeTimeout,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeJSON(w, status, map[string]any{"error": map[string]string{"code": "bad_request", "message": reason.Error()}})
		},
	}
	mux := http.NewServeMux()
	s.routes(mux)
	if cfg.Web != nil {
		mux.Handle("/", cfg.Web)
	}
	s.handler = s.frontDoor(mux)
	if cfg.SeparateManagement {
		mgmt := http.NewServeMux()
		s.managementRoutes(mgmt)
		s.mgmt = s.frontDoor(mgmt)
		for _, p := range managementPaths {
			mux.HandleFunc(p, s.notFound)
		}
	} else {
		s.managementRoutes(mux)
		s.mgmt = s.handler
	}
	s.wg.Add(1)
	go s.pinger()
	return s
}

// ServeHTTP serves the API, the WebSocket endpoint and the web UI, and
// unless Config.SeparateManagement the probes, metrics and profiles.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Management returns the handler of the probes, metrics and profiles, for a
// listener of their own when Config.SeparateManagement (else it is the chat
// handler itself).
func (s *Server) Management() http.Handler { return s.mgmt }

func (s *Server) shard(c *wsConn) *connShard {
	return &s.conns[maphash.Comparable(s.seed, c)%connShards]
}

// track records a connection and counts it in Server.wg, unless the
// server is draining; its goroutine calls wg.Done when it ends.
func (s *Server) track(c *wsConn) bool {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	sh.m[c] = struct{}{}
	// Counted here, under the lock Shutdown takes to start draining, so that
	// its Wait never starts before a connection it must wait for is counted.
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *wsConn) {
	sh := s.shard(c)
	sh.mu.Lock()
	delete(sh.m, c)
	sh.mu.Unlock()
}

func (s *Server) each(f func(*wsConn)) {
	for i := range s.conns {
		sh := &s.conns[i]
		sh.mu.Lock()
		list := make([]*wsConn, 0, len(sh.m))
		for c := range sh.m {
			list = append(list, c)
		}
		sh.mu.Unlock()
		for _, c := range list {
			f(c)
		}
	}
}

// pinger pings every connection; pongs extend their read deadlines.
func (s *Server) pinger() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.each(func(c *wsConn) { c.control(pingFrame) })
	}
}

// Shutdown closes every WebSocket with 1001 once its queued frames are
// written, and waits for the connections to end or ctx to expire. Call it
// after http.Server.Shutdown has stopped new requests. Safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		for i := range s.conns {
			s.conns[i].mu.Lock()
			s.draining.Store(true)
			s.conns[i].mu.Unlock()
		}
		close(s.stop)
		s.each(func(c *wsConn) { c.Close(CloseGoingAway, "server shutting down") })
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.writers.wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.each(func(c *wsConn) { c.conn.Close() })
		<-done
		return ctx.Err()
	}
}
