package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	insertRoomSQL   = `INSERT INTO rooms (id, kind) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`
	insertMemberSQL = `INSERT INTO room_members (user_id, room) VALUES (?, ?) ON CONFLICT DO NOTHING`
	setRoomTipSQL   = `UPDATE rooms SET last_seq = ?, last_ts = ?, rev = ? WHERE id = ?`
	setRoomRevSQL   = `UPDATE rooms SET rev = ? WHERE id = ?`
	lastPosSQL      = `SELECT (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room = ?1),
		(SELECT COALESCE(MAX(rev), 0) FROM messages WHERE room = ?1)`
	roomRevSQL   = `SELECT COALESCE((SELECT rev FROM rooms WHERE id = ?), 0)`
	insertMsgSQL = `INSERT INTO messages (room, seq, rev, id, from_user, text, ts, cid, reply_to, mentions)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, from_user, cid) DO NOTHING`
	messageCols = `id, room, seq, from_user, text, ts, cid, rev, reply_to, mentions, edited_ts, deleted, reactions`
	messageSQL  = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND seq = ?`
	findMsgSQL  = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND from_user = ? AND cid = ?`
	afterSQL    = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?`
	beforeSQL   = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`
	changesSQL  = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND rev > ? ORDER BY rev LIMIT ?`
)

// EnsureRoom records a room (public, DM or group) so that Rooms lists it
// before its first message.
func (db *DB) EnsureRoom(ctx context.Context, id string) error {
	if _, ok := db.rooms.Load(id); ok {
		return nil
	}
	room, err := chatserver.ParseRoom(id)
	if err != nil {
		return err
	}
	if err := db.submit(ctx, func(w *writer) error { return w.ensureRoom(room) }); err != nil {
		return err
	}
	db.rooms.Store(id, struct{}{})
	return nil
}

// Append stores m as the next message of its room, or returns the message the
// room already holds from m.From with m.CID. The seq and rev come from the
// writer's cache of each room's last ones, so no query runs for them on the
// hot path.
func (db *DB) Append(ctx context.Context, m chatserver.Message) (chatserver.Message, bool, error) {
	return db.AppendRecord(ctx, m, nil)()
}

// AppendRecord queues the append of m and the activity event that event makes
// of the stored message, in the same durable write (one commit per send, not
// two), and returns at once; wait returns the outcome once it is durable.
// Appends queued one after the other by one goroutine are stored in that
// order, so a connection can pipeline its sends and keep their order.
func (db *DB) AppendRecord(ctx context.Context, m chatserver.Message, event func(chatserver.Message) chatserver.ActivityEvent) (wait func() (chatserver.Message, bool, error)) {
	room, err := chatserver.ParseRoom(m.Room)
	if err != nil {
		return func() (chatserver.Message, bool, error) { return chatserver.Message{}, false, err }
	}
	// What a later read returns: only the fields a new message has.
	m = chatserver.Message{ID: m.ID, Room: m.Room, From: m.From, Text: m.Text, TS: fromNanos(nanos(m.TS)), CID: m.CID,
		ReplyTo: m.ReplyTo, Mentions: sortedSet(m.Mentions)}
	ts, mentions := nanos(m.TS), strings.Join(m.Mentions, " ")
	var stored chatserver.Message // the writer's; the caller reads it only after done
	var created bool
	op, err := db.enqueue(ctx, func(w *writer) error {
		t, err := w.tip(room)
		if err != nil {
			return err
		}
		created, err = w.execAffected(insertMsgSQL, m.Room, t.seq+1, t.rev+1, m.ID, m.From, m.Text, ts, m.CID, m.ReplyTo, mentions)
		if err != nil {
			return err
		}
		if created {
			t.seq, t.rev, t.ts, t.appended = t.seq+1, t.rev+1, ts, true
			stored = m
			stored.Seq, stored.Rev = t.seq, t.rev
			err = w.indexMentions(insertMentionSQL, stored)
		} else {
			stored, err = scanMessage(w.queryRow(findMsgSQL, m.Room, m.From, m.CID))
		}
		if err != nil || event == nil {
			return err
		}
		return w.record(event(stored))
	})
	return func() (chatserver.Message, bool, error) {
		if err == nil {
			err = db.wait(ctx, op)
		}
		if err != nil {
			return chatserver.Message{}, false, err
		}
		return stored, created, nil
	}
}

// Message returns the message of room with seq in its current state, or
// ENotFound.
func (db *DB) Message(ctx context.Context, room string, seq int64) (chatserver.Message, error) {
	m, err := scanMessage(db.read.QueryRowContext(ctx, messageSQL, room, seq))
	switch {
	case isNoRows(err):
		return chatserver.Message{}, errNoMessage(room, seq)
	case err != nil:
		return chatserver.Message{}, db.fail(ctx, err)
	}
	return m, nil
}

func errNoMessage(room string, seq int64) error {
	return chatserver.Errorf(chatserver.ENotFound, "no message %d in room %q", seq, room)
}

// After returns at most limit messages with seq > after, oldest first;
// HasMore reports newer ones beyond them.
func (db *DB) After(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	return db.page(ctx, afterSQL, room, after, limit)
}

// Before returns the newest limit messages with seq < before (every seq when
// before <= 0), oldest first; HasMore reports older ones.
func (db *DB) Before(ctx context.Context, room string, before int64, limit int) (chatserver.Page, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	p, err := db.page(ctx, beforeSQL, room, before, limit)
	slices.Reverse(p.Messages)
	return p, err
}

// Changes returns at most limit messages whose rev is above after, in their
// current state and in rev order; HasMore reports more beyond them.
func (db *DB) Changes(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	return db.page(ctx, changesSQL, room, after, limit)
}

// page runs query, with room, from and limit+1 (the extra row only tells
// HasMore), in a read transaction that first reads the room's rev.
func (db *DB) page(ctx context.Context, query, room string, from int64, limit int) (chatserver.Page, error) {
	if limit <= 0 {
		return chatserver.Page{}, chatserver.Errorf(chatserver.EBadRequest, "invalid limit %d", limit)
	}
	p := chatserver.Page{Messages: make([]chatserver.Message, 0, min(limit+1, chatserver.MaxSincePage+1))}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, roomRevSQL, room).Scan(&p.Rev); err != nil {
			return err
		}
		return eachRow(ctx, tx, query, []any{room, from, limit + 1}, func(r rowScanner) error {
			m, err := scanMessage(r)
			p.Messages = append(p.Messages, m)
			return err
		})
	})
	if err != nil {
		return chatserver.Page{}, err
	}
	if p.HasMore = len(p.Messages) > limit; p.HasMore {
		p.Messages = p.Messages[:limit]
	}
	return p, nil
}

// scanMessage reads a row of messageCols.
func scanMessage(r rowScanner) (chatserver.Message, error) {
	var m chatserver.Message
	var ts, edited int64
	var mentions, reactions string
	if err := r.Scan(&m.ID, &m.Room, &m.Seq, &m.From, &m.Text, &ts, &m.CID,
		&m.Rev, &m.ReplyTo, &mentions, &edited, &m.Deleted, &reactions); err != nil {
		return chatserver.Message{}, err
	}
	m.TS, m.EditedTS = fromNanos(ts), fromNanos(edited)
	if mentions != "" {
		m.Mentions = strings.Split(mentions, " ")
	}
	if reactions != "" {
		if err := json.Unmarshal([]byte(reactions), &m.Reactions); err != nil {
			return chatserver.Message{}, err
		}
	}
	return m, nil
}

// isNoRows reports a query that found nothing.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
