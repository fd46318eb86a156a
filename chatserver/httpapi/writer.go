package httpapi

import (
	"errors"
	"io"
	"net"
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
// by a goroutine of that connection's own, with the write deadline, so that
// a slow client never holds up a pool writer; the connection returns to the
// pool once its queue is empty. Connections whose transport is not a socket
// (TLS terminated in process) always write that way.
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
		go w.writeBlocking(nil, false)
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
		go w.writeBlocking(append([]byte(nil), buf[n:]...), last)
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
// socket (up to timeout per write), until the queue is empty; last tells
// whether rest ends with the close frame.
func (w *socketWriter) writeBlocking(rest []byte, last bool) {
	for {
		if len(rest) > 0 {
			if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
				w.fail()
				return
			}
			if _, err := w.conn.Write(rest); err != nil {
				w.fail()
				return
			}
		}
		if !w.wrote(last) {
			return
		}
		rest, last = w.q.take(rest[:0])
	}
}

// fail ends a connection whose write failed: nothing more is written, and
// its reader ends on the closed socket.
func (w *socketWriter) fail() {
	w.conn.Close()
	w.q.fail()
}
