package sqlite

import (
	"context"
	"reflect"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestMarkRead(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		before    int64 // alice's position first, if above 0
		room      string
		seq       int64
		want      int64
		wantMoved bool
		wantCode  string
	}{
		"MovesForward":                        {2, "general", 4, 4, true, ""},
		"NeverMovesBack":                      {4, "general", 2, 4, false, ""},
		"StaysWhereItIs":                      {3, "general", 3, 3, false, ""},
		"UpToTheLastMessage":                  {0, "general", 5, 5, true, ""},
		"ErrBadRequestPastTheLastMessage":     {0, "general", 6, 0, false, chatserver.EBadRequest},
		"ErrBadRequestBelowOne":               {0, "general", 0, 0, false, chatserver.EBadRequest},
		"ErrBadRequestNegative":               {2, "general", -1, 0, false, chatserver.EBadRequest},
		"ErrBadRequestInARoomWithoutMessages": {0, "quiet", 1, 0, false, chatserver.EBadRequest},
		"ErrBadRequestInAnUnknownRoom":        {0, "nowhere", 1, 0, false, chatserver.EBadRequest},
		"ErrBadRequestForAnInvalidRoom":       {0, "Not A Room", 1, 0, false, chatserver.EBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			appendN(t, db, "general", 5)
			if err := db.EnsureRoom(ctx, "quiet"); err != nil {
				t.Fatal(err)
			}
			if tc.before > 0 {
				if _, _, err := db.MarkRead(ctx, "alice", "general", tc.before); err != nil {
					t.Fatal(err)
				}
			}
			got, moved, err := db.MarkRead(ctx, "alice", tc.room, tc.seq)
			wantCode(t, err, tc.wantCode)
			if got != tc.want || moved != tc.wantMoved {
				t.Fatalf("read position %d, moved %v; want %d, %v", got, moved, tc.want, tc.wantMoved)
			}
			if err != nil {
				return
			}
			if r := roomInfo(t, db, "alice", tc.room); r.ReadSeq != tc.want {
				t.Fatalf("Rooms: read_seq %d, want %d", r.ReadSeq, tc.want)
			}
			if r := roomInfo(t, db, "bob", tc.room); r.ReadSeq != 0 {
				t.Fatalf("Rooms: bob's read_seq %d, want 0: the position is alice's", r.ReadSeq)
			}
		})
	}
	t.Run("UpToAMessageOfTheSameBatch", func(t *testing.T) {
		db := open(t)
		appendN(t, db, "general", 1)
		release := holdWriter(t, db)
		appended := db.AppendRecord(ctx, msg("general", "bob", "c2"), nil)
		read := make(chan error, 1)
		go func() {
			_, _, err := db.MarkRead(ctx, "alice", "general", 2)
			read <- err
		}()
		waitQueue(t, db, 2)
		release()
		if _, _, err := appended(); err != nil {
			t.Fatal(err)
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SurvivesAReopen", func(t *testing.T) {
		dir := t.TempDir()
		db, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, db, "general", 3)
		if _, _, err := db.MarkRead(ctx, "alice", "general", 2); err != nil {
			t.Fatal(err)
		}
		db = reopen(t, db, dir)
		if r := roomInfo(t, db, "alice", "general"); r.ReadSeq != 2 || r.Unread != 0 {
			t.Fatalf("after reopen: %+v, want read_seq 2 and nothing unread (alice sent them)", r)
		}
	})
}

// counts is a room as Rooms shows it to one user: read position, unread and
// mention counts.
type counts struct{ read, unread, mentions int64 }

// TestRoomsCounts lists the rooms of a public room, a group room and a DM
// that hold messages of every kind, for users who read up to some point.
func TestRoomsCounts(t *testing.T) {
	ctx := context.Background()
	const general, group, dm = "general", "gdm:alice_bob_carol", "dm:alice_bob"
	for name, tc := range map[string]struct {
		user  string
		reads map[string]int64
		want  map[string]counts // every room listed
	}{
		"NeverReadCountsOthersMessagesNotDeletedAndTheirMentions": {
			user: "alice",
			want: map[string]counts{general: {0, 5, 3}, group: {0, 2, 1}, dm: {0, 0, 0}},
		},
		"CountsOnlyAfterTheReadPosition": {
			user:  "alice",
			reads: map[string]int64{general: 3, group: 1},
			want:  map[string]counts{general: {3, 3, 1}, group: {1, 1, 0}, dm: {0, 0, 0}},
		},
		"NothingLeftOnceAllIsRead": {
			user:  "alice",
			reads: map[string]int64{general: 8, group: 3, dm: 2},
			want:  map[string]counts{general: {8, 0, 0}, group: {3, 0, 0}, dm: {2, 0, 0}},
		},
		"AnotherMembersCounts": {
			user: "bob",
			want: map[string]counts{general: {0, 4, 1}, group: {0, 2, 0}, dm: {0, 2, 0}},
		},
		"ANonMemberSeesOnlyThePublicRoom": {
			user: "dave",
			want: map[string]counts{general: {0, 7, 0}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			for _, s := range []struct {
				room, from, text string
				mentions         []string
			}{
				{general, "alice", "hi", nil},
				{general, "bob", "@alice look", []string{"alice"}},
				{general, "carol", "@alice @bob", []string{"alice", "bob"}},
				{general, "alice", "@alice me", []string{"alice"}},
				{general, "bob", "bye", nil},
				{general, "carol", "@alice deleted next", []string{"alice"}},
				{general, "bob", "@alice edited away next", []string{"alice"}},
				{general, "carol", "edited in next", nil},
				{group, "bob", "@alice", []string{"alice"}},
				{group, "alice", "hi", nil},
				{group, "carol", "hi", nil},
				{dm, "alice", "one", nil},
				{dm, "alice", "two", nil},
			} {
				m := msg(s.room, s.from, s.text)
				m.Text, m.Mentions = s.text, s.mentions
				if _, _, err := db.Append(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			update(t, db, general, 6, remove())
			update(t, db, general, 7, edit("nothing"))
			update(t, db, general, 8, edit("now @alice", "alice"))
			for room, seq := range tc.reads {
				if _, _, err := db.MarkRead(ctx, tc.user, room, seq); err != nil {
					t.Fatal(err)
				}
			}
			rooms, err := db.Rooms(ctx, tc.user)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]counts{}
			for _, r := range rooms {
				got[r.ID] = counts{r.ReadSeq, r.Unread, r.Mentions}
				if r.ID == general && (r.LastSeq != 8 || r.Rev != 11) {
					t.Fatalf("%s: last_seq %d rev %d, want 8 and 11", r.ID, r.LastSeq, r.Rev)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Rooms(%s)\n got %+v\nwant %+v", tc.user, got, tc.want)
			}
		})
	}
}

// TestRoomsGroup checks that a group room is listed, as a group with its
// members, to its members only.
func TestRoomsGroup(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	const abc, bcd = "gdm:alice_bob_carol", "gdm:bob_carol_dave"
	m, _, err := db.Append(ctx, msg(abc, "bob", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureRoom(ctx, bcd); err != nil {
		t.Fatal(err)
	}
	group := func(id string, members []string, seq int64, unread int64) chatserver.RoomInfo {
		r := chatserver.RoomInfo{ID: id, Kind: chatserver.RoomKindGroup, Members: members, LastSeq: seq, Rev: seq, Unread: unread}
		if seq > 0 {
			r.LastTS = m.TS
		}
		return r
	}
	abcInfo := group(abc, []string{"alice", "bob", "carol"}, 1, 1)
	bcdInfo := group(bcd, []string{"bob", "carol", "dave"}, 0, 0)
	bobsABC := abcInfo
	bobsABC.Unread = 0
	for user, want := range map[string][]chatserver.RoomInfo{
		"alice": {abcInfo},
		"bob":   {bobsABC, bcdInfo},
		"dave":  {bcdInfo},
		"erin":  {},
	} {
		t.Run(user, func(t *testing.T) {
			got, err := db.Rooms(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Rooms(%s)\n got %+v\nwant %+v", user, got, want)
			}
		})
	}
}

// roomInfo returns room as Rooms lists it to user.
func roomInfo(tb testing.TB, db *DB, user, room string) chatserver.RoomInfo {
	tb.Helper()
	rooms, err := db.Rooms(context.Background(), user)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rooms {
		if r.ID == room {
			return r
		}
	}
	tb.Fatalf("Rooms(%s) does not list %s", user, room)
	return chatserver.RoomInfo{}
}
