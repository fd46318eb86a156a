package app

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// start runs the whole server in-process on a listener of the test's with
// dir as its data directory.
func start(t *testing.T, dir string) *Server {
	t.Helper()
	return startWith(t, "CHAT_DATA_DIR", dir)
}

func TestAcknowledgedMessagesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	m := start(t, dir)
	base := "http://" + m.Addr()
	c := chattest.Dial(t, base, chattest.Login(t, base, "alice", "chat-secret-1"))
	var acked []int64
	for i := range 20 {
		f := c.Command(map[string]any{"type": "send", "room": "durable", "text": "keep me", "cid": string(rune('a' + i))})
		if !f.OK {
			t.Fatal(f.Raw)
		}
		acked = append(acked, int64(i+1))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if code := c.WaitClosed(); code != websocket.CloseGoingAway {
		t.Fatalf("close code on shutdown %d, want 1001", code)
	}

	m2 := start(t, dir)
	base = "http://" + m2.Addr()
	tok := chattest.Login(t, base, "alice", "chat-secret-1") // the account survived too
	c2 := chattest.Dial(t, base, tok)
	var p struct {
		Messages []chattest.Message
	}
	c2.OK(map[string]any{"type": "join", "room": "durable"}, &p)
	if len(p.Messages) != len(acked) {
		t.Fatalf("%d messages after restart, want %d", len(p.Messages), len(acked))
	}
	for i, msg := range p.Messages {
		if msg.Seq != acked[i] {
			t.Fatalf("message %d has seq %d", i, msg.Seq)
		}
	}
	// A retried send after the restart is still recognised by its cid.
	var r struct{ Message chattest.Message }
	c2.OK(map[string]any{"type": "send", "room": "durable", "text": "again", "cid": "a"}, &r)
	if r.Message.Seq != 1 {
		t.Fatalf("retried cid gave seq %d", r.Message.Seq)
	}
}

func TestShutdownIsBounded(t *testing.T) {
	m := start(t, t.TempDir())
	base := "http://" + m.Addr()
	tok := chattest.Login(t, base, "alice", "chat-secret-1")
	for range 5 {
		chattest.Dial(t, base, tok)
	}
	began := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > m.cfg.ShutdownTimeout+time.Second {
		t.Fatalf("shutdown took %s, over its bound %s", d, m.cfg.ShutdownTimeout)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
