package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/httpapi"
	"github.com/chatcluster/chatcluster/chatserver/redis"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
	"github.com/chatcluster/chatcluster/web"
)

// Options is what a Server is made of besides its configuration. The zero
// value listens where the configuration says, opens every backend it needs
// and serves the web UI built into the binary.
type Options struct {
	// Listener serves the chat (the API, the WebSocket, the web UI and,
	// without a management listener, the probes) instead of a listener on
	// CHAT_ADDR.
	Listener net.Listener
	// ManagementListener serves /healthz, /readyz, /metrics and
	// /debug/pprof instead of a listener on CHAT_MANAGEMENT_ADDR; when it
	// is set they leave the chat's listener, as with that variable.
	ManagementListener net.Listener
	// SQLite is the embedded database for the roles that RolesFor gives
	// it, instead of one the server opens under CHAT_DATA_DIR; its owner
	// closes it after the server. Instances in one process share a store
	// this way, as instances in several share MongoDB.
	SQLite *sqlite.DB
	// Web serves the paths outside /api, /ws and the probes; nil: the web
	// UI built into the binary.
	Web http.Handler

	// Redis, Service and Transport adjust, for tests, settings that the
	// configuration does not hold (timings, key prefixes): each gets the
	// settings made from the configuration before they are used.
	Redis     func(*redis.Config)
	Service   func(*service.Config)
	Transport func(*httpapi.Config)
}

// Server is the chat server: its backends, the service and the HTTP
// transport on its listeners. Open starts it and Close stops it; the
// server owns every goroutine it starts and Close waits for them.
type Server struct {
	cfg   *config.Config
	log   *slog.Logger
	opts  Options
	roles Roles

	mu       sync.Mutex   // serialises Close
	chatLn   net.Listener // Options.Listener until it is served
	mgmtLn   net.Listener // Options.ManagementListener until it is served
	backends *service.Deps
	reg      *prometheus.Registry
	svc      *service.Service // nil when not running
	api      *httpapi.Server
	chat     *httpServer // the chat's listener
	mgmt     *httpServer // the management listener; nil when the chat's serves the probes
	addr     string
	mgmtAddr string
	cancel   context.CancelFunc // ends svc.Run
	ran      chan struct{}      // closed when svc.Run returned
}

// New returns a server for cfg that logs to log. It owns the listeners in
// opts from now on: Close closes them, also when Open was never called or
// failed.
func New(cfg *config.Config, log *slog.Logger, opts Options) *Server {
	return &Server{cfg: cfg, log: log, opts: opts, roles: RolesFor(cfg), chatLn: opts.Listener, mgmtLn: opts.ManagementListener}
}

// Addr is the address of the chat (API, WebSocket, web UI), once Open
// returned.
func (s *Server) Addr() string { return s.addr }

// ManagementAddr is the address of /healthz, /readyz, /metrics and
// /debug/pprof once Open returned: the management listener's when there is
// one, else the chat's.
func (s *Server) ManagementAddr() string { return s.mgmtAddr }

// API is the HTTP transport, once Open returned.
func (s *Server) API() *httpapi.Server { return s.api }

// Gatherer gathers the server's metrics, as /metrics serves them, once Open
// returned.
func (s *Server) Gatherer() prometheus.Gatherer { return s.reg }

// Open opens the backends that the configuration gives roles to, starts the
// service and serves. ctx bounds the opening only. When Open fails it has
// closed what it opened.
func (s *Server) Open(ctx context.Context) error {
	if err := s.open(ctx); err != nil {
		_ = s.Close()
		return err
	}
	return nil
}

func (s *Server) open(ctx context.Context) error {
	cfg := s.cfg
	b, err := openBackends(ctx, cfg, s.roles, &s.opts, s.log)
	if err != nil {
		return err
	}
	s.backends = b
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.reg.MustRegister(b.Collectors...)
	scfg := service.Config{
		Admins:        cfg.Admins,
		AdminPassword: cfg.AdminPassword,
		AuthMode:      cfg.AuthMode,
		SessionKey:    cfg.SessionKey,
		SessionTTL:    cfg.SessionTTL,
		Logger:        s.log,
		Metrics:       service.NewMetrics(s.reg),
		PageBytes:     cfg.PageBytes,
		MaxRooms:      cfg.MaxRooms,
		ConnectEvents: cfg.ConnectEvents,
	}
	if s.opts.Service != nil {
		s.opts.Service(&scfg)
	}
	svc, err := service.New(ctx, b, scfg)
	if err != nil {
		return err
	}
	separate := cfg.ManagementAddr != "" || s.opts.ManagementListener != nil
	hcfg := httpapi.Config{
		AllowedOrigins:     cfg.AllowedOrigins,
		AuthMode:           cfg.AuthMode,
		ProxyHeader:        cfg.ProxyHeader,
		TrustedProxies:     cfg.TrustedProxies,
		SessionTTL:         cfg.SessionTTL,
		RateLimit:          cfg.RateLimit,
		RateBurst:          cfg.RateBurst,
		RateBytes:          float64(cfg.RateBytes),
		RateBytesBurst:     cfg.RateBytesBurst,
		RateFlood:          cfg.RateFlood,
		SendQueue:          cfg.SendQueue,
		Gatherer:           s.reg,
		Web:                s.opts.Web,
		Pprof:              cfg.Pprof,
		SeparateManagement: separate,
		Logger:             s.log,

		ReadHeaderTimeout:            cfg.ReadHeaderTimeout,
		ReadTimeout:                  cfg.ReadTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		HandshakeTimeout:             cfg.HandshakeTimeout,
		MaxHeaderBytes:               cfg.MaxHeaderBytes,
		MaxBodyBytes:                 int64(cfg.MaxBodyBytes),
		MaxConnsPerAddress:           cfg.MaxConnectionsPerAddress,
		MaxUnauthenticatedPerAddress: cfg.MaxUnauthenticatedPerAddress,
		MaxSocketsPerUser:            cfg.MaxSocketsPerUser,
		MaxSocketsPerAddress:         cfg.MaxSocketsPerAddress,
	}
	if hcfg.Web == nil {
		hcfg.Web = web.Handler()
	}
	if s.opts.Transport != nil {
		s.opts.Transport(&hcfg)
	}
	s.svc, s.api = svc, httpapi.New(svc, hcfg)
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel, s.ran = cancel, make(chan struct{})
	go func() {
		defer close(s.ran)
		if err := svc.Run(runCtx); err != nil {
			s.log.Error("service stopped", "err", err)
		}
	}()

	// From here on Close stops what was started, also if listening fails.
	// A listener once served is its server's to close.
	ln, err := listen(s.chatLn, config.EnvAddr, cfg.Addr)
	if err != nil {
		return err
	}
	s.chat, s.chatLn = serveWith(ln, s.api.ChatHTTPServer(), s.log), nil
	s.addr, s.mgmtAddr = ln.Addr().String(), ln.Addr().String()
	if separate {
		ln, err := listen(s.mgmtLn, config.EnvManagementAddr, cfg.ManagementAddr)
		if err != nil {
			return err
		}
		s.mgmt, s.mgmtLn = serveWith(ln, s.api.ManagementHTTPServer(), s.log), nil
		s.mgmtAddr = ln.Addr().String()
	}
	s.log.Info("chat server listening", "addr", s.addr, "management_addr", s.mgmtAddr,
		"auth", cfg.AuthMode, "admins", cfg.Admins, "backends", s.roles)
	return nil
}

// Close stops accepting, closes every WebSocket with 1001 after its queued
// frames, stops the service and closes the backends, within the configured
// shutdown timeout. It is safe to call twice, and after a failed Open.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.svc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		// The chat listener stops first; the probes answer (503, shutting
		// down) until the connections are closed.
		errs = append(errs, s.chat.shutdown(ctx), s.api.Shutdown(ctx), s.mgmt.shutdown(ctx))
		s.cancel()
		<-s.ran
		s.svc.Close()
		s.svc, s.chat, s.mgmt = nil, nil, nil
		s.log.Info("chat server stopped")
	}
	for _, ln := range []*net.Listener{&s.chatLn, &s.mgmtLn} {
		if *ln != nil {
			errs = append(errs, (*ln).Close())
			*ln = nil
		}
	}
	if s.backends != nil {
		errs = append(errs, s.backends.Close())
		s.backends = nil
	}
	return errors.Join(errs...)
}
