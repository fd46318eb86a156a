package sqlite

import (
	"context"
	"slices"
	"strings"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	updateMsgSQL = `UPDATE messages SET rev = ?, text = ?, reply_to = ?, mentions = ?, edited_ts = ?, deleted = ?, reactions = ?
		WHERE room = ? AND seq = ?`
	insertMentionSQL = `INSERT INTO mentions (user_id, room, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
	deleteMentionSQL = `DELETE FROM mentions WHERE user_id = ? AND room = ? AND seq = ?`
)

// Update applies change to the message of room with seq in the writer's
// next batch, so that no other write comes between reading the message and
// saving it; see UpdateRecord.
func (db *DB) Update(ctx context.Context, room string, seq int64, change chatserver.Change) (chatserver.Message, bool, error) {
	return db.UpdateRecord(ctx, room, seq, change, nil)
}

// UpdateRecord applies change to the message of room with seq and, when it
// changed the message, stores the activity event that event makes of the
// result in the same durable write. change runs on the writer goroutine,
// with the message as the batch leaves it, so it must not use the DB (the
// writer would wait for itself); its error is returned as it is, and
// nothing is stored when it refuses or reports no change.
func (db *DB) UpdateRecord(ctx context.Context, room string, seq int64, change chatserver.Change, event func(chatserver.Message) chatserver.ActivityEvent) (chatserver.Message, bool, error) {
	r, err := chatserver.ParseRoom(room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	var res updated // the writer's; read only after the write is answered
	err = db.submit(ctx, func(w *writer) error {
		var err error
		if res, err = w.update(r, seq, change); err != nil || !res.changed || event == nil {
			return err
		}
		return w.record(event(res.stored))
	})
	if err == nil {
		err = res.refused
	}
	if err != nil {
		return chatserver.Message{}, false, err
	}
	return res.stored, res.changed, nil
}

// updated is what applying a Change came to.
type updated struct {
	stored  chatserver.Message // the message as it now is
	changed bool
	refused error // the Change's error
}

// update applies change to the message of room with seq in the open
// transaction, as the room's next change.
func (w *writer) update(room chatserver.Room, seq int64, change chatserver.Change) (updated, error) {
	cur, err := scanMessage(w.queryRow(messageSQL, room.ID, seq))
	switch {
	case isNoRows(err):
		return updated{}, errNoMessage(room.ID, seq)
	case err != nil:
		return updated{}, err
	}
	next, changed, err := change(cloneMessage(cur))
	switch {
	case err != nil:
		return updated{refused: err}, nil
	case !changed:
		return updated{stored: cur}, nil
	}
	t, err := w.tip(room)
	if err != nil {
		return updated{}, err
	}
	next = canonical(next)
	next.ID, next.Room, next.Seq, next.From, next.TS, next.CID = cur.ID, cur.Room, cur.Seq, cur.From, cur.TS, cur.CID
	next.Rev = t.rev + 1
	reactions, err := encodeReactions(next.Reactions)
	if err != nil {
		return updated{}, err
	}
	if _, err := w.exec(updateMsgSQL, next.Rev, next.Text, next.ReplyTo, strings.Join(next.Mentions, " "),
		nanos(next.EditedTS), next.Deleted, reactions, room.ID, seq); err != nil {
		return updated{}, err
	}
	if !slices.Equal(cur.Mentions, next.Mentions) {
		if err := w.indexMentions(deleteMentionSQL, cur); err != nil {
			return updated{}, err
		}
		if err := w.indexMentions(insertMentionSQL, next); err != nil {
			return updated{}, err
		}
	}
	t.rev, t.revised = next.Rev, true
	return updated{stored: next, changed: true}, nil
}

// indexMentions runs query (insertMentionSQL or deleteMentionSQL) for every
// user m mentions, its author aside.
func (w *writer) indexMentions(query string, m chatserver.Message) error {
	for _, user := range m.Mentions {
		if user == m.From {
			continue
		}
		if _, err := w.exec(query, user, m.Room, m.Seq); err != nil {
			return err
		}
	}
	return nil
}

// canonical is m as the store saves it and reads it back: times to the
// nanosecond in UTC; mentions and each reaction's users sorted and
// distinct; no reaction without users; a deleted message without text,
// mentions or reactions; empty lists nil.
func canonical(m chatserver.Message) chatserver.Message {
	m.TS, m.EditedTS = fromNanos(nanos(m.TS)), fromNanos(nanos(m.EditedTS))
	if m.Deleted {
		m.Text, m.Mentions, m.Reactions = "", nil, nil
	}
	m.Mentions = sortedSet(m.Mentions)
	var reactions []chatserver.Reaction
	for _, r := range m.Reactions {
		if users := sortedSet(r.Users); len(users) > 0 {
			reactions = append(reactions, chatserver.Reaction{Emoji: r.Emoji, Users: users})
		}
	}
	m.Reactions = reactions
	return m
}

// encodeReactions is the reactions column of rs: JSON, "" for none.
func encodeReactions(rs []chatserver.Reaction) (string, error) {
	if len(rs) == 0 {
		return "", nil
	}
	b, err := chatserver.MarshalJSON(rs)
	return string(b), err
}

// sortedSet returns the distinct strings of s, sorted, in a slice of its own;
// nil if there are none.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// cloneMessage returns m with lists of its own, for a Change to do with as it
// likes.
func cloneMessage(m chatserver.Message) chatserver.Message {
	m.Mentions = slices.Clone(m.Mentions)
	m.Reactions = slices.Clone(m.Reactions)
	for i, r := range m.Reactions {
		m.Reactions[i].Users = slices.Clone(r.Users)
	}
	return m
}
