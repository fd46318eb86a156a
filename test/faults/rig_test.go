//go:build faults

package faults

import (
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/fakees"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
	"github.com/chatcluster/chatcluster/chatserver/sqlite/sqlitetest"
)

// startTimeout bounds the start of any process of the campaign.
const startTimeout = time.Minute

// server is a process with an HTTP /readyz: a chat-server instance or the
// indexer.
type server struct {
	name string
	base string // http://host:port, as clients reach it
	p    *proc
}

// start runs the process and waits until it is ready.
func (s *server) start() error {
	if err := s.p.run(); err != nil {
		return err
	}
	return s.p.waitReady(s.base, startTimeout)
}

// restart kills the process, as a crash, and starts it again.
func (s *server) restart() error {
	s.p.kill()
	return s.start()
}

// rig is the system under test of one fault: the chat-server instances,
// what they run on, and the users and rooms of the load.
type rig struct {
	t     *testing.T
	chats []*server

	redis      *redistest.Server
	redisProxy *proxy
	mongo      *proc // FerretDB
	mongoProxy *proxy
	kafka      *proc // kfake
	brokers    string
	topic      string
	es         *fakees.Server
	esURL      string // the front that refuses poison (poison_test.go)
	indexer    *server
	disk       string // a small tmpfs holding the embedded server's data
	link       *veth  // between instance b and Redis

	senders, watchers []string
	public            []string
	pace              time.Duration

	past   *ledger
	tokens map[string]string // base+" "+user → token, for the checker
}

// ledger is what the rounds of a rig so far did and found: the checker
// holds every round against all of it.
type ledger struct {
	acked    []ack              // sends acknowledged
	tried    map[roomCID]string // sends tried, with their text
	changes  []*change          // edits and reactions tried, each user's in order
	reported map[string]bool    // findings counted already
}

// add takes in what a round's load did.
func (g *ledger) add(h *history) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g.acked = append(g.acked, h.acks...)
	g.changes = append(g.changes, h.changes...)
	for k, text := range h.tried {
		g.tried[k] = text
	}
}

// firstTime reports whether a finding is new: one lost message, say, is
// counted in the round that found it and not again in later rounds.
func (g *ledger) firstTime(kind string, key ...string) bool {
	k := kind + " " + strings.Join(key, " ")
	if g.reported[k] {
		return false
	}
	g.reported[k] = true
	return true
}

func newRig(t *testing.T) *rig {
	return &rig{
		t: t, senders: []string{"s0", "s1", "s2", "s3", "s4", "s5"}, public: []string{"lobby", "ops", "random"},
		pace: 250 * time.Millisecond, tokens: map[string]string{},
		past: &ledger{tried: map[roomCID]string{}, reported: map[string]bool{}},
	}
}

// multiRig is two chat-server processes on one Redis, FerretDB and kfake,
// with the indexer writing into a fake Elasticsearch.
func multiRig(t *testing.T) *rig {
	r := newRig(t)
	r.startRedis()
	r.startFerretDB()
	r.startKafka()
	r.startES()
	r.indexer = r.serve("indexer", []string{bins.chat, "index"}, r.indexerEnv())
	for _, name := range []string{"a", "b"} {
		r.chats = append(r.chats, r.serve(name, []string{bins.chat}, r.chatEnv(name)))
	}
	r.watchers = []string{"w0", "w1"}
	return r
}

// embeddedRig is one chat server on its embedded SQLite store in dataDir
// ("": a fresh directory).
func embeddedRig(t *testing.T, fsync bool, dataDir string) *rig {
	r := newRig(t)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	r.chats = []*server{r.serve("single", []string{bins.chat}, append([]string{
		"CHAT_DATA_DIR=" + dataDir, "CHAT_FSYNC=" + strconv.FormatBool(fsync),
	}, chatLimits...))}
	r.watchers = []string{"w0"}
	r.pace = 100 * time.Millisecond
	return r
}

// diskRig is the embedded server with its data on a 32 MiB tmpfs.
func diskRig(t *testing.T) *rig {
	dir := sqlitetest.SmallDisk(t, 32<<20)
	r := embeddedRig(t, true, filepath.Join(dir, "data"))
	r.disk = dir
	return r
}

// partitionRig is two chat-server processes on Redis and FerretDB, the
// second one in a network namespace of its own whose only way to Redis is
// a veth pair the fault cuts (netns_test.go). Its clients and its way to
// FerretDB go through forwarders of the test, which the fault leaves alone.
func partitionRig(t *testing.T) *rig {
	needRoot(t, "the network partition")
	r := newRig(t)
	r.startRedis()
	r.startFerretDB()
	r.chats = []*server{r.serve("a", []string{bins.chat}, r.chatEnv("a"))}

	chatNS, redisNS := newNetns(t, "chat"), newNetns(t, "redis")
	r.link = newVeth(t, chatNS, redisNS)
	// Redis, as instance b sees it: the far end of the veth pair.
	redisAddr := net.JoinHostPort(r.link.addrB, "6379")
	forward(t, redisNS.listen, redisAddr, func() (net.Conn, error) { return net.Dial("tcp", r.redis.Addr()) })
	// FerretDB at the address the others use, on b's own loopback.
	forward(t, chatNS.listen, r.mongoProxy.Addr(), func() (net.Conn, error) { return net.Dial("tcp", r.mongoProxy.Addr()) })
	// b's clients, from the host's loopback into b's.
	const chatAddr = "127.0.0.1:8080"
	clients := forward(t, func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }, "127.0.0.1:0",
		func() (net.Conn, error) { return chatNS.dial(chatAddr) })

	env := r.chatEnv("b")
	env = append(env, "CHAT_ADDR="+chatAddr, "CHAT_REDIS_URL=redis://"+redisAddr+"/0") // the later value wins
	r.chats = append(r.chats, r.startServer("b", chatNS.command(bins.chat), env, "http://"+clients.Addr()))
	r.watchers = []string{"w0", "w1"}
	return r
}

// forward starts a proxy listening at addr through listen and dialing
// through dial.
func forward(t *testing.T, listen func(string) (net.Listener, error), addr string, dial func() (net.Conn, error)) *proxy {
	t.Helper()
	ln, err := listen(addr)
	if err != nil {
		t.Fatalf("listening at %s: %v", addr, err)
	}
	return startProxy(t, ln, dial)
}

// serve starts a server on a free loopback port.
func (r *rig) serve(name string, argv, env []string) *server {
	addr := fmt.Sprintf("127.0.0.1:%d", chattest.FreePort(r.t))
	return r.startServer(name, argv, append(env, "CHAT_ADDR="+addr), "http://"+addr)
}

func (r *rig) startServer(name string, argv, env []string, base string) *server {
	s := &server{name: name, base: base, p: newProc(r.t, name, argv, env)}
	if err := s.start(); err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *rig) startRedis() {
	var err error
	if r.redis, err = redistest.Start(r.t.TempDir()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.redis.Stop)
	r.redisProxy = tcpProxy(r.t, r.redis.Addr())
}

// startFerretDB starts FerretDB on a free port, which its restarts keep,
// with data that its restarts keep too.
func (r *rig) startFerretDB() {
	r.mongo = newProc(r.t, "ferretdb", []string{bins.standins, "-data-dir", r.t.TempDir(), "-kafka=false", "-mongodb-addr", "127.0.0.1:0"}, nil)
	uri, err := r.startMongo()
	if err != nil {
		r.t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		r.t.Fatalf("FerretDB's URI %q: %v", uri, err)
	}
	r.mongo.argv[len(r.mongo.argv)-1] = u.Host
	r.mongoProxy = tcpProxy(r.t, u.Host)
}

// startMongo starts FerretDB and returns its URI once it listens.
func (r *rig) startMongo() (string, error) {
	if err := r.mongo.run(); err != nil {
		return "", err
	}
	return r.mongo.waitLine("CHAT_MONGODB_URI", startTimeout)
}

func (r *rig) startKafka() {
	r.topic = "chat.activity." + standin.RandomName()
	r.kafka = newProc(r.t, "kfake", []string{bins.standins, "-data-dir", r.t.TempDir(), "-mongodb-addr=",
		"-kafka-port", "0", "-kafka-topic", r.topic, "-kafka-partitions", "3"}, nil)
	if err := r.kafka.run(); err != nil {
		r.t.Fatal(err)
	}
	var err error
	if r.brokers, err = r.kafka.waitLine("CHAT_KAFKA_BROKERS", startTimeout); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) startES() {
	r.es = fakees.Start(r.t)
	front := httptest.NewServer(poisonFront(r.es.URL))
	r.t.Cleanup(front.Close)
	r.esURL = front.URL
}

// chatLimits is the configuration every chat server of the campaign shares:
// the whole load comes from one address and sends as fast as it likes, so
// the limits per client address and the command rate are off; shutdown is
// quick.
var chatLimits = []string{"CHAT_RATE_LIMIT=0", "CHAT_SIGNUPS_PER_ADDRESS=0", "CHAT_SHUTDOWN_TIMEOUT=5s"}

// chatEnv is the configuration of chat-server instance name on the rig's
// backends.
func (r *rig) chatEnv(name string) []string {
	env := append([]string{
		"CHAT_DATA_DIR=" + r.t.TempDir(), "CHAT_INSTANCE_ID=" + name,
		"CHAT_REDIS_URL=redis://" + r.redisProxy.Addr() + "/0",
		"CHAT_MONGODB_URI=mongodb://" + r.mongoProxy.Addr() + "/?directConnection=true",
	}, chatLimits...)
	if r.kafka != nil {
		env = append(env, "CHAT_KAFKA_BROKERS="+r.brokers, "CHAT_KAFKA_TOPIC="+r.topic, "CHAT_ELASTICSEARCH_URL="+r.esURL)
	}
	return env
}

// indexerEnv is the indexer's configuration: small batches written often,
// so that a kill lands in the middle of one.
func (r *rig) indexerEnv() []string {
	return []string{
		"CHAT_DATA_DIR=" + r.t.TempDir(), "CHAT_SHUTDOWN_TIMEOUT=5s",
		"CHAT_KAFKA_BROKERS=" + r.brokers, "CHAT_KAFKA_TOPIC=" + r.topic, "CHAT_ELASTICSEARCH_URL=" + r.esURL,
		"CHAT_INDEXER_GROUP=indexer-" + standin.RandomName(), "CHAT_INDEXER_BATCH=20",
		"CHAT_INDEXER_FLUSH_INTERVAL=200ms", "CHAT_INDEXER_RETRY_BACKOFF=200ms",
	}
}

// bases returns the instances in the order worker i tries them: its home
// first.
func (r *rig) bases(i int) func() []string {
	return func() []string {
		out := make([]string, 0, len(r.chats))
		for k := range r.chats {
			out = append(out, r.chats[(i+k)%len(r.chats)].base)
		}
		return out
	}
}

// reactsTo says whose messages sender i reacts to. On the MongoDB stand-in,
// senders react only to the messages of senders with their home instance:
// FerretDB applies a conditional update in two steps (it checks the filter,
// then writes by id), so two instances changing one message at the same
// instant can each succeed and one change be lost, which a MongoDB replica
// set never allows; the store's compare-and-set is tested for what FerretDB
// can show in chatserver/mongo. Elsewhere: anybody's.
func (r *rig) reactsTo(i int) func(from string) bool {
	if r.mongo == nil || len(r.chats) < 2 {
		return nil
	}
	return func(from string) bool {
		j := slices.Index(r.senders, from)
		return j >= 0 && j%len(r.chats) == i%len(r.chats)
	}
}

// dms are the DM rooms of sender i: with the senders before and after it.
func (r *rig) dms(i int) []string {
	n := len(r.senders)
	return []string{dmRoom(r.senders[i], r.senders[(i+n-1)%n]), dmRoom(r.senders[i], r.senders[(i+1)%n])}
}

// rooms are every room the load uses.
func (r *rig) rooms() []string {
	out := append([]string(nil), r.public...)
	for i := range r.senders {
		out = append(out, r.dms(i)[1])
	}
	return out
}

func dmRoom(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "dm:" + a + "_" + b
}
