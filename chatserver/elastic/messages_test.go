package elastic

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
)

// An event of a message change writes the activity document, without the
// text, and the message's document at its Rev as an external version; a
// deleted message is a tombstone. The event's outcome is indexed only when
// both writes are, else that of the write that failed, refused for now
// first.
func TestRecordedES8_BulkWritesMessages(t *testing.T) {
	c := replay(t, "bulk_messages.json")
	msg := func(id, room string, seq, rev int64, from, text string) *chatserver.Message {
		return &chatserver.Message{ID: id, Room: room, Seq: seq, Rev: rev, From: from, Text: text}
	}
	sent := msg("m-11", "general", 7, 12, "alice", `Hello @bob: "status:open" OR *`)
	sent.TS, sent.Mentions, sent.CID = at(4, 0, 0), []string{"bob"}, "c-1"
	edited := msg("m-12", "dm:alice_bob", 3, 9, "bob", "Ünïcode Straße")
	edited.TS, edited.EditedTS, edited.ReplyTo = at(3, 0, 0), at(4, 10, 0), 2
	edited.Reactions = []chatserver.Reaction{{Emoji: "👍", Users: []string{"alice"}}}
	deleted := msg("m-13", "gdm:alice_bob_carol", 5, 21, "carol", "")
	deleted.TS, deleted.EditedTS, deleted.Deleted, deleted.Mentions = at(2, 0, 0), at(3, 0, 0), true, []string{"alice"}
	poison := msg("m-15", "general", 8, 30, "alice", "x")
	poison.TS = at(4, 40, 0)
	event := func(id, typ, user string, sec int, m *chatserver.Message) chatserver.ActivityEvent {
		return chatserver.ActivityEvent{ID: id, Type: typ, TS: at(4, sec, 0), User: user, Room: m.Room, MessageID: m.ID, Message: m}
	}
	batch := []chatserver.ActivityEvent{
		event("ev-11", chatserver.ActivityMessage, "alice", 0, sent),
		event("ev-12", chatserver.ActivityEdited, "bob", 10, edited),
		event("ev-13", chatserver.ActivityDeleted, "carol", 20, deleted),
		{ID: "ev-14", Type: chatserver.ActivityLogin, TS: at(4, 30, 0), User: "dave"},
		event("ev-15", chatserver.ActivityMessage, "alice", 40, poison),
	}
	wantOutcomes(t, c, batch, map[string]outcomeWant{
		"BothWrittenIsIndexed":                               {item: 0, status: 201, indexed: true},
		"OlderMessageVersionIsIndexed":                       {item: 1, status: 201, indexed: true},
		"MessageRefusedForGoodIsRefusedForGood":              {item: 2, status: 400, ofGood: true, reason: "chat-messages gdm:alice_bob_carol/5: document_parsing_exception: "},
		"EventWithoutMessageIsItsActivityWrite":              {item: 3, status: 503, reason: "unavailable_shards_exception: "},
		"ActivityRefusedForNowWinsOverMessageRefusedForGood": {item: 4, status: 429, reason: "es_rejected_execution_exception: "},
	})
}

// A search sends the reader's privacy filter, the narrowing filters and a
// prefix query per word, never query syntax, and reads the messages back.
func TestRecordedES8_SearchMessages(t *testing.T) {
	c := replay(t, "search_messages.json")
	res, err := c.SearchMessages(context.Background(), chatserver.SearchQuery{
		Reader: "alice", Words: []string{"stat", "or"}, Room: "dm:alice_bob", From: "bob", Before: at(5, 0, 0), Limit: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := chatserver.SearchResult{Total: 3, Messages: []chatserver.Message{
		{ID: "m-19", Room: "dm:alice_bob", Seq: 9, From: "bob", Text: "status: OR *", TS: at(4, 41, 512), Rev: 40,
			EditedTS: at(4, 50, 0), ReplyTo: 8, Mentions: []string{"alice"}},
		{ID: "m-14", Room: "dm:alice_bob", Seq: 4, From: "bob", Text: "Statistics or not", TS: at(1, 20, 4), Rev: 12},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %+v\nwant %+v", res, want)
	}
}

func TestSearchMessagesRejectsABadQuery(t *testing.T) {
	c, err := New(Config{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]chatserver.SearchQuery{
		"NoWords":         {Reader: "alice", Limit: 5},
		"NoReader":        {Words: []string{"hi"}, Limit: 5},
		"LimitTooLarge":   {Reader: "alice", Words: []string{"hi"}, Limit: chatserver.MaxSearchLimit + 1},
		"NegativeLimit":   {Reader: "alice", Words: []string{"hi"}, Limit: -1},
		"EmptyWordsSlice": {Reader: "alice", Words: []string{}, Limit: 5},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.SearchMessages(context.Background(), q); chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("%v, want bad_request", err)
			}
		})
	}
}

// Several indexers start at once: the message index that one of them
// created is there for the others, and only that refusal is no failure.
func TestCreateIndexByOutcome(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		code   string // "": success
	}{
		"CreatedIsDone": {status: 200, body: `{"acknowledged":true,"shards_acknowledged":true,"index":"chat-messages"}`},
		"AlreadyThereIsDone": {status: 400, body: `{"error":{"root_cause":[{"type":"resource_already_exists_exception","reason":"index [chat-messages/Lw3kP0cTQ0mX2eQ8yZKq5A] already exists","index_uuid":"Lw3kP0cTQ0mX2eQ8yZKq5A","index":"chat-messages"}],` +
			`"type":"resource_already_exists_exception","reason":"index [chat-messages/Lw3kP0cTQ0mX2eQ8yZKq5A] already exists","index_uuid":"Lw3kP0cTQ0mX2eQ8yZKq5A","index":"chat-messages"},"status":400}`},
		"OtherRefusalIsInternal": {status: 400, code: chatserver.EInternal,
			body: `{"error":{"root_cause":[{"type":"invalid_index_name_exception","reason":"Invalid index name [Chat], must be lowercase"}],"type":"invalid_index_name_exception","reason":"Invalid index name [Chat], must be lowercase"},"status":400}`},
		"OverloadIsUnavailable": {status: 503, code: chatserver.EUnavailable,
			body: `{"error":{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"},"status":503}`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut || r.URL.Path != "/chat-messages" {
					t.Errorf("%s %s, want PUT /chat-messages", r.Method, r.URL.Path)
				}
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("X-Elastic-Product", "Elasticsearch")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(Config{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = c.createIndex(context.Background(), c.messageIndex)
			if got := chatserver.ErrorCode(err); (tt.code == "") != (err == nil) || err != nil && got != tt.code {
				t.Fatalf("%v, want code %q", err, tt.code)
			}
		})
	}
}

func TestMessageIndexIsNeverAnActivityIndex(t *testing.T) {
	tests := map[string]struct {
		index, messages string
		want            string // "": refused
	}{
		"DefaultReplacesActivity": {index: "", want: "chat-messages"},
		"ActivitySuffixReplaced":  {index: "team-activity", want: "team-messages"},
		"OtherPrefixUnderscored":  {index: "chat", want: "chat_messages"},
		"BareActivitySuffix":      {index: "-activity", want: "-activity_messages"},
		"ChosenNameKept":          {index: "chat-activity", messages: "search", want: "search"},
		"ChosenNameInThePattern":  {index: "chat-activity", messages: "chat-activity-messages"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := New(Config{URL: "http://127.0.0.1:1", Index: tt.index, MessageIndex: tt.messages})
			switch {
			case tt.want == "":
				if chatserver.ErrorCode(err) != chatserver.EInternal {
					t.Fatalf("%v, want it refused", err)
				}
			case err != nil || c.messageIndex != tt.want:
				t.Fatalf("%v, %v; want %s", c, err, tt.want)
			}
		})
	}
}
