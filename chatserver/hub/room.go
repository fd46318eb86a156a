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
	stateLive                    // deliver seq last+1
)

// sub is one connection's view of one room.
type sub struct {
	state  subState
	joined bool  // by join (typing events), not only as a DM member
	last   int64 // last seq delivered (or covered by the join reply)
	buf    []chatserver.Event
}

// room is the per-instance state of one room. Its fields are guarded by mu.
type room struct {
	id      string
	info    chatserver.Room
	mu      sync.Mutex
	next    int64 // next seq to fan out; 0 until the stream has a baseline
	pending map[int64]chatserver.Event
	timer   *gapTimer
	// stale: the broker may have dropped events of this room; the next fill
	// reads the store even if nothing is pending.
	stale bool
	subs  map[*Subscriber]*sub
}

func (h *Hub) room(id string, create bool) *room {
	s := &h.rooms[h.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[id]
	if r == nil && create {
		info, _ := chatserver.ParseRoom(id)
		r = &room{id: id, info: info, pending: map[int64]chatserver.Event{}, subs: map[*Subscriber]*sub{}}
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
	if len(r.subs) == 0 && len(r.pending) == 0 && s.m[r.id] == r {
		r.stopTimer(h)
		delete(s.m, r.id)
	}
}

// accept takes a message event into the room's stream; r.mu is held.
func (h *Hub) accept(r *room, ev chatserver.Event) {
	if r.next != 0 && ev.Seq < r.next {
		return // delivered already
	}
	if r.next == 0 || ev.Seq > r.next {
		r.pending[ev.Seq] = ev
		h.armTimer(r)
		return
	}
	h.fanOut(r, ev)
	r.next++
	h.drain(r)
}

// drain fans out the pending events that are next in line; r.mu is held.
func (h *Hub) drain(r *room) {
	for seq := range r.pending {
		if seq < r.next {
			delete(r.pending, seq)
		}
	}
	for {
		ev, ok := r.pending[r.next]
		if !ok {
			break
		}
		delete(r.pending, r.next)
		h.fanOut(r, ev)
		r.next++
	}
	if len(r.pending) == 0 && !r.stale {
		r.stopTimer(h)
	}
}

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
	for seq := range r.pending {
		if lowest == 0 || seq < lowest {
			lowest = seq
		}
	}
	return lowest, lowest != 0
}

// fanOut hands one in-order message event to every connection following the
// room: joined connections, and for a DM every connection of its two users.
func (h *Hub) fanOut(r *room, ev chatserver.Event) {
	if h.cfg.Delivered != nil && !ev.Sent.IsZero() {
		h.cfg.Delivered(time.Since(ev.Sent))
	}
	for c, sb := range r.subs {
		h.offer(r, c, sb, ev)
	}
	if !r.info.IsDM() {
		return
	}
	for _, u := range r.info.Members {
		h.subscribers(u, func(c *Subscriber) {
			if _, ok := r.subs[c]; ok {
				return
			}
			// A DM member's connection follows the room from this message on.
			sb := &sub{state: stateLive, last: ev.Seq - 1}
			r.subs[c] = sb
			c.mu.Lock()
			c.rooms[r] = struct{}{}
			c.mu.Unlock()
			h.offer(r, c, sb, ev)
		})
	}
}

// offer gives one event to one connection; r.mu is held.
func (h *Hub) offer(r *room, c *Subscriber, sb *sub, ev chatserver.Event) {
	switch {
	case sb.state == statePending:
		if len(sb.buf) >= h.cfg.MaxBuffer {
			h.evict(r, c, "too slow: join buffer overflow")
			return
		}
		sb.buf = append(sb.buf, ev)
	case ev.Seq <= sb.last:
	case ev.Seq == sb.last+1:
		sb.last = ev.Seq
		c.sink.Send(ev.Frame)
	default:
		// The connection would miss messages (it joined with a since page that
		// had more): it must resume with join + since rather than skip.
		h.evict(r, c, "out of sync: resume with join and since")
	}
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

// fill runs when a seq stayed missing for GapWait: the stream takes a baseline
// if it had none, and the missing messages are read from the store.
func (h *Hub) fill(r *room, g *gapTimer) {
	r.mu.Lock()
	if r.timer == g {
		r.timer = nil
	}
	if h.closed.Load() || (len(r.pending) == 0 && !r.stale) {
		r.mu.Unlock()
		return
	}
	r.stale = false
	if r.next == 0 {
		r.next, _ = r.minPending()
		h.drain(r)
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
	}
	after := r.next - 1
	r.mu.Unlock()

	page, err := h.store.After(h.ctx, r.id, after, chatserver.MaxSincePage)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		h.cfg.Logger.Warn("reading missing messages", "room", r.id, "after", after, "err", err)
	}
	for _, m := range page.Messages {
		h.accept(r, chatserver.Event{Kind: chatserver.EventMessage, Room: m.Room, User: m.From, Seq: m.Seq, Sent: m.TS, Frame: wire.MessageEvent(m)})
	}
	if len(r.pending) > 0 {
		h.armTimer(r)
	}
}
