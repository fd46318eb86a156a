package mongo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/mongo"
)

// edit is a Change that sets the text.
func edit(text string) chatserver.Change {
	return func(m chatserver.Message) (chatserver.Message, bool, error) {
		m.Text, m.EditedTS = text, time.Now()
		return m, true, nil
	}
}

// react is a Change that adds user's emoji, changing nothing if it is there.
func react(emoji, user string) chatserver.Change {
	return func(m chatserver.Message) (chatserver.Message, bool, error) {
		m.Reactions = slices.Clone(m.Reactions)
		for i, r := range m.Reactions {
			if r.Emoji == emoji {
				if slices.Contains(r.Users, user) {
					return m, false, nil
				}
				m.Reactions[i].Users = append(slices.Clone(r.Users), user)
				return m, true, nil
			}
		}
		m.Reactions = append(m.Reactions, chatserver.Reaction{Emoji: emoji, Users: []string{user}})
		return m, true, nil
	}
}

// remove is a Change that deletes the message the way the service does,
// changing nothing if it is deleted already.
func remove(m chatserver.Message) (chatserver.Message, bool, error) {
	if m.Deleted {
		return m, false, nil
	}
	m.Deleted, m.Text, m.Mentions, m.Reactions = true, "", nil, nil
	return m, true, nil
}

// revs lists the seq@rev of a page's messages, and its HasMore and Rev.
func revs(p chatserver.Page) string {
	var s []string
	for _, m := range p.Messages {
		s = append(s, fmt.Sprintf("%d@%d", m.Seq, m.Rev))
	}
	return fmt.Sprintf("[%s] more=%v rev=%d", strings.Join(s, " "), p.HasMore, p.Rev)
}

func appendAll(t *testing.T, db *mongo.DB, ms ...chatserver.Message) []chatserver.Message {
	t.Helper()
	var out []chatserver.Message
	for _, m := range ms {
		stored, created, err := db.Append(context.Background(), m)
		if err != nil || !created {
			t.Fatalf("append %+v: created=%v %v", m, created, err)
		}
		out = append(out, stored)
	}
	return out
}

func TestMongo_FerretDB_Update(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	appendAll(t, db, msg("general", "alice", "1"), msg("general", "bob", "2"))
	refused := errors.New("refused by the rules")
	calls := 0
	cases := []struct {
		name        string
		seq         int64
		change      chatserver.Change
		wantChanged bool
		wantRev     int64  // of the message Update returns
		wantErr     error  // returned as it is
		wantCode    string // or a store error
		roomRev     int64  // the room's rev after it
	}{
		{name: "an edit takes the room's next rev", seq: 1, change: edit("edited"), wantChanged: true, wantRev: 3, roomRev: 3},
		{name: "a reaction takes the next rev", seq: 2, change: react("👍", "alice"), wantChanged: true, wantRev: 4, roomRev: 4},
		{name: "setting a reaction that is set takes no rev", seq: 2, change: react("👍", "alice"), wantRev: 4, roomRev: 4},
		{name: "another user's reaction takes the next rev", seq: 2, change: react("👍", "carol"), wantChanged: true, wantRev: 5, roomRev: 5},
		{name: "a change of the message's identity keeps it", seq: 1, change: func(m chatserver.Message) (chatserver.Message, bool, error) {
			m.ID, m.Room, m.Seq, m.From, m.TS, m.CID, m.Rev = "other", "random", 9, "mallory", time.Unix(0, 0), "forged", 99
			m.Text = "edited again"
			return m, true, nil
		}, wantChanged: true, wantRev: 6, roomRev: 6},
		{name: "a delete takes the next rev", seq: 1, change: remove, wantChanged: true, wantRev: 7, roomRev: 7},
		{name: "deleting a deleted message takes no rev", seq: 1, change: remove, wantRev: 7, roomRev: 7},
		{name: "change's error comes back as it is and takes no rev", seq: 2, change: func(m chatserver.Message) (chatserver.Message, bool, error) {
			m.Text = "not stored"
			return m, true, refused
		}, wantErr: refused, roomRev: 7},
		{name: "an unknown seq is not found, change not called", seq: 3, change: func(m chatserver.Message) (chatserver.Message, bool, error) {
			calls++
			return m, true, nil
		}, wantCode: chatserver.ENotFound, roomRev: 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := db.Message(ctx, "general", c.seq)
			got, changed, err := db.Update(ctx, "general", c.seq, c.change)
			switch {
			case c.wantErr != nil:
				if err != c.wantErr { //nolint:errorlint // the very error change returned
					t.Fatalf("error %v, want change's own %v", err, c.wantErr)
				}
			case c.wantCode != "":
				chattest.WantCode(t, err, c.wantCode)
			default:
				if err != nil || changed != c.wantChanged || got.Rev != c.wantRev {
					t.Fatalf("changed=%v rev %d, %v; want changed=%v rev %d", changed, got.Rev, err, c.wantChanged, c.wantRev)
				}
				if !c.wantChanged && !reflect.DeepEqual(got, before) {
					t.Fatalf("unchanged, returned %+v, want the current state %+v", got, before)
				}
				if got.ID != before.ID || got.Room != "general" || got.Seq != c.seq || got.From != before.From || !got.TS.Equal(before.TS) || got.CID != before.CID {
					t.Fatalf("stored %+v, want the identity of %+v", got, before)
				}
			}
			want := before // what a read finds after it
			if c.wantChanged {
				want = got
			}
			if after, _ := db.Message(ctx, "general", c.seq); !reflect.DeepEqual(after, want) {
				t.Fatalf("reads back %+v, want %+v", after, want)
			}
			p, err := db.Changes(ctx, "general", 0, 10)
			if err != nil || p.Rev != c.roomRev {
				t.Fatalf("room rev %d, %v; want %d", p.Rev, err, c.roomRev)
			}
		})
	}
	if calls != 0 {
		t.Fatalf("change called %d times for a message that does not exist", calls)
	}
	t.Run("ReactionsAndEditReadBack", func(t *testing.T) {
		m, err := db.Message(ctx, "general", 2)
		if err != nil {
			t.Fatal(err)
		}
		want := []chatserver.Reaction{{Emoji: "👍", Users: []string{"alice", "carol"}}}
		if !reflect.DeepEqual(m.Reactions, want) || m.Rev != 5 {
			t.Fatalf("message 2: %+v, want reactions %v at rev 5", m, want)
		}
	})
}

func TestMongo_FerretDB_DeleteLeavesNoText(t *testing.T) {
	db, uri, database := newMongo(t)
	ctx := context.Background()
	const secret = "the-secret-plan-xyzzy"
	in := msg("general", "alice", "1")
	in.Text, in.Mentions = secret+" @bob", []string{"bob"}
	appendAll(t, db, in)
	if _, _, err := db.Update(ctx, "general", 1, react("🤫", "bob")); err != nil {
		t.Fatal(err)
	}
	leaky := func(m chatserver.Message) (chatserver.Message, bool, error) {
		m.Deleted = true // and nothing else: the store clears the rest
		return m, true, nil
	}
	deleted, changed, err := db.Update(ctx, "general", 1, leaky)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	t.Run("TheTombstoneHasNoTextMentionsOrReactions", func(t *testing.T) {
		for _, m := range []chatserver.Message{deleted, must(db.Message(ctx, "general", 1))} {
			if !m.Deleted || m.Text != "" || m.Mentions != nil || m.Reactions != nil || m.Rev != 3 {
				t.Fatalf("%+v", m)
			}
		}
	})
	t.Run("TheDocumentHoldsNoTrace", func(t *testing.T) {
		raw, err := rawDB(t, uri, database).Collection("messages").FindOne(ctx, bson.D{{Key: "room", Value: "general"}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		for _, trace := range []string{secret, "🤫", "mentions", "reactions"} {
			if bytes.Contains(raw, []byte(trace)) {
				t.Fatalf("the document holds %q: %s", trace, raw)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestMongo_FerretDB_Changes(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	for i := range 4 {
		appendAll(t, db, msg("general", "alice", fmt.Sprint(i)))
	}
	for _, seq := range []int64{2, 1} {
		if _, _, err := db.Update(ctx, "general", seq, edit("edited")); err != nil {
			t.Fatal(err)
		}
	}
	runPages(t, revs, map[string]pageCase{
		"after 0, every message once, in rev order": {func() (chatserver.Page, error) { return db.Changes(ctx, "general", 0, 10) }, "[3@3 4@4 2@5 1@6] more=false rev=6"},
		"after 0, one short of all":                 {func() (chatserver.Page, error) { return db.Changes(ctx, "general", 0, 3) }, "[3@3 4@4 2@5] more=true rev=6"},
		"after 4, the edited ones":                  {func() (chatserver.Page, error) { return db.Changes(ctx, "general", 4, 10) }, "[2@5 1@6] more=false rev=6"},
		"after 2, a rev an edit left":               {func() (chatserver.Page, error) { return db.Changes(ctx, "general", 2, 1) }, "[3@3] more=true rev=6"},
		"after the last, none":                      {func() (chatserver.Page, error) { return db.Changes(ctx, "general", 6, 10) }, "[] more=false rev=6"},
		"another room, rev 0":                       {func() (chatserver.Page, error) { return db.Changes(ctx, "random", 0, 10) }, "[] more=false rev=0"},
		"after by seq carries the room's rev":       {func() (chatserver.Page, error) { return db.After(ctx, "general", 2, 10) }, "[3@3 4@4] more=false rev=6"},
		"before by seq carries the room's rev":      {func() (chatserver.Page, error) { return db.Before(ctx, "general", 0, 2) }, "[3@3 4@4] more=true rev=6"},
	})
	t.Run("NonPositiveLimitIsBadRequest", func(t *testing.T) {
		_, err := db.Changes(ctx, "general", 0, 0)
		chattest.WantCode(t, err, chatserver.EBadRequest)
	})
}

func TestMongo_FerretDB_MarkRead(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	for i := range 4 {
		appendAll(t, db, msg("general", "bob", fmt.Sprint(i)))
	}
	cases := []struct {
		name     string
		user     string
		room     string
		seq      int64
		want     int64
		moved    bool
		wantCode string
	}{
		{name: "a first read sets the position", user: "alice", room: "general", seq: 2, want: 2, moved: true},
		{name: "an earlier seq leaves it where it is", user: "alice", room: "general", seq: 1, want: 2},
		{name: "the same seq leaves it where it is", user: "alice", room: "general", seq: 2, want: 2},
		{name: "a later seq moves it", user: "alice", room: "general", seq: 3, want: 3, moved: true},
		{name: "the last message is as far as it goes", user: "alice", room: "general", seq: 4, want: 4, moved: true},
		{name: "past the last message is a bad request", user: "alice", room: "general", seq: 5, wantCode: chatserver.EBadRequest},
		{name: "zero is a bad request", user: "alice", room: "general", seq: 0, wantCode: chatserver.EBadRequest},
		{name: "a negative seq is a bad request", user: "alice", room: "general", seq: -1, wantCode: chatserver.EBadRequest},
		{name: "a room without messages has nothing to read", user: "alice", room: "random", seq: 1, wantCode: chatserver.EBadRequest},
		{name: "each user has a position of their own", user: "carol", room: "general", seq: 1, want: 1, moved: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, moved, err := db.MarkRead(ctx, c.user, c.room, c.seq)
			chattest.WantCode(t, err, c.wantCode)
			if err == nil && (got != c.want || moved != c.moved) {
				t.Fatalf("position %d, moved %v; want %d, %v", got, moved, c.want, c.moved)
			}
		})
	}
	t.Run("RoomsShowThePositions", func(t *testing.T) {
		for user, want := range map[string]int64{"alice": 4, "carol": 1, "dave": 0} {
			rooms, err := db.Rooms(ctx, user)
			if err != nil || len(rooms) != 1 || rooms[0].ReadSeq != want || rooms[0].Reads != nil {
				t.Fatalf("%s: %+v, %v; want read_seq %d and no others' reads in a public room", user, rooms, err, want)
			}
		}
	})
	t.Run("PrivateRoomsShowTheOtherMembersPositions", func(t *testing.T) {
		appendAll(t, db, msg("gdm:alice_bob_carol", "alice", "p1"), msg("gdm:alice_bob_carol", "alice", "p2"))
		for user, seq := range map[string]int64{"bob": 2, "carol": 1} {
			if _, _, err := db.MarkRead(ctx, user, "gdm:alice_bob_carol", seq); err != nil {
				t.Fatal(err)
			}
		}
		rooms, err := db.Rooms(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(rooms, func(r chatserver.RoomInfo) bool { return r.ID == "gdm:alice_bob_carol" })
		if i < 0 || !maps.Equal(rooms[i].Reads, map[string]int64{"bob": 2, "carol": 1}) {
			t.Fatalf("alice's rooms: %+v", rooms)
		}
	})
}

func TestMongo_FerretDB_RoomsCounts(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	mention := func(m chatserver.Message, users ...string) chatserver.Message {
		m.Mentions = users
		return m
	}
	appendAll(t, db,
		msg("general", "alice", "g1"),
		msg("general", "bob", "g2"),
		msg("general", "carol", "g3"),
		mention(msg("general", "bob", "g4"), "alice"), // deleted below
		mention(msg("general", "carol", "g5"), "alice", "carol"),
		msg("general", "alice", "g6"),
		msg("dm:alice_bob", "bob", "d1"),
		msg("dm:alice_bob", "alice", "d2"),
		mention(msg("gdm:alice_bob_carol", "carol", "a1"), "alice"),
		msg("gdm:bob_carol_dave", "bob", "b1"),
	)
	if _, _, err := db.Update(ctx, "general", 4, remove); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureRoom(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.MarkRead(ctx, "alice", "general", 2); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		user string
		want []string // id kind members last_seq rev read_seq unread mentions
	}{
		"alice: her DM and group, counts without her own or deleted messages": {"alice", []string{
			"dm:alice_bob dm [alice bob] last=2 rev=2 read=0 unread=1 mentions=0",
			"gdm:alice_bob_carol group [alice bob carol] last=1 rev=1 read=0 unread=1 mentions=1",
			"general public [] last=6 rev=7 read=2 unread=2 mentions=1",
			"lobby public [] last=0 rev=0 read=0 unread=0 mentions=0",
		}},
		"carol: mentioned by herself is no mention": {"carol", []string{
			"gdm:alice_bob_carol group [alice bob carol] last=1 rev=1 read=0 unread=0 mentions=0",
			"gdm:bob_carol_dave group [bob carol dave] last=1 rev=1 read=0 unread=1 mentions=0",
			"general public [] last=6 rev=7 read=0 unread=3 mentions=0",
			"lobby public [] last=0 rev=0 read=0 unread=0 mentions=0",
		}},
		"erin: only the public rooms, every other message unread": {"erin", []string{
			"general public [] last=6 rev=7 read=0 unread=5 mentions=0",
			"lobby public [] last=0 rev=0 read=0 unread=0 mentions=0",
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rooms, err := db.Rooms(ctx, c.user)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rooms {
				got = append(got, fmt.Sprintf("%s %s %v last=%d rev=%d read=%d unread=%d mentions=%d", r.ID, r.Kind, r.Members, r.LastSeq, r.Rev, r.ReadSeq, r.Unread, r.Mentions))
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// Two stores on one database stand for two chat-server instances. Their
// writers append messages and edit earlier ones of their own, racing for
// the seqs and revs of one room.
func TestMongo_FerretDB_ChangesConcurrentGapFree(t *testing.T) {
	uri, database := standin.MongoDB(t)
	instances := []*mongo.DB{openMongo(t, uri, database), openMongo(t, uri, database)}
	const writers, perWriter = 3, 8
	ctx := context.Background()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken []int64                          // every rev Append and Update returned
		final = map[int64]chatserver.Message{} // by seq, the last state returned
	)
	record := func(m chatserver.Message) {
		mu.Lock()
		defer mu.Unlock()
		taken = append(taken, m.Rev)
		if m.Rev > final[m.Seq].Rev {
			final[m.Seq] = m
		}
	}
	errs := make(chan error, len(instances)*writers*perWriter*2)
	for i, db := range instances {
		for w := range writers {
			wg.Go(func() {
				var mine []int64
				for n := range perWriter {
					m, _, err := db.Append(ctx, msg("race", fmt.Sprintf("user%d-%d", i, w), fmt.Sprint("c", n)))
					if err != nil {
						errs <- err
						return
					}
					record(m)
					mine = append(mine, m.Seq)
					if n < 2 {
						continue
					}
					// An edit of a message two sends back, as a user fixing a typo.
					m, changed, err := db.Update(ctx, "race", mine[n-2], edit(fmt.Sprint("fixed ", n-2)))
					if err != nil || !changed {
						errs <- fmt.Errorf("edit: changed=%v %w", changed, err)
						return
					}
					record(m)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	appends, edits := len(instances)*writers*perWriter, len(instances)*writers*(perWriter-2)
	t.Run("EveryChangeHasItsOwnRevWithoutGaps", func(t *testing.T) {
		slices.Sort(taken)
		if len(taken) != appends+edits || taken[0] != 1 || taken[len(taken)-1] != int64(appends+edits) {
			t.Fatalf("%d revs from %d to %d, want 1 to %d", len(taken), taken[0], taken[len(taken)-1], appends+edits)
		}
		if dup := slices.Compact(slices.Clone(taken)); len(dup) != len(taken) {
			t.Fatalf("%d revs given out twice", len(taken)-len(dup))
		}
	})
	t.Run("ChangesShowEveryMessageOnceInItsLastState", func(t *testing.T) {
		p, err := instances[1].Changes(ctx, "race", 0, 2*appends)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) != appends || p.HasMore || p.Rev != int64(appends+edits) {
			t.Fatalf("%d messages, more=%v, rev %d; want %d, false, %d", len(p.Messages), p.HasMore, p.Rev, appends, appends+edits)
		}
		for i, m := range p.Messages {
			if i > 0 && m.Rev <= p.Messages[i-1].Rev {
				t.Fatalf("rev %d after rev %d", m.Rev, p.Messages[i-1].Rev)
			}
			if !reflect.DeepEqual(m, final[m.Seq]) {
				t.Fatalf("message %d reads %+v, its last change returned %+v", m.Seq, m, final[m.Seq])
			}
		}
	})
	t.Run("SeqsAreGapFree", func(t *testing.T) {
		p, err := instances[0].After(ctx, "race", 0, 2*appends)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range p.Messages {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d has seq %d", i, m.Seq)
			}
		}
	})
}

// A database written before revs existed: messages and rooms without them.
func TestMongo_FerretDB_BackfillsRevsOfOldDocuments(t *testing.T) {
	uri, database := standin.MongoDB(t)
	ctx := context.Background()
	raw := rawDB(t, uri, database)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := func(room string, seq int64, from string) bson.D {
		return bson.D{{Key: "_id", Value: fmt.Sprint(room, "-", seq)}, {Key: "room", Value: room}, {Key: "seq", Value: seq},
			{Key: "from", Value: from}, {Key: "text", Value: "old"}, {Key: "ts", Value: ts}, {Key: "cid", Value: fmt.Sprint("c", seq)}}
	}
	_, err := raw.Collection("messages").InsertMany(ctx, []any{
		old("general", 1, "alice"), old("general", 2, "bob"), old("general", 3, "bob"), old("dm:alice_bob", 1, "bob"),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Collection("rooms").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "general"}, {Key: "kind", Value: "public"}, {Key: "last_seq", Value: int64(3)}, {Key: "last_ts", Value: ts}},
		bson.D{{Key: "_id", Value: "dm:alice_bob"}, {Key: "kind", Value: "dm"}, {Key: "members", Value: bson.A{"alice", "bob"}}, {Key: "last_seq", Value: int64(1)}, {Key: "last_ts", Value: ts}},
	})
	if err != nil {
		t.Fatal(err)
	}
	db := openMongo(t, uri, database)
	t.Run("OldMessagesTakeTheirSeqAsRev", func(t *testing.T) {
		for room, want := range map[string]string{"general": "[1@1 2@2 3@3] more=false rev=3", "dm:alice_bob": "[1@1] more=false rev=1"} {
			p, err := db.Changes(ctx, room, 0, 10)
			if err != nil || revs(p) != want {
				t.Fatalf("%s: %s, %v; want %s", room, revs(p), err, want)
			}
		}
	})
	t.Run("OldRoomsTakeTheirLastSeqAsRev", func(t *testing.T) {
		cur, err := raw.Collection("rooms").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var rooms []struct {
			ID      string `bson:"_id"`
			LastRev *int64 `bson:"last_rev"`
		}
		if err := cur.All(ctx, &rooms); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rooms {
			got = append(got, fmt.Sprint(r.ID, "=", *r.LastRev))
		}
		if fmt.Sprint(got) != "[dm:alice_bob=1 general=3]" {
			t.Fatalf("rooms' revs %v", got)
		}
	})
	t.Run("ASecondOpenChangesNothing", func(t *testing.T) {
		again := openMongo(t, uri, database)
		p, err := again.Changes(ctx, "general", 0, 10)
		if err != nil || revs(p) != "[1@1 2@2 3@3] more=false rev=3" {
			t.Fatalf("%s, %v", revs(p), err)
		}
	})
	t.Run("NewChangesTakeTheNextRevs", func(t *testing.T) {
		m := appendAll(t, db, msg("general", "carol", "new"))[0]
		if m.Seq != 4 || m.Rev != 4 {
			t.Fatalf("appended %+v, want seq and rev 4", m)
		}
		e, _, err := db.Update(ctx, "general", 1, edit("new text"))
		if err != nil || e.Rev != 5 {
			t.Fatalf("edited %+v, %v; want rev 5", e, err)
		}
		rooms, err := db.Rooms(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rooms {
			got = append(got, fmt.Sprintf("%s rev=%d unread=%d", r.ID, r.Rev, r.Unread))
		}
		if want := "[dm:alice_bob rev=1 unread=1 general rev=5 unread=3]"; fmt.Sprint(got) != want {
			t.Fatalf("rooms %v, want %s", got, want)
		}
	})
	t.Run("AMessageKeepsTheRevsItHeld", func(t *testing.T) {
		var doc struct {
			Revs []int64 `bson:"revs"`
		}
		if err := raw.Collection("messages").FindOne(ctx, bson.D{{Key: "_id", Value: "general-1"}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(doc.Revs) != "[1 5]" {
			t.Fatalf("revs %v, want [1 5]", doc.Revs)
		}
	})
}

// A change another instance stores while Update's change runs makes Update
// call change again, with the state that includes it.
func TestMongo_FerretDB_UpdateRetriesAfterAConcurrentChange(t *testing.T) {
	uri, database := standin.MongoDB(t)
	a, b := openMongo(t, uri, database), openMongo(t, uri, database)
	ctx := context.Background()
	appendAll(t, a, msg("general", "alice", "1"), msg("general", "bob", "2"))
	var seen [][]chatserver.Reaction
	change := func(m chatserver.Message) (chatserver.Message, bool, error) {
		seen = append(seen, m.Reactions)
		if len(seen) == 1 {
			if _, _, err := b.Update(ctx, "general", 1, react("🎉", "bob")); err != nil {
				return m, false, err
			}
		}
		return react("👍", "alice")(m)
	}
	got, changed, err := a.Update(ctx, "general", 1, change)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	want := []chatserver.Reaction{{Emoji: "🎉", Users: []string{"bob"}}, {Emoji: "👍", Users: []string{"alice"}}}
	if len(seen) != 2 || seen[0] != nil || !reflect.DeepEqual(seen[1], want[:1]) {
		t.Fatalf("change saw %v, want nothing, then the other instance's 🎉", seen)
	}
	if !reflect.DeepEqual(got.Reactions, want) || got.Rev != 4 {
		t.Fatalf("stored %+v, want both reactions at rev 4", got)
	}
}
