package service

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Readiness statuses, from best to worst.
const (
	StatusReady    = "ready"    // every backend answers
	StatusDegraded = "degraded" // a degrading backend fails: chat works, part of the product does not
	StatusUnready  = "unready"  // a critical backend fails, or the instance is shutting down
)

// checkTimeout bounds one backend's check. The checks run at once, so
// /readyz answers within it even when a backend hangs: inside the timeout of
// a readiness probe (3 s as the operator sets it), so that a hanging
// degrading backend shows as degraded, not as a failed probe.
const checkTimeout = 2 * time.Second

// Readiness is the state of an instance as /readyz reports it.
type Readiness struct {
	Status   string            `json:"status"`   // StatusReady, StatusDegraded or StatusUnready
	Backends map[string]string `json:"backends"` // "ok", or why the backend failed its check
}

// Ready reports whether the instance can serve chat (ready or degraded).
func (r Readiness) Ready() bool { return r.Status != StatusUnready }

// NewBackendUp returns the gauge chat_backend_up{backend}, registered with
// reg unless it is nil.
func NewBackendUp(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chat_backend_up",
		Help: "Whether a configured backend passed its last check (1) or not (0), by backend.",
	}, []string{"backend"})
	if reg != nil {
		reg.MustRegister(g)
	}
	return g
}

// Health checks a set of backends: on demand for /readyz, and periodically
// with Run, keeping chat_backend_up current either way. It is safe for
// concurrent use.
type Health struct {
	checks map[string]Check
	up     *prometheus.GaugeVec
}

// NewHealth returns the health of checks, reported in up (nil: nowhere).
func NewHealth(checks map[string]Check, up *prometheus.GaugeVec) *Health {
	return &Health{checks: checks, up: up}
}

// Check runs every check at once, each bounded by checkTimeout and by ctx,
// updates the gauge and returns the result.
func (h *Health) Check(ctx context.Context) Readiness {
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(h.checks))
	var wg sync.WaitGroup
	for name, c := range h.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			results <- result{name, c.Checker.Check(cctx)}
		})
	}
	wg.Wait()
	close(results)
	r := Readiness{Status: StatusReady, Backends: make(map[string]string, len(h.checks))}
	for res := range results {
		up := 1.0
		r.Backends[res.name] = "ok"
		if res.err != nil {
			up = 0
			r.Backends[res.name] = res.err.Error()
			switch {
			case h.checks[res.name].Critical:
				r.Status = StatusUnready
			case r.Status == StatusReady:
				r.Status = StatusDegraded
			}
		}
		// A check cut short by its caller says nothing about the backend.
		if h.up != nil && ctx.Err() == nil {
			h.up.WithLabelValues(res.name).Set(up)
		}
	}
	return r
}

// Run checks every interval, the first time at once, until ctx ends.
func (h *Health) Run(ctx context.Context, interval time.Duration) {
	if len(h.checks) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		h.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
