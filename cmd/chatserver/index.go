package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/indexer"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// runIndex runs `chatserver index`: the activity indexer, from the Kafka
// topic into Elasticsearch, until ctx ends. It serves /healthz, /readyz
// (Kafka answers with the topic ensured, and Elasticsearch answers) and
// /metrics on CHAT_MANAGEMENT_ADDR when it is set (and nothing on CHAT_ADDR),
// else on CHAT_ADDR.
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
		Topic:         activityTopic(cfg),
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
	// The indexer needs both: each failing makes it unready.
	health := service.NewHealth(map[string]service.Check{
		"kafka":         {Checker: service.CheckFunc(ix.CheckKafka), Critical: true},
		"elasticsearch": {Checker: es, Critical: true},
	}, service.NewBackendUp(reg))

	mgmt := http.NewServeMux()
	mgmt.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeProbe(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mgmt.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := health.Check(r.Context())
		code := http.StatusOK
		if !rd.Ready() {
			code = http.StatusServiceUnavailable
		}
		writeProbe(w, code, rd)
	})
	mgmt.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// The indexer serves nothing but its probes and metrics: on the
	// management address when there is one, else on CHAT_ADDR.
	env, addr := config.EnvAddr, cfg.Addr
	if cfg.ManagementAddr != "" {
		env, addr = config.EnvManagementAddr, cfg.ManagementAddr
	}
	probes, err := listen(env, addr, mgmt, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indexer: probes on %s, topic %s, group %s\n", probes.addr(), cfg.KafkaTopic, cfg.IndexerGroup)

	runCtx, stop := context.WithCancel(ctx)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		health.Run(runCtx, 5*time.Second)
	}()
	runErr := ix.Run(runCtx)
	stop()
	<-checked
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = probes.shutdown(shutdown)
	log.Info("indexer stopped")
	return errors.Join(runErr, err)
}

func writeProbe(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
