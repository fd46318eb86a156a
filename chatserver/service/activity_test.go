package service_test

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// flakyLog is an activity log that fails on demand.
type flakyLog struct {
	chatserver.ActivityLog
	down atomic.Bool
}

// apartLog makes the activity log a flaky one apart from the message store,
// so that a send is stored, then recorded.
func apartLog(log *flakyLog) setup {
	return func(_ *service.Config, b *service.Deps) {
		log.ActivityLog = b.Activity
		b.Activity, b.Recorder = log, nil
	}
}

func (l *flakyLog) Record(ctx context.Context, events ...chatserver.ActivityEvent) error {
	if l.down.Load() {
		return chatserver.Errorf(chatserver.EUnavailable, "the activity log is away")
	}
	return l.ActivityLog.Record(ctx, events...)
}

// activityOf returns the events of user as an admin finds them, oldest
// first, as type or type/room or type/room/message.
func activityOf(t *testing.T, s *service.Service, user string) []string {
	t.Helper()
	res, err := s.Activity(context.Background(), "admin", chatserver.ActivityQuery{User: user, Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(res.Events, func(i, j int) bool { return res.Events[i].TS.Before(res.Events[j].TS) })
	var out []string
	for _, ev := range res.Events {
		s := ev.Type
		if ev.Room != "" {
			s += "/" + ev.Room
		}
		if ev.MessageID != "" {
			s += "/" + ev.MessageID
		}
		out = append(out, s)
	}
	return out
}

// Each sign-in, connect, join, leave, stored message and disconnect records
// one event; a repeated send records its message's event again, which the
// log keeps once.
func TestEachActionRecordsOneEvent(t *testing.T) {
	e := newEnv(t, nil)
	step := func() { e.clock.Advance(time.Millisecond) } // the events' order in time
	login(t, e.svc, "alice")
	step()
	c, _ := e.connect(t, "alice")
	step()
	join(t, c, "general", nil)
	step()
	m := e.send(t, "alice", "general", "hello", "c1")
	step()
	e.send(t, "alice", "general", "hello", "c1")
	step()
	leave(t, c, "general")
	step()
	c.Close(context.Background())
	want := fmt.Sprint([]string{"session.login", "ws.connect", "room.join/general", "message.sent/general/" + m.ID, "room.leave/general", "ws.disconnect"})
	if got := fmt.Sprint(activityOf(t, e.svc, "alice")); got != want {
		t.Fatalf("events %s\nwant %s", got, want)
	}
}

func TestTheActivityLogIsForAdmins(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice")
	e.send(t, "alice", "general", "hello", "c1")
	ctx := context.Background()
	tests := []struct {
		name, user string
		query      chatserver.ActivityQuery
		stats      chatserver.StatsQuery
		code       string
	}{
		{"a user may not search the activity log", "alice", chatserver.ActivityQuery{}, chatserver.StatsQuery{}, chatserver.EForbidden},
		{"a user is refused whatever her query", "alice", chatserver.ActivityQuery{Size: -1}, chatserver.StatsQuery{Interval: -1}, chatserver.EForbidden},
		{"an admin may search it", "admin", chatserver.ActivityQuery{Type: chatserver.ActivityMessage}, chatserver.StatsQuery{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.Activity(ctx, tt.user, tt.query)
			chattest.WantCode(t, err, tt.code)
			st, serr := e.svc.Stats(ctx, tt.user, tt.stats)
			chattest.WantCode(t, serr, tt.code)
			if err == nil && (res.Total != 1 || len(st.TopRooms) != 1 || st.TopRooms[0] != (chatserver.RoomCount{Room: "general", Count: 1})) {
				t.Fatalf("search %+v, stats %+v", res, st)
			}
		})
	}
	t.Run("an index with nothing to say answers empty lists", func(t *testing.T) {
		bare := newEnv(t, func(_ *service.Config, b *service.Deps) { b.Index = silentIndex{} })
		res, err := bare.svc.Activity(ctx, "admin", chatserver.ActivityQuery{})
		if err != nil || res.Events == nil {
			t.Fatalf("search %+v %v", res, err)
		}
		st, err := bare.svc.Stats(ctx, "admin", chatserver.StatsQuery{})
		if err != nil || st.Buckets == nil || st.TopRooms == nil {
			t.Fatalf("stats %+v %v", st, err)
		}
	})
}

// silentIndex answers every query with zero values, nil lists included.
type silentIndex struct{}

func (silentIndex) Search(context.Context, chatserver.ActivityQuery) (chatserver.ActivityResult, error) {
	return chatserver.ActivityResult{}, nil
}

func (silentIndex) Stats(context.Context, chatserver.StatsQuery) (chatserver.ActivityStats, error) {
	return chatserver.ActivityStats{}, nil
}

// An action that is acknowledged fails when its event cannot be made
// durable, and leaves things as they were; a disconnect, which nobody
// acknowledges, goes through.
func TestActionsWhoseEventCannotBeRecorded(t *testing.T) {
	log := &flakyLog{}
	e := newEnv(t, apartLog(log))
	e.register(t, "alice", "bob", "carol", "erin")
	ctx := context.Background()
	alice, aliceSink := e.connect(t, "alice")
	bob, bobSink := e.connect(t, "bob")
	erin, _ := e.connect(t, "erin")
	join(t, alice, "general", nil)
	join(t, bob, "followed", nil)
	noReply := func(wire.Page) { t.Error("a failed join replied") }

	log.down.Store(true)
	t.Run("a sign-in fails", func(t *testing.T) {
		_, _, err := e.svc.Login(ctx, "dave", password)
		chattest.WantCode(t, err, chatserver.EUnavailable)
	})
	t.Run("a connection is refused and the user stays offline", func(t *testing.T) {
		_, err := e.svc.Connect(ctx, "carol", "token-of-carol", newSink())
		chattest.WantCode(t, err, chatserver.EUnavailable)
		if got := aliceSink.presence("carol"); got != "[]" {
			t.Fatalf("carol announced %v", got)
		}
		if got := statusOf(t, e.svc, "carol"); got != chatserver.PresenceOffline {
			t.Fatalf("carol is %s", got)
		}
	})
	t.Run("a join fails", func(t *testing.T) {
		chattest.WantCode(t, alice.Join(ctx, "other", nil, nil, noReply), chatserver.EUnavailable)
	})
	t.Run("a join of a room followed fails", func(t *testing.T) {
		chattest.WantCode(t, bob.Join(ctx, "followed", nil, nil, noReply), chatserver.EUnavailable)
	})
	t.Run("a leave fails", func(t *testing.T) {
		chattest.WantCode(t, alice.Leave(ctx, "general"), chatserver.EUnavailable)
	})
	t.Run("a send fails", func(t *testing.T) {
		_, err := e.svc.Send(ctx, "carol", "other", "lost?", "c1")
		chattest.WantCode(t, err, chatserver.EUnavailable)
	})
	t.Run("a disconnect goes through", func(t *testing.T) {
		erin.Close(ctx)
		if got := aliceSink.presence("erin"); got != "[online offline]" {
			t.Fatalf("erin announced %s", got)
		}
	})
	log.down.Store(false)

	t.Run("the failed send's retry returns the message it stored", func(t *testing.T) {
		m := e.send(t, "carol", "other", "lost?", "c1")
		if m.Seq != 1 {
			t.Fatalf("the retry gave seq %d", m.Seq)
		}
		if got := fmt.Sprint(activityOf(t, e.svc, "carol")); got != "[message.sent/other/"+m.ID+"]" {
			t.Fatalf("carol's events %s", got)
		}
	})
	t.Run("the failed join subscribed nothing", func(t *testing.T) {
		e.send(t, "carol", "other", "next", "c2")
		if got := aliceSink.messages("other"); got != "[]" {
			t.Fatalf("delivered %v", got)
		}
	})
	t.Run("the failed join of a room followed kept it followed", func(t *testing.T) {
		e.send(t, "carol", "followed", "next", "c3")
		if got := bobSink.messages("followed"); got != "[1]" {
			t.Fatalf("delivered %s", got)
		}
	})
}
