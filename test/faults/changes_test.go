//go:build faults

package faults

import (
	"slices"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// register is what the history says one part of a message may hold now (its
// text, or whether one user's reaction is on it) and how many stored changes
// it took to get there: at least lo, at most hi. Changes the history cannot
// vouch for (tried, never acknowledged) widen both.
type register struct {
	may    []string
	lo, hi int
}

func newRegister(v string) *register { return &register{may: []string{v}} }

// apply takes one change of the register to v, tried in the order the
// history holds, of which unanswered tries may each have taken a rev that
// holds no change.
func (g *register) apply(state changeState, v string, unanswered int) {
	g.hi += unanswered
	if state == changeRefused {
		return // the server stored nothing
	}
	differs := 0 // how many of the values the register may hold v differs from
	for _, x := range g.may {
		if x != v {
			differs++
		}
	}
	if differs > 0 {
		g.hi++
	}
	switch {
	case state == changeAcked:
		if differs == len(g.may) {
			g.lo++
		}
		g.may = []string{v}
	case !slices.Contains(g.may, v):
		g.may = append(g.may, v)
	}
}

// reactionAt names one user's reaction on one message of a room.
type reactionAt struct {
	seq         int64
	user, emoji string
}

// on and off are the values of a reaction's register.
const (
	on  = "on"
	off = ""
)

// changeBook is what the history says of the messages of one room: the text
// each acknowledged message may have, the reactions each may carry, and
// the lowest rev each must be at.
type changeBook struct {
	texts     map[int64]*register // by seq, for the acknowledged messages
	reactions map[reactionAt]*register
	revs      map[int64]int64 // by seq: the highest rev an acknowledging reply gave
}

// bookOf replays the history of room: its acknowledged sends, then every
// edit and reaction tried in it.
func (g *ledger) bookOf(room string, acked []ack) *changeBook {
	b := &changeBook{texts: map[int64]*register{}, reactions: map[reactionAt]*register{}, revs: map[int64]int64{}}
	for _, a := range acked {
		b.texts[a.msg.Seq] = newRegister(a.msg.Text)
		b.revs[a.msg.Seq] = max(b.revs[a.msg.Seq], a.msg.Rev)
	}
	for _, c := range g.changes {
		if c.room != room {
			continue
		}
		if c.state == changeAcked {
			b.revs[c.seq] = max(b.revs[c.seq], c.rev)
		}
		if c.edit {
			if reg := b.texts[c.seq]; reg != nil { // the load edits acknowledged messages only
				reg.apply(c.state, c.text, c.unanswered)
			}
			continue
		}
		k := reactionAt{c.seq, c.user, c.emoji}
		if b.reactions[k] == nil {
			b.reactions[k] = newRegister(off)
		}
		value := off
		if c.active {
			value = on
		}
		b.reactions[k].apply(c.state, value, c.unanswered)
	}
	return b
}

// changed returns how many stored changes the room's edits and reactions
// made: at least lo, at most hi.
func (b *changeBook) changed() (lo, hi int) {
	for _, reg := range b.texts {
		lo, hi = lo+reg.lo, hi+reg.hi
	}
	for _, reg := range b.reactions {
		lo, hi = lo+reg.lo, hi+reg.hi
	}
	return lo, hi
}

// reactionsOf returns the reactions the history knows on the message seq,
// each with whether m carries it, and those m carries that nobody tried.
func (b *changeBook) reactionsOf(m chattest.Message) (known map[reactionAt]bool, unknown []reactionAt) {
	known = map[reactionAt]bool{}
	for k := range b.reactions {
		if k.seq == m.Seq {
			known[k] = false
		}
	}
	for _, r := range m.Reactions {
		for _, u := range r.Users {
			k := reactionAt{m.Seq, u, r.Emoji}
			if _, ok := known[k]; !ok {
				unknown = append(unknown, k)
			}
			known[k] = true
		}
	}
	for _, k := range unknown {
		delete(known, k)
	}
	return known, unknown
}
