package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
)

// corpusMessage is a message of searchCorpus, sent at time0 plus minute
// minutes.
type corpusMessage struct {
	key, room, from, text string
	minute                int
}

// searchCorpus: public rooms general and random, alice and bob's DM,
// alice, bob and carol's group, and bob and dave's DM. b2 and r1 are sent
// at the same time.
var searchCorpus = []corpusMessage{
	{"g1", "general", "alice", "Deployment finished at noon", 1},
	{"b2", "general", "bob", "deploy again tomorrow", 2},
	{"r1", "random", "carol", "deploy notes", 2},
	{"r2", "random", "carol", "the DEPLOYED build works", 3},
	{"dm", "dm:alice_bob", "alice", "secret deploy plan", 4},
	{"gr", "gdm:alice_bob_carol", "carol", "group deploy chat", 5},
	{"bd", "dm:bob_dave", "dave", "private deploy with dave", 6},
	{"re", "general", "dave", "a redeployment only", 7},
	{"ca", "general", "alice", "café résumé naïve", 8},
	{"sx", "random", "bob", `say "hi" OR NEAR(x, y) -not a:b ^start *star*`, 9},
}

// searchFixture is a store holding searchCorpus, and each message's
// stored form by key.
type searchFixture struct {
	db   *DB
	dir  string
	sent map[string]chatserver.Message
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &searchFixture{db: db, dir: dir, sent: map[string]chatserver.Message{}}
	for _, c := range searchCorpus {
		m := chatserver.Message{ID: c.key, Room: c.room, From: c.from, Text: c.text, TS: minute(float64(c.minute)), CID: c.key}
		stored, _, err := db.Append(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		f.sent[c.key] = stored
	}
	return f
}

// search runs q with Limit 50 unless it has one, and returns the keys
// (message ids) found, in order, and the total.
func (f *searchFixture) search(t *testing.T, q chatserver.SearchQuery) ([]string, int64) {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = chatserver.MaxSearchLimit
	}
	res, err := f.db.SearchMessages(context.Background(), q)
	if err != nil {
		t.Fatalf("SearchMessages %+v: %v", q, err)
	}
	return collect(res.Messages, func(m chatserver.Message) string { return m.ID }), res.Total
}

// indexed reports whether the FTS index holds term as a token of some
// message, read from the index itself (fts5vocab) on a connection of its own.
func (f *searchFixture) indexed(t *testing.T, term string) bool {
	t.Helper()
	raw, err := sql.Open("sqlite", filepath.Join(f.dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec(`CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, messages_fts, row)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM temp.vocab WHERE term = ?`, term).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestSearchMessagesFinds(t *testing.T) {
	f := newSearchFixture(t)
	words := func(w ...string) []string { return w }
	tests := map[string]struct {
		q    chatserver.SearchQuery
		want []string // newest first; the total is their number
	}{
		"a word by prefix and in any case, newest first, ties by room": {
			chatserver.SearchQuery{Reader: "alice", Words: words("deploy")}, []string{"gr", "dm", "r2", "b2", "r1", "g1"}},
		"upper-case query words like lower-case ones": {
			chatserver.SearchQuery{Reader: "alice", Words: words("DEPLOYMENT")}, []string{"g1"}},
		"a word inside a token finds nothing": {
			chatserver.SearchQuery{Reader: "alice", Words: words("ployment")}, nil},
		"only messages with every word": {
			chatserver.SearchQuery{Reader: "alice", Words: words("deploy", "tomorrow")}, []string{"b2"}},
		"a prefix without its diacritics finds nothing": {
			chatserver.SearchQuery{Reader: "alice", Words: words("café", "resu")}, nil},
		"a word without its diacritics finds nothing": {
			chatserver.SearchQuery{Reader: "alice", Words: words("cafe")}, nil},
		"a word with its diacritics by prefix": {
			chatserver.SearchQuery{Reader: "alice", Words: words("caf", "résu", "naïve")}, []string{"ca"}},
		"a group member finds the group, not the DM of others": {
			chatserver.SearchQuery{Reader: "carol", Words: words("deploy")}, []string{"gr", "r2", "b2", "r1", "g1"}},
		"a third user finds public rooms only": {
			chatserver.SearchQuery{Reader: "eve", Words: words("deploy")}, []string{"r2", "b2", "r1", "g1"}},
		"a DM member finds the DM": {
			chatserver.SearchQuery{Reader: "dave", Words: words("private")}, []string{"bd"}},
		"a DM's words count for nothing to others": {
			chatserver.SearchQuery{Reader: "alice", Words: words("private")}, nil},
		"a DM named as the room still only to members": {
			chatserver.SearchQuery{Reader: "alice", Words: words("deploy"), Room: "dm:bob_dave"}, nil},
		"the room narrows": {
			chatserver.SearchQuery{Reader: "alice", Words: words("deploy"), Room: "general"}, []string{"b2", "g1"}},
		"the sender narrows": {
			chatserver.SearchQuery{Reader: "alice", Words: words("deploy"), From: "carol"}, []string{"gr", "r2", "r1"}},
		"before narrows to messages sent before it": {
			chatserver.SearchQuery{Reader: "alice", Words: words("deploy"), Before: minute(3)}, []string{"b2", "r1", "g1"}},
		"all filters at once": {
			chatserver.SearchQuery{Reader: "bob", Words: words("deploy"), Room: "random", From: "carol", Before: minute(3)}, []string{"r1"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, total := f.search(t, tt.q)
			if !slices.Equal(got, tt.want) || total != int64(len(tt.want)) {
				t.Errorf("got %v, total %d; want %v, total %d", got, total, tt.want, len(tt.want))
			}
		})
	}
}

func TestSearchMessagesReturnsWholeMessages(t *testing.T) {
	f := newSearchFixture(t)
	res, err := f.db.SearchMessages(context.Background(), chatserver.SearchQuery{Reader: "alice", Words: []string{"tomorrow"}, Limit: 1})
	if err != nil || len(res.Messages) != 1 || !sameMessage(res.Messages[0], f.sent["b2"]) {
		t.Fatalf("got %+v, %v; want %+v", res, err, f.sent["b2"])
	}
}

func TestSearchMessagesTotalCountsBeyondThePage(t *testing.T) {
	f := newSearchFixture(t)
	tests := map[string]struct {
		reader string
		limit  int
		want   []string
		total  int64
	}{
		"the newest of many":                      {"alice", 2, []string{"gr", "dm"}, 6},
		"a tie cut by the page keeps its order":   {"alice", 4, []string{"gr", "dm", "r2", "b2"}, 6},
		"private matches of others count nothing": {"eve", 1, []string{"r2"}, 4},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, total := f.search(t, chatserver.SearchQuery{Reader: tt.reader, Words: []string{"deploy"}, Limit: tt.limit})
			if !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("got %v, total %d; want %v, total %d", got, total, tt.want, tt.total)
			}
		})
	}
}

func TestSearchMessagesTakesQuerySyntaxAsText(t *testing.T) {
	f := newSearchFixture(t)
	tests := map[string]struct {
		words []string
		want  []string
	}{
		"a quoted word":                 {[]string{`"hi"`}, []string{"sx"}},
		"a lone quote":                  {[]string{`"`}, nil},
		"OR is a word":                  {[]string{"OR"}, []string{"sx"}},
		"OR between words is a word":    {[]string{"hi", "OR", "nothing"}, nil},
		"NEAR( is a word":               {[]string{"NEAR("}, []string{"sx"}},
		"a leading minus is no NOT":     {[]string{"-not"}, []string{"sx", "r1"}},
		"a lone minus":                  {[]string{"-"}, nil},
		"a colon is no column filter":   {[]string{"a:b"}, []string{"sx"}},
		"a lone colon":                  {[]string{":"}, nil},
		"a caret is no start anchor":    {[]string{"^start"}, []string{"sx"}},
		"a lone caret":                  {[]string{"^"}, nil},
		"stars are no wildcards":        {[]string{"*star*"}, []string{"sx"}},
		"a lone star":                   {[]string{"*"}, nil},
		"a lone star among words":       {[]string{"say", "*"}, nil},
		"an unbalanced parenthesis":     {[]string{"("}, nil},
		"a column filter is text":       {[]string{"text:say"}, nil},
		"brackets and braces are words": {[]string{"{x}", "[y]"}, []string{"sx"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, total := f.search(t, chatserver.SearchQuery{Reader: "alice", Words: tt.words})
			if !slices.Equal(got, tt.want) || total != int64(len(tt.want)) {
				t.Errorf("got %v, total %d; want %v", got, total, tt.want)
			}
		})
	}
}

func TestSearchMessagesRefusesWhatTheServiceNeverAsks(t *testing.T) {
	db := open(t)
	for name, q := range map[string]chatserver.SearchQuery{
		"no word":         {Reader: "alice", Limit: 10},
		"a zero limit":    {Reader: "alice", Words: []string{"x"}},
		"a limit too big": {Reader: "alice", Words: []string{"x"}, Limit: chatserver.MaxSearchLimit + 1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := db.SearchMessages(context.Background(), q)
			wantCode(t, err, chatserver.EBadRequest)
		})
	}
}

func TestSearchMessagesNeverFindsADeletedMessage(t *testing.T) {
	f := newSearchFixture(t)
	g1 := f.sent["g1"]
	update(t, f.db, g1.Room, g1.Seq, remove())
	if got, total := f.search(t, chatserver.SearchQuery{Reader: "alice", Words: []string{"noon"}}); len(got) > 0 || total != 0 {
		t.Errorf("a deleted message found: %v, total %d", got, total)
	}
	if f.indexed(t, "noon") || f.indexed(t, "finished") {
		t.Errorf("the index still holds the words of a deleted message")
	}
	if !f.indexed(t, "deploy") {
		t.Errorf("the index lost the words of the other messages")
	}
}

func TestSearchMessagesFindsAnEditedMessageByItsNewTextOnly(t *testing.T) {
	f := newSearchFixture(t)
	b2 := f.sent["b2"]
	update(t, f.db, b2.Room, b2.Seq, edit("postponed to friday"))
	update(t, f.db, b2.Room, b2.Seq, react("👍", "carol", true)) // the text stays
	tests := map[string]struct {
		words []string
		want  []string
	}{
		"the old words find nothing":      {[]string{"tomorrow"}, nil},
		"the new words find it":           {[]string{"friday", "postpone"}, []string{"b2"}},
		"other messages keep their words": {[]string{"notes"}, []string{"r1"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got, _ := f.search(t, chatserver.SearchQuery{Reader: "alice", Words: tt.words}); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if f.indexed(t, "tomorrow") || !f.indexed(t, "friday") {
		t.Errorf("the index holds the old text or lacks the new one")
	}
}

func TestSearchMessagesSeesEachMessageOnceThroughEdits(t *testing.T) {
	f := newSearchFixture(t)
	r1 := f.sent["r1"]
	for _, text := range []string{"deploy one", "deploy two", "deploy notes"} {
		update(t, f.db, r1.Room, r1.Seq, edit(text))
	}
	if got, total := f.search(t, chatserver.SearchQuery{Reader: "eve", Words: []string{"deploy"}}); !slices.Equal(got, []string{"r2", "b2", "r1", "g1"}) || total != 4 {
		t.Errorf("got %v, total %d", got, total)
	}
}

func TestSearchMessagesOrdersByTimeWhateverTheOrderOfStoring(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	// Stored newest first, in two rooms: the page is the first ones stored.
	for i, at := range []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0} {
		room := []string{"random", "general"}[i%2]
		m := chatserver.Message{ID: cid(at), Room: room, From: "alice", Text: "deploy " + cid(at), TS: minute(float64(at / 2)), CID: cid(at)}
		if _, _, err := db.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		limit int
		want  []string
	}{
		"the newest by time, ties by room": {3, []string{"c8", "c9", "c6"}},
		"one":                              {1, []string{"c8"}},
		"all":                              {50, []string{"c8", "c9", "c6", "c7", "c4", "c5", "c2", "c3", "c0", "c1"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := db.SearchMessages(ctx, chatserver.SearchQuery{Reader: "bob", Words: []string{"deploy"}, Limit: tt.limit})
			got := collect(res.Messages, func(m chatserver.Message) string { return m.ID })
			if err != nil || !slices.Equal(got, tt.want) || res.Total != 10 {
				t.Errorf("got %v, total %d, %v; want %v, total 10", got, res.Total, err, tt.want)
			}
		})
	}
}

// TestSearchIndexFollowsATransactionAsTheWriterRunsIt runs what a batch of
// the writer does, in its order: messages inserted, one of them edited and
// one deleted before the room's last_seq moves past them at the end, and
// an edit of a message indexed before. The index must then hold the
// current texts only (FTS5's integrity-check compares it with messages).
func TestSearchIndexFollowsATransactionAsTheWriterRunsIt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Append(ctx, chatserver.Message{ID: "m1", Room: "general", From: "alice", Text: "first draft", TS: time0, CID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	for _, stmt := range []string{
		`BEGIN IMMEDIATE`,
		`INSERT INTO messages (room, seq, rev, id, from_user, text, ts, cid) VALUES
			('general', 2, 2, 'm2', 'bob', 'second draft', 1, 'c2'),
			('general', 3, 3, 'm3', 'bob', 'third draft', 2, 'c3')`,
		`UPDATE messages SET text = 'second final', rev = 4 WHERE room = 'general' AND seq = 2`,
		`UPDATE messages SET text = '', deleted = 1, rev = 5 WHERE room = 'general' AND seq = 3`,
		`UPDATE messages SET text = 'first final', rev = 6 WHERE room = 'general' AND seq = 1`,
		`UPDATE rooms SET last_seq = 3, rev = 6 WHERE id = 'general'`,
		`COMMIT`,
		`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var terms []string
	if _, err := raw.Exec(`CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, messages_fts, row)`); err != nil {
		t.Fatal(err)
	}
	if err := eachRow(ctx, raw, `SELECT term FROM temp.vocab ORDER BY term`, nil, func(r rowScanner) error {
		var term string
		err := r.Scan(&term)
		terms = append(terms, term)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"final", "first", "second"}; !slices.Equal(terms, want) {
		t.Errorf("the index holds %v, want %v", terms, want)
	}
}
