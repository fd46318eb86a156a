package es

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDates(t *testing.T) {
	f, err := parseDateFormat("")
	if err != nil {
		t.Fatal(err)
	}
	ms := func(s string) int64 { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(mustDur(s)).UnixMilli() }
	cases := []struct {
		in      string
		roundUp bool
		want    int64
	}{
		{"2026-03-01", false, ms("0s")},
		{"2026-03-01", true, ms("24h") - 1},
		{"2026-03-01T10:01:07.250Z", false, ms("10h1m7.25s")},
		{"2026-03-01T11:01:07.25+01:00", false, ms("10h1m7.25s")},
		{"2026-03-01T10", true, ms("11h") - 1},
		{"1772323200000", false, ms("0s")},
	}
	for _, c := range cases {
		got, err := f.parse(c.in, c.roundUp, nil)
		if err != nil || got != c.want {
			t.Errorf("%s (roundUp %v): %d, %v; want %d", c.in, c.roundUp, got, err, c.want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-13-01", "2026-02-30", "2026-3-1"} {
		if _, err := f.parse(bad, false, nil); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	now := time.Date(2026, 3, 1, 10, 31, 0, 0, time.UTC)
	for expr, want := range map[string]int64{
		"now":                    now.UnixMilli(),
		"now-1h":                 now.Add(-time.Hour).UnixMilli(),
		"now/d":                  ms("0s"),
		"2026-03-01||+1M/M":      time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		"2026-03-01T10:00Z||-1d": ms("-14h"),
	} {
		got, err := parseDateMath(expr, f, false, now, nil)
		if err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", expr, got, err, want)
		}
	}
	if got, _ := parseDateMath("now/d", f, true, now, nil); got != ms("24h")-1 {
		t.Errorf("now/d rounded up: %d", got)
	}
	if f.format(ms("10h1m"), nil) != "2026-03-01T10:01:00.000Z" {
		t.Errorf("format: %s", f.format(ms("10h1m"), nil))
	}
}

func mustDur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestStandardAnalyzer(t *testing.T) {
	got := standardTokens("The QUICK brown-fox's jumped over 3.14 dogs, e.g. don't; 你好")
	want := []string{"the", "quick", "brown", "fox's", "jumped", "over", "3.14", "dogs", "e.g", "don't", "你", "好"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// matching returns the ids of docs a query matches, in a keyword/text index.
func matching(t *testing.T, q map[string]any, docs map[string]map[string]any) []string {
	t.Helper()
	m, err := parseMapping(map[string]any{"properties": map[string]any{
		"k": map[string]any{"type": "keyword"}, "t": map[string]any{"type": "text"}, "n": map[string]any{"type": "long"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var all []*document
	for id, src := range docs {
		fields, _, err := parseDocument(m, id, src)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, &document{id: id, fields: fields})
	}
	qc := &compiler{m: m, ix: "i", now: time.Now(), defaultFields: []string{"*"}}
	cq, err := qc.compile(q)
	if err != nil {
		t.Fatal(err)
	}
	c := newQctx(all)
	var out []string
	for _, d := range all {
		if ok, _ := cq.eval(c, d); ok {
			out = append(out, d.id)
		}
	}
	slices.Sort(out)
	return out
}

func TestQueryStringSemantics(t *testing.T) {
	docs := map[string]map[string]any{
		"a":   {"k": "a", "t": "alpha", "n": 1},
		"b":   {"k": "b", "t": "beta", "n": 2},
		"c":   {"k": "c", "t": "gamma", "n": 3},
		"ab":  {"k": []any{"a", "b"}, "t": "alpha beta", "n": 4},
		"abc": {"k": []any{"a", "b", "c"}, "t": "alpha beta gamma", "n": 5},
	}
	sqs := func(query, op string) []string {
		return matching(t, map[string]any{"simple_query_string": map[string]any{"query": query, "fields": []any{"k"}, "default_operator": op}}, docs)
	}
	qs := func(query, op string) []string {
		return matching(t, map[string]any{"query_string": map[string]any{"query": query, "default_field": "k", "default_operator": op}}, docs)
	}
	cases := []struct {
		got, want []string
		what      string
	}{
		// Lucene's SimpleQueryParser: left to right, a change of operator groups what came before.
		{sqs("a b | c", "and"), []string{"ab", "abc", "c"}, "sqs (a AND b) OR c"},
		{sqs("a | b c", "and"), []string{"abc"}, "sqs (a OR b) AND c"},
		{sqs("a -b", "or"), []string{"a", "ab", "abc", "c"}, "sqs a OR NOT b"},
		{sqs("a -b", "and"), []string{"a"}, "sqs a AND NOT b"},
		{sqs("a +c", "or"), []string{"abc"}, "sqs a AND c"},
		{sqs("(a | c) -b", "and"), []string{"a", "c"}, "sqs precedence"},
		{sqs("\"a\"", "or"), []string{"a", "ab", "abc"}, "sqs phrase on keyword"},
		{sqs("", "or"), nil, "sqs empty"},
		// Lucene's classic parser.
		{qs("a AND b OR c", "or"), []string{"ab", "abc"}, "qs a AND b OR c = +a +b c"},
		{qs("a b", "and"), []string{"ab", "abc"}, "qs default AND"},
		{qs("a OR b", "and"), []string{"a", "ab", "abc", "b"}, "qs explicit OR under AND default"},
		{qs("-b", "or"), []string{"a", "c"}, "qs pure negative"},
		{qs("t:alph*", "or"), []string{"a", "ab", "abc"}, "qs prefix on text"},
		{qs("n:[2 TO 4}", "or"), []string{"b", "c"}, "qs range"},
		{qs("n:>=5", "or"), []string{"abc"}, "qs comparison"},
		{qs("t:\"beta gamma\"", "or"), []string{"abc"}, "qs phrase"},
		{qs("_exists_:t AND NOT k:a", "or"), []string{"b", "c"}, "qs exists and NOT"},
		{qs("t:gamam~1", "or"), []string{"abc", "c"}, "qs fuzzy"},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestRoundings(t *testing.T) {
	paris, _ := parseZone("Europe/Paris")
	r, err := dateRounding("", "month", "", paris)
	if err != nil {
		t.Fatal(err)
	}
	x := float64(time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC).UnixMilli())
	if got := time.UnixMilli(int64(r.round(x))).In(paris); got.Format(time.RFC3339) != "2026-03-01T00:00:00+01:00" {
		t.Errorf("month in Paris: %v", got)
	}
	if got := time.UnixMilli(int64(r.next(r.round(x)))).In(paris); got.Format(time.RFC3339) != "2026-04-01T00:00:00+02:00" {
		t.Errorf("next month in Paris (after the DST change): %v", got)
	}
	if _, err = dateRounding("90m", "", "", time.UTC); err != nil {
		t.Errorf("90m: %v", err)
	}
	r, err = dateRounding("5400000ms", "", "", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.round(float64(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC).UnixMilli())); int64(got)%5400000 != 0 {
		t.Errorf("fixed interval not aligned to the epoch: %v", got)
	}
	if _, err := dateRounding("", "2d", "", time.UTC); err == nil || !strings.Contains(err.Error(), "calendar interval") {
		t.Errorf("2d calendar interval: %v", err)
	}
}
