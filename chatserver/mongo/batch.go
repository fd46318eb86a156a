package mongo

import (
	"context"
	"sync"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxBatch bounds how many waiting sends of one room one write stores.
const maxBatch = 64

// appendQueues holds the sends of this instance waiting to be stored, by
// room. The sends of a room take turns: one of them, the leader, stores
// every send waiting when its turn comes as one batch, then hands the turn
// to the first send that arrived meanwhile. A room therefore costs the same
// round trips per batch whatever the number of its senders, and the queue
// of a room exists only while it has sends. The leaders are the callers'
// own goroutines: the queues start none.
type appendQueues struct {
	mu    sync.Mutex
	rooms map[string]*appendQueue
}

// appendQueue is the queue of one room; its fields are guarded by
// appendQueues.mu.
type appendQueue struct {
	waiting []*queuedAppend
}

// queuedAppend is one send waiting in a queue.
type queuedAppend struct {
	ctx  context.Context
	m    chatserver.Message
	lead chan struct{} // closed when the send's turn to lead comes
	done chan struct{} // closed once res is set
	res  appendResult
	// leading is set, under the queues' lock, when lead is closed: the
	// send leaves the queue only by leading then.
	leading bool
}

type appendResult struct {
	stored  chatserver.Message
	created bool
	err     error
}

func (p *queuedAppend) finish(res appendResult) {
	p.res = res
	close(p.done)
}

// enqueue adds p to the queue of its room and reports whether p leads at
// once: the room had no queue.
func (q *appendQueues) enqueue(p *queuedAppend) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rooms == nil {
		q.rooms = map[string]*appendQueue{}
	}
	rq := q.rooms[p.m.Room]
	if rq == nil {
		rq = &appendQueue{}
		q.rooms[p.m.Room] = rq
		p.leading = true
	}
	rq.waiting = append(rq.waiting, p)
	return p.leading
}

// take removes the first sends of room's queue, at most maxBatch, for the
// leader to store.
func (q *appendQueues) take(room string) []*queuedAppend {
	q.mu.Lock()
	defer q.mu.Unlock()
	rq := q.rooms[room]
	n := min(len(rq.waiting), maxBatch)
	batch := rq.waiting[:n:n]
	rq.waiting = rq.waiting[n:]
	return batch
}

// handOff gives the turn to the first send waiting in room's queue, or
// drops the queue when none waits.
func (q *appendQueues) handOff(room string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rq := q.rooms[room]
	if len(rq.waiting) == 0 {
		delete(q.rooms, room)
		return
	}
	next := rq.waiting[0]
	next.leading = true
	close(next.lead)
}

// withdraw takes p out of its queue unless its turn to lead came or a
// leader took it, and reports whether it did.
func (q *appendQueues) withdraw(p *queuedAppend) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	rq := q.rooms[p.m.Room]
	if p.leading || rq == nil {
		return false
	}
	for i, w := range rq.waiting {
		if w == p {
			rq.waiting = append(rq.waiting[:i:i], rq.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// await waits until p is stored (a leader took it) or its turn to lead
// comes, and reports whether it leads. A send whose ctx ends while it waits
// leaves the queue with EUnavailable, unless a leader has it already.
func (q *appendQueues) await(p *queuedAppend) (lead bool) {
	select {
	case <-p.done:
		return false
	case <-p.lead:
		return true
	case <-p.ctx.Done():
	}
	if q.withdraw(p) {
		p.finish(appendResult{err: chatserver.Errorf(chatserver.EUnavailable, "room %s: busy, try again", p.m.Room)})
		return false
	}
	select {
	case <-p.done:
		return false
	case <-p.lead:
		return true
	}
}
