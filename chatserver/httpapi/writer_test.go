package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// socketPair returns the two ends of a connected socket: near is what a
// socketWriter writes to, far what the client reads.
func socketPair(t testing.TB) (near, far net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conns[i].Close() })
	}
	return conns[0], conns[1]
}

// newSocketWriter returns a writer of conn on pool, with conn's socket for
// the pool's writes if it has one.
func newSocketWriter(t testing.TB, conn net.Conn, pool *writers) *socketWriter {
	t.Helper()
	w := &socketWriter{conn: conn, pool: pool, timeout: time.Minute}
	w.q.limit = 64 << 20
	if sc, ok := conn.(syscall.Conn); ok {
		raw, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		w.raw = raw
	}
	return w
}

// numbered returns n objects of size bytes, each starting with its number.
func numbered(n, size int) [][]byte {
	objs := make([][]byte, n)
	for i := range objs {
		obj := bytes.Repeat([]byte{'.'}, size)
		copy(obj, strconv.Itoa(i))
		objs[i] = obj
	}
	return objs
}

// wantStream is describe's view of objs written whole and closed with 1001.
func wantStream(objs [][]byte) []string {
	var want []string
	var frame []byte
	for _, obj := range objs {
		if len(frame) > 0 && len(frame)+1+len(obj) > maxFrame {
			want, frame = append(want, "text "+string(frame)), nil
		}
		if len(frame) > 0 {
			frame = append(frame, '\n')
		}
		frame = append(frame, obj...)
	}
	if len(frame) > 0 {
		want = append(want, "text "+string(frame))
	}
	return append(want, "close 1001 bye")
}

// queueAll queues objs and the close on w and reports whether a turn
// started.
func queueAll(w *socketWriter, objs [][]byte) (start bool) {
	for _, obj := range objs {
		s, _ := w.q.add(obj)
		start = start || s
	}
	s, _ := w.q.close(websocket.CloseGoingAway, "bye", false)
	return start || s
}

// readAll reads what arrives at far until near is closed.
func readAll(far net.Conn) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(far)
		ch <- b
	}()
	return ch
}

func TestSocketWriterDeliversTheStreamWholeAndInOrder(t *testing.T) {
	cases := []struct {
		name    string
		objs    int
		blocked bool // a connection's own goroutine finishes the write
	}{
		{"a socket with room takes it in one write", 5, false},
		{"a full socket gets the rest from the connection's goroutine", 2000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			near, far := socketPair(t)
			if err := near.(*net.UnixConn).SetWriteBuffer(16 << 10); err != nil {
				t.Fatal(err)
			}
			pool := newWriters(1)
			w := newSocketWriter(t, near, pool)
			objs := numbered(tc.objs, 1000)
			if !queueAll(w, objs) {
				t.Fatal("queueing on an idle writer started no turn")
			}
			blocked := blockedWrites.Load()
			w.writeReady(nil) // the pool's part, on this goroutine
			if got := blockedWrites.Load() > blocked; got != tc.blocked {
				t.Fatalf("a write on the connection's goroutine: %v, want %v", got, tc.blocked)
			}
			got := readAll(far)
			w.q.wait()
			near.Close()
			if stream := describe(t, <-got); !slices.Equal(stream, wantStream(objs)) {
				t.Fatalf("the client got %d frames, not the %d queued, whole and in order", len(stream), len(wantStream(objs)))
			}
			pool.wait()
		})
	}
}

func TestSocketWriterOfAConnectionThatIsNoSocketWritesOnItsOwnGoroutine(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	w := newSocketWriter(t, near, newWriters(1))
	if w.raw != nil {
		t.Fatal("a pipe has a socket")
	}
	objs := numbered(50, 100)
	blocked := blockedWrites.Load()
	if queueAll(w, objs) {
		w.start()
	}
	got := readAll(far)
	w.q.wait()
	near.Close()
	if stream := describe(t, <-got); !slices.Equal(stream, wantStream(objs)) {
		t.Fatalf("the client got %q", stream)
	}
	if blockedWrites.Load() == blocked {
		t.Fatal("the write was not counted as done on the connection's goroutine")
	}
}

func TestSocketWriterClosesTheConnectionWhenAWriteFails(t *testing.T) {
	near, far := socketPair(t)
	far.Close()
	w := newSocketWriter(t, near, newWriters(1))
	if !queueAll(w, numbered(1, 10)) {
		t.Fatal("queueing on an idle writer started no turn")
	}
	w.writeReady(nil)
	w.q.wait()
	if _, err := near.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after the failed write: %v, want the connection closed", err)
	}
	if start, _ := w.q.add([]byte("more")); start {
		t.Fatal("an object after the failed write started a turn")
	}
}

func TestPoolWritesEveryReadyConnection(t *testing.T) {
	pool := newWriters(2)
	type client struct {
		near net.Conn
		w    *socketWriter
		got  <-chan []byte
		objs [][]byte
	}
	clients := make([]client, 20)
	for i := range clients {
		near, far := socketPair(t)
		c := client{near: near, w: newSocketWriter(t, near, pool), got: readAll(far), objs: numbered(i+1, 100)}
		if queueAll(c.w, c.objs) {
			c.w.start()
		}
		clients[i] = c
	}
	for i, c := range clients {
		c.w.q.wait()
		c.near.Close()
		if stream := describe(t, <-c.got); !slices.Equal(stream, wantStream(c.objs)) {
			t.Fatalf("client %d got %q", i, stream)
		}
	}
	pool.wait() // the workers end lingerWait after the last write
}

// BenchmarkFanOut is the hub's fan-out of one message to 100 connections
// per op, written by the pool to sockets whose clients read as fast as they
// can; every 16 messages it waits for the queues to be written.
func BenchmarkFanOut(b *testing.B) {
	pool := newWriters(max(1, runtime.GOMAXPROCS(0)-1))
	ws := make([]*socketWriter, 100)
	for i := range ws {
		near, far := socketPair(b)
		ws[i] = newSocketWriter(b, near, pool)
		go func() { _, _ = io.Copy(io.Discard, far) }() // reads until the pair is closed
	}
	obj := bytes.Repeat([]byte("x"), 200)
	b.SetBytes(int64(len(obj) * len(ws)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for _, w := range ws {
			if start, _ := w.q.add(obj); start {
				w.start()
			}
		}
		if i%16 == 15 {
			for _, w := range ws {
				w.q.wait()
			}
		}
	}
	for _, w := range ws {
		if start, _ := w.q.close(websocket.CloseGoingAway, "", false); start {
			w.start()
		}
		w.q.wait()
		w.conn.Close()
	}
	pool.wait()
}
