package httpapi

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestFrameBoundariesOfAWrittenStream(t *testing.T) {
	buf := appendFrame(nil, websocket.PingMessage, nil)                                    // 0-1
	buf = appendTextFrames(buf, [][]byte{[]byte(strings.Repeat("a", 10))})                 // 2-13
	buf = appendTextFrames(buf, [][]byte{[]byte(strings.Repeat("b", 70000))})              // 14-70023
	buf = appendFrame(buf, websocket.CloseMessage, websocket.FormatCloseMessage(1008, "")) // 70024-70027
	for off, want := range map[int]int{0: 2, 1: 2, 2: 14, 13: 14, 14: 70024, 70023: 70024, 70024: 70028, 70027: 70028} {
		if got := frameEnd(buf, off); got != want {
			t.Errorf("frameEnd at %d = %d, want %d", off, got, want)
		}
	}
	for limit, want := range map[int]int{1: 2, 14: 14, 70000: 14, 1 << 20: 70028} {
		if got := framesUpTo(buf, limit); got != want {
			t.Errorf("framesUpTo %d = %d, want %d", limit, got, want)
		}
	}
}

// blockedWriter returns a writer of near with the write timeout timeout, on
// pool, that has written part of objs to its full socket and waits on its
// own goroutine to write the rest, and far, the socket's other end, which
// reads nothing yet.
func blockedWriter(t *testing.T, timeout time.Duration) (near, far net.Conn, pool *writers, w *socketWriter, objs [][]byte) {
	t.Helper()
	near, far = socketPair(t)
	if err := near.(*net.UnixConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	pool = newWriters(1)
	w = newSocketWriter(t, near, pool)
	w.timeout = timeout
	objs = numbered(300, 1000)
	var start bool
	for _, obj := range objs {
		s, _ := w.q.add(obj)
		start = start || s
	}
	if !start {
		t.Fatal("queueing on an idle writer started no turn")
	}
	blocked := blockedWrites.Load()
	w.writeReady(nil) // the socket takes a part; the rest waits on the connection's goroutine
	if blockedWrites.Load() == blocked {
		t.Fatal("the socket took everything: no write waits")
	}
	return near, far, pool, w, objs
}

// A writer waiting for a full socket, when the queue is dropped for a 1008
// close, finishes the frame in progress, drops the frames it took after it,
// and writes the close frame next: the client gets whole frames, in order,
// then the close, without the megabytes it was not reading.
func TestABlockedWriteCutForA1008EndsWithTheFrameInProgress(t *testing.T) {
	near, far, pool, w, objs := blockedWriter(t, time.Minute)
	w.q.close(ClosePolicy, tooSlow, false)
	got := readAll(far)
	w.q.wait()
	near.Close()
	stream := describe(t, <-got)
	all := wantStream(objs)
	all = all[:len(all)-1] // the text frames, without the 1001 close
	n := len(stream) - 1
	if n < 1 || stream[n] != "close 1008 "+tooSlow {
		t.Fatalf("the stream ends with %.80q, want the 1008 close", stream[len(stream)-1])
	}
	if n >= len(all) || !slices.Equal(stream[:n], all[:n]) {
		t.Fatalf("the client got %d of %d frames before the close, want fewer, whole and in order", n, len(all))
	}
	pool.wait()
}

// A connection whose socket filled up once, and that was written on its
// own goroutine until it drained, goes back to the pool, whose later writes
// do not fail on the deadline of that goroutine's last write.
func TestAConnectionBackFromABlockedWriteWritesOnThePoolLater(t *testing.T) {
	near, far, pool, w, objs := blockedWriter(t, time.Second)
	got := readAll(far)
	w.q.wait()                // drained: the turn has ended
	time.Sleep(2 * w.timeout) // past the deadline of the last blocking write
	if queueAll(w, [][]byte{[]byte("after the deadline")}) {
		w.start()
	}
	w.q.wait()
	near.Close()
	want := wantStream(objs)
	want = append(want[:len(want)-1], "text after the deadline", "close 1001 bye")
	if stream := describe(t, <-got); !slices.Equal(stream, want) {
		t.Fatalf("the client got %d frames, want %d, the last ones written by the pool", len(stream), len(want))
	}
	pool.wait()
}
