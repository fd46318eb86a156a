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
	ops, acked, edits, unavailable   int
	noReply, reactions               int
	revRooms, revExact               int // rooms whose rev was checked; of them, against an exact count
	lost, duplicated, disorder, gaps int
	indexMissing, indexDuplicated    int
	indeterminate                    int // stored, never acknowledged
	recovery                         time.Duration
	injected, healed                 time.Time     // when the fault began and ended
	presence                         time.Duration // until presence converged
	problems                         []string
	slowestRefusal                   time.Duration
	evictions                        int
	events                           int // message and update events the connections checked
}

func (v *verdict) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *verdict) failed() bool {
	return v.lost+v.duplicated+v.disorder+v.gaps+v.indexMissing+v.indexDuplicated > 0 || len(v.problems) > 0
}

// check holds the store, presence, the rooms' revisions and the index
// against the history, once the senders have stopped; it waits up to
// indexWait for the index to catch up.
func (r *rig) check(ctx context.Context, l *load, v *verdict, indexWait time.Duration) {
	h := l.h
	h.mu.Lock()
	v.ops, v.acked, v.edits, v.unavailable, v.noReply = h.ops, len(h.acks), h.edits, h.unavailable, h.noReply
	v.reactions = h.reactions
	v.disorder, v.slowestRefusal, v.evictions, v.events = h.disorder, h.slowest, h.evictions, h.events
	for _, s := range h.samples {
		v.problem("%s", s)
	}
	for code, n := range h.otherErrors {
		v.problem("%d sends, edits or reactions answered %s", n, code)
	}
	h.mu.Unlock()
	stored := r.checkStore(ctx, l.h.tried, v)
	// After presence: reading a DM back takes a connection of a sender.
	r.checkPresence(ctx, l, v)
	r.checkRevs(ctx, stored, v)
	ids := map[string]bool{}
	for _, sr := range stored {
		for _, m := range sr.msgs {
			ids[m.ID] = true
		}
	}
	r.checkIndex(v, ids, indexWait)
}

// storedRoom is a room as the checker read it back, and what the history
// says of its changes.
type storedRoom struct {
	msgs []chattest.Message
	book *changeBook
}

// checkStore reads every room back through every instance and holds it
// against every send, edit and reaction acknowledged so far: each message
// stored with its seq, id and cid, the text of its last acknowledged edit
// (or send), the reactions last acknowledged, at a rev no lower than any
// acknowledging reply gave; seqs 1..n; no (sender, cid) twice. It returns
// the rooms as read.
func (r *rig) checkStore(ctx context.Context, round map[roomCID]string, v *verdict) map[string]storedRoom {
	byRoom := map[string][]ack{}
	for _, a := range r.past.acked {
		byRoom[a.msg.Room] = append(byRoom[a.msg.Room], a)
	}
	rooms := map[string]storedRoom{}
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
		book := r.past.bookOf(room, byRoom[room])
		r.judgeRoom(room, first, byRoom[room], round, v)
		r.judgeChanges(room, first, book, v)
		if firstBy != nil {
			rooms[room] = storedRoom{msgs: first, book: book}
		}
	}
	return rooms
}

// judgeRoom holds one room's stored messages against its acknowledged sends;
// round holds the sends tried in this round. Their text is judgeChanges'.
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
		if (!ok || m.ID != a.msg.ID || m.CID != a.msg.CID) && r.past.firstTime("lost", a.msg.ID) {
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

// judgeChanges holds one room's stored messages against the edits and
// reactions of the history: each acknowledged message has the text of its
// last acknowledged edit, or of one tried after it; each reaction is there
// as last acknowledged, or as tried after that; nobody's reaction is there
// that nobody tried; and no message is at a rev below one an acknowledging
// reply gave.
func (r *rig) judgeChanges(room string, msgs []chattest.Message, book *changeBook, v *verdict) {
	lost := func(key, format string, args ...any) {
		if r.past.firstTime("lost change", room, key) {
			v.lost++
			if v.lost <= 5 {
				v.problem(room+": "+format, args...)
			}
		}
	}
	for _, m := range msgs {
		seq := strconv.FormatInt(m.Seq, 10)
		if rev := book.revs[m.Seq]; m.Rev < rev {
			lost("rev "+seq, "seq %d stored at rev %d, below the rev %d an acknowledging reply gave", m.Seq, m.Rev, rev)
		}
		if reg := book.texts[m.Seq]; reg != nil && !slices.Contains(reg.may, m.Text) {
			lost("text "+seq, "seq %d stored with the text %q; the history allows %q", m.Seq, m.Text, reg.may)
		}
		known, unknown := book.reactionsOf(m)
		for k, there := range known {
			value := off
			if there {
				value = on
			}
			if !slices.Contains(book.reactions[k].may, value) {
				lost("reaction "+seq+" "+k.user+" "+k.emoji, "seq %d carries the reaction %s of %s: %v, where the history allows %q", m.Seq, k.emoji, k.user, there, book.reactions[k].may)
			}
		}
		for _, k := range unknown {
			if r.past.firstTime("unmade reaction", room, seq, k.user, k.emoji) {
				v.problem("%s: seq %d carries the reaction %s of %s, which was never tried", room, m.Seq, k.emoji, k.user)
			}
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

// readerOf is the user the checker reads room as: a watcher, or a member
// of a DM.
func (r *rig) readerOf(room string) string {
	if rm, err := chatserver.ParseRoom(room); err == nil && rm.IsDM() {
		return rm.Members[0]
	}
	return r.watchers[0]
}

func (r *rig) readRoomOnce(ctx context.Context, s *server, room string) ([]chattest.Message, error) {
	reader := r.readerOf(room)
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
	return r.asUser(ctx, s, user, func(token string) error { return getJSON(ctx, s.base+path, token, out) })
}

// asUser makes call with a token of user on s, signing in when there is
// none or the server no longer knows it.
func (r *rig) asUser(ctx context.Context, s *server, user string, call func(token string) error) error {
	key := s.base + " " + user
	for range 2 {
		if r.tokens[key] == "" {
			tok, err := signIn(ctx, s.base, user)
			if err != nil {
				return err
			}
			r.tokens[key] = tok
		}
		err := call(r.tokens[key])
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
