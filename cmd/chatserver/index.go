package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/indexer"
)

// runIndex runs `chatserver index`: the activity indexer, from the Kafka
// topic into Elasticsearch, until ctx ends. It serves /healthz, /readyz (Kafka
// and Elasticsearch reachable) and /metrics on CHAT_ADDR.
func runIndex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse("chatserver index", args, getenv, stderr)
	if err != nil {
		return err
	}
	if len(cfg.KafkaBrokers) == 0 || cfg.ElasticURL == "" {
		return errors.New("the indexer needs CHAT_KAFKA_BROKERS and CHAT_ELASTICSEARCH_URL")
	}
	log := newLogger(cfg.LogLevel, stderr)
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
		Topic:         cfg.KafkaTopic,
		Group:         cfg.IndexerGroup,
		BatchSize:     cfg.IndexerBatch,
		FlushInterval: cfg.IndexerFlushInterval,
		RetryBackoff:  cfg.IndexerRetryBackoff,
		Registerer:    reg,
		Logger:        log,
	}, es)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeProbe(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status, code := map[string]string{}, http.StatusOK
		for name, err := range map[string]error{"kafka": conn.Check(ctx, cfg.KafkaTopic), "elasticsearch": es.Check(ctx)} {
			status[name] = "ok"
			if err != nil {
				status[name], code = err.Error(), http.StatusServiceUnavailable
			}
		}
		writeProbe(w, code, map[string]any{"backends": status})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on CHAT_ADDR %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving probes", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "indexer: probes on %s, topic %s, group %s\n", ln.Addr(), cfg.KafkaTopic, cfg.IndexerGroup)

	runErr := ix.Run(ctx)
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdown)
	<-served
	log.Info("indexer stopped")
	return errors.Join(runErr, err)
}

func writeProbe(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
