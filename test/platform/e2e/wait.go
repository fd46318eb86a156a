package e2e

import (
	"context"
	"fmt"
	"time"
)

// pollEvery is how often a condition is checked again.
const pollEvery = 250 * time.Millisecond

// WaitFor checks cond until it holds, fails with an error, or within has
// passed; the error then says what was awaited and cond's last complaint.
// within is a bound that only ends a failing run, never a performance
// assertion.
func WaitFor(ctx context.Context, within time.Duration, what string, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if ok && err == nil {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: not within %v: last: %w", what, within, last)
			}
			return fmt.Errorf("%s: not within %v", what, within)
		case <-t.C:
		}
	}
}
