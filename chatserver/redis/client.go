package redis

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/chatcluster/chatcluster/chatserver"
)

// callTimeout is the default bound on one command to Redis.
const callTimeout = 4 * time.Second

// Config says how to reach Redis and how this instance appears in it.
type Config struct {
	URL        string // redis://[user:password@]host:port/db or rediss://…; required
	Password   string // used when the URL holds none
	CAFile     string // PEM bundle trusted for rediss://; empty: the system roots
	InstanceID string // this instance's id in the presence registry; required, unique per live instance

	Prefix string // prefix of every key and channel; default "chat"

	// HeartbeatTTL is how long the instance counts as alive after its last
	// heartbeat: after a crash, its users go offline within HeartbeatTTL plus
	// the Reap period. Default 10s.
	HeartbeatTTL time.Duration
	// HeartbeatInterval is the period of the heartbeat; default HeartbeatTTL/3.
	HeartbeatInterval time.Duration

	// Timeout bounds one command to Redis, all its round trips, waits for a
	// connection and retries included, so that a request answers
	// `unavailable` instead of hanging when Redis is silent; a caller's
	// sooner deadline still applies. Default 4s, as the message store's.
	Timeout time.Duration

	Logger *slog.Logger // default slog.Default()
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return errors.New("redis: no URL")
	}
	if c.InstanceID == "" {
		return errors.New("redis: no instance id")
	}
	if c.Prefix == "" {
		c.Prefix = "chat"
	}
	if c.HeartbeatTTL <= 0 {
		c.HeartbeatTTL = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = c.HeartbeatTTL / 3
	}
	if c.Timeout <= 0 {
		c.Timeout = callTimeout
	}
	if c.HeartbeatInterval >= c.HeartbeatTTL {
		return fmt.Errorf("redis: heartbeat interval %v is not shorter than its TTL %v", c.HeartbeatInterval, c.HeartbeatTTL)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Client is a connection pool to Redis and the presence, broker and session
// store built on it.
type Client struct {
	cfg      Config
	rdb      *goredis.Client
	log      *slog.Logger
	presence *Presence
	broker   *Broker
	sessions *Sessions

	closeOnce sync.Once
	closeErr  error
}

// Compile-time checks that the Redis types implement the server's interfaces.
var (
	_ chatserver.Presence     = (*Presence)(nil)
	_ chatserver.Broker       = (*Broker)(nil)
	_ chatserver.SessionStore = (*Sessions)(nil)
	_ chatserver.Checker      = (*Client)(nil)
)

// Open connects to Redis, registers this instance's heartbeat and starts
// refreshing it. It fails with EUnavailable when Redis does not answer.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, chatserver.Errorf(chatserver.EInternal, "%v", err)
	}
	opt, err := goredis.ParseURL(cfg.URL)
	if err != nil {
		return nil, chatserver.Errorf(chatserver.EInternal, "redis: invalid URL: %v", err)
	}
	if opt.Password == "" {
		opt.Password = cfg.Password
	}
	if cfg.CAFile != "" && opt.TLSConfig != nil {
		if opt.TLSConfig.RootCAs, err = loadCAs(cfg.CAFile); err != nil {
			return nil, chatserver.Errorf(chatserver.EInternal, "redis: %v", err)
		}
	}
	// Redis 7.0 knows neither CLIENT SETINFO nor maintenance notifications;
	// asking for them only adds a failing round trip to every new connection.
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.ClientName = "chatserver:" + cfg.InstanceID
	// Deadlines reach the sockets: a call to a silent Redis ends at its
	// deadline (see bound) rather than after a read timeout per retry.
	opt.ContextTimeoutEnabled = true
	if opt.ReadTimeout == 0 { // none in the URL
		opt.ReadTimeout = cfg.Timeout
	}

	c := &Client{cfg: cfg, rdb: goredis.NewClient(opt), log: cfg.Logger.With("backend", "redis")}
	c.rdb.AddHook(bound(cfg.Timeout))
	c.broker = &Broker{c: c, channel: cfg.Prefix + ":events"}
	c.broker.batch = newBatcher(c.broker.send, cfg.Timeout)
	c.sessions = &Sessions{c: c, prefix: cfg.Prefix + ":session:"}
	abandon := func(err error) (*Client, error) {
		c.broker.batch.close()
		_ = c.rdb.Close()
		return nil, err
	}
	if err := c.Check(ctx); err != nil {
		return abandon(err)
	}
	if c.presence, err = startPresence(ctx, c); err != nil {
		return abandon(err)
	}
	return c, nil
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(filepath.Clean(file))
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Presence returns the cross-instance presence registry.
func (c *Client) Presence() chatserver.Presence { return c.presence }

// Broker returns the Pub/Sub fan-out.
func (c *Client) Broker() chatserver.Broker { return c.broker }

// Sessions returns the session store.
func (c *Client) Sessions() chatserver.SessionStore { return c.sessions }

// Check pings Redis.
func (c *Client) Check(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return c.fail("ping", err)
	}
	return nil
}

// Close stops the heartbeat, removes this instance's heartbeat so that the
// other instances reap its leftover connections at once, and closes the
// pool. Calling it again returns the first call's result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.presence.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.presence.resign(ctx); err != nil {
			c.log.Warn("redis: could not remove this instance's heartbeat; its connections are reaped when it expires", "err", err)
		}
		c.broker.batch.close()
		c.closeErr = c.rdb.Close()
	})
	return c.closeErr
}

// crash stops the heartbeat and closes the pool without resigning, as a
// crashed instance would: tests use it to make an instance die.
func (c *Client) crash() {
	c.closeOnce.Do(func() {
		c.presence.stop()
		c.broker.batch.close()
		c.closeErr = c.rdb.Close()
	})
}

// bound is a go-redis hook that gives every command and pipeline a deadline
// of its duration from its start, unless its context ends sooner. The
// deadline covers the whole call: the wait for a connection, dialling, each
// attempt and the pauses between them. An attempt that Redis leaves
// unanswered runs until the deadline (the read timeout is as long), so
// nothing is tried again after it; one that fails at once, on a connection
// Redis closed, is tried again within it. The subscription is no call: it
// sets its own deadlines.
type bound time.Duration

func (bound) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (b bound) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		ctx, cancel := b.within(ctx)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (b bound) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		ctx, cancel := b.within(ctx)
		defer cancel()
		return next(ctx, cmds)
	}
}

// within returns ctx with the bound's deadline, or ctx itself when it ends
// sooner.
func (b bound) within(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= time.Duration(b) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, time.Duration(b))
}

// fail turns a go-redis error into the server's error type and logs the cause,
// which the returned error does not carry to clients.
func (c *Client) fail(op string, err error) *chatserver.Error {
	code := errorCode(err)
	c.log.Debug("redis: "+op+" failed", "err", err, "code", code)
	if code == chatserver.EUnavailable {
		return chatserver.Errorf(code, "redis is unavailable (%s)", op)
	}
	return chatserver.Errorf(code, "redis: %s failed", op)
}

// errorCode tells whether err means Redis is away (EUnavailable) or something
// else went wrong (EInternal). Redis's own error replies are internal unless
// they say the server cannot serve right now.
func errorCode(err error) string {
	var redisErr goredis.Error
	if !errors.As(err, &redisErr) || errors.Is(err, goredis.ErrClosed) {
		return chatserver.EUnavailable
	}
	for _, prefix := range unavailablePrefixes {
		if goredis.HasErrorPrefix(err, prefix) {
			return chatserver.EUnavailable
		}
	}
	return chatserver.EInternal
}

// unavailablePrefixes start the error replies of a Redis that cannot serve
// now but will again: loading its data, a replica, a cluster without quorum,
// a script running too long, out of memory or connections.
var unavailablePrefixes = []string{"LOADING", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "BUSY", "OOM", "max number of clients"}
