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

// serve serves h on ln until shutdown.
func serve(ln net.Listener, h http.Handler, log *slog.Logger) *httpServer {
	s := &httpServer{
		http:   &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		served: make(chan struct{}),
	}
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
