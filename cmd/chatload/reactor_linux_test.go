//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"
)

func messageEvent(seq int64, pad int) string {
	return fmt.Sprintf(`{"type":"message","message":{"seq":%d,"text":"1.0 %s"}}`, seq, strings.Repeat("x", pad))
}

func newTestSubscriber() *subscriber {
	w := &span{}
	w.start.Store(math.MaxInt64)
	w.end.Store(math.MaxInt64)
	return newSubscriber(&bench{epoch: time.Now()}, w, 0, chatProtocol{}, 1)
}

// TestReactorSubscriber runs one subscriber on a reactor against a server
// that sends frames right behind the handshake response, pings before and in
// the middle of a fragmented message, uses every length encoding, splits a
// frame header across writes and ends with a close frame; with -kernel-rx
// too, where reads take the kernel's receive times.
func TestReactorSubscriber(t *testing.T) {
	for _, kernelRx := range []bool{false, true} {
		t.Run(fmt.Sprintf("kernel-rx=%v", kernelRx), func(t *testing.T) { testReactorSubscriber(t, kernelRx) })
	}
}

func testReactorSubscriber(t *testing.T, kernelRx bool) {
	tg, served := rawServer(t, func(r *http.Request, c net.Conn, br *bufio.Reader) error {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			return fmt.Errorf("Authorization %q", got)
		}
		if got, want := r.Header.Get("Origin"), "http://"+r.Host; got != want {
			return fmt.Errorf("Origin %q, want %q", got, want)
		}
		// The handshake response, the hello and a ping in one write: the
		// client's bufio reader gets all of them at once.
		first := switchingProtocols(r) + string(serverFrame(true, opText, `{"type":"hello","protocol":1}`)) +
			string(serverFrame(true, opPing, "early"))
		if _, err := c.Write([]byte(first)); err != nil {
			return err
		}
		if err := expectFrame(br, clientFrame{opPong, "early"}); err != nil {
			return err
		}
		if err := expectFrame(br, clientFrame{opText, `{"type":"join","id":1,"room":"r"}`}); err != nil {
			return err
		}
		reply := `{"type":"reply","re":1,"ok":true,"data":{"room":"r","messages":[{"seq":3},{"seq":4}],"has_more":false}}`
		fragmented := messageEvent(5, 10)
		writes := [][]byte{
			serverFrame(true, opText, reply),
			serverFrame(false, opText, fragmented[:20]),
			serverFrame(true, opPing, "mid"),
			serverFrame(false, opContinuation, fragmented[20:30]),
			serverFrame(true, opContinuation, fragmented[30:]),
			serverFrame(true, opText, messageEvent(6, 300)), // 16-bit length
		}
		big := serverFrame(true, opText, messageEvent(7, 100000)) // 64-bit length, split inside its header
		writes = append(writes, big[:5], big[5:])
		writes = append(writes, serverFrame(true, opText, messageEvent(8, 0)+"\n"+messageEvent(9, 0)))
		for _, w := range writes {
			if _, err := c.Write(w); err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := expectFrame(br, clientFrame{opPong, "mid"}); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
		if _, err := c.Write(serverFrame(true, opClose, closePayload(4000, "bye"))); err != nil {
			return err
		}
		return expectFrame(br, clientFrame{opClose, closePayload(4000, "")})
	})

	rx, err := newReactor(2, kernelRx)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.close()
	s := newTestSubscriber()
	s.w.start.Store(0) // every message counts: sent at 1 ns on the generator's clock
	if err := rx.subscribe(context.Background(), tg, "tok", s, []byte(`{"type":"join","id":1,"room":"r"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber did not end")
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	if ce, ok := errors.AsType[*websocket.CloseError](s.err); !ok || ce.Code != 4000 || ce.Text != "bye" {
		t.Errorf("subscriber ended with %v, want close 4000 bye", s.err)
	}
	if !isDone(s.joined) || s.lastSeq[0].Load() != 9 || s.gaps+s.dupes+s.ooo != 0 {
		t.Errorf("joined %v, lastSeq %d, gaps %d dupes %d ooo %d; want joined, 9 and no faults",
			isDone(s.joined), s.lastSeq[0].Load(), s.gaps, s.dupes, s.ooo)
	}
	// Receipt by the kernel comes before receipt by the loop.
	switch {
	case s.lat.n != 5:
		t.Errorf("%d latencies recorded, want 5 (seq 5 to 9)", s.lat.n)
	case !kernelRx && s.latRx.n != 0:
		t.Errorf("%d kernel receipt latencies without -kernel-rx", s.latRx.n)
	case kernelRx && (s.latRx.n != s.lat.n || s.latRx.max > s.lat.max || s.latRx.max <= 0):
		t.Errorf("kernel receipt: %d latencies, max %d ns; loop: %d, max %d ns; want as many, each at most the loop's",
			s.latRx.n, s.latRx.max, s.lat.n, s.lat.max)
	}
}

// TestReactorEnds checks the two other ways a reactor subscriber ends: the
// server closing the connection without a close frame, and the reactor
// closing, which must close the sockets it owns.
func TestReactorEnds(t *testing.T) {
	hello := string(serverFrame(true, opText, `{"type":"hello"}`))
	joinReply := string(serverFrame(true, opText, `{"type":"reply","re":1,"ok":true,"data":{"messages":[]}}`))
	eofTarget, eofServed := rawServer(t, func(r *http.Request, c net.Conn, br *bufio.Reader) error {
		if _, err := c.Write([]byte(switchingProtocols(r) + hello + joinReply)); err != nil {
			return err
		}
		return expectFrame(br, clientFrame{opText, "join"}) // and close
	})
	keptTarget, keptServed := rawServer(t, func(r *http.Request, c net.Conn, br *bufio.Reader) error {
		if _, err := c.Write([]byte(switchingProtocols(r) + hello + joinReply)); err != nil {
			return err
		}
		if err := expectFrame(br, clientFrame{opText, "join"}); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return err
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			return fmt.Errorf("after the reactor closed, read = %v, want EOF", err) //nolint:errorlint // err may be nil: the message shows it as is
		}
		return nil
	})

	rx, err := newReactor(1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.close()
	eof, kept := newTestSubscriber(), newTestSubscriber()
	for _, sub := range []struct {
		t target
		s *subscriber
	}{{eofTarget, eof}, {keptTarget, kept}} {
		if err := rx.subscribe(context.Background(), sub.t, "tok", sub.s, []byte("join")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-eof.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber whose server went away did not end")
	}
	if ce, ok := errors.AsType[*websocket.CloseError](eof.err); !ok || ce.Code != websocket.CloseAbnormalClosure {
		t.Errorf("ended with %v, want close 1006 as gorilla reports an EOF", eof.err)
	}
	if err := <-eofServed; err != nil {
		t.Fatalf("server: %v", err)
	}
	<-kept.joined
	if isDone(kept.done) {
		t.Fatalf("a subscriber ended early: %v", kept.err)
	}
	rx.close()
	if !isDone(kept.done) || !errors.Is(kept.err, errReactorClosed) {
		t.Errorf("after close: done %v, err %v", isDone(kept.done), kept.err)
	}
	if err := <-keptServed; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := rx.subscribe(context.Background(), keptTarget, "tok", newTestSubscriber(), []byte("join")); err == nil {
		t.Error("a closed reactor took a subscriber")
	}
}

// pair is one subscriber on an epoll loop, over a socket pair: the loop
// reads one end, the test writes the server's frames to the other.
type pair struct {
	s    *subscriber
	fd   int      // the loop's end
	peer net.Conn // the server's end
}

// newPair opens a socket pair, writes pending to the server's end and then
// puts the other end on l.
func newPair(t *testing.T, l *epollLoop, pending ...[]byte) *pair {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "server end")
	peer, err := net.FileConn(f)
	f.Close()
	if err != nil {
		syscall.Close(fds[0])
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	p := &pair{s: newTestSubscriber(), fd: fds[0], peer: peer}
	p.write(t, pending...)
	if err := l.add(&rconn{fd: p.fd, rd: &wsReader{}, h: p.s}); err != nil {
		syscall.Close(p.fd)
		t.Fatal(err)
	}
	return p
}

func (p *pair) write(t *testing.T, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		if _, err := p.peer.Write(f); err != nil {
			t.Fatal(err)
		}
	}
}

// ended waits for the subscriber to end and returns why.
func (p *pair) ended(t *testing.T) error {
	t.Helper()
	select {
	case <-p.s.done:
		return p.s.err
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber did not end")
		return nil
	}
}

func joinReply(seq int64) []byte {
	return serverFrame(true, opText, fmt.Sprintf(`{"type":"reply","re":1,"ok":true,"data":{"messages":[{"seq":%d}]}}`, seq))
}

func messages(from, to int64) []byte {
	var b []byte
	for seq := from; seq <= to; seq++ {
		b = append(b, serverFrame(true, opText, messageEvent(seq, 0))...)
	}
	return b
}

var goingAway = serverFrame(true, opClose, closePayload(websocket.CloseGoingAway, ""))

func wantClose(t *testing.T, err error, code int) {
	t.Helper()
	if ce, ok := errors.AsType[*websocket.CloseError](err); !ok || ce.Code != code {
		t.Errorf("ended with %v, want close %d", err, code)
	}
}

func wantSeq(t *testing.T, s *subscriber, seq int64) {
	t.Helper()
	if !isDone(s.joined) || s.lastSeq[0].Load() != seq || s.gaps+s.dupes+s.ooo != 0 {
		t.Errorf("joined %v, last seq %d, gaps %d dupes %d ooo %d; want joined, %d and no faults",
			isDone(s.joined), s.lastSeq[0].Load(), s.gaps, s.dupes, s.ooo, seq)
	}
}

func loopConns(l *epollLoop) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func TestEpollLoop(t *testing.T) {
	newLoop := func(t *testing.T) *epollLoop {
		rx, err := newReactor(1, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rx.close)
		return rx.loops[0]
	}
	t.Run("bytes waiting before the add are read at once", func(t *testing.T) {
		p := newPair(t, newLoop(t), joinReply(2), messages(3, 5), goingAway)
		wantClose(t, p.ended(t), websocket.CloseGoingAway)
		wantSeq(t, p.s, 5)
	})
	t.Run("every connection of a loop gets its own frames", func(t *testing.T) {
		l := newLoop(t)
		ps := make([]*pair, 40)
		for i := range ps {
			ps[i] = newPair(t, l, joinReply(int64(i)))
		}
		// Interleaved, so that one wake-up finds several sockets ready.
		for round := range int64(10) {
			for i, p := range ps {
				from := int64(i) + 3*round + 1
				p.write(t, messages(from, from+2))
			}
		}
		for i, p := range ps {
			p.write(t, goingAway)
			wantClose(t, p.ended(t), websocket.CloseGoingAway)
			wantSeq(t, p.s, int64(i)+30)
		}
		if n := loopConns(l); n != 0 {
			t.Errorf("%d connections left on the loop after all ended", n)
		}
	})
	t.Run("a frame larger than the socket's buffer arrives over several reads", func(t *testing.T) {
		p := newPair(t, newLoop(t), joinReply(0))
		big := serverFrame(true, opText, messageEvent(1, 1<<20))
		wrote := make(chan error, 1)
		go func() {
			_, err := p.peer.Write(append(big, goingAway...))
			wrote <- err
		}()
		wantClose(t, p.ended(t), websocket.CloseGoingAway)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		wantSeq(t, p.s, 1)
	})
	t.Run("a ping is answered with a pong", func(t *testing.T) {
		p := newPair(t, newLoop(t), joinReply(0), serverFrame(true, opPing, "are you there"))
		if err := expectFrame(bufio.NewReader(p.peer), clientFrame{opPong, "are you there"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a hang-up ends the subscriber as an EOF and takes it off the loop", func(t *testing.T) {
		l := newLoop(t)
		p := newPair(t, l, joinReply(0), messages(1, 2))
		p.peer.Close()
		if err := p.ended(t); !errors.Is(err, errEOF) {
			t.Errorf("ended with %v, want %v", err, errEOF)
		}
		wantSeq(t, p.s, 2)
		if n := loopConns(l); n != 0 {
			t.Errorf("%d connections left on the loop", n)
		}
	})
	t.Run("a protocol error ends only its own connection", func(t *testing.T) {
		l := newLoop(t)
		bad, good := newPair(t, l, joinReply(0)), newPair(t, l, joinReply(0))
		bad.write(t, []byte{0x81, 0x81, 1, 2, 3, 4, 'x'}) // masked
		if err := bad.ended(t); err == nil || !strings.Contains(err.Error(), "masked") {
			t.Errorf("ended with %v, want the masked frame named", err)
		}
		good.write(t, messages(1, 3), goingAway)
		wantClose(t, good.ended(t), websocket.CloseGoingAway)
		wantSeq(t, good.s, 3)
	})
	t.Run("closing the reactor ends every subscriber and closes its socket", func(t *testing.T) {
		rx, err := newReactor(2, false)
		if err != nil {
			t.Fatal(err)
		}
		var ps []*pair
		for i := range 4 {
			ps = append(ps, newPair(t, rx.loops[i%2], joinReply(0)))
		}
		for _, p := range ps {
			<-p.s.joined
		}
		rx.close()
		rx.close() // a second close has nothing left to do
		for i, p := range ps {
			if err := p.ended(t); !errors.Is(err, errReactorClosed) {
				t.Errorf("subscriber %d ended with %v, want %v", i, err, errReactorClosed)
			}
			if err := p.peer.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, err := p.peer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("the server's end of subscriber %d read %d, %v; want EOF", i, n, err)
			}
		}
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[0])
		defer syscall.Close(fds[1])
		if err := rx.loops[0].add(&rconn{fd: fds[0], rd: &wsReader{}, h: newTestSubscriber()}); !errors.Is(err, errReactorClosed) {
			t.Errorf("add after close = %v, want %v", err, errReactorClosed)
		}
	})
}

func TestWriteFDWaitsForRoomInTheSocket(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "peer")
	defer f.Close()
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than the socket buffers hold
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(f)
		got <- b
	}()
	err = writeFD(fds[0], want)
	syscall.Close(fds[0]) // the peer reads to the end
	if err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("the peer read %d bytes, not the %d written", len(b), len(want))
	}
}

func TestRxTime(t *testing.T) {
	cmsg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, syscall.CmsgSpace(len(data)))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(syscall.CmsgLen(len(data)))
		copy(b[syscall.CmsgLen(0):], data)
		return b
	}
	ts := syscall.NsecToTimespec(1_700_000_000_123_456_789)
	stamp := unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))
	tests := map[string]struct {
		oob  []byte
		want int64 // 0: no time
	}{
		"a timestamp":                       {cmsg(syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, stamp), 1_700_000_000_123_456_789},
		"a timestamp after another message": {append(cmsg(syscall.SOL_SOCKET, syscall.SCM_RIGHTS, []byte{1, 0, 0, 0}), cmsg(syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, stamp)...), 1_700_000_000_123_456_789},
		"no control message":                {nil, 0},
		"another message only":              {cmsg(syscall.SOL_SOCKET, syscall.SCM_RIGHTS, []byte{1, 0, 0, 0}), 0},
		"a timestamp too short":             {cmsg(syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, stamp[:8]), 0},
		"a truncated buffer":                {cmsg(syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, stamp)[:8], 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := rxTime(tt.oob)
			if ok != (tt.want != 0) || got != tt.want {
				t.Errorf("rxTime = %d, %v; want %d, %v", got, ok, tt.want, tt.want != 0)
			}
		})
	}
}
