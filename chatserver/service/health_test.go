package service

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
)

// switchable is a backend whose health the test sets.
type switchable struct{ down atomic.Bool }

func (s *switchable) Check(context.Context) error {
	if s.down.Load() {
		return chatserver.Errorf(chatserver.EUnavailable, "away")
	}
	return nil
}

func TestHealthCheck(t *testing.T) {
	store, kafka, es := &switchable{}, &switchable{}, &switchable{}
	reg := prometheus.NewRegistry()
	up := NewBackendUp(reg)
	h := NewHealth(map[string]Check{
		"mongodb":       {Checker: store, Critical: Critical},
		"kafka":         {Checker: kafka, Critical: Degrading},
		"elasticsearch": {Checker: es, Critical: Degrading},
	}, up)
	tests := []struct {
		name             string
		store, kafka, es bool // down
		status           string
		ready            bool
		storeUp, kafkaUp float64
		wantKafkaMessage bool
	}{
		{name: "AllUp", status: StatusReady, ready: true, storeUp: 1, kafkaUp: 1},
		{name: "KafkaDown", kafka: true, status: StatusDegraded, ready: true, storeUp: 1, kafkaUp: 0, wantKafkaMessage: true},
		{name: "KafkaAndElasticsearchDown", kafka: true, es: true, status: StatusDegraded, ready: true, storeUp: 1, kafkaUp: 0, wantKafkaMessage: true},
		{name: "StoreDown", store: true, status: StatusUnready, storeUp: 0, kafkaUp: 1},
		{name: "StoreAndKafkaDown", store: true, kafka: true, status: StatusUnready, storeUp: 0, kafkaUp: 0, wantKafkaMessage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store.down.Store(tt.store)
			kafka.down.Store(tt.kafka)
			es.down.Store(tt.es)
			r := h.Check(context.Background())
			if r.Status != tt.status || r.Ready() != tt.ready || len(r.Backends) != 3 {
				t.Fatalf("%+v", r)
			}
			if got := r.Backends["kafka"] != "ok"; got != tt.wantKafkaMessage {
				t.Fatalf("kafka reported %q", r.Backends["kafka"])
			}
			if got := backendUp(t, reg, "mongodb"); got != tt.storeUp {
				t.Errorf("chat_backend_up{mongodb} %v, want %v", got, tt.storeUp)
			}
			if got := backendUp(t, reg, "kafka"); got != tt.kafkaUp {
				t.Errorf("chat_backend_up{kafka} %v, want %v", got, tt.kafkaUp)
			}
		})
	}
}

// A degrading backend that does not answer at all leaves the instance
// degraded once its check times out, rather than holding /readyz up.
func TestHealthHangingBackendDegrades(t *testing.T) {
	hangs := CheckFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return chatserver.Errorf(chatserver.EUnavailable, "elasticsearch: %v", ctx.Err())
	})
	h := NewHealth(map[string]Check{"elasticsearch": {Checker: hangs}, "mongodb": {Checker: &switchable{}, Critical: Critical}}, nil)
	r := h.Check(context.Background())
	if r.Status != StatusDegraded || !r.Ready() || r.Backends["mongodb"] != "ok" || r.Backends["elasticsearch"] == "ok" {
		t.Fatalf("%+v", r)
	}
}

// The background checker keeps the gauge current without anybody asking
// /readyz, and stops when its context ends.
func TestHealthRunKeepsTheGaugeCurrent(t *testing.T) {
	kafka := &switchable{}
	reg := prometheus.NewRegistry()
	h := NewHealth(map[string]Check{"kafka": {Checker: kafka}}, NewBackendUp(reg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx, 10*time.Millisecond)
	}()
	gauge := func() float64 { return backendUp(t, reg, "kafka") }
	waitFor(t, "the gauge shows kafka up", func() bool { return gauge() == 1 })
	kafka.down.Store(true)
	waitFor(t, "the gauge shows kafka down", func() bool { return gauge() == 0 })
	kafka.down.Store(false)
	waitFor(t, "the gauge shows kafka up again", func() bool { return gauge() == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// backendUp reads chat_backend_up{backend} from reg; -1 when it is not there.
func backendUp(t *testing.T, reg *prometheus.Registry, backend string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "chat_backend_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" && l.GetValue() == backend {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
