package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/indexer"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// Indexer is `chatserver index`: the activity indexer, from the Kafka topic
// into Elasticsearch, with /healthz, /readyz (Kafka answers with the topic
// ensured, and Elasticsearch answers) and /metrics on a listener of its
// own. Open starts it and Close stops it; the indexer owns every goroutine
// it starts and Close waits for them.
type Indexer struct {
	cfg *config.Config
	log *slog.Logger
	ln  net.Listener // the given listener until it is served

	mu      sync.Mutex // serialises Close
	probes  *httpServer
	addr    string
	stop    context.CancelFunc // ends indexing and checking
	indexed chan struct{}      // closed when indexing stopped
	checked chan struct{}      // closed when checking stopped
	err     error              // why indexing stopped, once indexed is closed
}

// NewIndexer returns the indexer for cfg that logs to log. It serves its
// probes on ln, or when ln is nil on a listener of its own on
// CHAT_MANAGEMENT_ADDR when that is set, else on CHAT_ADDR. It owns ln from
// now on: Close closes it, also when Open was never called or failed.
func NewIndexer(cfg *config.Config, log *slog.Logger, ln net.Listener) *Indexer {
	return &Indexer{cfg: cfg, log: log, ln: ln}
}

// Addr is the address of the probes, once Open returned.
func (x *Indexer) Addr() string { return x.addr }

// Done is closed when indexing stopped by itself, because its Kafka reader
// could not be set up; Close tells why.
func (x *Indexer) Done() <-chan struct{} { return x.indexed }

// Open starts indexing and serving the probes. When it fails it has closed
// what it opened.
func (x *Indexer) Open() error {
	if err := x.open(); err != nil {
		_ = x.Close()
		return err
	}
	return nil
}

func (x *Indexer) open() error {
	cfg := x.cfg
	if len(cfg.KafkaBrokers) == 0 || cfg.ElasticURL == "" {
		return errors.New("the indexer needs CHAT_KAFKA_BROKERS and CHAT_ELASTICSEARCH_URL")
	}
	conn, err := kafkaConn(cfg)
	if err != nil {
		return err
	}
	es, err := elasticClient(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ix, err := indexer.New(indexer.Config{
		Conn:          conn,
		Topic:         activityTopic(cfg),
		Group:         cfg.IndexerGroup,
		BatchSize:     cfg.IndexerBatch,
		FlushInterval: cfg.IndexerFlushInterval,
		RetryBackoff:  cfg.IndexerRetryBackoff,
		Registerer:    reg,
		Logger:        x.log,
	}, es)
	if err != nil {
		return err
	}
	// The indexer needs both: each failing makes it unready.
	health := service.NewHealth(map[string]service.Check{
		string(Kafka):         {Checker: service.CheckFunc(ix.CheckKafka), Critical: true},
		string(Elasticsearch): {Checker: es, Critical: true},
	}, service.NewBackendUp(reg))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeProbe(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := health.Check(r.Context())
		code := http.StatusOK
		if !rd.Ready() {
			code = http.StatusServiceUnavailable
		}
		writeProbe(w, code, rd)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// The indexer serves nothing but its probes and metrics: on the
	// management address when there is one, else on CHAT_ADDR.
	env, addr := config.EnvAddr, cfg.Addr
	if cfg.ManagementAddr != "" {
		env, addr = config.EnvManagementAddr, cfg.ManagementAddr
	}
	ln, err := listen(x.ln, env, addr)
	if err != nil {
		return err
	}
	x.probes, x.ln, x.addr = serve(ln, mux, x.log), nil, ln.Addr().String()

	runCtx, stop := context.WithCancel(context.Background())
	x.stop, x.indexed, x.checked = stop, make(chan struct{}), make(chan struct{})
	go func() {
		defer close(x.checked)
		health.Run(runCtx, 5*time.Second)
	}()
	go func() {
		defer close(x.indexed)
		x.err = ix.Run(runCtx)
	}()
	return nil
}

// Close stops indexing (what was fetched but not written is not
// committed, and is read again at the next start) and the probes, within
// the configured shutdown timeout. It returns why indexing stopped if it
// stopped by itself. It is safe to call twice, and after a failed Open.
func (x *Indexer) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	if x.stop != nil {
		x.stop()
		<-x.indexed
		<-x.checked
		errs = append(errs, x.err)
		x.stop = nil
	}
	if x.probes != nil {
		ctx, cancel := context.WithTimeout(context.Background(), x.cfg.ShutdownTimeout)
		defer cancel()
		errs = append(errs, x.probes.shutdown(ctx))
		x.probes = nil
		x.log.Info("indexer stopped")
	}
	if x.ln != nil {
		errs = append(errs, x.ln.Close())
		x.ln = nil
	}
	return errors.Join(errs...)
}

func writeProbe(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
