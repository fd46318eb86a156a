package chatserver

import (
	"context"
	"time"
)

// Rate is a limit of Events per Period: a burst of Events at once, then one
// more every Period/Events. A Rate with no Events is no limit.
type Rate struct {
	Events int
	Period time.Duration
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Events <= 0 || r.Period <= 0 }

// Limiter counts events per key against a Rate, as the generic cell rate
// algorithm does: each key remembers only when its allowance is whole again,
// and forgets itself then. Instances that share a Limiter share its counts.
// A Rate that is Off allows everything and counts nothing.
type Limiter interface {
	// Wait returns how long until key may have one more event under r: 0
	// when it may now. It counts nothing.
	Wait(ctx context.Context, key string, r Rate) (time.Duration, error)
	// Take counts one event for key and returns 0 when r allows it;
	// otherwise it counts nothing and returns how long until r would.
	Take(ctx context.Context, key string, r Rate) (time.Duration, error)
	// Reset forgets the events of key.
	Reset(ctx context.Context, key string) error
}
