package httpapi

import (
	"sync"
	"time"
)

// budget is one connection's allowance under the rate limit. Every object
// the client sends costs one command, whether it runs, is refused or cannot
// be decoded at all; and the replies to its commands cost their bytes, so
// that a short command that draws a long reply (a join of a room of long
// messages) costs what it sends back. A command is run while the client has
// commands and bytes left, and refused as rate_limited otherwise; a refused
// command still costs its command, so a client that keeps sending while
// refused runs into debt, and once it owes Config.RateFlood commands it is
// closed with 1008. It is safe for concurrent use: the reader takes, and the
// reader and the acker spend.
type budget struct {
	mu    sync.Mutex
	cmds  bucket
	bytes bucket // rate 0: replies cost nothing
	flood float64
}

// bucket is a token bucket whose tokens may go below zero: a debt, paid
// back at rate.
type bucket struct {
	rate, burst float64 // per second; at most
	tokens      float64
	last        time.Time
}

func (b *bucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// newBudget returns the allowance of a connection opened at now under
// cfg, or nil when cfg sets no rate limit.
func newBudget(cfg Config, now time.Time) *budget {
	if cfg.RateLimit <= 0 {
		return nil
	}
	b := &budget{
		cmds:  bucket{rate: cfg.RateLimit, burst: float64(cfg.RateBurst), tokens: float64(cfg.RateBurst), last: now},
		flood: float64(cfg.RateFlood),
	}
	if b.flood <= 0 {
		b.flood = 5 * b.cmds.burst
	}
	if cfg.RateBytes > 0 {
		burst := float64(cfg.RateBytesBurst)
		if burst <= 0 {
			burst = 4 * cfg.RateBytes
		}
		b.bytes = bucket{rate: cfg.RateBytes, burst: burst, tokens: burst, last: now}
	}
	return b
}

// verdict is what the budget says of one object.
type verdict int

const (
	allowed      verdict = iota
	overCommands         // refused: over the rate of commands
	overBytes            // refused: the replies used up the bytes
	overFlood            // the client kept sending while refused: close it
)

// take charges one object at now and says whether its command runs. A nil
// budget allows everything.
func (b *budget) take(now time.Time) verdict {
	if b == nil {
		return allowed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cmds.refill(now)
	b.cmds.tokens--
	switch {
	case b.cmds.tokens < -b.flood:
		return overFlood
	case b.cmds.tokens < 0:
		return overCommands
	case b.bytes.rate == 0:
		return allowed
	}
	if b.bytes.refill(now); b.bytes.tokens < 0 {
		return overBytes
	}
	return allowed
}

// spend charges n bytes of replies at now. The debt it may leave is at most
// a burst, so that one reply larger than the burst does not refuse the
// client's commands for long.
func (b *budget) spend(now time.Time, n int) {
	if b == nil || b.bytes.rate == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes.refill(now)
	b.bytes.tokens = max(b.bytes.tokens-float64(n), -b.bytes.burst)
}
