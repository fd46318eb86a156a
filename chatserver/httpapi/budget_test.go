package httpapi

import (
	"fmt"
	"testing"
	"time"
)

func TestBudgetVerdicts(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	cfg := Config{RateLimit: 1, RateBurst: 2, RateFlood: 3, RateBytes: 100, RateBytesBurst: 100}
	type step struct {
		at    time.Duration // since t0
		spend int           // bytes of replies spent first
		want  verdict
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"a burst runs, then commands are refused, then a flood is cut", cfg, []step{
			{0, 0, allowed}, {0, 0, allowed},
			{0, 0, overCommands}, {0, 0, overCommands}, {0, 0, overCommands},
			{0, 0, overFlood},
		}},
		{"refused commands cost their command too", cfg, []step{
			{0, 0, allowed}, {0, 0, allowed}, {0, 0, overCommands},
			{time.Second, 0, overCommands}, // the second paid the first refusal back only
			{3 * time.Second, 0, allowed},
		}},
		{"the allowance comes back with time", cfg, []step{
			{0, 0, allowed}, {0, 0, allowed}, {10 * time.Second, 0, allowed}, {10 * time.Second, 0, allowed},
		}},
		{"replies that use up the bytes refuse the next command", cfg, []step{
			{0, 150, overBytes}, {time.Second, 0, allowed},
		}},
		{"a reply over the burst leaves at most a burst of debt", cfg, []step{
			{0, 1 << 20, overBytes}, {2 * time.Second, 0, allowed},
		}},
		{"without a byte rate replies cost nothing", Config{RateLimit: 1, RateBurst: 2}, []step{
			{0, 1 << 20, allowed},
		}},
		{"without a rate limit nothing is refused", Config{}, []step{
			{0, 1 << 20, allowed}, {0, 0, allowed}, {0, 0, allowed}, {0, 0, allowed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(tt.cfg)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				b.spend(now, s.spend)
				if got := b.take(now); got != s.want {
					t.Fatalf("step %d: verdict %d, want %d", i, got, s.want)
				}
			}
		})
	}
}

func TestBudgetDefaults(t *testing.T) {
	b := newBudget(Config{RateLimit: 10, RateBurst: 4, RateBytes: 1000})
	if got := fmt.Sprint(b.flood, b.bytes.Burst()); got != "20 4000" {
		t.Fatalf("flood and byte burst %s, want 5 bursts and 4 seconds of bytes", got)
	}
}
