package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRoomsPlanSpansCoverEveryMessageOnceAndEveryRoomGetsEachPublisher(t *testing.T) {
	pl := roomsPlan{prefix: "r-", rooms: 7, messages: 9, pubs: 4, users: 3}
	sent := make([]int, pl.total())
	from := make([]map[int]bool, pl.rooms) // room → publishers that sent to it
	for p := range pl.pubs {
		lo, hi := pl.span(p)
		for k := lo; k < hi; k++ {
			sent[k]++
			if from[k%pl.rooms] == nil {
				from[k%pl.rooms] = map[int]bool{}
			}
			from[k%pl.rooms][p] = true
		}
	}
	for k, n := range sent {
		if n != 1 {
			t.Errorf("message %d is sent %d times", k, n)
		}
	}
	for i, pubs := range from {
		if len(pubs) != pl.pubs {
			t.Errorf("room %d gets messages from %d publishers, want %d", i, len(pubs), pl.pubs)
		}
	}
	if !pl.own(0) || pl.own(1) || !pl.own(3) {
		t.Errorf("own: publishers 0 and 3 send as user 0 of 3, 1 does not")
	}
}

func TestRoomsPlanSendMentionsTheMeasuredUserInEveryTenthRound(t *testing.T) {
	pl := roomsPlan{prefix: "bench-rooms-x-", rooms: 3, messages: 20, pubs: 2, users: 2, user: "bench0", size: 40}
	for k := range pl.total() {
		var cmd struct{ Type, Room, Text, CID string }
		b := pl.appendSend(nil, 99, k)
		if err := json.Unmarshal(b, &cmd); err != nil {
			t.Fatalf("message %d: %s: %v", k, b, err)
		}
		if cmd.Type != "send" || cmd.Room != pl.room(k%3) || cmd.CID != fmt.Sprintf("r%d", k) || len(cmd.Text) != 40 {
			t.Fatalf("message %d: %s", k, b)
		}
		round := k / 3
		if got, want := strings.Contains(cmd.Text, " @bench0 "), round%10 == 0; got != want || pl.mentions(k) != want {
			t.Errorf("message %d (round %d): text %q, mentions %v; want a mention: %v", k, round, cmd.Text, pl.mentions(k), want)
		}
	}
}

func TestRoomsPlanWant(t *testing.T) {
	// One room, 12 messages: publisher 0 sends 0-5 as the measured user,
	// publisher 1 sends 6-11; messages 0 and 10 mention the measured user,
	// who reads the room to seq 1.
	pl := roomsPlan{prefix: "r-", rooms: 1, messages: 12, pubs: 2, users: 2}
	inOrder := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := map[string]struct {
		seqs []int64
		want roomCounts
	}{
		"own messages are neither unread nor mentions": {inOrder, roomCounts{lastSeq: 12, readSeq: 1, unread: 6, mentions: 1}},
		"a read mention is neither unread nor a mention": {
			[]int64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 12}, roomCounts{lastSeq: 12, readSeq: 1, unread: 5, mentions: 0}},
		"an unstored message counts for nothing": {
			[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0}, roomCounts{lastSeq: 11, readSeq: 1, unread: 5, mentions: 1}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := pl.want(tt.seqs)["r-0000"]; got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	two := roomsPlan{prefix: "r-", rooms: 2, messages: 3, pubs: 2, users: 2}
	if got := two.want([]int64{1, 1, 2, 2, 3, 3})["r-0001"]; got.readSeq != 0 {
		t.Errorf("room 1 is read to %d, want every other room unread", got.readSeq)
	}
}

func TestCheckRooms(t *testing.T) {
	want := map[string]roomCounts{"a": {10, 4, 6, 1}, "b": {10, 0, 7, 2}}
	room := func(id, kind string, c roomCounts) string {
		return fmt.Sprintf(`{"id":%q,"kind":%q,"last_seq":%d,"last_ts":null,"rev":%d,"read_seq":%d,"unread":%d,"mentions":%d}`,
			id, kind, c.lastSeq, c.lastSeq, c.readSeq, c.unread, c.mentions)
	}
	list := func(rooms ...string) string { return `{"rooms":[` + strings.Join(rooms, ",") + `]}` }
	a, b := room("a", "public", want["a"]), room("b", "public", want["b"])
	tests := map[string]struct {
		body    string
		listed  int
		wantErr string
	}{
		"the same counts pass":          {list(a, b), 2, ""},
		"other rooms are left out":      {list(room("0", "public", roomCounts{}), a, room("dm:x_y", "dm", roomCounts{}), b), 4, ""},
		"a missing room fails":          {list(a, room("c", "public", want["b"])), 0, "1 of the 2 rooms are missing"},
		"a wrong unread count fails":    {list(a, room("b", "public", roomCounts{10, 0, 8, 2})), 0, "b: public, last_seq 10, read_seq 0, unread 8"},
		"a wrong mention count fails":   {list(room("a", "public", roomCounts{10, 4, 6, 0}), b), 0, "1 rooms are wrong"},
		"a wrong read position fails":   {list(room("a", "public", roomCounts{10, 0, 6, 1}), b), 0, "1 rooms are wrong"},
		"a room of another kind fails":  {list(a, room("b", "dm", want["b"])), 0, "b: dm"},
		"a room listed twice fails":     {list(a, b, a), 0, "listed twice"},
		"an error body fails":           {`{"error":{"code":"internal"}}`, 0, "2 of the 2 rooms are missing"},
		"a body that is not JSON fails": {"<html>", 0, "not a room list"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			listed, err := checkRooms([]byte(tt.body), want)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("checkRooms = %v, want an error with %q", err, tt.wantErr)
			}
			if listed != tt.listed {
				t.Errorf("listed %d, want %d", listed, tt.listed)
			}
		})
	}
}

func TestRoomsResultCountsWrongAnswers(t *testing.T) {
	want := map[string]roomCounts{"a": {1, 0, 1, 0}}
	right := `{"rooms":[{"id":"a","kind":"public","last_seq":1,"read_seq":0,"unread":1,"mentions":0}]}`
	var r roomsResult
	r.check(200, []byte(right), want)
	r.check(500, []byte(`{"error":{"code":"internal"}}`), want)
	r.check(200, []byte(`{"rooms":[]}`), want)
	if r.wrong != 2 || !strings.Contains(r.firstWrong, "status 500") || r.listed != 1 || r.answerBytes != len(right) {
		t.Errorf("wrong %d (first: %q), listed %d, answer %d bytes; want 2 wrong, the first the 500, and the right answer's size",
			r.wrong, r.firstWrong, r.listed, r.answerBytes)
	}
}

func TestRoomsFormats(t *testing.T) {
	tests := map[string]struct{ got, want string }{
		"seconds round to a tenth": {seconds(12345 * time.Millisecond), "12.3s"},
		"zero seconds":             {seconds(0), "0.0s"},
		"KiB to a tenth":           {kib(151450), "147.9 KiB"},
	}
	for name, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", name, tt.got, tt.want)
		}
	}
	r := roomsResult{requests: 100, busy: 2 * time.Second}
	if got := r.requestRate(); got != 50 {
		t.Errorf("100 requests in 2 s of request time: %v/s, want 50", got)
	}
	if got := (&roomsResult{}).requestRate(); got != 0 {
		t.Errorf("no requests: %v/s, want 0", got)
	}
}

func TestRunRooms(t *testing.T) {
	tests := map[string]struct {
		miscount int64
		code     int
		want     string
	}{
		"right answers pass":     {0, 0, "met"},
		"a wrong count fails it": {1, 1, "rooms: FAIL: 6 of 6 answers were wrong"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			servers, fakes := startFakes(t, 2, 0)
			for _, f := range fakes {
				f.miscount = tt.miscount
			}
			cfg := testConfig(servers)
			cfg.scenarios = "rooms"
			var out bytes.Buffer
			code, err := run(context.Background(), cfg, &out)
			if err != nil || code != tt.code {
				t.Fatalf("run = %d, %v; want %d, nil\n%s", code, err, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("the report lacks %q:\n%s", tt.want, out.String())
			}
			if n := len(fakes[0].msgs); n != cfg.roomsRooms {
				t.Errorf("the servers hold %d rooms, want %d", n, cfg.roomsRooms)
			}
		})
	}
}

func TestRunRoomsNeedsTwoUsers(t *testing.T) {
	servers, _ := startFakes(t, 1, 0)
	cfg := testConfig(servers)
	cfg.scenarios, cfg.users = "rooms", 1
	if _, err := run(context.Background(), cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "rooms: needs") {
		t.Fatalf("run = %v, want the scenario refused", err)
	}
}
