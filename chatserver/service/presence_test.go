package service_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/inmem"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// usersNow returns Users as id/status/last_seen, last_seen relative to start.
func usersNow(t *testing.T, e *env, start time.Time) string {
	t.Helper()
	users, err := e.svc.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		out = append(out, fmt.Sprintf("%s/%s/%v", u.ID, u.Status, u.LastSeen.Sub(start)))
	}
	return fmt.Sprint(out)
}

func TestPresence(t *testing.T) {
	e := newEnv(t, nil)
	start := e.clock.Now()
	e.register(t, "alice", "bob", "carol")
	_, aliceSink := e.connect(t, "alice")
	e.clock.Advance(time.Second)
	bob1, bob1Sink := e.connect(t, "bob")
	bob2, _ := e.connect(t, "bob")
	e.clock.Advance(time.Second)
	bob1.Close(context.Background())
	t.Run("while a connection is open the user stays online", func(t *testing.T) {
		if got := aliceSink.presence("bob"); got != "[online]" {
			t.Fatalf("alice was told %s", got)
		}
	})
	e.clock.Advance(time.Second)
	bob2.Close(context.Background())
	checkTold(t, (*sink).presence, []told{
		{"everybody is told of a user's first connection and last close", aliceSink, "bob", "[online offline]"},
		{"a user's own connection is told she is online", aliceSink, "alice", "[online]"},
		{"a connection is told of the users online after it", bob1Sink, "bob", "[online]"},
		{"a connection is not told of the users online before it", bob1Sink, "alice", "[]"},
	})
	t.Run("offline is told with the time the user left", func(t *testing.T) {
		offline := aliceSink.of("presence")
		if last := offline[len(offline)-1]; last.LastSeen != chatserver.Timestamp(e.clock.Now()) {
			t.Fatalf("last_seen %s, want %s", last.LastSeen, chatserver.Timestamp(e.clock.Now()))
		}
	})
	e.clock.Advance(time.Second)
	t.Run("users are listed by id: online now, offline when last seen, never seen when registered", func(t *testing.T) {
		want := "[admin/offline/0s alice/online/4s bob/offline/3s carol/offline/0s]"
		if got := usersNow(t, e, start); got != want {
			t.Fatalf("users %s, want %s", got, want)
		}
	})
}

// statusOf returns the status Users gives user.
func statusOf(t *testing.T, s *service.Service, user string) string {
	t.Helper()
	users, err := s.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.ID == user {
			return u.Status
		}
	}
	return "unregistered"
}

// testPresence is the in-memory presence, which can refuse connections and
// report users that a dead instance left online.
type testPresence struct {
	*inmem.Presence
	refuse atomic.Bool
	mu     sync.Mutex
	dead   []string // reaped by the next Reap
}

func (p *testPresence) Connect(ctx context.Context, user, conn string) (bool, error) {
	if p.refuse.Load() {
		return false, chatserver.Errorf(chatserver.EUnavailable, "presence away")
	}
	return p.Presence.Connect(ctx, user, conn)
}

func (p *testPresence) Reap(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	dead := p.dead
	p.dead = nil
	return dead, nil
}

func (p *testPresence) died(users ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = append(p.dead, users...)
}

func TestPresenceOfDeadInstancesAndRefusedConnections(t *testing.T) {
	presence := &testPresence{Presence: inmem.NewPresence()}
	e := newEnv(t, func(cfg *service.Config, b *service.Deps) {
		cfg.ReapInterval = 5 * time.Millisecond
		b.Presence = presence
	})
	e.register(t, "alice", "dave", "erin")
	_, aliceSink := e.connect(t, "alice")

	t.Run("a user a dead instance left online goes offline for everybody", func(t *testing.T) {
		presence.died("dave")
		aliceSink.await(t, "dave reported offline", func() bool { return aliceSink.presence("dave") != "[]" })
		if got := aliceSink.presence("dave"); got != "[offline]" {
			t.Fatalf("told %s", got)
		}
		if got := usersNow(t, e, e.clock.Now()); got != "[admin/offline/0s alice/online/0s dave/offline/0s erin/offline/0s]" {
			t.Fatalf("users %s", got)
		}
	})
	t.Run("a connection presence cannot count is refused and told nothing", func(t *testing.T) {
		presence.refuse.Store(true)
		s := newSink()
		_, err := e.svc.Connect(context.Background(), "erin", "token-of-erin", s)
		chattest.WantCode(t, err, chatserver.EUnavailable)
		presence.refuse.Store(false)
		e.connect(t, "dave")
		if got := len(s.all()); got != 0 {
			t.Fatalf("the refused connection was sent %d objects", got)
		}
		if got := aliceSink.presence("erin"); got != "[]" {
			t.Fatalf("erin announced %v", got)
		}
	})
}

func TestTyping(t *testing.T) {
	e := newEnv(t, nil)
	c := e.company(t)
	ctx := context.Background()
	for _, typing := range []struct {
		room   string
		active bool
	}{{"general", true}, {"general", false}, {"dm:alice_bob", true}} {
		if err := e.svc.Typing(ctx, "alice", typing.room, typing.active); err != nil {
			t.Fatal(err)
		}
	}
	checkTold(t, (*sink).typing, []told{
		{"the other joined connections are told, active then not", c.bob1, "general", "[alice:true alice:false]"},
		{"the typer's own connections are not told", c.alice1, "general", "[]"},
		{"the typer's connection that did not join is not told", c.alice2, "general", "[]"},
		{"a connection that did not join is not told", c.bob2, "general", "[]"},
		{"every connection of a dm's other user is told", c.bob2, "dm:alice_bob", "[alice:true]"},
		{"the dm's other user is told without a join", c.bob1, "dm:alice_bob", "[alice:true]"},
		{"the typer is not told of her own typing in a dm", c.alice2, "dm:alice_bob", "[]"},
		{"nobody else is told of typing in a dm", c.carol, "dm:alice_bob", "[]"},
	})
}
