package wire_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantErr string
		check   func(wire.Command) bool
	}{
		"JoinWithSince":           {in: `{"type":"join","id":1,"room":"general","since":5}`, check: func(c wire.Command) bool { return c.ID == 1 && *c.Since == 5 && c.Room == "general" }},
		"SendWithoutID":           {in: `{"type":"send","room":"a","text":"hi","cid":"x"}`, check: func(c wire.Command) bool { return c.ID == 0 && c.Text == "hi" && c.CID == "x" }},
		"TypingActive":            {in: `{"type":"typing","room":"a","active":true}`, check: func(c wire.Command) bool { return *c.Active }},
		"HistoryLimit":            {in: `{"type":"history","id":3,"room":"a","before":10,"limit":100}`, check: func(c wire.Command) bool { return *c.Limit == 100 && *c.Before == 10 }},
		"NotJSON":                 {in: `{"type":`, wantErr: chatserver.EBadRequest},
		"Array":                   {in: `[1,2]`, wantErr: chatserver.EBadRequest},
		"MissingType":             {in: `{"id":1}`, wantErr: chatserver.EBadRequest},
		"NegativeID":              {in: `{"type":"join","id":-1}`, wantErr: chatserver.EBadRequest},
		"FractionalID":            {in: `{"type":"join","id":1.5}`, wantErr: chatserver.EBadRequest},
		"StringID":                {in: `{"type":"join","id":"1"}`, wantErr: chatserver.EBadRequest},
		"NegativeSince":           {in: `{"type":"join","id":1,"since":-3}`, wantErr: chatserver.EBadRequest},
		"LimitTooLarge":           {in: `{"type":"history","id":1,"limit":101}`, wantErr: chatserver.EBadRequest},
		"LimitZero":               {in: `{"type":"history","id":1,"limit":0}`, wantErr: chatserver.EBadRequest},
		"TextWrongType":           {in: `{"type":"send","id":1,"text":5}`, wantErr: chatserver.EBadRequest},
		"InvalidUTF8":             {in: "{\"type\":\"send\",\"id\":4,\"text\":\"a\xffb\"}", wantErr: chatserver.EBadRequest, check: func(c wire.Command) bool { return c.ID == 4 }},
		"UnknownFieldsAreIgnored": {in: `{"type":"leave","id":2,"room":"a","extra":{"x":1}}`, check: func(c wire.Command) bool { return c.ID == 2 }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := wire.Decode([]byte(tt.in))
			if got := chatserver.ErrorCode(err); got != tt.wantErr {
				t.Fatalf("error code %q, want %q (%v)", got, tt.wantErr, err)
			}
			if tt.check != nil && !tt.check(c) {
				t.Fatalf("decoded %+v", c)
			}
		})
	}
}

func TestSplitFrame(t *testing.T) {
	var got []string
	wire.SplitFrame([]byte("{\"a\":1}\n\n{\"b\":2}\n  \n{\"c\":3}"), func(b []byte) { got = append(got, string(b)) })
	if strings.Join(got, "|") != `{"a":1}|{"b":2}|{"c":3}` {
		t.Fatalf("got %q", got)
	}
}

func TestMessageEventTimestampIsUTCMilliseconds(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678912345, time.FixedZone("x", 3600))
	b := wire.MessageEvent(chatserver.Message{ID: "m1", Room: "r", Seq: 1, From: "a", Text: "<b>", TS: ts, CID: "c"})
	var v struct {
		Message map[string]any `json:"message"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Message["ts"] != "2026-01-02T02:04:05.678Z" {
		t.Fatalf("ts %v", v.Message["ts"])
	}
	if strings.ContainsRune(string(b), '\n') {
		t.Fatal("frame holds a raw newline")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","id":1,"room":"general","since":5}`,
		`{"type":"send","id":2,"room":"dm:alice_bob","text":"hi","cid":"c1"}`,
		`{"type":"history","id":3,"room":"a","before":10,"limit":100}`,
		`{"type":"typing","room":"a","active":true}`,
		`{"type":"leave","id":9007199254740993,"room":"a"}`,
		`{"type":`, `null`, `[]`, `{"id":-1}`, `{"type":"join","since":1e3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := wire.Decode(b)
		if err != nil {
			if chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("decode error with code %q", chatserver.ErrorCode(err))
			}
			return
		}
		if c.Type == "" || c.ID < 0 {
			t.Fatalf("accepted %+v", c)
		}
		if c.Limit != nil && (*c.Limit < 1 || *c.Limit > chatserver.MaxHistoryLimit) {
			t.Fatalf("accepted limit %d", *c.Limit)
		}
	})
}
