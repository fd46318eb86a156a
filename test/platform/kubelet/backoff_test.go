package kubelet

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := backoff{initial: 10 * time.Second, max: 40 * time.Second}
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		now       int // seconds after t0
		wait      time.Duration
		startedAt int
	}{
		{now: 0, wait: 0, startedAt: 0},                     // the first start is immediate
		{now: 1, wait: 9 * time.Second, startedAt: 10},      // crashed after 1s: 10s after the last start
		{now: 11, wait: 19 * time.Second, startedAt: 30},    // then 20s
		{now: 100, wait: 0, startedAt: 100},                 // ran longer than the delay: at once
		{now: 101, wait: 39 * time.Second, startedAt: 140},  // capped at max
		{now: 141, wait: 39 * time.Second, startedAt: 180},  // still max
		{now: 1000, wait: 0, startedAt: 1000},               // 2*max without a start: reset
		{now: 1001, wait: 9 * time.Second, startedAt: 1010}, // back to the initial delay
	}
	for i, s := range steps {
		if got := b.wait(at(s.now)); got != s.wait {
			t.Fatalf("step %d: wait = %v, want %v", i, got, s.wait)
		}
		b.started(at(s.startedAt))
	}
}
