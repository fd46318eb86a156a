package service_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

func TestSendChecksTextAndCID(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice")
	long := strings.Repeat("é", chatserver.MaxTextLen)
	tests := []struct {
		name, text, cid string
		stored          string // the stored text when the send succeeds
		code            string
	}{
		{"text is stored trimmed", " \t hello <b>bob</b> \n", "c1", "hello <b>bob</b>", ""},
		{"text of white space only is a bad request", " \t\n\u00a0", "c2", "", chatserver.EBadRequest},
		{"empty text is a bad request", "", "c3", "", chatserver.EBadRequest},
		{"4000 two-byte characters are not too large", long, "c4", long, ""},
		{"4000 characters within white space are not too large", "  " + long + "  ", "c5", long, ""},
		{"4001 characters are too large", long + "x", "c6", "", chatserver.ETooLarge},
		{"text that is not UTF-8 is a bad request", "caf\xe9", "c7", "", chatserver.EBadRequest},
		{"a missing cid is a bad request", "hi", "", "", chatserver.EBadRequest},
		{"a cid of 64 two-byte characters is valid", "hi", strings.Repeat("é", chatserver.MaxCIDLen), "hi", ""},
		{"a cid over 64 characters is a bad request", "hi", strings.Repeat("c", chatserver.MaxCIDLen+1), "", chatserver.EBadRequest},
		{"a right-to-left override is a bad request", "invoice\u202Efdp.exe", "c8", "", chatserver.EBadRequest},
		{"a NUL is a bad request", "a\x00b", "c9", "", chatserver.EBadRequest},
		{"an escape sequence is a bad request", "\x1b[31mred", "c10", "", chatserver.EBadRequest},
		{"a zero-width space is a bad request", "pay\u200Bpal.com", "c11", "", chatserver.EBadRequest},
		{"a cid with a newline is a bad request", "hi", "c\n12", "", chatserver.EBadRequest},
		{"a cid with a bidirectional isolate is a bad request", "hi", "c\u206613", "", chatserver.EBadRequest},
		{"lines, tabs and emoji sequences are stored", "line\n\tnext \U0001F468\u200D\U0001F469\u200D\U0001F467", "c14", "line\n\tnext \U0001F468\u200D\U0001F469\u200D\U0001F467", ""},
	}
	var stored int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := e.svc.Send(context.Background(), "alice", "general", tt.text, tt.cid)
			chattest.WantCode(t, err, tt.code)
			if err != nil {
				return
			}
			stored++
			if m.Text != tt.stored || m.CID != tt.cid || m.Seq != stored {
				t.Fatalf("stored %q cid %q seq %d, want %q cid %q seq %d", m.Text, m.CID, m.Seq, tt.stored, tt.cid, stored)
			}
		})
	}
}

var messageID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Message ids sort in the order the messages were sent, a millisecond apart
// or more, so that stores index them at the end of their indexes.
func TestMessageIDsSortInSendOrder(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice")
	var last string
	for i := range 5 {
		m := e.send(t, "alice", "general", "hello", fmt.Sprintf("c%d", i))
		if !messageID.MatchString(m.ID) || m.ID <= last {
			t.Fatalf("message %d has id %q, after %q", i, m.ID, last)
		}
		last = m.ID
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSentMessages(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	first := e.send(t, "alice", "general", "hello", "c1")
	t.Run("a message has an id, its room, sender, seq and a UTC millisecond time", func(t *testing.T) {
		if !messageID.MatchString(first.ID) || first.Room != "general" || first.From != "alice" || first.Seq != 1 {
			t.Fatalf("stored %+v", first)
		}
		if !first.TS.Equal(e.clock.Now()) || first.TS.Location() != time.UTC {
			t.Fatalf("ts %v, want %v in UTC", first.TS, e.clock.Now())
		}
	})
	tests := []struct {
		name, user, room, text, cid string
		seq                         int64
		same                        bool // the first message is returned
	}{
		{"a repeated cid returns the original and stores nothing", "alice", "general", "other text", "c1", 1, true},
		{"the next cid takes the next seq", "alice", "general", "two", "c2", 2, false},
		{"the same cid from another sender is another message", "bob", "general", "three", "c1", 3, false},
		{"the same cid in another room is another message", "alice", "random", "one", "c1", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Second)
			m := e.send(t, tt.user, tt.room, tt.text, tt.cid)
			if got := reflect.DeepEqual(m, first); got != tt.same || m.Seq != tt.seq || m.From != tt.user || m.Room != tt.room {
				t.Fatalf("stored %+v, want seq %d (the first: %v)", m, tt.seq, tt.same)
			}
		})
	}
	t.Run("the history holds every message once", func(t *testing.T) {
		p, err := e.svc.History(context.Background(), "bob", "general", nil, 0)
		if err != nil || span(p) != "1..3 (3) more=false" {
			t.Fatalf("%s %v", span(p), err)
		}
	})
}

// Sends started one after the other are stored in that order even when
// they are finished later, as a connection pipelines them.
func TestPipelinedSendsAreStoredInTheOrderStarted(t *testing.T) {
	for _, tt := range []struct {
		name     string
		backends setup
	}{
		{"a store that queues its writes", nil},
		{"a store apart from the activity log", apartLog(&flakyLog{})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.backends)
			e.register(t, "alice")
			var finishes []func() (service.Sent, error)
			for i := 1; i <= 40; i++ {
				finish, err := e.svc.StartSend(context.Background(), "alice", "order", fmt.Sprint("m", i), fmt.Sprint("c", i), 0)
				if err != nil {
					t.Fatal(err)
				}
				finishes = append(finishes, finish)
			}
			for i, finish := range finishes {
				sent, err := finish()
				m := sent.Message
				if err != nil || m.Seq != int64(i+1) || m.Text != fmt.Sprint("m", i+1) {
					t.Fatalf("send %d: %+v %v", i+1, m, err)
				}
			}
		})
	}
}

func TestMessagesReachTheirRoomsConnections(t *testing.T) {
	e := newEnv(t, nil)
	c := e.company(t)
	e.send(t, "alice", "general", "hello", "g1")
	e.send(t, "alice", "general", "hello again", "g1")
	e.send(t, "alice", "dm:alice_bob", "psst", "d1")
	c.bob2.await(t, "the DM reaches bob's connection that never joined it", func() bool { return c.bob2.messages("dm:alice_bob") == "[1]" })
	leave(t, c.bob, "general")
	leave(t, c.bob, "dm:alice_bob")
	e.send(t, "alice", "general", "after bob left", "g2")
	e.send(t, "alice", "dm:alice_bob", "still there?", "d2")
	c.bob1.await(t, "a DM left still reaches bob", func() bool { return c.bob1.messages("dm:alice_bob") == "[1 2]" })

	checkTold(t, (*sink).messages, []told{
		{"the sender's joined connection gets the room's messages, each once", c.alice1, "general", "[1 2]"},
		{"a joined connection gets the messages until it leaves", c.bob1, "general", "[1]"},
		{"a connection that never joined gets nothing of a public room", c.bob2, "general", "[]"},
		{"a dm reaches the sender without a join", c.alice1, "dm:alice_bob", "[1 2]"},
		{"a dm reaches the sender's every connection", c.alice2, "dm:alice_bob", "[1 2]"},
		{"a dm reaches every connection of its other user", c.bob2, "dm:alice_bob", "[1 2]"},
		{"leaving a dm does not stop its messages", c.bob1, "dm:alice_bob", "[1 2]"},
		{"a dm reaches nobody else", c.carol, "dm:alice_bob", "[]"},
		{"a public room reaches nobody who did not join", c.carol, "general", "[]"},
	})
}

// A message stored while a join is being answered is not in the reply, and
// reaches the connection after it.
func TestAMessageSentDuringAJoinFollowsTheReply(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.fill(t, "bob", "general", 3)
	alice, aliceSink := e.connect(t, "alice")
	var page []int64
	err := alice.Join(context.Background(), "general", nil, nil, func(p wire.Page) {
		for _, m := range p.Messages {
			page = append(page, m.Seq)
		}
		aliceSink.Send([]byte(`{"type":"reply"}`))
		e.send(t, "bob", "general", "meanwhile", "c4")
	})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, f := range aliceSink.all() {
		switch {
		case f.Type == "reply":
			order = append(order, "reply")
		case f.Message != nil:
			order = append(order, fmt.Sprint(f.Message.Seq))
		}
	}
	if fmt.Sprint(page) != "[1 2 3]" || fmt.Sprint(order) != "[reply 4]" {
		t.Fatalf("reply %v, then %v", page, order)
	}
}

// A join with since that has more to read holds the room's live messages
// until the page that reaches the end, then gives each message once.
func TestACatchUpJoinHoldsLiveMessagesUntilTheEnd(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.fill(t, "bob", "catchup", chatserver.MaxSincePage+1)
	alice, aliceSink := e.connect(t, "alice")
	if got := span(join(t, alice, "catchup", seq(0))); got != "1..500 (500) more=true" {
		t.Fatalf("first page %s", got)
	}
	e.send(t, "bob", "catchup", "live", "live1")
	if got := aliceSink.messages("catchup"); got != "[]" {
		t.Fatalf("delivered %v while catching up", got)
	}
	if got := span(join(t, alice, "catchup", seq(500))); got != "501..502 (2) more=false" {
		t.Fatalf("last page %s", got)
	}
	e.send(t, "bob", "catchup", "live", "live2")
	if got := aliceSink.messages("catchup"); got != "[503]" {
		t.Fatalf("after catching up %s, want only [503]", got)
	}
}

// A join since past the room's end delivers the next messages from the
// room's real end, hiding none.
func TestAJoinSincePastTheEndHidesNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice", "bob")
	e.fill(t, "bob", "fresh", 2)
	alice, aliceSink := e.connect(t, "alice")
	join(t, alice, "fresh", seq(1000))
	e.send(t, "bob", "fresh", "three", "c3")
	e.send(t, "bob", "fresh", "four", "c4")
	if got := aliceSink.messages("fresh"); got != "[3 4]" {
		t.Fatalf("delivered %s", got)
	}
}
