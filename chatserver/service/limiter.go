package service

import (
	"context"
	"sync"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// MemoryLimiter is a chatserver.Limiter whose counts live in this process,
// for a single instance. It tracks at most maxKeys keys: a key is forgotten
// once its allowance is whole again (it then counts nothing), and when that
// leaves no room for a new key, an arbitrary one is forgotten.
type MemoryLimiter struct {
	now     func() time.Time
	maxKeys int

	mu    sync.Mutex
	full  map[string]time.Time // when each key's allowance is whole again
	swept time.Time            // when whole keys were last forgotten
}

var _ chatserver.Limiter = (*MemoryLimiter)(nil)

// How often whole keys are forgotten: in any case, and at most while the
// limiter is at its cap.
const (
	sweepEvery     = time.Minute
	sweepEveryFull = time.Second
)

// NewMemoryLimiter returns a limiter that tracks at most maxKeys keys (at
// least 1) on the clock now (nil: time.Now).
func NewMemoryLimiter(maxKeys int, now func() time.Time) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{now: now, maxKeys: max(1, maxKeys), full: map[string]time.Time{}}
}

// Wait returns how long until key may have one more event under r.
func (l *MemoryLimiter) Wait(_ context.Context, key string, r chatserver.Rate) (time.Duration, error) {
	if r.Off() {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	wait, _ := cellRate(l.full[key], l.now(), r)
	return wait, nil
}

// Take counts one event for key if r allows it.
func (l *MemoryLimiter) Take(_ context.Context, key string, r chatserver.Rate) (time.Duration, error) {
	if r.Off() {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wait, next := cellRate(l.full[key], now, r)
	if wait > 0 {
		return wait, nil
	}
	if _, known := l.full[key]; !known {
		l.makeRoom(now)
	}
	l.full[key] = next
	return 0, nil
}

// Reset forgets key.
func (l *MemoryLimiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.full, key)
	l.mu.Unlock()
	return nil
}

// Len is the number of keys tracked.
func (l *MemoryLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.full)
}

// makeRoom forgets the keys whose allowance is whole, now and then, and an
// arbitrary key if the limiter is still full. l.mu is held.
func (l *MemoryLimiter) makeRoom(now time.Time) {
	atCap := len(l.full) >= l.maxKeys
	if since := now.Sub(l.swept); since >= sweepEvery || atCap && since >= sweepEveryFull {
		for k, t := range l.full {
			if !t.After(now) {
				delete(l.full, k)
			}
		}
		l.swept = now
	}
	for k := range l.full {
		if len(l.full) < l.maxKeys {
			break
		}
		delete(l.full, k)
	}
}

// cellRate is the generic cell rate algorithm. full is when a key's
// allowance is whole again (zero for a key never seen); each event moves it
// on by r.Period/r.Events, and an event is allowed while that leaves it at
// most r.Period ahead of now. It returns how long until an event is
// allowed (0: now) and the key's full time after that event.
func cellRate(full, now time.Time, r chatserver.Rate) (wait time.Duration, next time.Time) {
	interval := max(1, r.Period/time.Duration(r.Events))
	if full.Before(now) {
		full = now
	}
	next = full.Add(interval)
	if over := next.Sub(now) - r.Period; over > 0 {
		return over, full
	}
	return 0, next
}
