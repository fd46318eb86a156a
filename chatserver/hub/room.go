package hub

import (
	"sync"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

type subState int

const (
	statePending subState = iota // joining: buffer until Resume
	stateLive                    // deliver rev rev+1
)

// sub is one connection's view of one room.
type sub struct {
	state  subState
	joined bool  // by join (typing events), not only as a member of a private room
	rev    int64 // last rev delivered, or covered by the join reply
	// seq is the last seq of a message delivered or covered by the join
	// reply; -1 while unknown, for a member's connection that started to
	// follow a private room at an update.
	seq int64
	buf []change
}

// change is one rev of a room's stream: a published message or update
// event, or a message read from the store in its current state to fill a
// gap.
type change struct {
	chatserver.Event // Kind EventMessage or EventUpdate once fanned out
	// stored, set for a message read from the store, holds both its frames:
	// it is a message event for a subscriber that has not seen its seq yet,
	// and an update event for one that has.
	stored *storedFrames
}

type storedFrames struct{ message, update []byte }

func storedChange(m chatserver.Message) change {
	return change{
		Event:  chatserver.Event{Room: m.Room, User: m.From, Seq: m.Seq, Rev: m.Rev, Sent: m.TS},
		stored: &storedFrames{message: wire.MessageEvent(m), update: wire.UpdateEvent(m)},
	}
}

// frameFor returns the frame of ch for a subscriber that has seen the
// messages up to seq (-1: unknown), and whether it is a message event.
func (ch change) frameFor(seq int64) (frame []byte, isMessage bool) {
	if ch.stored == nil || seq < 0 {
		return ch.Frame, ch.Kind == chatserver.EventMessage
	}
	if ch.Seq > seq {
		return ch.stored.message, true
	}
	return ch.stored.update, false
}

// room is the per-instance state of one room. Its fields are guarded by mu.
type room struct {
	id   string
	info chatserver.Room
	mu   sync.Mutex
	next int64 // next rev to fan out; 0 until the stream has a baseline
	// lastSeq is the seq of the newest message event fanned out, which tells
	// a stored change that is a new message from one that is not; -1 until
	// the stream fanned one out.
	lastSeq int64
	// pending holds the changes that arrived ahead of their turn, by rev;
	// once next is set, every key is above it.
	pending map[int64]change
	timer   *gapTimer
	// stale: the broker may have dropped events of this room; the next fill
	// reads the store even if nothing is pending.
	stale bool
	// dropped: the room left the hub's map; whoever locked it looks it up again.
	dropped bool
	// held counts the fills in a row that found the next rev neither
	// pending nor in the store while later ones were there (see fill).
	held int
	subs map[*Subscriber]*sub
}

// lockRoom returns the room of id, locked, creating it if create is set;
// nil if there is none.
func (h *Hub) lockRoom(id string, create bool) *room {
	for {
		r := h.room(id, create)
		if r == nil {
			return nil
		}
		r.mu.Lock()
		if !r.dropped {
			return r
		}
		r.mu.Unlock()
	}
}

func (h *Hub) room(id string, create bool) *room {
	s := &h.rooms[h.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[id]
	if r == nil && create {
		info, _ := chatserver.ParseRoom(id)
		r = &room{id: id, info: info, lastSeq: -1, pending: map[int64]change{}, subs: map[*Subscriber]*sub{}}
		s.m[id] = r
	}
	return r
}

// dropIfIdle forgets a room that no connection follows and that has nothing
// pending, so that memory follows the rooms in use.
func (h *Hub) dropIfIdle(r *room) {
	s := &h.rooms[h.shard(r.id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.subs) == 0 && len(r.pending) == 0 && !r.dropped {
		r.stopTimer(h)
		r.dropped = true
		delete(s.m, r.id)
	}
}

// accept takes a published change into the room's stream; r.mu is held.
func (h *Hub) accept(r *room, ch change) {
	switch {
	case r.next != 0 && ch.Rev < r.next:
		// fanned out already
	case r.next == 0 || ch.Rev > r.next:
		if _, ok := r.pending[ch.Rev]; !ok {
			r.pending[ch.Rev] = ch
		}
		h.armTimer(r)
	default:
		h.fanOut(r, ch)
		r.next++
		r.held = 0
		h.drain(r, 0)
	}
}

// drain fans out the pending changes that are next in line. The revs up to
// through that are not pending were superseded (see fill) and are passed
// over: the connections that missed them see the gap at the next change and
// are closed. r.mu is held.
func (h *Hub) drain(r *room, through int64) {
	for {
		ch, ok := r.pending[r.next]
		if !ok && r.next > through {
			break
		}
		if ok {
			delete(r.pending, r.next)
			h.fanOut(r, ch)
		}
		r.next++
	}
	if len(r.pending) == 0 && !r.stale {
		r.stopTimer(h)
	}
}

// supersedeFills is how many fills in a row (GapWait apart) a rev the store
// shows superseded is waited for before it is passed over: 20 times the
// 50 ms default, 1 s, as long as a sender waits for its publish.
const supersedeFills = 20

// resync has every room with a baseline read what it may have missed from
// the store, after GapWait, on its fill timer.
func (h *Hub) resync() {
	for i := range h.rooms {
		s := &h.rooms[i]
		s.mu.Lock()
		for _, r := range s.m {
			r.mu.Lock()
			if r.next != 0 {
				r.stale = true
				h.armTimer(r)
			}
			r.mu.Unlock()
		}
		s.mu.Unlock()
	}
}

func (r *room) minPending() (int64, bool) {
	var lowest int64
	for rev := range r.pending {
		if lowest == 0 || rev < lowest {
			lowest = rev
		}
	}
	return lowest, lowest != 0
}

// fanOut hands one in-order change to every connection following the room:
// joined connections, and for a private room every connection of its
// members. r.mu is held.
func (h *Hub) fanOut(r *room, ch change) {
	seqBefore := r.lastSeq
	if ch.stored != nil {
		ch.Kind, ch.Frame = chatserver.EventUpdate, ch.stored.update
		if seqBefore >= 0 && ch.Seq > seqBefore {
			ch.Kind, ch.Frame = chatserver.EventMessage, ch.stored.message
		}
	}
	if ch.Kind == chatserver.EventMessage {
		r.lastSeq = max(r.lastSeq, ch.Seq)
		if h.cfg.Delivered != nil && !ch.Sent.IsZero() {
			h.cfg.Delivered(time.Since(ch.Sent))
		}
	}
	for c, sb := range r.subs {
		h.offer(r, c, sb, ch)
	}
	if !r.info.IsPrivate() {
		return
	}
	if ch.Kind == chatserver.EventMessage {
		seqBefore = ch.Seq - 1
	}
	for _, u := range r.info.Members {
		h.subscribers(u, func(c *Subscriber) {
			if _, ok := r.subs[c]; ok {
				return
			}
			// A member's connection follows the room from this change on.
			sb := &sub{state: stateLive, rev: ch.Rev - 1, seq: seqBefore}
			r.subs[c] = sb
			c.mu.Lock()
			c.rooms[r] = struct{}{}
			c.mu.Unlock()
			h.offer(r, c, sb, ch)
		})
	}
}

// offer gives one change to one connection; r.mu is held.
func (h *Hub) offer(r *room, c *Subscriber, sb *sub, ch change) {
	if sb.state == statePending {
		if len(sb.buf) >= h.cfg.MaxBuffer {
			h.evict(r, c, "too slow: join buffer overflow")
			return
		}
		sb.buf = append(sb.buf, ch)
		return
	}
	if ch.Rev <= sb.rev {
		return // delivered already, or covered by the join reply
	}
	if ch.Rev > sb.rev+1 {
		// The connection would miss a change (one that a later change of
		// its message replaced before the store was read for it): it must
		// resume with join + since_rev rather than skip it.
		h.evict(r, c, "out of sync: resume with join and since_rev")
		return
	}
	sb.rev = ch.Rev
	frame, isMessage := ch.frameFor(sb.seq)
	if isMessage {
		switch {
		case sb.seq >= 0 && ch.Seq <= sb.seq:
			return // the join reply held it
		case sb.seq >= 0 && ch.Seq > sb.seq+1:
			// It would miss messages (it joined with a since page that
			// had more): it must resume with join + since.
			h.evict(r, c, "out of sync: resume with join and since")
			return
		}
		sb.seq = ch.Seq
	}
	c.sink.Send(frame)
}

func (h *Hub) evict(r *room, c *Subscriber, reason string) {
	h.unsubscribe(r, c)
	c.sink.Close(ClosePolicy, reason)
}

// gapTimer is a scheduled fill; its field is set under the room's lock.
type gapTimer struct{ t *time.Timer }

// armTimer schedules a gap fill unless one is scheduled; r.mu is held.
func (h *Hub) armTimer(r *room) {
	if r.timer != nil || h.closed.Load() {
		return
	}
	h.timers.Add(1)
	g := &gapTimer{}
	g.t = time.AfterFunc(h.cfg.GapWait, func() {
		defer h.timers.Done()
		h.fill(r, g)
	})
	r.timer = g
}

// stopTimer cancels a scheduled fill; r.mu is held.
func (r *room) stopTimer(h *Hub) {
	if r.timer != nil && r.timer.t.Stop() {
		h.timers.Done()
	}
	r.timer = nil
}

// fill runs when a rev stayed missing for GapWait: the stream takes a
// baseline if it had none, and the missing changes are read from the store.
// The store returns every message changed after a rev in its current state,
// so a change that a later change of the same message replaced is not
// among them: it is passed over, and the connections that missed it are
// closed to resume with join + since_rev.
func (h *Hub) fill(r *room, g *gapTimer) {
	r.mu.Lock()
	if r.timer == g {
		r.timer = nil
	}
	if h.closed.Load() || r.dropped || (len(r.pending) == 0 && !r.stale) {
		r.mu.Unlock()
		return
	}
	stale := r.stale
	r.stale = false
	if r.next == 0 {
		r.next, _ = r.minPending()
		h.drain(r, 0)
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
	}
	after := r.next - 1
	r.mu.Unlock()

	page, err := h.store.Changes(h.ctx, r.id, after, chatserver.MaxSincePage)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		h.cfg.Logger.Warn("reading missed changes", "room", r.id, "after", after, "err", err)
		r.stale = r.stale || stale
	}
	var through int64
	for _, m := range page.Messages {
		if _, ok := r.pending[m.Rev]; !ok && m.Rev >= r.next {
			r.pending[m.Rev] = storedChange(m)
		}
		through = max(through, m.Rev)
	}
	if page.HasMore {
		r.stale = true // read on from where this page ends
	}
	if _, ok := r.pending[r.next]; !ok && through >= r.next && r.held < supersedeFills {
		// The store no longer shows the next rev, so a later change to
		// the same message superseded it; but its own publish, which the
		// connections must see, is most likely still on its way (the
		// instance that made it published after storing). Wait for it a
		// while before passing it over, which closes the connections that
		// missed it.
		r.held++
		h.drain(r, 0)
		h.armTimer(r)
		return
	}
	r.held = 0
	h.drain(r, through)
	if len(r.pending) > 0 || r.stale {
		h.armTimer(r)
	}
}
