package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

func TestMemoryLimiter(t *testing.T) {
	ctx := context.Background()
	rate := chatserver.Rate{Events: 3, Period: time.Minute} // one every 20 s
	take := func(t *testing.T, l *service.MemoryLimiter, key string) time.Duration {
		t.Helper()
		wait, err := l.Take(ctx, key, rate)
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	t.Run("a burst of the rate's events, then one each interval", func(t *testing.T) {
		c := newClock()
		l := service.NewMemoryLimiter(10, c.Now)
		for i := range 3 {
			if wait := take(t, l, "k"); wait != 0 {
				t.Fatalf("event %d waits %v", i+1, wait)
			}
		}
		if wait := take(t, l, "k"); wait != 20*time.Second {
			t.Fatalf("the 4th event waits %v, want 20s", wait)
		}
		c.Advance(19 * time.Second)
		if wait, _ := l.Wait(ctx, "k", rate); wait != time.Second {
			t.Fatalf("19 s on, Wait says %v, want 1s", wait)
		}
		c.Advance(time.Second)
		if wait := take(t, l, "k"); wait != 0 {
			t.Fatalf("an interval on, the event waits %v", wait)
		}
		if wait := take(t, l, "other"); wait != 0 {
			t.Fatalf("another key waits %v", wait)
		}
	})
	t.Run("Wait counts nothing", func(t *testing.T) {
		l := service.NewMemoryLimiter(10, newClock().Now)
		for range 5 {
			if wait, err := l.Wait(ctx, "k", rate); wait != 0 || err != nil {
				t.Fatalf("Wait = %v, %v", wait, err)
			}
		}
		if l.Len() != 0 {
			t.Fatalf("%d keys tracked after Wait alone", l.Len())
		}
	})
	t.Run("Reset forgets a key", func(t *testing.T) {
		l := service.NewMemoryLimiter(10, newClock().Now)
		for range 3 {
			take(t, l, "k")
		}
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if wait := take(t, l, "k"); wait != 0 {
			t.Fatalf("after Reset the event waits %v", wait)
		}
	})
	t.Run("an off rate counts nothing", func(t *testing.T) {
		l := service.NewMemoryLimiter(10, newClock().Now)
		for range 100 {
			if wait, err := l.Take(ctx, "k", chatserver.Rate{}); wait != 0 || err != nil {
				t.Fatalf("Take = %v, %v", wait, err)
			}
		}
		if l.Len() != 0 {
			t.Fatalf("%d keys tracked", l.Len())
		}
	})
	t.Run("no more keys than the cap are tracked", func(t *testing.T) {
		l := service.NewMemoryLimiter(50, newClock().Now)
		for i := range 1000 {
			take(t, l, fmt.Sprint("k", i))
			if l.Len() > 50 {
				t.Fatalf("%d keys tracked after %d", l.Len(), i+1)
			}
		}
	})
	t.Run("keys whose allowance is whole again are forgotten", func(t *testing.T) {
		c := newClock()
		l := service.NewMemoryLimiter(1000, c.Now)
		for i := range 100 {
			take(t, l, fmt.Sprint("k", i))
		}
		c.Advance(time.Minute) // whole again, and time to sweep
		take(t, l, "new")
		if l.Len() != 1 {
			t.Fatalf("%d keys tracked, want only the new one", l.Len())
		}
	})
}
