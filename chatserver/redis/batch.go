package redis

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxBatchBytes bounds the events one PUBLISH carries; a longer queue goes
// out in several.
const maxBatchBytes = 256 << 10

// errLead tells a queued publisher that the queue is now its to send.
var errLead = errors.New("redis: lead the next group")

// batcher groups concurrent publishes without a goroutine of its own: the
// caller that finds no group in flight sends what is queued (its own event
// among it), and when it is done and more has queued, it hands the queue to
// the first caller waiting there, so that no caller waits for more than the
// group ahead of its own. A group is sent by one caller at a time, so events
// leave in the order their Publish calls queued them.
type batcher struct {
	mu    sync.Mutex
	queue []*queued
	busy  bool // a caller is sending, or has been handed the queue
}

// queued is one caller's event waiting in the queue.
type queued struct {
	event []byte
	done  chan error // the outcome of its group, or errLead; buffered
	lead  bool       // handed the queue (under mu)
}

// publish queues event and returns once a group holding it was sent, with
// that group's outcome; send is called by one caller at a time. A caller
// whose ctx ends while its event still waits takes the event back and
// returns unavailable; once its event is in a group in flight, it waits for
// that group, which the client's timeout bounds.
func (b *batcher) publish(ctx context.Context, event []byte, send func(context.Context, [][]byte) error) error {
	q := &queued{event: event, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, q)
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		return b.lead(ctx, q, send)
	}
	b.mu.Unlock()
	select {
	case err := <-q.done:
		if errors.Is(err, errLead) {
			return b.lead(ctx, q, send)
		}
		return err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if q.lead {
		b.mu.Unlock()
		return b.lead(ctx, q, send)
	}
	if i := slices.Index(b.queue, q); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
		b.mu.Unlock()
		return chatserver.Errorf(chatserver.EUnavailable, "redis: publish: %v", context.Cause(ctx))
	}
	b.mu.Unlock()
	return <-q.done // in a group in flight
}

// lead sends groups from the head of the queue until own's event has gone,
// then hands the queue to the next caller waiting, if any.
func (b *batcher) lead(ctx context.Context, own *queued, send func(context.Context, [][]byte) error) error {
	var (
		ownErr error
		sent   bool
		group  []*queued
		events [][]byte
	)
	for !sent {
		b.mu.Lock()
		group, events = b.take(group[:0], events[:0])
		b.mu.Unlock()
		err := send(ctx, events)
		for _, q := range group {
			if q == own {
				ownErr, sent = err, true
				continue
			}
			q.done <- err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.busy = false
		return ownErr
	}
	next := b.queue[0]
	next.lead = true
	next.done <- errLead
	return ownErr
}

// take moves the longest head of the queue that fits maxBatchBytes (at
// least one event) into group and events. b.mu is held.
func (b *batcher) take(group []*queued, events [][]byte) ([]*queued, [][]byte) {
	size := 0
	n := 0
	for _, q := range b.queue {
		if n > 0 && size+len(q.event) > maxBatchBytes {
			break
		}
		size += len(q.event)
		group, events = append(group, q), append(events, q.event)
		n++
	}
	b.queue = slices.Delete(b.queue, 0, n)
	return group, events
}
