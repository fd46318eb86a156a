package redis

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxBatchBytes bounds the events one PUBLISH carries; a longer queue goes
// out in several.
const maxBatchBytes = 256 << 10

// batcher groups concurrent publishes. One send is in flight at a time, so
// events leave in the order their publish calls queued them:
//
//   - a caller that finds nothing in flight sends its own event at once,
//     on its own goroutine and under its own deadline, as an ungrouped
//     publish would;
//   - callers that come while a send is in flight queue, and the batcher's
//     goroutine sends what queued as groups, once the send ahead is done.
//
// Every caller waits at most until its own deadline or the client's
// timeout, whichever is sooner, whether its event still queues (it then
// takes the event back) or is in a group in flight (the group goes on for
// the other callers in it, and the event may still arrive).
type batcher struct {
	send    func(context.Context, [][]byte) error
	timeout time.Duration

	mu    sync.Mutex
	queue []*queued
	// busy is set while a send is in flight or the queue is the
	// goroutine's to send; while it is unset the queue is empty.
	busy   bool
	closed bool

	wake   chan struct{} // the queue is the goroutine's; buffered
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine returned
}

// queued is one caller's event waiting in the queue.
type queued struct {
	event []byte
	done  chan error // the outcome of its group; buffered
}

// newBatcher starts the goroutine that sends the queued groups; close
// stops it.
func newBatcher(send func(context.Context, [][]byte) error, timeout time.Duration) *batcher {
	b := &batcher{send: send, timeout: timeout, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.run()
	return b
}

// close fails the sends in flight and the events still queued with
// EUnavailable and stops the goroutine.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	<-b.done
}

func errClosed() error {
	return chatserver.Errorf(chatserver.EUnavailable, "redis: publish: the client is closed")
}

// publish sends event, alone or in a group, and returns the outcome of that
// send.
func (b *batcher) publish(ctx context.Context, event []byte) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed()
	}
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		err := b.send(ctx, [][]byte{event})
		b.mu.Lock()
		if len(b.queue) > 0 {
			// busy stays set: the queue is the goroutine's. Only the
			// caller that set busy hands over, so wake has room.
			b.wake <- struct{}{}
		} else {
			b.busy = false
		}
		b.mu.Unlock()
		return err
	}
	q := &queued{event: event, done: make(chan error, 1)}
	b.queue = append(b.queue, q)
	b.mu.Unlock()

	// The client's timeout needs a timer of its own only when ctx would
	// wait longer.
	var expired <-chan time.Time
	if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > b.timeout {
		t := time.NewTimer(b.timeout)
		defer t.Stop()
		expired = t.C
	}
	var why error
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		why = context.Cause(ctx)
	case <-expired:
		why = context.DeadlineExceeded
	}
	b.mu.Lock()
	if i := slices.Index(b.queue, q); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
	}
	b.mu.Unlock()
	return chatserver.Errorf(chatserver.EUnavailable, "redis: publish: %v", why)
}

// run sends the queue whenever a caller hands it over, until close.
func (b *batcher) run() {
	defer close(b.done)
	var (
		group  []*queued
		events [][]byte
	)
	for {
		select {
		case <-b.ctx.Done():
			b.mu.Lock()
			for _, q := range b.queue {
				q.done <- errClosed()
			}
			b.queue = nil
			b.mu.Unlock()
			return
		case <-b.wake:
		}
		for {
			b.mu.Lock()
			group, events = b.take(group[:0], events[:0])
			if len(group) == 0 {
				b.busy = false
				b.mu.Unlock()
				break
			}
			b.mu.Unlock()
			err := b.send(b.ctx, events)
			for _, q := range group {
				q.done <- err
			}
			// The callers just answered send their next events at once:
			// letting them run before the queue is taken makes the next
			// group larger (two instances, 16 publishers: 6 % less CPU per
			// delivered message, ack p99 100 against 125 ms).
			runtime.Gosched()
		}
		clear(group[:cap(group)])
		clear(events[:cap(events)])
	}
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
