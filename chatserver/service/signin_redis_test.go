package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/redis"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// redisPolicy is policy counted on the Redis at url, through a client of
// its own, as one instance counts.
func redisPolicy(t *testing.T, url, instance string, policy service.SignInPolicy) *service.SignInPolicy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := redis.Open(ctx, redis.Config{URL: url, InstanceID: instance, Prefix: "signin-test", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	policy.Limiter = c.Limiter()
	return &policy
}

// Two instances on one Redis share the sign-in limits: the guesses one
// took count on the other.
func TestTwoInstancesOnOneRedisShareTheSignInLimits(t *testing.T) {
	redistest.QuietClientLog()
	srv, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	limits := service.SignInPolicy{
		UserFailures: chatserver.Rate{Events: 2, Period: time.Hour},
		AddrSignups:  chatserver.Rate{Events: 1, Period: time.Hour},
	}
	e := newEnv(t, func(_ *service.Config, b *service.Deps) { b.SignIn = redisPolicy(t, srv.URL(), "a", limits) })
	other := *e.b
	other.SignIn = redisPolicy(t, srv.URL(), "b", limits)
	b, err := service.New(context.Background(), &other, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx := context.Background()

	if _, _, err := e.svc.LoginFrom(ctx, addrA, "olga", password); err != nil {
		t.Fatal(err)
	}
	t.Run("a registration on one counts on the other", func(t *testing.T) {
		_, _, err := b.LoginFrom(ctx, addrA, "pete", password)
		chattest.WantCode(t, err, chatserver.ERateLimited)
	})
	t.Run("failures on one count on the other", func(t *testing.T) {
		_, _, err := e.svc.LoginFrom(ctx, addrA, "olga", "wrong-guess")
		chattest.WantCode(t, err, chatserver.EUnauthorized)
		_, _, err = b.LoginFrom(ctx, addrB, "olga", "wrong-guess")
		chattest.WantCode(t, err, chatserver.EUnauthorized)
		_, _, err = e.svc.LoginFrom(ctx, addrB, "olga", password)
		wantRateLimited(t, err, 30*time.Minute)
		_, _, err = b.LoginFrom(ctx, addrA, "olga", password)
		wantRateLimited(t, err, 30*time.Minute)
	})
	t.Run("a sign-in while Redis is down is unavailable", func(t *testing.T) {
		srv.Stop()
		_, _, err := b.LoginFrom(ctx, addrB, "olga", password)
		chattest.WantCode(t, err, chatserver.EUnavailable)
	})
}
