package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/httpapi"
	"github.com/chatcluster/chatcluster/chatserver/inmem"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// The fuzz targets of the admins' activity queries call the transport's
// handler directly (a panic fails the target rather than being recovered
// by net/http) on the embedded store, holding a few events at known times,
// and compare each answer with a model of the query string written from the
// contract: GET /api/activity and /api/activity/stats.

// activityAPI is the transport on the embedded store, an admin's token, and
// what the index was last asked.
type activityAPI struct {
	handler http.Handler
	token   string
	index   *recordingIndex
	events  []chatserver.ActivityEvent
}

// recordingIndex is the store's activity index, remembering the last query.
type recordingIndex struct {
	chatserver.ActivityIndex
	mu     sync.Mutex
	search *chatserver.ActivityQuery
	stats  *chatserver.StatsQuery
}

func (x *recordingIndex) Search(ctx context.Context, q chatserver.ActivityQuery) (chatserver.ActivityResult, error) {
	x.mu.Lock()
	x.search = &q
	x.mu.Unlock()
	return x.ActivityIndex.Search(ctx, q)
}

func (x *recordingIndex) Stats(ctx context.Context, q chatserver.StatsQuery) (chatserver.ActivityStats, error) {
	x.mu.Lock()
	x.stats = &q
	x.mu.Unlock()
	return x.ActivityIndex.Stats(ctx, q)
}

// take returns and forgets the queries the index was asked since the last call.
func (x *recordingIndex) take() (*chatserver.ActivityQuery, *chatserver.StatsQuery) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s, st := x.search, x.stats
	x.search, x.stats = nil, nil
	return s, st
}

func newActivityAPI(f *testing.F) *activityAPI {
	f.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(ctx, f.TempDir(), sqlite.WithoutFsync(), sqlite.WithLogger(log))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &activityAPI{index: &recordingIndex{ActivityIndex: db}, events: []chatserver.ActivityEvent{
		{ID: "e1", Type: chatserver.ActivityLogin, TS: time.Date(1990, 1, 2, 3, 4, 5, 0, time.UTC), User: "alice"},
		{ID: "e2", Type: chatserver.ActivityJoin, TS: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), User: "bob", Room: "general"},
		{ID: "e3", Type: chatserver.ActivityMessage, TS: now.Add(-time.Minute), User: "alice", Room: "dm:alice_bob", MessageID: "m1"},
		{ID: "e4", Type: chatserver.ActivityMessage, TS: now.Add(-2 * time.Minute), User: "bob", Room: "general", MessageID: "m2"},
	}}
	if err := db.Record(ctx, a.events...); err != nil {
		f.Fatal(err)
	}
	svc, err := service.New(ctx, &service.Deps{
		Users: db, Sessions: db, Messages: db, Activity: db, Index: a.index,
		Presence: inmem.NewPresence(), Broker: inmem.NewBroker(),
	}, service.Config{Admins: []string{"admin"}, AdminPassword: "adminpass1", AuthMode: "password", Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(svc.Close)
	if a.token, _, err = svc.Login(ctx, "admin", "adminpass1"); err != nil {
		f.Fatal(err)
	}
	// The sign-in is logged too: the events are what the store holds now.
	all, err := db.Search(ctx, chatserver.ActivityQuery{Size: 1000})
	if err != nil {
		f.Fatal(err)
	}
	a.events = all.Events
	api := httpapi.New(svc, httpapi.Config{Logger: log, Gatherer: prometheus.NewRegistry()})
	f.Cleanup(func() { _ = api.Shutdown(ctx) })
	a.handler = api
	return a
}

// get answers GET path?rawQuery as the admin, and decodes the JSON answer
// into ok on 200 or into an error body otherwise.
func (a *activityAPI) get(t *testing.T, path, rawQuery string, ok any) (status int, code string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://chat.test"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = rawQuery
	req.RemoteAddr = "192.0.2.1:40000"
	req.Header.Set("Authorization", "Bearer "+a.token)
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	var failed struct {
		Error struct{ Code, Message string }
	}
	into := any(&failed)
	if rec.Code == http.StatusOK {
		into = ok
	}
	if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
		t.Fatalf("%s?%s answered %d %q: %v", path, rawQuery, rec.Code, rec.Body, err)
	}
	return rec.Code, failed.Error.Code
}

// checkRefused checks the answer to a query the model refuses.
func checkRefused(t *testing.T, raw string, status int, code string) {
	t.Helper()
	if status != http.StatusBadRequest || code != chatserver.EBadRequest {
		t.Fatalf("%q answered %d %q, want 400 %s", raw, status, code, chatserver.EBadRequest)
	}
}

// FuzzActivityQuery fuzzes the query string of GET /api/activity: q, type,
// user and room pass as given; size is 1-1000 (default 50); from and to are
// RFC 3339 times, to not before from. A valid query reaches the index as
// given and answers only matching events; any other is a 400 bad_request.
func FuzzActivityQuery(f *testing.F) {
	for _, raw := range []string{
		"", "size=1", "size=1000", "size=0", "size=1001", "size=-1", "size=1e2", "size=%31", "size=1&size=x",
		"q=alice", "q=0%00", "q=%FF", "q=%22alice%22+OR+*", "q=-+NEAR(a+b)", "q=%00", "q=dm%3Aalice_bob", "type=room.join&user=bob&room=general",
		"user=%22&room=%27", "room=dm:alice_bob", "from=2026-01-01T00:00:00Z", "to=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00.001Z",
		"from=1990-01-02T03:04:05Z&to=1990-01-02T03:04:05.000000001Z", "from=0001-01-01T00:00:00Z", "to=9999-12-31T23:59:59.999999999Z",
		"from=1600-01-01T00:00:00Z&to=1700-01-01T00:00:00Z", "from=2026-01-01T00:00:00%2B25:00", "from=2026-02-30T00:00:00Z",
		"from=2026-01-01", "from=now", "%zz=1&size=2", "q=a;b", "size=2&&&=&q",
	} {
		f.Add(raw)
	}
	a := newActivityAPI(f)
	f.Fuzz(func(t *testing.T, raw string) {
		want, valid := activityModel(raw)
		var got struct {
			Total  int64 `json:"total"`
			Events []struct {
				ID, Type, User, Room string
				TS                   time.Time
			} `json:"events"`
		}
		status, code := a.get(t, "/api/activity", raw, &got)
		asked, _ := a.index.take()
		if !valid {
			checkRefused(t, raw, status, code)
			return
		}
		if status != http.StatusOK || asked == nil || !sameQuery(*asked, want) {
			t.Fatalf("%q answered %d %q; index asked %+v, want %+v", raw, status, code, asked, want)
		}
		if len(got.Events) > want.Size || int64(len(got.Events)) > got.Total {
			t.Fatalf("%q: %d events of %d for size %d", raw, len(got.Events), got.Total, want.Size)
		}
		for _, e := range got.Events {
			if want.Type != "" && e.Type != want.Type || want.User != "" && e.User != want.User || want.Room != "" && e.Room != want.Room ||
				!want.From.IsZero() && e.TS.Before(want.From) || !want.To.IsZero() && !e.TS.Before(want.To) {
				t.Fatalf("%q answered event %+v, which does not match", raw, e)
			}
		}
	})
}

// sameQuery compares two activity or stats queries, their times as instants.
func sameQuery[Q chatserver.ActivityQuery | chatserver.StatsQuery](a, b Q) bool {
	return reflect.DeepEqual(instants(a), instants(b))
}

// instants is q with its times in UTC and without a monotonic reading.
func instants[Q chatserver.ActivityQuery | chatserver.StatsQuery](q Q) Q {
	switch p := any(&q).(type) {
	case *chatserver.ActivityQuery:
		p.From, p.To = p.From.UTC().Round(0), p.To.UTC().Round(0)
	case *chatserver.StatsQuery:
		p.From, p.To = p.From.UTC().Round(0), p.To.UTC().Round(0)
	}
	return q
}

// activityModel is the query that raw asks for, and whether it is valid.
func activityModel(raw string) (chatserver.ActivityQuery, bool) {
	v, _ := url.ParseQuery(raw) // as net/http: malformed pairs are dropped
	q := chatserver.ActivityQuery{Text: v.Get("q"), Type: v.Get("type"), User: v.Get("user"), Room: v.Get("room"), Size: 50}
	for _, t := range []string{q.Text, q.Type, q.User, q.Room} {
		if strings.ContainsRune(t, 0) || !utf8.ValidString(t) {
			return q, false // the text parameters are UTF-8 without NUL
		}
	}
	if s := v.Get("size"); s != "" {
		n, ok := new(big.Int).SetString(s, 10)
		if !ok || n.Cmp(big.NewInt(1)) < 0 || n.Cmp(big.NewInt(1000)) > 0 {
			return q, false
		}
		q.Size = int(n.Int64())
	}
	var ok bool
	if q.From, ok = modelTime(v.Get("from"), time.Time{}); !ok {
		return q, false
	}
	if q.To, ok = modelTime(v.Get("to"), time.Time{}); !ok {
		return q, false
	}
	return q, q.From.IsZero() || q.To.IsZero() || !q.To.Before(q.From)
}

// The times an activity query may name: from 1970 to the last nanosecond
// an int64 of nanoseconds since 1970 holds.
var (
	modelEarliest = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	modelLatest   = time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC)
)

// modelTime reads an optional RFC 3339 time, in UTC, within the range an
// activity query may name.
func modelTime(s string, def time.Time) (time.Time, bool) {
	if s == "" {
		return def, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil && !t.Before(modelEarliest) && !t.After(modelLatest)
}

// maxStatsBuckets is the most buckets a stats answer holds.
const maxStatsBuckets = 10000

// FuzzStatsQuery fuzzes the query string of GET /api/activity/stats: from
// and to are RFC 3339 times (default the hour before now), to after from;
// interval is a Go duration of at least 1s (default 1m); at most 10,000
// buckets. A valid query answers every bucket, each counting the events of
// its interval; any other is a 400 bad_request.
func FuzzStatsQuery(f *testing.F) {
	for _, raw := range []string{
		"", "interval=1s", "interval=999ms", "interval=0", "interval=-1m", "interval=1h&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
		"from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
		"from=2025-12-31T00:00:00Z&to=2026-01-07T22:40:00Z", "from=2025-12-31T00:00:00Z&to=2026-01-07T22:40:00.001Z",
		"from=1990-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&interval=8760h", "from=1990-01-02T03:04:05Z&to=1990-01-02T03:04:06Z&interval=1s",
		"from=1900-01-01T00:00:00Z&to=2000-01-01T00:00:00Z&interval=87600h", "from=1500-01-01T00:00:00Z&to=1600-01-01T00:00:00Z&interval=8760h",
		"interval=2000000h", "from=2300-01-01T00:00:00Z&to=2301-01-01T00:00:00Z&interval=24h", "interval=1.5s", "interval=1e3s", "interval=%E2%88%9E", "from=x", "to=2026-13-01T00:00:00Z",
		"from=0001-01-01T00:00:01Z&to=0001-01-01T00:00:02Z&interval=1s",
		"interval=2562047h", "interval=2562047h47m16.854775807s", "from=1000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=100000h",
		"from=0001-01-01T00:00:00Z&to=0001-01-01T00:00:01Z&interval=1s", "to=0000-01-01T0:00:00Z",
		"from=1970-01-01T00:00:00Z&to=2262-04-11T23:47:16.854775807Z&interval=2562047h",
	} {
		f.Add(raw)
	}
	a := newActivityAPI(f)
	f.Fuzz(func(t *testing.T, raw string) {
		before := time.Now().UTC()
		var answer struct {
			Buckets []struct {
				TS          time.Time        `json:"ts"`
				CountByType map[string]int64 `json:"count_by_type"`
			} `json:"buckets"`
			ActiveUsers int64 `json:"active_users"`
		}
		status, code := a.get(t, "/api/activity/stats", raw, &answer)
		after := time.Now().UTC()
		_, asked := a.index.take()
		want, buckets, valid := statsModel(raw, before, after, asked)
		if !valid {
			checkRefused(t, raw, status, code)
			return
		}
		if status != http.StatusOK || asked == nil || !sameQuery(*asked, want) {
			t.Fatalf("%q answered %d %q; index asked %+v, want %+v", raw, status, code, asked, want)
		}
		if int64(len(answer.Buckets)) != buckets {
			t.Fatalf("%q answered %d buckets, want %d", raw, len(answer.Buckets), buckets)
		}
		counted, inRange := int64(0), int64(0)
		for i, b := range answer.Buckets {
			if start := want.From.Add(time.Duration(i) * want.Interval).Truncate(time.Millisecond); !b.TS.Equal(start) {
				t.Fatalf("%q: bucket %d starts at %v, want %v", raw, i, b.TS, start)
			}
			for _, n := range b.CountByType {
				counted += n
			}
		}
		for _, e := range a.events {
			if !e.TS.Before(want.From) && e.TS.Before(want.To) {
				inRange++
			}
		}
		if counted != inRange {
			t.Fatalf("%q: buckets count %d events, %d are in [%v, %v)", raw, counted, inRange, want.From, want.To)
		}
	})
}

// statsModel is the query that raw asks for, the number of buckets of its
// answer, and whether it is valid. The default end is now: between before
// and after, the value the server took if it asked the index.
func statsModel(raw string, before, after time.Time, asked *chatserver.StatsQuery) (chatserver.StatsQuery, int64, bool) {
	v, _ := url.ParseQuery(raw)
	now := before
	if asked != nil && !asked.To.Before(before) && !asked.To.After(after) {
		now = asked.To
	}
	q := chatserver.StatsQuery{Interval: time.Minute}
	var ok bool
	if q.To, ok = modelTime(v.Get("to"), now); !ok {
		return q, 0, false
	}
	if q.From, ok = modelTime(v.Get("from"), q.To.Add(-chatserver.DefaultStatsSpan)); !ok {
		return q, 0, false
	}
	if s := v.Get("interval"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return q, 0, false
		}
		q.Interval = d
	}
	if !q.To.After(q.From) {
		return q, 0, false
	}
	// The buckets of [from, to), counted exactly: the span may be longer
	// than a time.Duration holds.
	span := new(big.Int).Mul(big.NewInt(q.To.Unix()-q.From.Unix()), big.NewInt(int64(time.Second)))
	span.Add(span, big.NewInt(int64(q.To.Nanosecond()-q.From.Nanosecond())))
	n := new(big.Int).Add(span, big.NewInt(int64(q.Interval)-1))
	n.Quo(n, big.NewInt(int64(q.Interval)))
	if n.Cmp(big.NewInt(maxStatsBuckets)) > 0 {
		return q, 0, false
	}
	return q, n.Int64(), true
}
