package hub

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Close codes the hub asks a Sink to close with.
const (
	ClosePolicy = 1008 // too slow, or out of sync: reconnect and resume
)

// Sink is the outgoing side of one connection.
type Sink interface {
	// Send queues one encoded object for the connection. It never blocks; a
	// connection whose queue overflows closes itself with 1008.
	Send(frame []byte)
	// Close ends the connection with a WebSocket close code.
	Close(code int, reason string)
}

// ChangeReader is the part of the MessageStore the hub reads missed changes
// from (see chatserver.MessageStore.Changes).
type ChangeReader interface {
	Changes(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error)
}

// Config tunes a Hub. Zero fields take the defaults in their comments.
type Config struct {
	GapWait   time.Duration // wait for a missing rev before reading it from the store; default 50ms
	MaxBuffer int           // events buffered for a joining connection; default 10000
	MaxRooms  int           // rooms the connections of one user may have joined at once; default 1000
	Logger    *slog.Logger
	// Delivered, if set, is called once per message event fanned out on this
	// instance, with the time since the message was created.
	Delivered func(latency time.Duration)
}

const shards = 64

// Hub is the per-instance fan-out.
type Hub struct {
	cfg   Config
	store ChangeReader
	seed  maphash.Seed

	rooms [shards]roomShard
	users [shards]userShard
	joins [shards]joinShard

	ctx    context.Context
	cancel context.CancelFunc
	timers sync.WaitGroup
	closed atomic.Bool
}

type roomShard struct {
	mu sync.Mutex
	m  map[string]*room
}

type userShard struct {
	mu sync.RWMutex
	m  map[string]map[*Subscriber]struct{}
}

// joinShard counts, per user and room, the user's connections that have
// joined the room, for Config.MaxRooms. Its lock is taken under a room's.
type joinShard struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

// New returns a hub that reads missed changes from store.
func New(store ChangeReader, cfg Config) *Hub {
	if cfg.GapWait <= 0 {
		cfg.GapWait = 50 * time.Millisecond
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = 10000
	}
	if cfg.MaxRooms <= 0 {
		cfg.MaxRooms = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{cfg: cfg, store: store, seed: maphash.MakeSeed()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for i := range h.rooms {
		h.rooms[i].m = map[string]*room{}
		h.users[i].m = map[string]map[*Subscriber]struct{}{}
		h.joins[i].m = map[string]map[string]int{}
	}
	return h
}

// Close stops gap filling and waits for fills in progress. Safe to call twice.
func (h *Hub) Close() {
	if h.closed.Swap(true) {
		return
	}
	h.cancel()
	for i := range h.rooms {
		s := &h.rooms[i]
		s.mu.Lock()
		for _, r := range s.m {
			r.mu.Lock()
			r.stopTimer(h)
			r.mu.Unlock()
		}
		s.mu.Unlock()
	}
	h.timers.Wait()
}

func (h *Hub) shard(key string) int { return int(maphash.String(h.seed, key) % shards) }

// Subscriber is a connection registered with the hub: what the hub hands a
// room's events to, through its Sink.
type Subscriber struct {
	sink    Sink
	user    string
	session string // the token hash the connection signed in with

	mu    sync.Mutex
	rooms map[*room]struct{}
}

// User returns the id of the connection's user.
func (c *Subscriber) User() string { return c.user }

// Register adds a connection of user, signed in with the session whose token
// hash is session. It receives presence events, and the message and update
// events of the user's DM and group DM rooms, from now on.
func (h *Hub) Register(user, session string, sink Sink) *Subscriber {
	c := &Subscriber{sink: sink, user: user, session: session, rooms: map[*room]struct{}{}}
	s := &h.users[h.shard(user)]
	s.mu.Lock()
	set := s.m[user]
	if set == nil {
		set = map[*Subscriber]struct{}{}
		s.m[user] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// Unregister removes a connection from every room and from the registry.
func (h *Hub) Unregister(c *Subscriber) {
	s := &h.users[h.shard(c.user)]
	s.mu.Lock()
	if set := s.m[c.user]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.m, c.user)
		}
	}
	s.mu.Unlock()
	c.mu.Lock()
	rooms := make([]*room, 0, len(c.rooms))
	for r := range c.rooms {
		rooms = append(rooms, r)
	}
	c.rooms = map[*room]struct{}{}
	c.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		h.unsubscribe(r, c)
		r.mu.Unlock()
		h.dropIfIdle(r)
	}
}

// subscribers calls f for every connection of user on this instance.
func (h *Hub) subscribers(user string, f func(*Subscriber)) {
	s := &h.users[h.shard(user)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.m[user] {
		f(c)
	}
}

// anyConnected reports whether one of users has a connection here.
func (h *Hub) anyConnected(users []string) bool {
	for _, u := range users {
		s := &h.users[h.shard(u)]
		s.mu.RLock()
		n := len(s.m[u])
		s.mu.RUnlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// Join starts buffering the room's changes for c. The caller then reads the
// room from the store, sends its reply and calls Resume with the last seq
// and the Page.Rev of the reply, which flushes the buffer from there on. It
// reports whether c followed the room already (so that a failed join can
// Resume instead of Leave). It refuses (bad_request) a room that none of the
// user's connections has joined when they have joined Config.MaxRooms.
func (h *Hub) Join(c *Subscriber, roomID string) (followed bool, err error) {
	r := h.lockRoom(roomID, true)
	followed, err = h.join(r, c)
	r.mu.Unlock()
	if err != nil {
		h.dropIfIdle(r) // made for this join, maybe
	}
	return followed, err
}

// join subscribes c to r, pending; r.mu is held.
func (h *Hub) join(r *room, c *Subscriber) (followed bool, err error) {
	sb := r.subs[c]
	if sb == nil || !sb.joined {
		if err := h.countJoin(c.user, r.id); err != nil {
			return false, err
		}
	}
	followed = sb != nil && sb.state == stateLive
	if sb == nil {
		sb = &sub{}
		r.subs[c] = sb
		c.mu.Lock()
		c.rooms[r] = struct{}{}
		c.mu.Unlock()
	}
	sb.joined = true
	sb.state = statePending
	return followed, nil
}

// countJoin counts a join of room by a connection of user, unless it would
// take the user past Config.MaxRooms.
func (h *Hub) countJoin(user, room string) error {
	s := &h.joins[h.shard(user)]
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := s.m[user]
	if rooms[room] == 0 && len(rooms) >= h.cfg.MaxRooms {
		return chatserver.Errorf(chatserver.EBadRequest, "%s has joined %d rooms, the most allowed: leave one first", user, len(rooms))
	}
	if rooms == nil {
		rooms = map[string]int{}
		s.m[user] = rooms
	}
	rooms[room]++
	return nil
}

// countLeave undoes countJoin.
func (h *Hub) countLeave(user, room string) {
	s := &h.joins[h.shard(user)]
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := s.m[user]
	if rooms[room]--; rooms[room] <= 0 {
		delete(rooms, room)
		if len(rooms) == 0 {
			delete(s.m, user)
		}
	}
}

// unsubscribe ends c's subscription to r; r.mu is held.
func (h *Hub) unsubscribe(r *room, c *Subscriber) {
	if sb := r.subs[c]; sb != nil && sb.joined {
		h.countLeave(c.user, r.id)
	}
	delete(r.subs, c)
}

// Resume makes c's subscription live after a join whose reply was read at
// rev (its Page.Rev) and ended at seq: buffered and future changes after rev
// are delivered in rev order, but for message events of seq <= seq, which
// the reply may hold already (it is read after its Page.Rev). seq and rev 0
// (no reply) leave what c has seen as it was.
func (h *Hub) Resume(c *Subscriber, roomID string, seq, rev int64) {
	r := h.lockRoom(roomID, false)
	if r == nil {
		return
	}
	defer r.mu.Unlock()
	sb := r.subs[c]
	if sb == nil || sb.state != statePending {
		return
	}
	if r.next == 0 {
		// The room's stream has no baseline yet: the reply just read tells it.
		r.next = rev + 1
		if p, ok := r.minPending(); ok && p < r.next {
			r.next = p
		}
		h.drain(r, 0)
	}
	sb.rev = max(sb.rev, rev)
	if seq > 0 {
		sb.seq = max(sb.seq, seq)
	}
	sb.state = stateLive
	buf := sb.buf
	sb.buf = nil
	for _, ch := range buf {
		if r.subs[c] != sb {
			return // closed
		}
		h.offer(r, c, sb, ch)
	}
}

// Leave stops c's subscription to a room. The changes of the user's DM and
// group DM rooms still reach c.
func (h *Hub) Leave(c *Subscriber, roomID string) {
	r := h.lockRoom(roomID, false)
	if r == nil {
		return
	}
	h.unsubscribe(r, c)
	r.mu.Unlock()
	c.mu.Lock()
	delete(c.rooms, r)
	c.mu.Unlock()
	h.dropIfIdle(r)
}

// Dispatch takes one event from the Broker.
func (h *Hub) Dispatch(ev chatserver.Event) {
	switch ev.Kind {
	case chatserver.EventMessage, chatserver.EventUpdate:
		h.dispatchChange(ev)
	case chatserver.EventTyping:
		h.dispatchTyping(ev)
	case chatserver.EventRead:
		h.toUser(ev.User, ev.Frame)
		if rm, err := chatserver.ParseRoom(ev.Room); err == nil && rm.IsPrivate() {
			h.toOtherMembers(rm, ev.User, ev.Frame)
		}
	case chatserver.EventMention:
		h.toUser(ev.User, ev.Frame)
	case chatserver.EventPresence:
		h.broadcast(ev.Frame)
	case chatserver.EventResync:
		h.resync()
	case chatserver.EventSessionEnd:
		h.subscribers(ev.User, func(c *Subscriber) {
			if c.session == string(ev.Frame) {
				c.sink.Close(ClosePolicy, "the session has ended")
			}
		})
	}
}

func (h *Hub) broadcast(frame []byte) {
	for i := range h.users {
		s := &h.users[i]
		s.mu.RLock()
		for _, set := range s.m {
			for c := range set {
				c.sink.Send(frame)
			}
		}
		s.mu.RUnlock()
	}
}

// toUser sends frame to every connection of user.
func (h *Hub) toUser(user string, frame []byte) {
	h.subscribers(user, func(c *Subscriber) { c.sink.Send(frame) })
}

// toOtherMembers sends frame to every connection of the members of a
// private room but user.
func (h *Hub) toOtherMembers(rm chatserver.Room, user string, frame []byte) {
	for _, u := range rm.Members {
		if u != user {
			h.toUser(u, frame)
		}
	}
}

func (h *Hub) dispatchTyping(ev chatserver.Event) {
	rm, err := chatserver.ParseRoom(ev.Room)
	if err != nil {
		return
	}
	if rm.IsPrivate() {
		h.toOtherMembers(rm, ev.User, ev.Frame)
		return
	}
	r := h.lockRoom(ev.Room, false)
	if r == nil {
		return
	}
	defer r.mu.Unlock()
	for c, sb := range r.subs {
		if sb.joined && c.user != ev.User {
			c.sink.Send(ev.Frame)
		}
	}
}

// dispatchChange takes a message or update event into its room's stream.
func (h *Hub) dispatchChange(ev chatserver.Event) {
	if ev.Rev < 1 {
		return
	}
	r := h.lockRoom(ev.Room, false)
	if r == nil {
		// A room nobody here follows needs no state: its changes are in the
		// store. Only a private room reaches its members' connections
		// without a join.
		rm, err := chatserver.ParseRoom(ev.Room)
		if err != nil || !rm.IsPrivate() || !h.anyConnected(rm.Members) {
			return
		}
		r = h.lockRoom(ev.Room, true)
	}
	defer r.mu.Unlock()
	h.accept(r, change{Event: ev})
}
