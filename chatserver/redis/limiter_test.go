package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestLimiter(t *testing.T) {
	url, prefix := sharedURL(t), testPrefix(t)
	a, b := instance(t, url, prefix, "a").Limiter(), instance(t, url, prefix, "b").Limiter()
	ctx := ctxT(t)
	rate := chatserver.Rate{Events: 3, Period: time.Hour} // one every 20 minutes
	take := func(t *testing.T, l *Limiter, key string) time.Duration {
		t.Helper()
		wait, err := l.Take(ctx, key, rate)
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}

	t.Run("the instances share a burst of the rate's events", func(t *testing.T) {
		for i, l := range []*Limiter{a, b, a} {
			if wait := take(t, l, "burst"); wait != 0 {
				t.Fatalf("event %d waits %v", i+1, wait)
			}
		}
		for _, l := range []*Limiter{a, b} {
			if wait := take(t, l, "burst"); wait <= 19*time.Minute || wait > 20*time.Minute {
				t.Fatalf("the 4th event waits %v, want about 20m", wait)
			}
		}
	})
	t.Run("Wait tells without counting", func(t *testing.T) {
		for range 5 {
			if wait, err := b.Wait(ctx, "peek", rate); wait != 0 || err != nil {
				t.Fatalf("Wait = %v, %v", wait, err)
			}
		}
		if n, err := a.c.rdb.Exists(ctx, prefix+":limit:peek").Result(); n != 0 || err != nil {
			t.Fatalf("Wait stored a key: %d %v", n, err)
		}
		for range 3 {
			take(t, a, "peek")
		}
		if wait, err := b.Wait(ctx, "peek", rate); wait <= 19*time.Minute || err != nil {
			t.Fatalf("Wait after the burst = %v, %v", wait, err)
		}
	})
	t.Run("a key expires when its allowance is whole again", func(t *testing.T) {
		take(t, a, "ttl")
		ttl, err := a.c.rdb.PTTL(ctx, prefix+":limit:ttl").Result()
		if err != nil || ttl <= 19*time.Minute || ttl > 20*time.Minute {
			t.Fatalf("PTTL = %v, %v; want one interval, 20m", ttl, err)
		}
	})
	t.Run("Reset forgets a key on every instance", func(t *testing.T) {
		for range 3 {
			take(t, a, "reset")
		}
		if err := b.Reset(ctx, "reset"); err != nil {
			t.Fatal(err)
		}
		if wait := take(t, a, "reset"); wait != 0 {
			t.Fatalf("after Reset the event waits %v", wait)
		}
	})
	t.Run("an off rate counts nothing", func(t *testing.T) {
		for range 10 {
			if wait, err := a.Take(ctx, "off", chatserver.Rate{}); wait != 0 || err != nil {
				t.Fatalf("Take = %v, %v", wait, err)
			}
		}
	})
	t.Run("a short rate lets one more event in once its interval passed", func(t *testing.T) {
		short := chatserver.Rate{Events: 1, Period: 50 * time.Millisecond}
		if wait, err := a.Take(ctx, "short", short); wait != 0 || err != nil {
			t.Fatalf("Take = %v, %v", wait, err)
		}
		wait, err := b.Take(ctx, "short", short)
		if err != nil || wait <= 0 || wait > short.Period {
			t.Fatalf("the second Take = %v, %v; want a wait up to 50ms", wait, err)
		}
		eventually(t, 10*time.Second, "an event allowed again", func() error {
			wait, err := b.Take(ctx, "short", short)
			if err == nil && wait > 0 {
				err = fmt.Errorf("one more event waits %v", wait)
			}
			return err
		})
	})
}

func TestLimiterUnavailableWhileRedisIsDown(t *testing.T) {
	s := ownServer(t)
	l := instance(t, s.URL(), testPrefix(t), "a").Limiter()
	s.Stop()
	ctx := ctxT(t)
	rate := chatserver.Rate{Events: 1, Period: time.Minute}
	_, err := l.Take(ctx, "k", rate)
	wantCode(t, err, chatserver.EUnavailable)
	_, err = l.Wait(ctx, "k", rate)
	wantCode(t, err, chatserver.EUnavailable)
	wantCode(t, l.Reset(ctx, "k"), chatserver.EUnavailable)
}
