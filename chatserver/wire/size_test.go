package wire_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

func TestMessageSizeIsTheLengthOfTheEncodedMessage(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678912345, time.FixedZone("x", 3600))
	texts := map[string]string{
		"Empty":                 "",
		"ASCII":                 "hello, world",
		"QuotesAndBackslashes":  `say "hi" \o/`,
		"ShortEscapes":          "a\nb\tc\rd\be\ff",
		"OtherControls":         "\x00\x01\x1f\x7f",
		"HTMLIsNotEscaped":      "<b>&amp;</b>",
		"MultiByte":             "héllo 你好 👨‍👩‍👧",
		"LineSeparators":        "a\u2028b\u2029c",
		"InvalidUTF8":           "a\xffb\xc3",
		"AReplacementCharacter": "\ufffd",
		"Long":                  strings.Repeat("é\"", 2000),
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			m := chatserver.Message{ID: strings.Repeat("f", 32), Room: "dm:alice_bob", Seq: 123456, From: "alice", Text: text, TS: ts, CID: "c\t1"}
			b, err := chatserver.MarshalJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := wire.MessageSize(m); got != len(b) {
				t.Fatalf("MessageSize = %d, want %d, the length of %s", got, len(b), b)
			}
		})
	}
}

func TestMessageSizeCountsTheFieldsOfVersion2(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678912345, time.UTC)
	base := chatserver.Message{ID: "m1", Room: "gdm:a_b_c", Seq: 7, From: "a", Text: "hi @b", TS: ts, CID: "c1"}
	tests := map[string]func(m *chatserver.Message){
		"ARev":       func(m *chatserver.Message) { m.Rev = 12 },
		"AReply":     func(m *chatserver.Message) { m.Rev, m.ReplyTo = 12, 3 },
		"Mentions":   func(m *chatserver.Message) { m.Rev, m.Mentions = 1, []string{"b", `c"q`} },
		"AnEdit":     func(m *chatserver.Message) { m.Rev, m.EditedTS = 2, ts.Add(time.Hour) },
		"ATombstone": func(m *chatserver.Message) { m.Rev, m.Text, m.Deleted = 3, "", true },
		"Reactions": func(m *chatserver.Message) {
			m.Rev, m.Reactions = 4, []chatserver.Reaction{{Emoji: "👍", Users: []string{"a", "b"}}, {Emoji: "🎉", Users: []string{"c"}}}
		},
		"AReactionWithoutAnyUsers": func(m *chatserver.Message) { m.Rev, m.Reactions = 4, []chatserver.Reaction{{Emoji: "x"}} },
		"Everything": func(m *chatserver.Message) {
			m.Rev, m.ReplyTo, m.Mentions, m.EditedTS = 99, 98, []string{"b"}, ts
			m.Reactions = []chatserver.Reaction{{Emoji: "😮", Users: []string{"a"}}}
		},
	}
	for name, set := range tests {
		t.Run(name, func(t *testing.T) {
			m := base
			set(&m)
			b, err := chatserver.MarshalJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := wire.MessageSize(m); got != len(b) {
				t.Fatalf("MessageSize = %d, want %d, the length of %s", got, len(b), b)
			}
		})
	}
}
