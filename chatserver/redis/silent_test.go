package redis

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// A Redis that holds its connections open and answers nothing, as behind a
// network that drops every packet, fails every command with EUnavailable
// within Config.Timeout, or within the caller's sooner deadline, instead of
// a read timeout per retry; the client serves again once Redis answers.
func TestEveryCommandEUnavailableWithinItsBoundWhileRedisIsSilent(t *testing.T) {
	const (
		timeout = 3 * time.Second
		sooner  = 200 * time.Millisecond
		// slack is what a loaded machine may add to a bound; go-redis on
		// its own waits 5s per attempt and tries four times.
		slack = 1500 * time.Millisecond
	)
	hole := newBlackHole(t, sharedURL(t))
	c, err := Open(ctxT(t), Config{URL: hole.url, InstanceID: "a", Prefix: testPrefix(t),
		HeartbeatTTL: testTTL, HeartbeatInterval: testInterval, Timeout: timeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	publish := func(ctx context.Context) error {
		return c.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventMessage, Room: "general", Seq: 1})
	}
	commands := []struct {
		name   string
		within time.Duration
		call   func(ctx context.Context) error
	}{
		{"a publish fails within the bound", timeout, publish},
		{"a publish fails at its caller's sooner deadline", sooner, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, sooner)
			defer cancel()
			return publish(ctx)
		}},
		{"a session lookup fails within the bound", timeout, func(ctx context.Context) error {
			_, err := c.Sessions().Session(ctx, "h")
			return err
		}},
		{"a presence script fails within the bound", timeout, func(ctx context.Context) error {
			_, err := c.Presence().Connect(ctx, "alice", "c1")
			return err
		}},
		{"a presence read fails within the bound", timeout, func(ctx context.Context) error {
			_, err := c.Presence().Online(ctx)
			return err
		}},
		{"a check fails within the bound", timeout, c.Check},
	}

	hole.silence()
	type outcome struct {
		err  error
		took time.Duration
	}
	// The callers would wait longer: the bound is the client's.
	ctx := ctxT(t)
	outcomes := make([]chan outcome, len(commands))
	for i, cmd := range commands {
		outcomes[i] = make(chan outcome, 1)
		go func() {
			start := time.Now()
			err := cmd.call(ctx)
			outcomes[i] <- outcome{err, time.Since(start)}
		}()
	}
	for i, cmd := range commands {
		t.Run(cmd.name, func(t *testing.T) {
			select {
			case o := <-outcomes[i]:
				wantCode(t, o.err, chatserver.EUnavailable)
				if o.took > cmd.within+slack {
					t.Fatalf("failed after %v, want within %v", o.took, cmd.within)
				}
			case <-time.After(cmd.within + slack):
				t.Fatalf("no answer within %v", cmd.within+slack)
			}
		})
	}

	hole.heal()
	eventually(t, 10*time.Second, "a publish once Redis answers again", func() error { return publish(ctx) })
}

// blackHole is a TCP proxy in front of Redis that can fall silent: it then
// forwards nothing and closes nothing, and accepts new connections without
// answering them. Healed, it forwards what waited, as TCP retransmission does.
type blackHole struct {
	ln     net.Listener
	target string
	url    string // the Redis URL through the proxy

	mu      sync.Mutex
	open    chan struct{} // closed while the proxy forwards
	conns   map[net.Conn]bool
	stopped chan struct{} // closed when the test ends
	wg      sync.WaitGroup
}

// newBlackHole forwards to the Redis of redisURL until the test ends.
func newBlackHole(t *testing.T, redisURL string) *blackHole {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &blackHole{ln: ln, target: u.Host, open: make(chan struct{}), conns: map[net.Conn]bool{}, stopped: make(chan struct{})}
	close(h.open)
	u.Host = ln.Addr().String()
	h.url = u.String()
	h.wg.Go(h.accept)
	t.Cleanup(h.stop)
	return h
}

func (h *blackHole) silence() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = make(chan struct{})
}

func (h *blackHole) heal() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.open)
}

// pass waits while the proxy is silent; it returns false once it stops.
func (h *blackHole) pass() bool {
	h.mu.Lock()
	open := h.open
	h.mu.Unlock()
	select {
	case <-open:
		return true
	case <-h.stopped:
		return false
	}
}

func (h *blackHole) accept() {
	for {
		down, err := h.ln.Accept()
		if err != nil || !h.track(down) {
			return
		}
		h.wg.Go(func() {
			if !h.pass() {
				h.untrack(down)
				return
			}
			up, err := net.Dial("tcp", h.target)
			if err != nil || !h.track(up) {
				h.untrack(down)
				return
			}
			h.wg.Go(func() { h.copy(up, down) })
			h.copy(down, up)
		})
	}
}

// copy forwards src to dst while the proxy is not silent, then closes both.
func (h *blackHole) copy(dst, src net.Conn) {
	defer h.untrack(dst)
	defer h.untrack(src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && (!h.pass() || write(dst, buf[:n]) != nil) {
			return
		}
		if err != nil {
			return
		}
	}
}

func write(c net.Conn, b []byte) error {
	_, err := c.Write(b)
	return err
}

// track records c so that stop closes it; a stopped proxy closes it at once.
func (h *blackHole) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.stopped:
		_ = c.Close()
		return false
	default:
	}
	h.conns[c] = true
	return true
}

func (h *blackHole) untrack(c net.Conn) {
	_ = c.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
}

// stop closes the listener and every connection and waits for the copiers.
func (h *blackHole) stop() {
	h.mu.Lock()
	close(h.stopped)
	_ = h.ln.Close()
	for c := range h.conns {
		_ = c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}
