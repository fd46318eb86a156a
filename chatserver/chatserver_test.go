package chatserver_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestParseRoom(t *testing.T) {
	tests := map[string]struct {
		id, kind string
		ok       bool
	}{
		"Public":            {"general", chatserver.RoomKindPublic, true},
		"PublicWithDigits":  {"r2-d2", chatserver.RoomKindPublic, true},
		"PublicMax64":       {string(make([]byte, 0)) + "a123456789012345678901234567890123456789012345678901234567890123", chatserver.RoomKindPublic, true},
		"PublicTooLong":     {"a1234567890123456789012345678901234567890123456789012345678901234", "", false},
		"PublicUpperCase":   {"General", "", false},
		"PublicLeadingDash": {"-general", "", false},
		"PublicUnderscore":  {"gen_eral", "", false},
		"Empty":             {"", "", false},
		"DM":                {"dm:alice_bob", chatserver.RoomKindDM, true},
		"DMWithDots":        {"dm:a.b_c-d", chatserver.RoomKindDM, true},
		"DMUnsorted":        {"dm:bob_alice", "", false},
		"DMSameUser":        {"dm:alice_alice", "", false},
		"DMOneUser":         {"dm:alice", "", false},
		"DMThreeUsers":      {"dm:a_b_c", "", false},
		"DMInvalidUser":     {"dm:Alice_bob", "", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := chatserver.ParseRoom(tt.id)
			if (err == nil) != tt.ok || (tt.ok && r.Kind != tt.kind) {
				t.Fatalf("ParseRoom(%q) = %+v, %v", tt.id, r, err)
			}
			if err != nil && chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("code %q", chatserver.ErrorCode(err))
			}
		})
	}
}

func TestNormalizeUserID(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", "bob.smith": "bob.smith", "X-1": "x-1"} {
		if got, err := chatserver.NormalizeUserID(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "al_ice", ".bob", "a b", "abcdefghijabcdefghijabcdefghijabc", "é",
		"\u212Aelvin", "\u0131van", "\uFF41lice", "ali\u202Ece", "ali\x00ce", "ali\u200Bce"} { // letters that lower-case to ASCII, invisible ones
		if _, err := chatserver.NormalizeUserID(in); chatserver.ErrorCode(err) != chatserver.EBadRequest {
			t.Errorf("%q accepted", in)
		}
	}
	if chatserver.DMRoomID("bob", "alice") != "dm:alice_bob" {
		t.Error("DMRoomID does not sort")
	}
}

func TestWireTimestampsAreUTCMilliseconds(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 480_000_000, time.FixedZone("x", 7200))
	for name, v := range map[string]any{
		"ActivityEvent": chatserver.ActivityEvent{ID: "e", Type: "ws.connect", TS: ts, User: "a"},
		"StatsBucket":   chatserver.StatsBucket{TS: ts, CountByType: map[string]int64{}},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got struct{ TS string }
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v in %s", name, err, b)
		}
		if got.TS != "2026-03-04T03:06:07.480Z" {
			t.Errorf("%s: ts %q in %s", name, got.TS, b)
		}
	}
}
