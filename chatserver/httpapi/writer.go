package httpapi

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// The write side of the WebSocket connections.
//
// A connection's outgoing objects wait in its queue (queue.go). A connection
// with something queued is scheduled once on the server's pool of writers
// (pool.go): a few goroutines (one per CPU but one) that take the ready
// connections in turn, coalesce each one's queue into frames and write them
// with one non-blocking write. A busy server thus writes without a goroutine
// switch per event, and the longer a connection waits for its turn, the
// more its write carries.
//
// A write the socket cannot take whole (the client reads slowly) is finished
// by a goroutine of that connection's own, so that a slow client never holds
// up a pool writer; the connection returns to the pool once its queue is
// empty. That goroutine gives up when the socket takes nothing for the write
// timeout, or, once the queue is dropped for a close, when the frames in
// progress and the close frame are not out within it. Connections whose
// transport is not a socket (TLS terminated in process) always write that
// way, with the write timeout for each write.
//
// The server writes the frames itself (frames.go), so that everything a
// connection writes goes through its queue and frames never interleave:
// pings, pongs and close frames included. gorilla/websocket still reads.
// The one frame it writes itself, the close frame of a read protocol error
// (1009 for an oversized frame), reaches the socket through the queue too
// (upgradedConn in conn.go).

// socketWriter writes one connection's queue to its socket, in turns: a
// turn starts when the queue gets something to write while idle, and ends
// when the queue is empty after a write, or at a failed write.
type socketWriter struct {
	q       sendQueue
	conn    net.Conn        // written when the socket is full, and closed when a write fails
	raw     syscall.RawConn // conn's socket, for the pool's non-blocking writes; nil if not one
	pool    *writers
	timeout time.Duration // bound on one blocking write
}

// blockedWrites counts the writes done on a connection's own goroutine (the
// socket was full, or the connection is no socket), for the tests.
var blockedWrites atomic.Int64

// closeWait bounds the wait for the client's answer to the close frame.
const closeWait = 2 * time.Second

// start starts a turn, which the caller got from the queue: on the pool, or
// for a connection that is no socket, on a goroutine of its own.
func (w *socketWriter) start() {
	if w.raw == nil {
		blockedWrites.Add(1)
		go w.writeBlocking(nil, 0, false)
		return
	}
	w.pool.push(w)
}

// writeReady is a pool writer's turn at w: it writes what is waiting without
// blocking and returns buf for reuse.
func (w *socketWriter) writeReady(buf []byte) []byte {
	buf, last := w.q.take(buf)
	n, err := w.tryWrite(buf)
	switch {
	case err != nil:
		w.fail()
		return buf
	case n < len(buf):
		// The socket is full: this connection's own goroutine waits for it.
		blockedWrites.Add(1)
		go w.writeBlocking(append([]byte(nil), buf[n:]...), frameEnd(buf, n)-n, last)
		return buf
	}
	if w.wrote(last) {
		w.pool.push(w) // to the back: other connections first
	}
	return buf
}

// wrote ends a complete write (last: one ending with the close frame) and
// reports whether the turn goes on.
func (w *socketWriter) wrote(last bool) (more bool) {
	if last {
		// The reader ends when the client answers the close, or at this
		// deadline. conn is what gorilla/websocket reads from, and its
		// deadlines are the ones gorilla sets. A deadline fails only on a
		// closed connection, whose reader has ended already.
		_ = w.conn.SetReadDeadline(time.Now().Add(closeWait))
	}
	return w.q.wrote()
}

// tryWrite writes buf to the socket until it would block.
func (w *socketWriter) tryWrite(buf []byte) (n int, err error) {
	rerr := w.raw.Write(func(fd uintptr) bool {
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

// writeBlocking writes rest and then whatever is queued, waiting for the
// socket, until the queue is empty; last tells whether rest ends with the
// close frame. rest[:head] ends a frame the socket took the start of, and
// whole frames follow. It writes whole frames, up to maxFrame bytes of them
// at a time, so that when the queue is dropped for a close (the client is
// too slow, or is cut off) the frames taken but not yet written are dropped
// too and the close frame follows the frames being written, rather than
// megabytes the client is not reading: the client that reads on then sees
// the close code instead of a connection that ends mid-stream.
func (w *socketWriter) writeBlocking(rest []byte, head int, last bool) {
	for {
		for len(rest) > 0 {
			n := head
			if n == 0 {
				n = framesUpTo(rest, maxFrame)
			}
			if err := w.writeFrames(rest[:n]); err != nil {
				w.fail()
				return
			}
			rest, head = rest[n:], 0
			if len(rest) > 0 && w.q.dropping() {
				rest = rest[:0]
			}
		}
		// The pool's writes would fail once a deadline set here has passed.
		if err := w.conn.SetWriteDeadline(time.Time{}); err != nil {
			w.fail()
			return
		}
		if !w.wrote(last) {
			return
		}
		rest, last = w.q.take(rest[:0])
	}
}

// pollWrite bounds each wait of a blocked write to a socket. The kernel
// wakes a waiting writer only once a third of the socket's buffer is free,
// which a slow reader takes long to free when the buffer has grown to
// megabytes; a writer that tries again now and then takes whatever room
// there is, and notices a close that drops the queue.
const pollWrite = 100 * time.Millisecond

// writeFrames writes frames. On a socket it waits while the socket takes
// some of them at least every timeout, until the queue is dropped for a
// close: from then on, for timeout at most. Other connections (TLS in
// process, whose writes cannot go on after a timeout) get timeout for them.
func (w *socketWriter) writeFrames(frames []byte) error {
	if w.raw == nil {
		if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return err
		}
		_, err := w.conn.Write(frames)
		return err
	}
	progress := time.Now()
	var end time.Time // once the queue is dropped: when the writer gives up
	for {
		deadline := time.Now().Add(pollWrite)
		if !end.IsZero() && end.Before(deadline) {
			deadline = end
		}
		if err := w.conn.SetWriteDeadline(deadline); err != nil {
			return err
		}
		n, err := w.conn.Write(frames)
		frames = frames[n:]
		now := time.Now()
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return err
		case n > 0:
			progress = now
		}
		if end.IsZero() && w.q.dropping() {
			end = now.Add(w.timeout)
		}
		if now.Sub(progress) >= w.timeout || !end.IsZero() && !now.Before(end) {
			return err
		}
	}
}

// fail ends a connection whose write failed: nothing more is written, and
// its reader ends on the closed socket.
func (w *socketWriter) fail() {
	w.conn.Close()
	w.q.fail()
}
