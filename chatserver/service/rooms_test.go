package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// TestRoomAccess runs each command of a connection on rooms it may and may
// not use. A DM of bob and carol holds a message alice must not learn of.
func TestRoomAccess(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob", "carol")
	e.send(t, "bob", "dm:bob_carol", "secret", "s1")
	alice, aliceSink := e.connect(t, "alice")
	ctx := context.Background()
	commands := map[string]func(room string) error{
		"join": func(room string) error { return alice.Join(ctx, room, nil, nil, func(wire.Page) {}) },
		"send": func(room string) error {
			_, err := e.svc.Send(ctx, "alice", room, "hi", "c1")
			return err
		},
		"history": func(room string) error {
			_, err := e.svc.History(ctx, "alice", room, nil, 0)
			return err
		},
		"typing": func(room string) error { return e.svc.Typing(ctx, "alice", room, true) },
		"leave":  func(room string) error { return alice.Leave(ctx, room) },
	}
	tests := []struct {
		name, command, room, code string
	}{
		{"non-member cannot join a dm", "join", "dm:bob_carol", chatserver.EForbidden},
		{"non-member cannot send to a dm", "send", "dm:bob_carol", chatserver.EForbidden},
		{"non-member cannot read dm history", "history", "dm:bob_carol", chatserver.EForbidden},
		{"non-member cannot type in a dm", "typing", "dm:bob_carol", chatserver.EForbidden},
		{"non-member cannot leave a dm", "leave", "dm:bob_carol", chatserver.EForbidden},
		{"dm to yourself is refused", "send", "dm:alice_alice", chatserver.EBadRequest},
		{"dm id with its users out of order is refused", "join", "dm:bob_alice", chatserver.EBadRequest},
		{"dm id with one user is refused", "history", "dm:alice", chatserver.EBadRequest},
		{"dm id with three users is refused", "send", "dm:alice_bob_carol", chatserver.EBadRequest},
		{"dm id with an upper-case user is refused", "typing", "dm:Alice_bob", chatserver.EBadRequest},
		{"room id with a space is refused", "join", "Not Valid", chatserver.EBadRequest},
		{"empty room id is refused", "send", "", chatserver.EBadRequest},
		{"room id over 64 characters is refused", "history", strings.Repeat("r", 65), chatserver.EBadRequest},
		{"room id with an underscore is refused", "typing", "bad_room", chatserver.EBadRequest},
		{"leave of a malformed room is refused", "leave", "Bad Room", chatserver.EBadRequest},
		{"member may join her dm", "join", "dm:alice_bob", ""},
		{"member may read her dm", "history", "dm:alice_bob", ""},
		{"member may type in her dm", "typing", "dm:alice_bob", ""},
		{"member may leave her dm", "leave", "dm:alice_bob", ""},
		{"dm with an unregistered user can be joined", "join", "dm:alice_zed", ""},
		{"dm with an unregistered user can be read", "history", "dm:alice_zed", ""},
		{"dm with an unregistered user cannot be sent to", "send", "dm:alice_zed", chatserver.ENotFound},
		{"anybody may join a public room", "join", "general", ""},
		{"anybody may type in a public room", "typing", "general", ""},
		{"room id of 64 characters is valid", "history", strings.Repeat("r", 64), ""},
		{"leave of a room never joined succeeds", "leave", "never-joined", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := commands[tt.command](tt.room)
			chattest.WantCode(t, err, tt.code)
			if strings.Contains(chatserver.ErrorMessage(err), "secret") {
				t.Fatalf("the refusal tells of the DM: %v", err)
			}
		})
	}
	t.Run("the refused commands leave the dm as it was", func(t *testing.T) {
		p, err := e.svc.History(ctx, "bob", "dm:bob_carol", nil, 0)
		if err != nil || len(p.Messages) != 1 {
			t.Fatalf("%+v %v", p, err)
		}
		if got := aliceSink.messages("dm:bob_carol"); got != "[]" {
			t.Fatalf("alice received %v", got)
		}
	})
	t.Run("the refused commands record nothing of the dm", func(t *testing.T) {
		for _, ev := range activityOf(t, e.svc, "alice") {
			if strings.Contains(ev, "dm:bob_carol") {
				t.Fatalf("recorded %s", ev)
			}
		}
	})
}

// roomList returns what Rooms lists for user, as id/kind/last_seq.
func roomList(t *testing.T, s *service.Service, user string) string {
	t.Helper()
	rooms, err := s.Rooms(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	if rooms == nil {
		return "null"
	}
	var out []string
	for _, r := range rooms {
		out = append(out, fmt.Sprintf("%s/%s/%d", r.ID, r.Kind, r.LastSeq))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func TestRooms(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob", "carol")
	alice, _ := e.connect(t, "alice")
	t.Run("no room is an empty list", func(t *testing.T) {
		if got := roomList(t, e.svc, "alice"); got != "[]" {
			t.Fatalf("rooms %s", got)
		}
	})
	join(t, alice, "lobby", nil)
	join(t, alice, "dm:alice_carol", nil)
	e.send(t, "bob", "general", "hello", "g1")
	e.send(t, "bob", "general", "again", "g2")
	e.send(t, "alice", "dm:alice_bob", "psst", "d1")
	e.send(t, "bob", "dm:bob_carol", "psst", "d2")
	tests := []struct{ name, user, want string }{
		{"a dm is listed for its two users only, public rooms for all", "alice", "[dm:alice_bob/dm/1 general/public/2 lobby/public/0]"},
		{"each user lists her own dms", "bob", "[dm:alice_bob/dm/1 dm:bob_carol/dm/1 general/public/2 lobby/public/0]"},
		{"joining a dm lists nothing before its first message", "carol", "[dm:bob_carol/dm/1 general/public/2 lobby/public/0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := roomList(t, e.svc, tt.user); got != tt.want {
				t.Fatalf("rooms %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("a store listing no room gives an empty list", func(t *testing.T) {
		bare := newEnv(t, func(_ *service.Config, b *service.Deps) {
			b.Messages = noRooms{b.Messages}
		})
		if got := roomList(t, bare.svc, "alice"); got != "[]" {
			t.Fatalf("rooms %s", got)
		}
	})
}

// noRooms is a message store whose Rooms answers nil, as a store may.
type noRooms struct{ chatserver.MessageStore }

func (noRooms) Rooms(context.Context, string) ([]chatserver.RoomInfo, error) { return nil, nil }

// span describes a page: its first and last seq, its length and has_more.
func span(p wire.Page) string {
	if len(p.Messages) == 0 {
		return fmt.Sprintf("none more=%v", p.HasMore)
	}
	return fmt.Sprintf("%d..%d (%d) more=%v", p.Messages[0].Seq, p.Messages[len(p.Messages)-1].Seq, len(p.Messages), p.HasMore)
}

// fill sends n messages to room as user, with cids c1..cn.
func (e *env) fill(t *testing.T, user, room string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		e.send(t, user, room, fmt.Sprint("m", i), fmt.Sprint("c", i))
	}
}

func TestHistoryPages(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice")
	e.fill(t, "alice", "big", 120)
	tests := []struct {
		name   string
		room   string
		before *int64
		limit  int
		want   string
		code   string
	}{
		{"without before and limit, the newest 50", "big", nil, 0, "71..120 (50) more=true", ""},
		{"a limit of 100 is allowed", "big", nil, 100, "21..120 (100) more=true", ""},
		{"before with a limit, the newest below it", "big", seq(30), 10, "20..29 (10) more=true", ""},
		{"a page reaching the room's start has no more", "big", seq(6), 10, "1..5 (5) more=false", ""},
		{"before 1 is empty: nothing comes before seq 1", "big", seq(1), 10, "none more=false", ""},
		{"before 0 is empty too", "big", seq(0), 0, "none more=false", ""},
		{"before past the end, the newest", "big", seq(1000), 5, "116..120 (5) more=true", ""},
		{"an empty room has no messages", "empty", nil, 0, "none more=false", ""},
		{"a negative limit is a bad request", "big", nil, -1, "", chatserver.EBadRequest},
		{"a limit over 100 is a bad request", "big", nil, 101, "", chatserver.EBadRequest},
		{"a negative before is a bad request", "big", seq(-1), 10, "", chatserver.EBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.svc.History(context.Background(), "alice", tt.room, tt.before, tt.limit)
			chattest.WantCode(t, err, tt.code)
			if err != nil {
				return
			}
			if got := span(p); got != tt.want || p.Room != tt.room || p.Messages == nil {
				t.Fatalf("room %q: %s, want %s", p.Room, got, tt.want)
			}
		})
	}
}

func TestJoinPages(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.fill(t, "bob", "big", 120)
	tests := []struct {
		name, room string
		since      *int64
		want       string
	}{
		{"a join gives the newest 50, more before", "big", nil, "71..120 (50) more=true"},
		{"a join since a seq gives what follows", "big", seq(100), "101..120 (20) more=false"},
		{"a join since 0 gives the room from its start", "big", seq(0), "1..120 (120) more=false"},
		{"a join since the end gives nothing", "big", seq(120), "none more=false"},
		{"a join since past the end gives nothing", "big", seq(1000), "none more=false"},
		{"a join of a new room gives nothing", "new", nil, "none more=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := e.connect(t, "alice")
			p := join(t, c, tt.room, tt.since)
			if got := span(p); got != tt.want || p.Room != tt.room || p.Messages == nil {
				t.Fatalf("room %q: %s, want %s", p.Room, got, tt.want)
			}
		})
	}
}
