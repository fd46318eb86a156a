package httpapi

import (
	"sync"

	"github.com/gorilla/websocket"
)

// sendQueue is what one connection has yet to write: its objects, up to a
// byte limit; ping and pong frames, which go before them; and its close
// frame, which goes after them, once. It also tracks the connection's turn:
// whether a writer has it (on the pool, or writing on a goroutine of its
// own), so that one writer at a time writes it. The call that finds the
// queue idle with something to write is told to start one.
//
// It does no I/O: its lock is held only to append, copy and clear slices.
type sendQueue struct {
	mu       sync.Mutex
	limit    int      // bytes of objects a non-empty queue may hold
	objs     [][]byte // objects to write, in order
	size     int      // bytes in objs
	controls [][]byte // ping and pong frames to write first
	reason   string   // of the close frame
	code     int      // close frame still to write, if not 0
	closing  bool     // closed: nothing more is queued
	dropped  bool     // closed dropping what was queued
	busy     bool     // a writer has the turn
	turn     sync.WaitGroup
}

// tooSlow is the reason of the close that cuts off a connection whose
// queue passes its limit.
const tooSlow = "too slow: reconnect and resume with join and since"

// add queues obj. One object always fits an empty queue, so that a large
// join reply does not end the connection that asked for it; an object that
// would take a non-empty queue past its limit closes it with 1008 instead
// (the client resumes with join and since). start reports that the caller
// must start a writer; closed, that this call closed the queue.
func (q *sendQueue) add(obj []byte) (start, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false, false
	}
	if q.size > 0 && q.size+len(obj) > q.limit {
		return q.closeLocked(ClosePolicy, tooSlow, true), true
	}
	q.objs = append(q.objs, obj)
	q.size += len(obj)
	return q.claimLocked(), false
}

// addControl queues a ping or pong frame, written before the objects;
// start reports that the caller must start a writer.
func (q *sendQueue) addControl(frame []byte) (start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false
	}
	q.controls = append(q.controls, frame)
	return q.claimLocked()
}

// close queues the close frame with code, to go once the objects queued so
// far are written; with drop, or for 1008 (the client is not reading), they
// are dropped instead. Only the first close counts: closed reports whether
// it was this one; start, that the caller must start a writer.
func (q *sendQueue) close(code int, reason string, drop bool) (start, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false, false
	}
	return q.closeLocked(code, reason, drop), true
}

func (q *sendQueue) closeLocked(code int, reason string, drop bool) (start bool) {
	q.closing, q.code, q.reason = true, code, reason
	if drop || code == ClosePolicy {
		q.objs, q.size, q.dropped = nil, 0, true
	}
	return q.claimLocked()
}

// claimLocked gives the turn to the caller's writer if no writer has it.
func (q *sendQueue) claimLocked() bool {
	if q.busy {
		return false
	}
	q.busy = true
	q.turn.Add(1)
	return true
}

// take appends what is waiting to buf, encoded: the control frames, the
// objects coalesced into text frames of at most maxFrame bytes, and once
// they are out, the close frame. last reports that buf ends with the close
// frame. Only the writer with the turn takes.
func (q *sendQueue) take(buf []byte) (_ []byte, last bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range q.controls {
		buf = append(buf, f...)
	}
	clear(q.controls)
	q.controls = q.controls[:0]
	buf = appendTextFrames(buf, q.objs)
	clear(q.objs)
	q.objs, q.size = q.objs[:0], 0
	if q.closing && q.code != 0 {
		buf = appendFrame(buf, websocket.CloseMessage, websocket.FormatCloseMessage(q.code, q.reason))
		q.code = 0 // the close frame goes out once
		return buf, true
	}
	return buf, false
}

// wrote ends a complete write of what was taken. more reports that more is
// waiting and the writer keeps the turn; otherwise the turn ends.
func (q *sendQueue) wrote() (more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.objs) > 0 || len(q.controls) > 0 || (q.closing && q.code != 0) {
		return true
	}
	q.busy = false
	q.turn.Done()
	return false
}

// fail ends the turn after a failed write, for good: what is queued is
// dropped, and nothing more is queued or written.
func (q *sendQueue) fail() {
	q.mu.Lock()
	q.closing, q.code = true, 0
	q.objs, q.size, q.controls = nil, 0, nil
	q.busy = false
	q.mu.Unlock()
	q.turn.Done()
}

// dropping reports that the queue was closed dropping what it held, and
// its close frame is still to be taken: a writer drops the frames it took
// before and has not written yet, and takes the close frame next.
func (q *sendQueue) dropping() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped && q.code != 0
}

// closed reports whether the queue is closed: nothing more goes out but
// what is queued and the close frame.
func (q *sendQueue) closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

// wait waits until no writer has the turn. Once the queue is closed, no
// turn starts again, so after close, wait returns when the close frame is
// written or the write failed.
func (q *sendQueue) wait() { q.turn.Wait() }
