//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawServer answers the WebSocket upgrade itself, so that a test decides
// which bytes go out in which write, and hands the connection to script.
func rawServer(t *testing.T, script func(r *http.Request, c net.Conn, br *bufio.Reader) error) (target, chan error) {
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- script(r, c, brw.Reader)
	}))
	t.Cleanup(srv.Close)
	return target{base: srv.URL, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}, done
}

func switchingProtocols(r *http.Request) string {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
}

func messageEvent(seq int64, pad int) string {
	return fmt.Sprintf(`{"type":"message","message":{"seq":%d,"text":"1.0 %s"}}`, seq, strings.Repeat("x", pad))
}

func expectFrame(br *bufio.Reader, want clientFrame) error {
	got, err := readClientFrame(br)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("client sent %+v, want %+v", got, want)
	}
	return nil
}

func newTestSubscriber() *subscriber {
	w := &span{}
	w.start.Store(math.MaxInt64)
	w.end.Store(math.MaxInt64)
	return newSubscriber(&bench{epoch: time.Now()}, w, 0)
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
	if !isDone(s.joined) || s.lastSeq.Load() != 9 || s.gaps+s.dupes+s.ooo != 0 {
		t.Errorf("joined %v, lastSeq %d, gaps %d dupes %d ooo %d; want joined, 9 and no faults",
			isDone(s.joined), s.lastSeq.Load(), s.gaps, s.dupes, s.ooo)
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
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			return fmt.Errorf("after the reactor closed, read = %v, want EOF", err)
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
	if !isDone(kept.done) || kept.err != errReactorClosed {
		t.Errorf("after close: done %v, err %v", isDone(kept.done), kept.err)
	}
	if err := <-keptServed; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := rx.subscribe(context.Background(), keptTarget, "tok", newTestSubscriber(), []byte("join")); err == nil {
		t.Error("a closed reactor took a subscriber")
	}
}
