package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// listen returns ln, or when it is nil a new listener on addr, the value of
// the variable env.
func listen(ln net.Listener, env, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s %s: %w", env, addr, err)
	}
	return ln, nil
}

// httpServer is one listener of the program and the goroutine serving it.
type httpServer struct {
	http   *http.Server
	served chan struct{} // closed when the goroutine returned
}

// serve serves h on ln until shutdown, bounding the read of a request's
// headers (the indexer's probes; the chat server's listeners are the
// transport's, see serveWith).
func serve(ln net.Listener, h http.Handler, log *slog.Logger) *httpServer {
	return serveWith(ln, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, log)
}

// serveWith serves ln with hs, which logs to log, until shutdown.
func serveWith(ln net.Listener, hs *http.Server, log *slog.Logger) *httpServer {
	hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	s := &httpServer{http: hs, served: make(chan struct{})}
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// shutdown stops the server gracefully within ctx and waits for its
// goroutine; a nil server is done.
func (s *httpServer) shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	<-s.served
	return err
}
