package httpapi

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	mu    sync.Mutex // makes each take and spend one step of both limiters
	cmds  *rate.Limiter
	bytes *rate.Limiter // nil: replies cost nothing
	flood float64
}

// newBudget returns the allowance of a connection under cfg, or nil when
// cfg sets no rate limit. Its limiters start whole and lend without bound
// (Reserve), which is how a client runs into debt.
func newBudget(cfg Config) *budget {
	if cfg.RateLimit <= 0 {
		return nil
	}
	burst := max(1, cfg.RateBurst)
	b := &budget{cmds: rate.NewLimiter(rate.Limit(cfg.RateLimit), burst), flood: float64(cfg.RateFlood)}
	if b.flood <= 0 {
		b.flood = 5 * float64(burst)
	}
	if cfg.RateBytes > 0 {
		burst := cfg.RateBytesBurst
		if burst <= 0 {
			burst = int(min(4*cfg.RateBytes, math.MaxInt32))
		}
		b.bytes = rate.NewLimiter(rate.Limit(cfg.RateBytes), max(1, burst))
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
	b.cmds.ReserveN(now, 1)
	switch debt := -b.cmds.TokensAt(now); {
	case debt > b.flood:
		return overFlood
	case debt > 0:
		return overCommands
	case b.bytes == nil:
		return allowed
	}
	if b.bytes.TokensAt(now) < 0 {
		return overBytes
	}
	return allowed
}

// spend charges n bytes of replies at now. The debt it may leave is at most
// a burst, so that one reply larger than the burst does not refuse the
// client's commands for long.
func (b *budget) spend(now time.Time, n int) {
	if b == nil || b.bytes == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	burst := b.bytes.Burst()
	// Reserve at most a burst at a time, down to a debt of a burst.
	for left := min(n, int(b.bytes.TokensAt(now))+burst); left > 0; left -= burst {
		b.bytes.ReserveN(now, min(left, burst))
	}
}
