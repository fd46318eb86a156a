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
	http     *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	done     chan error
}

// NewMain returns a server for cfg.
func NewMain(cfg *config.Config, log *slog.Logger) *Main { return &Main{Config: cfg, Log: log} }

// Addr is the address the server listens on, once Open returned.
func (m *Main) Addr() string { return m.ln.Addr().String() }

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
		AllowedOrigins: cfg.AllowedOrigins,
		AuthMode:       cfg.AuthMode,
		ProxyHeader:    cfg.ProxyHeader,
		SessionTTL:     cfg.SessionTTL,
		RateLimit:      cfg.RateLimit,
		RateBurst:      cfg.RateBurst,
		SendQueue:      cfg.SendQueue,
		Gatherer:       reg,
		Web:            web.Handler(),
		Pprof:          cfg.Pprof,
		Logger:         m.Log,
	})
	m.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on CHAT_ADDR %s: %w", cfg.Addr, err)
	}
	m.http = &http.Server{Handler: m.api, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn)}
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.done = make(chan error, 2)
	go func() { m.done <- svc.Run(runCtx) }()
	go func() {
		if err := m.http.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("serving", "err", err)
		}
		m.done <- nil
	}()
	m.Log.Info("chat server listening", "addr", m.ln.Addr().String(), "auth", cfg.AuthMode, "admins", cfg.Admins)
	return nil
}

// Close stops accepting, closes every WebSocket with 1001 after its queued
// frames, stops the service and closes the backends, within the configured
// shutdown timeout. Safe to call twice.
func (m *Main) Close() error {
	var errs []error
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		errs = append(errs, m.http.Shutdown(ctx), m.api.Shutdown(ctx))
		m.cancel()
		<-m.done
		<-m.done
		m.svc.Close()
		m.http = nil
		m.Log.Info("chat server stopped")
	}
	if m.backends != nil {
		errs = append(errs, m.backends.Close())
		m.backends = nil
	}
	return errors.Join(errs...)
}
