package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// The search scenario measures message search in a large store: GET
// /api/search as one user, over messages seeded straight into the data
// directory (chatload -seed-search DIR, before the server starts on it),
// since sending a million messages through the server would take minutes.

const (
	// searchVocab is the number of distinct words; their frequencies
	// follow Zipf's law (the word of rank r is used in proportion to 1/r).
	searchVocab = 5000
	// searchPrivateEvery: room i is a DM of the reader when i % this is 0,
	// a DM of two other users when it is searchPrivateEvery/2.
	searchPrivateEvery = 10
	searchSpan         = 30 * 24 * time.Hour // the seeded messages' times
	searchSeedPar      = 256                 // appends waiting at once: the writer batches them
	searchPage         = 20
)

// searchStart is when the seeded messages begin.
var searchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// searchSyllables make the vocabulary's words: pronounceable, of two to
// four syllables, distinct, and often sharing prefixes as words do.
var searchSyllables = []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "de", "pa", "go", "be", "fu", "zi", "ho", "ja"}

// searchPlan is what -seed-search stores and the search scenario asks
// for. Message k goes to room k % rooms; its words and sender come from a
// generator seeded with k, so the plan can tell every message again.
type searchPlan struct {
	rooms, messages int
	reader          string    // the measured user, a member of the reader's DMs
	words           []string  // by rank, most frequent first
	cdf             []float64 // cumulative probability of the ranks
	harmonic        float64   // the rank weights' total
}

func newSearchPlan(rooms, messages int, reader string) searchPlan {
	pl := searchPlan{rooms: rooms, messages: messages, reader: reader,
		words: make([]string, searchVocab), cdf: make([]float64, searchVocab)}
	sum := 0.0
	for r := range searchVocab {
		var b strings.Builder
		for n := r + len(searchSyllables); n > 0; n /= len(searchSyllables) {
			b.WriteString(searchSyllables[n%len(searchSyllables)])
		}
		pl.words[r] = b.String()
		sum += 1 / float64(r+1)
		pl.cdf[r] = sum
	}
	for r := range pl.cdf {
		pl.cdf[r] /= sum
	}
	pl.harmonic = sum
	return pl
}

// room is the id of room i: public, or a DM (see searchPrivateEvery).
func (pl searchPlan) room(i int) string {
	switch i % searchPrivateEvery {
	case 0:
		return chatserver.DMRoomID(pl.reader, fmt.Sprintf("search-peer-%d", i))
	case searchPrivateEvery / 2:
		return chatserver.DMRoomID(fmt.Sprintf("search-peer-%d", i), fmt.Sprintf("search-other-%d", i))
	}
	return fmt.Sprintf("bench-search-%04d", i)
}

// readable reports whether the reader may read room i.
func (pl searchPlan) readable(i int) bool { return i%searchPrivateEvery != searchPrivateEvery/2 }

// message is message k of the plan: 4 to 15 words of the vocabulary, sent
// by one of 50 users (one of the two members in a DM), times rising evenly
// over searchSpan.
func (pl searchPlan) message(k int) chatserver.Message {
	rng := rand.New(rand.NewPCG(uint64(k), 0x5ea2c4)) //nolint:gosec // a reproducible plan of test data, not a secret
	i := k % pl.rooms
	room := pl.room(i)
	from := fmt.Sprintf("search-user-%d", rng.IntN(50))
	if r, _ := chatserver.ParseRoom(room); r.IsPrivate() {
		from = r.Members[rng.IntN(len(r.Members))]
	}
	n := 4 + rng.IntN(12)
	words := make([]string, n)
	for j := range words {
		words[j] = pl.words[min(sort.SearchFloat64s(pl.cdf, rng.Float64()), searchVocab-1)]
	}
	id := "search-" + strconv.Itoa(k)
	return chatserver.Message{ID: id, Room: room, From: from, Text: strings.Join(words, " "), CID: id,
		TS: searchStart.Add(time.Duration(int64(searchSpan) / int64(pl.messages) * int64(k)))}
}

// searchQuery is one of the scenario's queries.
type searchQuery struct{ name, q string }

// queries are the scenario's queries: the word used in closest to 10% of
// the messages, one in closest to 0.03% of them, and the first three
// letters of two words of about 5% each (each prefix also finds the
// other words that begin with it).
func (pl searchPlan) queries() []searchQuery {
	// The share of messages (of 9.5 words on average) with the word of rank r.
	share := func(r int) float64 { return 1 - math.Pow(1-1/(float64(r+1)*pl.harmonic), 9.5) }
	closest := func(want float64, skip int) int {
		best := 0
		for r := range searchVocab {
			if r != skip && math.Abs(share(r)-want) < math.Abs(share(best)-want) {
				best = r
			}
		}
		return best
	}
	a := closest(0.05, -1)
	b := closest(0.05, a)
	for b < searchVocab-1 && pl.words[b][:3] == pl.words[a][:3] {
		b++
	}
	return []searchQuery{
		{"common word", pl.words[closest(0.10, -1)]},
		{"rare word", pl.words[closest(0.0003, -1)]},
		{"two prefixes", pl.words[a][:3] + " " + pl.words[b][:3]},
	}
}

// totals is, for each query, the number of messages the reader may read
// that have, for every word of the query, a word beginning with it.
func (pl searchPlan) totals(qs []searchQuery) []int64 {
	out := make([]int64, len(qs))
	words := make([][]string, len(qs))
	for i, q := range qs {
		words[i] = chatserver.SearchWords(q.q)
	}
	for k := range pl.messages {
		if !pl.readable(k % pl.rooms) {
			continue
		}
		tokens := strings.Fields(pl.message(k).Text)
		for i, ws := range words {
			if !slices.ContainsFunc(ws, func(w string) bool {
				return !slices.ContainsFunc(tokens, func(t string) bool { return strings.HasPrefix(t, w) })
			}) {
				out[i]++
			}
		}
	}
	return out
}

// seedSearch stores the plan's rooms and messages in the data directory
// dir, which no server may have open, through the embedded store itself
// (its schema and search index as the server keeps them).
func seedSearch(ctx context.Context, dir string, pl searchPlan, logf func(string, ...any)) error {
	db, err := sqlite.Open(ctx, dir, sqlite.WithoutFsync())
	if err != nil {
		return err
	}
	t0 := time.Now()
	logf("search: seeding %d messages in %d rooms into %s", pl.messages, pl.rooms, dir)
	err = forEach(searchSeedPar, searchSeedPar, func(p int) error {
		for k := p; k < pl.messages; k += searchSeedPar {
			if _, _, err := db.Append(ctx, pl.message(k)); err != nil {
				return fmt.Errorf("search: seeding message %d: %w", k, err)
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		logf("search: seeded in %s (%.0f messages/s)", seconds(time.Since(t0)), float64(pl.messages)/time.Since(t0).Seconds())
	}
	return err
}

// searchResult is what the search scenario measured, by query.
type searchResult struct {
	plan    searchPlan
	queries []searchQuery
	want    []int64 // the total each query must find
	lat     []hist
	got     []int64 // the total of the last right answer
	wrong   int
	first   string // what was wrong with the first wrong answer
}

// runSearch times the plan's queries as user 0, in turn, each
// cfg.searchRequests times after one untimed round.
func (b *bench) runSearch(ctx context.Context) (*searchResult, error) {
	cfg := b.cfg
	if cfg.searchRooms < 1 || cfg.searchMessages < 1 || cfg.searchRequests < 1 {
		return nil, fmt.Errorf("search: needs rooms, messages and requests")
	}
	pl := newSearchPlan(cfg.searchRooms, cfg.searchMessages, b.userID(0))
	qs := pl.queries()
	res := &searchResult{plan: pl, queries: qs, want: pl.totals(qs), lat: make([]hist, len(qs)), got: make([]int64, len(qs))}
	var body bytes.Buffer
	get := func(i, n int) (time.Duration, error) {
		u := b.targets[n%len(b.targets)].base + "/api/search?" + url.Values{"q": {qs[i].q}, "limit": {strconv.Itoa(searchPage)}}.Encode()
		status, d, err := timedGet(ctx, u, b.tokens[0], &body)
		if err != nil {
			return 0, fmt.Errorf("search: %w", err)
		}
		res.check(i, status, body.Bytes())
		return d, nil
	}
	b.logf("search: timing %d rounds of %d queries as %s", cfg.searchRequests, len(qs), pl.reader)
	for n := range cfg.searchRequests + 1 {
		for i := range qs {
			d, err := get(i, n)
			if err != nil {
				return res, err
			}
			if n > 0 { // the first round warms the caches and the connection
				res.lat[i].record(int64(d))
			}
		}
	}
	return res, nil
}

// timedGet gets u as the holder of token into body, timed from the request
// to the answer's last byte.
func timedGet(ctx context.Context, u, token string, body *bytes.Buffer) (status int, d time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	body.Reset()
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = body.ReadFrom(resp.Body)
	d = time.Since(start)
	resp.Body.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", u, err)
	}
	return resp.StatusCode, d, nil
}

// check records whether an answer to query i was right: its total the
// plan's, and a full page of messages with every query word, newest first.
func (r *searchResult) check(i, status int, body []byte) {
	err := checkSearch(body, r.want[i], chatserver.SearchWords(r.queries[i].q))
	if status != http.StatusOK {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	if err != nil {
		if r.wrong++; r.wrong == 1 {
			r.first = fmt.Sprintf("%s %q: %v", r.queries[i].name, r.queries[i].q, err)
		}
		return
	}
	r.got[i] = r.want[i]
}

func checkSearch(body []byte, total int64, words []string) error {
	var answer struct {
		Total    int64                `json:"total"`
		Messages []chatserver.Message `json:"messages"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Errorf("not a search result: %w", err)
	}
	if answer.Total != total || len(answer.Messages) != int(min(total, searchPage)) {
		return fmt.Errorf("total %d and %d messages, want %d and %d", answer.Total, len(answer.Messages), total, min(total, searchPage))
	}
	for j, m := range answer.Messages {
		if j > 0 && m.TS.After(answer.Messages[j-1].TS) {
			return fmt.Errorf("message %s is newer than the one before it", m.ID)
		}
		tokens := strings.Fields(strings.ToLower(m.Text))
		for _, w := range words {
			if !slices.ContainsFunc(tokens, func(t string) bool { return strings.HasPrefix(t, w) }) {
				return fmt.Errorf("message %s (%q) lacks %q", m.ID, m.Text, w)
			}
		}
	}
	return nil
}

// reportSearch prints the search scenario's table and returns 1 when it
// failed, else 0.
func (b *bench) reportSearch(out io.Writer, r *searchResult) int {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tquery\tq\tmessages\ttotal\trequests\tp50\tp99\tmax\ttarget\t")
	for i, q := range r.queries {
		h := &r.lat[i]
		met := h.n > 0 && h.quantile(0.99) <= b.cfg.targetSearchP99
		fmt.Fprintf(tw, "search\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\tp99 <= %v %s\t\n", q.name, q.q, r.plan.messages, r.want[i], h.n,
			ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(time.Duration(h.max)), b.cfg.targetSearchP99, verdict(met))
	}
	tw.Flush()
	code := 0
	if r.wrong > 0 {
		fmt.Fprintf(out, "search: FAIL: %d answers were wrong; the first: %s (was the data directory seeded with -seed-search and the same -search-rooms, -search-messages and -user-prefix?)\n", r.wrong, r.first)
		code = 1
	}
	fmt.Fprintln(out)
	return code
}
