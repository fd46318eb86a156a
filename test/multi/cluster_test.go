package multi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chatcluster/chatcluster/chatserver/httpapi"
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
	var w io.Writer = io.Discard
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

// instance is one chat server: the service and HTTP transport the binary
// runs, on the cluster's store and its own Redis client.
type instance struct {
	name  string
	URL   string // http://127.0.0.1:port
	proxy *proxy
	ln    *dropListener
	rc    *redis.Client
	svc   *service.Service
	api   *httpapi.Server
	srv   *http.Server

	cancel context.CancelFunc
	done   chan struct{} // closed when Run and Serve both returned
	once   sync.Once
}

func (cl *cluster) start(name string) *instance {
	t := cl.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	px := startProxy(t, cl.redisAddr)
	rc, err := redis.Open(ctx, redis.Config{
		URL: "redis://" + px.Addr() + "/0", InstanceID: name, Prefix: cl.prefix,
		HeartbeatTTL: heartbeatTTL, HeartbeatInterval: heartbeatInterval, Logger: cl.log.With("instance", name),
	})
	if err != nil {
		t.Fatal(err)
	}
	b := &service.Backends{
		Users: cl.db, Messages: cl.db, Activity: cl.db, Index: cl.db,
		Sessions: rc.Sessions(), Presence: rc.Presence(), Broker: rc.Broker(),
	}
	b.AddCheck("redis", rc, service.Critical)
	b.AddCheck("sqlite", cl.db, service.Critical)
	log := cl.log.With("instance", name)
	svc, err := service.New(ctx, b, service.Config{SessionTTL: time.Hour, ReapInterval: reapInterval, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{RateLimit: 0, Logger: log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{
		name: name, URL: "http://" + l.Addr().String(), proxy: px, ln: newDropListener(l), rc: rc,
		svc: svc, api: api, srv: &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	runCtx, stop := context.WithCancel(context.Background())
	in.cancel = stop
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(runCtx) })
	wg.Go(func() {
		if err := in.srv.Serve(in.ln); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("serve", "err", err)
		}
	})
	go func() { wg.Wait(); close(in.done) }() // ends with the two above
	t.Cleanup(in.stop)
	return in
}

// stop shuts the instance down gracefully, as on SIGTERM.
func (in *instance) stop() {
	in.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = in.srv.Shutdown(ctx)
		_ = in.api.Shutdown(ctx)
		in.finish()
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = in.srv.Close()
		_ = in.api.Shutdown(ctx)
		in.finish()
	})
}

func (in *instance) finish() {
	in.cancel()
	<-in.done
	in.svc.Close()
	_ = in.rc.Close()
	in.proxy.cut()
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
