package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

func TestSearchSeedStoresWhatThePlanCountsAndHidesOthersDMs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pl := newSearchPlan(20, 3000, "bench0")
	if err := seedSearch(ctx, dir, pl, t.Logf); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, dir, sqlite.WithoutFsync())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	qs := pl.queries()
	want := pl.totals(qs)
	for i, q := range qs {
		res, err := db.SearchMessages(ctx, chatserver.SearchQuery{Reader: pl.reader, Words: chatserver.SearchWords(q.q), Limit: searchPage})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != want[i] || res.Total == 0 {
			t.Errorf("%s %q: the store finds %d, the plan counts %d", q.name, q.q, res.Total, want[i])
		}
		body, _ := json.Marshal(res)
		if err := checkSearch(body, want[i], chatserver.SearchWords(q.q)); err != nil {
			t.Errorf("%s %q: %v", q.name, q.q, err)
		}
	}
	// The common word is in some of the reader's DMs, which others never see.
	common := chatserver.SearchQuery{Reader: "someone-else", Words: chatserver.SearchWords(qs[0].q), Limit: 1}
	if other, err := db.SearchMessages(ctx, common); err != nil || other.Total >= want[0] {
		t.Errorf("%q: a user in no DM finds %d, the reader %d (%v)", qs[0].q, other.Total, want[0], err)
	}
	rooms, err := db.Rooms(ctx, pl.reader)
	if err != nil || len(rooms) != 18 { // 16 public, 2 DMs of the reader
		t.Errorf("the reader's rooms: %d, %v; want 18", len(rooms), err)
	}
}

func TestSearchPlanQueriesAreCommonRareAndTwoPrefixes(t *testing.T) {
	pl := newSearchPlan(100, 20000, "bench0")
	qs := pl.queries()
	totals := pl.totals(qs)
	readable := float64(pl.messages) * 0.9
	common, rare := float64(totals[0])/readable, float64(totals[1])/readable
	if common < 0.07 || common > 0.13 {
		t.Errorf("the common word %q is in %.1f%% of the messages, want about 10%%", qs[0].q, 100*common)
	}
	if rare > 0.002 || totals[1] == 0 {
		t.Errorf("the rare word %q is in %d messages (%.2f%%)", qs[1].q, totals[1], 100*rare)
	}
	if words := strings.Fields(qs[2].q); len(words) != 2 || len(words[0]) != 3 || words[0] == words[1] || totals[2] == 0 {
		t.Errorf("the two prefixes %q find %d", qs[2].q, totals[2])
	}
}

func TestSearchPlanMessagesAreTheSameEachTime(t *testing.T) {
	pl := newSearchPlan(10, 100, "bench0")
	for k := range pl.messages {
		a, b := pl.message(k), newSearchPlan(10, 100, "bench0").message(k)
		if a.ID != b.ID || a.Text != b.Text || a.Room != b.Room || a.From != b.From || !a.TS.Equal(b.TS) {
			t.Fatalf("message %d: %+v, then %+v", k, a, b)
		}
		if r, err := chatserver.ParseRoom(a.Room); err != nil || !r.HasMember(a.From) {
			t.Fatalf("message %d: from %s in room %s (%v)", k, a.From, a.Room, err)
		}
	}
}

func TestCheckSearch(t *testing.T) {
	at := func(s int) time.Time { return searchStart.Add(time.Duration(s) * time.Second) }
	m := func(id, text string, s int) chatserver.Message {
		return chatserver.Message{ID: id, Room: "r", From: "u", Text: text, TS: at(s)}
	}
	tests := map[string]struct {
		total    int64
		messages []chatserver.Message
		ok       bool
	}{
		"right":                    {2, []chatserver.Message{m("a", "kalo mine", 2), m("b", "Kalomi x", 1)}, true},
		"a wrong total":            {3, []chatserver.Message{m("a", "kalo mine", 2), m("b", "kalomi x", 1)}, false},
		"a short page":             {2, []chatserver.Message{m("a", "kalo mine", 2)}, false},
		"oldest first":             {2, []chatserver.Message{m("a", "kalo mine", 1), m("b", "kalomi x", 2)}, false},
		"a message without a word": {2, []chatserver.Message{m("a", "kalo mine", 2), m("b", "mikalo x", 1)}, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			body, _ := json.Marshal(chatserver.SearchResult{Total: 2, Messages: tt.messages})
			if err := checkSearch(body, tt.total, []string{"kal"}); (err == nil) != tt.ok {
				t.Errorf("checkSearch: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
