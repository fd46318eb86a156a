package es_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/es"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// node is a stand-in node served by an httptest server.
type node struct {
	*httptest.Server
	store *es.Store
}

func startNode(t *testing.T, dir string) *node {
	t.Helper()
	return startNodeEnv(t, dir, nil)
}

func startNodeEnv(t *testing.T, dir string, extra standins.Env) *node {
	t.Helper()
	env := standins.Env{"discovery.type": "single-node", "xpack.security.enabled": "false", "path.data": dir}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := es.ParseConfig(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	store, err := es.OpenStore(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Server: httptest.NewServer(es.NewServer(cfg, store, quiet)), store: store}
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.store == nil {
		return
	}
	n.Close()
	_ = n.store.Close()
	n.store = nil
}

func client(t *testing.T, url, index string) *elastic.Client {
	t.Helper()
	c, err := elastic.New(elastic.Config{URL: url, Index: index})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// activity is a small chat session: three users, three rooms, events over
// five minutes, some at the same millisecond (ordered by id then).
func activity() []chatserver.ActivityEvent {
	var evs []chatserver.ActivityEvent
	add := func(sec float64, typ, user, room, msg string) {
		evs = append(evs, chatserver.ActivityEvent{
			ID: fmt.Sprintf("ev-%02d", len(evs)+1), Type: typ, User: user, Room: room, MessageID: msg,
			TS: base.Add(time.Duration(sec * float64(time.Second))),
		})
	}
	add(5, chatserver.ActivityLogin, "alice", "", "")
	add(6.5, chatserver.ActivityJoin, "alice", "general", "")
	add(7.25, chatserver.ActivityMessage, "alice", "general", "m-1")
	add(30, chatserver.ActivityLogin, "bob", "", "")
	add(31, chatserver.ActivityJoin, "bob", "general", "")
	add(61, chatserver.ActivityMessage, "bob", "general", "m-2")
	add(61, chatserver.ActivityMessage, "alice", "general", "m-3") // same ms as ev-06
	add(62, chatserver.ActivityMessage, "alice", "dm:alice_bob", "m-4")
	add(90, chatserver.ActivityJoin, "carol", "random", "")
	add(95.004, chatserver.ActivityMessage, "carol", "random", "m-5")
	add(150, chatserver.ActivityMessage, "carol", "general", "m-6")
	add(151, chatserver.ActivityMessage, "bob", "dm:alice_bob", "m-7")
	add(200, chatserver.ActivityLeave, "bob", "general", "")
	add(241.512, chatserver.ActivityMessage, "alice", "general", "m-8")
	add(290, chatserver.ActivityDisconnect, "carol", "", "")
	return evs
}

// wantSearch is the answer the documented semantics give: exact filters,
// inclusive bounds, every word of Text equal to one keyword field (or, with
// a trailing *, a prefix of one), newest first, ties by id descending.
func wantSearch(evs []chatserver.ActivityEvent, q chatserver.ActivityQuery) chatserver.ActivityResult {
	var hits []chatserver.ActivityEvent
	for _, e := range evs {
		if q.Type != "" && e.Type != q.Type || q.User != "" && e.User != q.User || q.Room != "" && e.Room != q.Room {
			continue
		}
		if !q.From.IsZero() && e.TS.Before(q.From) || !q.To.IsZero() && e.TS.After(q.To) {
			continue
		}
		ok := true
		for _, w := range strings.Fields(q.Text) {
			fields := []string{e.ID, e.Type, e.User, e.Room, e.MessageID}
			found := false
			for _, f := range fields {
				if p, isPrefix := strings.CutSuffix(w, "*"); isPrefix && f != "" && strings.HasPrefix(f, p) || f == w {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			hits = append(hits, e)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].TS.Equal(hits[j].TS) {
			return hits[i].TS.After(hits[j].TS)
		}
		return hits[i].ID > hits[j].ID
	})
	size := q.Size
	if size == 0 {
		size = 50
	}
	res := chatserver.ActivityResult{Total: int64(len(hits)), Events: hits[:min(size, len(hits))]}
	if res.Events == nil {
		res.Events = []chatserver.ActivityEvent{}
	}
	return res
}

func waitSearch(t *testing.T, c *elastic.Client, q chatserver.ActivityQuery, total int64) chatserver.ActivityResult {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := c.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total == total || time.Now().After(deadline) {
			return res
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sameEvents(a, b []chatserver.ActivityEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || !a[i].TS.Equal(b[i].TS) || a[i].Type != b[i].Type || a[i].User != b[i].User ||
			a[i].Room != b[i].Room || a[i].MessageID != b[i].MessageID {
			return false
		}
	}
	return true
}

// TestClient_IndexerAndServerCalls drives the stand-in with the client the
// indexer and the server use: the template, bulk writes (again and again,
// as redelivery does), searches with every filter, and stats.
func TestClient_IndexerAndServerCalls(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := client(t, n.URL, "chat-activity")
	ctx := context.Background()

	if err := c.Check(ctx); err != nil {
		t.Fatal("check:", err)
	}
	// Before the first event the index does not exist: empty, not an error.
	if res, err := c.Search(ctx, chatserver.ActivityQuery{}); err != nil || res.Total != 0 || len(res.Events) != 0 {
		t.Fatalf("search before the index exists: %+v, %v", res, err)
	}
	if _, err := c.Stats(ctx, chatserver.StatsQuery{From: base, To: base.Add(5 * time.Minute)}); err != nil {
		t.Fatal("stats before the index exists:", err)
	}
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal("template:", err)
	}
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal("template again:", err)
	}

	evs := activity()
	if err := c.Bulk(ctx, evs[:8]); err != nil {
		t.Fatal("bulk:", err)
	}
	if err := c.Bulk(ctx, evs[4:]); err != nil { // overlapping redelivery
		t.Fatal("bulk again:", err)
	}
	all := waitSearch(t, c, chatserver.ActivityQuery{Size: 1000}, int64(len(evs)))
	if want := wantSearch(evs, chatserver.ActivityQuery{Size: 1000}); all.Total != want.Total || !sameEvents(all.Events, want.Events) {
		t.Fatalf("all events:\n got %+v\nwant %+v", all, want)
	}

	queries := []chatserver.ActivityQuery{
		{},
		{Size: 3},
		{Type: chatserver.ActivityMessage},
		{User: "alice"},
		{Room: "general", Type: chatserver.ActivityMessage},
		{From: base.Add(61 * time.Second), To: base.Add(151 * time.Second)}, // both bounds inclusive
		{Text: "general"},
		{Text: "ali*"},
		{Text: "alice general"},
		{Text: "dm:alice_bob"},
		{Text: "ev-07"},
		{Text: "m-8 alice"},
		{Text: "ali"}, // whole values only
		{Text: "general", Type: chatserver.ActivityMessage, User: "alice", From: base, To: base.Add(5 * time.Minute), Size: 2},
		{User: "nobody"},
	}
	for _, q := range queries {
		got, err := c.Search(ctx, q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		want := wantSearch(evs, q)
		if got.Total != want.Total || !sameEvents(got.Events, want.Events) {
			t.Errorf("search %+v:\n got %d %v\nwant %d %v", q, got.Total, ids(got.Events), want.Total, ids(want.Events))
		}
	}
	if _, err := c.Search(ctx, chatserver.ActivityQuery{Size: 1001}); chatserver.ErrorCode(err) != chatserver.EBadRequest {
		t.Fatalf("size 1001: %v", err)
	}

	stats, err := c.Stats(ctx, chatserver.StatsQuery{From: base, To: base.Add(5 * time.Minute), Interval: time.Minute})
	if err != nil {
		t.Fatal("stats:", err)
	}
	want := wantStats(evs, base, base.Add(5*time.Minute), time.Minute)
	if !reflect.DeepEqual(stats, want) {
		t.Fatalf("stats:\n got %+v\nwant %+v", stats, want)
	}
	// An unaligned window: Elasticsearch aligns buckets to the epoch.
	stats, err = c.Stats(ctx, chatserver.StatsQuery{From: base.Add(30 * time.Second), To: base.Add(200 * time.Second), Interval: 45 * time.Second})
	if err != nil {
		t.Fatal("stats:", err)
	}
	want = wantStats(evs, base.Add(30*time.Second), base.Add(200*time.Second), 45*time.Second)
	if !reflect.DeepEqual(stats, want) {
		t.Fatalf("unaligned stats:\n got %+v\nwant %+v", stats, want)
	}
}

func ids(evs []chatserver.ActivityEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// wantStats counts [from, to) as Elasticsearch's aggregations do: buckets
// aligned to the epoch, rooms of message.sent by count then name, distinct
// users.
func wantStats(evs []chatserver.ActivityEvent, from, to time.Time, interval time.Duration) chatserver.ActivityStats {
	step := interval.Milliseconds()
	first := from.UnixMilli() / step * step
	counts := map[int64]map[string]int64{}
	rooms := map[string]int64{}
	users := map[string]bool{}
	for _, e := range evs {
		if e.TS.Before(from) || !e.TS.Before(to) {
			continue
		}
		k := e.TS.UnixMilli() / step * step
		if counts[k] == nil {
			counts[k] = map[string]int64{}
		}
		counts[k][e.Type]++
		if e.Type == chatserver.ActivityMessage {
			rooms[e.Room]++
		}
		users[e.User] = true
	}
	st := chatserver.ActivityStats{Buckets: []chatserver.StatsBucket{}, TopRooms: []chatserver.RoomCount{}, ActiveUsers: int64(len(users))}
	for k := first; k < to.UnixMilli(); k += step {
		c := counts[k]
		if c == nil {
			c = map[string]int64{}
		}
		st.Buckets = append(st.Buckets, chatserver.StatsBucket{TS: time.UnixMilli(k).UTC(), CountByType: c})
	}
	for r, c := range rooms {
		st.TopRooms = append(st.TopRooms, chatserver.RoomCount{Room: r, Count: c})
	}
	sort.Slice(st.TopRooms, func(i, j int) bool {
		if st.TopRooms[i].Count != st.TopRooms[j].Count {
			return st.TopRooms[i].Count > st.TopRooms[j].Count
		}
		return st.TopRooms[i].Room < st.TopRooms[j].Room
	})
	if len(st.TopRooms) > 10 {
		st.TopRooms = st.TopRooms[:10]
	}
	return st
}

// TestClient_RestartKeepsDocuments stops the node and starts another on the
// same data path: every document, the template and the mapping are back.
func TestClient_RestartKeepsDocuments(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := client(t, n.URL, "chat-activity")
	ctx := context.Background()
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal(err)
	}
	evs := activity()
	if err := c.Bulk(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := c.Bulk(ctx, evs[:3]); err != nil {
		t.Fatal(err)
	}
	n.stop()

	n2 := startNode(t, dir)
	c2 := client(t, n2.URL, "chat-activity")
	got, err := c2.Search(ctx, chatserver.ActivityQuery{Size: 100}) // recovered documents are searchable at once
	if err != nil {
		t.Fatal(err)
	}
	if want := wantSearch(evs, chatserver.ActivityQuery{Size: 100}); got.Total != want.Total || !sameEvents(got.Events, want.Events) {
		t.Fatalf("after restart: got %d %v", got.Total, ids(got.Events))
	}
	status, _, body := call(t, "GET", n2.URL+"/chat-activity-2026.03.01/_doc/ev-01", "", "")
	if status != 200 || body["_version"] != 2.0 {
		t.Fatalf("ev-01 after restart: %d %v", status, body)
	}
	status, _, body = call(t, "GET", n2.URL+"/chat-activity-2026.03.01/_mapping", "", "")
	mappings := body["chat-activity-2026.03.01"].(map[string]any)["mappings"].(map[string]any)
	if status != 200 || mappings["dynamic"] != "false" {
		t.Fatalf("mapping after restart: %v", body)
	}
	// A second node on the same data path is refused, as Elasticsearch's node lock does.
	if _, err := es.OpenStore(es.Config{DataPath: dir}, quiet); err == nil || !strings.Contains(err.Error(), "failed to obtain node locks") {
		t.Fatalf("second node on the data path: %v", err)
	}
}

// call makes one raw HTTP request and decodes a JSON answer.
func call(t *testing.T, method, url, body, ctype string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(raw) > 0 && method != "HEAD" {
		if err := json.Unmarshal(raw, &m); err != nil {
			m = map[string]any{"_raw": string(raw)}
		}
	}
	return res.StatusCode, res.Header, m
}

func errType(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	if e == nil {
		s, _ := body["error"].(string)
		return s
	}
	t, _ := e["type"].(string)
	return t
}

func rootCause(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	rc, _ := e["root_cause"].([]any)
	if len(rc) == 0 {
		return ""
	}
	r, _ := rc[0].(map[string]any)
	return fmt.Sprint(r["type"], ": ", r["reason"])
}

func TestHTTP_WireFormat(t *testing.T) {
	n := startNode(t, t.TempDir())

	status, h, body := call(t, "GET", n.URL+"/", "", "")
	if status != 200 || h.Get("X-Elastic-Product") != "Elasticsearch" || body["version"].(map[string]any)["number"] != es.Version {
		t.Fatalf("info: %d %v %v", status, h, body)
	}
	// Errors carry the product header too, and the root_cause/type/reason shape.
	status, h, body = call(t, "GET", n.URL+"/_nothing_here", "", "")
	if status != 400 || h.Get("X-Elastic-Product") != "Elasticsearch" || errType(body) != "illegal_argument_exception" {
		t.Fatalf("unknown endpoint: %d %v", status, body)
	}
	status, _, body = call(t, "POST", n.URL+"/missing/_search", "{}", "")
	if status != 404 || errType(body) != "index_not_found_exception" || body["status"] != 404.0 {
		t.Fatalf("search of a missing index: %d %v", status, body)
	}
	status, _, body = call(t, "POST", n.URL+"/missing/_search?ignore_unavailable=true", "{}", "")
	if status != 200 || body["hits"].(map[string]any)["total"].(map[string]any)["value"] != 0.0 {
		t.Fatalf("ignore_unavailable: %d %v", status, body)
	}
	status, _, body = call(t, "POST", n.URL+"/_search?bogus=1", "{}", "")
	if status != 400 || !strings.Contains(rootCause(body), "unrecognized parameter: [bogus]") {
		t.Fatalf("unknown parameter: %d %v", status, body)
	}
	// Content types, as Elasticsearch 8 checks them.
	status, _, body = call(t, "POST", n.URL+"/_search", "{}", "text/plain")
	if status != 406 || body["error"] != "Content-Type header [text/plain] is not supported" {
		t.Fatalf("text/plain: %d %v", status, body)
	}
	req, _ := http.NewRequest("POST", n.URL+"/_search", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
	req.Header.Set("Accept", "application/vnd.elasticsearch+json;compatible-with=8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/vnd.elasticsearch+json;compatible-with=8" {
		t.Fatalf("compatible-with=8: %d %v", res.StatusCode, res.Header)
	}
	req.Header.Set("Accept", "application/vnd.elasticsearch+json;compatible-with=9")
	req.Body = io.NopCloser(strings.NewReader("{}"))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("compatible-with=9: %d", res.StatusCode)
	}
	status, _, body = call(t, "GET", n.URL+"/_bulk", "", "")
	if status != 405 {
		t.Fatalf("GET _bulk: %d %v", status, body)
	}
	status, _, _ = call(t, "GET", n.URL+"/_cluster/health?local=true", "", "")
	if status != 200 {
		t.Fatalf("readiness probe: %d", status)
	}
	status, _, body = call(t, "GET", n.URL+"/_mget", "", "")
	if status != 400 || !strings.Contains(rootCause(body), "not supported by this Elasticsearch stand-in") {
		t.Fatalf("unsupported API: %d %v", status, body)
	}
}

func TestHTTP_BulkItems(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, _, body := call(t, "PUT", n.URL+"/_index_template/logs", `{"index_patterns":["logs*"],"template":{"mappings":{"dynamic":"strict","properties":{"ts":{"type":"date"},"msg":{"type":"text"},"n":{"type":"integer"}}}}}`, ""); body["acknowledged"] != true {
		t.Fatalf("template: %v", body)
	}
	bulk := `{"index":{"_index":"logs","_id":"1"}}
{"ts":"2026-03-01T10:00:00Z","msg":"Hello World","n":1}
{"create":{"_index":"logs","_id":"1"}}
{"ts":"2026-03-01T10:00:00Z","msg":"again"}
{"index":{"_index":"logs","_id":"2"}}
{"ts":"yesterday","msg":"bad date"}
{"index":{"_index":"logs","_id":"3"}}
{"ts":"2026-03-01","extra":"strict refuses"}
{"index":{"_index":"logs","_id":"4"}}
{"ts":1772359200000,"msg":"epoch millis","n":"7"}
{"delete":{"_index":"logs","_id":"nope"}}
{"delete":{"_index":"logs","_id":"4"}}
`
	status, _, body := call(t, "POST", n.URL+"/_bulk?refresh=true", bulk, "application/x-ndjson")
	if status != 200 || body["errors"] != true {
		t.Fatalf("bulk: %d %v", status, body)
	}
	items := body["items"].([]any)
	want := []struct {
		action string
		status float64
		result string
		errTyp string
	}{
		{"index", 201, "created", ""},
		{"create", 409, "", "version_conflict_engine_exception"},
		{"index", 400, "", "document_parsing_exception"},
		{"index", 400, "", "strict_dynamic_mapping_exception"},
		{"index", 201, "created", ""},
		{"delete", 404, "not_found", ""},
		{"delete", 200, "deleted", ""},
	}
	for i, w := range want {
		item := items[i].(map[string]any)[w.action].(map[string]any)
		if item["status"] != w.status || w.result != "" && item["result"] != w.result {
			t.Errorf("item %d: %v", i, item)
		}
		if w.errTyp != "" && item["error"].(map[string]any)["type"] != w.errTyp {
			t.Errorf("item %d error: %v", i, item["error"])
		}
	}
	status, _, body = call(t, "GET", n.URL+"/logs/_count", "", "")
	if status != 200 || body["count"] != 1.0 {
		t.Fatalf("count: %d %v", status, body)
	}
	// Missing trailing newline and unknown actions refuse the whole request.
	status, _, body = call(t, "POST", n.URL+"/_bulk", `{"index":{"_index":"logs"}}`+"\n"+`{"msg":"x"}`, "application/x-ndjson")
	if status != 400 || !strings.Contains(rootCause(body), "must be terminated by a newline") {
		t.Fatalf("no final newline: %d %v", status, body)
	}
	status, _, body = call(t, "POST", n.URL+"/_bulk", `{"upsert":{"_index":"logs"}}`+"\n", "application/x-ndjson")
	if status != 400 || !strings.Contains(rootCause(body), "expected field [create], [delete], [index] or [update]") {
		t.Fatalf("unknown action: %d %v", status, body)
	}
}

// TestHTTP_NearRealTime: writes become searchable at the next refresh (1s
// by default), or at once with _refresh; a get by id is real time.
func TestHTTP_NearRealTime(t *testing.T) {
	n := startNode(t, t.TempDir())
	start := time.Now()
	status, _, _ := call(t, "PUT", n.URL+"/nrt/_doc/a", `{"x":"y"}`, "")
	if status != 201 {
		t.Fatalf("index: %d", status)
	}
	_, _, body := call(t, "GET", n.URL+"/nrt/_count", "", "")
	if time.Since(start) < 500*time.Millisecond && body["count"] != 0.0 {
		t.Fatalf("visible before any refresh: %v", body)
	}
	if status, _, body := call(t, "GET", n.URL+"/nrt/_doc/a", "", ""); status != 200 || body["found"] != true {
		t.Fatalf("get is not real time: %d %v", status, body)
	}
	call(t, "POST", n.URL+"/nrt/_refresh", "", "")
	if _, _, body := call(t, "GET", n.URL+"/nrt/_count", "", ""); body["count"] != 1.0 {
		t.Fatalf("after _refresh: %v", body)
	}
	call(t, "PUT", n.URL+"/nrt/_doc/b", `{"x":"z"}`, "")
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, _, body := call(t, "GET", n.URL+"/nrt/_count", "", ""); body["count"] == 2.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the periodic refresh never published the write")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A dynamically mapped index: one primary and one replica that a single
	// node cannot allocate, so the cluster is yellow.
	_, _, body = call(t, "GET", n.URL+"/_cluster/health", "", "")
	if body["status"] != "yellow" || body["unassigned_shards"] != 1.0 {
		t.Fatalf("health: %v", body)
	}
	_, _, body = call(t, "GET", n.URL+"/nrt/_mapping", "", "")
	x := body["nrt"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)["x"].(map[string]any)
	if x["type"] != "text" || x["fields"].(map[string]any)["keyword"].(map[string]any)["ignore_above"] != 256.0 {
		t.Fatalf("dynamic mapping of a string: %v", x)
	}
}

func TestHTTP_SearchFeatures(t *testing.T) {
	n := startNode(t, t.TempDir())
	call(t, "PUT", n.URL+"/docs", `{"settings":{"number_of_replicas":0},"mappings":{"properties":{
		"title":{"type":"text"},"tag":{"type":"keyword"},"n":{"type":"long"},"at":{"type":"date"},"ok":{"type":"boolean"}}}}`, "")
	var bulk strings.Builder
	titles := []string{"The quick brown fox", "Quick thinking", "Lazy dogs sleep", "A brown dog and a fox", "Nothing here"}
	for i, title := range titles {
		fmt.Fprintf(&bulk, `{"index":{"_id":"d%d"}}`+"\n", i)
		fmt.Fprintf(&bulk, `{"title":%q,"tag":["t%d","all"],"n":%d,"at":"2026-03-0%dT12:00:00Z","ok":%v}`+"\n", title, i%2, i*10, i+1, i%2 == 0)
	}
	if status, _, body := call(t, "POST", n.URL+"/docs/_bulk?refresh=wait_for", bulk.String(), "application/x-ndjson"); status != 200 || body["errors"] != false {
		t.Fatalf("bulk: %d %v", status, body)
	}
	search := func(q string) map[string]any {
		t.Helper()
		status, _, body := call(t, "POST", n.URL+"/docs/_search?typed_keys=true", q, "")
		if status != 200 {
			t.Fatalf("search %s: %d %v", q, status, body)
		}
		return body
	}
	hitIDs := func(body map[string]any) []string {
		var out []string
		for _, h := range body["hits"].(map[string]any)["hits"].([]any) {
			out = append(out, h.(map[string]any)["_id"].(string))
		}
		return out
	}
	cases := []struct {
		q    string
		want []string
	}{
		{`{"query":{"match":{"title":"QUICK fox"}},"sort":["_doc"]}`, []string{"d0", "d1", "d3"}},
		{`{"query":{"match":{"title":{"query":"quick fox","operator":"and"}}}}`, []string{"d0"}},
		{`{"query":{"match_phrase":{"title":"brown fox"}}}`, []string{"d0"}},
		{`{"query":{"term":{"title":"Quick"}}}`, nil}, // terms are not analyzed
		{`{"query":{"terms":{"tag":["t1"]}},"sort":[{"n":"desc"}]}`, []string{"d3", "d1"}},
		{`{"query":{"range":{"at":{"gte":"2026-03-02","lt":"2026-03-04"}}},"sort":"at"}`, []string{"d1", "d2"}},
		{`{"query":{"range":{"at":{"lte":"2026-03-02"}}},"sort":"at"}`, []string{"d0", "d1"}}, // lte rounds up to the day's end
		{`{"query":{"bool":{"must_not":[{"term":{"ok":true}}],"filter":[{"exists":{"field":"title"}}]}},"sort":"n"}`, []string{"d1", "d3"}},
		{`{"query":{"query_string":{"query":"title:(brown OR lazy) AND -tag:t1"}},"sort":"n"}`, []string{"d0", "d2"}},
		{`{"query":{"simple_query_string":{"query":"fox -dog","fields":["title"],"default_operator":"and"}}}`, []string{"d0"}},
		{`{"query":{"prefix":{"tag":"t"}},"sort":[{"n":{"order":"asc"}}],"from":1,"size":2}`, []string{"d1", "d2"}},
		{`{"query":{"match_all":{}},"sort":[{"n":"asc"}],"search_after":[20]}`, []string{"d3", "d4"}},
		{`{"query":{"ids":{"values":["d4","d2"]}},"sort":"_doc"}`, []string{"d2", "d4"}},
	}
	for _, c := range cases {
		if got := hitIDs(search(c.q)); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.q, got, c.want)
		}
	}
	body := search(`{"size":0,"aggs":{"tags":{"terms":{"field":"tag"}},"per_day":{"date_histogram":{"field":"at","calendar_interval":"day","min_doc_count":0},"aggs":{"n":{"max":{"field":"n"}}}},"oks":{"filter":{"term":{"ok":true}}},"users":{"cardinality":{"field":"tag"}}}}`)
	aggs := body["aggregations"].(map[string]any)
	tags := aggs["sterms#tags"].(map[string]any)["buckets"].([]any)
	if len(tags) != 3 || tags[0].(map[string]any)["key"] != "all" || tags[0].(map[string]any)["doc_count"] != 5.0 || tags[1].(map[string]any)["key"] != "t0" {
		t.Fatalf("terms: %v", tags)
	}
	days := aggs["date_histogram#per_day"].(map[string]any)["buckets"].([]any)
	if len(days) != 5 || days[4].(map[string]any)["key_as_string"] != "2026-03-05T00:00:00.000Z" || days[4].(map[string]any)["max#n"].(map[string]any)["value"] != 40.0 {
		t.Fatalf("date_histogram: %v", days)
	}
	if aggs["filter#oks"].(map[string]any)["doc_count"] != 3.0 || aggs["cardinality#users"].(map[string]any)["value"] != 3.0 {
		t.Fatalf("filter/cardinality: %v", aggs)
	}
	if _, has := body["hits"].(map[string]any)["total"]; !has {
		t.Fatal("hits.total missing")
	}

	// Sorting on a text field fails on every shard, as in Elasticsearch.
	status, _, errBody := call(t, "POST", n.URL+"/docs/_search", `{"sort":["title"]}`, "")
	if status != 400 || errType(errBody) != "search_phase_execution_exception" || !strings.Contains(rootCause(errBody), "Fielddata is disabled") {
		t.Fatalf("sort on text: %d %v", status, errBody)
	}
	status, _, errBody = call(t, "POST", n.URL+"/docs/_search", `{"query":{"nope":{}}}`, "")
	if status != 400 || errType(errBody) != "parsing_exception" {
		t.Fatalf("unknown query: %d %v", status, errBody)
	}
	status, _, errBody = call(t, "POST", n.URL+"/docs/_search", `{"size":10001}`, "")
	if status != 400 || !strings.Contains(rootCause(errBody), "Result window is too large") {
		t.Fatalf("result window: %d %v", status, errBody)
	}
	// URI search.
	status, _, body = call(t, "GET", n.URL+"/docs/_search?q=tag:t0&sort=n:desc&size=1", "", "")
	if status != 200 || !slices.Equal(hitIDs(body), []string{"d4"}) {
		t.Fatalf("q=: %d %v", status, body)
	}
}

func TestHTTP_TemplatesAndILM(t *testing.T) {
	n := startNode(t, t.TempDir())
	status, _, body := call(t, "PUT", n.URL+"/_ilm/policy/chat", `{"policy":{"phases":{"delete":{"min_age":"30d","actions":{"delete":{}}}}}}`, "")
	if status != 200 || body["acknowledged"] != true {
		t.Fatalf("put policy: %d %v", status, body)
	}
	status, _, body = call(t, "GET", n.URL+"/_ilm/policy/chat", "", "")
	if status != 200 || body["chat"].(map[string]any)["version"] != 1.0 {
		t.Fatalf("get policy: %d %v", status, body)
	}
	if status, _, _ := call(t, "GET", n.URL+"/_ilm/policy/other", "", ""); status != 404 {
		t.Fatalf("missing policy: %d", status)
	}
	call(t, "PUT", n.URL+"/_index_template/a", `{"index_patterns":["x-*"],"priority":1,"template":{"settings":{"number_of_replicas":0}}}`, "")
	status, _, body = call(t, "PUT", n.URL+"/_index_template/b", `{"index_patterns":["x-a*"],"priority":1}`, "")
	if status != 400 || !strings.Contains(rootCause(body), "same priority") {
		t.Fatalf("overlapping templates of one priority: %d %v", status, body)
	}
	status, _, body = call(t, "GET", n.URL+"/_index_template/a", "", "")
	if status != 200 || len(body["index_templates"].([]any)) != 1 {
		t.Fatalf("get template: %d %v", status, body)
	}
	call(t, "PUT", n.URL+"/x-1/_doc/1?refresh=true", `{"a":1}`, "")
	_, _, body = call(t, "GET", n.URL+"/x-1/_settings", "", "")
	if r := body["x-1"].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)["number_of_replicas"]; r != "0" {
		t.Fatalf("template settings not applied: %v", body)
	}
	status, _, body = call(t, "PUT", n.URL+"/_index_template/c", `{"index_patterns":["c*"],"composed_of":["base"]}`, "")
	if status != 400 || !strings.Contains(rootCause(body), "not supported") {
		t.Fatalf("component templates: %d %v", status, body)
	}
}

func TestConfig(t *testing.T) {
	ok := standins.Env{"discovery.type": "single-node", "xpack.security.enabled": "false", "ES_JAVA_OPTS": "-Xms1g -Xmx1g"}
	cfg, err := es.ParseConfig(nil, ok)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataPath != "/usr/share/elasticsearch/data" || cfg.Ports[0] != 9200 || cfg.Host != "" || cfg.ClusterName != "docker-cluster" {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = es.ParseConfig([]string{"-E", "http.port=9201", "-Epath.data=/d"}, standins.Env{"ES_SETTING_DISCOVERY_TYPE": "single-node", "xpack.security.enabled": "false"})
	if err != nil || cfg.Ports[0] != 9201 || len(cfg.Ports) != 1 || cfg.DataPath != "/d" {
		t.Fatalf("-E settings: %+v, %v", cfg, err)
	}
	for _, env := range []standins.Env{
		{"discovery.type": "single-node"},                                   // security defaults to on in 8.x
		{"discovery.type": "single-node", "xpack.security.enabled": "true"}, // TLS and passwords
		{"xpack.security.enabled": "false"},                                 // would try to form a cluster
	} {
		if _, err := es.ParseConfig(nil, env); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

func TestBulkBody(t *testing.T) {
	// The client's own encoding of a bulk request is what the stand-in parses.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	_ = enc.Encode(map[string]any{"index": map[string]string{"_index": "i", "_id": "x"}})
	_ = enc.Encode(map[string]string{"id": "x"})
	n := startNode(t, t.TempDir())
	status, _, body := call(t, "POST", n.URL+"/_bulk", buf.String(), "application/json")
	if status != 200 || body["errors"] != false {
		t.Fatalf("%d %v", status, body)
	}
}

func TestHTTP_UpdatesAndDeletes(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	bulk := `{"update":{"_index":"u","_id":"1"}}
{"doc":{"a":1},"doc_as_upsert":true}
{"update":{"_index":"u","_id":"1"}}
{"doc":{"b":{"c":2}}}
{"update":{"_index":"u","_id":"1"}}
{"doc":{"a":1}}
{"update":{"_index":"u","_id":"2"}}
{"doc":{"a":1}}
{"index":{"_index":"u","_id":"3"}}
{"a":3,"secret":"s","nested":{"keep":1,"drop":2}}
`
	status, _, body := call(t, "POST", n.URL+"/_bulk?refresh=true", bulk, "application/x-ndjson")
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	results := []string{}
	for _, it := range body["items"].([]any) {
		item := it.(map[string]any)["update"]
		if item == nil {
			item = it.(map[string]any)["index"]
		}
		m := item.(map[string]any)
		r, _ := m["result"].(string)
		if e, ok := m["error"].(map[string]any); ok {
			r = e["type"].(string)
		}
		results = append(results, r)
	}
	if strings.Join(results, ",") != "created,updated,noop,document_missing_exception,created" {
		t.Fatalf("update results: %v", results)
	}
	_, _, body = call(t, "GET", n.URL+"/u/_doc/1", "", "")
	if src := body["_source"].(map[string]any); src["a"] != 1.0 || src["b"].(map[string]any)["c"] != 2.0 || body["_version"] != 2.0 {
		t.Fatalf("merged document: %v", body)
	}
	_, _, body = call(t, "POST", n.URL+"/u/_search", `{"query":{"ids":{"values":["3"]}},"_source":{"includes":["a","nested.*"],"excludes":["nested.drop"]}}`, "")
	src := body["hits"].(map[string]any)["hits"].([]any)[0].(map[string]any)["_source"].(map[string]any)
	if src["a"] != 3.0 || src["secret"] != nil || src["nested"].(map[string]any)["keep"] != 1.0 || src["nested"].(map[string]any)["drop"] != nil {
		t.Fatalf("source filtering: %v", src)
	}
	_, _, body = call(t, "POST", n.URL+"/u/_search", `{"track_total_hits":1}`, "")
	if tot := body["hits"].(map[string]any)["total"].(map[string]any); tot["value"] != 1.0 || tot["relation"] != "gte" {
		t.Fatalf("track_total_hits 1: %v", tot)
	}
	status, _, body = call(t, "POST", n.URL+"/u/_delete_by_query?refresh=true", `{"query":{"range":{"a":{"gte":2}}}}`, "")
	if status != 200 || body["deleted"] != 1.0 {
		t.Fatalf("delete by query: %d %v", status, body)
	}
	if _, _, body = call(t, "GET", n.URL+"/u/_count", "", ""); body["count"] != 1.0 {
		t.Fatalf("count after delete by query: %v", body)
	}
	status, _, body = call(t, "DELETE", n.URL+"/u*", "", "")
	if status != 400 || !strings.Contains(rootCause(body), "Wildcard expressions") {
		t.Fatalf("wildcard delete: %d %v", status, body)
	}

	// A record torn by a crash at the end of the log is cut off at start-up.
	n.stop()
	f, err := os.OpenFile(filepath.Join(dir, "standin-elasticsearch", "state.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"op":"doc","index":"u","id":"9","v":1,"seq":99,"src":{"a"`)
	_ = f.Close()
	n = startNode(t, dir)
	if _, _, body = call(t, "GET", n.URL+"/u/_count", "", ""); body["count"] != 1.0 {
		t.Fatalf("count after a torn record: %v", body)
	}
	if status, _, _ = call(t, "DELETE", n.URL+"/u", "", ""); status != 200 {
		t.Fatalf("delete index: %d", status)
	}
	if status, _, _ = call(t, "HEAD", n.URL+"/u", "", ""); status != 404 {
		t.Fatalf("deleted index exists: %d", status)
	}
}

func TestHTTP_AggregationShapes(t *testing.T) {
	n := startNode(t, t.TempDir())
	call(t, "PUT", n.URL+"/a", `{"mappings":{"properties":{"k":{"type":"keyword"},"n":{"type":"integer"},"d":{"type":"double"},"at":{"type":"date"},"b":{"type":"boolean"}}}}`, "")
	var bulk strings.Builder
	for i := range 12 {
		fmt.Fprintf(&bulk, "{\"index\":{}}\n{\"k\":\"k%d\",\"n\":%d,\"d\":%d.5,\"at\":\"2026-03-01T%02d:30:00Z\",\"b\":%v}\n", i%4, i%3, i, 21+i%3, i%2 == 0)
	}
	if status, _, body := call(t, "POST", n.URL+"/a/_bulk?refresh=true", bulk.String(), "application/x-ndjson"); status != 200 || body["errors"] != false {
		t.Fatalf("%d %v", status, body)
	}
	status, _, body := call(t, "POST", n.URL+"/a/_search?typed_keys", `{"size":0,"aggs":{
		"ks":{"terms":{"field":"k","size":2,"order":{"_key":"desc"}}},
		"ns":{"terms":{"field":"n"}},"ds":{"terms":{"field":"d","size":1}},"bs":{"terms":{"field":"b"}},
		"hours":{"date_histogram":{"field":"at","fixed_interval":"1h","time_zone":"+01:00","extended_bounds":{"min":"2026-03-01T21:00:00Z","max":"2026-03-02T01:00:00Z"}}},
		"st":{"stats":{"field":"n"}},"none":{"terms":{"field":"unmapped"}},"mx":{"max":{"field":"at"}}}}`, "")
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	aggs := body["aggregations"].(map[string]any)
	ks := aggs["sterms#ks"].(map[string]any)
	if b := ks["buckets"].([]any); len(b) != 2 || b[0].(map[string]any)["key"] != "k3" || ks["sum_other_doc_count"] != 6.0 {
		t.Errorf("terms by key desc: %v", ks)
	}
	if b := aggs["lterms#ns"].(map[string]any)["buckets"].([]any); len(b) != 3 || b[0].(map[string]any)["key"] != 0.0 {
		t.Errorf("long terms: %v", b)
	}
	if _, ok := aggs["dterms#ds"]; !ok {
		t.Errorf("double terms: %v", aggs)
	}
	if b := aggs["lterms#bs"].(map[string]any)["buckets"].([]any); b[0].(map[string]any)["key_as_string"] == nil {
		t.Errorf("boolean terms: %v", b)
	}
	hours := aggs["date_histogram#hours"].(map[string]any)["buckets"].([]any)
	if len(hours) != 5 || hours[0].(map[string]any)["key_as_string"] != "2026-03-01T22:00:00.000+01:00" || hours[1].(map[string]any)["doc_count"] != 4.0 {
		t.Errorf("date_histogram with a time zone and extended bounds: %v", hours)
	}
	if st := aggs["stats#st"].(map[string]any); st["count"] != 12.0 || st["max"] != 2.0 || st["sum"] != 12.0 {
		t.Errorf("stats: %v", st)
	}
	if b := aggs["sterms#none"].(map[string]any)["buckets"].([]any); len(b) != 0 {
		t.Errorf("unmapped terms: %v", b)
	}
	if mx := aggs["max#mx"].(map[string]any); mx["value_as_string"] != "2026-03-01T23:30:00.000Z" {
		t.Errorf("max date: %v", mx)
	}
	status, _, body = call(t, "POST", n.URL+"/a/_search", `{"aggs":{"x":{"date_histogram":{"field":"at","interval":"1h"}}}}`, "")
	if status != 400 {
		t.Errorf("date_histogram interval (removed in 8.x): %d %v", status, body)
	}
	status, _, body = call(t, "POST", n.URL+"/a/_search", `{"aggs":{"x":{"date_histogram":{"field":"at","fixed_interval":"1s","extended_bounds":{"min":"2026-01-01","max":"2026-03-01"}}}}}`, "")
	if status != 400 || !strings.Contains(fmt.Sprint(body), "too_many_buckets_exception") {
		t.Errorf("too many buckets: %d %v", status, body)
	}
}

// TestClient_DailyIndicesAndLifecycle: the client writes each event into the
// index of its day, with the template's lifecycle policy; the policy's
// delete phase removes a day's index once its date is old enough, and an
// index the template covers must have a date in its name.
func TestClient_DailyIndicesAndLifecycle(t *testing.T) {
	n := startNodeEnv(t, t.TempDir(), standins.Env{"indices.lifecycle.poll_interval": "100ms"})
	c, err := elastic.New(elastic.Config{URL: n.URL, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := chatserver.ActivityEvent{ID: "old", Type: chatserver.ActivityLogin, TS: now.Add(-3 * 24 * time.Hour), User: "alice"}
	recent := chatserver.ActivityEvent{ID: "new", Type: chatserver.ActivityLogin, TS: now, User: "alice"}
	if err := c.Bulk(ctx, []chatserver.ActivityEvent{old, recent}); err != nil {
		t.Fatal(err)
	}
	status, _, body := call(t, "GET", n.URL+"/_ilm/policy/chat-activity", "", "")
	if status != 200 || len(body["chat-activity"].(map[string]any)["in_use_by"].(map[string]any)["composable_templates"].([]any)) != 1 {
		t.Fatalf("policy: %d %v", status, body)
	}
	oldIndex := "chat-activity-" + old.TS.Format("2006.01.02")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if status, _, _ := call(t, "HEAD", n.URL+"/"+oldIndex, "", ""); status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not deleted by its lifecycle", oldIndex)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := waitSearch(t, c, chatserver.ActivityQuery{}, 1)
	if res.Total != 1 || res.Events[0].ID != "new" {
		t.Fatalf("after the lifecycle ran: %+v", res)
	}
	status, _, body = call(t, "PUT", n.URL+"/chat-activity-archive/_doc/x", `{"id":"x"}`, "")
	if status != 400 || !strings.Contains(rootCause(body), "does not match pattern") {
		t.Fatalf("an index without a date under parse_origination_date: %d %v", status, body)
	}
}
