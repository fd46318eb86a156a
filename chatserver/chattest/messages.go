package chattest

import (
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// EncodingCases are messages whose JSON takes every path of an encoder:
// each kind of text (escapes, HTML characters, multi-byte and invalid
// UTF-8, JavaScript's line separators) and each field of protocol version
// 2, by name.
func EncodingCases() map[string]chatserver.Message {
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
	cases := map[string]chatserver.Message{}
	for name, text := range texts {
		cases[name] = chatserver.Message{ID: strings.Repeat("f", 32), Room: "dm:alice_bob", Seq: 123456, From: "alice", Text: text, TS: ts, CID: "c\t1"}
	}
	utc := ts.UTC()
	base := chatserver.Message{ID: "m1", Room: "gdm:a_b_c", Seq: 7, From: "a", Text: "hi @b", TS: utc, CID: "c1"}
	version2 := map[string]func(m *chatserver.Message){
		"ARev":       func(m *chatserver.Message) { m.Rev = 12 },
		"AReply":     func(m *chatserver.Message) { m.Rev, m.ReplyTo = 12, 3 },
		"Mentions":   func(m *chatserver.Message) { m.Rev, m.Mentions = 1, []string{"b", `c"q`} },
		"AnEdit":     func(m *chatserver.Message) { m.Rev, m.EditedTS = 2, utc.Add(time.Hour) },
		"ATombstone": func(m *chatserver.Message) { m.Rev, m.Text, m.Deleted = 3, "", true },
		"Reactions": func(m *chatserver.Message) {
			m.Rev, m.Reactions = 4, []chatserver.Reaction{{Emoji: "👍", Users: []string{"a", "b"}}, {Emoji: "🎉", Users: []string{"c"}}}
		},
		"AReactionWithoutAnyUsers": func(m *chatserver.Message) { m.Rev, m.Reactions = 4, []chatserver.Reaction{{Emoji: "x"}} },
		"AReactionWithAnEmptyUsers": func(m *chatserver.Message) {
			m.Rev, m.Reactions = 4, []chatserver.Reaction{{Emoji: "x", Users: []string{}}}
		},
		"EmptyMentions":   func(m *chatserver.Message) { m.Mentions = []string{} },
		"NegativeNumbers": func(m *chatserver.Message) { m.Seq, m.Rev, m.ReplyTo = -1, -2, -3 },
		"Everything": func(m *chatserver.Message) {
			m.Rev, m.ReplyTo, m.Mentions, m.EditedTS = 99, 98, []string{"b"}, utc
			m.Reactions = []chatserver.Reaction{{Emoji: "😮", Users: []string{"a"}}}
		},
	}
	for name, set := range version2 {
		m := base
		set(&m)
		cases[name] = m
	}
	return cases
}
