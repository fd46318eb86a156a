package httpapi_test

// The command path under abuse: what a short command may draw, what
// malformed input and floods cost the sender, who may leave what, which
// texts are stored, how long a connection outlives its session, and what
// churn leaves in the activity log.

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// counter reads the counter metric{label} (its one label) from the
// server's metrics; 0 when it has not counted yet.
func counter(t *testing.T, s *testServer, metric, label string) float64 {
	t.Helper()
	mfs, err := s.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// limited reads chat_limited_total{limit}.
func limited(t *testing.T, s *testServer, limit string) float64 {
	t.Helper()
	return counter(t, s, "chat_limited_total", limit)
}

// fill stores n messages of text in room from c, pipelined without ids
// (which draw no replies), and returns once they are stored.
func fill(t *testing.T, c *chattest.Client, room, text string, n int) {
	t.Helper()
	for i := range n {
		sendFrame(t, c, fmt.Sprintf(`{"type":"send","room":%q,"text":%q,"cid":"fill-%d"}`, room, text, i))
	}
	send(c, room, "last", "fill-last") // answered after every send before it
}

func TestAShortJoinDrawsAtMostAPageOfBytes(t *testing.T) {
	const budget = 64 << 10
	s := newServer(t, "CHAT_PAGE_BYTES", fmt.Sprint(budget))
	alice, _ := s.user(t, "alice")
	const n = 40
	fill(t, alice, "long", strings.Repeat("é", chatserver.MaxTextLen), n) // 8000 bytes each
	bob, _ := s.user(t, "bob")
	var seqs []int64
	since := int64(0)
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging never ended")
		}
		f := bob.Command(map[string]any{"type": "join", "room": "long", "since": since})
		if !f.OK || len(f.Raw) > budget+512 {
			t.Fatalf("a reply of %d bytes: %.200s", len(f.Raw), f.Raw)
		}
		var p page
		decode(t, f.Data, &p)
		for _, m := range p.Messages {
			seqs = append(seqs, m.Seq)
		}
		since = p.Messages[len(p.Messages)-1].Seq
		if !p.HasMore {
			break
		}
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("paging gave seqs %v", seqs)
		}
	}
	if len(seqs) != n+1 {
		t.Fatalf("paging gave %d messages, want %d", len(seqs), n+1)
	}
	if limited(t, s, "page_bytes") == 0 {
		t.Fatal("chat_limited_total{limit=page_bytes} did not count the cut pages")
	}
}

func TestRepliesCountInTheRateLimitInBytes(t *testing.T) {
	s := newServer(t, "CHAT_RATE_LIMIT", "100", "CHAT_RATE_BURST", "100",
		"CHAT_RATE_BYTES", fmt.Sprint(16<<10), "CHAT_RATE_BYTES_BURST", fmt.Sprint(16<<10))
	alice, _ := s.user(t, "alice")
	fill(t, alice, "big", strings.Repeat("x", chatserver.MaxTextLen), 10)
	bob, _ := s.user(t, "bob")
	if f := bob.Command(map[string]any{"type": "join", "room": "big", "since": 0}); !f.OK {
		t.Fatalf("the first join: %.200s", f.Raw)
	}
	f := bob.Command(map[string]any{"type": "history", "room": "big"})
	if f.OK || f.Error.Code != chatserver.ERateLimited {
		t.Fatalf("a command after 40 KB of replies, with 16 KB a second: %.200s", f.Raw)
	}
	if limited(t, s, "reply_bytes") == 0 {
		t.Fatal("chat_limited_total{limit=reply_bytes} did not count the refusal")
	}
}

func TestMalformedInputCostsTheRateLimitAndAFloodIsClosedWith1008(t *testing.T) {
	const burst, flood = 5, 10
	s := newServer(t, "CHAT_RATE_LIMIT", "1", "CHAT_RATE_BURST", fmt.Sprint(burst), "CHAT_RATE_FLOOD", fmt.Sprint(flood))
	t.Run("MalformedObjectsUseUpTheAllowance", func(t *testing.T) {
		alice, _ := s.user(t, "alice")
		sendFrame(t, alice, strings.Repeat("x\n", burst))
		for range burst {
			if f := alice.Next(func(f chattest.Frame) bool { return f.Type == "error" }); f.Error.Code != chatserver.EBadRequest {
				t.Fatalf("got %s, want bad_request", f.Raw)
			}
		}
		if f := alice.Command(map[string]any{"type": "history", "room": "general"}); f.OK || f.Error.Code != chatserver.ERateLimited {
			t.Fatalf("a command after %d malformed ones: %s", burst, f.Raw)
		}
	})
	t.Run("AFloodIsClosedAfterFewAnswers", func(t *testing.T) {
		bob, _ := s.user(t, "bob")
		garbage := strings.Repeat("x\n", 2000)
		sendFrame(t, bob, garbage)
		answers, replied := 0, 0
		for {
			f, err := bob.NextErr(func(f chattest.Frame) bool { return f.Type == "error" })
			if err != nil {
				break // closed, or silent
			}
			answers++
			replied += len(f.Raw) + 1
		}
		if code := closeCode(bob.Err()); code != websocket.ClosePolicyViolation {
			t.Fatalf("the flood ended with %v after %d answers, want close 1008", bob.Err(), answers)
		}
		// The answers queued when the flood is closed may be dropped with
		// the queue, as for any 1008.
		if answers > burst+flood+1 || replied >= len(garbage) {
			t.Fatalf("%d bytes of garbage drew %d answers, %d bytes", len(garbage), answers, replied)
		}
		if limited(t, s, "flood") != 1 {
			t.Fatal("chat_limited_total{limit=flood} did not count the close")
		}
	})
}

func TestLeavingSomeoneElsesDMIsForbiddenAndUnrecorded(t *testing.T) {
	s := newServer(t)
	s.user(t, "alice")
	s.user(t, "bob")
	carol, _ := s.user(t, "carol")
	if f := carol.Command(map[string]any{"type": "leave", "room": "dm:alice_bob"}); f.OK || f.Error.Code != chatserver.EForbidden {
		t.Fatalf("carol left alice and bob's DM: %s", f.Raw)
	}
	adminTok := chattest.Login(t, s.URL, "admin", "adminpass1")
	st, body := chattest.Do(t, "GET", s.URL+"/api/activity?user=carol&type=room.leave", adminTok, nil)
	if st != 200 || !strings.Contains(string(body), `"total":0`) {
		t.Fatalf("carol's leaves: %d %s", st, body)
	}
}

func TestTextThatHidesOrReordersItselfIsRefused(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	tests := map[string]string{
		"RightToLeftOverride": `{"type":"send","id":1,"room":"general","text":"invoice\u202efdp.exe","cid":"t1"}`,
		"NUL":                 `{"type":"send","id":2,"room":"general","text":"a\u0000b","cid":"t2"}`,
		"ZeroWidthSpace":      `{"type":"send","id":3,"room":"general","text":"pay\u200bpal.com","cid":"t3"}`,
		"InvalidUTF8":         "{\"type\":\"send\",\"id\":4,\"room\":\"general\",\"text\":\"a\xffb\",\"cid\":\"t4\"}",
		"ControlInTheCID":     `{"type":"send","id":5,"room":"general","text":"fine","cid":"t\u001b5"}`,
	}
	for name, frame := range tests {
		t.Run(name, func(t *testing.T) {
			sendFrame(t, alice, frame)
			f := alice.Next(func(f chattest.Frame) bool { return f.Type == "reply" })
			if f.OK || f.Error.Code != chatserver.EBadRequest {
				t.Fatalf("got %s, want bad_request", f.Raw)
			}
		})
	}
	var p page
	alice.OK(map[string]any{"type": "history", "room": "general"}, &p)
	if len(p.Messages) != 0 {
		t.Fatalf("stored %+v", p.Messages)
	}
	t.Run("AUserNameThatLowerCasesToASCII", func(t *testing.T) {
		st, body := chattest.Do(t, "POST", s.URL+"/api/session", "", map[string]string{"username": "\u212Alice", "password": pw})
		if st != 400 {
			t.Fatalf("%d %s", st, body)
		}
	})
}

func TestAWebSocketClosesWith1008WhenItsSessionExpires(t *testing.T) {
	s := newServer(t, "CHAT_SESSION_TTL", "2s")
	alice, tok := s.user(t, "alice")
	if code := alice.WaitClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want 1008", code)
	}
	if st := upgradeStatus(t, s.URL, tok, nil); st != 401 {
		t.Fatalf("upgrade after the session expired: %d", st)
	}
}

func TestJoiningMoreRoomsThanMaxRoomsIsRefused(t *testing.T) {
	s := newServer(t, "CHAT_MAX_ROOMS", "2")
	alice, _ := s.user(t, "alice")
	join := func(room string) chattest.Frame { return alice.Command(map[string]any{"type": "join", "room": room}) }
	for _, r := range []string{"a", "b"} {
		if f := join(r); !f.OK {
			t.Fatal(f.Raw)
		}
	}
	if f := join("c"); f.OK || f.Error.Code != chatserver.EBadRequest {
		t.Fatalf("a third room: %s", f.Raw)
	}
	alice.OK(map[string]any{"type": "leave", "room": "a"}, nil)
	if f := join("c"); !f.OK {
		t.Fatalf("a room in place of one left: %s", f.Raw)
	}
	if limited(t, s, "rooms") != 1 {
		t.Fatal("chat_limited_total{limit=rooms} did not count the refusal")
	}
}

func TestConnectionChurnDoesNotFloodTheActivityLog(t *testing.T) {
	s := newServer(t, "CHAT_CONNECT_EVENTS", "3")
	tok := chattest.Login(t, s.URL, "alice", pw)
	for range 10 {
		c := chattest.Dial(t, s.URL, tok)
		c.Close()
	}
	adminTok := chattest.Login(t, s.URL, "admin", "adminpass1")
	count := func(typ string) string {
		_, body := chattest.Do(t, "GET", s.URL+"/api/activity?user=alice&type="+url.QueryEscape(typ), adminTok, nil)
		var res struct{ Total int }
		decode(t, body, &res)
		return fmt.Sprint(res.Total)
	}
	// A connection's disconnect is recorded before it stops counting in
	// presence: once alice is offline, every close has been recorded.
	chattest.Eventually(t, chattest.Timeout, "alice offline", func() bool {
		_, body := chattest.Do(t, "GET", s.URL+"/api/users", adminTok, nil)
		return strings.Contains(string(body), `"id":"alice","status":"offline"`)
	})
	for _, typ := range []string{"ws.connect", "ws.disconnect"} {
		if got := count(typ); got != "3" {
			t.Errorf("%s %s events recorded, want 3", got, typ)
		}
	}
}
