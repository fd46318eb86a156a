package service_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// gauged returns the value of the metric name in reg; -1 when it is not there.
func gauged(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

func TestMetricsCountStoredMessagesAndOpenConnections(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.Metrics = service.NewMetrics(reg) })
	e.register(t, "alice")
	first, _ := e.connect(t, "alice")
	e.connect(t, "alice")
	first.Close(context.Background())
	e.send(t, "alice", "general", "one", "c1")
	e.send(t, "alice", "general", "one again", "c1")
	e.send(t, "alice", "general", "two", "c2")
	tests := []struct {
		name, metric string
		want         float64
	}{
		{"open connections are counted, closed ones not", "chat_connections", 1},
		{"stored messages are counted, repeated sends not", "chat_messages_stored_total", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gauged(t, reg, tt.metric); got != tt.want {
				t.Fatalf("%s %v, want %v", tt.metric, got, tt.want)
			}
		})
	}
}

func TestReadinessFollowsTheBackendsChecks(t *testing.T) {
	var storeDown, indexDown atomic.Bool
	down := func(b *atomic.Bool) service.CheckFunc {
		return func(context.Context) error {
			if b.Load() {
				return chatserver.Errorf(chatserver.EUnavailable, "away")
			}
			return nil
		}
	}
	e := newEnv(t, func(_ *service.Config, b *service.Deps) {
		b.AddCheck("store", down(&storeDown), service.Critical)
		b.AddCheck("index", down(&indexDown), service.Degrading)
	})
	tests := []struct {
		name         string
		store, index bool // down
		status       string
	}{
		{"every backend up is ready", false, false, service.StatusReady},
		{"a degrading backend down is degraded", false, true, service.StatusDegraded},
		{"a critical backend down is unready", true, false, service.StatusUnready},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storeDown.Store(tt.store)
			indexDown.Store(tt.index)
			if r := e.svc.Ready(context.Background()); r.Status != tt.status || len(r.Backends) != 2 {
				t.Fatalf("%+v, want %s", r, tt.status)
			}
		})
	}
}
