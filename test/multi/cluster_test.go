package multi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/redis"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

var sharedRedis redistest.Shared

func TestMain(m *testing.M) { os.Exit(sharedRedis.Run(m)) }

// Crash detection is quick in these tests: an instance's users go offline
// within heartbeatTTL + reapInterval of its death.
const (
	heartbeatTTL      = 2 * time.Second
	heartbeatInterval = 400 * time.Millisecond
	reapInterval      = 300 * time.Millisecond
)

// cluster is the backends instances share: a Redis (reached through each
// instance's proxy) and one message store.
type cluster struct {
	t         *testing.T
	redisAddr string
	prefix    string
	db        *sqlite.DB
	log       *slog.Logger
}

func newCluster(t *testing.T, redisURL string) *cluster {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() }) // after every instance: cleanups run last-registered first
	var r [4]byte
	_, _ = rand.Read(r[:])
	w := io.Discard
	if os.Getenv("CHAT_TEST_VERBOSE") != "" {
		w = os.Stderr
	}
	return &cluster{
		t:         t,
		redisAddr: hostPort(t, redisURL),
		prefix:    "multi." + hex.EncodeToString(r[:]),
		db:        db,
		log:       slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func hostPort(t *testing.T, redisURL string) string {
	t.Helper()
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	return opt.Addr
}

// instance is one chat server, the whole of it (package app) as the binary
// runs it, on the cluster's store and a Redis proxy of its own.
type instance struct {
	name  string
	URL   string // http://127.0.0.1:port
	proxy *proxy
	ln    *dropListener
	srv   *app.Server
	once  sync.Once
}

func (cl *cluster) start(name string) *instance {
	t := cl.t
	t.Helper()
	px := startProxy(t, cl.redisAddr)
	vars := map[string]string{
		"CHAT_REDIS_URL": "redis://" + px.Addr() + "/0", "CHAT_INSTANCE_ID": name,
		"CHAT_DATA_DIR": t.TempDir(), "CHAT_RATE_LIMIT": "0", "CHAT_SESSION_TTL": "1h", "CHAT_SHUTDOWN_TIMEOUT": "10s",
	}
	cfg, err := config.Parse("chatserver", nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, URL: "http://" + l.Addr().String(), proxy: px, ln: newDropListener(l)}
	in.srv = app.New(cfg, cl.log.With("instance", name), app.Options{
		Listener: in.ln,
		SQLite:   cl.db,
		Redis: func(c *redis.Config) {
			c.Prefix, c.HeartbeatTTL, c.HeartbeatInterval = cl.prefix, heartbeatTTL, heartbeatInterval
		},
		Service: func(c *service.Config) { c.ReapInterval = reapInterval },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := in.srv.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.stop)
	return in
}

// stop shuts the instance down gracefully, as on SIGTERM.
func (in *instance) stop() {
	in.once.Do(func() {
		_ = in.srv.Close()
		in.proxy.cut()
	})
}

// kill makes the instance die as a crash would, for Redis and the clients:
// its Redis connections and every client connection drop at once, so it
// can neither resign from presence nor say goodbye. Only then do its
// goroutines stop.
func (in *instance) kill() {
	in.once.Do(func() {
		in.proxy.cut()
		in.ln.dropAll()
		_ = in.srv.Close()
	})
}

func goredisClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sharedURL(t *testing.T) string { return sharedRedis.MustURL(t) }

var eventually = redistest.Eventually
