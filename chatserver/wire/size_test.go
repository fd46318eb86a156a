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
