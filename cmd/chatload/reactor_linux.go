//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// reactor receives the subscribers' frames, and holds idle connections, on
// a few epoll loops instead of a goroutine per connection. With a goroutine
// each, every delivered frame costs a read that returns it, a read that
// returns EAGAIN, a park, a netpoll wake-up and an unpark; on a loop it
// costs one read, and one wake-up serves every connection that became
// readable meanwhile. Each loop owns its connections' sockets, buffers and
// handlers' receiving state; a subscriber's done closes when its loop
// finishes it.
//
// A loop does not block a thread in epoll_wait: its epoll descriptor is
// itself registered with the Go runtime's poller (an epoll set is readable
// while it has ready entries), so the loop's goroutine parks like any
// network read, and polls its own set with a zero timeout when woken.
//
// Measured in paced on two cores shared with the server, one loop per P is
// the choice. One loop used about 0.1 core less than two, but the server
// used about as much more and the latencies were worse (p99 62–74 ms, not
// 49–57). Loops that blocked their threads in epoll_wait, rather than
// parking here, showed the same trade more strongly (p99 up to 210 ms). One
// thread reading a thousand sockets falls behind whenever the server's
// threads take its CPU, and waking a sleeping thread costs the server too.
type reactor struct {
	loops    []*epollLoop
	kernelRx bool          // subscribers' sockets report the kernel's receive times
	next     atomic.Uint64 // connections are assigned round-robin
	once     sync.Once
}

type epollLoop struct {
	file    *os.File        // the epoll descriptor, registered with the runtime's poller
	rc      syscall.RawConn // file's: every use of the descriptor goes through it
	closing atomic.Bool     // set by reactor.close before it closes file
	mu      sync.Mutex
	conns   map[int]*rconn // by fd; nil once the loop has stopped
	exited  chan struct{}
}

// rxHandler owns a connection on a loop: a subscriber, or an idle
// connection.
type rxHandler interface {
	// message takes one complete message, as wsHandler.message does.
	message(payload []byte) error
	// ended tells, once, why the connection ended; the loop has closed it.
	ended(err error)
}

// rconn is one socket on a loop.
type rconn struct {
	fd int
	rd *wsReader
	h  rxHandler
	// rxAt, with -kernel-rx, takes the kernel's receive time of each read,
	// on the generator's clock, which started at epoch (Unix ns); oob takes
	// the read's control messages. Both nil otherwise.
	rxAt  *int64
	epoch int64
	oob   []byte
}

func (c *rconn) message(payload []byte) error { return c.h.message(payload) }
func (c *rconn) send(frame []byte) error      { return writeFD(c.fd, frame) }

// sendText sends a text message: the few a receiving connection answers
// with (Engine.IO pongs).
func (c *rconn) sendText(msg []byte) error { return writeFD(c.fd, appendClientFrame(nil, opText, msg)) }

var errReactorClosed = errors.New("closed by chatload")

// epollLoops is how many loops a fan-out scenario uses when -epoll-loops is
// not given: one per P.
func epollLoops() int { return runtime.GOMAXPROCS(0) }

// newReactor starts n epoll loops; with kernelRx every read also takes the
// kernel's receive time (see rxTime).
func newReactor(n int, kernelRx bool) (*reactor, error) {
	r := &reactor{kernelRx: kernelRx}
	for range max(n, 1) {
		l, err := newEpollLoop()
		if err != nil {
			r.close()
			return nil, err
		}
		r.loops = append(r.loops, l)
		go l.run()
	}
	return r, nil
}

func newEpollLoop() (*epollLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the runtime's poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("epoll: set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err == nil {
		// Only a descriptor the poller took has deadlines.
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll descriptor not pollable by the Go runtime: %w", err)
	}
	return &epollLoop{file: f, rc: rc, conns: map[int]*rconn{}, exited: make(chan struct{})}, nil
}

// close stops the loops, closing every socket they own and finishing their
// subscribers with errReactorClosed, and waits for them to exit.
func (r *reactor) close() {
	r.once.Do(func() {
		for _, l := range r.loops {
			l.closing.Store(true)
			l.file.Close() // wakes the loop from its wait
		}
		for _, l := range r.loops {
			<-l.exited
		}
	})
}

// subscribe opens s's WebSocket without gorilla, sends join on it and hands
// the socket to one of r's loops, which from then on owns s's receiving state.
// When it fails, s has no socket and its done stays open.
func (r *reactor) subscribe(ctx context.Context, t target, token string, s *subscriber, join []byte) error {
	c, err := r.open(ctx, t, token, s)
	if err != nil {
		return err
	}
	s.out = c
	if r.kernelRx {
		c.rxAt, c.epoch = &s.rxAt, s.b.epoch.UnixNano()
	}
	return r.start(c, t, join)
}

// hold opens an idle connection's WebSocket without gorilla and hands the
// socket to one of r's loops, with a lean reader: a loop keeps a few hundred
// bytes per idle connection. When it fails, i has no socket.
func (r *reactor) hold(ctx context.Context, t target, token string, i *idler) error {
	c, err := r.open(ctx, t, token, i)
	if err != nil {
		return err
	}
	i.out = c
	c.rd.lean = true
	return r.start(c, t, nil)
}

// open dials t and takes the socket from the Go runtime, for h.
func (r *reactor) open(ctx context.Context, t target, token string, h rxHandler) (*rconn, error) {
	conn, rd, err := dialRaw(ctx, t, token)
	if err != nil {
		return nil, err
	}
	fd, err := detach(conn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.wsURL, err)
	}
	return &rconn{fd: fd, rd: rd, h: h}, nil
}

// start hands c to a loop, after the frames that came with the greeting and
// first, when not nil, are sent. When it fails, it closes c's socket.
func (r *reactor) start(c *rconn, t target, first []byte) error {
	err := error(nil)
	if c.rxAt != nil {
		if err = syscall.SetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
			err = fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
		c.oob = make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{}))))
	}
	// Frames that came with the greeting, if any, are the handler's; c is
	// not on a loop yet, so this goroutine may hand them over.
	if err == nil {
		err = c.rd.drain(c)
	}
	if err == nil && first != nil {
		err = writeFD(c.fd, appendClientFrame(nil, opText, first))
	}
	if c.rd.lean {
		c.rd.shrink()
	}
	if err == nil {
		err = r.loops[r.next.Add(1)%uint64(len(r.loops))].add(c)
	}
	if err != nil {
		syscall.Close(c.fd)
		return fmt.Errorf("%s: %w", t.wsURL, err)
	}
	return nil
}

// detach takes the socket of conn away from the Go runtime: it returns a
// non-blocking duplicate of its descriptor and closes conn. Closing removes
// the descriptor from the runtime's poller and closes it, without shutting
// the connection down: the duplicate keeps the socket open.
func detach(conn net.Conn) (int, error) {
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no file descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	err = raw.Control(func(s uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, dupErr = syscall.Dup(int(s)); dupErr == nil {
			syscall.CloseOnExec(fd)
		}
	})
	if err = cmpOr(err, dupErr); err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("set non-blocking: %w", err)
	}
	return fd, nil
}

// writeFD writes all of b to a non-blocking socket. It is for the few small
// frames a subscriber sends (the join, pongs, a close), which fit the socket's
// buffer: a full buffer is retried for up to 5 s.
func writeFD(fd int, b []byte) error {
	var deadline time.Time
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if deadline.IsZero() {
				deadline = time.Now().Add(5 * time.Second)
			} else if time.Now().After(deadline) {
				return errors.New("write: the socket's send buffer stayed full for 5s")
			}
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// add puts c on the loop; the loop owns it from then on.
func (l *epollLoop) add(c *rconn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		return errReactorClosed
	}
	// Level-triggered: a socket with bytes left after a read is reported
	// again, and one that had bytes before it was added is reported at once.
	if c.fd < 0 || c.fd > math.MaxInt32 {
		return fmt.Errorf("fd %d does not fit an epoll event", c.fd)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
	var err error
	if cerr := l.rc.Control(func(epfd uintptr) {
		err = syscall.EpollCtl(int(epfd), syscall.EPOLL_CTL_ADD, c.fd, &ev)
	}); cerr != nil {
		return errReactorClosed
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	l.conns[c.fd] = c
	return nil
}

func (l *epollLoop) run() {
	defer close(l.exited)
	events := make([]syscall.EpollEvent, 1024)
	ready := make([]*rconn, 0, len(events))
	for {
		// Park until the set has ready entries. The runtime's poller
		// watches it edge-triggered, so the loop polls the set until it
		// is empty before it parks again.
		var (
			n       int
			waitErr error
		)
		err := l.rc.Read(func(epfd uintptr) bool {
			n, waitErr = syscall.EpollWait(int(epfd), events, 0)
			if waitErr == syscall.EINTR {
				n, waitErr = 0, nil
			}
			return n > 0 || waitErr != nil
		})
		if err = cmpOr(err, waitErr); err != nil {
			if l.closing.Load() {
				l.stop(errReactorClosed)
			} else {
				l.stop(fmt.Errorf("epoll_wait: %w", err))
			}
			return
		}
		ready = ready[:0]
		l.mu.Lock()
		for _, ev := range events[:n] {
			if c := l.conns[int(ev.Fd)]; c != nil {
				ready = append(ready, c)
			}
		}
		l.mu.Unlock()
		for _, c := range ready {
			if err := c.readOnce(); err != nil {
				l.finish(c, err)
			}
		}
		clear(ready)
	}
}

// readOnce reads what the socket has, up to the free space of c's buffer, and
// hands the complete frames on. Once per readiness event: whatever did not
// fit is reported again by the next epoll_wait.
func (c *rconn) readOnce() error {
	var n int
	var err error
	if c.oob == nil {
		n, err = syscall.Read(c.fd, c.rd.space())
	} else {
		var oobn int
		n, oobn, _, _, err = syscall.Recvmsg(c.fd, c.rd.space(), c.oob, 0)
		*c.rxAt = 0
		if err == nil {
			if at, ok := rxTime(c.oob[:oobn]); ok {
				*c.rxAt = at - c.epoch
			}
		}
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return nil
	case err != nil:
		return fmt.Errorf("read: %w", err)
	case n == 0:
		return errEOF
	}
	c.rd.wrote(n)
	if err := c.rd.drain(c); err != nil {
		return err // the connection ends
	}
	if c.rd.lean {
		c.rd.shrink()
	}
	return nil
}

// rxTime returns the receive time (Unix ns) in a read's control messages
// from a socket with SO_TIMESTAMPNS. For TCP it is the time the kernel
// received the newest segment the read returned: for bytes that came in
// earlier segments of the same read it is late, so latencies measured to it
// err on the high side.
func rxTime(oob []byte) (int64, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			var ts syscall.Timespec
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), m.Data) //nolint:gosec // the kernel's struct timespec, length checked above
			return ts.Nano(), true
		}
	}
	return 0, false
}

// finish takes c off the loop, closes its socket and tells its handler.
func (l *epollLoop) finish(c *rconn, err error) {
	l.mu.Lock()
	delete(l.conns, c.fd)
	// Best effort: closing the socket next takes it off the epoll set anyway.
	_ = l.rc.Control(func(epfd uintptr) { _ = syscall.EpollCtl(int(epfd), syscall.EPOLL_CTL_DEL, c.fd, nil) })
	syscall.Close(c.fd)
	l.mu.Unlock()
	c.h.ended(err)
}

// stop ends every connection of the loop with err and closes the loop's
// epoll descriptor.
func (l *epollLoop) stop(err error) {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	for _, c := range conns {
		syscall.Close(c.fd)
	}
	l.mu.Unlock()
	l.file.Close()
	for _, c := range conns {
		c.h.ended(err)
	}
}
