package redis

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

var (
	//go:embed presence_connect.lua
	connectLua    string
	connectScript = goredis.NewScript(connectLua)

	//go:embed presence_disconnect.lua
	disconnectLua    string
	disconnectScript = goredis.NewScript(disconnectLua)

	//go:embed presence_reap.lua
	reapLua    string
	reapScript = goredis.NewScript(reapLua)

	//go:embed presence_heartbeat.lua
	heartbeatLua    string
	heartbeatScript = goredis.NewScript(heartbeatLua)
)

// Presence counts every user's connections across instances.
//
// Redis holds, under the hash tag {<prefix>}:
//
//	presence:users        hash user -> number of open connections, online users only
//	presence:instances    set of the instance keys whose connections are recorded
//	presence:conns:<i>    hash conn -> user, the connections of instance i
//	presence:hb:<i>       instance i's heartbeat, a key that expires after HeartbeatTTL
//
// An instance's key <i> is its configured id plus a random part drawn at Open,
// so that an instance restarted under the same id after a crash does not
// inherit its predecessor's connections: those are reaped like any dead
// instance's.
//
// The instance also keeps its open connections in memory. If Redis forgets
// them (it restarted empty, or this instance was away past its heartbeat TTL
// and was reaped), the instance is no longer in presence:instances: the next
// heartbeat or Connect notices and records them again, and a Disconnect that
// finds its connection missing records them again before forgetting it. The
// heartbeat key cannot tell: a heartbeat sent before the reap and delivered
// after it sets the key again.
type Presence struct {
	c        *Client
	instance string
	ttl      time.Duration
	interval time.Duration

	users, instances, hb, conns string // keys
	hbPrefix, connsPrefix       string

	// gate lets Connect and Disconnect run together but not beside
	// rerecordLocked, which must see the in-memory connections and Redis
	// agree.
	gate  sync.RWMutex
	mu    sync.Mutex
	local map[string]string // conn -> user: the connections open on this instance
	// pending holds the conns whose removal from Redis failed, which Reap
	// retries: conn -> user for a connection that was open, "" for one whose
	// Connect failed.
	pending map[string]string
	// lost: Redis lost this instance's connections, or a call that records
	// them failed and may reach Redis late; the heartbeat records them again.
	lost atomic.Bool

	kick chan struct{} // wakes the heartbeat early
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the heartbeat has ended
}

func startPresence(ctx context.Context, c *Client) (*Presence, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, c.fail("instance key", err)
	}
	instance := c.cfg.InstanceID + "/" + hex.EncodeToString(r[:])
	tag := "{" + c.cfg.Prefix + "}:presence:"
	p := &Presence{
		c:           c,
		instance:    instance,
		ttl:         c.cfg.HeartbeatTTL,
		interval:    c.cfg.HeartbeatInterval,
		users:       tag + "users",
		instances:   tag + "instances",
		hbPrefix:    tag + "hb:",
		connsPrefix: tag + "conns:",
		hb:          tag + "hb:" + instance,
		conns:       tag + "conns:" + instance,
		local:       map[string]string{},
		pending:     map[string]string{},
		kick:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if err := p.beat(ctx); err != nil {
		return nil, err
	}
	go p.run() //nolint:gosec // beats until Close, past the start-up ctx: each beat has its own timeout
	return p, nil
}

// Connect records a connection of user on this instance.
func (p *Presence) Connect(ctx context.Context, user, conn string) (bool, error) {
	p.gate.RLock()
	defer p.gate.RUnlock()
	online, err := p.record(ctx, conn, user)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		// The script may have run though its answer was lost: make sure the
		// connection does not stay counted if the caller gives up on it.
		p.park(conn, "")
		return false, err
	}
	p.local[conn] = user
	delete(p.pending, conn)
	return len(online) > 0, nil
}

// record runs the connect script for pairs of connection and user id and
// returns the users who went online.
func (p *Presence) record(ctx context.Context, pairs ...string) ([]string, error) {
	args := make([]any, 0, 2+len(pairs))
	args = append(args, p.instance, p.ttl.Milliseconds())
	for _, s := range pairs {
		args = append(args, s)
	}
	res, err := connectScript.Run(ctx, p.c.rdb, []string{p.conns, p.users, p.instances, p.hb}, args...).Slice()
	if err != nil {
		// The script may still reach Redis, after a reap of this instance,
		// and put the instance back in the set with this connection only.
		p.lost.Store(true)
		return nil, p.c.fail("presence connect", err)
	}
	if lost, _ := res[0].(int64); lost == 1 {
		p.lost.Store(true)
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return toStrings(res[1:]), nil
}

// Disconnect forgets a connection of this instance.
func (p *Presence) Disconnect(ctx context.Context, user, conn string) (bool, error) {
	p.gate.RLock()
	p.mu.Lock()
	_, open := p.local[conn]
	p.mu.Unlock()
	offline, missing, err := p.forget(ctx, conn)
	if err == nil && open && len(missing) > 0 {
		// Redis lost the connection with the others of this instance. The
		// connection stays in local, so that it is recorded with them.
		p.gate.RUnlock()
		offline, err = p.forgetLost(ctx, map[string]string{conn: user})
		return len(offline) > 0, err
	}
	defer p.gate.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.local, conn)
	if err != nil {
		if !open {
			user = ""
		}
		p.park(conn, user)
		return false, err
	}
	delete(p.pending, conn)
	return len(offline) > 0, nil
}

// forget runs the disconnect script for conns and returns the users who went
// offline and the conns that were not recorded.
func (p *Presence) forget(ctx context.Context, conns ...string) (offline, missing []string, err error) {
	args := make([]any, len(conns))
	for i, c := range conns {
		args[i] = c
	}
	res, err := disconnectScript.Run(ctx, p.c.rdb, []string{p.conns, p.users}, args...).Slice()
	if err != nil {
		return nil, nil, p.c.fail("presence disconnect", err)
	}
	gone, _ := res[0].([]any)
	unrecorded, _ := res[1].([]any)
	return toStrings(gone), toStrings(unrecorded), nil
}

// forgetLost forgets connections that were open on this instance but that
// Redis lost: it records this instance's open connections again, closing
// ones included, then forgets the closing ones. A user goes offline only if
// no other connection counts them online, and once however many of their
// connections close together.
func (p *Presence) forgetLost(ctx context.Context, closing map[string]string) ([]string, error) {
	p.gate.Lock()
	defer p.gate.Unlock()
	err := p.rerecordLocked(ctx, closing)
	conns := make([]string, 0, len(closing))
	p.mu.Lock()
	for conn := range closing {
		delete(p.local, conn)
		conns = append(conns, conn)
	}
	p.mu.Unlock()
	var offline []string
	if err == nil {
		offline, _, err = p.forget(ctx, conns...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for conn, user := range closing {
		if err != nil {
			p.park(conn, user)
		} else {
			delete(p.pending, conn)
		}
	}
	return offline, err
}

// park leaves conn to Reap, keeping the user of an open connection that an
// earlier failure parked. The caller holds mu.
func (p *Presence) park(conn, user string) {
	if user != "" || p.pending[conn] == "" {
		p.pending[conn] = user
	}
}

// Online returns the users with a connection on any live instance.
func (p *Presence) Online(ctx context.Context) (map[string]bool, error) {
	counts, err := p.c.rdb.HGetAll(ctx, p.users).Result()
	if err != nil {
		return nil, p.c.fail("presence online", err)
	}
	out := make(map[string]bool, len(counts))
	for user, n := range counts {
		if n != "0" && n[0] != '-' {
			out[user] = true
		}
	}
	return out, nil
}

// Reap forgets the connections of instances whose heartbeat expired, and
// those whose Disconnect on this instance failed while Redis was away, and
// returns the users who went offline because of it.
func (p *Presence) Reap(ctx context.Context) ([]string, error) {
	offline, err := p.retryPending(ctx)
	if err != nil {
		return nil, err
	}
	users, err := reapScript.Run(ctx, p.c.rdb, []string{p.instances, p.users}, p.hbPrefix, p.connsPrefix).StringSlice()
	if err != nil {
		return offline, p.c.fail("presence reap", err)
	}
	return append(offline, users...), nil
}

// retryPending forgets the connections whose removal failed and returns the
// users who went offline. An open connection that Redis no longer holds was
// lost with the others of this instance, or its removal ran though its answer
// was lost: forgetLost tells whether it was its user's last.
func (p *Presence) retryPending(ctx context.Context) ([]string, error) {
	p.gate.RLock()
	p.mu.Lock()
	retry := make([]string, 0, len(p.pending))
	for conn := range p.pending {
		if _, open := p.local[conn]; !open {
			retry = append(retry, conn)
		}
	}
	p.mu.Unlock()
	if len(retry) == 0 {
		p.gate.RUnlock()
		return nil, nil
	}
	offline, missing, err := p.forget(ctx, retry...)
	if err != nil {
		p.gate.RUnlock()
		return nil, err
	}
	lost := map[string]string{}
	p.mu.Lock()
	for _, conn := range missing {
		if user := p.pending[conn]; user != "" {
			lost[conn] = user
		}
	}
	for _, conn := range retry {
		if _, ok := lost[conn]; !ok {
			delete(p.pending, conn)
		}
	}
	p.mu.Unlock()
	p.gate.RUnlock()
	if len(lost) == 0 {
		return offline, nil
	}
	users, err := p.forgetLost(ctx, lost)
	return append(offline, users...), err
}

// run refreshes the heartbeat until stop.
func (p *Presence) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		case <-p.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.interval)
		if err := p.beat(ctx); err != nil {
			p.c.log.Warn("redis: presence heartbeat failed", "err", err)
		}
		cancel()
	}
}

// beat refreshes the heartbeat and, if Redis lost this instance's
// connections, records them again.
func (p *Presence) beat(ctx context.Context) error {
	held, err := heartbeatScript.Run(ctx, p.c.rdb, []string{p.hb, p.instances}, p.instance, p.ttl.Milliseconds()).Int()
	if err != nil {
		return p.c.fail("presence heartbeat", err)
	}
	if held == 0 {
		p.lost.Store(true)
	}
	if !p.lost.Load() {
		return nil
	}
	p.gate.Lock()
	defer p.gate.Unlock()
	return p.rerecordLocked(ctx, nil)
}

// rerecordLocked records this instance's open connections and those of extra
// (conn -> user), and puts the instance back in the set of instances even
// when it has none, so that the heartbeat can tell when a reap removes it.
// The caller holds gate for writing.
func (p *Presence) rerecordLocked(ctx context.Context, extra map[string]string) error {
	p.lost.Store(false)
	p.mu.Lock()
	pairs := make([]string, 0, 2*(len(p.local)+len(extra)))
	for conn, user := range p.local {
		if _, dup := extra[conn]; !dup {
			pairs = append(pairs, conn, user)
		}
	}
	p.mu.Unlock()
	for conn, user := range extra {
		pairs = append(pairs, conn, user)
	}
	online, err := p.record(ctx, pairs...)
	if err != nil {
		p.lost.Store(true)
		return err
	}
	if len(pairs) > 0 {
		p.c.log.Info("redis: re-recorded this instance's connections after Redis lost them",
			"connections", len(pairs)/2, "users_back_online", len(online))
	}
	return nil
}

func (p *Presence) stop() {
	close(p.quit)
	<-p.done
}

// resign removes the heartbeat, so that the next Reap of any instance forgets
// the connections this instance still holds.
func (p *Presence) resign(ctx context.Context) error {
	if err := p.c.rdb.Del(ctx, p.hb).Err(); err != nil {
		return p.c.fail("presence resign", err)
	}
	return nil
}

// toStrings converts a script's array reply of bulk strings.
func toStrings(vals []any) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		out = append(out, fmt.Sprint(v))
	}
	return out
}
