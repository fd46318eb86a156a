package hub_test

import (
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/hub"
)

func TestTheRoomsAUserHasJoinedAreCappedAndFreedWhenLeft(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour, MaxRooms: 2})
	defer h.Close()
	tab1 := h.Register("bob", "", &sink{})
	tab2 := h.Register("bob", "", &sink{})
	refused := func(c *hub.Subscriber, room string) bool {
		_, err := h.Join(c, room)
		return chatserver.ErrorCode(err) == chatserver.EBadRequest
	}
	join(t, h, tab1, "a")
	join(t, h, tab2, "b")
	steps := []struct {
		name    string
		act     func()
		c       *hub.Subscriber
		room    string
		refused bool
	}{
		{"a third room of the user's is refused", func() {}, tab1, "c", true},
		{"a room one of the user's connections joined is not another", func() {}, tab1, "b", false},
		{"a room left by one connection still counts for the other", func() { h.Leave(tab1, "b") }, tab1, "c", true},
		{"a room left by every connection frees its place", func() { h.Leave(tab2, "b") }, tab2, "c", false},
		{"a closed connection frees its rooms", func() { h.Unregister(tab1); h.Unregister(tab2) },
			h.Register("bob", "", &sink{}), "d", false},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			tt.act()
			if got := refused(tt.c, tt.room); got != tt.refused {
				t.Fatalf("refused %v, want %v", got, tt.refused)
			}
		})
	}
}

// A connection closed because it would see a gap no longer counts the room.
func TestAConnectionClosedForAGapFreesTheRoom(t *testing.T) {
	st := newStore()
	h := hub.New(st, hub.Config{GapWait: time.Hour, MaxRooms: 1})
	defer h.Close()
	followedAt(t, h, st, "general", 3)
	s := &sink{}
	c := h.Register("bob", "", s)
	join(t, h, c, "general")
	if _, err := h.Join(c, "other"); err == nil {
		t.Fatal("a second room was not refused")
	}
	h.Resume(c, "general", 1, 3) // a since-page with more to come, not followed up
	h.Dispatch(event(st.add("general")))
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed != hub.ClosePolicy {
		t.Fatalf("closed with %d, want 1008", closed)
	}
	if _, err := h.Join(c, "other"); err != nil {
		t.Fatalf("the room of the closed subscription still counts: %v", err)
	}
}
