//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// Bounds of the checker's waits. Presence: the protocol's 30 s for the
// users of a dead instance, and some slack for a busy machine. The index:
// the indexer's longest backoff (30 s) and a batch.
const (
	presenceBound = 35 * time.Second
	indexBound    = 60 * time.Second
)

// verdict is what the checker found after one round.
type verdict struct {
	ops, acked, unavailable, noReply int
	lost, duplicated, disorder, gaps int
	indexMissing, indexDuplicated    int
	indeterminate                    int // stored, never acknowledged
	recovery                         time.Duration
	injected, healed                 time.Time     // when the fault began and ended
	presence                         time.Duration // until presence converged
	problems                         []string
	slowestRefusal                   time.Duration
	evictions                        int
	events                           int // message events the connections checked
}

func (v *verdict) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *verdict) failed() bool {
	return v.lost+v.duplicated+v.disorder+v.gaps+v.indexMissing+v.indexDuplicated > 0 || len(v.problems) > 0
}

// check holds the store, presence and the index against the history, once
// the senders have stopped; it waits up to indexWait for the index to catch
// up.
func (r *rig) check(ctx context.Context, l *load, v *verdict, indexWait time.Duration) {
	h := l.h
	h.mu.Lock()
	v.ops, v.acked, v.unavailable, v.noReply = h.ops, len(h.acks), h.unavailable, h.noReply
	v.disorder, v.slowestRefusal, v.evictions, v.events = h.disorder, h.slowest, h.evictions, h.events
	for _, s := range h.samples {
		v.problem("%s", s)
	}
	for code, n := range h.otherErrors {
		v.problem("%d sends answered %s", n, code)
	}
	h.mu.Unlock()
	stored := r.checkStore(ctx, l.h.tried, v)
	r.checkPresence(ctx, l, v)
	r.checkIndex(v, stored, indexWait)
}

// checkStore reads every room back through every instance and holds it
// against every send acknowledged so far: each one stored with its seq, id
// and text; seqs 1..n; no (sender, cid) twice. It returns the ids of the
// stored messages.
func (r *rig) checkStore(ctx context.Context, round map[roomCID]string, v *verdict) map[string]bool {
	byRoom := map[string][]ack{}
	for _, a := range r.past.acked {
		byRoom[a.msg.Room] = append(byRoom[a.msg.Room], a)
	}
	ids := map[string]bool{}
	for _, room := range r.rooms() {
		var first []chattest.Message
		var firstBy *server
		for _, s := range r.chats {
			msgs, err := r.readRoom(ctx, s, room)
			switch {
			case err != nil:
				v.problem("reading %s through %s: %v", room, s.name, err)
			case firstBy == nil:
				first, firstBy = msgs, s
			case !sameMessages(first, msgs):
				v.problem("%s reads %d messages of %s, %s reads %d", s.name, len(msgs), room, firstBy.name, len(first))
			}
		}
		for _, m := range first {
			ids[m.ID] = true
		}
		r.judgeRoom(room, first, byRoom[room], round, v)
	}
	return ids
}

// judgeRoom holds one room's stored messages against its acknowledged sends;
// round holds the sends tried in this round.
func (r *rig) judgeRoom(room string, msgs []chattest.Message, acked []ack, round map[roomCID]string, v *verdict) {
	bySeq := map[int64]chattest.Message{}
	senders := map[roomCID]int{}
	for i, m := range msgs {
		if m.Seq != int64(i+1) && r.past.firstTime("gap", room, strconv.Itoa(i)) {
			v.gaps++
			v.problem("%s: message %d of history has seq %d", room, i+1, m.Seq)
		}
		bySeq[m.Seq] = m
		k := roomCID{room, m.From + "/" + m.CID}
		senders[k]++
		if senders[k] > 1 && r.past.firstTime("duplicate", m.ID) {
			v.duplicated++
			v.problem("%s: cid %s of %s stored again at seq %d", room, m.CID, m.From, m.Seq)
		}
		if _, ok := r.past.tried[roomCID{room, m.CID}]; !ok && r.past.firstTime("unsent", m.ID) {
			v.problem("%s: seq %d (cid %s of %s) was never sent", room, m.Seq, m.CID, m.From)
		}
	}
	ackedCIDs := map[string]bool{}
	for _, a := range acked {
		ackedCIDs[a.msg.CID] = true
		m, ok := bySeq[a.msg.Seq]
		if (!ok || m.ID != a.msg.ID || m.CID != a.msg.CID || m.Text != a.msg.Text) && r.past.firstTime("lost", a.msg.ID) {
			v.lost++
			if v.lost <= 5 {
				v.problem("%s: acknowledged seq %d (cid %s, id %s) stored as %+v", room, a.msg.Seq, a.msg.CID, a.msg.ID, m)
			}
		}
	}
	for _, m := range msgs {
		if _, now := round[roomCID{room, m.CID}]; now && !ackedCIDs[m.CID] {
			v.indeterminate++
		}
	}
}

func sameMessages(a, b []chattest.Message) bool {
	return slices.EqualFunc(a, b, func(x, y chattest.Message) bool { return x.ID == y.ID && x.Seq == y.Seq })
}

// readRoom reads a room's whole history through s, oldest first, as a user
// who may read it. An instance that cannot answer is restarted once: what
// matters here is what was stored.
func (r *rig) readRoom(ctx context.Context, s *server, room string) ([]chattest.Message, error) {
	msgs, err := r.readRoomOnce(ctx, s, room)
	if err == nil {
		return msgs, nil
	}
	if !s.p.running() || probe(httpClient, s.base+"/readyz") != nil || errors.Is(err, context.DeadlineExceeded) {
		if rerr := s.restart(); rerr != nil {
			return nil, fmt.Errorf("%w; restarting %s to read it back: %w", err, s.name, rerr)
		}
		return r.readRoomOnce(ctx, s, room)
	}
	return nil, err
}

func (r *rig) readRoomOnce(ctx context.Context, s *server, room string) ([]chattest.Message, error) {
	reader := r.watchers[0]
	if rm, err := chatserver.ParseRoom(room); err == nil && rm.IsDM() {
		reader = rm.Members[0]
	}
	var all []chattest.Message
	before := int64(0)
	for {
		q := url.Values{"limit": {"100"}}
		if before > 0 {
			q.Set("before", strconv.FormatInt(before, 10))
		}
		var page struct {
			Messages []chattest.Message `json:"messages"`
			HasMore  bool               `json:"has_more"`
		}
		if err := r.get(ctx, s, reader, roomPath(room)+"?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(page.Messages, all...)
		if !page.HasMore || len(page.Messages) == 0 {
			return all, nil
		}
		before = page.Messages[0].Seq
	}
}

// get is a GET through s as user, signing in when needed.
func (r *rig) get(ctx context.Context, s *server, user, path string, out any) error {
	key := s.base + " " + user
	for range 2 {
		if r.tokens[key] == "" {
			tok, err := signIn(ctx, s.base, user)
			if err != nil {
				return err
			}
			r.tokens[key] = tok
		}
		err := getJSON(ctx, s.base+path, r.tokens[key], out)
		if !errors.Is(err, errUnauthorized) {
			return err
		}
		r.tokens[key] = ""
	}
	return errUnauthorized
}

// checkPresence waits until every instance lists every sender offline and
// every watcher online, and no watcher's last word on a sender is online.
func (r *rig) checkPresence(ctx context.Context, l *load, v *verdict) {
	start := time.Now()
	deadline := start.Add(presenceBound)
	for {
		why := r.presenceDiff(ctx, l)
		if why == "" {
			v.presence = time.Since(start)
			return
		}
		if time.Now().After(deadline) {
			v.problem("presence not converged %v after the senders left: %s", presenceBound, why)
			return
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// presenceDiff says how presence differs from what it should be now; ""
// when it does not.
func (r *rig) presenceDiff(ctx context.Context, l *load) string {
	for _, s := range r.chats {
		var users struct {
			Users []struct{ ID, Status string }
		}
		if err := r.get(ctx, s, r.watchers[0], "/api/users", &users); err != nil {
			return fmt.Sprintf("users through %s: %v", s.name, err)
		}
		status := map[string]string{}
		for _, u := range users.Users {
			status[u.ID] = u.Status
		}
		for _, u := range r.senders {
			if status[u] != "offline" {
				return fmt.Sprintf("%s lists %s %q", s.name, u, status[u])
			}
		}
		for _, u := range r.watchers {
			if status[u] != "online" {
				return fmt.Sprintf("%s lists %s %q", s.name, u, status[u])
			}
		}
	}
	for _, w := range l.watchers {
		for _, u := range r.senders {
			if w.presenceOf(u) == "online" {
				return fmt.Sprintf("%s last saw %s online; the presence events of %s it got: %s", w.user, u, u, strings.Join(w.presenceLog(u), ", "))
			}
		}
	}
	return ""
}

// checkIndex waits until the index holds a message.sent event for every
// acknowledged message, and counts those it holds more than once and those
// it lacks. Where no indexer runs there is nothing to check.
func (r *rig) checkIndex(v *verdict, stored map[string]bool, wait time.Duration) {
	if r.es == nil {
		return
	}
	deadline := time.Now().Add(wait)
	for {
		missing, dups, foreign := r.indexDiff(r.past.acked, stored)
		if len(missing) == 0 || time.Now().After(deadline) {
			for _, id := range missing {
				if r.past.firstTime("unindexed", id) {
					v.indexMissing++
				}
			}
			for _, id := range dups {
				if r.past.firstTime("indexed twice", id) {
					v.indexDuplicated++
				}
			}
			if v.indexMissing > 0 {
				v.problem("%d acknowledged messages not in the index %v after the senders left", v.indexMissing, wait)
			}
			if foreign > 0 {
				v.problem("%d message.sent events in the index name no stored message", foreign)
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// indexDiff returns the acknowledged messages without their message.sent
// event in the index and the messages with more than one, and counts the
// events of messages not stored (when stored is not nil).
func (r *rig) indexDiff(acked []ack, stored map[string]bool) (missing, dups []string, foreign int) {
	docs, _, _ := r.es.Snapshot()
	events := map[string]int{}
	for _, ev := range docs {
		if ev.Type == chatserver.ActivityMessage {
			events[ev.MessageID]++
		}
	}
	for _, a := range acked {
		if events[a.msg.ID] == 0 {
			missing = append(missing, a.msg.ID)
		}
	}
	for id, n := range events {
		if n > 1 {
			dups = append(dups, id)
		}
		if stored != nil && !stored[id] {
			foreign++
		}
	}
	return missing, dups, foreign
}
