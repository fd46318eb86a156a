package httpapi_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// Every bad search gets the contract's status; none of them ends anything.
func TestSearchRefusesBadInput(t *testing.T) {
	s := newServer(t)
	_, tok := s.user(t, "alice")
	s.user(t, "bob")
	s.user(t, "carol")
	tests := []struct {
		name   string
		params url.Values
		status int
	}{
		{"no q", url.Values{}, 400},
		{"an empty q", url.Values{"q": {""}}, 400},
		{"a q of 201 characters", url.Values{"q": {strings.Repeat("é", 201)}}, 400},
		{"a q without a word", url.Values{"q": {`"*" - ( ) :`}}, 400},
		{"a q with a control character", url.Values{"q": {"a\x00b"}}, 400},
		{"limit 0", url.Values{"q": {"x"}, "limit": {"0"}}, 400},
		{"limit 51", url.Values{"q": {"x"}, "limit": {"51"}}, 400},
		{"a limit that is no number", url.Values{"q": {"x"}, "limit": {"ten"}}, 400},
		{"a malformed before", url.Values{"q": {"x"}, "before": {"yesterday"}}, 400},
		{"a malformed room", url.Values{"q": {"x"}, "room": {"No Room!"}}, 400},
		{"a malformed from", url.Values{"q": {"x"}, "from": {"Not A User"}}, 400},
		{"someone else's DM", url.Values{"q": {"x"}, "room": {"dm:bob_carol"}}, 403},
		{"someone else's group DM", url.Values{"q": {"x"}, "room": {"gdm:bob_carol_dave"}}, 403},
		{"a q of 200 characters", url.Values{"q": {strings.Repeat("é", 200)}}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st, _ := chattest.Search(t, s.URL, tok, tt.params); st != tt.status {
				t.Fatalf("status %d, want %d", st, tt.status)
			}
		})
	}
	if st, _ := chattest.Search(t, s.URL, "", url.Values{"q": {"x"}}); st != 401 {
		t.Fatalf("a search without a session: status %d, want 401", st)
	}
}

// A user finds by word prefix, at once, what they may read and nothing else:
// a third user never learns that a DM message exists, not even by total.
func TestSearchFindsWhatTheUserMayReadByWordPrefix(t *testing.T) {
	s := newServer(t)
	alice, aliceTok := s.user(t, "alice")
	bob, bobTok := s.user(t, "bob")
	carol, carolTok := s.user(t, "carol")
	for _, c := range []*chattest.Client{alice, bob, carol} {
		c.OK(map[string]any{"type": "join", "room": "general"}, nil)
	}
	s.user(t, "dave")
	// Each message in a millisecond of its own, so that newest first is one order.
	sendApart := func(c *chattest.Client, room, text, cid string) chattest.Message {
		time.Sleep(3 * time.Millisecond)
		return send(c, room, text, cid)
	}
	pub := sendApart(carol, "general", "Deploy on Friday? No.", "p1")
	dm := sendApart(alice, "dm:alice_bob", "The deployment finished at noon", "d1")
	group := sendApart(bob, "gdm:alice_bob_dave", "deployed the hotfix", "g1")
	sendApart(alice, "general", "lunch at noon", "p2")

	ids := func(res chatserver.SearchResult) []string {
		var out []string
		for _, m := range res.Messages {
			out = append(out, m.ID)
		}
		return out
	}
	search := func(tok string, params url.Values) chatserver.SearchResult {
		t.Helper()
		st, res := chattest.Search(t, s.URL, tok, params)
		if st != 200 {
			t.Fatalf("search %v: status %d", params, st)
		}
		return res
	}
	tests := []struct {
		name   string
		tok    string
		params url.Values
		want   []string // newest first
	}{
		{"a prefix in any case finds every readable room's messages", aliceTok, url.Values{"q": {"DEPLO"}}, []string{group.ID, dm.ID, pub.ID}},
		{"every word must match", aliceTok, url.Values{"q": {"deplo noo"}}, []string{dm.ID}},
		{"a third user sees only the public room", carolTok, url.Values{"q": {"deplo"}}, []string{pub.ID}},
		{"a third user finds nothing of a DM by its own words", carolTok, url.Values{"q": {"finished"}}, nil},
		{"room narrows", bobTok, url.Values{"q": {"deplo"}, "room": {"dm:alice_bob"}}, []string{dm.ID}},
		{"from narrows", bobTok, url.Values{"q": {"deplo"}, "from": {"bob"}}, []string{group.ID}},
		{"limit pages, newest first", aliceTok, url.Values{"q": {"deplo"}, "limit": {"1"}}, []string{group.ID}},
		{"before narrows", aliceTok, url.Values{"q": {"deplo"}, "before": {chatserver.Timestamp(dm.TS)}}, []string{pub.ID}},
		{"a word inside another is no prefix", aliceTok, url.Values{"q": {"ploy"}}, nil},
		{"query syntax is searched as text", aliceTok, url.Values{"q": {`"deplo*" OR NEAR(`}}, nil},
		{"quotes and stars around a word still find it", aliceTok, url.Values{"q": {`"hotfix*"`}}, []string{group.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := search(tt.tok, tt.params)
			if got := ids(res); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("found %v, want %v", got, tt.want)
			}
		})
	}
	if res := search(carolTok, url.Values{"q": {"deplo"}}); res.Total != 1 {
		t.Errorf("carol's total %d, want 1: the DM and the group DM must not count", res.Total)
	}
	if res := search(aliceTok, url.Values{"q": {"deplo"}, "limit": {"1"}}); res.Total != 3 {
		t.Errorf("alice's total %d, want 3 with a page of 1", res.Total)
	}
	if m := search(aliceTok, url.Values{"q": {"finished"}}).Messages; len(m) != 1 || m[0].Room != "dm:alice_bob" ||
		m[0].From != "alice" || m[0].Text != dm.Text || m[0].Seq != dm.Seq || !m[0].TS.Equal(dm.TS) {
		t.Errorf("found %+v, want the DM as sent", m)
	}

	// An edit is found by its new text only; a delete is never found.
	alice.OK(map[string]any{"type": "edit", "room": "dm:alice_bob", "seq": dm.Seq, "text": "rollout done"}, nil)
	if got := ids(search(aliceTok, url.Values{"q": {"finished"}})); got != nil {
		t.Errorf("the old text of an edited message found %v", got)
	}
	if got := ids(search(bobTok, url.Values{"q": {"rollo"}})); strings.Join(got, ",") != dm.ID {
		t.Errorf("the new text found %v, want %s", got, dm.ID)
	}
	carol.OK(map[string]any{"type": "delete", "room": "general", "seq": pub.Seq}, nil)
	if res := search(carolTok, url.Values{"q": {"friday"}}); res.Total != 0 || len(res.Messages) != 0 {
		t.Errorf("a deleted message found: %+v", res)
	}
}
