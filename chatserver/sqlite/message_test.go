package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func msg(room, from, cid string) chatserver.Message {
	return chatserver.Message{
		ID: room + "/" + from + "/" + cid, Room: room, From: from,
		Text: "hello " + cid, TS: time0, CID: cid,
	}
}

func cid(i int) string { return fmt.Sprintf("c%d", i) }

// appendN appends n new messages to room and returns them as stored.
func appendN(tb testing.TB, db *DB, room string, n int) []chatserver.Message {
	tb.Helper()
	var out []chatserver.Message
	for range n {
		m, created, err := db.Append(context.Background(), msg(room, "alice", fmt.Sprintf("n%d-%d", len(out), time.Now().UnixNano())))
		if err != nil || !created {
			tb.Fatalf("Append: created %v, %v", created, err)
		}
		out = append(out, m)
	}
	return out
}

func equalMessages(a, b []chatserver.Message) bool {
	return slices.EqualFunc(a, b, sameMessage)
}

// sameMessage reports whether a and b are the same message in the same state.
func sameMessage(a, b chatserver.Message) bool { return reflect.DeepEqual(a, b) }

func seqs(ms []chatserver.Message) []int64 {
	return collect(ms, func(m chatserver.Message) int64 { return m.Seq })
}

func revs(ms []chatserver.Message) []int64 {
	return collect(ms, func(m chatserver.Message) int64 { return m.Rev })
}

// collect returns f of each element of s.
func collect[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// span is the seqs lo..hi.
func span(lo, hi int64) []int64 {
	var out []int64
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

// checkSeqs checks that room holds exactly the seqs 1..n and that Rooms
// reports n as its last seq.
func checkSeqs(tb testing.TB, db *DB, room string, n int) {
	tb.Helper()
	p, err := db.After(context.Background(), room, 0, n+1)
	if err != nil {
		tb.Fatal(err)
	}
	if got := seqs(p.Messages); !slices.Equal(got, span(1, int64(n))) || p.HasMore {
		tb.Fatalf("seqs %v (has_more %v), want 1..%d", got, p.HasMore, n)
	}
	rooms, err := db.Rooms(context.Background(), "nobody")
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rooms {
		if r.ID == room && r.LastSeq != int64(n) {
			tb.Fatalf("Rooms: last_seq %d, want %d", r.LastSeq, n)
		}
	}
}

func TestAppend(t *testing.T) {
	ctx := context.Background()
	t.Run("SeqsAndRevsStartAtOneAndGrowByOnePerRoom", func(t *testing.T) {
		db := open(t)
		for i, want := range []struct {
			room string
			seq  int64
		}{{"a", 1}, {"a", 2}, {"b", 1}, {"a", 3}, {"dm:alice_bob", 1}, {"b", 2}, {"gdm:alice_bob_carol", 1}} {
			m, created, err := db.Append(ctx, msg(want.room, "alice", cid(i)))
			if err != nil || !created || m.Seq != want.seq || m.Rev != want.seq {
				t.Fatalf("append %d to %s: seq %d rev %d created %v err %v; want seq and rev %d", i, want.room, m.Seq, m.Rev, created, err, want.seq)
			}
		}
	})
	t.Run("RevFollowsTheRoomsChanges", func(t *testing.T) {
		db := open(t)
		appendN(t, db, "general", 2)
		update(t, db, "general", 1, edit("edited"))
		m, _, err := db.Append(ctx, msg("general", "bob", "c1"))
		if err != nil || m.Seq != 3 || m.Rev != 4 {
			t.Fatalf("append after an edit: seq %d rev %d err %v; want 3 4", m.Seq, m.Rev, err)
		}
	})
	t.Run("StoresReplyToAndMentionsSorted", func(t *testing.T) {
		db := open(t)
		appendN(t, db, "general", 1)
		in := msg("general", "alice", "c1")
		in.ReplyTo, in.Mentions = 1, []string{"carol", "bob"}
		m, _, err := db.Append(ctx, in)
		if err != nil || m.ReplyTo != 1 || !slices.Equal(m.Mentions, []string{"bob", "carol"}) {
			t.Fatalf("appended %+v, %v", m, err)
		}
		if got := message(t, db, "general", 2); !sameMessage(got, m) {
			t.Fatalf("stored %+v, appended %+v", got, m)
		}
	})
	t.Run("ReturnsTheMessageAsStored", func(t *testing.T) {
		db := open(t)
		in := msg("general", "alice", "c1")
		in.TS = time.Date(2030, 1, 2, 4, 4, 5, 123456789, time.FixedZone("CET", 3600))
		m, _, err := db.Append(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		p, err := db.After(ctx, "general", 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) != 1 || !sameMessage(p.Messages[0], m) || !m.TS.Equal(in.TS) || m.TS.Location() != time.UTC {
			t.Fatalf("appended %+v, read back %+v", m, p.Messages)
		}
	})
	t.Run("RepeatReturnsTheOriginal", func(t *testing.T) {
		db := open(t)
		orig, _, err := db.Append(ctx, msg("general", "alice", "c1"))
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, db, "general", 2)
		again := msg("general", "alice", "c1")
		again.ID, again.Text, again.TS = "other-id", "other text", time0.Add(time.Hour)
		m, created, err := db.Append(ctx, again)
		if err != nil || created || !sameMessage(m, orig) {
			t.Fatalf("repeat: %+v created %v err %v; want the original %+v", m, created, err, orig)
		}
		checkSeqs(t, db, "general", 3)
	})
	t.Run("RepeatReturnsTheCurrentState", func(t *testing.T) {
		db := open(t)
		if _, _, err := db.Append(ctx, msg("general", "alice", "c1")); err != nil {
			t.Fatal(err)
		}
		edited, _ := update(t, db, "general", 1, edit("edited"))
		m, created, err := db.Append(ctx, msg("general", "alice", "c1"))
		if err != nil || created || !sameMessage(m, edited) {
			t.Fatalf("repeat: %+v created %v err %v; want the edited message %+v", m, created, err, edited)
		}
	})
	t.Run("SameCIDFromAnotherUserOrInAnotherRoomIsNew", func(t *testing.T) {
		db := open(t)
		for _, m := range []chatserver.Message{msg("general", "alice", "c1"), msg("general", "bob", "c1"), msg("other", "alice", "c1")} {
			if _, created, err := db.Append(ctx, m); err != nil || !created {
				t.Fatalf("%s from %s: created %v, %v", m.Room, m.From, created, err)
			}
		}
	})
	t.Run("RepeatInTheSameBatch", func(t *testing.T) {
		db := open(t)
		release := holdWriter(t, db)
		type result struct {
			m       chatserver.Message
			created bool
			err     error
		}
		results := make(chan result, 3)
		for i := range 3 {
			go func() {
				m := msg("general", "alice", "same")
				m.ID = cid(i)
				r := result{}
				r.m, r.created, r.err = db.Append(ctx, m)
				results <- r
			}()
		}
		waitQueue(t, db, 3)
		release()
		var created int
		var stored []chatserver.Message
		for range 3 {
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.created {
				created++
			}
			stored = append(stored, r.m)
		}
		if created != 1 || !sameMessage(stored[0], stored[1]) || !sameMessage(stored[1], stored[2]) || stored[0].Seq != 1 {
			t.Fatalf("created %d times, results %+v; want one message, seq 1, returned thrice", created, stored)
		}
		checkSeqs(t, db, "general", 1)
	})
	t.Run("ErrBadRequestForAnInvalidRoom", func(t *testing.T) {
		db := open(t)
		for _, room := range []string{"", "General", "dm:bob_alice", "dm:alice", "a b"} {
			_, _, err := db.Append(ctx, msg(room, "alice", "c1"))
			wantCode(t, err, chatserver.EBadRequest)
		}
	})
}

// holdWriter keeps the writer busy until release is called, so that the
// writes queued meanwhile form one batch.
func holdWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	var startOnce, doneOnce sync.Once // a batch retry applies the write again
	go func() {
		_ = db.submit(context.Background(), func(*writer) error {
			startOnce.Do(func() { close(started) })
			<-done
			return nil
		})
	}()
	<-started
	release = func() { doneOnce.Do(func() { close(done) }) }
	t.Cleanup(release)
	return release
}

// TestAppendConcurrent appends from 8 goroutines to two rooms, each message
// sent twice: every room ends with gap-free seqs, each message stored once.
func TestAppendConcurrent(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	const goroutines, perGoroutine = 8, 100
	rooms := []string{"general", "random"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	bySeq := map[string]map[int64]string{"general": {}, "random": {}}
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				in := msg(rooms[i%2], fmt.Sprintf("user%d", g), cid(i))
				first, created, err := db.Append(ctx, in)
				if err != nil || !created {
					t.Errorf("append: created %v, %v", created, err)
					return
				}
				again, created, err := db.Append(ctx, in)
				if err != nil || created || !sameMessage(again, first) {
					t.Errorf("repeat: %+v created %v err %v; want %+v", again, created, err, first)
					return
				}
				mu.Lock()
				if prev, dup := bySeq[in.Room][first.Seq]; dup {
					t.Errorf("%s seq %d given to %s and %s", in.Room, first.Seq, prev, first.ID)
				}
				bySeq[in.Room][first.Seq] = first.ID
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, room := range rooms {
		checkSeqs(t, db, room, goroutines*perGoroutine/2)
	}
}

// pageCase asks a page of room from seq (after or before it) with limit.
type pageCase struct {
	room    string
	seq     int64
	limit   int
	want    []int64
	hasMore bool
}

// TestPages checks After and Before on a room of 10 messages next to another
// of 3.
func TestPages(t *testing.T) {
	db := open(t)
	all := appendN(t, db, "general", 10)
	appendN(t, db, "other", 3)
	t.Run("After", func(t *testing.T) {
		checkPages(t, all, db.After, map[string]pageCase{
			"FromTheStartWithRoomToSpare":     {"general", 0, 20, span(1, 10), false},
			"FromTheStartExactlyAll":          {"general", 0, 10, span(1, 10), false},
			"FromTheStartCutShortHasMore":     {"general", 0, 4, span(1, 4), true},
			"FromTheMiddleCutShortHasMore":    {"general", 5, 3, span(6, 8), true},
			"FromTheMiddleToTheEnd":           {"general", 7, 3, span(8, 10), false},
			"AtTheEndNothing":                 {"general", 10, 5, nil, false},
			"BeyondTheEndNothing":             {"general", 50, 5, nil, false},
			"NegativeAfterIsFromTheStart":     {"general", -3, 2, span(1, 2), true},
			"UnknownRoomEmpty":                {"nowhere", 0, 5, nil, false},
			"OnlyTheRoomsOwnMessages":         {"other", 0, 10, span(1, 3), false},
			"LimitOneTheLastHasNoMore":        {"general", 9, 1, span(10, 10), false},
			"LimitOneBeforeTheLastHasMore":    {"general", 8, 1, span(9, 9), true},
			"LargeLimitBeyondTheSincePageCap": {"general", 0, 5000, span(1, 10), false},
		})
	})
	t.Run("Before", func(t *testing.T) {
		checkPages(t, all, db.Before, map[string]pageCase{
			"NoBoundNewestCutShortHasMore":    {"general", 0, 3, span(8, 10), true},
			"NegativeIsNoBound":               {"general", -1, 3, span(8, 10), true},
			"NoBoundExactlyAll":               {"general", 0, 10, span(1, 10), false},
			"NoBoundRoomToSpare":              {"general", 0, 50, span(1, 10), false},
			"BelowTheMiddleHasMore":           {"general", 6, 2, span(4, 5), true},
			"BelowTheMiddleDownToTheFirst":    {"general", 6, 5, span(1, 5), false},
			"BelowTheMiddleRoomToSpare":       {"general", 6, 50, span(1, 5), false},
			"BelowTheSecondOnlyTheFirst":      {"general", 2, 5, span(1, 1), false},
			"BelowTheFirstNothing":            {"general", 1, 5, nil, false},
			"BeyondTheEndIsTheNewest":         {"general", 100, 2, span(9, 10), true},
			"UnknownRoomEmpty":                {"nowhere", 0, 5, nil, false},
			"OnlyTheRoomsOwnMessages":         {"other", 0, 10, span(1, 3), false},
			"LimitOneBelowTheSecondHasNoMore": {"general", 2, 1, span(1, 1), false},
		})
	})
}

// checkPages runs the cases through fetch, then checks that the whole room
// comes back as stored and that a limit below 1 is refused.
func checkPages(t *testing.T, all []chatserver.Message, fetch func(context.Context, string, int64, int) (chatserver.Page, error), cases map[string]pageCase) {
	ctx := context.Background()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := fetch(ctx, tc.room, tc.seq, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(p.Messages); !slices.Equal(got, tc.want) || p.HasMore != tc.hasMore {
				t.Fatalf("seqs %v has_more %v; want %v %v", got, p.HasMore, tc.want, tc.hasMore)
			}
		})
	}
	t.Run("MessagesAsStoredOldestFirst", func(t *testing.T) {
		p, err := fetch(ctx, "general", 0, len(all))
		if err != nil || !equalMessages(p.Messages, all) {
			t.Fatalf("%+v %v", p.Messages, err)
		}
	})
	t.Run("ErrBadRequestForLimitBelowOne", func(t *testing.T) {
		for _, limit := range []int{0, -1} {
			_, err := fetch(ctx, "general", 0, limit)
			wantCode(t, err, chatserver.EBadRequest)
		}
	})
}

func TestRooms(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	for _, id := range []string{"zeta", "alpha", "alpha"} {
		if err := db.EnsureRoom(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, db.EnsureRoom(ctx, "Not A Room"), chatserver.EBadRequest)
	general := appendN(t, db, "general", 3)
	if _, _, err := db.Append(ctx, msg("dm:alice_bob", "alice", "d1")); err != nil {
		t.Fatal(err)
	}
	carol := msg("dm:bob_carol", "carol", "d2")
	carol.TS = time0.Add(time.Minute)
	if _, _, err := db.Append(ctx, carol); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureRoom(ctx, "dm:alice_dave"); err != nil {
		t.Fatal(err)
	}
	// The room already holds messages: EnsureRoom must not reset its tip.
	if err := db.EnsureRoom(ctx, "general"); err != nil {
		t.Fatal(err)
	}

	// Rooms with only new messages: rev = last seq; alice sent them all.
	public := func(id string, seq int64, ts time.Time) chatserver.RoomInfo {
		return chatserver.RoomInfo{ID: id, Kind: chatserver.RoomKindPublic, LastSeq: seq, LastTS: ts, Rev: seq}
	}
	dm := func(id string, seq int64, ts time.Time) chatserver.RoomInfo {
		r, _ := chatserver.ParseRoom(id)
		return chatserver.RoomInfo{ID: id, Kind: chatserver.RoomKindDM, Members: r.Members, LastSeq: seq, LastTS: ts, Rev: seq}
	}
	unread := func(r chatserver.RoomInfo, n int64) chatserver.RoomInfo {
		r.Unread = n
		return r
	}
	alpha, zeta := public("alpha", 0, time.Time{}), public("zeta", 0, time.Time{})
	generalRoom := public("general", 3, general[2].TS)
	for user, want := range map[string][]chatserver.RoomInfo{
		"alice":  {dm("dm:alice_bob", 1, time0), dm("dm:alice_dave", 0, time.Time{}), alpha, generalRoom, zeta},
		"bob":    {unread(dm("dm:alice_bob", 1, time0), 1), unread(dm("dm:bob_carol", 1, carol.TS), 1), alpha, unread(generalRoom, 3), zeta},
		"carol":  {dm("dm:bob_carol", 1, carol.TS), alpha, unread(generalRoom, 3), zeta},
		"nobody": {alpha, unread(generalRoom, 3), zeta},
	} {
		t.Run(user, func(t *testing.T) {
			got, err := db.Rooms(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			want = slices.Clone(want)
			slices.SortFunc(want, func(a, b chatserver.RoomInfo) int { return strings.Compare(a.ID, b.ID) })
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Rooms(%s)\n got %+v\nwant %+v", user, got, want)
			}
		})
	}
}
