package elastic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/chatcluster/chatcluster/chatserver"
)

// The message index holds each message once, in the state of its latest
// change the indexer saw: a document per message, its id room/seq, its
// Elasticsearch version the message's Rev written with
// version_type=external. A write older than the document (a redelivered or
// late event) is refused with 409 and changes nothing, so the document only
// ever moves forward. A deleted message stays as a tombstone: no text, no
// words, deleted=true, at its Rev; deleting the document instead would let
// a late older write bring its text back once Elasticsearch forgot the
// delete.
//
// The text is kept for display only; what searches match is words, the
// message's chatserver.SearchWords, split in Go as the queries are, so that
// a word of the text and a word of a query are the same thing.

// defaultMessageIndex names the message index after the activity indices'
// prefix, outside their pattern: "chat-activity" gives "chat-messages",
// any other prefix p gives "p_messages".
func defaultMessageIndex(index string) string {
	if base, ok := strings.CutSuffix(index, "-activity"); ok && base != "" {
		return base + "-messages"
	}
	return index + "_messages"
}

// messageDoc is a message as the message index stores it.
type messageDoc struct {
	ID       string   `json:"id"`
	Room     string   `json:"room"`
	Seq      int64    `json:"seq"`
	From     string   `json:"from"`
	Text     string   `json:"text,omitempty"`
	Words    []string `json:"words,omitempty"`
	TS       string   `json:"ts"`
	Rev      int64    `json:"rev"`
	EditedTS string   `json:"edited_ts,omitempty"`
	ReplyTo  int64    `json:"reply_to,omitempty"`
	Mentions []string `json:"mentions,omitempty"`
	Deleted  bool     `json:"deleted"`
	Public   bool     `json:"public"`
	Members  []string `json:"members,omitempty"`
}

// messageDocID is the document id of a message: its room and seq.
func messageDocID(m *chatserver.Message) string {
	return m.Room + "/" + strconv.FormatInt(m.Seq, 10)
}

// messageDocOf is what the index keeps of m: all of it but its reactions,
// or a tombstone once it is deleted. Who may read it comes from its room
// id; a room id that does not parse makes it readable by nobody.
func messageDocOf(m *chatserver.Message) messageDoc {
	d := messageDoc{ID: m.ID, Room: m.Room, Seq: m.Seq, From: m.From, TS: chatserver.Timestamp(m.TS), Rev: m.Rev,
		ReplyTo: m.ReplyTo, Deleted: m.Deleted}
	if room, err := chatserver.ParseRoom(m.Room); err == nil {
		d.Public, d.Members = !room.IsPrivate(), room.Members
	}
	if !m.EditedTS.IsZero() {
		d.EditedTS = chatserver.Timestamp(m.EditedTS)
	}
	if !m.Deleted {
		d.Text, d.Words, d.Mentions = m.Text, chatserver.SearchWords(m.Text), m.Mentions
	}
	return d
}

func (d messageDoc) message() chatserver.Message {
	m := chatserver.Message{ID: d.ID, Room: d.Room, Seq: d.Seq, From: d.From, Text: d.Text, Rev: d.Rev,
		ReplyTo: d.ReplyTo, Mentions: d.Mentions, Deleted: d.Deleted}
	ts, _ := time.Parse(time.RFC3339Nano, d.TS)
	m.TS = ts.UTC()
	if d.EditedTS != "" {
		ts, _ := time.Parse(time.RFC3339Nano, d.EditedTS)
		m.EditedTS = ts.UTC()
	}
	return m
}

// ensureMessageIndex installs the message index's template and creates
// the index if it is missing. The index has no lifecycle: its documents
// stay until it is deleted.
func (c *Client) ensureMessageIndex(ctx context.Context) error {
	keyword := map[string]string{"type": "keyword"}
	long := map[string]string{"type": "long"}
	boolean := map[string]string{"type": "boolean"}
	date := map[string]string{"type": "date"}
	body := map[string]any{
		"index_patterns": []string{c.messageIndex},
		"priority":       200,
		"template": map[string]any{
			"mappings": map[string]any{
				"dynamic": false,
				"properties": map[string]any{
					"id": keyword, "room": keyword, "from": keyword, "members": keyword, "mentions": keyword, "words": keyword,
					"text":   map[string]any{"type": "text", "index": false},
					"public": boolean, "deleted": boolean,
					"ts": date, "edited_ts": date,
					"seq": long, "rev": long, "reply_to": long,
				},
			},
		},
		"_meta": map[string]string{"managed_by": "chatserver"},
	}
	if err := c.do(ctx, "put index template", esapi.IndicesPutIndexTemplateRequest{Name: c.messageIndex, Body: jsonBody(body)}, nil); err != nil {
		return err
	}
	return c.createIndex(ctx, c.messageIndex)
}

// createIndex creates the index name, under the templates that match it;
// an index that is already there is left as it is.
func (c *Client) createIndex(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	res, err := esapi.IndicesCreateRequest{Index: name}.Do(ctx, c.es)
	if err != nil {
		return chatserver.Errorf(chatserver.EUnavailable, "elasticsearch create index: %v", err)
	}
	defer res.Body.Close()
	if !res.IsError() {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	var answer struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if res.StatusCode == http.StatusBadRequest && json.Unmarshal(b, &answer) == nil && answer.Error.Type == "resource_already_exists_exception" {
		return nil
	}
	return refusal("create index", res, b)
}

// SearchMessages finds the messages q.Reader may read that have, for each
// of q.Words, a word that begins with it, newest first.
func (c *Client) SearchMessages(ctx context.Context, q chatserver.SearchQuery) (chatserver.SearchResult, error) {
	limit := q.Limit
	if limit == 0 {
		limit = chatserver.DefaultSearchLimit
	}
	switch {
	case limit < 1 || limit > chatserver.MaxSearchLimit:
		return chatserver.SearchResult{}, chatserver.Errorf(chatserver.EBadRequest, "limit must be 1-%d", chatserver.MaxSearchLimit)
	case len(q.Words) == 0:
		return chatserver.SearchResult{}, chatserver.Errorf(chatserver.EBadRequest, "want at least one word to search for")
	case q.Reader == "":
		return chatserver.SearchResult{}, chatserver.Errorf(chatserver.EBadRequest, "want the reader of the search")
	}
	body := map[string]any{
		"size":             limit,
		"track_total_hits": true,
		"sort":             []any{map[string]string{"ts": "desc"}, map[string]string{"seq": "desc"}},
		"query":            map[string]any{"bool": map[string]any{"filter": messageFilters(q)}},
	}
	var res hits[messageDoc]
	ignore := true
	if err := c.do(ctx, "search messages", esapi.SearchRequest{
		Index:             []string{c.messageIndex},
		Body:              jsonBody(body),
		IgnoreUnavailable: &ignore,
	}, &res); err != nil {
		return chatserver.SearchResult{}, err
	}
	out := chatserver.SearchResult{Total: res.Hits.Total.Value, Messages: make([]chatserver.Message, len(res.Hits.Hits))}
	for i, h := range res.Hits.Hits {
		out.Messages[i] = h.Source.message()
	}
	return out, nil
}

// messageFilters are the conditions of q: a message that is not deleted,
// in a public room or one of q.Reader's, narrowed by room, sender and time,
// with a word that begins with each of q.Words. The words are matched as
// values, never parsed as query syntax.
func messageFilters(q chatserver.SearchQuery) []any {
	term := func(field string, value any) map[string]any {
		return map[string]any{"term": map[string]any{field: value}}
	}
	filters := []any{
		term("deleted", false),
		map[string]any{"bool": map[string]any{
			"should":               []any{term("public", true), term("members", q.Reader)},
			"minimum_should_match": 1,
		}},
	}
	if q.Room != "" {
		filters = append(filters, term("room", q.Room))
	}
	if q.From != "" {
		filters = append(filters, term("from", q.From))
	}
	if before := timeRange(time.Time{}, q.Before, "lt"); before != nil {
		filters = append(filters, before)
	}
	for _, w := range q.Words {
		filters = append(filters, map[string]any{"prefix": map[string]any{"words": map[string]string{"value": w}}})
	}
	return filters
}
