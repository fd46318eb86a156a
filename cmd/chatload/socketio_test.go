package main

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSocketIOGreet(t *testing.T) {
	testGreet(t, socketIOProtocol{}, map[string]greetCase{
		"the Engine.IO open is answered with a connect": {
			msg:   `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
			reply: "40",
		},
		"the connect makes the session ready":     {msg: `40{"sid":"wZX3oN0bSVIhsaknAAAI"}`, ready: true},
		"a ping before the connect is answered":   {msg: "2", reply: "3"},
		"a refused connect is an error":           {msg: `44{"message":"Not authorized"}`, errText: `refused the connection: {"message":"Not authorized"}`},
		"an event before the connect is an error": {msg: `42["message",{}]`, errText: "not a Socket.IO open or connect"},
		"an empty message is an error":            {msg: "", errText: "not a Socket.IO open or connect"},
	})
}

func TestSocketIONext(t *testing.T) {
	text := string(appendText(nil, stamp{sentAt: 123456789, origin: 1, pub: 3, n: 42}, 64))
	testNext(t, socketIOProtocol{}, map[string]nextCase{
		"a message from a publisher of the run": {
			`42["message",{"room":"bench-max-1a","text":"` + text + `"}]`,
			event{kind: kindMessage, seq: 42, stream: 3, sentAt: 123456789, origin: 1},
		},
		"a message with its text first": {
			`42["message",{"text":"` + text + `","room":"r"}]`,
			event{kind: kindMessage, seq: 42, stream: 3, sentAt: 123456789, origin: 1},
		},
		"a message from someone else is in no stream": {
			`42["message",{"room":"r","text":"hello"}]`,
			event{kind: kindMessage, stream: -1, seq: -1, sentAt: -1, origin: -1},
		},
		"a message with only the send time is in no stream": {
			`42["message",{"room":"r","text":"77.0 x"}]`,
			event{kind: kindMessage, stream: -1, seq: -1, sentAt: 77, origin: 0},
		},
		"the ack of a send":           {`436401[]`, event{kind: kindReply, re: 6401, ok: true, sentAt: -1, origin: -1}},
		"the ack of a join":           {`431[]`, event{kind: kindReply, re: joinID, ok: true, sentAt: -1, origin: -1}},
		"an ack with arguments":       {`4312["ok",{"n":1}]`, event{kind: kindReply, re: 12, ok: true, sentAt: -1, origin: -1}},
		"an ack without an id":        {`43[]`, event{kind: kindOther, sentAt: -1, origin: -1}},
		"a ping":                      {`2`, event{kind: kindPing, sentAt: -1, origin: -1}},
		"a disconnect":                {`41`, event{kind: kindClose, sentAt: -1, origin: -1}},
		"an Engine.IO close":          {`1`, event{kind: kindClose, sentAt: -1, origin: -1}},
		"an Engine.IO noop":           {`6`, event{kind: kindOther, sentAt: -1, origin: -1}},
		"another event":               {`42["presence",{"user":"x"}]`, event{kind: kindOther, sentAt: -1, origin: -1}},
		"a second connect is ignored": {`40{"sid":"x"}`, event{kind: kindOther, sentAt: -1, origin: -1}},
	})

}

func TestSocketIOCommands(t *testing.T) {
	p := socketIOProtocol{}
	testWritten(t, map[string][2]string{
		"a join with its ack id": {string(p.appendJoin(nil, joinID, "bench-max-1a")), `421["join","bench-max-1a"]`},
		"a room that needs escaping": {
			string(p.appendJoin([]byte("x"), 7, `a"b\c`)), `x427["join","a\"b\\c"]`,
		},
		"a send with its ack id, without the client id": {
			string(p.appendSend(nil, 6403, "r", stamp{sentAt: 5, origin: 0, pub: 1, n: 25}, 12, "p1-")),
			`426403["send",{"room":"r","text":"5.0.1.25 xxx"}]`,
		},
		"the pong": {string(p.pong()), "3"},
		"the endpoint of a plain server": {
			endpoint(p, url.URL{Scheme: "http", Host: "127.0.0.1:3000"}), "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket",
		},
		"the endpoint of a TLS server": {
			endpoint(p, url.URL{Scheme: "https", Host: "chat.example:443"}), "wss://chat.example:443/socket.io/?EIO=4&transport=websocket",
		},
	})
}

// TestSocketIOSendRoundTrip sends through the framing and receives what the
// relay of hack/peers/socketio echoes: the same stamp comes back.
func TestSocketIOSendRoundTrip(t *testing.T) {
	st := stamp{sentAt: 987654321012, origin: 2, pub: 1, n: 99}
	cmd := socketIOProtocol{}.appendSend(nil, 99*256+3, "bench-paced-1", st, 64, "")
	body, ok := strings.CutPrefix(string(cmd), "4225347")
	if !ok {
		t.Fatalf("send %s does not start with its ack id", cmd)
	}
	payload := strings.TrimSuffix(strings.TrimPrefix(body, `["send",`), "]")
	var ev event
	socketIOProtocol{}.next([]byte(`42["message",`+payload+`]`), &ev)
	if ev.kind != kindMessage || ev.sentAt != st.sentAt || ev.origin != st.origin || ev.stream != st.pub || ev.seq != st.n {
		t.Errorf("the echo parsed as %+v, want the stamp %+v", ev, st)
	}
}

// sentTexts records what a connection sent back.
type sentTexts []string

func (s *sentTexts) sendText(msg []byte) error {
	*s = append(*s, string(msg))
	return nil
}

// TestSubscriberChecksEachPublisher runs Socket.IO frames through a
// subscriber of a run with two publishers: gaps, duplicates and reorderings
// count per publisher, from the counts the texts carry.
func TestSubscriberChecksEachPublisher(t *testing.T) {
	msg := func(pub int, n int64) string {
		return `42["message",{"room":"r","text":"` + string(appendText(nil, stamp{sentAt: 1, pub: pub, n: n}, 40)) + `"}]`
	}
	tests := map[string]struct {
		frames            []string
		gaps, dupes, ooo  uint64
		last0, last1      int64
		delivered, pongs  int
		endsWithErrorText string
	}{
		"two publishers interleaved, each in order": {
			frames: []string{msg(0, 1), msg(1, 1), msg(1, 2), msg(0, 2), msg(0, 3)}, last0: 3, last1: 2, delivered: 5,
		},
		"a count skipped by one publisher is a gap of its own": {
			frames: []string{msg(0, 1), msg(1, 1), msg(0, 4), msg(1, 2)}, gaps: 2, last0: 4, last1: 2, delivered: 4,
		},
		"a count twice is a duplicate": {
			frames: []string{msg(1, 1), msg(1, 2), msg(1, 2)}, dupes: 1, last0: 0, last1: 2, delivered: 3,
		},
		"a count lower than the last is out of order": {
			frames: []string{msg(0, 1), msg(0, 3), msg(0, 2)}, gaps: 1, ooo: 1, last0: 3, last1: 0, delivered: 3,
		},
		"a first message after 1 is a gap": {
			frames: []string{msg(0, 3)}, gaps: 2, last0: 3, last1: 0, delivered: 1,
		},
		"messages of no publisher of the run are counted, not checked": {
			frames: []string{msg(5, 9), `42["message",{"room":"r","text":"hi"}]`, msg(0, 1)}, last0: 1, last1: 0, delivered: 3,
		},
		"a ping is answered with a pong": {
			frames: []string{"2", msg(0, 1), "2"}, last0: 1, last1: 0, delivered: 1, pongs: 2,
		},
		"a disconnect ends the subscriber": {
			frames: []string{msg(0, 1), "41"}, last0: 1, last1: 0, delivered: 1, endsWithErrorText: "session ended",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			w := &span{}
			w.end.Store(math.MaxInt64) // every message is in the window
			s := newSubscriber(&bench{epoch: time.Now()}, w, 0, socketIOProtocol{}, 2)
			var out sentTexts
			s.out = &out
			frames := append([]string{"431[]"}, tt.frames...)
			var err error
			for _, f := range frames {
				if err = s.frame([]byte(f)); err != nil {
					break
				}
			}
			switch {
			case tt.endsWithErrorText == "" && err != nil:
				t.Fatalf("frame: %v", err)
			case tt.endsWithErrorText != "" && (err == nil || !strings.Contains(err.Error(), tt.endsWithErrorText)):
				t.Fatalf("frame = %v, want an error with %q", err, tt.endsWithErrorText)
			}
			if !isDone(s.joined) {
				t.Error("the join's ack did not join")
			}
			if s.gaps != tt.gaps || s.dupes != tt.dupes || s.ooo != tt.ooo {
				t.Errorf("gaps %d dupes %d ooo %d; want %d %d %d", s.gaps, s.dupes, s.ooo, tt.gaps, tt.dupes, tt.ooo)
			}
			if got0, got1 := s.lastSeq[0].Load(), s.lastSeq[1].Load(); got0 != tt.last0 || got1 != tt.last1 {
				t.Errorf("last counts %d, %d; want %d, %d", got0, got1, tt.last0, tt.last1)
			}
			if s.delivered != uint64(tt.delivered) {
				t.Errorf("delivered %d, want %d", s.delivered, tt.delivered)
			}
			if len(out) != tt.pongs || (len(out) > 0 && out[0] != "3") {
				t.Errorf("sent %q, want %d pongs", out, tt.pongs)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	tests := map[string]struct {
		proto   protocol
		msg     string
		sent    []string
		errText string
	}{
		"a Socket.IO ping gets a pong":            {socketIOProtocol{}, "2", []string{"3"}, ""},
		"a Socket.IO event is dropped":            {socketIOProtocol{}, `42["message",{}]`, nil, ""},
		"a Socket.IO disconnect ends the session": {socketIOProtocol{}, "41", nil, "session ended"},
		"chat events are dropped":                 {chatProtocol{}, "{\"type\":\"presence\"}\n{\"type\":\"message\",\"message\":{\"seq\":1}}", nil, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var out sentTexts
			err := answer(tt.proto, &out, []byte(tt.msg))
			if (err == nil) != (tt.errText == "") || (err != nil && !strings.Contains(err.Error(), tt.errText)) {
				t.Errorf("answer = %v, want an error with %q", err, tt.errText)
			}
			if fmt.Sprint(out) != fmt.Sprint(sentTexts(tt.sent)) {
				t.Errorf("sent %q, want %q", out, tt.sent)
			}
		})
	}
}
