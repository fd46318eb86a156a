package multi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
)

const password = "password-123"

// joined dials in with token and joins room.
func joined(t *testing.T, in *instance, token, room string) *chattest.Client {
	t.Helper()
	c := chattest.Dial(t, in.URL, token)
	c.OK(map[string]any{"type": "join", "room": room}, nil)
	return c
}

// sender sends to room over its own connection until stop is closed, n
// messages were acknowledged, or the connection fails. It records the seq of
// every acknowledged send and fails the test on any answer but ok or
// unavailable.
type sender struct {
	t     *testing.T
	c     *chattest.Client
	name  string
	mu    sync.Mutex
	acked []int64
	ids   map[int64]string
	fails atomic.Int64 // unavailable answers
}

func newSender(t *testing.T, in *instance, token, name string) *sender {
	return &sender{t: t, c: chattest.Dial(t, in.URL, token), name: name, ids: map[int64]string{}}
}

func (s *sender) run(room string, n int, stop <-chan struct{}) {
	for i := 0; len(s.snapshot()) < n; i++ {
		select {
		case <-stop:
			return
		default:
		}
		f, err := s.c.CommandErr(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("%s #%d", s.name, i), "cid": fmt.Sprintf("%s-%d", s.name, i)})
		if err != nil {
			return // the connection is gone: nothing was acknowledged
		}
		if !f.OK {
			if f.Error != nil && f.Error.Code == "unavailable" {
				s.fails.Add(1)
				continue
			}
			s.t.Errorf("%s: send answered %s", s.name, f.Raw)
			return
		}
		var d struct{ Message chattest.Message }
		if err := json.Unmarshal(f.Data, &d); err != nil {
			s.t.Errorf("%s: %v", s.name, err)
			return
		}
		s.mu.Lock()
		s.acked = append(s.acked, d.Message.Seq)
		s.ids[d.Message.Seq] = d.Message.ID
		s.mu.Unlock()
	}
}

func (s *sender) snapshot() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acked)
}

// runSenders runs every sender until each has n acks or stop closes.
func runSenders(room string, n int, stop <-chan struct{}, senders ...*sender) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() { s.run(room, n, stop) })
	}
	return &wg
}

// allAcked returns every acknowledged seq of senders, and fails on a seq
// acknowledged twice.
func allAcked(t *testing.T, senders ...*sender) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, s := range senders {
		s.mu.Lock()
		for seq, id := range s.ids {
			if _, dup := out[seq]; dup {
				t.Errorf("seq %d acknowledged to two sends", seq)
			}
			out[seq] = id
		}
		s.mu.Unlock()
	}
	return out
}

// wantInOrder reads room's message events from c up to seq last and fails
// unless they are exactly first..last, each once, in order.
func wantInOrder(t *testing.T, c *chattest.Client, who, room string, first, last int64) {
	t.Helper()
	for want := first; want <= last; want++ {
		f, err := c.NextErr(chattest.IsMessage(room))
		if err != nil {
			t.Fatalf("%s: waiting for seq %d of %s: %v", who, want, room, err)
		}
		if f.Message.Seq != want {
			t.Fatalf("%s: got seq %d of %s, want %d (gap, duplicate or disorder)", who, f.Message.Seq, room, want)
		}
	}
}

// wantStored checks that every acknowledged message is in the room's history
// as read through in.
func wantStored(t *testing.T, in *instance, token, room string, acked map[int64]string) {
	t.Helper()
	c := chattest.Dial(t, in.URL, token)
	stored := map[int64]string{}
	var page struct {
		Messages []chattest.Message
		HasMore  bool `json:"has_more"`
	}
	for since := int64(0); ; {
		c.OK(map[string]any{"type": "join", "room": room, "since": since}, &page)
		for _, m := range page.Messages {
			stored[m.Seq] = m.ID
			since = m.Seq
		}
		if !page.HasMore {
			break
		}
	}
	for seq, id := range acked {
		if stored[seq] != id {
			t.Errorf("acknowledged message seq %d id %s: stored %q", seq, id, stored[seq])
		}
	}
	for seq := int64(1); seq <= int64(len(stored)); seq++ {
		if _, ok := stored[seq]; !ok {
			t.Errorf("history of %s misses seq %d of %d", room, seq, len(stored))
		}
	}
}

func TestOrderWithConcurrentSendersOnBothInstances(t *testing.T) {
	cl := newCluster(t, sharedURL(t))
	a, b := cl.start("a"), cl.start("b")
	const room, perSender = "general", 60
	alice := chattest.Login(t, a.URL, "alice", password)
	bob := chattest.Login(t, b.URL, "bob", password)

	var subs []*chattest.Client
	for i, in := range []*instance{a, b, a, b, a, b} {
		subs = append(subs, joined(t, in, []string{alice, bob}[i%2], room))
	}
	var senders []*sender
	for i, in := range []*instance{a, b, a, b, a, b, a, b} {
		senders = append(senders, newSender(t, in, []string{alice, bob}[i%2], fmt.Sprintf("s%d-%s", i, in.name)))
	}
	runSenders(room, perSender, nil, senders...).Wait()
	acked := allAcked(t, senders...)
	total := int64(len(senders) * perSender)
	if int64(len(acked)) != total {
		t.Fatalf("%d sends acknowledged, want %d", len(acked), total)
	}
	for seq := int64(1); seq <= total; seq++ {
		if _, ok := acked[seq]; !ok {
			t.Fatalf("no send got seq %d", seq)
		}
	}
	for i, c := range subs {
		wantInOrder(t, c, fmt.Sprintf("subscriber %d", i), room, 1, total)
	}
}

func TestDirectMessagesAndPresenceAcrossInstances(t *testing.T) {
	cl := newCluster(t, sharedURL(t))
	a, b := cl.start("a"), cl.start("b")
	alice := chattest.Login(t, a.URL, "alice", password)
	bob := chattest.Login(t, b.URL, "bob", password)
	carol := chattest.Login(t, a.URL, "carol", password)

	watcher := chattest.Dial(t, a.URL, carol)
	aliceOnB := chattest.Dial(t, b.URL, alice) // a token works on every instance
	watcher.Next(chattest.IsPresence("alice", "online"))
	aliceOnA := chattest.Dial(t, a.URL, alice)
	bobOnA := chattest.Dial(t, a.URL, bob)
	watcher.Next(chattest.IsPresence("bob", "online"))

	const dm = "dm:alice_bob"
	aliceOnB.OK(map[string]any{"type": "send", "room": dm, "text": "hi bob", "cid": "dm-1"}, nil)
	for name, c := range map[string]*chattest.Client{"bob on a": bobOnA, "alice on a": aliceOnA, "alice on b (sender)": aliceOnB} {
		if f, err := c.NextErr(chattest.IsMessage(dm)); err != nil || f.Message.Text != "hi bob" || f.Message.Seq != 1 {
			t.Fatalf("%s: DM %+v, %v", name, f.Message, err)
		}
	}
	f := carolTriesDM(t, b, carol)
	if f.OK || f.Error == nil || f.Error.Code != "forbidden" {
		t.Fatalf("carol reading alice and bob's DM: %s, want forbidden", f.Raw)
	}

	aliceOnB.Close()
	aliceOnA.Close()
	watcher.Next(chattest.IsPresence("alice", "offline"))
	status, body := chattest.Do(t, http.MethodGet, b.URL+"/api/users", carol, nil)
	var users struct{ Users []struct{ ID, Status string } }
	if err := json.Unmarshal(body, &users); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/users: %d %s", status, body)
	}
	want := map[string]string{"alice": "offline", "bob": "online", "carol": "online"}
	for _, u := range users.Users {
		if want[u.ID] != u.Status {
			t.Errorf("%s is %s on b, want %s", u.ID, u.Status, want[u.ID])
		}
	}
}

func carolTriesDM(t *testing.T, in *instance, token string) chattest.Frame {
	c := chattest.Dial(t, in.URL, token)
	return c.Command(map[string]any{"type": "history", "room": "dm:alice_bob"})
}

func TestInstanceKilledAbruptly(t *testing.T) {
	cl := newCluster(t, sharedURL(t))
	a, b := cl.start("a"), cl.start("b")
	const room = "crash"
	alice := chattest.Login(t, a.URL, "alice", password)
	bob := chattest.Login(t, b.URL, "bob", password)
	dave := chattest.Login(t, a.URL, "dave", password)

	watcher := chattest.Dial(t, b.URL, bob)
	sub := joined(t, b, bob, room)
	chattest.Dial(t, a.URL, dave) // dave is only on a
	watcher.Next(chattest.IsPresence("dave", "online"))

	onA := []*sender{newSender(t, a, alice, "a1"), newSender(t, a, alice, "a2")}
	onB := []*sender{newSender(t, b, bob, "b1"), newSender(t, b, bob, "b2")}
	stopA, stopB := make(chan struct{}), make(chan struct{})
	wgA := runSenders(room, 1<<30, stopA, onA...)
	wgB := runSenders(room, 1<<30, stopB, onB...)
	// Kill a in the middle of its senders' traffic.
	deadline := time.Now().Add(30 * time.Second)
	for len(onA[0].snapshot())+len(onA[1].snapshot()) < 30 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	a.kill()
	close(stopA)
	wgA.Wait()

	// dave's only instance died: everybody sees him offline once its
	// heartbeat expires and b reaps it. b's senders go on meanwhile.
	watcher.Next(chattest.IsPresence("dave", "offline"))
	close(stopB)
	wgB.Wait()

	// a may have stored a last message it never published: the next message
	// makes b's hub fetch it from the store.
	last := newSender(t, b, bob, "last")
	last.run(room, 1, nil)
	senders := append(append(onA, onB...), last)
	acked := allAcked(t, senders...)
	if len(onA[0].snapshot())+len(onA[1].snapshot()) < 30 || len(onB[0].snapshot()) == 0 || len(onB[1].snapshot()) == 0 {
		t.Fatalf("only %d sends acknowledged", len(acked))
	}
	top := last.snapshot()[0]
	wantInOrder(t, sub, "subscriber on b", room, 1, top)
	wantStored(t, b, bob, room, acked)
}

func TestRedisRestartedMidRun(t *testing.T) {
	srv, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cl := newCluster(t, srv.URL())
	a, b := cl.start("a"), cl.start("b")
	const room = "restart"
	alice := chattest.Login(t, a.URL, "alice", password)
	bob := chattest.Login(t, b.URL, "bob", password)
	subA, subB := joined(t, a, alice, room), joined(t, b, bob, room)
	senders := []*sender{newSender(t, a, alice, "a"), newSender(t, b, bob, "b")}

	stop := make(chan struct{})
	wg := runSenders(room, 1<<30, stop, senders...)
	waitAcks := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for _, s := range senders {
			for len(s.snapshot()) < n {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %d acks, want %d", s.name, len(s.snapshot()), n)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	waitAcks(20)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	before := []int{len(senders[0].snapshot()), len(senders[1].snapshot())}
	waitAcks(max(before[0], before[1]) + 20)
	close(stop)
	wg.Wait()

	// Both instances subscribe again by themselves; then one more message
	// from each fills whatever Pub/Sub dropped during the restart.
	raw := goredisClient(t, srv.URL())
	eventually(t, 20*time.Second, "both instances subscribed again", func() error {
		n, err := raw.PubSubNumSub(t.Context(), cl.prefix+":events").Result()
		if err == nil && n[cl.prefix+":events"] != 2 {
			err = fmt.Errorf("%d subscribers", n[cl.prefix+":events"])
		}
		return err
	})
	for _, s := range senders {
		s.run(room, len(s.snapshot())+1, nil)
	}
	acked := allAcked(t, senders...)
	var top int64
	for seq := range acked {
		top = max(top, seq)
	}
	wantInOrder(t, subA, "subscriber on a", room, 1, top)
	wantInOrder(t, subB, "subscriber on b", room, 1, top)

	// Sessions lived in the Redis that restarted empty; new ones work on
	// every instance, and presence and fan-out are back.
	erin := chattest.Login(t, a.URL, "erin", password)
	wantStored(t, b, erin, room, acked)
	watcher := chattest.Dial(t, a.URL, erin)
	chattest.Dial(t, b.URL, chattest.Login(t, b.URL, "frank", password))
	watcher.Next(chattest.IsPresence("frank", "online"))
	for _, in := range []*instance{a, b} {
		if status, body := chattest.Do(t, http.MethodGet, in.URL+"/readyz", "", nil); status != http.StatusOK {
			t.Errorf("%s /readyz: %d %s", in.name, status, body)
		}
	}
}
