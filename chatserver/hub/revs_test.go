package hub_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/hub"
)

func TestChangesPublishedOutOfRevOrderArriveInRevOrder(t *testing.T) {
	st, h, s := bobFollowsGeneral(t, time.Hour)
	m1, m2 := st.add("general"), st.add("general")
	e1 := st.edit("general", 1)
	m3 := st.add("general")
	e2 := st.edit("general", 2)
	for _, ev := range []chatserver.Event{updated(e1), event(m3), updated(e2), event(m2), event(m1), updated(e1), event(m2)} {
		h.Dispatch(ev)
	}
	want := []string{frames(m1)[0], frames(m2)[0], update(e1), frames(m3)[0], update(e2)}
	if got := s.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestAMissingChangeIsReadFromTheStore(t *testing.T) {
	tests := []struct {
		name string
		lost int64 // the rev whose event is lost
	}{
		{"a new message comes as a message", 2},
		{"an edit comes as an update", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, h, s := bobFollowsGeneral(t, 10*time.Millisecond)
			m1, m2 := st.add("general"), st.add("general")
			e1 := st.edit("general", 1)
			m3 := st.add("general")
			for _, ev := range []chatserver.Event{event(m1), event(m2), updated(e1), event(m3)} {
				if ev.Rev != tt.lost {
					h.Dispatch(ev)
				}
			}
			want := []string{frames(m1)[0], frames(m2)[0], update(e1), frames(m3)[0]}
			if got := s.wait(t, len(want)); !slices.Equal(got, want) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

// A lost change that a later change of the same message replaced cannot be
// read back: whoever missed it must resume, whoever's join covered it not.
func TestASupersededChangeClosesOnlyTheConnectionsThatMissedIt(t *testing.T) {
	st, h, bob := bobFollowsGeneral(t, 10*time.Millisecond)
	m1 := st.add("general")
	h.Dispatch(event(m1))
	if got := bob.wait(t, 1); !slices.Equal(got, frames(m1)) {
		t.Fatalf("bob got %v", got)
	}
	carol := &sink{}
	c := h.Register("carol", "", carol)
	join(t, h, c, "general")
	st.edit("general", 1) // rev 2: its event is lost, carol's join reply reads it
	e2 := st.edit("general", 1)
	h.Dispatch(updated(e2))
	if code := bob.closedWith(t); code != hub.ClosePolicy {
		t.Fatalf("bob closed with %d, want %d", code, hub.ClosePolicy)
	}
	if got := bob.wait(t, 1); !slices.Equal(got, frames(m1)) {
		t.Fatalf("bob got %v after the gap", got)
	}
	h.Resume(c, "general", 1, 2)
	if got := carol.wait(t, 1); !slices.Equal(got, []string{update(e2)}) || carol.code() != 0 {
		t.Fatalf("carol got %v, closed with %d", got, carol.code())
	}
}

func TestResumeDropsWhatTheJoinReplyCovered(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour})
	defer h.Close()
	followedAt(t, h, st, "general", 1)
	s := &sink{}
	c := h.Register("bob", "", s)
	join(t, h, c, "general")
	e1 := st.edit("general", 1) // rev 2: the reply's Page.Rev
	m2 := st.add("general")     // rev 3: after it, but among the reply's messages
	e2 := st.edit("general", 1) // rev 4: after the reply
	for _, ev := range []chatserver.Event{updated(e1), event(m2), updated(e2)} {
		h.Dispatch(ev)
	}
	h.Resume(c, "general", 2, 2)
	m3 := st.add("general")
	h.Dispatch(event(m3))
	want := []string{update(e2), frames(m3)[0]}
	if got := s.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

// A member's connection that starts to follow a DM at an update has not
// seen the DM's last seq: the next message is no gap.
func TestAMemberConnectionFollowingADMFromAnUpdateTakesTheNextMessage(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Millisecond})
	defer h.Close()
	for range 3 {
		st.add("dm:alice_bob")
	}
	s := &sink{}
	h.Register("bob", "", s)
	e1 := st.edit("dm:alice_bob", 1)
	h.Dispatch(updated(e1))
	if got := s.wait(t, 1); !slices.Equal(got, []string{update(e1)}) {
		t.Fatalf("got %v", got)
	}
	m4 := st.add("dm:alice_bob")
	h.Dispatch(event(m4))
	if got := s.wait(t, 2); !slices.Equal(got, []string{update(e1), frames(m4)[0]}) || s.code() != 0 {
		t.Fatalf("got %v, closed with %d", got, s.code())
	}
}

func TestRandomInterleavingsOfMessagesAndUpdatesArriveInRevOrder(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour})
	defer h.Close()
	const n = 2000
	sinks := followers(t, h, "r", 3)
	var events []chatserver.Event
	var want []string
	for i := range n {
		if i > 0 && rand.IntN(3) == 0 {
			e := st.edit("r", 1+rand.Int64N(int64(len(st.msgs["r"]))))
			events, want = append(events, updated(e)), append(want, update(e))
			continue
		}
		m := st.add("r")
		events, want = append(events, event(m)), append(want, frames(m)[0])
	}
	publishConcurrently(h, events, func(int) bool { return false })
	for i, s := range sinks {
		if got := s.wait(t, n); !slices.Equal(got, want) {
			t.Fatalf("sink %d: %d frames, in order: %v", i, len(got), len(got) == n)
		}
	}
}
