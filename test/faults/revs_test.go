//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// checkRevs reads every room back through every instance as a client
// catching up does, with join since_rev=0 page after page, and holds the
// current states it gets against the room's rev (GET /api/rooms) and the
// messages read back by checkStore: each message once, in increasing rev,
// in the state the history shows; the highest rev the room's; and the
// room's rev the number of changes that changed something: one per stored
// message, and the edits and reactions the history counts (exactly when it
// can vouch for each, else within its bounds).
func (r *rig) checkRevs(ctx context.Context, rooms map[string]storedRoom, v *verdict) {
	for _, room := range r.rooms() {
		sr, ok := rooms[room]
		if !ok {
			continue
		}
		for _, s := range r.chats {
			rev, lastSeq, err := r.roomRev(ctx, s, room)
			var changes []chattest.Message
			if err == nil {
				changes, err = r.readChanges(ctx, s, room, lastSeq)
			}
			if err != nil {
				v.problem("reading the changes of %s through %s: %v", room, s.name, err)
				continue
			}
			v.revRooms++
			if lo, hi := sr.book.changed(); lo == hi {
				v.revExact++
			}
			for _, why := range judgeRevs(sr, changes, rev) {
				if r.past.firstTime("rev", room, why) {
					v.gaps++
					v.problem("%s through %s: %s", room, s.name, why)
				}
			}
		}
	}
}

// judgeRevs returns what is wrong with the changes of a room read back since
// rev 0, against its rev and the room as read back by checkStore.
func judgeRevs(sr storedRoom, changes []chattest.Message, rev int64) []string {
	var out []string
	bySeq := map[int64]chattest.Message{}
	var prev int64
	for _, m := range changes {
		if m.Rev <= prev {
			out = append(out, fmt.Sprintf("the changes hold rev %d (seq %d) after rev %d", m.Rev, m.Seq, prev))
		}
		if _, twice := bySeq[m.Seq]; twice {
			out = append(out, fmt.Sprintf("the changes hold seq %d twice", m.Seq))
		}
		prev = max(prev, m.Rev)
		bySeq[m.Seq] = m
	}
	if prev != rev {
		out = append(out, fmt.Sprintf("the room is at rev %d, its latest change at rev %d", rev, prev))
	}
	for _, m := range sr.msgs {
		c, ok := bySeq[m.Seq]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("the changes since rev 0 lack seq %d", m.Seq))
		case !sameState(c, m):
			out = append(out, fmt.Sprintf("seq %d is %+v in the changes, %+v in the messages read back", m.Seq, c, m))
		}
		delete(bySeq, m.Seq)
	}
	for seq := range bySeq {
		out = append(out, fmt.Sprintf("the changes hold seq %d, which the messages read back do not", seq))
	}
	lo, hi := sr.book.changed()
	n := int64(len(sr.msgs))
	switch {
	case lo == hi && rev != n+int64(lo):
		out = append(out, fmt.Sprintf("the room is at rev %d after %d messages and %d edits and reactions that changed them", rev, n, lo))
	case rev < n+int64(lo) || rev > n+int64(hi):
		out = append(out, fmt.Sprintf("the room is at rev %d after %d messages and %d to %d edits and reactions that changed them", rev, n, lo, hi))
	}
	return out
}

// sameState reports whether a and b are one message in one state.
func sameState(a, b chattest.Message) bool {
	return a.ID == b.ID && a.Rev == b.Rev && a.Text == b.Text && a.Deleted == b.Deleted &&
		slices.EqualFunc(a.Reactions, b.Reactions, func(x, y chatserver.Reaction) bool {
			return x.Emoji == y.Emoji && slices.Equal(x.Users, y.Users)
		})
}

// roomRev returns the rev and the last seq of room as GET /api/rooms tells
// them through s to the user the checker reads it as (0 for a room that
// does not exist yet).
func (r *rig) roomRev(ctx context.Context, s *server, room string) (rev, lastSeq int64, err error) {
	var list struct {
		Rooms []struct {
			ID      string
			Rev     int64
			LastSeq int64 `json:"last_seq"`
		}
	}
	if err := r.get(ctx, s, r.readerOf(room), "/api/rooms", &list); err != nil {
		return 0, 0, err
	}
	for _, rm := range list.Rooms {
		if rm.ID == room {
			return rm.Rev, rm.LastSeq, nil
		}
	}
	return 0, 0, nil
}

// readChanges reads every message of room in its current state through s,
// in rev order, with join since_rev=0 and then the last rev of each page
// while the server has more; since (the room's last seq) keeps the
// messages of the replies out of it.
func (r *rig) readChanges(ctx context.Context, s *server, room string, since int64) ([]chattest.Message, error) {
	var c *wsConn
	err := r.asUser(ctx, s, r.readerOf(room), func(token string) (err error) {
		c, err = dialWS(ctx, s.base, token, func(*wsConn, chattest.Frame, map[string]any) {})
		return err
	})
	if err != nil {
		return nil, err
	}
	defer c.close()
	var all []chattest.Message
	var after int64
	for {
		f, err := c.do(map[string]any{"type": "join", "room": room, "since": since, "since_rev": after})
		if err != nil {
			return nil, err
		}
		var d struct {
			Changes     []chattest.Message `json:"changes"`
			ChangesMore bool               `json:"changes_more"`
		}
		if !f.OK || json.Unmarshal(f.Data, &d) != nil {
			return nil, fmt.Errorf("join since rev %d: %s", after, f.Raw)
		}
		all = append(all, d.Changes...)
		if !d.ChangesMore {
			return all, nil
		}
		if len(d.Changes) == 0 {
			return nil, fmt.Errorf("join since rev %d: more changes, and none in the reply", after)
		}
		after = d.Changes[len(d.Changes)-1].Rev
	}
}
