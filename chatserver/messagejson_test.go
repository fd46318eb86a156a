package chatserver_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

func TestAppendJSONWritesWhatEncodingJSONWrites(t *testing.T) {
	for name, m := range chattest.EncodingCases() {
		t.Run(name, func(t *testing.T) {
			want, err := chatserver.ReflectJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("\n got %s\nwant prefix%s", got, want)
			}
			var back chatserver.Message
			if err := json.Unmarshal(m.AppendJSON(nil), &back); err != nil {
				t.Fatalf("what AppendJSON wrote does not decode: %v", err)
			}
		})
	}
}

// FuzzAppendJSON holds AppendJSON to encoding/json's output for any
// strings in any of the message's string fields.
func FuzzAppendJSON(f *testing.F) {
	for _, m := range chattest.EncodingCases() {
		f.Add(m.Text, m.CID, "👍")
	}
	f.Add("\u2028\u2029\x7f\x00\xed\xa0\x80\xf4\x90\x80\x80", "\\\"", "\xff")
	f.Fuzz(func(t *testing.T, text, cid, emoji string) {
		m := chatserver.Message{ID: cid + text, Room: "general", Seq: 1, From: emoji, Text: text, TS: time.Unix(0, 1), CID: cid,
			Mentions: []string{text, emoji}, Reactions: []chatserver.Reaction{{Emoji: emoji, Users: []string{cid}}}}
		want, err := chatserver.ReflectJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
	})
}

func BenchmarkMessageJSON(b *testing.B) {
	m := chatserver.Message{ID: "019aed1c4f2b7c3a9e8d5f61a0b2c3d4", Room: "bench-max-5fd17549", Seq: 123456, From: "bench3",
		Text: "1733456789012345678 padding padding padding padding padding pad", TS: time.Now(), CID: "c-123456", Rev: 123456}
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = m.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := chatserver.ReflectJSON(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
