package mongo

import (
	"context"
	"time"
)

// BatchWrites is how many inserts of batches of sends d tried.
func (d *DB) BatchWrites() int64 { return d.attempts.Load() }

// SetGrace sets how long a rev marker waits for its change before the next
// writer takes it for stranded.
func (d *DB) SetGrace(g time.Duration) { d.grace = g }

// MarkRevAndStop does what Update does up to its rev marker and stops
// there, as a writer that dies between its two writes. It returns the rev
// the marker holds.
func (d *DB) MarkRevAndStop(ctx context.Context, room string, seq int64) (int64, error) {
	cur, err := d.current(ctx, room, seq)
	if err != nil {
		return 0, err
	}
	last, err := d.top(ctx, room, "rev")
	if err != nil {
		return 0, err
	}
	rev := last.Rev + 1
	_, err = d.messages.InsertOne(ctx, newRevMarker(cur, rev))
	return rev, storeError("mark rev", err)
}
