package service_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// revs returns the revs of the message and update events of room, in the
// order they came.
func (s *sink) revs(room string) []int64 {
	var revs []int64
	for _, f := range s.all() {
		if (f.Type == "message" || f.Type == "update") && f.Message != nil && f.Message.Room == room {
			revs = append(revs, f.Message.Rev)
		}
	}
	return revs
}

// waitFor waits until cond holds of what s received.
func (s *sink) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	chattest.Eventually(t, waitLimit, what, cond)
}

func TestEditsDeletesAndReactionsFollowTheRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.company(t)
	m := e.send(t, "alice", "general", "helo", "c1")
	if m.Rev != 1 || m.Seq != 1 {
		t.Fatalf("first message %+v: want seq 1, rev 1", m)
	}
	tests := []struct {
		name    string
		do      func() (chatserver.Message, error)
		code    string
		wantRev int64 // the message's rev after it
	}{
		{"the author edits her text: the next rev", func() (chatserver.Message, error) { return e.svc.Edit(ctx, "alice", "general", 1, "hello") }, "", 2},
		{"the same text again changes nothing", func() (chatserver.Message, error) { return e.svc.Edit(ctx, "alice", "general", 1, " hello ") }, "", 2},
		{"someone else may not edit it", func() (chatserver.Message, error) { return e.svc.Edit(ctx, "bob", "general", 1, "mine now") }, chatserver.EForbidden, 2},
		{"an edit to nothing is refused", func() (chatserver.Message, error) { return e.svc.Edit(ctx, "alice", "general", 1, "  ") }, chatserver.EBadRequest, 2},
		{"a message that does not exist is not found", func() (chatserver.Message, error) { return e.svc.Edit(ctx, "alice", "general", 9, "x") }, chatserver.ENotFound, 2},
		{"a reaction is the next rev", func() (chatserver.Message, error) { return e.svc.React(ctx, "bob", "general", 1, "👍", true) }, "", 3},
		{"the same reaction again changes nothing", func() (chatserver.Message, error) { return e.svc.React(ctx, "bob", "general", 1, "👍", true) }, "", 3},
		{"taking back a reaction never given changes nothing", func() (chatserver.Message, error) { return e.svc.React(ctx, "carol", "general", 1, "🎉", false) }, "", 3},
		{"an emoji with a space is refused", func() (chatserver.Message, error) { return e.svc.React(ctx, "bob", "general", 1, "a b", true) }, chatserver.EBadRequest, 3},
		{"an emoji of 17 characters is refused", func() (chatserver.Message, error) {
			return e.svc.React(ctx, "bob", "general", 1, strings.Repeat("x", 17), true)
		}, chatserver.EBadRequest, 3},
		{"someone else may not delete it", func() (chatserver.Message, error) { return e.svc.Delete(ctx, "bob", "general", 1) }, chatserver.EForbidden, 3},
		{"the author deletes it: the next rev", func() (chatserver.Message, error) { return e.svc.Delete(ctx, "alice", "general", 1) }, "", 4},
		{"deleting it again answers the tombstone and changes nothing", func() (chatserver.Message, error) { return e.svc.Delete(ctx, "alice", "general", 1) }, "", 4},
		{"a deleted message cannot be edited", func() (chatserver.Message, error) { return e.svc.Edit(ctx, "alice", "general", 1, "back") }, chatserver.ENotFound, 4},
		{"a deleted message takes no reactions", func() (chatserver.Message, error) { return e.svc.React(ctx, "bob", "general", 1, "😮", true) }, chatserver.ENotFound, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.do()
			chattest.WantCode(t, err, tt.code)
			page, herr := e.svc.History(ctx, "carol", "general", nil, 10)
			if herr != nil || len(page.Messages) != 1 || page.Messages[0].Rev != tt.wantRev {
				t.Fatalf("history %+v, %v: want the message at rev %d", page.Messages, herr, tt.wantRev)
			}
		})
	}
	t.Run("the tombstone keeps nothing of the text", func(t *testing.T) {
		page, _ := e.svc.History(ctx, "carol", "general", nil, 10)
		got := page.Messages[0]
		if !got.Deleted || got.Text != "" || got.Reactions != nil || got.Mentions != nil || got.EditedTS.IsZero() {
			t.Fatalf("tombstone %+v", got)
		}
	})
	t.Run("joined connections got each change once, in rev order", func(t *testing.T) {
		for _, s := range []*sink{c.alice1, c.bob1} {
			s.waitFor(t, "four revs", func() bool { return len(s.revs("general")) == 4 })
			if got := s.revs("general"); !slices.Equal(got, []int64{1, 2, 3, 4}) {
				t.Fatalf("revs %v", got)
			}
		}
		if got := c.carol.revs("general"); len(got) != 0 {
			t.Fatalf("carol, who did not join, got %v", got)
		}
	})
}

func TestAnAdminDeletesInPublicRoomsOnly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.send(t, "alice", "general", "spam", "c1")
	dm := e.send(t, "alice", "dm:admin_alice", "private", "c2")
	_, err := e.svc.Delete(ctx, "admin", "general", 1)
	chattest.WantCode(t, err, "")
	_, err = e.svc.Delete(ctx, "bob", "dm:admin_alice", dm.Seq)
	chattest.WantCode(t, err, chatserver.EForbidden)
	// In a DM the admin is a member like any other.
	_, err = e.svc.Delete(ctx, "admin", "dm:admin_alice", dm.Seq)
	chattest.WantCode(t, err, chatserver.EForbidden)
}

func TestAMessageHoldsAtMostTwentyDistinctReactions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.send(t, "alice", "general", "vote", "c1")
	for i := range chatserver.MaxReactions {
		if _, err := e.svc.React(ctx, "bob", "general", 1, fmt.Sprint("e", i), true); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.React(ctx, "alice", "general", 1, "one-more", true)
	chattest.WantCode(t, err, chatserver.EBadRequest)
	// Another user may still use one that is there.
	m, err := e.svc.React(ctx, "alice", "general", 1, "e0", true)
	if err != nil || len(m.Reactions) != chatserver.MaxReactions || !slices.Equal(m.Reactions[0].Users, []string{"alice", "bob"}) {
		t.Fatalf("reactions %+v, %v", m.Reactions, err)
	}
	// Taking the last one back removes the emoji.
	m, err = e.svc.React(ctx, "bob", "general", 1, "e1", false)
	if err != nil || len(m.Reactions) != chatserver.MaxReactions-1 || m.Reactions[1].Emoji != "e2" {
		t.Fatalf("reactions %+v, %v", m.Reactions, err)
	}
}

func TestRepliesNameAnEarlierMessageOfTheRoom(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.send(t, "alice", "general", "question", "c1")
	e.send(t, "alice", "random", "elsewhere", "c1")
	tests := []struct {
		name    string
		room    string
		replyTo int64
		code    string
	}{
		{"a reply to a message of the room", "general", 1, ""},
		{"a reply to a seq the room does not have", "general", 7, chatserver.ENotFound},
		{"a reply in a room that has no messages", "empty", 1, chatserver.ENotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			finish, err := e.svc.StartSend(ctx, "bob", tt.room, "answer", fmt.Sprint("r", i), tt.replyTo)
			if err == nil {
				var sent service.Sent
				sent, err = finish()
				if err == nil && sent.Message.ReplyTo != tt.replyTo {
					t.Fatalf("stored %+v", sent.Message)
				}
			}
			chattest.WantCode(t, err, tt.code)
		})
	}
}

func TestGroupRoomsAreForTheirMembers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.register(t, "alice", "bob", "carol", "dave")
	_, alice := e.connect(t, "alice")
	_, bob := e.connect(t, "bob")
	_, carol := e.connect(t, "carol")
	_, dave := e.connect(t, "dave")
	tests := []struct {
		name, user, room, code string
	}{
		{"a member starts it by sending", "alice", "gdm:alice_bob_carol", ""},
		{"another member answers", "carol", "gdm:alice_bob_carol", ""},
		{"someone else may not send to it", "dave", "gdm:alice_bob_carol", chatserver.EForbidden},
		{"two members are a DM, not a group", "alice", "gdm:alice_bob", chatserver.EBadRequest},
		{"nine members are too many", "alice", "gdm:a1_a2_a3_a4_a5_a6_a7_a8_alice", chatserver.EBadRequest},
		{"members out of order are refused", "alice", "gdm:bob_alice_carol", chatserver.EBadRequest},
		{"a member twice is refused", "alice", "gdm:alice_bob_bob", chatserver.EBadRequest},
		{"a member who is not registered is not found", "alice", "gdm:alice_bob_zed", chatserver.ENotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Send(ctx, tt.user, tt.room, "hi", fmt.Sprint("g", i))
			chattest.WantCode(t, err, tt.code)
		})
	}
	t.Run("every member's connection gets its messages without a join, nobody else", func(t *testing.T) {
		for _, s := range []*sink{alice, bob, carol} {
			s.waitFor(t, "two messages", func() bool { return len(s.seqs("gdm:alice_bob_carol")) == 2 })
		}
		if got := dave.seqs("gdm:alice_bob_carol"); len(got) != 0 {
			t.Fatalf("dave got %v", got)
		}
	})
	t.Run("the rooms list shows it to members only, with its members", func(t *testing.T) {
		for user, want := range map[string]bool{"bob": true, "dave": false} {
			rooms, err := e.svc.Rooms(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(rooms, func(r chatserver.RoomInfo) bool { return r.ID == "gdm:alice_bob_carol" })
			if (i >= 0) != want || (want && (rooms[i].Kind != chatserver.RoomKindGroup || !slices.Equal(rooms[i].Members, []string{"alice", "bob", "carol"}))) {
				t.Fatalf("%s's rooms: %+v", user, rooms)
			}
		}
	})
}

func TestMentionsReachTheMentionedUsersConnections(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.company(t)
	m := e.send(t, "alice", "general", "@Bob and @carol, and @nobody, see alice@bob, also @bob.", "c1")
	if !slices.Equal(m.Mentions, []string{"bob", "carol"}) {
		t.Fatalf("mentions %v", m.Mentions)
	}
	for name, s := range map[string]*sink{"bob's joined connection": c.bob1, "bob's other connection": c.bob2, "carol, who did not join": c.carol} {
		s.waitFor(t, name+" is told", func() bool { return len(s.of("mention")) == 1 })
	}
	if got := c.alice2.of("mention"); len(got) != 0 {
		t.Fatalf("alice was told of her own message: %+v", got)
	}
	t.Run("an edit tells only those it newly mentions", func(t *testing.T) {
		e.register(t, "dave")
		_, dave := e.connect(t, "dave")
		if _, err := e.svc.Edit(ctx, "alice", "general", m.Seq, "@bob @dave"); err != nil {
			t.Fatal(err)
		}
		dave.waitFor(t, "dave is told", func() bool { return len(dave.of("mention")) == 1 })
		if n := len(c.bob2.of("mention")); n != 1 {
			t.Fatalf("bob was told %d times", n)
		}
	})
	t.Run("a DM mention is the DM itself", func(t *testing.T) {
		e.send(t, "alice", "dm:alice_bob", "@bob look", "c2")
		c.bob2.waitFor(t, "the DM", func() bool { return len(c.bob2.seqs("dm:alice_bob")) == 1 })
		if n := len(c.bob2.of("mention")); n != 1 {
			t.Fatalf("bob got %d mention events", n)
		}
	})
}

func TestReadPositionsMoveForwardAndTellTheRightConnections(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.company(t)
	for i := range 3 {
		e.send(t, "alice", "general", fmt.Sprint("m", i), fmt.Sprint("c", i))
		e.send(t, "alice", "dm:alice_bob", fmt.Sprint("d", i), fmt.Sprint("c", i))
	}
	tests := []struct {
		name, user, room string
		seq, want        int64
		code             string
	}{
		{"a read moves the position", "bob", "general", 2, 2, ""},
		{"it never moves back", "bob", "general", 1, 2, ""},
		{"the same seq again leaves it, and tells nobody", "bob", "general", 2, 2, ""},
		{"past the last message is refused", "bob", "general", 4, 0, chatserver.EBadRequest},
		{"seq 0 is refused", "bob", "general", 0, 0, chatserver.EBadRequest},
		{"someone else's DM is forbidden", "carol", "dm:alice_bob", 1, 0, chatserver.EForbidden},
		{"in a DM", "bob", "dm:alice_bob", 3, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.svc.Read(ctx, tt.user, tt.room, tt.seq)
			chattest.WantCode(t, err, tt.code)
			if got != tt.want {
				t.Fatalf("position %d, want %d", got, tt.want)
			}
		})
	}
	reads := func(s *sink, room string) []int64 {
		var out []int64
		for _, f := range s.of("read") {
			if f.Room == room {
				out = append(out, f.Seq)
			}
		}
		return out
	}
	c.bob2.waitFor(t, "bob's reads", func() bool { return len(reads(c.bob2, "dm:alice_bob")) == 1 })
	c.alice2.waitFor(t, "the receipt", func() bool { return len(reads(c.alice2, "dm:alice_bob")) == 1 })
	if got := reads(c.bob2, "general"); !slices.Equal(got, []int64{2}) {
		t.Fatalf("bob's other connection got reads %v of general", got)
	}
	if got := reads(c.alice1, "general"); len(got) != 0 {
		t.Fatalf("alice learned bob's read position in a public room: %v", got)
	}
	t.Run("the rooms list counts what is unread and mentions", func(t *testing.T) {
		e.send(t, "alice", "general", "@bob ping", "c9")
		e.send(t, "bob", "general", "my own", "c9")
		if _, err := e.svc.Delete(ctx, "alice", "general", 3); err != nil {
			t.Fatal(err)
		}
		rooms, err := e.svc.Rooms(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if rooms, err := e.svc.Rooms(ctx, "alice"); err != nil || len(rooms) != 2 || !maps.Equal(rooms[0].Reads, map[string]int64{"bob": 3}) || rooms[1].Reads != nil {
			t.Fatalf("alice's rooms: %+v, %v; want bob's read position in their DM only", rooms, err)
		}
		i := slices.IndexFunc(rooms, func(r chatserver.RoomInfo) bool { return r.ID == "general" })
		// Unread after 2: 3 (deleted), 4 (mentions bob), 5 (bob's own).
		if got := rooms[i]; got.ReadSeq != 2 || got.Unread != 1 || got.Mentions != 1 || got.LastSeq != 5 || got.Rev != 6 {
			t.Fatalf("general for bob: %+v", got)
		}
	})
}

func TestAJoinWithSinceRevCatchesUpOnChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	c := e.company(t)
	for i := range 3 {
		e.send(t, "alice", "general", fmt.Sprint("m", i), fmt.Sprint("c", i)) // revs 1-3
	}
	if _, err := e.svc.Edit(ctx, "alice", "general", 1, "m0, edited"); err != nil { // rev 4
		t.Fatal(err)
	}
	if _, err := e.svc.React(ctx, "bob", "general", 2, "👍", true); err != nil { // rev 5
		t.Fatal(err)
	}
	var page wire.Page
	if err := c.bob.Join(ctx, "general", seq(3), revOf(3), func(p wire.Page) { page = p }); err != nil {
		t.Fatal(err)
	}
	if page.Changes == nil || page.ChangesMore == nil || *page.ChangesMore || len(page.Messages) != 0 {
		t.Fatalf("join reply %+v", page)
	}
	var got []string
	for _, m := range *page.Changes {
		got = append(got, fmt.Sprint(m.Seq, "@", m.Rev))
	}
	if want := []string{"1@4", "2@5"}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	t.Run("a join without since_rev has no changes", func(t *testing.T) {
		p := join(t, c.alice, "general", nil)
		if p.Changes != nil || p.ChangesMore != nil {
			t.Fatalf("join reply %+v", p)
		}
	})
	t.Run("live changes after the join follow in rev order", func(t *testing.T) {
		if _, err := e.svc.Delete(ctx, "alice", "general", 3); err != nil { // rev 6
			t.Fatal(err)
		}
		c.bob1.waitFor(t, "rev 6", func() bool { return slices.Contains(c.bob1.revs("general"), 6) })
		revs := c.bob1.revs("general")
		if !slices.IsSorted(revs) || len(slices.Compact(slices.Clone(revs))) != len(revs) {
			t.Fatalf("revs out of order or repeated: %v", revs)
		}
	})
}

func revOf(n int64) *int64 { return &n }

// The activity log records edits and deletes once each, by their rev.
func TestEditsAndDeletesAreRecordedInTheActivityLog(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.register(t, "alice")
	m := e.send(t, "alice", "general", "x", "c1")
	if _, err := e.svc.Edit(ctx, "alice", "general", 1, "y"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Edit(ctx, "alice", "general", 1, "y"); err != nil { // no change, no event
		t.Fatal(err)
	}
	if _, err := e.svc.Delete(ctx, "alice", "general", 1); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{chatserver.ActivityEdited: 1, chatserver.ActivityDeleted: 1} {
		res, err := e.db.Search(ctx, chatserver.ActivityQuery{Type: typ, Size: 10})
		if err != nil || len(res.Events) != want || res.Events[0].MessageID != m.ID {
			t.Fatalf("%s events %+v, %v", typ, res.Events, err)
		}
	}
}
