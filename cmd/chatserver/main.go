// Command chatserver runs the ChatCluster chat server, or with `index` the
// activity indexer. Run `chatserver -h` for its configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/httpapi"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	var err error
	if len(args) > 0 && args[0] == "index" {
		err = runIndex(ctx, args[1:], os.Getenv, os.Stdout, os.Stderr)
	} else {
		err = run(ctx, args, os.Getenv, os.Stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Parse("chatserver", args, getenv, stderr)
	if err != nil {
		return err
	}
	m := NewMain(cfg, newLogger(cfg.LogLevel, stderr))
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	return m.Close()
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Main is the chat server as a program: Open starts it, Close stops it
// gracefully. End-to-end tests run it in-process.
type Main struct {
	Config *config.Config
	Log    *slog.Logger

	backends *service.Backends
	svc      *service.Service
	api      *httpapi.Server
	chat     *server // CHAT_ADDR
	mgmt     *server // CHAT_MANAGEMENT_ADDR; nil when the chat listener serves the probes
	cancel   context.CancelFunc
	ran      chan struct{} // closed when svc.Run returned
}

// NewMain returns a server for cfg.
func NewMain(cfg *config.Config, log *slog.Logger) *Main { return &Main{Config: cfg, Log: log} }

// Addr is the address of the chat (API, WebSocket, web UI), once Open returned.
func (m *Main) Addr() string { return m.chat.addr() }

// ManagementAddr is the address of /healthz, /readyz, /metrics and
// /debug/pprof once Open returned: the management listener's when
// CHAT_MANAGEMENT_ADDR is set, else the chat's.
func (m *Main) ManagementAddr() string {
	if m.mgmt != nil {
		return m.mgmt.addr()
	}
	return m.Addr()
}

// Open opens the backends, starts the service and listens.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	b, err := openBackends(ctx, cfg, m.Log)
	if err != nil {
		return err
	}
	m.backends = b
	return m.Start(ctx, b)
}

// Start runs the server on backends opened by the caller (Close closes them).
func (m *Main) Start(ctx context.Context, b *service.Backends) error {
	cfg := m.Config
	m.backends = b
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(b.Collectors...)
	svc, err := service.New(ctx, b, service.Config{
		Admins:        cfg.Admins,
		AdminPassword: cfg.AdminPassword,
		AuthMode:      cfg.AuthMode,
		SessionKey:    cfg.SessionKey,
		SessionTTL:    cfg.SessionTTL,
		Logger:        m.Log,
		Metrics:       service.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	m.svc = svc
	m.api = httpapi.New(svc, httpapi.Config{
		AllowedOrigins:     cfg.AllowedOrigins,
		AuthMode:           cfg.AuthMode,
		ProxyHeader:        cfg.ProxyHeader,
		TrustedProxies:     cfg.TrustedProxies,
		SessionTTL:         cfg.SessionTTL,
		RateLimit:          cfg.RateLimit,
		RateBurst:          cfg.RateBurst,
		SendQueue:          cfg.SendQueue,
		Gatherer:           reg,
		Web:                web.Handler(),
		Pprof:              cfg.Pprof,
		SeparateManagement: cfg.ManagementAddr != "",
		Logger:             m.Log,
	})
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.ran = make(chan struct{})
	go func() {
		defer close(m.ran)
		if err := svc.Run(runCtx); err != nil {
			m.Log.Error("service stopped", "err", err)
		}
	}()
	// From here on Close stops what was started, also if listening fails.
	if m.chat, err = listen(config.EnvAddr, cfg.Addr, m.api, m.Log); err != nil {
		return err
	}
	if cfg.ManagementAddr != "" {
		if m.mgmt, err = listen(config.EnvManagementAddr, cfg.ManagementAddr, m.api.Management(), m.Log); err != nil {
			return err
		}
	}
	m.Log.Info("chat server listening", "addr", m.Addr(), "management_addr", m.ManagementAddr(), "auth", cfg.AuthMode, "admins", cfg.Admins)
	return nil
}

// Close stops accepting, closes every WebSocket with 1001 after its queued
// frames, stops the service and closes the backends, within the configured
// shutdown timeout. Safe to call twice, and after a failed Open or Start.
func (m *Main) Close() error {
	var errs []error
	if m.svc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		// The chat listener stops first; the probes answer (503, shutting
		// down) until the connections are closed.
		errs = append(errs, m.chat.shutdown(ctx), m.api.Shutdown(ctx), m.mgmt.shutdown(ctx))
		m.cancel()
		<-m.ran
		m.svc.Close()
		m.svc, m.chat, m.mgmt = nil, nil, nil
		m.Log.Info("chat server stopped")
	}
	if m.backends != nil {
		errs = append(errs, m.backends.Close())
		m.backends = nil
	}
	return errors.Join(errs...)
}

// server is one HTTP listener of the program and the goroutine serving it.
type server struct {
	http   *http.Server
	ln     net.Listener
	served chan struct{}
}

// listen listens on addr (the value of the variable env) and serves h there
// until shutdown.
func listen(env, addr string, h http.Handler, log *slog.Logger) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s %s: %w", env, addr, err)
	}
	s := &server{
		http:   &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln:     ln,
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving", "addr", addr, "err", err)
		}
	}()
	return s, nil
}

func (s *server) addr() string { return s.ln.Addr().String() }

// shutdown stops the server gracefully within ctx; a nil server is done.
func (s *server) shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	<-s.served
	return err
}
