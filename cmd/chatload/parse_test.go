package main

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	tests := map[string]struct {
		line string
		want event
	}{
		"a hello": {
			`{"type":"hello","protocol":1,"user":{"id":"bench0"}}`,
			event{kind: kindHello, sentAt: -1, origin: -1},
		},
		"a message event carrying a send time": {
			`{"type":"message","message":{"id":"01J","room":"bench","seq":42,"from":"bench1","text":"123456789.1 xxxx","ts":"2026-01-01T00:00:00.000Z","cid":"p0-9"}}`,
			event{kind: kindMessage, seq: 42, sentAt: 123456789, origin: 1},
		},
		"a message event with its fields in another order and spaces": {
			`{ "message" : { "text" : "77.0 x", "seq" : 7 }, "type" : "message" }`,
			event{kind: kindMessage, seq: 7, sentAt: 77, origin: 0},
		},
		"a message whose text is not from the generator": {
			`{"type":"message","message":{"seq":3,"text":"hello \"seq\": 9"}}`,
			event{kind: kindMessage, seq: 3, sentAt: -1, origin: -1},
		},
		"a message whose id looks like a key": {
			`{"type":"message","message":{"id":"seq","room":"r","seq":5,"text":"1.0 "}}`,
			event{kind: kindMessage, seq: 5, sentAt: 1, origin: 0},
		},
		"the reply to a send": {
			`{"type":"reply","re":6401,"ok":true,"data":{"message":{"id":"x","room":"bench","seq":1000,"text":"5.0 x","cid":"p0-6401"}}}`,
			event{kind: kindReply, re: 6401, ok: true, seq: 1000, sentAt: -1, origin: -1},
		},
		"the reply to a join with history gives the newest seq": {
			`{"type":"reply","re":1,"ok":true,"data":{"room":"bench","messages":[{"seq":8,"text":"a"},{"seq":9,"text":"b"}],"has_more":true}}`,
			event{kind: kindReply, re: 1, ok: true, seq: 9, sentAt: -1, origin: -1},
		},
		"the reply to a join of an empty room": {
			`{"type":"reply","re":1,"ok":true,"data":{"room":"bench","messages":[],"has_more":false}}`,
			event{kind: kindReply, re: 1, ok: true, sentAt: -1, origin: -1},
		},
		"a failed reply": {
			`{"type":"reply","re":12,"ok":false,"error":{"code":"rate_limited","message":"slow down"}}`,
			event{kind: kindReply, re: 12, code: []byte("rate_limited"), sentAt: -1, origin: -1},
		},
		"a presence event": {
			`{"type":"presence","user":"bench3","status":"online","last_seen":"2026-01-01T00:00:00Z"}`,
			event{kind: kindOther, sentAt: -1, origin: -1},
		},
		"garbage": {
			`not json at all`,
			event{kind: kindOther, sentAt: -1, origin: -1},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var ev event
			parseLine([]byte(tt.line), &ev)
			if fmt.Sprint(ev) != fmt.Sprint(tt.want) {
				t.Errorf("parseLine(%s)\n got %+v\nwant %+v", tt.line, ev, tt.want)
			}
		})
	}
}

func TestNextLineSplitsCoalescedFrames(t *testing.T) {
	frame := []byte("{\"type\":\"message\",\"message\":{\"seq\":1}}\n{\"type\":\"message\",\"message\":{\"seq\":2}}\n\n{\"type\":\"message\",\"message\":{\"seq\":3}}\n")
	var seqs []int64
	for rest := frame; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if len(line) == 0 {
			continue
		}
		var ev event
		parseLine(line, &ev)
		seqs = append(seqs, ev.seq)
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("seqs = %v, want [1 2 3]", seqs)
	}
}

func TestSendRoundTrip(t *testing.T) {
	for _, size := range []int{0, 10, 64, 200} {
		st := stamp{sentAt: 987654321012, origin: 3, pub: 1, n: 25}
		cmd := appendSend(nil, 6403, "bench-max-1a", st, size, "p1-")
		want := fmt.Sprintf(`{"type":"send","id":6403,"room":"bench-max-1a","text":"%s","cid":"p1-6403"}`, appendText(nil, st, size))
		if string(cmd) != want {
			t.Fatalf("appendSend = %s\nwant %s", cmd, want)
		}
		text := appendText(nil, st, size)
		if size >= 24 && len(text) != size {
			t.Errorf("text of size %d is %d bytes", size, len(text))
		}
		// The server echoes the text back inside a message.
		var ev event
		parseLine([]byte(`{"type":"message","message":{"seq":1,"text":"`+string(text)+`"}}`), &ev)
		if ev.sentAt != 987654321012 || ev.origin != 3 {
			t.Errorf("size %d: parsed sentAt %d origin %d", size, ev.sentAt, ev.origin)
		}
		if got := parseText([]byte(`"` + string(text) + `"`)); got != st {
			t.Errorf("size %d: parseText = %+v, want %+v", size, got, st)
		}
	}
	if got := string(appendInt(nil, -120)); got != "-120" {
		t.Errorf("appendInt(-120) = %s", got)
	}
}

func TestParseText(t *testing.T) {
	tests := map[string]struct {
		value string
		want  stamp
	}{
		"every field":                {`"12.3.1.44 xxxx"`, stamp{sentAt: 12, origin: 3, pub: 1, n: 44}},
		"the send time and server":   {`"12.3 xxxx"`, stamp{sentAt: 12, origin: 3, pub: -1, n: -1}},
		"the send time alone":        {`"12 xxxx"`, stamp{sentAt: 12, origin: -1, pub: -1, n: -1}},
		"a publisher without counts": {`"12.3.1 x"`, stamp{sentAt: 12, origin: 3, pub: 1, n: -1}},
		"a text of someone else":     {`"hello.1.2.3"`, stamp{sentAt: -1, origin: -1, pub: -1, n: -1}},
		"not a string":               {`12.3.1.44`, stamp{sentAt: -1, origin: -1, pub: -1, n: -1}},
		"nothing":                    {``, stamp{sentAt: -1, origin: -1, pub: -1, n: -1}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := parseText([]byte(tt.value)); got != tt.want {
				t.Errorf("parseText(%s) = %+v, want %+v", tt.value, got, tt.want)
			}
		})
	}
}

func BenchmarkParseMessageFrame(b *testing.B) {
	line := `{"type":"message","message":{"id":"01JABCDEFGHJKMNPQRSTVWXYZ","room":"bench-max-1a2b","seq":123456,"from":"bench1","text":"` +
		string(appendText(nil, stamp{sentAt: 12345678901234, origin: 1, pub: 1, n: 123456}, 64)) + `","ts":"2026-01-01T00:00:00.000Z","cid":"p1-123456"}}`
	frame := []byte(line + "\n" + line + "\n" + line + "\n" + line)
	b.SetBytes(int64(len(frame)))
	var ev event
	for b.Loop() {
		for rest := frame; len(rest) > 0; {
			var l []byte
			l, rest = nextLine(rest)
			parseLine(l, &ev)
		}
	}
}

// BenchmarkSubscriberFrame is the receive path of a chat subscriber per
// frame of four coalesced messages, from the protocol's parsing to the
// checks and the latency histograms.
func BenchmarkSubscriberFrame(b *testing.B) {
	w := &span{}
	w.end.Store(math.MaxInt64)
	s := newSubscriber(&bench{epoch: time.Now()}, w, 0, chatProtocol{}, 1)
	s.last[0] = 0
	var frame []byte
	seq := int64(0)
	build := func() {
		frame = frame[:0]
		for i := range 4 {
			if i > 0 {
				frame = append(frame, '\n')
			}
			seq++
			frame = fmt.Appendf(frame, `{"type":"message","message":{"id":"01JABCDEFGHJKMNPQRSTVWXYZ","room":"bench-max-1a2b","seq":%d,"from":"bench1","text":"%s","ts":"2026-01-01T00:00:00.000Z","cid":"p1-123456"}}`,
				seq, appendText(nil, stamp{sentAt: 1, origin: 0, pub: 1, n: seq}, 64))
		}
	}
	build()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		s.last[0] = 0
		if err := s.frame(frame); err != nil {
			b.Fatal(err)
		}
	}
	if s.gaps+s.dupes+s.ooo != 0 {
		b.Fatalf("gaps %d dupes %d ooo %d", s.gaps, s.dupes, s.ooo)
	}
}
