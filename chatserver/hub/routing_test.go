package hub_test

import (
	"slices"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/hub"
)

// connected registers one connection for each of users (a user twice: two
// connections) and returns their sinks, in that order.
func connected(h *hub.Hub, users ...string) []*sink {
	sinks := make([]*sink, len(users))
	for i, u := range users {
		sinks[i] = &sink{}
		h.Register(u, "", sinks[i])
	}
	return sinks
}

// reached checks that the connections of users whose user is in to got
// want, and then that the others got nothing.
func reached(t *testing.T, users []string, sinks []*sink, to []string, want []string) {
	t.Helper()
	for _, recipient := range []bool{true, false} {
		for i, s := range sinks {
			if slices.Contains(to, users[i]) != recipient {
				continue
			}
			if recipient {
				if got := s.wait(t, len(want)); !slices.Equal(got, want) {
					t.Errorf("connection %d of %s got %v", i, users[i], got)
				}
			} else if got := s.wait(t, 0); len(got) != 0 {
				t.Errorf("connection %d of %s got %v", i, users[i], got)
			}
		}
	}
}

func TestAPrivateRoomReachesEveryMembersConnectionsWithoutJoinAndNobodyElse(t *testing.T) {
	users := []string{"alice", "bob", "bob", "carol", "dave"}
	tests := []struct {
		name string
		room string
		to   []string
	}{
		{"DM", "dm:alice_bob", []string{"alice", "bob"}},
		{"group DM", chatserver.GroupRoomID("carol", "alice", "bob"), []string{"alice", "bob", "carol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore()
			// The stream's baseline is taken when the first gap wait ends:
			// both events must be in by then, even on a loaded machine.
			h := hub.New(st, hub.Config{GapWait: 200 * time.Millisecond})
			defer h.Close()
			sinks := connected(h, users...)
			m := st.add(tt.room)
			e := st.edit(tt.room, 1)
			h.Dispatch(updated(e))
			h.Dispatch(event(m))
			reached(t, users, sinks, tt.to, []string{frames(m)[0], update(e)})
		})
	}
}

func TestReadEventsReachTheUserAndOnlyInPrivateRoomsTheOtherMembers(t *testing.T) {
	users := []string{"alice", "alice", "bob", "carol", "dave"}
	tests := []struct {
		name string
		room string
		to   []string
	}{
		{"public room: the user's connections", "general", []string{"alice"}},
		{"DM: both users", "dm:alice_bob", []string{"alice", "bob"}},
		{"group DM: every member", "gdm:alice_bob_carol", []string{"alice", "bob", "carol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hub.New(newStore(), hub.Config{})
			defer h.Close()
			sinks := connected(h, users...)
			h.Dispatch(chatserver.Event{Kind: chatserver.EventRead, Room: tt.room, User: "alice", Seq: 3, Frame: []byte("r")})
			reached(t, users, sinks, tt.to, []string{"r"})
		})
	}
}

func TestAMentionReachesOnlyTheMentionedUser(t *testing.T) {
	h := hub.New(newStore(), hub.Config{})
	defer h.Close()
	users := []string{"alice", "bob", "bob", "carol"}
	sinks := connected(h, users...)
	c := h.Register("carol", "", sinks[3])
	join(t, h, c, "general") // joining the room makes no difference
	h.Resume(c, "general", 0, 0)
	h.Dispatch(chatserver.Event{Kind: chatserver.EventMention, Room: "general", User: "bob", Seq: 1, Frame: []byte("m")})
	reached(t, users, sinks, []string{"bob"}, []string{"m"})
}

func TestTypingInAGroupDMReachesTheOtherMembers(t *testing.T) {
	h := hub.New(newStore(), hub.Config{})
	defer h.Close()
	users := []string{"alice", "bob", "carol", "dave"}
	sinks := connected(h, users...)
	h.Dispatch(chatserver.Event{Kind: chatserver.EventTyping, Room: "gdm:alice_bob_carol", User: "alice", Frame: []byte("t")})
	reached(t, users, sinks, []string{"bob", "carol"}, []string{"t"})
}
