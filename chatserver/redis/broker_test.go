package redis

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestEnvelope(t *testing.T) {
	for name, ev := range map[string]chatserver.Event{
		"message": {Kind: chatserver.EventMessage, Room: "general", User: "alice", Seq: 42, Rev: 57, Sent: time.Date(2026, 11, 27, 21, 0, 0, 123456789, time.UTC),
			Frame: []byte(`{"type":"message","message":{"seq":42}}`)},
		"update":            {Kind: chatserver.EventUpdate, Room: "gdm:a_b_c", User: "a", Seq: 3, Rev: 9, Frame: []byte(`{"type":"update"}`)},
		"typing in a DM":    {Kind: chatserver.EventTyping, Room: "dm:alice_bob", User: "bob", Frame: []byte(`{"type":"typing"}`)},
		"presence":          {Kind: chatserver.EventPresence, User: "carol", Frame: []byte("{}")},
		"empty":             {},
		"binary frame":      {Kind: "x", Frame: []byte{0, 1, 2, 0xff, '\n'}},
		"largest seq":       {Kind: chatserver.EventMessage, Seq: 1<<63 - 1},
		"long room and big": {Kind: chatserver.EventMessage, Room: string(bytes.Repeat([]byte("r"), 300)), Frame: bytes.Repeat([]byte("f"), 20000)},
	} {
		got, err := decodeEvent(encodeEvent(ev))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.Kind != ev.Kind || got.Room != ev.Room || got.User != ev.User || got.Seq != ev.Seq || got.Rev != ev.Rev || !got.Sent.Equal(ev.Sent) || !bytes.Equal(got.Frame, ev.Frame) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, ev)
		}
	}
	full := encodeEvent(chatserver.Event{Kind: "message", Room: "general", User: "alice", Seq: 7, Rev: 8})
	t.Run("an envelope of version 1, without rev, is read", func(t *testing.T) {
		v1 := []byte{1, 7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0, 0, 14, 0, '{', '}'}
		got, err := decodeEvent(v1)
		if err != nil || got.Kind != "message" || got.Seq != 7 || got.Rev != 0 || !got.Sent.IsZero() || string(got.Frame) != "{}" {
			t.Fatalf("decoded %+v, %v", got, err)
		}
	})
	for name, b := range map[string][]byte{
		"empty":             nil,
		"unknown version":   append([]byte{9}, full[1:]...),
		"truncated strings": full[:5],
		"no sent time":      full[:len(full)-1],
		"no rev":            full[:len(full)-2],
		"no seq":            full[:len(full)-3],
		"length too large":  {envelopeVersion, 0xff, 0xff, 0x03, 'x'},
	} {
		if _, err := decodeEvent(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// collector gathers the events a subscriber delivers, and counts the
// resyncs apart.
type collector struct {
	mu      sync.Mutex
	events  []chatserver.Event
	resyncs int
}

func (c *collector) deliver(ev chatserver.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Kind == chatserver.EventResync {
		c.resyncs++
		return
	}
	c.events = append(c.events, ev)
}

func (c *collector) resynced() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resyncs
}

func (c *collector) snapshot() []chatserver.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chatserver.Event(nil), c.events...)
}

// subscribe runs b.Subscribe until the test ends and checks that it returns
// nil once its context is canceled.
func subscribe(t *testing.T, b chatserver.Broker) *collector {
	t.Helper()
	col := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, col.deliver) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Subscribe returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Subscribe did not return after its context ended")
		}
	})
	return col
}

// waitSubscribers waits until n connections subscribe to the event channel.
func waitSubscribers(t *testing.T, c *Client, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d subscribers", n), func() error {
		got, err := c.rdb.PubSubNumSub(context.Background(), c.broker.channel).Result()
		if err != nil {
			return err
		}
		if got[c.broker.channel] != n {
			return fmt.Errorf("%d subscribed", got[c.broker.channel])
		}
		return nil
	})
}

func TestBroker(t *testing.T) {
	t.Run("every subscriber gets every event of one publisher in order, frames untouched", func(t *testing.T) {
		url, prefix, ctx := sharedURL(t), testPrefix(t), ctxT(t)
		a, b := instance(t, url, prefix, "a"), instance(t, url, prefix, "b")
		subs := []*collector{subscribe(t, a.Broker()), subscribe(t, b.Broker())}
		waitSubscribers(t, a, 2)
		const n = 500
		for i := 1; i <= n; i++ {
			ev := chatserver.Event{Kind: chatserver.EventMessage, Room: "general", User: "alice", Seq: int64(i),
				Frame: fmt.Appendf(nil, `{"type":"message","message":{"seq":%d,"text":"\u00e9\n"}}`, i)}
			if err := b.Broker().Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		for i, col := range subs {
			eventually(t, 10*time.Second, fmt.Sprintf("subscriber %d has every event", i), func() error {
				if got := len(col.snapshot()); got < n {
					return fmt.Errorf("%d of %d", got, n)
				}
				return nil
			})
			for j, ev := range col.snapshot() {
				want := fmt.Appendf(nil, `{"type":"message","message":{"seq":%d,"text":"\u00e9\n"}}`, j+1)
				if ev.Seq != int64(j+1) || ev.Room != "general" || ev.User != "alice" || ev.Kind != chatserver.EventMessage || !bytes.Equal(ev.Frame, want) {
					t.Fatalf("subscriber %d event %d = %+v (%s), want seq %d", i, j, ev, ev.Frame, j+1)
				}
			}
			if got := len(col.snapshot()); got != n {
				t.Fatalf("subscriber %d got %d events, want %d", i, got, n)
			}
		}
	})

	t.Run("instances with other prefixes do not see the events", func(t *testing.T) {
		url, ctx := sharedURL(t), ctxT(t)
		a, other := instance(t, url, testPrefix(t), "a"), instance(t, url, testPrefix(t), "b")
		mine, theirs := subscribe(t, a.Broker()), subscribe(t, other.Broker())
		waitSubscribers(t, a, 1)
		waitSubscribers(t, other, 1)
		if err := a.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventPresence, User: "alice"}); err != nil {
			t.Fatal(err)
		}
		if err := other.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventPresence, User: "bob"}); err != nil {
			t.Fatal(err)
		}
		// Each channel is FIFO: once bob's event reached its subscriber,
		// alice's would have been delivered before it if it were there.
		eventually(t, 10*time.Second, "events delivered", func() error {
			if len(mine.snapshot()) == 0 || len(theirs.snapshot()) == 0 {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		if got := theirs.snapshot(); len(got) != 1 || got[0].User != "bob" {
			t.Fatalf("the other prefix's subscriber got %+v, want only bob", got)
		}
		if got := mine.snapshot(); len(got) != 1 || got[0].User != "alice" {
			t.Fatalf("subscriber got %+v, want only alice", got)
		}
	})

	t.Run("a subscriber keeps going after Redis restarts", func(t *testing.T) {
		s := ownServer(t)
		prefix, ctx := testPrefix(t), ctxT(t)
		a, b := instance(t, s.URL(), prefix, "a"), instance(t, s.URL(), prefix, "b")
		col := subscribe(t, a.Broker())
		waitSubscribers(t, a, 1)
		if err := b.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventTyping, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "first event", func() error {
			if len(col.snapshot()) != 1 {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		s.Stop()
		wantCode(t, b.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventTyping}), chatserver.EUnavailable)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		// Events published before the subscriber is back are lost, as Pub/Sub
		// does; publish until one gets through.
		seq := int64(1)
		eventually(t, 20*time.Second, "an event after the restart", func() error {
			for _, ev := range col.snapshot() {
				if ev.Seq > 1 {
					return nil
				}
			}
			seq++
			if err := b.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventTyping, Seq: seq}); err != nil {
				return err
			}
			return fmt.Errorf("not delivered yet")
		})
		// What was published while it was away is lost to Pub/Sub: the
		// subscriber said so once at the start and once when it came back.
		if n := col.resynced(); n < 2 {
			t.Errorf("%d resyncs delivered, want one at the start and one after the restart", n)
		}
	})
}
