package redis

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chatcluster/chatcluster/chatserver"
)

var (
	//go:embed limiter.lua
	limiterLua    string
	limiterScript = goredis.NewScript(limiterLua)
)

// Limiter counts events per key for every instance on the same Redis:
// each key is one string at <prefix>:limit:<key>, holding when its
// allowance is whole again (on Redis's clock, so that the instances' clocks
// do not matter) and expiring then. A Lua script reads and moves it in one
// step, so that concurrent events on several instances are all counted.
type Limiter struct {
	c      *Client
	prefix string
}

var _ chatserver.Limiter = (*Limiter)(nil)

// Limiter returns the limiter on this client's Redis.
func (c *Client) Limiter() *Limiter { return &Limiter{c: c, prefix: c.cfg.Prefix + ":limit:"} }

// Wait returns how long until key may have one more event under r.
func (l *Limiter) Wait(ctx context.Context, key string, r chatserver.Rate) (time.Duration, error) {
	return l.run(ctx, "wait", key, r, false)
}

// Take counts one event for key if r allows it.
func (l *Limiter) Take(ctx context.Context, key string, r chatserver.Rate) (time.Duration, error) {
	return l.run(ctx, "take", key, r, true)
}

// Reset forgets the events of key.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.c.rdb.Del(ctx, l.prefix+key).Err(); err != nil {
		return l.c.fail("reset limit", err)
	}
	return nil
}

func (l *Limiter) run(ctx context.Context, op, key string, r chatserver.Rate, take bool) (time.Duration, error) {
	if r.Off() {
		return 0, nil
	}
	flag := "0"
	if take {
		flag = "1"
	}
	period := strconv.FormatInt(max(1, r.Period.Microseconds()), 10)
	us, err := limiterScript.Run(ctx, l.c.rdb, []string{l.prefix + key}, period, strconv.Itoa(r.Events), flag).Int64()
	if err != nil {
		return 0, l.c.fail(op+" limit", err)
	}
	return time.Duration(us) * time.Microsecond, nil
}
