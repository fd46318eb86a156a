package service_test

// The service's own tests drive it directly, without HTTP or WebSockets, on
// the embedded backends: the SQLite store in the test's directory and the
// in-memory presence and broker. A sink stands for a connection's outgoing
// side and records every object the service sends it.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/inmem"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

const (
	password      = "chat-secret-1"
	adminPassword = "adminpass1"
	// waitLimit bounds every wait for something the service does on its own
	// goroutines; it only matters when something is wrong.
	waitLimit = 10 * time.Second
)

var quiet = slog.New(slog.DiscardHandler)

// clock is the service's time, moved by the test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().Truncate(time.Millisecond).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is a running service on its own backends.
type env struct {
	svc   *service.Service
	db    *sqlite.DB
	b     *service.Deps
	cfg   service.Config
	clock *clock
}

// setup changes the configuration and the backends of a service before it
// starts; nil changes nothing.
type setup func(cfg *service.Config, b *service.Deps)

// newEnv starts a service with the admin "admin" on a fresh SQLite store
// (which records a message and its event in one write) and the in-memory
// presence and broker, and stops it when the test ends. It
// returns once the service receives what the broker carries.
func newEnv(t *testing.T, change setup) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithoutFsync(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	broker := &readyBroker{Broker: inmem.NewBroker(), ready: make(chan struct{})}
	e := &env{db: db, clock: newClock()}
	e.b = &service.Deps{Users: db, Sessions: db, Messages: db, Activity: db, Index: db, Recorder: db,
		Presence: inmem.NewPresence(), Broker: broker}
	e.cfg = service.Config{
		Admins: []string{"admin"}, AdminPassword: adminPassword,
		GapWait: time.Millisecond, Logger: quiet, Now: e.clock.Now,
	}
	if change != nil {
		change(&e.cfg, e.b)
	}
	if e.svc, err = service.New(context.Background(), e.b, e.cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		e.svc.Close()
	})
	broker.await(t)
	return e
}

// another returns a second service on the same backends, as another instance
// would run, with its configuration changed by change. It is not run.
func (e *env) another(t *testing.T, change func(*service.Config)) *service.Service {
	t.Helper()
	cfg := e.cfg
	change(&cfg)
	s, err := service.New(context.Background(), e.b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// register creates accounts without a password (as an auth proxy's users
// are), so that tests that do not sign in spend no time hashing.
func (e *env) register(t *testing.T, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := e.db.CreateAccount(context.Background(), chatserver.Account{ID: u, Created: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// connect opens a connection of user, with a token of its own.
func (e *env) connect(t *testing.T, user string) (*service.Conn, *sink) {
	t.Helper()
	return e.connectWith(t, user, "token-of-"+user)
}

func (e *env) connectWith(t *testing.T, user, token string) (*service.Conn, *sink) {
	t.Helper()
	s := newSink()
	c, err := e.svc.Connect(context.Background(), user, token, s)
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return c, s
}

// company is alice, bob and carol connected: alice and bob with a
// connection that joined general and one that joined nothing, carol with one
// that joined nothing.
type company struct {
	alice, bob                        *service.Conn // joined general
	alice1, alice2, bob1, bob2, carol *sink         // 1: joined general
}

func (e *env) company(t *testing.T) company {
	t.Helper()
	e.register(t, "alice", "bob", "carol")
	var c company
	c.alice, c.alice1 = e.connect(t, "alice")
	_, c.alice2 = e.connect(t, "alice")
	c.bob, c.bob1 = e.connect(t, "bob")
	_, c.bob2 = e.connect(t, "bob")
	_, c.carol = e.connect(t, "carol")
	join(t, c.alice, "general", nil)
	join(t, c.bob, "general", nil)
	return c
}

// send stores a message and fails the test if it cannot.
func (e *env) send(t *testing.T, user, room, text, cid string) chatserver.Message {
	t.Helper()
	m, err := e.svc.Send(context.Background(), user, room, text, cid)
	if err != nil {
		t.Fatalf("%s sends to %s: %v", user, room, err)
	}
	return m
}

// join joins room on c and returns the reply's page.
func join(t *testing.T, c *service.Conn, room string, since *int64) wire.Page {
	t.Helper()
	var page wire.Page
	if err := c.Join(context.Background(), room, since, nil, func(p wire.Page) { page = p }); err != nil {
		t.Fatalf("%s joins %s: %v", c.User(), room, err)
	}
	return page
}

// leave leaves room on c.
func leave(t *testing.T, c *service.Conn, room string) {
	t.Helper()
	if err := c.Leave(context.Background(), room); err != nil {
		t.Fatalf("%s leaves %s: %v", c.User(), room, err)
	}
}

func seq(n int64) *int64 { return &n }

// readyBroker is the in-memory broker; await returns once the service's
// subscription receives what is published.
type readyBroker struct {
	*inmem.Broker
	once  sync.Once
	ready chan struct{}
}

// probe is an event kind the service does not know, which its hub ignores.
const probe = "test.probe"

func (b *readyBroker) Subscribe(ctx context.Context, deliver func(chatserver.Event)) error {
	return b.Broker.Subscribe(ctx, func(ev chatserver.Event) {
		if ev.Kind == probe {
			b.once.Do(func() { close(b.ready) })
		}
		deliver(ev)
	})
}

func (b *readyBroker) await(t *testing.T) {
	t.Helper()
	deadline := time.After(waitLimit)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if err := b.Publish(context.Background(), chatserver.Event{Kind: probe}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.ready:
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("the service never subscribed to the broker")
		}
	}
}

// frame is one object the service sent to a connection, decoded loosely.
type frame struct {
	Type     string              `json:"type"`
	Message  *chatserver.Message `json:"message"`
	Room     string              `json:"room"`
	User     string              `json:"user"`
	Active   bool                `json:"active"`
	Status   string              `json:"status"`
	LastSeen string              `json:"last_seen"`
	Seq      int64               `json:"seq"`
}

// sink is the outgoing side of a connection: it records what it is sent
// and how it was closed.
type sink struct {
	mu     sync.Mutex
	frames []frame
	code   int           // the close code; 0 while open
	change chan struct{} // signalled on every Send and Close
}

func newSink() *sink { return &sink{change: make(chan struct{}, 1)} }

func (s *sink) Send(b []byte) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		f = frame{Type: "undecodable: " + string(b)}
	}
	s.mu.Lock()
	s.frames = append(s.frames, f)
	s.mu.Unlock()
	s.signal()
}

func (s *sink) Close(code int, _ string) {
	s.mu.Lock()
	s.code = code
	s.mu.Unlock()
	s.signal()
}

func (s *sink) signal() {
	select {
	case s.change <- struct{}{}:
	default:
	}
}

// all returns every frame, in the order they came.
func (s *sink) all() []frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]frame(nil), s.frames...)
}

// of returns the frames of one type, in the order they came.
func (s *sink) of(typ string) []frame {
	var out []frame
	for _, f := range s.all() {
		if f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

// seqs returns the seqs of the message events of room, in the order they came.
func (s *sink) seqs(room string) []int64 {
	var seqs []int64
	for _, f := range s.of("message") {
		if f.Message != nil && f.Message.Room == room {
			seqs = append(seqs, f.Message.Seq)
		}
	}
	return seqs
}

// messages is seqs as text: "[1 2]".
func (s *sink) messages(room string) string { return fmt.Sprint(s.seqs(room)) }

// presence returns the statuses announced for user, in the order they
// came, as text: "[online offline]".
func (s *sink) presence(user string) string {
	var out []string
	for _, f := range s.of("presence") {
		if f.User == user {
			out = append(out, f.Status)
		}
	}
	return fmt.Sprint(out)
}

// typing returns the typing events of room as user:active, in the order
// they came, as text: "[alice:true]".
func (s *sink) typing(room string) string {
	var out []string
	for _, f := range s.of("typing") {
		if f.Room == room {
			out = append(out, fmt.Sprintf("%s:%v", f.User, f.Active))
		}
	}
	return fmt.Sprint(out)
}

// told is what a connection should have been told.
type told struct {
	name string // the outcome
	sink *sink
	of   string // the room or the user, for read
	want string
}

// checkTold checks each expectation in a subtest, reading the sink with read.
func checkTold(t *testing.T, read func(s *sink, of string) string, tests []told) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := read(tt.sink, tt.of); got != tt.want {
				t.Fatalf("told %s, want %s", got, tt.want)
			}
		})
	}
}

// closedWith returns the close code; 0 while open.
func (s *sink) closedWith() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

// await waits until cond holds, for what the service delivers on its own
// goroutines (a DM's first message, the reaper).
func (s *sink) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for !cond() {
		select {
		case <-s.change:
		case <-deadline:
			t.Fatalf("not within %v: %s", waitLimit, what)
		}
	}
}
