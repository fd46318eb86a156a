package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
)

var shared redistest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// Short heartbeats make crashes visible in a second or two; the interval
// leaves room for a loaded machine running the race detector.
const (
	testTTL      = 1500 * time.Millisecond
	testInterval = 250 * time.Millisecond
)

// ownServer starts a redis-server for a test that stops or restarts it.
func ownServer(t *testing.T) *redistest.Server {
	t.Helper()
	s, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// testPrefix gives each test its own keys and channel on a shared Redis.
func testPrefix(t *testing.T) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()) + "." + hex.EncodeToString(r[:])
}

// instance opens a client as one chat-server instance would; the test closes it.
func instance(t *testing.T, url, prefix, id string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, Config{URL: url, InstanceID: id, Prefix: prefix, HeartbeatTTL: testTTL, HeartbeatInterval: testInterval})
	if err != nil {
		t.Fatalf("open instance %s: %v", id, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *chatserver.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error %v (%T), want a *chatserver.Error with code %s", err, err, code)
	}
}

// raw is a plain go-redis client for looking at what the package stored.
func raw(t *testing.T, url string) *goredis.Client {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	r := goredis.NewClient(opt)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestOpen(t *testing.T) {
	t.Run("EUnavailableWhenRedisDoesNotAnswer", func(t *testing.T) {
		s := ownServer(t)
		s.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Open(ctx, Config{URL: s.URL(), InstanceID: "a"})
		wantCode(t, err, chatserver.EUnavailable)
	})
	t.Run("InvalidConfigRefused", func(t *testing.T) {
		for name, cfg := range map[string]Config{
			"no URL":              {InstanceID: "a"},
			"no instance id":      {URL: "redis://127.0.0.1:1"},
			"not a redis URL":     {URL: "http://x", InstanceID: "a"},
			"interval beyond TTL": {URL: "redis://127.0.0.1:1", InstanceID: "a", HeartbeatTTL: time.Second, HeartbeatInterval: 2 * time.Second},
			"unreadable CA file":  {URL: "rediss://127.0.0.1:1", InstanceID: "a", CAFile: "/nonexistent/ca.pem"},
		} {
			if _, err := Open(context.Background(), cfg); err == nil {
				t.Errorf("%s: Open succeeded", name)
			}
		}
	})
	t.Run("CloseTwiceIsSafe", func(t *testing.T) {
		c := instance(t, sharedURL(t), testPrefix(t), "a")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("EveryCallEUnavailableWhileRedisIsDown", func(t *testing.T) {
		s := ownServer(t)
		c := instance(t, s.URL(), testPrefix(t), "a")
		s.Stop()
		ctx := ctxT(t)
		wantCode(t, c.Check(ctx), chatserver.EUnavailable)
		wantCode(t, c.Broker().Publish(ctx, chatserver.Event{Kind: chatserver.EventTyping}), chatserver.EUnavailable)
		_, err := c.Presence().Connect(ctx, "alice", "c1")
		wantCode(t, err, chatserver.EUnavailable)
		_, err = c.Presence().Online(ctx)
		wantCode(t, err, chatserver.EUnavailable)
		_, err = c.Presence().Reap(ctx)
		wantCode(t, err, chatserver.EUnavailable)
		_, err = c.Sessions().Session(ctx, "h")
		wantCode(t, err, chatserver.EUnavailable)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "Check after Redis is back", func() error { return c.Check(ctx) })
	})
}

func TestErrorCode(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"a network error is unavailable":  {&os.SyscallError{Syscall: "connect", Err: errors.New("refused")}, chatserver.EUnavailable},
		"a closed client is unavailable":  {goredis.ErrClosed, chatserver.EUnavailable},
		"a deadline is unavailable":       {context.DeadlineExceeded, chatserver.EUnavailable},
		"a loading Redis is unavailable":  {redisError("LOADING Redis is loading the dataset in memory"), chatserver.EUnavailable},
		"a read-only replica unavailable": {redisError("READONLY You can't write against a read only replica."), chatserver.EUnavailable},
		"a busy script is unavailable":    {redisError("BUSY Redis is busy running a script"), chatserver.EUnavailable},
		"a wrong type is internal":        {redisError("WRONGTYPE Operation against a key holding the wrong kind of value"), chatserver.EInternal},
	} {
		if got := errorCode(tc.err); got != tc.want {
			t.Errorf("%s: errorCode(%v) = %s, want %s", name, tc.err, got, tc.want)
		}
	}
}

// redisError is an error reply of the server, as go-redis returns it.
type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}

func sharedURL(t *testing.T) string { return shared.MustURL(t) }

var eventually = redistest.Eventually
