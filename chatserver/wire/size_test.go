package wire_test

import (
	"bytes"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

func TestMessageSizeIsTheLengthOfTheEncodedMessage(t *testing.T) {
	for name, m := range chattest.EncodingCases() {
		t.Run(name, func(t *testing.T) {
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

func TestSendReplyFromTheMessageEventIsTheSendsReply(t *testing.T) {
	for name, m := range chattest.EncodingCases() {
		t.Run(name, func(t *testing.T) {
			for _, id := range []int64{1, 42, 1 << 53, -7} {
				want, err := wire.Reply(id, wire.SendResult{Message: m})
				if err != nil {
					t.Fatal(err)
				}
				if got := wire.SendReply(id, wire.MessageEvent(m)); !bytes.Equal(got, want) {
					t.Fatalf("id %d:\n got %s\nwant %s", id, got, want)
				}
			}
		})
	}
}

func TestMessageEventsCarryTheMessageAsEncodingJSONWritesThem(t *testing.T) {
	type event struct {
		Type    string             `json:"type"`
		Message chatserver.Message `json:"message"`
	}
	for name, m := range chattest.EncodingCases() {
		t.Run(name, func(t *testing.T) {
			for typ, frame := range map[string][]byte{"message": wire.MessageEvent(m), "update": wire.UpdateEvent(m), "mention": wire.MentionEvent(m)} {
				want, err := chatserver.MarshalJSON(event{typ, m})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(frame, want) {
					t.Fatalf("%s event:\n got %s\nwant %s", typ, frame, want)
				}
			}
		})
	}
}
