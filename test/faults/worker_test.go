//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// worker is one user of the load, on one connection at a time. A sender
// sends to its rooms and DMs, says it types, and now and then reconnects; a
// watcher only follows the rooms and presence. Either checks, frame by
// frame, that each room's messages reach it in seq order without gap or
// repeat, across its reconnects too: it resumes every room with join and
// since.
type worker struct {
	user   string
	sender bool
	rooms  []string        // followed: public rooms joined and DM rooms
	bases  func() []string // the instances to try, its home first
	h      *history
	pace   time.Duration
	burst  *atomic.Bool // pace off
	round  int
	rng    *rand.Rand

	token   string
	n       int     // sends started
	pending *sendOp // tried, not acknowledged yet: tried again first
	acked   map[string]int64

	mu       sync.Mutex // guards what the reader goroutine updates
	cur      *wsConn    // the connection the fields below describe
	views    map[string]*view
	presence map[string]string // latest presence event per user on cur
	conns    int               // connections so far
	seen     []string          // presence events, for a report on presence
}

// sendOp is one send, tried until acknowledged with the same cid.
type sendOp struct{ room, cid, text string }

// view is what the worker knows of one room.
type view struct {
	known     bool  // joined once: last is meaningful
	last      int64 // every seq up to this one was seen, in order
	synced    bool  // cur's join reply came: events must follow last
	lastEvent int64 // the last message event on cur
}

func newWorker(user string, sender bool, rooms []string, bases func() []string, h *history, pace time.Duration, burst *atomic.Bool, round int) *worker {
	w := &worker{
		user: user, sender: sender, rooms: rooms, bases: bases, h: h, pace: pace, burst: burst, round: round,
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), acked: map[string]int64{},
		views: map[string]*view{}, presence: map[string]string{},
	}
	for _, r := range rooms {
		w.views[r] = &view{}
	}
	return w
}

// run connects, works and reconnects until ctx ends.
func (w *worker) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		c, err := w.connect(ctx)
		if err != nil {
			sleep(ctx, backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		w.session(ctx, c)
		if c.closeCode() == websocket.ClosePolicyViolation {
			w.h.evicted()
		}
		c.close()
	}
}

// connect signs in if needed and opens a connection to the first instance
// that takes it, then resumes every room.
func (w *worker) connect(ctx context.Context) (*wsConn, error) {
	var errs []error
	for _, base := range w.bases() {
		if w.token == "" {
			tok, err := signIn(ctx, base, w.user)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			w.token = tok
		}
		c, err := dialWS(ctx, base, w.token, w.handle)
		if errors.Is(err, errUnauthorized) {
			w.token = ""
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := w.resume(c); err != nil {
			c.close()
			errs = append(errs, err)
			continue
		}
		return c, nil
	}
	return nil, errors.Join(errs...)
}

// resume joins every room on c: with since where the worker knows the room,
// page after page while the server has more.
func (w *worker) resume(c *wsConn) error {
	for _, room := range w.rooms {
		for page := 0; ; page++ {
			if page == 20 {
				return fmt.Errorf("join %s: still more after %d pages", room, page)
			}
			cmd := map[string]any{"type": "join", "room": room}
			w.mu.Lock()
			v := w.views[room]
			if v.known {
				cmd["since"] = v.last
			}
			w.mu.Unlock()
			f, err := c.do(cmd)
			if err != nil {
				w.h.failed(w.user, err)
				return err
			}
			if !f.OK {
				return fmt.Errorf("join %s: %s", room, f.Raw)
			}
			w.h.ok()
			w.mu.Lock()
			synced := v.synced
			w.mu.Unlock()
			if synced {
				break
			}
		}
	}
	return nil
}

// session works on c until it fails, the worker reconnects or ctx ends.
func (w *worker) session(ctx context.Context, c *wsConn) {
	if !w.sender {
		select {
		case <-ctx.Done():
		case <-c.done:
		}
		return
	}
	for {
		if !w.burst.Load() {
			select {
			case <-ctx.Done():
				return
			case <-c.done:
				return
			case <-time.After(w.pace/2 + rand.N(w.pace)):
			}
		} else if ctx.Err() != nil {
			return
		}
		switch r := w.rng.IntN(100); {
		case r < 85:
			if !w.send(ctx, c) {
				return
			}
		case r < 97:
			if !w.typing(c) {
				return
			}
		default:
			return // a reconnect
		}
	}
}

// send sends the pending message, or a new one, and reports whether the
// connection is still usable.
func (w *worker) send(ctx context.Context, c *wsConn) bool {
	if w.pending == nil {
		w.n++
		op := &sendOp{
			room: w.rooms[w.rng.IntN(len(w.rooms))],
			cid:  fmt.Sprintf("%s.%d.%d", w.user, w.round, w.n),
		}
		op.text = fmt.Sprintf("%s of round %d says %d %s", w.user, w.round, w.n, strings.Repeat("·", 1+w.rng.IntN(200)))
		w.pending = op
		w.h.tryingSend(op.room, op.cid, op.text)
	}
	op := w.pending
	start := time.Now()
	f, err := c.do(map[string]any{"type": "send", "room": op.room, "text": op.text, "cid": op.cid})
	if err != nil {
		w.h.failed(w.user, err)
		return false
	}
	if !f.OK {
		code := errorCode(f)
		w.h.refused(code, time.Since(start))
		if code != "unavailable" && code != "internal" {
			w.h.violation("%s: send %s to %s answered %s", w.user, op.cid, op.room, f.Raw)
			w.pending = nil
		}
		sleep(ctx, 100*time.Millisecond)
		return true
	}
	var d struct{ Message chattest.Message }
	if err := json.Unmarshal(f.Data, &d); err != nil {
		w.h.violation("%s: send reply %s: %v", w.user, f.Raw, err)
		return true
	}
	m := d.Message
	if m.Room != op.room || m.From != w.user || m.CID != op.cid || m.Text != op.text {
		w.h.violation("%s: send %s to %s acknowledged as %+v", w.user, op.cid, op.room, m)
	}
	if m.Seq <= w.acked[op.room] {
		w.h.violation("%s: send %s acknowledged with seq %d of %s after seq %d", w.user, op.cid, m.Seq, op.room, w.acked[op.room])
	}
	w.acked[op.room] = m.Seq
	w.h.acked(w.user, m)
	w.pending = nil
	return true
}

func (w *worker) typing(c *wsConn) bool {
	f, err := c.do(map[string]any{"type": "typing", "room": w.rooms[w.rng.IntN(len(w.rooms))], "active": true})
	if err != nil {
		w.h.failed(w.user, err)
		return false
	}
	if f.OK {
		w.h.ok()
	}
	return true
}

// handle sees every frame of every connection of the worker, in order.
func (w *worker) handle(c *wsConn, f chattest.Frame, cmd map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c != w.cur { // a new connection: it starts with nothing
		w.cur = c
		w.conns++
		for _, v := range w.views {
			v.synced, v.lastEvent = false, 0
		}
		w.presence = map[string]string{}
	}
	switch {
	case f.Type == "reply" && f.OK && cmd != nil && cmd["type"] == "join":
		w.joined(f, cmd)
	case f.Type == "message" && f.Message != nil:
		w.message(*f.Message)
	case f.Type == "presence":
		w.presence[f.UserID()] = f.Status
		w.seen = append(w.seen, fmt.Sprintf("%s %s %s on connection %d", time.Now().Format("15:04:05.000"), f.UserID(), f.Status, w.conns))
	}
}

// joined takes a join reply: its messages must follow since (when given)
// and each other without a gap; after it the room's events must follow its
// last message. w.mu is held.
func (w *worker) joined(f chattest.Frame, cmd map[string]any) {
	room, _ := cmd["room"].(string)
	v := w.views[room]
	var d struct {
		Messages []chattest.Message `json:"messages"`
		HasMore  bool               `json:"has_more"`
	}
	if v == nil || json.Unmarshal(f.Data, &d) != nil {
		w.h.violation("%s: join reply %s", w.user, f.Raw)
		return
	}
	since, withSince := cmd["since"].(int64)
	prev := int64(-1)
	if withSince {
		prev = since
	}
	for _, m := range d.Messages {
		if m.Room != room || (prev >= 0 && m.Seq != prev+1) {
			w.h.violation("%s: join of %s since %d: seq %d of %s after %d", w.user, room, since, m.Seq, m.Room, prev)
		}
		prev = m.Seq
	}
	if n := len(d.Messages); n > 0 {
		v.last = max(v.last, d.Messages[n-1].Seq)
	}
	v.known = true
	v.synced = !withSince || !d.HasMore
}

// message takes a message event. w.mu is held.
func (w *worker) message(m chattest.Message) {
	w.h.event()
	v := w.views[m.Room]
	switch {
	case v == nil:
		w.h.violation("%s: received seq %d of %s, which it does not follow", w.user, m.Seq, m.Room)
		return
	case m.Seq <= v.lastEvent:
		w.h.violation("%s: seq %d of %s after seq %d on one connection", w.user, m.Seq, m.Room, v.lastEvent)
		return
	}
	v.lastEvent = m.Seq
	switch {
	case v.synced && m.Seq != v.last+1:
		w.h.violation("%s: seq %d of %s when %d was next", w.user, m.Seq, m.Room, v.last+1)
		v.last = max(v.last, m.Seq)
	case v.known && m.Seq == v.last+1:
		v.last = m.Seq
	}
}

// presenceOf returns the latest presence event of user on the current
// connection ("" when none came).
func (w *worker) presenceOf(user string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.presence[user]
}

// presenceLog returns the presence events of user the worker received.
func (w *worker) presenceLog(user string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.seen {
		if strings.Fields(e)[1] == user {
			out = append(out, e)
		}
	}
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
