package redis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// step is one presence call in a scenario: on instance 0 or 1, connect or
// disconnect user's conn, and the transition it must report.
type step struct {
	on   int
	op   string // "connect" or "disconnect"
	user string
	conn string
	want bool // online for connect, offline for disconnect
}

func TestPresenceTransitions(t *testing.T) {
	for name, steps := range map[string][]step{
		"a first connection goes online and its close goes offline": {
			{0, "connect", "alice", "c1", true},
			{0, "disconnect", "alice", "c1", true},
		},
		"a second connection on another instance keeps the user online until both close": {
			{0, "connect", "alice", "c1", true},
			{1, "connect", "alice", "c2", false},
			{0, "disconnect", "alice", "c1", false},
			{1, "disconnect", "alice", "c2", true},
		},
		"the same connection id on two instances counts twice": {
			{0, "connect", "alice", "c1", true},
			{1, "connect", "alice", "c1", false},
			{1, "disconnect", "alice", "c1", false},
			{0, "disconnect", "alice", "c1", true},
		},
		"a repeated connect counts once": {
			{0, "connect", "alice", "c1", true},
			{0, "connect", "alice", "c1", false},
			{0, "disconnect", "alice", "c1", true},
		},
		"a repeated disconnect reports offline once": {
			{0, "connect", "alice", "c1", true},
			{0, "disconnect", "alice", "c1", true},
			{0, "disconnect", "alice", "c1", false},
		},
		"disconnecting a connection never made changes nothing": {
			{0, "connect", "alice", "c1", true},
			{1, "disconnect", "alice", "c1", false},
			{0, "disconnect", "bob", "c9", false},
			{0, "disconnect", "alice", "c1", true},
		},
		"users are counted apart": {
			{0, "connect", "alice", "c1", true},
			{0, "connect", "bob", "c2", true},
			{1, "connect", "bob", "c3", false},
			{0, "disconnect", "alice", "c1", true},
			{0, "disconnect", "bob", "c2", false},
			{1, "disconnect", "bob", "c3", true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			url, prefix, ctx := sharedURL(t), testPrefix(t), ctxT(t)
			ps := []chatserver.Presence{instance(t, url, prefix, "a").Presence(), instance(t, url, prefix, "b").Presence()}
			online := map[string]int{}
			for i, s := range steps {
				var got bool
				var err error
				if s.op == "connect" {
					got, err = ps[s.on].Connect(ctx, s.user, s.conn)
				} else {
					got, err = ps[s.on].Disconnect(ctx, s.user, s.conn)
				}
				if err != nil {
					t.Fatalf("step %d %+v: %v", i, s, err)
				}
				if got != s.want {
					t.Fatalf("step %d %+v: transition %v, want %v", i, s, got, s.want)
				}
				if got && s.op == "connect" {
					online[s.user]++
				} else if got {
					online[s.user]--
				}
				wantOnline(t, ps[1-s.on], online)
			}
		})
	}
}

// wantOnline checks Online against the users counted online by transitions.
func wantOnline(t *testing.T, p chatserver.Presence, counted map[string]int) {
	t.Helper()
	want := map[string]bool{}
	for u, n := range counted {
		if n > 0 {
			want[u] = true
		}
	}
	got, err := p.Online(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Online() = %v, want %v", got, want)
	}
}

func TestPresenceCrash(t *testing.T) {
	t.Run("the connections of a crashed instance are reaped once its heartbeat expires", func(t *testing.T) {
		url, prefix, ctx := sharedURL(t), testPrefix(t), ctxT(t)
		a, b := instance(t, url, prefix, "a"), instance(t, url, prefix, "b")
		mustConnect(t, a, "alice", "c1")
		mustConnect(t, a, "carol", "c2")
		mustConnect(t, a, "carol", "c3")
		mustConnect(t, b, "alice", "c4")
		if got := reap(t, b); len(got) != 0 {
			t.Fatalf("Reap with every instance alive = %v, want nobody", got)
		}
		a.crash()
		var offline []string
		eventually(t, 10*testTTL, "carol offline after a's heartbeat expired", func() error {
			offline = append(offline, reap(t, b)...)
			if len(offline) == 0 {
				return fmt.Errorf("nobody reaped yet")
			}
			return nil
		})
		if !slices.Equal(offline, []string{"carol"}) {
			t.Fatalf("reaped %v, want [carol] (alice is still on b)", offline)
		}
		if got := reap(t, b); len(got) != 0 {
			t.Fatalf("second Reap = %v, want nobody", got)
		}
		wantOnline(t, b.Presence(), map[string]int{"alice": 1})
		if offline, err := b.Presence().Disconnect(ctx, "alice", "c4"); err != nil || !offline {
			t.Fatalf("alice's last connection closed: offline %v, %v; want true", offline, err)
		}
	})

	t.Run("concurrent reapers return each user exactly once", func(t *testing.T) {
		url, prefix := sharedURL(t), testPrefix(t)
		dead := instance(t, url, prefix, "dead")
		const users = 200
		for i := range users {
			mustConnect(t, dead, fmt.Sprintf("u%d", i), fmt.Sprintf("c%d", i))
			mustConnect(t, dead, fmt.Sprintf("u%d", i), fmt.Sprintf("d%d", i))
		}
		reapers := []*Client{instance(t, url, prefix, "r1"), instance(t, url, prefix, "r2"), instance(t, url, prefix, "r3")}
		dead.crash()
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		deadline := time.Now().Add(10 * testTTL)
		for _, r := range reapers {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					got, err := r.Presence().Reap(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, u := range got {
						seen[u]++
					}
					done := len(seen) == users
					mu.Unlock()
					if done {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if len(seen) != users {
			t.Fatalf("reaped %d users, want %d", len(seen), users)
		}
		for u, n := range seen {
			if n != 1 {
				t.Errorf("%s returned by %d Reap calls, want 1", u, n)
			}
		}
		wantOnline(t, reapers[0].Presence(), nil)
	})

	t.Run("a gracefully closed instance is reaped without waiting for its heartbeat to expire", func(t *testing.T) {
		url, prefix := sharedURL(t), testPrefix(t)
		a := instance(t, url, prefix, "a")
		mustConnect(t, a, "alice", "c1")
		// A long TTL proves the reap does not wait for it.
		ctx := ctxT(t)
		b, err := Open(ctx, Config{URL: url, InstanceID: "b", Prefix: prefix, HeartbeatTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if got := reap(t, b); !slices.Equal(got, []string{"alice"}) {
			t.Fatalf("Reap after a closed = %v, want [alice]", got)
		}
	})

	t.Run("an instance restarted under the same id does not inherit its predecessor's connections", func(t *testing.T) {
		url, prefix, ctx := sharedURL(t), testPrefix(t), ctxT(t)
		old := instance(t, url, prefix, "a")
		mustConnect(t, old, "alice", "c1")
		old.crash()
		restarted := instance(t, url, prefix, "a")
		if online, err := restarted.Presence().Connect(ctx, "alice", "c1"); err != nil || online {
			t.Fatalf("Connect on the restarted instance: online %v, %v; want false, alice is still counted on the old one", online, err)
		}
		eventually(t, 10*testTTL, "the old instance reaped", func() error {
			if got := reap(t, restarted); len(got) != 0 {
				return fmt.Errorf("reaped %v: alice is still connected", got)
			}
			n, err := raw(t, url).SCard(ctx, restarted.presence.instances).Result()
			if err != nil {
				return err
			}
			if n != 1 {
				return fmt.Errorf("%d instances hold connections, want 1", n)
			}
			return nil
		})
		if offline, err := restarted.Presence().Disconnect(ctx, "alice", "c1"); err != nil || !offline {
			t.Fatalf("Disconnect: offline %v, %v; want true", offline, err)
		}
	})
}

func TestPresenceRecovery(t *testing.T) {
	t.Run("a Disconnect that failed is completed by the next Reap, which reports the user offline", func(t *testing.T) {
		url, prefix := sharedURL(t), testPrefix(t)
		a, b := instance(t, url, prefix, "a"), instance(t, url, prefix, "b")
		mustConnect(t, a, "alice", "c1")
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := a.Presence().Disconnect(canceled, "alice", "c1"); err == nil {
			t.Fatal("Disconnect with a canceled context succeeded")
		}
		wantOnline(t, b.Presence(), map[string]int{"alice": 1})
		if got := reap(t, a); !slices.Equal(got, []string{"alice"}) {
			t.Fatalf("Reap = %v, want [alice]", got)
		}
		wantOnline(t, b.Presence(), nil)
		if got := reap(t, a); len(got) != 0 {
			t.Fatalf("second Reap = %v, want nobody", got)
		}
	})

	t.Run("connections are recorded again after Redis restarts empty", func(t *testing.T) {
		s := ownServer(t)
		prefix, ctx := testPrefix(t), ctxT(t)
		a, b := instance(t, s.URL(), prefix, "a"), instance(t, s.URL(), prefix, "b")
		mustConnect(t, a, "alice", "c1")
		mustConnect(t, b, "bob", "c2")
		mustConnect(t, b, "carol", "c3")
		if _, err := b.Presence().Disconnect(ctx, "carol", "c3"); err != nil {
			t.Fatal(err)
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"alice": true, "bob": true}
		eventually(t, 10*time.Second, "both instances' connections back in Redis", func() error {
			got, err := a.Presence().Online(ctx)
			if err == nil && !maps.Equal(got, want) {
				err = fmt.Errorf("online %v, want %v", got, want)
			}
			return err
		})
		// Nothing is reaped and the counts are right: each connection was
		// recorded once.
		if got := reap(t, a); len(got) != 0 {
			t.Fatalf("Reap = %v, want nobody", got)
		}
		if offline, err := a.Presence().Disconnect(ctx, "alice", "c1"); err != nil || !offline {
			t.Fatalf("Disconnect alice: offline %v, %v; want true", offline, err)
		}
	})

	t.Run("a connection made right after Redis restarted is not reaped", func(t *testing.T) {
		s := ownServer(t)
		prefix, ctx := testPrefix(t), ctxT(t)
		// The heartbeat is an hour away: only Connect itself can re-announce
		// the instance.
		a, err := Open(ctx, Config{URL: s.URL(), InstanceID: "a", Prefix: prefix, HeartbeatTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b := instance(t, s.URL(), prefix, "b")
		mustConnect(t, a, "alice", "c1")
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "Connect after the restart", func() error {
			_, err := a.Presence().Connect(ctx, "bob", "c2")
			return err
		})
		if got := reap(t, b); len(got) != 0 {
			t.Fatalf("Reap = %v, want nobody: a is alive", got)
		}
		want := map[string]bool{"alice": true, "bob": true}
		eventually(t, 10*time.Second, "alice re-recorded", func() error {
			got, err := b.Presence().Online(ctx)
			if err == nil && !maps.Equal(got, want) {
				err = fmt.Errorf("online %v, want %v", got, want)
			}
			return err
		})
	})
}

func TestPresenceConcurrentTransitions(t *testing.T) {
	url, prefix := sharedURL(t), testPrefix(t)
	insts := []*Client{instance(t, url, prefix, "a"), instance(t, url, prefix, "b")}
	const conns = 40
	count := func(op func(p chatserver.Presence, conn string) (bool, error)) int {
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			n  int
		)
		for i := range conns {
			wg.Go(func() {
				ok, err := op(insts[i%2].Presence(), fmt.Sprintf("c%d", i))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if ok {
					n++
				}
			})
		}
		wg.Wait()
		return n
	}
	ctx := ctxT(t)
	if n := count(func(p chatserver.Presence, c string) (bool, error) { return p.Connect(ctx, "alice", c) }); n != 1 {
		t.Fatalf("%d concurrent connects reported online, want 1", n)
	}
	if n := count(func(p chatserver.Presence, c string) (bool, error) { return p.Disconnect(ctx, "alice", c) }); n != 1 {
		t.Fatalf("%d concurrent disconnects reported offline, want 1", n)
	}
}

func mustConnect(t *testing.T, c *Client, user, conn string) {
	t.Helper()
	if _, err := c.Presence().Connect(context.Background(), user, conn); err != nil {
		t.Fatal(err)
	}
}

func reap(t *testing.T, c *Client) []string {
	t.Helper()
	got, err := c.Presence().Reap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	return got
}
