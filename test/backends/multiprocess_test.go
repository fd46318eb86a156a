package backends

// End-to-end tests of two real chatserver processes (the binary of
// ./cmd/chatserver, built once in TestMain) sharing one real redis-server,
// FerretDB (for MongoDB) and kfake (for Kafka): the protocol's guarantees
// across instances, including an instance dying with SIGKILL.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
)

// chatBinary is the chatserver binary TestMain builds.
var chatBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chatserver-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	chatBinary = filepath.Join(dir, "chatserver")
	build := exec.Command("go", "build", "-o", chatBinary, "github.com/chatcluster/chatcluster/cmd/chatserver")
	// Built in the main module, with its own go.mod and go.sum.
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building chatserver:", err)
		return 1
	}
	// FerretDB on a shared two-core machine can be slow; every wait of
	// chattest is bounded by this, so it only matters when something is wrong.
	chattest.Timeout = 30 * time.Second
	redistest.QuietClientLog()
	return m.Run()
}

// backendsEnv is the environment shared by the instances of one test.
type backendsEnv struct {
	redisURL, mongoURI, mongoDB, brokers, topic string
	elasticURL                                  string // "": none
}

// startBackends starts a redis-server, FerretDB and kfake of the test's own
// (a fresh topic), all stopped when the test ends.
func startBackends(t *testing.T) backendsEnv {
	t.Helper()
	rs, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	uri, db := mongoTarget(t)
	topic := "chat.activity." + randomName()
	kc := startKafka(t, 0, topic, 3)
	return backendsEnv{redisURL: rs.URL(), mongoURI: uri, mongoDB: db, brokers: strings.Join(kc.ListenAddrs(), ","), topic: topic}
}

// chatProc is one running chatserver process.
type chatProc struct {
	id   string
	base string // http://127.0.0.1:port
	log  string // path of its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startChat starts a chatserver named id on the backends and waits until its
// /readyz answers 200. The process is stopped when the test ends.
func startChat(t *testing.T, be backendsEnv, id string) *chatProc {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", chattest.FreePort(t))
	return startProc(t, id, nil, append(be.env(), []string{
		"CHAT_ADDR=" + addr,
		"CHAT_DATA_DIR=" + filepath.Join(dir, "data"),
		"CHAT_REDIS_URL=" + be.redisURL,
		"CHAT_MONGODB_URI=" + be.mongoURI,
		"CHAT_MONGODB_DATABASE=" + be.mongoDB,
		"CHAT_RATE_LIMIT=0",
		"CHAT_INSTANCE_ID=" + id,
		"CHAT_ADMINS=admin",
		"CHAT_ADMIN_PASSWORD=adminpass1",
		"CHAT_SHUTDOWN_TIMEOUT=5s",
	}...), "http://"+addr, "http://"+addr)
}

// env is what every process of the test, server or indexer, is configured
// with beyond its own: the activity topic, and Elasticsearch if there is one.
func (be backendsEnv) env() []string {
	env := []string{"CHAT_KAFKA_BROKERS=" + be.brokers, "CHAT_KAFKA_TOPIC=" + be.topic}
	if be.elasticURL != "" {
		env = append(env, "CHAT_ELASTICSEARCH_URL="+be.elasticURL)
	}
	return env
}

// startProc starts the chatserver binary with args and env (on top of the
// test's own environment), named id in the logs, and waits until
// probes+"/readyz" answers 200. base is where its chat is served. The
// process is stopped when the test ends.
func startProc(t *testing.T, id string, args, env []string, base, probes string) *chatProc {
	t.Helper()
	dir := t.TempDir()
	p := &chatProc{id: id, base: base, log: filepath.Join(dir, "chatserver.log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chatBinary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test binary even if the tests crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	p.cmd = cmd
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(probes + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			p.dumpLog(t)
			t.Fatalf("chatserver %s exited before it was ready", id)
		default:
		}
		if time.Now().After(deadline) {
			p.dumpLog(t)
			t.Fatalf("chatserver %s: /readyz not 200 within 60s (last: %v)", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process gracefully (SIGTERM), or with SIGKILL if that takes
// too long; stopping an exited process does nothing.
func (p *chatProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// kill ends the process with SIGKILL, like a crash, and waits for it.
func (p *chatProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *chatProc) dumpLog(t *testing.T) {
	b, _ := os.ReadFile(p.log)
	s := string(b)
	if len(s) > 8000 {
		s = "…" + s[len(s)-8000:]
	}
	t.Logf("chatserver %s log:\n%s", p.id, s)
}

// startTwo starts the backends and two instances on them, one after the other.
func startTwo(t *testing.T) (a, b *chatProc) {
	t.Helper()
	be := startBackends(t)
	return startChat(t, be, "a"), startChat(t, be, "b")
}

const mpPassword = "chat-secret-123"

// history pages through a room's whole history on c, oldest first.
func fullHistory(t *testing.T, c *chattest.Client, room string) []chattest.Message {
	t.Helper()
	var all []chattest.Message
	var before int64
	for {
		cmd := map[string]any{"type": "history", "room": room, "limit": 100}
		if before > 0 {
			cmd["before"] = before
		}
		var page struct {
			Messages []chattest.Message `json:"messages"`
			HasMore  bool               `json:"has_more"`
		}
		c.OK(cmd, &page)
		all = append(page.Messages, all...)
		if !page.HasMore || len(page.Messages) == 0 {
			return all
		}
		before = page.Messages[0].Seq
	}
}

// checkGapFree fails t unless msgs have seqs 1..len(msgs) in order and
// distinct ids.
func checkGapFree(t *testing.T, who string, msgs []chattest.Message) {
	t.Helper()
	ids := map[string]bool{}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("%s: message %d has seq %d, want %d", who, i, m.Seq, i+1)
		}
		if ids[m.ID] {
			t.Fatalf("%s: duplicate id %s at seq %d", who, m.ID, m.Seq)
		}
		ids[m.ID] = true
	}
}

func TestTwoProcesses_Redis_FerretDB_kfake_RoomOrder(t *testing.T) {
	a, b := startTwo(t)
	const room = "order"
	const perSender = 40
	procs := []*chatProc{a, b}

	// Two subscribers on each instance, joined before anything is sent.
	var subs []*chattest.Client
	var subNames []string
	for i := range 4 {
		p := procs[i%2]
		name := fmt.Sprintf("sub%d", i)
		c := chattest.Dial(t, p.base, chattest.Login(t, p.base, name, mpPassword))
		c.OK(map[string]any{"type": "join", "room": room}, nil)
		subs = append(subs, c)
		subNames = append(subNames, name+"@"+p.id)
	}
	// Two senders on each instance.
	var senders []*chattest.Client
	var senderNames []string
	for i := range 4 {
		p := procs[i%2]
		name := fmt.Sprintf("sender%d", i)
		senders = append(senders, chattest.Dial(t, p.base, chattest.Login(t, p.base, name, mpPassword)))
		senderNames = append(senderNames, name)
	}

	acked := make([][]chattest.Message, len(senders))
	errs := make([]error, len(senders))
	var wg sync.WaitGroup
	for i, c := range senders {
		wg.Go(func() {
			for n := range perSender {
				f, err := c.CommandErr(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("%s #%d", senderNames[i], n), "cid": fmt.Sprintf("%s-%d", senderNames[i], n)})
				if err == nil && !f.OK {
					err = fmt.Errorf("send: %s", f.Raw)
				}
				var data struct{ Message chattest.Message }
				if err == nil {
					err = json.Unmarshal(f.Data, &data)
				}
				if err != nil {
					errs[i] = fmt.Errorf("%s message %d: %w", senderNames[i], n, err)
					return
				}
				acked[i] = append(acked[i], data.Message)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	total := perSender * len(senders)
	byID := map[string]chattest.Message{}
	for i, ms := range acked {
		for n, m := range ms {
			if m.From != senderNames[i] || m.Room != room {
				t.Fatalf("ack %d of %s: %+v", n, senderNames[i], m)
			}
			if n > 0 && m.Seq <= ms[n-1].Seq {
				t.Fatalf("%s: ack %d has seq %d after %d", senderNames[i], n, m.Seq, ms[n-1].Seq)
			}
			byID[m.ID] = m
		}
	}
	if len(byID) != total {
		t.Fatalf("%d distinct acked ids, want %d", len(byID), total)
	}

	for i, c := range subs {
		got := c.Messages(room, total)
		checkGapFree(t, subNames[i], got)
		for _, m := range got {
			if ack, ok := byID[m.ID]; !ok || ack.Seq != m.Seq || ack.Text != m.Text {
				t.Fatalf("%s: received %+v, acked %+v", subNames[i], m, ack)
			}
		}
		if c.Quiet(200*time.Millisecond, chattest.IsMessage(room)) == false {
			t.Fatalf("%s: a message beyond the %d sent", subNames[i], total)
		}
	}

	// Both instances read the same history.
	for _, p := range procs {
		c := chattest.Dial(t, p.base, chattest.Login(t, p.base, "reader", mpPassword))
		h := fullHistory(t, c, room)
		if len(h) != total {
			t.Fatalf("history on %s: %d messages, want %d", p.id, len(h), total)
		}
		checkGapFree(t, "history on "+p.id, h)
	}
}

func TestTwoProcesses_Redis_FerretDB_kfake_DMAndPresence(t *testing.T) {
	a, b := startTwo(t)

	// Everyone registers first: a DM to a user never registered is not_found.
	aliceTok := chattest.Login(t, a.base, "alice", mpPassword)
	bobTok := chattest.Login(t, b.base, "bob", mpPassword)
	carolTok := chattest.Login(t, b.base, "carol", mpPassword)

	alice := chattest.Dial(t, a.base, aliceTok)
	bob1 := chattest.Dial(t, b.base, bobTok)
	bob2 := chattest.Dial(t, b.base, bobTok)
	// bob's connections see alice's presence, which she had before they came.
	var users struct {
		Users []struct{ ID, Status string }
	}
	status, body := chattest.Do(t, http.MethodGet, b.base+"/api/users", bobTok, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/users on b: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &users); err != nil {
		t.Fatal(err)
	}
	online := map[string]string{}
	for _, u := range users.Users {
		online[u.ID] = u.Status
	}
	if online["alice"] != "online" || online["bob"] != "online" || online["carol"] != "offline" {
		t.Fatalf("users on b: %s", body)
	}
	// alice on a sees bob come online on b.
	alice.Next(chattest.IsPresence("bob", "online"))

	// A DM from alice on a reaches both of bob's connections on b without a join.
	const dm = "dm:alice_bob"
	var sent struct{ Message chattest.Message }
	alice.OK(map[string]any{"type": "send", "room": dm, "text": "hi bob", "cid": "dm-1"}, &sent)
	for i, c := range []*chattest.Client{bob1, bob2, alice} {
		got := c.Messages(dm, 1)[0]
		if got.ID != sent.Message.ID || got.From != "alice" || got.Text != "hi bob" || got.Seq != 1 {
			t.Fatalf("connection %d: %+v, sent %+v", i, got, sent.Message)
		}
	}
	// And bob's reply from b reaches alice on a.
	bob2.OK(map[string]any{"type": "send", "room": dm, "text": "hi alice", "cid": "dm-2"}, nil)
	if got := alice.Messages(dm, 1)[0]; got.From != "bob" || got.Seq != 2 {
		t.Fatalf("alice got %+v", got)
	}

	// carol, on either instance, may not send to, read or join the DM.
	carol := chattest.Dial(t, a.base, carolTok)
	alice.Next(chattest.IsPresence("carol", "online"))
	bob1.Next(chattest.IsPresence("carol", "online"))
	for _, cmd := range []map[string]any{
		{"type": "send", "room": dm, "text": "let me in", "cid": "c-1"},
		{"type": "history", "room": dm},
		{"type": "join", "room": dm},
	} {
		f := carol.Command(cmd)
		if f.OK || f.Error == nil || f.Error.Code != "forbidden" {
			t.Fatalf("carol %v: %s", cmd["type"], f.Raw)
		}
	}
	if !carol.Quiet(300*time.Millisecond, chattest.IsMessage(dm)) {
		t.Fatal("carol received a DM of alice and bob")
	}
	var h struct{ Messages []chattest.Message }
	bob1.OK(map[string]any{"type": "history", "room": dm}, &h)
	if len(h.Messages) != 2 {
		t.Fatalf("DM history: %+v", h.Messages)
	}

	// carol leaves a: alice on a and bob on b see her offline.
	carol.Close()
	alice.Next(chattest.IsPresence("carol", "offline"))
	bob1.Next(chattest.IsPresence("carol", "offline"))

	// bob stays online while one of his connections is open.
	bob1.Close()
	if !alice.Quiet(2500*time.Millisecond, chattest.IsPresence("bob", "offline")) {
		t.Fatal("bob offline while a connection of his is open")
	}
	bob2.Close()
	alice.Next(chattest.IsPresence("bob", "offline"))
}

func TestTwoProcesses_Redis_FerretDB_kfake_KillInstance(t *testing.T) {
	a, b := startTwo(t)
	const room = "crash"

	daveTok := chattest.Login(t, a.base, "dave", mpPassword)
	erinTok := chattest.Login(t, b.base, "erin", mpPassword)
	erin := chattest.Dial(t, b.base, erinTok)
	dave := chattest.Dial(t, a.base, daveTok) // dave is connected only to a
	erin.Next(chattest.IsPresence("dave", "online"))

	// erin on b and dave on a send into the room; a is killed while dave's
	// sends are in flight.
	var mu sync.Mutex
	var acked []chattest.Message
	ackedN := make(chan struct{}, 1000)
	record := func(m chattest.Message) {
		mu.Lock()
		acked = append(acked, m)
		mu.Unlock()
		ackedN <- struct{}{}
	}
	daveDone := make(chan struct{})
	go func() {
		defer close(daveDone)
		for n := range 500 {
			f, err := dave.CommandErr(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("dave #%d", n), "cid": fmt.Sprintf("dave-%d", n)})
			if err != nil || !f.OK {
				return // a is gone
			}
			var data struct{ Message chattest.Message }
			if json.Unmarshal(f.Data, &data) == nil {
				record(data.Message)
			}
		}
	}()
	for n := range 15 {
		var data struct{ Message chattest.Message }
		erin.OK(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("erin #%d", n), "cid": fmt.Sprintf("erin-%d", n)}, &data)
		record(data.Message)
	}
	// Wait until at least 15 of dave's sends are acknowledged too.
	for range 30 {
		select {
		case <-ackedN:
		case <-daveDone:
			t.Fatal("dave's sends ended before a was killed")
		case <-time.After(chattest.Timeout):
			t.Fatal("dave's sends not acknowledged")
		}
	}
	a.kill()
	killed := time.Now()
	<-daveDone
	if code := dave.WaitClosed(); code == 1000 {
		t.Fatalf("dave's connection closed normally (%d) by a SIGKILLed server", code)
	}
	mu.Lock()
	before := append([]chattest.Message(nil), acked...)
	mu.Unlock()

	// erin on b sees dave offline within the protocol's 30 s.
	deadline := killed.Add(30 * time.Second)
	for {
		status, body := chattest.Do(t, http.MethodGet, b.base+"/api/users", erinTok, nil)
		var users struct{ Users []struct{ ID, Status string } }
		if status == http.StatusOK && json.Unmarshal(body, &users) == nil {
			found := false
			for _, u := range users.Users {
				if u.ID == "dave" && u.Status == "offline" {
					found = true
				}
			}
			if found {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dave not offline on b within 30s of the kill: %d %s", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := erin.NextErr(chattest.IsPresence("dave", "offline")); err != nil {
		t.Fatalf("no presence offline of dave on erin's connection: %v", err)
	}

	// Every message acknowledged before the kill is in the history on b,
	// which is gap-free; b goes on appending after it.
	hist := fullHistory(t, erin, room)
	checkGapFree(t, "history on b", hist)
	byID := map[string]chattest.Message{}
	for _, m := range hist {
		byID[m.ID] = m
	}
	for _, m := range before {
		if got, ok := byID[m.ID]; !ok || got.Seq != m.Seq || got.Text != m.Text {
			t.Fatalf("acknowledged %+v: in history %v as %+v", m, ok, got)
		}
	}
	var after struct{ Message chattest.Message }
	erin.OK(map[string]any{"type": "send", "room": room, "text": "after the kill", "cid": "erin-after"}, &after)
	if after.Message.Seq != int64(len(hist))+1 {
		t.Fatalf("send after the kill got seq %d, history had %d", after.Message.Seq, len(hist))
	}
	t.Logf("%d messages acknowledged before the kill, %d in history; dave offline after %v", len(before), len(hist), time.Since(killed).Round(time.Second))
}
