// Package elastic answers the admins' activity queries and the users'
// message searches from Elasticsearch 8, and writes activity events into it
// for the indexer.
//
// Events live in daily indices named by the event's own time (UTC):
// Config.Index ("chat-activity" by default), a dash and the date, such as
// chat-activity-2026.03.01. Every event is written with its id as the
// document id into the index of its day, so writing it again replaces it with
// itself: the indices hold each event once however often the indexer
// delivers it. Searches and stats run over Config.Index-*.
//
// EnsureTemplate installs what those indices need: an index lifecycle
// (ILM) policy that deletes a day's index once it is Config.Retention plus
// one day old, counted from the date in its name, and the index template
// that gives the daily indices their mappings and that policy.
//
// Messages live in one more index, Config.MessageIndex ("chat-messages" by
// default), outside that pattern: each message once, as its latest change
// left it (see messages.go). An event of a message change is written to
// both: the activity document, which never holds the text, and the
// message's document.
//
// A Client is safe for concurrent use and owns no goroutines of its own.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	requestTimeout  = 10 * time.Second
	defaultSize     = 50
	maxSize         = 1000
	maxBuckets      = 10_000
	topRooms        = 10
	maxEventTypes   = 50
	defaultInterval = time.Minute

	// DefaultRetention is how long events stay searchable when Config says nothing.
	DefaultRetention = 30 * 24 * time.Hour
	// dayFormat names a day's index; the lifecycle reads the same date back
	// from the name (index.lifecycle.parse_origination_date).
	dayFormat = "2006.01.02"
)

// Config says where Elasticsearch is and which index holds the events.
type Config struct {
	URL      string // http:// or https://
	Username string
	Password string
	APIKey   string // base64 API key; wins over username and password
	CACert   []byte // PEM bundle trusted for TLS; nil: the system's
	Index    string // prefix of the daily indices' names, also the template's and the policy's name; default "chat-activity"
	// MessageIndex names the message index and its template; it must not
	// match Index-*. Default: Index with "-activity" replaced by
	// "-messages" ("chat-messages"), or Index + "_messages".
	MessageIndex string
	// Retention is how long an event stays at least; it is deleted within a
	// day after. Default DefaultRetention.
	Retention time.Duration

	// Transport replaces the HTTP transport; nil: the default one.
	Transport http.RoundTripper
}

// Client is a chatserver.ActivityIndex, a chatserver.Checker, and the
// indexer's writer.
type Client struct {
	es           *elasticsearch.Client
	index        string
	messageIndex string
	retention    time.Duration
}

var (
	_ chatserver.ActivityIndex   = (*Client)(nil)
	_ chatserver.Checker         = (*Client)(nil)
	_ chatserver.MessageSearcher = (*Client)(nil)
)

// New returns a client; it does not contact Elasticsearch.
func New(cfg Config) (*Client, error) {
	if cfg.Index == "" {
		cfg.Index = "chat-activity"
	}
	if cfg.MessageIndex == "" {
		cfg.MessageIndex = defaultMessageIndex(cfg.Index)
	}
	if strings.HasPrefix(cfg.MessageIndex, cfg.Index+"-") {
		return nil, chatserver.Errorf(chatserver.EInternal, "elasticsearch: the message index %s would be one of the activity indices %s-*", cfg.MessageIndex, cfg.Index)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:  []string{cfg.URL},
		Username:   cfg.Username,
		Password:   cfg.Password,
		APIKey:     cfg.APIKey,
		CACert:     cfg.CACert,
		Transport:  cfg.Transport,
		MaxRetries: 2,
	})
	if err != nil {
		return nil, chatserver.Errorf(chatserver.EInternal, "elasticsearch: %v", err)
	}
	return &Client{es: es, index: cfg.Index, messageIndex: cfg.MessageIndex, retention: cfg.Retention}, nil
}

// Check reports whether Elasticsearch answers.
func (c *Client) Check(ctx context.Context) error {
	return c.do(ctx, "ping", esapi.PingRequest{}, nil)
}

// EnsureTemplate installs (or replaces) the lifecycle policy that deletes
// old daily indices and the index template that maps the event fields the
// queries use and attaches that policy to every daily index. Fields the
// mappings do not name are kept in the source but not indexed, so an event
// type with more fields never fails. Then it installs the message index's
// template and creates that index if it is missing. Every call replaces what
// is there or leaves it be, so EnsureTemplate may run at every start, from
// several indexers at once.
func (c *Client) EnsureTemplate(ctx context.Context) error {
	policy := map[string]any{
		"policy": map[string]any{
			"phases": map[string]any{
				"delete": map[string]any{"min_age": minAge(c.retention), "actions": map[string]any{"delete": map[string]any{}}},
			},
			"_meta": map[string]string{"managed_by": "chatserver"},
		},
	}
	if err := c.do(ctx, "put lifecycle policy", esapi.ILMPutLifecycleRequest{Policy: c.index, Body: jsonBody(policy)}, nil); err != nil {
		return err
	}
	keyword := map[string]string{"type": "keyword"}
	body := map[string]any{
		"index_patterns": []string{c.pattern()},
		"priority":       200,
		"template": map[string]any{
			"settings": map[string]any{
				"index.lifecycle.name": c.index,
				// A day's index is as old as its day, not as its creation:
				// events indexed late (after an outage) still go on time.
				"index.lifecycle.parse_origination_date": true,
			},
			"mappings": map[string]any{
				"dynamic": false,
				"properties": map[string]any{
					"id": keyword, "type": keyword, "user": keyword, "room": keyword, "message_id": keyword,
					"ts": map[string]string{"type": "date"},
				},
			},
		},
		"_meta": map[string]string{"managed_by": "chatserver"},
	}
	if err := c.do(ctx, "put index template", esapi.IndicesPutIndexTemplateRequest{Name: c.index, Body: jsonBody(body)}, nil); err != nil {
		return err
	}
	return c.ensureMessageIndex(ctx)
}

// minAge is the age of a day's index, counted from the start of its day, at
// which the policy deletes it: every event in it is then at least retention
// old. In the largest whole unit Elasticsearch reads.
func minAge(retention time.Duration) string {
	age := retention + 24*time.Hour
	switch {
	case age%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", age/(24*time.Hour))
	case age%time.Hour == 0:
		return fmt.Sprintf("%dh", age/time.Hour)
	default:
		return fmt.Sprintf("%ds", (age+time.Second-1)/time.Second)
	}
}

// pattern matches every daily index.
func (c *Client) pattern() string { return c.index + "-*" }

// indexOf is the daily index of an event: the one of its UTC day, the same
// whenever and however often it is written.
func (c *Client) indexOf(ev chatserver.ActivityEvent) string {
	return c.index + "-" + ev.TS.UTC().Format(dayFormat)
}

// doc is an event as the index stores it: ts in milliseconds, as the date
// field keeps it.
type doc struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	TS        string `json:"ts"`
	User      string `json:"user"`
	Room      string `json:"room,omitempty"`
	MessageID string `json:"message_id,omitempty"`
}

func docOf(ev chatserver.ActivityEvent) doc {
	return doc{ID: ev.ID, Type: ev.Type, TS: chatserver.Timestamp(ev.TS), User: ev.User, Room: ev.Room, MessageID: ev.MessageID}
}

func (d doc) event() chatserver.ActivityEvent {
	ts, _ := time.Parse(time.RFC3339Nano, d.TS)
	return chatserver.ActivityEvent{ID: d.ID, Type: d.Type, TS: ts.UTC(), User: d.User, Room: d.Room, MessageID: d.MessageID}
}

// Outcome is what Elasticsearch did with one event of a bulk write.
type Outcome struct {
	Status int    // the item's HTTP status
	Reason string // the item's error as "type: reason"; empty when it has none
}

// Indexed reports whether the event is in the index: written now (2xx), or
// there already (409: the conflict of a document that exists, or of a
// message's document already at that version or a newer one).
func (o Outcome) Indexed() bool {
	return o.Status >= 200 && o.Status < 300 || o.Status == http.StatusConflict
}

// RefusedForGood reports whether writing the event again would be refused
// the same way: any 4xx but 409 and 429, such as a document Elasticsearch
// cannot index (400). Every other refusal (429, 5xx) is for now.
func (o Outcome) RefusedForGood() bool {
	return o.Status >= 400 && o.Status < 500 && o.Status != http.StatusConflict && o.Status != http.StatusTooManyRequests
}

// Bulk indexes events with their ids as document ids. It succeeds only if
// every item was indexed (see Outcome.Indexed). Writing the same events
// again is harmless, so a caller may retry the whole batch after an error.
func (c *Client) Bulk(ctx context.Context, events []chatserver.ActivityEvent) error {
	outcomes, err := c.BulkItems(ctx, events)
	if err != nil {
		return err
	}
	failed, code := 0, chatserver.EInternal
	var first string
	for i, ev := range events[:len(outcomes)] { // one outcome per event, as BulkItems promises
		o := outcomes[i]
		if o.Indexed() {
			continue
		}
		failed++
		if !o.RefusedForGood() {
			code = chatserver.EUnavailable
		}
		if first == "" {
			first = ev.ID + ": " + o.Reason
		}
	}
	if failed == 0 {
		return nil
	}
	return chatserver.Errorf(code, "elasticsearch bulk: %d of %d events failed, first %s", failed, len(events), first)
}

// BulkItems indexes events with their ids as document ids, and the message
// of each event that has one into the message index (see messages.go), and
// returns what became of each event, in the order of events: indexed when
// both of its writes were; else the outcome of the write that failed, the
// one refused for now first (writing the event again may get it through,
// and then the other one is refused for good or not). It fails only when
// the request as a whole did (no answer, a refusal, an answer that does not
// account for every write): then none of the events is known to be indexed.
// Writing the same events again is harmless, so the caller writes again
// what was refused for now, or everything after an error.
func (c *Client) BulkItems(ctx context.Context, events []chatserver.ActivityEvent) ([]Outcome, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	var ops []bulkOp
	for i, ev := range events {
		ops = append(ops, bulkOp{event: i, id: ev.ID})
		_ = enc.Encode(map[string]any{"index": map[string]string{"_index": c.indexOf(ev), "_id": ev.ID}})
		_ = enc.Encode(docOf(ev))
		if m := ev.Message; m != nil {
			id := messageDocID(m)
			ops = append(ops, bulkOp{event: i, id: id, message: true})
			_ = enc.Encode(map[string]any{"index": map[string]any{"_index": c.messageIndex, "_id": id, "version": m.Rev, "version_type": "external"}})
			_ = enc.Encode(messageDocOf(m))
		}
	}
	var res struct {
		Items []map[string]struct {
			ID     string `json:"_id"`
			Status int    `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := c.do(ctx, "bulk", esapi.BulkRequest{Body: &buf}, &res); err != nil {
		return nil, err
	}
	if len(res.Items) != len(ops) {
		return nil, chatserver.Errorf(chatserver.EUnavailable, "elasticsearch bulk: %d items answered for %d writes", len(res.Items), len(ops))
	}
	out := make([]Outcome, len(events))
	for i, op := range ops {
		item := res.Items[i]
		if len(item) != 1 {
			return nil, chatserver.Errorf(chatserver.EUnavailable, "elasticsearch bulk: item %d has %d actions, want 1", i, len(item))
		}
		for _, r := range item {
			if r.ID != op.id {
				return nil, chatserver.Errorf(chatserver.EUnavailable, "elasticsearch bulk: item %d is about %q, want %q", i, r.ID, op.id)
			}
			o := Outcome{Status: r.Status}
			if r.Error != nil {
				o.Reason = r.Error.Type + ": " + r.Error.Reason
				if op.message {
					o.Reason = c.messageIndex + " " + op.id + ": " + o.Reason
				}
			}
			if !op.message || o.worse(out[op.event]) {
				out[op.event] = o
			}
		}
	}
	return out, nil
}

// bulkOp is one write of a bulk request: an event's activity document, or
// its message's document.
type bulkOp struct {
	event   int    // the index of its event
	id      string // the document id
	message bool
}

// worse reports whether o says less of its event than than does: refused
// for now is worse than refused for good, which is worse than indexed.
func (o Outcome) worse(than Outcome) bool {
	rank := func(o Outcome) int {
		switch {
		case o.Indexed():
			return 0
		case o.RefusedForGood():
			return 1
		}
		return 2
	}
	return rank(o) > rank(than)
}

// Search returns the newest events that match q.
func (c *Client) Search(ctx context.Context, q chatserver.ActivityQuery) (chatserver.ActivityResult, error) {
	size := q.Size
	if size == 0 {
		size = defaultSize
	}
	if size < 1 || size > maxSize {
		return chatserver.ActivityResult{}, chatserver.Errorf(chatserver.EBadRequest, "size must be 1-%d", maxSize)
	}
	var filters []any
	for _, f := range [][2]string{{"type", q.Type}, {"user", q.User}, {"room", q.Room}} {
		if f[1] != "" {
			filters = append(filters, map[string]any{"term": map[string]string{f[0]: f[1]}})
		}
	}
	if rng := timeRange(q.From, q.To, "lte"); rng != nil {
		filters = append(filters, rng)
	}
	boolQuery := map[string]any{"filter": orEmpty(filters)}
	if q.Text != "" {
		boolQuery["must"] = []any{map[string]any{"simple_query_string": map[string]any{
			"query":            q.Text,
			"fields":           []string{"id", "type", "user", "room", "message_id"},
			"default_operator": "and",
		}}}
	}
	body := map[string]any{
		"size":             size,
		"track_total_hits": true,
		"sort":             []any{map[string]string{"ts": "desc"}, map[string]string{"id": "desc"}},
		"query":            map[string]any{"bool": boolQuery},
	}
	var res hits[doc]
	if err := c.search(ctx, body, &res); err != nil {
		return chatserver.ActivityResult{}, err
	}
	out := chatserver.ActivityResult{Total: res.Hits.Total.Value, Events: make([]chatserver.ActivityEvent, len(res.Hits.Hits))}
	for i, h := range res.Hits.Hits {
		out.Events[i] = h.Source.event()
	}
	return out, nil
}

// hits is the answer of a search for documents of type T: how many match
// (exact, with track_total_hits), and the page of them.
type hits[T any] struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			Source T `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

type termsAgg struct {
	Buckets []struct {
		Key      string `json:"key"`
		DocCount int64  `json:"doc_count"`
	} `json:"buckets"`
}

// Stats counts the events of [From, To) by type per Interval, the rooms with
// the most messages, and the distinct users. Empty intervals are listed too.
func (c *Client) Stats(ctx context.Context, q chatserver.StatsQuery) (chatserver.ActivityStats, error) {
	if q.To.IsZero() {
		q.To = time.Now()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-chatserver.DefaultStatsSpan)
	}
	if q.Interval == 0 {
		q.Interval = defaultInterval
	}
	if q.Interval < time.Millisecond || !q.From.Before(q.To) {
		return chatserver.ActivityStats{}, chatserver.Errorf(chatserver.EBadRequest, "want from before to and an interval of at least 1ms")
	}
	step := q.Interval.Milliseconds()
	first := q.From.UnixMilli() / step * step // Elasticsearch aligns fixed intervals to the epoch
	if n := (q.To.UnixMilli() - first + step - 1) / step; n > maxBuckets {
		return chatserver.ActivityStats{}, chatserver.Errorf(chatserver.EBadRequest, "%d intervals asked for, at most %d", n, maxBuckets)
	}
	body := map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": []any{timeRange(q.From, q.To, "lt")}}},
		"aggs": map[string]any{
			"over_time": map[string]any{
				"date_histogram": map[string]any{"field": "ts", "fixed_interval": fmt.Sprintf("%dms", step)},
				"aggs":           map[string]any{"by_type": map[string]any{"terms": map[string]any{"field": "type", "size": maxEventTypes}}},
			},
			"messages": map[string]any{
				"filter": map[string]any{"term": map[string]string{"type": chatserver.ActivityMessage}},
				"aggs":   map[string]any{"top_rooms": map[string]any{"terms": map[string]any{"field": "room", "size": topRooms}}},
			},
			"active_users": map[string]any{"cardinality": map[string]string{"field": "user"}},
		},
	}
	// typed_keys=true: every aggregation comes back named "<type>#<name>".
	var res struct {
		Aggregations struct {
			OverTime struct {
				Buckets []struct {
					Key    int64    `json:"key"`
					ByType termsAgg `json:"sterms#by_type"`
				} `json:"buckets"`
			} `json:"date_histogram#over_time"`
			Messages struct {
				TopRooms termsAgg `json:"sterms#top_rooms"`
			} `json:"filter#messages"`
			ActiveUsers struct {
				Value int64 `json:"value"`
			} `json:"cardinality#active_users"`
		} `json:"aggregations"`
	}
	if err := c.search(ctx, body, &res); err != nil {
		return chatserver.ActivityStats{}, err
	}
	counts := map[int64]map[string]int64{}
	for _, b := range res.Aggregations.OverTime.Buckets {
		for _, t := range b.ByType.Buckets {
			if counts[b.Key] == nil {
				counts[b.Key] = map[string]int64{}
			}
			counts[b.Key][t.Key] = t.DocCount
		}
	}
	out := chatserver.ActivityStats{Buckets: []chatserver.StatsBucket{}, TopRooms: []chatserver.RoomCount{}, ActiveUsers: res.Aggregations.ActiveUsers.Value}
	for key := first; key < q.To.UnixMilli(); key += step {
		byType := counts[key]
		if byType == nil {
			byType = map[string]int64{}
		}
		out.Buckets = append(out.Buckets, chatserver.StatsBucket{TS: time.UnixMilli(key).UTC(), CountByType: byType})
	}
	for _, r := range res.Aggregations.Messages.TopRooms.Buckets {
		out.TopRooms = append(out.TopRooms, chatserver.RoomCount{Room: r.Key, Count: r.DocCount})
	}
	return out, nil
}

// search runs a search over the daily indices; before the first one exists
// the answer is empty.
func (c *Client) search(ctx context.Context, body map[string]any, out any) error {
	typed, ignore := true, true
	return c.do(ctx, "search", esapi.SearchRequest{
		Index:             []string{c.pattern()},
		Body:              jsonBody(body),
		TypedKeys:         &typed,
		IgnoreUnavailable: &ignore,
	}, out)
}

func timeRange(from, to time.Time, upper string) map[string]any {
	rng := map[string]string{}
	if !from.IsZero() {
		rng["gte"] = chatserver.Timestamp(from)
	}
	if !to.IsZero() {
		rng[upper] = chatserver.Timestamp(to)
	}
	if len(rng) == 0 {
		return nil
	}
	return map[string]any{"range": map[string]any{"ts": rng}}
}

func orEmpty(filters []any) []any {
	if filters == nil {
		return []any{}
	}
	return filters
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// do performs one request with a bounded time and decodes a 2xx answer into
// out. Elasticsearch away, overloaded (429) or failing (5xx) is
// EUnavailable; any other refusal is EInternal, with its reason.
func (c *Client) do(ctx context.Context, op string, req esapi.Request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	res, err := req.Do(ctx, c.es)
	if err != nil {
		return chatserver.Errorf(chatserver.EUnavailable, "elasticsearch %s: %v", op, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		return refusal(op, res, b)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return chatserver.Errorf(chatserver.EUnavailable, "elasticsearch %s: decode answer: %v", op, err)
	}
	return nil
}

// refusal is the error of an answer that refuses op, body its start.
func refusal(op string, res *esapi.Response, body []byte) error {
	code := chatserver.EInternal
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		code = chatserver.EUnavailable
	}
	return chatserver.Errorf(code, "elasticsearch %s: %s: %s", op, res.Status(), strings.TrimSpace(string(body)))
}
