package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// step is one Update of a case: on the message with seq, what it returns.
type step struct {
	seq         int64
	change      chatserver.Change
	wantChanged bool
	wantRev     int64 // of the message returned
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	// Each case starts from a room of three messages from alice, revs 1 to 3,
	// then applies its steps in order.
	for name, tc := range map[string]struct {
		steps []step
		want  chatserver.Message // the state of message 1 at the end, Rev and EditedTS aside
		room  int64              // the room's rev at the end
	}{
		"RevGrowsByOnePerChange": {
			steps: []step{{1, edit("one"), true, 4}, {2, edit("two"), true, 5}, {1, react("👍", "bob", true), true, 6}, {1, remove(), true, 7}},
			want:  chatserver.Message{Text: "", Deleted: true},
			room:  7,
		},
		"NoOpChangesTakeNoRev": {
			steps: []step{
				{1, edit("hello c1"), false, 1}, {1, react("👍", "bob", false), false, 1},
				{1, react("👍", "bob", true), true, 4}, {1, react("👍", "bob", true), false, 4},
				{1, remove(), true, 5}, {1, remove(), false, 5},
			},
			want: chatserver.Message{Text: "", Deleted: true},
			room: 5,
		},
		"EditSetsTextMentionsAndEditedTime": {
			steps: []step{{1, edit("hi @bob and @carol", "carol", "bob", "carol"), true, 4}},
			want:  chatserver.Message{Text: "hi @bob and @carol", Mentions: []string{"bob", "carol"}},
			room:  4,
		},
		"ReactionsKeepTheOrderOfFirstUseWithUsersSorted": {
			steps: []step{
				{1, react("🎉", "dave", true), true, 4}, {1, react("👍", "carol", true), true, 5},
				{1, react("🎉", "bob", true), true, 6}, {1, react("👍", "alice", true), true, 7},
			},
			want: chatserver.Message{Text: "hello c1", Reactions: []chatserver.Reaction{
				{Emoji: "🎉", Users: []string{"bob", "dave"}}, {Emoji: "👍", Users: []string{"alice", "carol"}}}},
			room: 7,
		},
		"AnEmojiWhoseLastUserTookItBackIsGone": {
			steps: []step{
				{1, react("🎉", "dave", true), true, 4}, {1, react("👍", "carol", true), true, 5},
				{1, react("🎉", "dave", false), true, 6},
			},
			want: chatserver.Message{Text: "hello c1", Reactions: []chatserver.Reaction{{Emoji: "👍", Users: []string{"carol"}}}},
			room: 6,
		},
		"DeleteLeavesNoTextMentionsOrReactions": {
			steps: []step{{1, edit("@bob look", "bob"), true, 4}, {1, react("👍", "bob", true), true, 5}, {1, remove(), true, 6}},
			want:  chatserver.Message{Deleted: true},
			room:  6,
		},
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			var first chatserver.Message // seq 1, "hello c1"
			for i := range 3 {
				m, _, err := db.Append(ctx, msg("general", "alice", cid(i+1)))
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = m
				}
			}
			var last chatserver.Message
			for i, s := range tc.steps {
				m, changed := update(t, db, "general", s.seq, s.change)
				if changed != s.wantChanged || m.Rev != s.wantRev {
					t.Fatalf("step %d: changed %v rev %d; want %v %d", i, changed, m.Rev, s.wantChanged, s.wantRev)
				}
				if got := message(t, db, "general", s.seq); !sameMessage(got, m) {
					t.Fatalf("step %d: returned %+v, stored %+v", i, m, got)
				}
				if s.seq == 1 {
					last = m
				}
			}
			want := first
			want.Text, want.Mentions, want.Reactions, want.Deleted = tc.want.Text, tc.want.Mentions, tc.want.Reactions, tc.want.Deleted
			want.Rev, want.EditedTS = last.Rev, last.EditedTS
			if got := message(t, db, "general", 1); !sameMessage(got, want) {
				t.Fatalf("message 1\n got %+v\nwant %+v", got, want)
			}
			p, err := db.Changes(ctx, "general", 0, 10)
			if err != nil || p.Rev != tc.room {
				t.Fatalf("room rev %d (%v), want %d", p.Rev, err, tc.room)
			}
		})
	}
}

func TestUpdateChange(t *testing.T) {
	ctx := context.Background()
	t.Run("CalledWithTheCurrentState", func(t *testing.T) {
		db := open(t)
		appendN(t, db, "general", 2)
		update(t, db, "general", 2, edit("@bob edited", "bob"))
		want, _ := update(t, db, "general", 2, react("👍", "carol", true))
		var got chatserver.Message
		update(t, db, "general", 2, func(m chatserver.Message) (chatserver.Message, bool, error) {
			got = m
			return m, false, nil
		})
		if !sameMessage(got, want) {
			t.Fatalf("change got %+v, want %+v", got, want)
		}
	})
	t.Run("ItsErrorReturnedUntouchedAndNothingStored", func(t *testing.T) {
		for name, refusal := range map[string]error{
			"PlainError":      errors.New("no"),
			"ProtocolError":   chatserver.Errorf(chatserver.EForbidden, "not yours"),
			"InternalCodeToo": chatserver.Errorf(chatserver.EInternal, "odd"),
		} {
			t.Run(name, func(t *testing.T) {
				db := open(t)
				before := appendN(t, db, "general", 1)[0]
				m, changed, err := db.Update(ctx, "general", 1, func(m chatserver.Message) (chatserver.Message, bool, error) {
					m.Text = "changed anyway"
					return m, true, refusal
				})
				if err != refusal || changed || !sameMessage(m, chatserver.Message{}) { //nolint:errorlint // the very error
					t.Fatalf("Update: %+v changed %v err %v; want nothing and the change's error", m, changed, err)
				}
				if after := message(t, db, "general", 1); !sameMessage(after, before) {
					t.Fatalf("stored %+v, want it untouched %+v", after, before)
				}
			})
		}
	})
	t.Run("ItsErrorLeavesTheOtherWritesOfItsBatchAlone", func(t *testing.T) {
		db := open(t)
		appendN(t, db, "general", 1)
		const n = 10
		refusal := errors.New("no")
		var calls int // the writer goroutine's, read after the Update returned
		var err error
		errs := inOneBatch(t, db, n, func() {
			_, _, err = db.Update(ctx, "general", 1, func(m chatserver.Message) (chatserver.Message, bool, error) {
				calls++
				return m, false, refusal
			})
		})
		if err != refusal || calls != 1 { //nolint:errorlint // the very error
			t.Fatalf("Update: %v after %d calls; want the refusal after one (no batch retry)", err, calls)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		}
		checkSeqs(t, db, "general", n+1)
	})
	t.Run("TheStoreKeepsIdentityTimeAndSeq", func(t *testing.T) {
		db := open(t)
		before := appendN(t, db, "general", 1)[0]
		m, _ := update(t, db, "general", 1, func(m chatserver.Message) (chatserver.Message, bool, error) {
			m.ID, m.Room, m.Seq, m.From, m.TS, m.CID, m.Rev = "x", "other", 9, "mallory", time0.Add(time.Hour), "x", 99
			m.Text = "edited"
			return m, true, nil
		})
		want := before
		want.Text, want.Rev = "edited", 2
		if !sameMessage(m, want) || !sameMessage(message(t, db, "general", 1), want) {
			t.Fatalf("returned %+v, stored %+v; want %+v", m, message(t, db, "general", 1), want)
		}
	})
	t.Run("ErrNotFoundWithoutCallingIt", func(t *testing.T) {
		db := open(t)
		appendN(t, db, "general", 1)
		for _, at := range []struct {
			room string
			seq  int64
		}{{"general", 2}, {"general", 0}, {"nowhere", 1}} {
			_, _, err := db.Update(ctx, at.room, at.seq, func(chatserver.Message) (chatserver.Message, bool, error) {
				t.Fatal("change called")
				return chatserver.Message{}, false, nil
			})
			wantCode(t, err, chatserver.ENotFound)
		}
		_, err := db.Message(ctx, "general", 2)
		wantCode(t, err, chatserver.ENotFound)
	})
	t.Run("ErrBadRequestForAnInvalidRoom", func(t *testing.T) {
		db := open(t)
		_, _, err := db.Update(ctx, "Not A Room", 1, edit("x"))
		wantCode(t, err, chatserver.EBadRequest)
	})
}

// TestUpdateRecord checks that a change and its activity event are stored
// together: one event per change, none when nothing changed or the change
// was refused.
func TestUpdateRecord(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	appendN(t, db, "general", 2)
	n := 0
	edited := func(m chatserver.Message) chatserver.ActivityEvent {
		n++
		return event(fmt.Sprintf("e%d", n), chatserver.ActivityEdited, time0, m.From, m.Room)
	}
	refusal := errors.New("no")
	for i, s := range []struct {
		seq         int64
		change      chatserver.Change
		wantChanged bool
		wantErr     error
	}{
		{1, edit("one"), true, nil},
		{1, edit("one"), false, nil},
		{2, react("👍", "bob", true), true, nil},
		{2, react("👍", "bob", true), false, nil},
		{2, func(m chatserver.Message) (chatserver.Message, bool, error) { return m, true, refusal }, false, refusal},
		{1, edit("one again"), true, nil},
	} {
		_, changed, err := db.UpdateRecord(ctx, "general", s.seq, s.change, edited)
		if changed != s.wantChanged || err != s.wantErr { //nolint:errorlint // the very error
			t.Fatalf("update %d: changed %v err %v; want %v %v", i, changed, err, s.wantChanged, s.wantErr)
		}
	}
	res, err := db.Search(ctx, chatserver.ActivityQuery{Type: chatserver.ActivityEdited})
	if err != nil || res.Total != 3 || n != 3 {
		t.Fatalf("%d events recorded (%v), %d made; want 3 and 3", res.Total, err, n)
	}
}

func TestChanges(t *testing.T) {
	db := open(t)
	appendN(t, db, "general", 5) // revs 1..5
	appendN(t, db, "other", 2)
	update(t, db, "general", 2, edit("two"))             // 6
	update(t, db, "general", 4, react("👍", "bob", true)) // 7
	update(t, db, "general", 2, remove())                // 8
	update(t, db, "general", 4, react("👍", "bob", true)) // no change
	for name, tc := range map[string]struct {
		room    string
		after   int64
		limit   int
		want    []int64 // seqs, in rev order
		hasMore bool
		rev     int64
	}{
		"EveryMessageOnceAtItsLatestRev": {"general", 0, 10, []int64{1, 3, 5, 4, 2}, false, 8},
		"CutShortHasMore":                {"general", 0, 2, []int64{1, 3}, true, 8},
		"OnlyThoseChangedSince":          {"general", 5, 10, []int64{4, 2}, false, 8},
		"ExactlyTheRestHasNoMore":        {"general", 3, 3, []int64{5, 4, 2}, false, 8},
		"NothingSinceTheLatest":          {"general", 8, 10, nil, false, 8},
		"OnlyTheRoomsOwn":                {"other", 0, 10, []int64{1, 2}, false, 2},
		"UnknownRoomEmptyAtRevZero":      {"nowhere", 0, 10, nil, false, 0},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := db.Changes(context.Background(), tc.room, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(p.Messages); !slices.Equal(got, tc.want) || p.HasMore != tc.hasMore || p.Rev != tc.rev {
				t.Fatalf("seqs %v has_more %v rev %d; want %v %v %d", got, p.HasMore, p.Rev, tc.want, tc.hasMore, tc.rev)
			}
			if r := revs(p.Messages); !increasing(r) {
				t.Fatalf("revs %v not in increasing order", r)
			}
			for _, m := range p.Messages {
				if !sameMessage(m, message(t, db, tc.room, m.Seq)) {
					t.Fatalf("%+v is not the message's current state", m)
				}
			}
		})
	}
	t.Run("PagesCarryTheRoomsRev", func(t *testing.T) {
		after, err := db.After(context.Background(), "general", 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		before, err := db.Before(context.Background(), "general", 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if after.Rev != 8 || before.Rev != 8 {
			t.Fatalf("After rev %d, Before rev %d; want 8", after.Rev, before.Rev)
		}
	})
	t.Run("ErrBadRequestForLimitBelowOne", func(t *testing.T) {
		_, err := db.Changes(context.Background(), "general", 0, 0)
		wantCode(t, err, chatserver.EBadRequest)
	})
}

// TestRevConcurrent appends to and changes one room from many goroutines:
// the revs handed out are 1..n, each once, and the room ends at rev n.
func TestRevConcurrent(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	appendN(t, db, "general", 10)
	const goroutines, each = 16, 40
	var mu sync.Mutex
	got := []int64{}
	for i := range int64(10) {
		got = append(got, i+1)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", g)
			reacted := map[int64]bool{} // the user's reaction to each message
			for i := range each {
				var m chatserver.Message
				var changed bool
				var err error
				if (g+i)%2 == 0 {
					m, changed, err = db.Append(ctx, msg("general", user, cid(i)))
				} else {
					// Toggles: every call changes the message.
					seq := int64(1 + i%10)
					reacted[seq] = !reacted[seq]
					m, changed, err = db.Update(ctx, "general", seq, react("👍", user, reacted[seq]))
				}
				if err != nil || !changed {
					t.Errorf("%s %d: changed %v, %v", user, i, changed, err)
					return
				}
				mu.Lock()
				got = append(got, m.Rev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	n := int64(10 + goroutines*each)
	if !slices.Equal(got, span(1, n)) {
		t.Fatalf("%d revs handed out, not 1..%d each once: %v", len(got), n, got)
	}
	p, err := db.Changes(ctx, "general", 0, int(n))
	if err != nil {
		t.Fatal(err)
	}
	if r := revs(p.Messages); p.Rev != n || !increasing(r) || r[len(r)-1] != n {
		t.Fatalf("room rev %d, message revs %v; want %d, increasing and unique", p.Rev, r, n)
	}
}
