//go:build faults

package faults

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// received is one frame a worker receives in a test of its order check: a join
// reply (join set) or a message or update event.
type received struct {
	conn        int // which connection: a new one starts with nothing
	join        map[string]any
	messages    []chattest.Message
	changes     []chattest.Message
	changesMore bool
	event       string // "message" or "update"
	msg         chattest.Message
}

func msgAt(seq, rev int64) chattest.Message {
	return chattest.Message{ID: "m", Room: "lobby", Seq: seq, Rev: rev, From: "s1", TS: time.Unix(0, 0)}
}

func joinAt(since, sinceRev int64) map[string]any {
	cmd := map[string]any{"type": "join", "room": "lobby", "since_rev": sinceRev}
	if since >= 0 {
		cmd["since"] = since
	}
	return cmd
}

func TestWorkerOrderCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		frames     []received
		violations int
	}{
		{"events following the changes of the join reply pass", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 3), msgAt(2, 2)}, changes: []chattest.Message{msgAt(2, 2), msgAt(1, 3)}},
			{event: "message", msg: msgAt(3, 4)},
			{event: "update", msg: msgAt(2, 5)},
		}, 0},
		{"an event that skips a rev is a violation", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 1)}, changes: []chattest.Message{msgAt(1, 1)}},
			{event: "update", msg: msgAt(1, 3)},
		}, 1},
		{"an event after one of a higher rev is a violation", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 1)}, changes: []chattest.Message{msgAt(1, 1)}},
			{event: "message", msg: msgAt(2, 2)},
			{event: "update", msg: msgAt(1, 3)},
			{event: "update", msg: msgAt(2, 3)},
		}, 1},
		{"an update repeating a state the reply showed passes", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 4), msgAt(2, 2)}, changes: []chattest.Message{msgAt(2, 2), msgAt(1, 4)}},
			{event: "update", msg: msgAt(1, 3)},
			{event: "update", msg: msgAt(1, 4)},
			{event: "update", msg: msgAt(2, 5)},
		}, 0},
		{"a rev the reply showed in a message may be left out", []received{
			{join: joinAt(0, 0), messages: []chattest.Message{msgAt(1, 1), msgAt(2, 2)}, changes: []chattest.Message{msgAt(1, 1)}},
			{event: "update", msg: msgAt(1, 3)},
		}, 0},
		{"a reconnect resuming from since_rev passes", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 1)}, changes: []chattest.Message{msgAt(1, 1)}},
			{event: "update", msg: msgAt(1, 2)},
			{conn: 1, join: joinAt(1, 2), changes: []chattest.Message{msgAt(1, 3)}},
			{conn: 1, event: "message", msg: msgAt(2, 4)},
		}, 0},
		{"a reconnect that misses a rev is a violation", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 1)}, changes: []chattest.Message{msgAt(1, 1)}},
			{conn: 1, join: joinAt(1, 1), changes: []chattest.Message{}},
			{conn: 1, event: "update", msg: msgAt(1, 3)},
		}, 1},
		{"an event the worker had before its join is a violation after it", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 1)}, changes: []chattest.Message{msgAt(1, 1)}},
			{event: "update", msg: msgAt(1, 2)},
			{conn: 1, join: joinAt(1, 2), changes: []chattest.Message{}},
			{conn: 1, event: "update", msg: msgAt(1, 2)},
		}, 1},
		{"changes out of rev order in a join reply are a violation", []received{
			{join: joinAt(-1, 0), messages: []chattest.Message{msgAt(1, 2), msgAt(2, 1)}, changes: []chattest.Message{msgAt(1, 2), msgAt(2, 1)}},
		}, 1},
		{"events of a page still catching up need not follow", []received{
			{join: joinAt(-1, 0), changes: []chattest.Message{msgAt(1, 1)}, changesMore: true},
			{event: "update", msg: msgAt(3, 7)},
			{event: "update", msg: msgAt(3, 8)},
		}, 0},
		{"a gap before the join reply on one connection is a violation", []received{
			{event: "update", msg: msgAt(3, 7)},
			{event: "update", msg: msgAt(3, 9)},
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory()
			w := newWorker("w0", false, []string{"lobby"}, nil, h, 0, nil, 0)
			conns := []*wsConn{{}, {}}
			for _, f := range tc.frames {
				c := conns[f.conn]
				if f.join != nil {
					data, _ := json.Marshal(map[string]any{"room": "lobby", "messages": f.messages, "has_more": false, "changes": f.changes, "changes_more": f.changesMore})
					w.handle(c, chattest.Frame{Type: "reply", OK: true, Data: data}, f.join)
					continue
				}
				m := f.msg
				w.handle(c, chattest.Frame{Type: f.event, Message: &m}, nil)
			}
			if h.disorder != tc.violations {
				t.Errorf("%d violations, want %d: %v", h.disorder, tc.violations, h.samples)
			}
		})
	}
}

func TestRevsCheck(t *testing.T) {
	ack1 := ack{msg: chattest.Message{Room: "lobby", Seq: 1, Rev: 1, Text: "a"}}
	edit := func(state changeState, text string) *change {
		return &change{room: "lobby", seq: 1, user: "s1", edit: true, text: text, state: state}
	}
	react := func(state changeState, active bool) *change {
		return &change{room: "lobby", seq: 1, user: "s2", emoji: "👍", active: active, state: state}
	}
	unanswered := func(c *change) *change { c.unanswered = 1; return c }
	for _, tc := range []struct {
		name     string
		changes  []*change
		stored   chattest.Message
		rev      int64
		findings int
	}{
		{"a rev that counts every acknowledged change passes", []*change{edit(changeAcked, "b"), react(changeAcked, true)},
			chattest.Message{Seq: 1, Rev: 3, Text: "b"}, 3, 0},
		{"a rev above the changes made is a gap", []*change{edit(changeAcked, "b")},
			chattest.Message{Seq: 1, Rev: 3, Text: "b"}, 3, 1},
		{"a change acknowledged again without changing anything counts once", []*change{react(changeAcked, true), react(changeAcked, true)},
			chattest.Message{Seq: 1, Rev: 2, Text: "a"}, 2, 0},
		{"a change never acknowledged may or may not count", []*change{edit(changeOpen, "b")},
			chattest.Message{Seq: 1, Rev: 1, Text: "a"}, 1, 0},
		{"a refused change counts nothing", []*change{edit(changeRefused, "b")},
			chattest.Message{Seq: 1, Rev: 2, Text: "a"}, 2, 1},
		{"an unanswered try of an acknowledged change may have taken a rev", []*change{unanswered(edit(changeAcked, "b"))},
			chattest.Message{Seq: 1, Rev: 3, Text: "b"}, 3, 0},
		{"an unanswered try takes a rev at most", []*change{unanswered(edit(changeAcked, "b"))},
			chattest.Message{Seq: 1, Rev: 4, Text: "b"}, 4, 1},
		{"an acknowledged change still counts after an unanswered try", []*change{unanswered(edit(changeAcked, "b"))},
			chattest.Message{Seq: 1, Rev: 1, Text: "b"}, 1, 1},
		{"a room whose rev is not its latest change's is a gap", nil,
			chattest.Message{Seq: 1, Rev: 1, Text: "a"}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &ledger{changes: tc.changes}
			sr := storedRoom{msgs: []chattest.Message{tc.stored}, book: g.bookOf("lobby", []ack{ack1})}
			if got := judgeRevs(sr, []chattest.Message{tc.stored}, tc.rev); len(got) != tc.findings {
				t.Errorf("findings %q, want %d", got, tc.findings)
			}
		})
	}
}

func TestChangesCheck(t *testing.T) {
	ack1 := ack{msg: chattest.Message{Room: "lobby", Seq: 1, Rev: 1, Text: "a"}}
	edit := func(state changeState, text string, rev int64) *change {
		return &change{room: "lobby", seq: 1, user: "s1", edit: true, text: text, state: state, rev: rev}
	}
	react := func(state changeState, active bool, rev int64) *change {
		return &change{room: "lobby", seq: 1, user: "s2", emoji: "👍", active: active, state: state, rev: rev}
	}
	thumb := []chatserver.Reaction{{Emoji: "👍", Users: []string{"s2"}}}
	for _, tc := range []struct {
		name    string
		changes []*change
		stored  chattest.Message
		lost    int
	}{
		{"the text of the last acknowledged edit passes", []*change{edit(changeAcked, "b", 2), edit(changeAcked, "c", 3)},
			chattest.Message{Seq: 1, Rev: 3, Text: "c"}, 0},
		{"the text of an edit acknowledged before the last is lost", []*change{edit(changeAcked, "b", 2), edit(changeAcked, "c", 3)},
			chattest.Message{Seq: 1, Rev: 3, Text: "b"}, 1},
		{"the text of an edit tried after the last acknowledged passes", []*change{edit(changeAcked, "b", 2), edit(changeOpen, "c", 0)},
			chattest.Message{Seq: 1, Rev: 3, Text: "c"}, 0},
		{"a rev below an acknowledging reply's is lost", []*change{edit(changeAcked, "b", 2)},
			chattest.Message{Seq: 1, Rev: 1, Text: "b"}, 1},
		{"an acknowledged reaction there passes", []*change{react(changeAcked, true, 2)},
			chattest.Message{Seq: 1, Rev: 2, Text: "a", Reactions: thumb}, 0},
		{"an acknowledged reaction missing is lost", []*change{react(changeAcked, true, 2)},
			chattest.Message{Seq: 1, Rev: 2, Text: "a"}, 1},
		{"a reaction taken back and still there is lost", []*change{react(changeAcked, true, 2), react(changeAcked, false, 3)},
			chattest.Message{Seq: 1, Rev: 3, Text: "a", Reactions: thumb}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rig{past: &ledger{changes: tc.changes, reported: map[string]bool{}}}
			var v verdict
			r.judgeChanges("lobby", []chattest.Message{tc.stored}, r.past.bookOf("lobby", []ack{ack1}), &v)
			if v.lost != tc.lost {
				t.Errorf("%d lost, want %d: %v", v.lost, tc.lost, v.problems)
			}
		})
	}
}
