package hub_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/hub"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// store is a MessageStore stand-in holding every room's messages, each in
// its current state.
type store struct {
	mu   sync.Mutex
	msgs map[string][]chatserver.Message // by seq
	revs map[string]int64
}

func newStore() *store {
	return &store{msgs: map[string][]chatserver.Message{}, revs: map[string]int64{}}
}

// add stores a new message of alice's in room.
func (s *store) add(room string) chatserver.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := int64(len(s.msgs[room]) + 1)
	s.revs[room]++
	m := chatserver.Message{ID: fmt.Sprint(room, seq), Room: room, Seq: seq, Rev: s.revs[room], From: "alice", Text: "hi", TS: time.Now()}
	s.msgs[room] = append(s.msgs[room], m)
	return m
}

// edit changes the text of the message of room with seq.
func (s *store) edit(room string, seq int64) chatserver.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revs[room]++
	m := &s.msgs[room][seq-1]
	m.Rev, m.Text, m.EditedTS = s.revs[room], fmt.Sprint("edit ", s.revs[room]), time.Now()
	return *m
}

func (s *store) Changes(_ context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := chatserver.Page{Rev: s.revs[room]}
	changed := slices.Clone(s.msgs[room])
	slices.SortFunc(changed, func(a, b chatserver.Message) int { return cmp.Compare(a.Rev, b.Rev) })
	for _, m := range changed {
		if m.Rev > after {
			if len(p.Messages) == limit {
				p.HasMore = true
				break
			}
			p.Messages = append(p.Messages, m)
		}
	}
	return p, nil
}

// event is the message event of a new message m.
func event(m chatserver.Message) chatserver.Event {
	return chatserver.Event{Kind: chatserver.EventMessage, Room: m.Room, User: m.From, Seq: m.Seq, Rev: m.Rev, Sent: m.TS, Frame: wire.MessageEvent(m)}
}

// updated is the update event of a change of m.
func updated(m chatserver.Message) chatserver.Event {
	return chatserver.Event{Kind: chatserver.EventUpdate, Room: m.Room, User: m.From, Seq: m.Seq, Rev: m.Rev, Frame: wire.UpdateEvent(m)}
}

// sink records what a connection would be sent.
type sink struct {
	mu     sync.Mutex
	frames []string
	closed int
}

func (s *sink) Send(b []byte) { s.mu.Lock(); s.frames = append(s.frames, string(b)); s.mu.Unlock() }
func (s *sink) Close(code int, _ string) {
	s.mu.Lock()
	s.closed = code
	s.mu.Unlock()
}

// code returns the code the connection was closed with; 0 if it was not.
func (s *sink) code() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closedWith waits for the connection to be closed and returns the code; 0
// if it was not.
func (s *sink) closedWith(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.code() == 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	return s.code()
}

func (s *sink) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := append([]string(nil), s.frames...)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// frames are the message events of new messages ms.
func frames(ms ...chatserver.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(wire.MessageEvent(m))
	}
	return out
}

// update is the update frame of m.
func update(m chatserver.Message) string { return string(wire.UpdateEvent(m)) }

// join joins c to room, failing the test if the hub refuses.
func join(t testing.TB, h *hub.Hub, c *hub.Subscriber, room string) {
	t.Helper()
	if _, err := h.Join(c, room); err != nil {
		t.Fatalf("join %s: %v", room, err)
	}
}

// followedAt has alice follow room once it holds n messages, so that the
// room's stream is at seq and rev n.
func followedAt(t *testing.T, h *hub.Hub, st *store, room string, n int) {
	t.Helper()
	for range n {
		st.add(room)
	}
	c := h.Register("alice", "", &sink{})
	join(t, h, c, room)
	h.Resume(c, room, int64(n), int64(n))
}

// bobFollowsGeneral returns a hub with the given GapWait, its store, and the
// sink of a connection of bob's that follows the empty room general.
func bobFollowsGeneral(t *testing.T, gapWait time.Duration) (*store, *hub.Hub, *sink) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: gapWait})
	t.Cleanup(h.Close)
	s := &sink{}
	c := h.Register("bob", "", s)
	join(t, h, c, "general")
	h.Resume(c, "general", 0, 0)
	return st, h, s
}

func TestOutOfOrderEventsAreReordered(t *testing.T) {
	st, h, s := bobFollowsGeneral(t, time.Hour)
	m1, m2, m3 := st.add("general"), st.add("general"), st.add("general")
	for _, m := range []chatserver.Message{m2, m3, m1, m2} {
		h.Dispatch(event(m))
	}
	if got := s.wait(t, 3); !slices.Equal(got, frames(m1, m2, m3)) {
		t.Fatalf("got %v", got)
	}
}

func TestAMissingSeqIsReadFromTheStore(t *testing.T) {
	st, h, s := bobFollowsGeneral(t, 10*time.Millisecond)
	m1, m2, m3 := st.add("general"), st.add("general"), st.add("general")
	h.Dispatch(event(m1))
	h.Dispatch(event(m3)) // m2's publisher died before publishing
	if got := s.wait(t, 3); !slices.Equal(got, frames(m1, m2, m3)) {
		t.Fatalf("got %v", got)
	}
}

func TestAResubscribedBrokerHasTheRoomsReadWhatTheyMissed(t *testing.T) {
	st, h, s := bobFollowsGeneral(t, 10*time.Millisecond)
	m1, m2 := st.add("general"), st.add("general")
	h.Dispatch(event(m1))
	// m2 was published while the broker was not subscribed, and nothing
	// follows it: only the resync can bring it.
	h.Dispatch(chatserver.Event{Kind: chatserver.EventResync})
	if got := s.wait(t, 2); !slices.Equal(got, frames(m1, m2)) {
		t.Fatalf("got %v", got)
	}
	m3 := st.add("general")
	h.Dispatch(event(m2)) // late copies change nothing
	h.Dispatch(event(m3))
	if got := s.wait(t, 3); !slices.Equal(got, frames(m1, m2, m3)) {
		t.Fatalf("got %v", got)
	}
}

func TestJoinBuffersUntilResumeAndSkipsWhatTheReplyHeld(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour})
	defer h.Close()
	s := &sink{}
	c := h.Register("bob", "", s)
	m1 := st.add("general")
	join(t, h, c, "general")
	m2 := st.add("general")
	h.Dispatch(event(m1)) // the stream is behind the store read below
	h.Dispatch(event(m2))
	if got := s.wait(t, 0); len(got) != 0 {
		t.Fatalf("sent before resume: %v", got)
	}
	h.Resume(c, "general", 2, 2) // the join reply held seq 1 and 2, rev 1 and 2
	m3 := st.add("general")
	h.Dispatch(event(m3))
	if got := s.wait(t, 1); !slices.Equal(got, frames(m3)) {
		t.Fatalf("got %v", got)
	}
}

func TestTypingSkipsTheTypist(t *testing.T) {
	h := hub.New(newStore(), hub.Config{})
	defer h.Close()
	alice, bob := &sink{}, &sink{}
	ca, cb := h.Register("alice", "", alice), h.Register("bob", "", bob)
	for _, c := range []*hub.Subscriber{ca, cb} {
		join(t, h, c, "general")
		h.Resume(c, "general", 0, 0)
	}
	h.Dispatch(chatserver.Event{Kind: chatserver.EventTyping, Room: "general", User: "alice", Frame: []byte("t")})
	if got := bob.wait(t, 1); !slices.Equal(got, []string{"t"}) {
		t.Fatalf("bob got %v", got)
	}
	if got := alice.wait(t, 0); len(got) != 0 {
		t.Fatalf("alice got %v", got)
	}
}

func TestAConnectionThatWouldSeeAGapIsClosed(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour})
	defer h.Close()
	followedAt(t, h, st, "general", 3)
	h.Dispatch(event(st.add("general"))) // the stream is at 4
	s := &sink{}
	c := h.Register("bob", "", s)
	join(t, h, c, "general")
	// bob's join was a since-page that ended at 1 with more to come, and he
	// did not ask for the rest: seq 5 would skip 2-4.
	h.Resume(c, "general", 1, 4)
	h.Dispatch(event(st.add("general")))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed != hub.ClosePolicy || len(s.frames) != 0 {
		t.Fatalf("closed with %d, frames %v", s.closed, s.frames)
	}
}

// followers registers n connections that follow room from its start and
// returns their sinks.
func followers(t *testing.T, h *hub.Hub, room string, n int) []*sink {
	sinks := make([]*sink, n)
	for i := range sinks {
		sinks[i] = &sink{}
		c := h.Register(fmt.Sprint("u", i), "", sinks[i])
		join(t, h, c, room)
		h.Resume(c, room, 0, 0)
	}
	return sinks
}

// publishConcurrently dispatches events as two instances would, each
// publishing every other one, concurrently and shuffled a little; an
// instance loses the i-th event of its own when lost(i).
func publishConcurrently(h *hub.Hub, events []chatserver.Event, lost func(i int) bool) {
	var wg sync.WaitGroup
	for part := range 2 {
		wg.Go(func() {
			var mine []chatserver.Event
			for i := part; i < len(events); i += 2 {
				mine = append(mine, events[i])
			}
			for i := range mine {
				if j := i + rand.IntN(3); j < len(mine) {
					mine[i], mine[j] = mine[j], mine[i]
				}
			}
			for i, ev := range mine {
				if !lost(i) {
					h.Dispatch(ev)
				}
			}
		})
	}
	wg.Wait()
}

func TestRandomInterleavingsGiveGapFreeStreams(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: 5 * time.Millisecond})
	defer h.Close()
	const n = 2000
	sinks := followers(t, h, "r", 5)
	var all []chatserver.Message
	var events []chatserver.Event
	for range n {
		m := st.add("r")
		all, events = append(all, m), append(events, event(m))
	}
	publishConcurrently(h, events, func(i int) bool { return i%97 == 0 })
	want := frames(all...)
	for i, s := range sinks {
		if got := s.wait(t, n); !slices.Equal(got, want) {
			t.Fatalf("sink %d: %d frames, in order: %v", i, len(got), len(got) == n)
		}
	}
}

func BenchmarkHubBroadcast_100Subs(b *testing.B) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour})
	defer h.Close()
	for i := range 100 {
		c := h.Register(fmt.Sprint("u", i), "", discard{})
		join(b, h, c, "r")
		h.Resume(c, "r", 0, 0)
	}
	frame := wire.MessageEvent(chatserver.Message{ID: "x", Room: "r", From: "a", Text: "hello", TS: time.Now(), CID: "c"})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Dispatch(chatserver.Event{Kind: chatserver.EventMessage, Room: "r", Seq: int64(i + 1), Rev: int64(i + 1), Frame: frame})
	}
}

type discard struct{}

func (discard) Send([]byte)       {}
func (discard) Close(int, string) {}

func TestAnEndedSessionClosesItsConnectionsOnly(t *testing.T) {
	h := hub.New(newStore(), hub.Config{})
	defer h.Close()
	ended, other := &sink{}, &sink{}
	h.Register("alice", "s1", ended)
	h.Register("alice", "s2", other)
	h.Dispatch(chatserver.Event{Kind: chatserver.EventSessionEnd, User: "alice", Frame: []byte("s1")})
	if ended.closed != hub.ClosePolicy || other.closed != 0 {
		t.Fatalf("closed: %d %d", ended.closed, other.closed)
	}
}
