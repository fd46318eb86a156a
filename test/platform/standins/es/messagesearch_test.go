package es_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// chatMessage is a message sent at base+sec.
func chatMessage(room string, seq, rev int64, from string, sec int, text string) chatserver.Message {
	return chatserver.Message{ID: fmt.Sprintf("m-%s-%d", room, seq), Room: room, Seq: seq, Rev: rev, From: from,
		Text: text, TS: base.Add(time.Duration(sec) * time.Second)}
}

// change is the event of a change to m, as the chat server records it.
func change(id, typ string, m chatserver.Message) chatserver.ActivityEvent {
	ts := m.TS
	if !m.EditedTS.IsZero() {
		ts = m.EditedTS
	}
	return chatserver.ActivityEvent{ID: id, Type: typ, TS: ts, User: m.From, Room: m.Room, MessageID: m.ID, Message: &m}
}

func edit(m chatserver.Message, rev int64, sec int, text string) chatserver.Message {
	m.Rev, m.Text, m.EditedTS = rev, text, base.Add(time.Duration(sec)*time.Second)
	return m
}

func del(m chatserver.Message, rev int64, sec int) chatserver.Message {
	m.Rev, m.Text, m.Deleted, m.EditedTS = rev, "", true, base.Add(time.Duration(sec)*time.Second)
	return m
}

// TestClient_MessageSearch writes message changes with the indexer's client
// (redelivered, and out of order) and searches them as the chat server
// does: every word a word prefix in any case, newest first, an exact total,
// only what the reader may read, deleted messages never, edited ones by
// their current text, and query syntax as plain words.
func TestClient_MessageSearch(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := client(t, n.URL, "chat-activity")
	ctx := context.Background()
	search := func(reader, text string) chatserver.SearchQuery {
		return chatserver.SearchQuery{Reader: reader, Words: chatserver.SearchWords(text), Limit: chatserver.MaxSearchLimit}
	}

	if res, err := c.SearchMessages(ctx, search("alice", "hello")); err != nil || res.Total != 0 || len(res.Messages) != 0 {
		t.Fatalf("search before the index exists: %+v, %v", res, err)
	}
	for range 2 {
		if err := c.EnsureTemplate(ctx); err != nil {
			t.Fatal("template:", err)
		}
	}

	hello := chatMessage("general", 1, 1, "alice", 1, "Hello World from the Platform")
	again := chatMessage("general", 2, 2, "bob", 2, "hello again @alice, worlds apart")
	again.ReplyTo, again.Mentions, again.CID = 1, []string{"alice"}, "c-2"
	secret := chatMessage("dm:alice_bob", 1, 1, "alice", 3, "secret HELLO plans")
	syntax := chatMessage("general", 3, 3, "carol", 4, `Query syntax: status:open AND (x OR y) "quoted" *star* \escape`)
	typo := chatMessage("general", 4, 4, "bob", 5, "typo helo")
	fixed := edit(typo, 5, 20, "fixed text zebra")
	doomed := chatMessage("general", 5, 6, "alice", 6, "delete me hello")
	group := chatMessage("gdm:alice_bob_carol", 1, 1, "carol", 7, "hello group")
	unicode := chatMessage("random", 1, 1, "dave", 8, "Ünïcode Straße")
	last := chatMessage("random", 2, 2, "dave", 30, "sentinel")

	batches := [][]chatserver.ActivityEvent{
		{change("ev-1", chatserver.ActivityMessage, hello), change("ev-2", chatserver.ActivityMessage, again),
			change("ev-3", chatserver.ActivityMessage, secret), change("ev-4", chatserver.ActivityMessage, syntax)},
		// The edit arrives before the send it changes, and twice.
		{change("ev-6", chatserver.ActivityEdited, fixed), change("ev-6", chatserver.ActivityEdited, fixed),
			change("ev-5", chatserver.ActivityMessage, typo), change("ev-7", chatserver.ActivityMessage, doomed)},
		{change("ev-8", chatserver.ActivityDeleted, del(doomed, 7, 21)), change("ev-9", chatserver.ActivityMessage, group),
			change("ev-10", chatserver.ActivityMessage, unicode)},
		// Redelivered: the first batch again, the send of the deleted
		// message after its delete.
		{change("ev-1", chatserver.ActivityMessage, hello), change("ev-2", chatserver.ActivityMessage, again),
			change("ev-7", chatserver.ActivityMessage, doomed), change("ev-11", chatserver.ActivityMessage, last)},
	}
	for i, batch := range batches {
		outcomes, err := c.BulkItems(ctx, batch)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		for j, o := range outcomes {
			if !o.Indexed() {
				t.Fatalf("batch %d, event %s: %+v", i, batch[j].ID, o)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.SearchMessages(ctx, search("dave", "sentinel"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Total == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the last message never became searchable")
		}
		time.Sleep(50 * time.Millisecond)
	}

	before := func(q chatserver.SearchQuery, m chatserver.Message) chatserver.SearchQuery { q.Before = m.TS; return q }
	tests := map[string]struct {
		q    chatserver.SearchQuery
		want []chatserver.Message
	}{
		"PrefixInAnyCaseNewestFirst":         {q: search("alice", "HEL"), want: []chatserver.Message{group, secret, again, hello}},
		"EveryWordMustMatch":                 {q: search("alice", "hello WORLD"), want: []chatserver.Message{again, hello}},
		"ThirdUserNeverSeesTheDM":            {q: search("carol", "hello plans"), want: nil},
		"GroupMemberSeesTheGroup":            {q: search("carol", "hel"), want: []chatserver.Message{group, again, hello}},
		"OutsiderSeesPublicRoomsOnly":        {q: search("dave", "hello"), want: []chatserver.Message{again, hello}},
		"MemberSeesTheDM":                    {q: search("bob", "plans"), want: []chatserver.Message{secret}},
		"DeletedIsNeverFound":                {q: search("alice", "delete"), want: nil},
		"EditedIsFoundByItsNewText":          {q: search("alice", "zebra"), want: []chatserver.Message{fixed}},
		"EditedIsNotFoundByItsOldText":       {q: search("alice", "typo"), want: nil},
		"QuerySyntaxIsText":                  {q: search("dave", `status:open AND (x OR y`), want: []chatserver.Message{syntax}},
		"QuotesAndStarsAreText":              {q: search("dave", `"quoted" *sta \esc`), want: []chatserver.Message{syntax}},
		"UnicodeInAnyCase":                   {q: search("dave", "ÜNÏ STRAß"), want: []chatserver.Message{unicode}},
		"RoomNarrows":                        {q: chatserver.SearchQuery{Reader: "alice", Words: []string{"hel"}, Room: "dm:alice_bob", Limit: 5}, want: []chatserver.Message{secret}},
		"SenderNarrows":                      {q: chatserver.SearchQuery{Reader: "alice", Words: []string{"hel"}, From: "bob", Limit: 5}, want: []chatserver.Message{again}},
		"BeforeNarrows":                      {q: before(search("alice", "hel"), secret), want: []chatserver.Message{again, hello}},
		"NoWordStartsWithTheMiddleOfAWord":   {q: search("alice", "ello"), want: nil},
		"NoMessageHasEveryWordOfTwoOfThem":   {q: search("alice", "secret platform"), want: nil},
		"ReaderOfNoRoomStillSeesThePublic":   {q: search("zoe", "sentinel"), want: []chatserver.Message{last}},
		"MemberSeesEveryRoomOfIts":           {q: search("bob", "hello"), want: []chatserver.Message{group, secret, again, hello}},
		"AMessageMatchesEveryWordInAnyOrder": {q: search("alice", "platform hello the"), want: []chatserver.Message{hello}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := c.SearchMessages(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != int64(len(tt.want)) || !sameMessages(res.Messages, tt.want) {
				t.Fatalf("total %d, %v; want %d, %v", res.Total, seqs(res.Messages), len(tt.want), seqs(tt.want))
			}
		})
	}

	t.Run("TotalCountsBeyondTheLimit", func(t *testing.T) {
		q := search("alice", "hel")
		q.Limit = 2
		res, err := c.SearchMessages(ctx, q)
		if err != nil || res.Total != 4 || !sameMessages(res.Messages, []chatserver.Message{group, secret}) {
			t.Fatalf("%d, %v, %v; want 4 in all, the newest two", res.Total, seqs(res.Messages), err)
		}
	})
	t.Run("DeletedIsATombstoneAtItsRev", func(t *testing.T) {
		status, _, body := call(t, "GET", n.URL+"/chat-messages/_doc/"+url.PathEscape("general/5"), "", "")
		src, _ := body["_source"].(map[string]any)
		if status != 200 || body["_version"] != 7.0 || src["deleted"] != true || src["text"] != nil || src["words"] != nil {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("ActivityNeverHoldsTheText", func(t *testing.T) {
		status, _, body := call(t, "GET", n.URL+"/chat-activity-2026.03.01/_doc/ev-6", "", "")
		src, _ := body["_source"].(map[string]any)
		if status != 200 || src["message_id"] != fixed.ID || src["message"] != nil || src["text"] != nil {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("MessagesAreNoActivity", func(t *testing.T) {
		if res, err := c.Search(ctx, chatserver.ActivityQuery{}); err != nil || res.Total != 11 {
			t.Fatalf("%d activity events, %v; want 11", res.Total, err)
		}
	})
}

// sameMessages compares what the index gives back of messages: all but
// their client ids and reactions.
func sameMessages(got, want []chatserver.Message) bool {
	return slices.EqualFunc(got, want, func(a, b chatserver.Message) bool {
		return a.ID == b.ID && a.Room == b.Room && a.Seq == b.Seq && a.From == b.From && a.Text == b.Text && a.TS.Equal(b.TS) &&
			a.Rev == b.Rev && a.EditedTS.Equal(b.EditedTS) && a.ReplyTo == b.ReplyTo && slices.Equal(a.Mentions, b.Mentions) && !a.Deleted
	})
}

func seqs(ms []chatserver.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s/%d", m.Room, m.Seq)
	}
	return out
}
