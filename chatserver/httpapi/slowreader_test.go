package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/httpapi"
)

// A client that reads, but slower than its room fills its queue, is cut off
// with 1008 and, reading on, sees that close code, not a connection that
// ends mid-frame (1006): the server drops what it took from the queue and
// the client has not read, and writes the close frame right after the frame
// in progress, rather than megabytes at the client's pace first, past the
// write timeout.
func TestASlowReaderThatIsCutOffSeesTheCloseCode1008(t *testing.T) {
	const writeTimeout = 5 * time.Second
	s := newServerWith(t, serverOpts{env: []string{"CHAT_SEND_QUEUE", fmt.Sprint(512 << 10), "CHAT_FSYNC", "false"},
		unix: true, opts: app.Options{Transport: func(c *httpapi.Config) { c.WriteTimeout = writeTimeout }}})
	alice, _ := s.user(t, "alice")
	// The slow client comes over a Unix socket, which takes more as soon as
	// the client reads. Over loopback TCP, a client reading this slowly on a
	// loaded machine now and then stalls for seconds (a segment dropped for
	// want of the room advertised, or a window that reopens only at the next
	// zero-window probe, each backing off), past the write timeout, and no
	// server can help that.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.Unix)
	}}
	raw := dialWS(t, &d, s.URL, chattest.Login(t, s.URL, "slow", pw))
	joinRaw(t, raw, "flood")
	if err := raw.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The client reads a frame (16 KiB at most) every 200 ms until a while
	// after the cut, longer than the server waits for a write; then it reads
	// what is left at full speed. At that pace the queue's 512 KiB take
	// longer than the write timeout.
	ended := make(chan error, 1)
	var fast atomic.Bool
	go func() {
		for {
			if _, _, err := raw.ReadMessage(); err != nil {
				ended <- err
				return
			}
			if !fast.Load() {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	// Four sends of 3900 bytes fill a frame; without ids they draw no replies.
	text := strings.Repeat("x", 3900)
	var frame []string
	for i := range 4 {
		frame = append(frame, fmt.Sprintf(`{"type":"send","room":"flood","text":%q,"cid":"c%%d-%d"}`, text, i))
	}
	batch := strings.Join(frame, "\n")
	for i := 1; ; i++ {
		sendFrame(t, alice, strings.ReplaceAll(batch, "%d", fmt.Sprint(i)))
		if i%16 != 0 {
			continue
		}
		send(alice, "flood", "sync", fmt.Sprint("sync", i)) // let the store catch up
		if counter(t, s, "chat_connection_closes_total", "1008") > 0 {
			break
		}
		select {
		case err := <-ended:
			t.Fatalf("the slow reader's connection ended with %v before it was cut off", err)
		default:
		}
		if i == 20000 {
			t.Fatal("a client that reads slower than its room fills was never cut off")
		}
	}
	time.AfterFunc(writeTimeout+time.Second, func() { fast.Store(true) })
	err := <-ended
	if closeCode(err) != websocket.ClosePolicyViolation {
		t.Fatalf("the slow reader's connection ended with %v, want close 1008", err)
	}
}
