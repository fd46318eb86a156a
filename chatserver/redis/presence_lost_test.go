package redis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
)

// awayInstance opens an instance whose own heartbeat never fires during a
// test, so that only the test decides when it beats.
func awayInstance(t *testing.T, url, prefix, id string) *Client {
	t.Helper()
	c, err := Open(ctxT(t), Config{URL: url, InstanceID: id, Prefix: prefix, HeartbeatTTL: time.Hour})
	if err != nil {
		t.Fatalf("open instance %s: %v", id, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// lostStep is one call in a scenario where Redis forgets connections: on
// instance 0 or 1, connect or disconnect user's conn (wanting the transition
// reported), "restart" Redis empty, "beat" once, or "reap" (wanting users
// reported offline).
type lostStep struct {
	on   int
	op   string
	user string
	conn string
	want bool
	reap []string
}

func TestPresenceAfterRedisRestartedEmpty(t *testing.T) {
	for name, tc := range map[string]struct {
		steps  []lostStep
		online []string // Online on the other instance at the end
	}{
		"the last connection closed before the heartbeat goes offline and the instance's others are recorded again": {
			steps: []lostStep{
				{on: 0, op: "connect", user: "alice", conn: "c1", want: true},
				{on: 0, op: "connect", user: "bob", conn: "c2", want: true},
				{op: "restart"},
				{on: 0, op: "disconnect", user: "alice", conn: "c1", want: true},
			},
			online: []string{"bob"},
		},
		"a connection closed while another on the same instance is open keeps the user online": {
			steps: []lostStep{
				{on: 0, op: "connect", user: "alice", conn: "c1", want: true},
				{on: 0, op: "connect", user: "alice", conn: "c2", want: false},
				{op: "restart"},
				{on: 0, op: "disconnect", user: "alice", conn: "c1", want: false},
			},
			online: []string{"alice"},
		},
		"both connections of a user closed one after the other go offline once": {
			steps: []lostStep{
				{on: 0, op: "connect", user: "alice", conn: "c1", want: true},
				{on: 0, op: "connect", user: "alice", conn: "c2", want: false},
				{op: "restart"},
				{on: 0, op: "disconnect", user: "alice", conn: "c1", want: false},
				{on: 0, op: "disconnect", user: "alice", conn: "c2", want: true},
				{on: 0, op: "disconnect", user: "alice", conn: "c2", want: false},
			},
		},
		"a connection closed while another instance counts the user keeps them online": {
			steps: []lostStep{
				{on: 0, op: "connect", user: "alice", conn: "c1", want: true},
				{on: 1, op: "connect", user: "alice", conn: "c2", want: false},
				{op: "restart"},
				{on: 1, op: "beat"},
				{on: 0, op: "disconnect", user: "alice", conn: "c1", want: false},
			},
			online: []string{"alice"},
		},
		"a close that failed while Redis was away is reported offline by the next Reap": {
			steps: []lostStep{
				{on: 0, op: "connect", user: "alice", conn: "c1", want: true},
				{on: 0, op: "connect", user: "bob", conn: "c2", want: true},
				{op: "restart"},
				{on: 0, op: "failed disconnect", user: "alice", conn: "c1"},
				{on: 0, op: "reap", reap: []string{"alice"}},
				{on: 0, op: "reap"},
			},
			online: []string{"bob"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := ownServer(t)
			prefix, ctx := testPrefix(t), ctxT(t)
			insts := []*Client{awayInstance(t, s.URL(), prefix, "a"), awayInstance(t, s.URL(), prefix, "b")}
			for i, st := range tc.steps {
				p := insts[st.on].presence
				var got bool
				var err error
				switch st.op {
				case "connect":
					got, err = p.Connect(ctx, st.user, st.conn)
				case "disconnect":
					got, err = p.Disconnect(ctx, st.user, st.conn)
				case "failed disconnect":
					canceled, cancel := context.WithCancel(ctx)
					cancel()
					if _, err := p.Disconnect(canceled, st.user, st.conn); err == nil {
						t.Fatalf("step %d %+v: Disconnect with a canceled context succeeded", i, st)
					}
				case "restart":
					restartEmpty(t, s, insts...)
				case "beat":
					err = p.beat(ctx)
				case "reap":
					if offline := reap(t, insts[st.on]); !slices.Equal(offline, st.reap) {
						t.Fatalf("step %d %+v: Reap = %v, want %v", i, st, offline, st.reap)
					}
				}
				if err != nil {
					t.Fatalf("step %d %+v: %v", i, st, err)
				}
				if got != st.want {
					t.Fatalf("step %d %+v: transition %v, want %v", i, st, got, st.want)
				}
			}
			wantOnlineUsers(t, insts[1], tc.online...)
		})
	}
}

func TestPresenceConcurrentClosesAfterRedisRestartedEmpty(t *testing.T) {
	s := ownServer(t)
	prefix, ctx := testPrefix(t), ctxT(t)
	a, b := awayInstance(t, s.URL(), prefix, "a"), awayInstance(t, s.URL(), prefix, "b")
	const conns = 20
	for i := range conns {
		mustConnect(t, a, "alice", fmt.Sprintf("c%d", i))
	}
	mustConnect(t, a, "bob", "b1")
	restartEmpty(t, s, a, b)
	var (
		wg      sync.WaitGroup
		offline atomic.Int32
	)
	for i := range conns {
		wg.Go(func() {
			gone, err := a.Presence().Disconnect(ctx, "alice", fmt.Sprintf("c%d", i))
			if err != nil {
				t.Error(err)
			}
			if gone {
				offline.Add(1)
			}
		})
	}
	wg.Wait()
	if n := offline.Load(); n != 1 {
		t.Fatalf("%d concurrent closes of alice's connections reported offline, want 1", n)
	}
	wantOnlineUsers(t, b, "bob")
}

// restartEmpty restarts Redis empty and waits until every instance talks to
// the new server.
func restartEmpty(t *testing.T, s *redistest.Server, insts ...*Client) {
	t.Helper()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, c := range insts {
		eventually(t, 10*time.Second, "the instance reconnected", func() error { return c.Check(context.Background()) })
	}
}

func TestPresenceAfterReapWhileAway(t *testing.T) {
	// While instance a could not reach Redis, its heartbeat expired and b
	// reaped its connections; then commands a sent during the outage reached
	// Redis late, as TCP retransmission delivers them.
	for name, late := range map[string]func(t *testing.T, a *Client){
		"a late heartbeat does not hide the reap": func(t *testing.T, a *Client) {
			if err := raw(t, a.cfg.URL).Set(context.Background(), a.presence.hb, a.presence.instance, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		},
		"a late connect whose call failed does not hide the reap": func(t *testing.T, a *Client) {
			canceled, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := a.Presence().Connect(canceled, "bob", "c2"); err == nil {
				t.Fatal("Connect with a canceled context succeeded")
			}
			p := a.presence
			err := connectScript.Run(context.Background(), raw(t, a.cfg.URL), []string{p.conns, p.users, p.instances, p.hb},
				p.instance, p.ttl.Milliseconds(), "c2", "bob").Err()
			if err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			url, prefix, ctx := sharedURL(t), testPrefix(t), ctxT(t)
			a, b := awayInstance(t, url, prefix, "a"), instance(t, url, prefix, "b")
			mustConnect(t, a, "alice", "c1")
			if err := raw(t, url).Del(ctx, a.presence.hb).Err(); err != nil {
				t.Fatal(err)
			}
			if got := reap(t, b); !slices.Equal(got, []string{"alice"}) {
				t.Fatalf("Reap of the away instance = %v, want [alice]", got)
			}
			late(t, a)
			if err := a.presence.beat(ctx); err != nil {
				t.Fatal(err)
			}
			conns, err := raw(t, url).HGetAll(ctx, a.presence.conns).Result()
			if err != nil {
				t.Fatal(err)
			}
			if conns["c1"] != "alice" {
				t.Fatalf("a's connections in Redis after its heartbeat: %v, want c1 of alice", conns)
			}
			if online, _ := b.Presence().Online(ctx); !online["alice"] {
				t.Fatalf("Online on b = %v, want alice, connected on a all along", online)
			}
			// What Redis holds again is counted once: the close goes offline.
			reap(t, a) // forgets a connection whose Connect failed
			if offline, err := a.Presence().Disconnect(ctx, "alice", "c1"); err != nil || !offline {
				t.Fatalf("Disconnect alice: offline %v, %v; want true", offline, err)
			}
			wantOnlineUsers(t, b)
		})
	}
}

// wantOnlineUsers checks that Online on c lists exactly users.
func wantOnlineUsers(t *testing.T, c *Client, users ...string) {
	t.Helper()
	got, err := c.Presence().Online(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, u := range users {
		want[u] = true
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Online() = %v, want %v", got, want)
	}
}
