package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func event(id, typ string, ts time.Time, user, room string) chatserver.ActivityEvent {
	e := chatserver.ActivityEvent{ID: id, Type: typ, TS: ts, User: user, Room: room}
	if typ == chatserver.ActivityMessage {
		e.MessageID = "mid-" + id
	}
	return e
}

// minute is time0 plus m minutes.
func minute(m float64) time.Time { return time0.Add(time.Duration(m * float64(time.Minute))) }

// history is a small activity log, one event a minute from time0.
var history = []chatserver.ActivityEvent{
	event("e1", chatserver.ActivityLogin, minute(0), "alice", ""),
	event("e2", chatserver.ActivityConnect, minute(1), "alice", ""),
	event("e3", chatserver.ActivityJoin, minute(2), "alice", "general"),
	event("e4", chatserver.ActivityMessage, minute(3), "alice", "general"),
	event("e5", chatserver.ActivityMessage, minute(4), "bob", "general"),
	event("e6", chatserver.ActivityMessage, minute(5), "bob", "dm:alice_bob"),
	event("e7", chatserver.ActivityMessage, minute(6), "carol", "random"),
	event("e8", chatserver.ActivityLeave, minute(7), "alice", "general"),
	event("e9", chatserver.ActivityDisconnect, minute(8), "alice", ""),
}

func recordHistory(t *testing.T) *DB {
	t.Helper()
	db := open(t)
	// Out of order, and partly twice: the ids make it one log.
	if err := db.Record(context.Background(), history[4:]...); err != nil {
		t.Fatal(err)
	}
	if err := db.Record(context.Background(), history[:6]...); err != nil {
		t.Fatal(err)
	}
	return db
}

func ids(events []chatserver.ActivityEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestRecord(t *testing.T) {
	ctx := context.Background()
	t.Run("EachIDStoredOnce", func(t *testing.T) {
		db := recordHistory(t)
		if err := db.Record(ctx, history[0], history[0]); err != nil {
			t.Fatal(err)
		}
		res, err := db.Search(ctx, chatserver.ActivityQuery{})
		if err != nil || res.Total != int64(len(history)) {
			t.Fatalf("total %d %v, want %d", res.Total, err, len(history))
		}
		if slices.Reverse(res.Events); !reflect.DeepEqual(res.Events, history) {
			t.Fatalf("stored\n%+v\nwant\n%+v", res.Events, history)
		}
	})
	t.Run("NothingIsNoError", func(t *testing.T) {
		if err := open(t).Record(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrBadRequestWithoutID", func(t *testing.T) {
		wantCode(t, open(t).Record(ctx, event("", chatserver.ActivityLogin, time0, "alice", "")), chatserver.EBadRequest)
	})
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	db := recordHistory(t)
	all := []string{"e9", "e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"}
	for name, tc := range map[string]struct {
		q     chatserver.ActivityQuery
		want  []string
		total int64
	}{
		"NoFilterNewestFirst":            {chatserver.ActivityQuery{}, all, 9},
		"SizeCutsTheEventsNotTheTotal":   {chatserver.ActivityQuery{Size: 2}, all[:2], 9},
		"ByType":                         {chatserver.ActivityQuery{Type: chatserver.ActivityMessage}, []string{"e7", "e6", "e5", "e4"}, 4},
		"ByUser":                         {chatserver.ActivityQuery{User: "bob"}, []string{"e6", "e5"}, 2},
		"ByRoom":                         {chatserver.ActivityQuery{Room: "general"}, []string{"e8", "e5", "e4", "e3"}, 4},
		"ByDMRoom":                       {chatserver.ActivityQuery{Room: "dm:alice_bob"}, []string{"e6"}, 1},
		"ByUserIsNotByPrefix":            {chatserver.ActivityQuery{User: "ali"}, nil, 0},
		"ByRoomIsNotByPrefix":            {chatserver.ActivityQuery{Room: "gen"}, nil, 0},
		"FromInclusiveToExclusive":       {chatserver.ActivityQuery{From: minute(3), To: minute(6)}, []string{"e6", "e5", "e4"}, 3},
		"FromOnly":                       {chatserver.ActivityQuery{From: minute(7)}, []string{"e9", "e8"}, 2},
		"ToOnly":                         {chatserver.ActivityQuery{To: minute(1)}, []string{"e1"}, 1},
		"TextMatchesUserAndRoom":         {chatserver.ActivityQuery{Text: "bob"}, []string{"e6", "e5"}, 2},
		"TextMatchesWordPrefixes":        {chatserver.ActivityQuery{Text: "ali"}, []string{"e9", "e8", "e6", "e4", "e3", "e2", "e1"}, 7},
		"TextMatchesType":                {chatserver.ActivityQuery{Text: "message.sent"}, []string{"e7", "e6", "e5", "e4"}, 4},
		"TextMatchesMessageID":           {chatserver.ActivityQuery{Text: "mid-e4"}, []string{"e4"}, 1},
		"TextWordsMustAllMatch":          {chatserver.ActivityQuery{Text: "sent carol"}, []string{"e7"}, 1},
		"TextIsCaseInsensitive":          {chatserver.ActivityQuery{Text: "CAROL"}, []string{"e7"}, 1},
		"TextIsNeverFTSSyntax":           {chatserver.ActivityQuery{Text: `"bob OR carol* NOT`}, nil, 0},
		"TextOfPunctuationDoesNotFilter": {chatserver.ActivityQuery{Text: ` ... "" `}, all, 9},
		"TextMatchingNothing":            {chatserver.ActivityQuery{Text: "nobody"}, nil, 0},
		"AllFiltersTogether": {chatserver.ActivityQuery{Text: "general", Type: chatserver.ActivityMessage, User: "alice",
			Room: "general", From: minute(0), To: minute(9)}, []string{"e4"}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := db.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Events == nil || !slices.Equal(ids(res.Events), tc.want) || res.Total != tc.total {
				t.Fatalf("events %v total %d; want %v %d", ids(res.Events), res.Total, tc.want, tc.total)
			}
		})
	}
}

// TestSearchUserAndRoomAreExact checks the user and room filters against ids
// that share their FTS tokens.
func TestSearchUserAndRoomAreExact(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	err := db.Record(ctx,
		event("a", chatserver.ActivityMessage, minute(0), "bob", "general"),
		event("b", chatserver.ActivityMessage, minute(1), "bob.smith", "general-2"),
		event("c", chatserver.ActivityMessage, minute(2), "smith.bob", "dm:bob_bob.smith"),
		event("d", chatserver.ActivityMessage, minute(3), "bob", "dm:bob_smith.bob"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		q    chatserver.ActivityQuery
		want []string
	}{
		"User":          {chatserver.ActivityQuery{User: "bob"}, []string{"d", "a"}},
		"DottedUser":    {chatserver.ActivityQuery{User: "bob.smith"}, []string{"b"}},
		"Room":          {chatserver.ActivityQuery{Room: "general"}, []string{"a"}},
		"DMRoom":        {chatserver.ActivityQuery{Room: "dm:bob_bob.smith"}, []string{"c"}},
		"UserAndRoom":   {chatserver.ActivityQuery{User: "bob", Room: "dm:bob_smith.bob"}, []string{"d"}},
		"UserAndText":   {chatserver.ActivityQuery{User: "bob", Text: "gen"}, []string{"a"}},
		"NoSuchUser":    {chatserver.ActivityQuery{User: "smith"}, nil},
		"NoTokenInUser": {chatserver.ActivityQuery{User: "--"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := db.Search(ctx, tc.q)
			if err != nil || !slices.Equal(ids(res.Events), tc.want) || res.Total != int64(len(tc.want)) {
				t.Fatalf("events %v total %d err %v; want %v", ids(res.Events), res.Total, err, tc.want)
			}
		})
	}
}

func TestSearchSize(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	events := make([]chatserver.ActivityEvent, MaxSearchSize+10)
	for i := range events {
		events[i] = event(fmt.Sprintf("e%04d", i), chatserver.ActivityConnect, minute(float64(i)), "alice", "")
	}
	if err := db.Record(ctx, events...); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ size, want int }{
		"ZeroIsTheDefault":    {0, DefaultSearchSize},
		"NegativeIsDefault":   {-5, DefaultSearchSize},
		"Asked":               {7, 7},
		"MaxAllowed":          {MaxSearchSize, MaxSearchSize},
		"AboveMaxIsTheMax":    {MaxSearchSize + 5, MaxSearchSize},
		"MoreThanStoredIsAll": {1 << 20, MaxSearchSize},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := db.Search(ctx, chatserver.ActivityQuery{Size: tc.size})
			if err != nil || len(res.Events) != tc.want || res.Total != int64(len(events)) {
				t.Fatalf("%d events, total %d, %v; want %d, %d", len(res.Events), res.Total, err, tc.want, len(events))
			}
			if res.Events[0].ID != events[len(events)-1].ID {
				t.Fatalf("first %s, want the newest", res.Events[0].ID)
			}
		})
	}
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	db := recordHistory(t)
	type counts = map[string]int64
	bucket := func(m float64, c counts) chatserver.StatsBucket {
		return chatserver.StatsBucket{TS: minute(m), CountByType: c}
	}
	topOfHistory := []chatserver.RoomCount{{Room: "general", Count: 2}, {Room: "dm:alice_bob", Count: 1}, {Room: "random", Count: 1}}
	firstFive := counts{chatserver.ActivityLogin: 1, chatserver.ActivityConnect: 1, chatserver.ActivityJoin: 1, chatserver.ActivityMessage: 2}
	for name, tc := range map[string]struct {
		q    chatserver.StatsQuery
		want chatserver.ActivityStats
	}{
		"TwoFullBuckets": {
			chatserver.StatsQuery{From: minute(0), To: minute(10), Interval: 5 * time.Minute},
			chatserver.ActivityStats{
				Buckets: []chatserver.StatsBucket{
					bucket(0, firstFive),
					bucket(5, counts{chatserver.ActivityMessage: 2, chatserver.ActivityLeave: 1, chatserver.ActivityDisconnect: 1}),
				},
				TopRooms:    topOfHistory,
				ActiveUsers: 3,
			},
		},
		"EmptyBucketsPresent": {
			chatserver.StatsQuery{From: minute(-5), To: minute(20), Interval: 5 * time.Minute},
			chatserver.ActivityStats{
				Buckets: []chatserver.StatsBucket{
					bucket(-5, counts{}),
					bucket(0, firstFive),
					bucket(5, counts{chatserver.ActivityMessage: 2, chatserver.ActivityLeave: 1, chatserver.ActivityDisconnect: 1}),
					bucket(10, counts{}),
					bucket(15, counts{}),
				},
				TopRooms:    topOfHistory,
				ActiveUsers: 3,
			},
		},
		"PartialLastBucketEndsAtTo": {
			chatserver.StatsQuery{From: minute(0), To: minute(7), Interval: 5 * time.Minute},
			chatserver.ActivityStats{
				Buckets:     []chatserver.StatsBucket{bucket(0, firstFive), bucket(5, counts{chatserver.ActivityMessage: 2})},
				TopRooms:    topOfHistory,
				ActiveUsers: 3,
			},
		},
		"WindowWithoutMessages": {
			chatserver.StatsQuery{From: minute(6.5), To: minute(10), Interval: time.Minute},
			chatserver.ActivityStats{
				Buckets: []chatserver.StatsBucket{
					bucket(6.5, counts{chatserver.ActivityLeave: 1}),
					bucket(7.5, counts{chatserver.ActivityDisconnect: 1}),
					bucket(8.5, counts{}),
					bucket(9.5, counts{}),
				},
				TopRooms:    []chatserver.RoomCount{},
				ActiveUsers: 1,
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := db.Stats(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("DefaultsToTheLastHourByMinute", func(t *testing.T) {
		before := time.Now()
		got, err := db.Stats(ctx, chatserver.StatsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Buckets) != 60 || got.Buckets[1].TS.Sub(got.Buckets[0].TS) != time.Minute ||
			got.Buckets[0].TS.Before(before.Add(-time.Hour)) || got.ActiveUsers != 0 {
			t.Fatalf("%d buckets from %v", len(got.Buckets), got.Buckets[0].TS)
		}
	})
	t.Run("ErrBadRequestWhenFromIsNotBeforeTo", func(t *testing.T) {
		_, err := db.Stats(ctx, chatserver.StatsQuery{From: minute(5), To: minute(5), Interval: time.Minute})
		wantCode(t, err, chatserver.EBadRequest)
	})
	t.Run("ErrBadRequestForTooManyBuckets", func(t *testing.T) {
		_, err := db.Stats(ctx, chatserver.StatsQuery{From: minute(0), To: minute(60), Interval: time.Millisecond})
		wantCode(t, err, chatserver.EBadRequest)
	})
}

func TestStatsTopRoomsAreTheTopTen(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	var events []chatserver.ActivityEvent
	for r := range TopRooms + 3 {
		// room r gets r+1 messages, and some other events that do not count
		for i := range r + 1 {
			events = append(events, event(fmt.Sprintf("m%d-%d", r, i), chatserver.ActivityMessage, minute(1), "alice", fmt.Sprintf("room%02d", r)))
		}
		events = append(events, event(fmt.Sprintf("j%d", r), chatserver.ActivityJoin, minute(1), "bob", fmt.Sprintf("room%02d", r)))
	}
	if err := db.Record(ctx, events...); err != nil {
		t.Fatal(err)
	}
	got, err := db.Stats(ctx, chatserver.StatsQuery{From: minute(0), To: minute(2), Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var want []chatserver.RoomCount
	for r := TopRooms + 2; r >= 3; r-- {
		want = append(want, chatserver.RoomCount{Room: fmt.Sprintf("room%02d", r), Count: int64(r + 1)})
	}
	if !slices.Equal(got.TopRooms, want) || got.ActiveUsers != 2 {
		t.Fatalf("top rooms %v active %d; want %v 2", got.TopRooms, got.ActiveUsers, want)
	}
}
