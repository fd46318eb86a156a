//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// worker is one user of the load, on one connection at a time. A sender
// sends to its rooms and DMs, edits its own recent messages, reacts to
// others', says it types, and now and then reconnects; a watcher only
// follows the rooms and presence. Either checks, frame by frame, that each
// room's messages reach it in seq order and its message and update events
// in rev order, without gap or repeat, across its reconnects too: it
// resumes every room with join, since and since_rev.
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
	n       int // sends and edits started
	pending op  // tried, not acknowledged yet: tried again first
	acked   map[string]int64
	own     []msgRef             // its latest acknowledged messages, to edit
	mine    map[reactionKey]bool // its reactions as the last acknowledged reply left them

	mu     sync.Mutex // guards what the reader goroutine updates
	cur    *wsConn    // the connection the fields below describe
	views  map[string]*view
	others []msgRef // the latest messages of other users it received, to react to
	// reactsTo, when set, says whose messages the worker reacts to (see
	// rig.reactsTo); nil: anybody's.
	reactsTo func(from string) bool
	presence map[string]string // latest presence event per user on cur
	conns    int               // connections so far
	seen     []string          // presence events, for a report on presence
}

// msgRef names a message.
type msgRef struct {
	room string
	seq  int64
}

// reactionKey names a reaction of the worker's user.
type reactionKey struct {
	msgRef
	emoji string
}

// recentMessages is how many messages a worker remembers to edit or react to.
const recentMessages = 16

// emojis are the reactions of the load.
var emojis = []string{"👍", "🎉", "👀"}

// view is what the worker knows of one room: the seq and rev up to which
// its connections so far saw every message and every change, and how cur
// follows the room.
type view struct {
	known     bool  // joined once: last is meaningful
	last      int64 // every seq up to this one was seen, in order
	rev       int64 // every change up to this rev was seen, as an event or in a current state
	synced    bool  // cur's join reply came: events must follow last and rev
	lastEvent int64 // the seq of the last message event on cur
	lastRev   int64 // the rev of the last message or update event on cur
	onRun     bool  // an event came on cur since its last join reply
	// sinceRev is the since_rev of cur's last join; shown holds the revs
	// above rev of the current states its reply showed: the events need not
	// bring those again, and may.
	sinceRev int64
	shown    map[int64]bool
}

func newWorker(user string, sender bool, rooms []string, bases func() []string, h *history, pace time.Duration, burst *atomic.Bool, round int) *worker {
	w := &worker{
		user: user, sender: sender, rooms: rooms, bases: bases, h: h, pace: pace, burst: burst, round: round,
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), acked: map[string]int64{}, mine: map[reactionKey]bool{},
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
// and since_rev (0 at first: every message in its current state), page
// after page while the server has more.
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
			cmd["since_rev"] = v.rev
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
		if w.pending == nil {
			switch r := w.rng.IntN(100); {
			case r < 70:
				w.pending = w.newSend()
			case r < 80:
				w.pending = w.newEdit()
			case r < 85:
				w.pending = w.newReaction()
			case r < 97:
				if !w.typing(c) {
					return
				}
				continue
			default:
				return // a reconnect
			}
		}
		if !w.try(ctx, c) {
			return
		}
	}
}

// op is a command that changes a room, tried until acknowledged: again
// after a refusal with unavailable, after no reply and after a reconnect,
// always with the same content, so that a try that was stored unanswered
// makes the next one change nothing.
type op interface {
	command() map[string]any
	// acked takes the message of the acknowledging reply.
	acked(w *worker, m chattest.Message)
	// refused gives the op up: the server refused it for good.
	refused(h *history)
	// unanswered records a try that got no answer, or unavailable.
	unanswered(h *history)
}

// try sends the pending op and reports whether the connection is still
// usable.
func (w *worker) try(ctx context.Context, c *wsConn) bool {
	o := w.pending
	start := time.Now()
	f, err := c.do(o.command())
	if err != nil {
		w.h.failed(w.user, err)
		o.unanswered(w.h)
		return false
	}
	if !f.OK {
		code := errorCode(f)
		w.h.refused(code, time.Since(start))
		if code != "unavailable" && code != "internal" {
			w.h.violation("%s: %v answered %s", w.user, o, f.Raw)
			o.refused(w.h)
			w.pending = nil
		} else {
			o.unanswered(w.h)
		}
		sleep(ctx, 100*time.Millisecond)
		return true
	}
	var d struct{ Message chattest.Message }
	if err := json.Unmarshal(f.Data, &d); err != nil {
		w.h.violation("%s: reply to %v: %s: %v", w.user, o, f.Raw, err)
		return true
	}
	o.acked(w, d.Message)
	w.pending = nil
	return true
}

// sendOp is one send, tried until acknowledged with the same cid.
type sendOp struct{ room, cid, text string }

func (w *worker) newSend() op {
	w.n++
	o := &sendOp{
		room: w.rooms[w.rng.IntN(len(w.rooms))],
		cid:  fmt.Sprintf("%s.%d.%d", w.user, w.round, w.n),
	}
	o.text = fmt.Sprintf("%s of round %d says %d %s", w.user, w.round, w.n, strings.Repeat("·", 1+w.rng.IntN(200)))
	w.h.tryingSend(o.room, o.cid, o.text)
	return o
}

func (o *sendOp) String() string { return fmt.Sprintf("send %s to %s", o.cid, o.room) }

func (o *sendOp) command() map[string]any {
	return map[string]any{"type": "send", "room": o.room, "text": o.text, "cid": o.cid}
}

func (o *sendOp) refused(*history) {}

// unanswered records nothing: a send takes its rev with the message it
// stores, which the store's read-back counts.
func (o *sendOp) unanswered(*history) {}

func (o *sendOp) acked(w *worker, m chattest.Message) {
	if m.Room != o.room || m.From != w.user || m.CID != o.cid || m.Text != o.text {
		w.h.violation("%s: %v acknowledged as %+v", w.user, o, m)
	}
	if m.Seq <= w.acked[o.room] {
		w.h.violation("%s: %v acknowledged with seq %d after seq %d", w.user, o, m.Seq, w.acked[o.room])
	}
	w.acked[o.room] = m.Seq
	w.own = remember(w.own, msgRef{m.Room, m.Seq})
	w.h.acked(w.user, m)
}

// changeOp is an edit or a reaction.
type changeOp struct{ *change }

// newEdit edits one of the worker's latest acknowledged messages to a text
// of its own; a send when it has none yet.
func (w *worker) newEdit() op {
	if len(w.own) == 0 {
		return w.newSend()
	}
	ref := w.own[w.rng.IntN(len(w.own))]
	w.n++
	c := &change{room: ref.room, seq: ref.seq, user: w.user, edit: true,
		text: fmt.Sprintf("%s of round %d edits seq %d as %d", w.user, w.round, ref.seq, w.n)}
	w.h.tryingChange(c)
	return changeOp{c}
}

// newReaction sets or takes back a reaction on one of the latest messages
// of other users the worker received; a send when it has none yet.
func (w *worker) newReaction() op {
	w.mu.Lock()
	others := slices.Clone(w.others)
	w.mu.Unlock()
	if len(others) == 0 {
		return w.newSend()
	}
	k := reactionKey{others[w.rng.IntN(len(others))], emojis[w.rng.IntN(len(emojis))]}
	c := &change{room: k.room, seq: k.seq, user: w.user, emoji: k.emoji, active: !w.mine[k]}
	w.h.tryingChange(c)
	return changeOp{c}
}

func (o changeOp) command() map[string]any {
	if o.edit {
		return map[string]any{"type": "edit", "room": o.room, "seq": o.seq, "text": o.text}
	}
	return map[string]any{"type": "react", "room": o.room, "seq": o.seq, "emoji": o.emoji, "active": o.active}
}

func (o changeOp) refused(h *history)    { h.changeRefused(o.change) }
func (o changeOp) unanswered(h *history) { h.changeUnanswered(o.change) }

func (o changeOp) acked(w *worker, m chattest.Message) {
	switch {
	case m.Room != o.room || m.Seq != o.seq || m.Rev <= 0:
		w.h.violation("%s: %v acknowledged as %+v", w.user, o, m)
	case o.edit && (m.Text != o.text || m.From != w.user):
		w.h.violation("%s: %v acknowledged with the text %q", w.user, o, m.Text)
	case !o.edit && hasReaction(m, o.user, o.emoji) != o.active:
		w.h.violation("%s: %v acknowledged with the reactions %v", w.user, o, m.Reactions)
	}
	if !o.edit {
		w.mine[reactionKey{msgRef{o.room, o.seq}, o.emoji}] = o.active
	}
	w.h.changeAcked(o.change, m.Rev)
}

// hasReaction reports whether m carries user's reaction emoji.
func hasReaction(m chattest.Message, user, emoji string) bool {
	for _, r := range m.Reactions {
		if r.Emoji == emoji {
			return slices.Contains(r.Users, user)
		}
	}
	return false
}

// remember adds ref to the latest messages, forgetting the oldest beyond
// recentMessages.
func remember(refs []msgRef, ref msgRef) []msgRef {
	refs = append(refs, ref)
	if len(refs) > recentMessages {
		refs = refs[1:]
	}
	return refs
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
			v.synced, v.lastEvent, v.lastRev, v.onRun, v.shown = false, 0, 0, false, nil
		}
		w.presence = map[string]string{}
	}
	switch {
	case f.Type == "reply" && f.OK && cmd != nil && cmd["type"] == "join":
		w.joined(f, cmd)
	case (f.Type == "message" || f.Type == "update") && f.Message != nil:
		w.event(*f.Message, f.Type == "message")
	case f.Type == "presence":
		w.presence[f.UserID()] = f.Status
		w.seen = append(w.seen, fmt.Sprintf("%s %s %s on connection %d", time.Now().Format("15:04:05.000"), f.UserID(), f.Status, w.conns))
	}
}

// joined takes a join reply: its messages must follow since (when given)
// and each other without a gap, its changes since_rev in increasing rev;
// after it the room's message events must follow its last message, and its
// message and update events the last change. w.mu is held.
func (w *worker) joined(f chattest.Frame, cmd map[string]any) {
	room, _ := cmd["room"].(string)
	v := w.views[room]
	var d struct {
		Messages    []chattest.Message `json:"messages"`
		HasMore     bool               `json:"has_more"`
		Changes     []chattest.Message `json:"changes"`
		ChangesMore bool               `json:"changes_more"`
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
	sinceRev, _ := cmd["since_rev"].(int64)
	prevRev := sinceRev
	for _, m := range d.Changes {
		if m.Room != room || m.Rev <= prevRev {
			w.h.violation("%s: join of %s since rev %d: rev %d of %s after %d", w.user, room, sinceRev, m.Rev, m.Room, prevRev)
		}
		prevRev = max(prevRev, m.Rev)
	}
	v.rev = max(v.rev, prevRev)
	v.shown = map[int64]bool{}
	for _, m := range d.Messages {
		if m.Rev > v.rev {
			v.shown[m.Rev] = true
		}
	}
	v.known = true
	v.synced = (!withSince || !d.HasMore) && !d.ChangesMore
	v.sinceRev, v.onRun = sinceRev, false
}

// event takes a message or update event. On one connection a room's
// events come in increasing rev, and its message events in increasing seq;
// once the connection's join reply came, both follow on from what the
// worker saw so far without a gap: every seq, and every rev but those the
// reply showed. w.mu is held.
func (w *worker) event(m chattest.Message, isMessage bool) {
	w.h.event()
	v := w.views[m.Room]
	switch {
	case v == nil:
		w.h.violation("%s: received rev %d (seq %d) of %s, which it does not follow", w.user, m.Rev, m.Seq, m.Room)
		return
	case m.Rev <= v.lastRev:
		w.h.violation("%s: rev %d of %s after rev %d on one connection", w.user, m.Rev, m.Room, v.lastRev)
		return
	case v.synced && m.Rev <= v.sinceRev:
		w.h.violation("%s: rev %d of %s again after a join since rev %d", w.user, m.Rev, m.Room, v.sinceRev)
	case v.synced:
		for r := max(v.rev, v.lastRev) + 1; r < m.Rev; r++ {
			if !v.shown[r] {
				w.h.violation("%s: rev %d of %s when %d was next", w.user, m.Rev, m.Room, r)
				break
			}
		}
	case v.onRun && m.Rev != v.lastRev+1:
		w.h.violation("%s: rev %d of %s after rev %d on one connection", w.user, m.Rev, m.Room, v.lastRev)
	}
	if v.synced || m.Rev <= v.rev+1 {
		v.rev = max(v.rev, m.Rev)
	}
	v.lastRev, v.onRun = m.Rev, true
	if !isMessage {
		return
	}
	if m.From != w.user && (w.reactsTo == nil || w.reactsTo(m.From)) {
		w.others = remember(w.others, msgRef{m.Room, m.Seq})
	}
	if m.Seq <= v.lastEvent {
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
