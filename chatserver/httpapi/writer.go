package httpapi

import (
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// The write side of the WebSocket connections.
//
// A connection's outgoing objects wait in its queue. A connection with
// something queued is scheduled once on the server's pool of writers: a few
// goroutines (one per CPU but one) that take the ready connections in turn, coalesce
// each one's queue into frames and write them with one non-blocking write. A
// busy server thus writes without a goroutine switch per event, and the
// longer a connection waits for its turn, the more its write carries.
//
// A write the socket cannot take whole (the client reads slowly) is finished
// by a goroutine of that connection's own, with the write deadline, so that
// a slow client never holds up a pool writer; the connection returns to the
// pool once its queue is empty. Connections whose transport is not a socket
// (TLS terminated in process) always write that way.
//
// The server writes the frames itself (RFC 6455 section 5: server frames are
// never masked), so that everything a connection writes goes through its
// queue and frames never interleave: pings, pongs and close frames included.
// gorilla/websocket still reads. The one frame it writes itself, the close
// frame of a read protocol error (1009 for an oversized frame), reaches the
// socket through the queue too (upgradedConn in conn.go).

// writers is the pool of goroutines that write the ready connections.
type writers struct {
	mu      sync.Mutex
	ready   []*wsConn // FIFO: ready[head:]
	head    int
	running int
	idle    int           // running workers waiting for work
	wake    chan struct{} // one token per idle worker woken
	max     int
	wg      sync.WaitGroup
}

func newWriters(n int) *writers {
	return &writers{max: n, wake: make(chan struct{}, n)}
}

// push makes c ready; c.mu may be held (the lock order is c.mu, then p.mu).
func (p *writers) push(c *wsConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, c)
	switch {
	case p.idle > 0:
		p.idle--
		p.wake <- struct{}{}
	case p.running < p.max:
		p.running++
		p.wg.Add(1)
		go p.work()
	}
}

func (p *writers) popLocked() *wsConn {
	if p.head == len(p.ready) {
		return nil
	}
	c := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
	}
	return c
}

// work writes ready connections until none has been ready for lingerWait.
func (p *writers) work() {
	defer p.wg.Done()
	var buf []byte
	t := time.NewTimer(lingerWait)
	defer t.Stop()
	for n := 1; ; n++ {
		if n%yieldEvery == 0 {
			// Writing a broadcast to thousands of connections takes
			// milliseconds; the goroutines on the message path (readers,
			// the store's, the ackers) wait for this P meanwhile.
			runtime.Gosched()
		}
		p.mu.Lock()
		if c := p.popLocked(); c != nil {
			p.mu.Unlock()
			buf = c.writeReady(buf[:0])
			if cap(buf) > maxPooledBuffer {
				buf = nil
			}
			continue
		}
		p.idle++
		p.mu.Unlock()
		t.Reset(lingerWait)
		select {
		case <-p.wake: // push counted this worker out of idle
			t.Stop()
			continue
		case <-t.C:
		}
		p.mu.Lock()
		select {
		case <-p.wake: // woken as the wait ran out
			p.mu.Unlock()
			continue
		default:
		}
		p.idle--
		if p.head == len(p.ready) {
			p.running--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// yieldEvery is how many connections a writer writes between yields.
const yieldEvery = 16

// wait waits for the workers, which end lingerWait after the last write.
func (p *writers) wait() { p.wg.Wait() }

// blockedWrites counts the writes done on a connection's own goroutine (the
// socket was full, or the connection is no socket), for the tests.
var blockedWrites atomic.Int64

// lingerWait is how long a writer with nothing to write waits for more before
// it exits: a busy server keeps its writers, an idle one holds none.
const lingerWait = 100 * time.Millisecond

// maxPooledBuffer bounds the write buffer a writer keeps between writes.
const maxPooledBuffer = 256 << 10

// Send queues one object; a connection whose queue passes its limit is closed
// with 1008 (its client resumes with join + since).
func (c *wsConn) Send(obj []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	// One object always fits an empty queue, so that a large join reply
	// does not end the connection that asked for it.
	if c.queued > 0 && c.queued+len(obj) > c.limit {
		c.closeLocked(ClosePolicy, "too slow: reconnect and resume with join and since", true)
		return
	}
	c.queue = append(c.queue, obj)
	c.queued += len(obj)
	c.scheduleLocked()
}

// control queues a ping or pong frame, written before the queued objects.
func (c *wsConn) control(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.controls = append(c.controls, frame)
	c.scheduleLocked()
}

// Close ends the connection with code once the objects queued so far are
// written; for 1008 the queue is dropped, as the client is not reading it.
func (c *wsConn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason, true)
}

func (c *wsConn) closeLocked(code int, reason string, count bool) {
	if c.closing {
		return
	}
	c.closing, c.code, c.reason = true, code, reason
	if code == ClosePolicy {
		c.queue, c.queued = nil, 0
	}
	if count {
		c.srv.svc.Metrics().Closed(strconv.Itoa(code))
	}
	c.scheduleLocked()
}

// closeHandler answers the client's close frame with the same code, as
// RFC 6455 asks; the reader then ends.
func (c *wsConn) closeHandler(code int, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, "", false)
	return nil
}

// readFailed ends the connection after a read error other than the client
// going away: a protocol error, closed with 1009 for a read over the limit,
// else 1002. gorilla/websocket has tried to write that close frame itself
// for most of them (upgradedConn in conn.go hands it to protocolError);
// the others (a frame length it cannot represent, a message that grows past
// the limit over several frames) get it here.
func (c *wsConn) readFailed(err error) {
	if isGone(err) {
		return
	}
	code := websocket.CloseProtocolError
	if errors.Is(err, websocket.ErrReadLimit) {
		code = CloseTooBig
	}
	c.protocolError(code)
}

// protocolError closes the connection with code after what is being written
// now: what is queued is dropped, and nothing follows the close frame.
func (c *wsConn) protocolError(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.queue, c.queued = nil, 0
	c.closeLocked(code, "", true)
}

func (c *wsConn) pingHandler(data string) error {
	c.control(appendFrame(nil, websocket.PongMessage, []byte(data)))
	return nil
}

func (c *wsConn) scheduleLocked() {
	if c.scheduled {
		return
	}
	c.scheduled = true
	c.active.Add(1)
	if c.raw == nil {
		blockedWrites.Add(1)
		go c.writeBlocking(nil, false)
		return
	}
	c.srv.writers.push(c)
}

// takeLocked encodes what is waiting into buf: control frames, the queued
// objects coalesced into frames of at most maxFrame bytes, and the close
// frame once the queue is empty. It reports whether buf ends with the close.
func (c *wsConn) takeLocked(buf []byte) ([]byte, bool) {
	for _, f := range c.controls {
		buf = append(buf, f...)
	}
	clear(c.controls)
	c.controls = c.controls[:0]
	buf = appendTextFrames(buf, c.queue)
	clear(c.queue)
	c.queue, c.queued = c.queue[:0], 0
	if c.closing && c.code != 0 {
		buf = appendFrame(buf, websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason))
		c.code = 0 // the close frame goes out once
		return buf, true
	}
	return buf, false
}

// pendingLocked reports whether the connection has something to write.
func (c *wsConn) pendingLocked() bool {
	return len(c.queue) > 0 || len(c.controls) > 0 || (c.closing && c.code != 0)
}

// writeReady is a pool writer's turn at c: it writes what c has waiting
// without blocking and returns buf for reuse.
func (c *wsConn) writeReady(buf []byte) []byte {
	c.mu.Lock()
	buf, closed := c.takeLocked(buf)
	c.mu.Unlock()
	n, err := c.tryWrite(buf)
	switch {
	case err != nil:
		c.fail()
		return buf
	case n < len(buf):
		// The socket is full: this connection's own goroutine waits for it.
		blockedWrites.Add(1)
		go c.writeBlocking(append([]byte(nil), buf[n:]...), closed)
		return buf
	}
	if c.wrote(closed) {
		c.srv.writers.push(c) // to the back: other connections first
	}
	return buf
}

// wrote ends a complete write (closed: one ending with the close frame) and
// reports whether c has more to write; if not, c is no longer scheduled.
func (c *wsConn) wrote(closed bool) (more bool) {
	if closed {
		c.closeSent()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pendingLocked() {
		return true
	}
	c.scheduled = false
	c.active.Done()
	return false
}

// tryWrite writes buf to the socket until it would block.
func (c *wsConn) tryWrite(buf []byte) (n int, err error) {
	rerr := c.raw.Write(func(fd uintptr) bool {
		for n < len(buf) {
			m, e := syscall.Write(int(fd), buf[n:])
			if m > 0 {
				n += m
			}
			switch {
			case e == syscall.EINTR:
			case e == syscall.EAGAIN:
				return true
			case e != nil:
				err = e
				return true
			case m == 0:
				err = io.ErrShortWrite
				return true
			}
		}
		return true
	})
	return n, errors.Join(rerr, err)
}

// writeBlocking writes rest and then whatever c queues, waiting for the
// socket (up to WriteTimeout per write), until c has nothing left; closed
// tells whether rest ends with the close frame.
func (c *wsConn) writeBlocking(rest []byte, closed bool) {
	conn := c.conn
	for {
		if len(rest) > 0 {
			conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
			if _, err := conn.Write(rest); err != nil {
				c.fail()
				return
			}
		}
		if !c.wrote(closed) {
			return
		}
		c.mu.Lock()
		rest, closed = c.takeLocked(rest[:0])
		c.mu.Unlock()
	}
}

// closeSent bounds the wait for the client's answer to the close frame: the
// reader ends when it comes, or at this deadline.
func (c *wsConn) closeSent() {
	c.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
}

// fail ends a connection whose write failed: nothing more is written, and
// the reader ends on the closed socket.
func (c *wsConn) fail() {
	c.conn.Close()
	c.mu.Lock()
	c.closing, c.code = true, 0 // nothing schedules c again
	c.queue, c.queued, c.controls = nil, 0, nil
	c.scheduled = false
	c.mu.Unlock()
	c.active.Done()
}

// wait waits until nothing of c is being written.
func (c *wsConn) wait() { c.active.Wait() }

// appendTextFrames appends objs as text frames, each holding as many whole
// objects, separated by '\n', as fit in maxFrame bytes (one object larger
// than that gets a frame of its own).
func appendTextFrames(buf []byte, objs [][]byte) []byte {
	for i := 0; i < len(objs); {
		size, j := len(objs[i]), i+1
		for j < len(objs) && size+1+len(objs[j]) <= maxFrame {
			size += 1 + len(objs[j])
			j++
		}
		buf = appendHeader(buf, websocket.TextMessage, size)
		for k := i; k < j; k++ {
			if k > i {
				buf = append(buf, '\n')
			}
			buf = append(buf, objs[k]...)
		}
		i = j
	}
	return buf
}

// appendFrame appends one unfragmented frame of the given opcode.
func appendFrame(buf []byte, opcode int, payload []byte) []byte {
	return append(appendHeader(buf, opcode, len(payload)), payload...)
}

// appendHeader appends the header of a final, unmasked frame.
func appendHeader(buf []byte, opcode, size int) []byte {
	buf = append(buf, 0x80|byte(opcode))
	switch {
	case size < 126:
		return append(buf, byte(size))
	case size <= 0xffff:
		return binary.BigEndian.AppendUint16(append(buf, 126), uint16(size))
	default:
		return binary.BigEndian.AppendUint64(append(buf, 127), uint64(size))
	}
}

// pingFrame is the server's ping: no payload.
var pingFrame = appendFrame(nil, websocket.PingMessage, nil)
