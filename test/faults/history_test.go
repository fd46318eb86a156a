//go:build faults

package faults

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// ack is one acknowledged send, as its reply told it.
type ack struct {
	worker string
	msg    chattest.Message
	at     time.Time
}

// roomCID names one send: a room and the sender's cid in it (cids are
// unique per user, and every user's cids carry its name).
type roomCID struct{ room, cid string }

// change is one edit or reaction of the load, tried until acknowledged
// with the same content: given up only when refused for good, or left open
// when the round ended.
type change struct {
	room   string
	seq    int64
	user   string
	edit   bool   // an edit, else a reaction
	text   string // an edit's new text
	emoji  string // a reaction's emoji
	active bool   // a reaction set, else taken back
	state  changeState
	rev    int64 // the message's rev in the acknowledging reply
	// unanswered counts the tries that ended without an answer, or with
	// unavailable: each may have taken a rev and stored nothing with it
	// (on MongoDB a change takes its rev with a marker first, and the
	// marker of a writer that died is later filled by an update that
	// repeats the message's state).
	unanswered int
}

type changeState int

const (
	changeOpen    changeState = iota // tried, never answered ok: it may or may not be stored
	changeAcked                      // answered ok
	changeRefused                    // answered an error other than unavailable: stored nothing
)

func (c *change) String() string {
	if c.edit {
		return fmt.Sprintf("edit of seq %d of %s to %q", c.seq, c.room, c.text)
	}
	return fmt.Sprintf("reaction %s (active %v) of %s on seq %d of %s", c.emoji, c.active, c.user, c.seq, c.room)
}

// history is what the load did and saw, kept for the checker: every send,
// edit and reaction tried and every one acknowledged, every refusal, and
// every violation of order a connection observed.
type history struct {
	mu            sync.Mutex
	acks          []ack
	tried         map[roomCID]string // text of every send tried, acknowledged or not
	changes       []*change          // every edit and reaction tried, in the order each user tried them
	edits         int                // edits acknowledged
	reactions     int                // reactions acknowledged
	ops           int                // commands answered ok (sends, edits, reactions, joins, typing)
	unavailable   int                // sends, edits and reactions answered unavailable
	otherErrors   map[string]int     // sends, edits and reactions answered with another error, by code
	slowest       time.Duration      // the slowest refusal
	firstRefusals []string           // when the first refusals came, for the report
	noReply       int                // commands that got no reply within replyTimeout
	evictions     int                // connections the server closed with 1008
	events        int                // message and update events the connections checked
	disorder      int                // order violations seen by connections
	samples       []string           // the first violations and unanswered commands, for the report
	lastAck       map[string]time.Time
}

func newHistory() *history {
	return &history{tried: map[roomCID]string{}, otherErrors: map[string]int{}, lastAck: map[string]time.Time{}}
}

func (h *history) tryingSend(room, cid, text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tried[roomCID{room, cid}] = text
}

func (h *history) acked(worker string, m chattest.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	h.acks = append(h.acks, ack{worker: worker, msg: m, at: now})
	h.lastAck[worker] = now
	h.ops++
}

func (h *history) tryingChange(c *change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changes = append(h.changes, c)
}

// changeAcked records the reply that acknowledged c: the message at rev.
func (h *history) changeAcked(c *change, rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.state, c.rev = changeAcked, rev
	if c.edit {
		h.edits++
	} else {
		h.reactions++
	}
	h.ops++
}

// changeUnanswered records a try of c that ended without an answer or with
// unavailable; c is tried again.
func (h *history) changeUnanswered(c *change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.unanswered++
}

func (h *history) changeRefused(c *change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.state = changeRefused
}

func (h *history) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops++
}

// refused records a send, edit or reaction answered with an error after
// took.
func (h *history) refused(code string, took time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if code == "unavailable" {
		h.unavailable++
	} else {
		h.otherErrors[code]++
	}
	h.slowest = max(h.slowest, took)
	if len(h.firstRefusals) < 3 {
		h.firstRefusals = append(h.firstRefusals, fmt.Sprintf("%s after %v at %s", code, took.Round(time.Millisecond), time.Now().Format("15:04:05.000")))
	}
}

// failed records a command of worker that got no answer.
func (h *history) failed(worker string, err error) {
	if !errors.Is(err, errNoReply) {
		return // the connection broke: the client reconnects
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.noReply++
	if h.noReply <= 3 {
		h.samples = append(h.samples, fmt.Sprintf("%s at %s: %v", worker, time.Now().Format("15:04:05.000"), err))
	}
}

func (h *history) evicted() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evictions++
}

func (h *history) event() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events++
}

// violation records a breach of the order guarantees seen by a connection.
func (h *history) violation(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.disorder++
	if len(h.samples) < 10 {
		h.samples = append(h.samples, "order: "+fmt.Sprintf(format, args...))
	}
}

// acksBefore returns the sends acknowledged before t.
func (h *history) acksBefore(t time.Time) []ack {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ack
	for _, a := range h.acks {
		if a.at.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

// ackedSince reports whether every one of workers had a send acknowledged
// after t.
func (h *history) ackedSince(t time.Time, workers []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range workers {
		if !h.lastAck[w].After(t) {
			return false
		}
	}
	return true
}

// refusals returns how many sends, edits and reactions were refused so
// far, whatever the code.
func (h *history) refusals() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.unavailable
	for _, c := range h.otherErrors {
		n += c
	}
	return n
}
