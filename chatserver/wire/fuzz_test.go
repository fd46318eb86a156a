package wire_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// The fuzz targets of the protocol's decoding and encoding. `go test` runs
// their seeds and testdata/fuzz; `make fuzz` explores further.

// FuzzFrame feeds a whole WebSocket text frame through what the reader does
// with it: split on newlines, decode each object. Each object is decoded or
// refused with bad_request; a refusal is answered to the command's id when
// the object has a readable one; what is accepted encodes back to itself.
func FuzzFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","id":1,"room":"general","since":5}`,
		"{\"type\":\"send\",\"id\":2,\"room\":\"dm:alice_bob\",\"text\":\"hi\",\"cid\":\"c1\"}\n{\"type\":\"typing\",\"room\":\"a\",\"active\":true}",
		"\r\n{\"type\":\"leave\",\"id\":3,\"room\":\"a\"}\r\n\n \t\n",
		`{"type":"history","id":4,"room":"a","before":0,"limit":100}`,
		`{"type":"history","id":5,"room":"a","limit":101}`,
		`{"type":"join","id":6,"room":7}`,
		`{"type":"join","ID":7,"Room":"a","SINCE":1}`,
		`{"type":"join","id":8,"id":-8}`,
		`{"type":"join","id":9,"since":1e3}`,
		`{"type":"send","id":10,"text":"\ud800","cid":"\u0000"}`,
		"{\"type\":\"send\",\"id\":11,\"text\":\"\xff\xfe\"}",
		`{"type":"join","id":9223372036854775807,"since":9223372036854775808}`,
		`{"type":"join","id":0}`, `{"id":12}`, `{"type":null,"id":13}`,
		`{"type":"join","id":14} trailing`, `null`, `[]`, `"join"`, `{`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var objs [][]byte
		wire.SplitFrame(frame, func(obj []byte) { objs = append(objs, obj) })
		if want := nonBlankLines(frame); !reflect.DeepEqual(objs, want) {
			t.Fatalf("split %q into %q, want %q", frame, objs, want)
		}
		for _, obj := range objs {
			checkDecode(t, obj)
		}
	})
}

// nonBlankLines is what SplitFrame must yield: the frame's lines that hold
// more than white space, in order.
func nonBlankLines(frame []byte) [][]byte {
	var out [][]byte
	for _, line := range bytes.Split(frame, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// checkDecode decodes one object and checks the answer it would get.
func checkDecode(t *testing.T, obj []byte) {
	t.Helper()
	cmd, err := wire.Decode(obj)
	id, hasID := readableID(obj)
	if err != nil {
		if code := chatserver.ErrorCode(err); code != chatserver.EBadRequest {
			t.Fatalf("%q refused with %q, want %q", obj, code, chatserver.EBadRequest)
		}
		if hasID && cmd.ID != id {
			t.Fatalf("%q refused as command %d, want the reply to go to its id %d", obj, cmd.ID, id)
		}
		checkErrorReply(t, cmd.ID, err)
		return
	}
	if cmd.Type == "" {
		t.Fatalf("%q accepted without a type: %+v", obj, cmd)
	}
	if !hasID {
		id = 0
	}
	if cmd.ID != id {
		t.Fatalf("%q accepted as command %d, want %d", obj, cmd.ID, id)
	}
	checkBounds(t, obj, cmd)
	again, err := wire.Decode(encodeCommand(t, cmd))
	if err != nil || !reflect.DeepEqual(again, cmd) {
		t.Fatalf("%q decoded to %+v, which encodes to %+v (err %v)", obj, cmd, again, err)
	}
}

// readableID is the command's id as the contract defines it: a positive
// integer in the object's "id" field.
func readableID(obj []byte) (int64, bool) {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(obj, &v) != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.ID), 10, 64)
	return n, err == nil && n > 0
}

// checkBounds checks the numeric fields of an accepted command against the
// contract: seqs are >= 0, a limit is 1-100.
func checkBounds(t *testing.T, in []byte, c wire.Command) {
	t.Helper()
	for name, seq := range map[string]*int64{"since": c.Since, "before": c.Before} {
		if seq != nil && *seq < 0 {
			t.Fatalf("%q accepted with %s %d", in, name, *seq)
		}
	}
	if c.Limit != nil && (*c.Limit < 1 || *c.Limit > chatserver.MaxHistoryLimit) {
		t.Fatalf("%q accepted with limit %d", in, *c.Limit)
	}
}

// checkErrorReply checks the frame object that answers a refused command:
// a reply to its id, or an error event when it has none.
func checkErrorReply(t *testing.T, id int64, err error) {
	t.Helper()
	var got struct {
		Type  string          `json:"type"`
		Re    int64           `json:"re"`
		OK    *bool           `json:"ok"`
		Error wire.ErrorBody  `json:"error"`
		Extra json.RawMessage `json:"data"`
	}
	b := wire.ErrorReply(id, err)
	decodeObject(t, b, &got)
	want := "reply"
	if id == 0 {
		want = "error"
	}
	if got.Type != want || got.Re != id || (id != 0) != (got.OK != nil && !*got.OK) || got.Extra != nil ||
		got.Error.Code != chatserver.ErrorCode(err) || got.Error.Message != chatserver.ErrorMessage(err) {
		t.Fatalf("error %v for command %d encoded as %s", err, id, b)
	}
}

// decodeObject unmarshals one encoded frame object into v: it must be a
// single line of valid JSON, since frames are split on newlines.
func decodeObject(t *testing.T, b []byte, v any) {
	t.Helper()
	if bytes.ContainsAny(b, "\n\r") || !json.Valid(b) {
		t.Fatalf("encoded %q: not one line of JSON", b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("encoded %q: %v", b, err)
	}
}

// encodeCommand writes c as a client would.
func encodeCommand(t *testing.T, c wire.Command) []byte {
	t.Helper()
	m := map[string]any{"type": c.Type, "room": c.Room, "text": c.Text, "cid": c.CID}
	if c.ID != 0 {
		m["id"] = c.ID
	}
	for name, p := range map[string]any{"since": c.Since, "before": c.Before, "limit": c.Limit, "active": c.Active} {
		if !reflect.ValueOf(p).IsNil() {
			m[name] = p
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commandFields are the fields each command type of the contract takes
// besides type and id; "" and "edit" stand for a missing and an unknown type.
var commandFields = []struct {
	typ    string
	fields []string
}{
	{wire.CmdJoin, []string{"room", "since"}},
	{wire.CmdLeave, []string{"room"}},
	{wire.CmdSend, []string{"room", "text", "cid"}},
	{wire.CmdTyping, []string{"room", "active"}},
	{wire.CmdHistory, []string{"room", "before", "limit"}},
	{"", []string{"room"}},
	{"edit", []string{"room", "text"}},
}

// FuzzCommand builds each command type of the contract from fuzzed field
// values, as a client would send it, and checks the decoder's validation of
// it: an id must be a positive integer, since and before a seq (>= 0), limit
// 1-100, and a type is required; anything else must reach the command as
// sent. present chooses which optional fields are sent.
func FuzzCommand(f *testing.F) {
	f.Add(uint8(0), uint8(0xff), int64(1), "general", "", "", int64(0), int64(0), int64(50), false)
	f.Add(uint8(0), uint8(0xff), int64(1), "general", "", "", int64(-1), int64(0), int64(50), false)
	f.Add(uint8(1), uint8(0x01), int64(0), "dm:alice_bob", "", "", int64(0), int64(0), int64(0), false)
	f.Add(uint8(2), uint8(0xff), int64(3), "a", " hello\n", "c-1", int64(0), int64(0), int64(0), false)
	f.Add(uint8(2), uint8(0xff), int64(4), "a", "\xff", "\x00", int64(0), int64(0), int64(0), false)
	f.Add(uint8(3), uint8(0xff), int64(5), "a", "", "", int64(0), int64(0), int64(0), true)
	f.Add(uint8(3), uint8(0xef), int64(6), "a", "", "", int64(0), int64(0), int64(0), true)
	f.Add(uint8(4), uint8(0xff), int64(7), "a", "", "", int64(0), int64(9), int64(101), false)
	f.Add(uint8(4), uint8(0xff), int64(8), "a", "", "", int64(0), int64(-9), int64(0), false)
	f.Add(uint8(5), uint8(0xff), int64(9), "a", "", "", int64(0), int64(0), int64(0), false)
	f.Add(uint8(6), uint8(0xff), int64(-10), "a", "x", "", int64(0), int64(0), int64(0), false)
	f.Fuzz(func(t *testing.T, kind, present uint8, id int64, room, text, cid string, since, before, limit int64, active bool) {
		spec := commandFields[int(kind)%len(commandFields)]
		values := map[string]any{"room": room, "text": text, "cid": cid, "since": since, "before": before, "limit": limit, "active": active}
		sent := map[string]any{"type": spec.typ}
		if spec.typ == "" {
			delete(sent, "type")
		}
		if present&1 != 0 {
			sent["id"] = id
		}
		for i, name := range spec.fields {
			if present&(2<<i) != 0 {
				sent[name] = values[name]
			}
		}
		b, err := json.Marshal(sent)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := wire.Decode(b)
		wantErr := spec.typ == "" || (present&1 != 0 && id <= 0) ||
			negative(sent["since"]) || negative(sent["before"]) ||
			(sent["limit"] != nil && (limit < 1 || limit > chatserver.MaxHistoryLimit))
		if wantErr {
			if chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("%s: got %+v, %v; want %s", b, cmd, err, chatserver.EBadRequest)
			}
			if id > 0 && present&1 != 0 && cmd.ID != id {
				t.Fatalf("%s refused as command %d, want %d", b, cmd.ID, id)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s refused: %v", b, err)
		}
		want := wire.Command{Type: spec.typ, Room: sentString(sent["room"]), Text: sentString(sent["text"]), CID: sentString(sent["cid"])}
		if present&1 != 0 {
			want.ID = id
		}
		if sent["since"] != nil {
			want.Since = &since
		}
		if sent["before"] != nil {
			want.Before = &before
		}
		if sent["limit"] != nil {
			l := int(limit)
			want.Limit = &l
		}
		if sent["active"] != nil {
			want.Active = &active
		}
		if !reflect.DeepEqual(cmd, want) {
			t.Fatalf("%s decoded to %+v, want %+v", b, cmd, want)
		}
	})
}

func negative(v any) bool {
	n, ok := v.(int64)
	return ok && n < 0
}

// sentString is what a string field holds once it went through JSON, which
// carries valid UTF-8 only: each invalid byte arrives as U+FFFD.
func sentString(v any) string {
	s, _ := v.(string)
	return string([]rune(s))
}

// FuzzEvents checks the events and replies the server encodes from stored,
// client-chosen text: each is one line of JSON (a raw newline would split
// the frame) that decodes to what was encoded.
func FuzzEvents(f *testing.F) {
	f.Add("m1", "general", "alice", "hello", "c1", int64(1), int64(1767225600000), true, int64(1), "bad_request", "invalid room")
	f.Add("", "dm:alice_bob", "", "line\nbreak\r\u2028\u2029</script><b>&amp;", "\x00", int64(1<<62), int64(0), false, int64(0), "", "")
	f.Add("\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80 \U0010ffff \u202e", "\"\\", int64(-1), int64(253402300799999), false, int64(9007199254740993), "x\ny", "\x7f")
	f.Fuzz(func(t *testing.T, msgID, room, user, text, cid string, seq, tsMillis int64, active bool, id int64, code, message string) {
		ts := time.UnixMilli((tsMillis%maxTimestampMillis + maxTimestampMillis) % maxTimestampMillis).UTC()
		msg := chatserver.Message{ID: msgID, Room: room, Seq: seq, From: user, Text: text, TS: ts, CID: cid}
		var ev struct {
			Type    string             `json:"type"`
			Message chatserver.Message `json:"message"`
		}
		decodeObject(t, wire.MessageEvent(msg), &ev)
		want := chatserver.Message{ID: sentString(msgID), Room: sentString(room), Seq: seq, From: sentString(user),
			Text: sentString(text), TS: ts, CID: sentString(cid)}
		if ev.Type != "message" || !sameMessage(ev.Message, want) {
			t.Fatalf("message %+v arrived as %+v", want, ev)
		}

		var typing struct {
			Type, Room, User string
			Active           bool
		}
		decodeObject(t, wire.TypingEvent(room, user, active), &typing)
		if typing.Type != "typing" || typing.Room != sentString(room) || typing.User != sentString(user) || typing.Active != active {
			t.Fatalf("typing of %q in %q arrived as %+v", user, room, typing)
		}

		var presence struct {
			Type, User, Status string
			LastSeen           time.Time `json:"last_seen"`
		}
		decodeObject(t, wire.PresenceEvent(user, chatserver.PresenceOffline, ts), &presence)
		if presence.Type != "presence" || presence.User != sentString(user) || !presence.LastSeen.Equal(ts) {
			t.Fatalf("presence of %q at %v arrived as %+v", user, ts, presence)
		}

		if id < 0 {
			id = -(id + 1) // commands ids are never negative
		}
		checkErrorReply(t, id, chatserver.Errorf(sentString(code), "%s", sentString(message)))
		page, err := wire.Reply(max(id, 1), wire.NewPage(room, chatserver.Page{Messages: []chatserver.Message{msg}}))
		if err != nil {
			t.Fatal(err)
		}
		var reply struct {
			Re   int64     `json:"re"`
			Data wire.Page `json:"data"`
		}
		decodeObject(t, page, &reply)
		if reply.Re != max(id, 1) || reply.Data.Room != sentString(room) || len(reply.Data.Messages) != 1 || !sameMessage(reply.Data.Messages[0], want) {
			t.Fatalf("page of %+v arrived as %+v", want, reply)
		}
	})
}

// maxTimestampMillis bounds fuzzed times to the years 1970-9999 that RFC 3339
// can write.
const maxTimestampMillis = 253402300800000

func sameMessage(a, b chatserver.Message) bool {
	ta, tb := a.TS, b.TS
	ea, eb := a.EditedTS, b.EditedTS
	a.TS, b.TS, a.EditedTS, b.EditedTS = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b) && ta.Equal(tb) && ea.Equal(eb)
}
