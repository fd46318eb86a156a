package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// The version 2 commands over a real WebSocket: each bad input gets the
// contract's error code and the connection carries on; the good ones reach
// the other user's connection as events.
func TestConversationCommandsOverTheWire(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	bob, bobTok := s.user(t, "bob")
	s.user(t, "carol")
	bob.OK(map[string]any{"type": "join", "room": "general"}, nil)
	m := send(alice, "general", "hello @bob", "c1")
	send(alice, "general", "second", "c2")
	if !slices.Equal(m.Mentions, []string{"bob"}) || m.Rev != 1 {
		t.Fatalf("sent %+v", m)
	}
	errs := []struct {
		name string
		cmd  map[string]any
		code string
	}{
		{"an edit of someone else's message", map[string]any{"type": "edit", "room": "general", "seq": 1, "text": "x"}, "forbidden"},
		{"a delete of someone else's message", map[string]any{"type": "delete", "room": "general", "seq": 1}, "forbidden"},
		{"an edit without seq", map[string]any{"type": "edit", "room": "general", "text": "x"}, "bad_request"},
		{"a react without active", map[string]any{"type": "react", "room": "general", "seq": 1, "emoji": "👍"}, "bad_request"},
		{"a read past the end", map[string]any{"type": "read", "room": "general", "seq": 3}, "bad_request"},
		{"a reply to nothing", map[string]any{"type": "send", "room": "general", "text": "x", "cid": "r1", "reply_to": 9}, "not_found"},
		{"a group of two", map[string]any{"type": "send", "room": "gdm:alice_bob", "text": "x", "cid": "g1"}, "bad_request"},
		{"a group of nine", map[string]any{"type": "send", "room": "gdm:a_b_bob_c_carol_d_e_f_g", "text": "x", "cid": "g2"}, "bad_request"},
		{"a group with a stranger", map[string]any{"type": "send", "room": "gdm:bob_carol_zed", "text": "x", "cid": "g3"}, "not_found"},
		{"a group out of order", map[string]any{"type": "send", "room": "gdm:carol_bob_alice", "text": "x", "cid": "g4"}, "bad_request"},
		{"a group with a member twice", map[string]any{"type": "send", "room": "gdm:bob_bob_carol", "text": "x", "cid": "g5"}, "bad_request"},
		{"a negative since_rev", map[string]any{"type": "join", "room": "general", "since_rev": -1}, "bad_request"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if f := bob.Command(tt.cmd); f.OK || f.Error == nil || f.Error.Code != tt.code {
				t.Fatalf("got %s, want %s", f.Raw, tt.code)
			}
		})
	}
	t.Run("a 21st emoji is refused", func(t *testing.T) {
		for i := range 20 {
			bob.OK(map[string]any{"type": "react", "room": "general", "seq": 2, "emoji": fmt.Sprint("e", i), "active": true}, nil)
		}
		if f := bob.Command(map[string]any{"type": "react", "room": "general", "seq": 2, "emoji": "e20", "active": true}); f.OK || f.Error.Code != "bad_request" {
			t.Fatalf("got %s", f.Raw)
		}
	})
	t.Run("edit, react and delete reach the other connection as updates", func(t *testing.T) {
		alice.OK(map[string]any{"type": "edit", "room": "general", "seq": 1, "text": "hello, bob"}, nil)
		f := bob.Next(func(f chattest.Frame) bool { return f.Type == "update" && f.Message.Seq == 1 })
		if f.Message.Text != "hello, bob" || f.Message.EditedTS.IsZero() {
			t.Fatalf("update %s", f.Raw)
		}
		alice.OK(map[string]any{"type": "delete", "room": "general", "seq": 1}, nil)
		f = bob.Next(func(f chattest.Frame) bool { return f.Type == "update" && f.Message.Seq == 1 && f.Message.Deleted })
		if f.Message.Text != "" {
			t.Fatalf("tombstone %s", f.Raw)
		}
	})
	t.Run("a read answers the position and tells the user's other connections", func(t *testing.T) {
		other := chattest.Dial(t, s.URL, bobTok)
		var r struct {
			Room    string
			ReadSeq int64 `json:"read_seq"`
		}
		bob.OK(map[string]any{"type": "read", "room": "general", "seq": 2}, &r)
		if r.Room != "general" || r.ReadSeq != 2 {
			t.Fatalf("read answered %+v", r)
		}
		other.Next(func(f chattest.Frame) bool { return f.Type == "read" && f.Room == "general" })
	})
	t.Run("the rooms list holds the counts and group rooms", func(t *testing.T) {
		alice.OK(map[string]any{"type": "send", "room": "gdm:alice_bob_carol", "text": "hi all", "cid": "g9"}, nil)
		bob.Next(func(f chattest.Frame) bool { return f.Type == "message" && f.Message.Room == "gdm:alice_bob_carol" })
		var rooms struct {
			Rooms []struct {
				ID       string
				Kind     string
				Members  []string
				Rev      int64
				ReadSeq  int64 `json:"read_seq"`
				Unread   int64
				Mentions int64
			}
		}
		status, body := chattest.Do(t, http.MethodGet, s.URL+"/api/rooms", bobTok, nil)
		decode(t, body, &rooms)
		if status != http.StatusOK || len(rooms.Rooms) != 2 {
			t.Fatalf("rooms %d %s", status, body)
		}
		g, general := rooms.Rooms[0], rooms.Rooms[1]
		if g.Kind != "group" || !slices.Equal(g.Members, []string{"alice", "bob", "carol"}) || g.Unread != 1 || g.ReadSeq != 0 {
			t.Fatalf("group room %+v", g)
		}
		if general.ReadSeq != 2 || general.Unread != 0 || general.Rev < 4 {
			t.Fatalf("general %+v", general)
		}
	})
}
