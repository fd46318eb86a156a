package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	insertRoomSQL = `INSERT INTO rooms (id, kind, member_a, member_b) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`
	setRoomTipSQL = `UPDATE rooms SET last_seq = ?, last_ts = ? WHERE id = ?`
	lastSeqSQL    = `SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room = ?`
	insertMsgSQL  = `INSERT INTO messages (room, seq, id, from_user, text, ts, cid) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, from_user, cid) DO NOTHING`
	messageCols = `id, room, seq, from_user, text, ts, cid`
	findMsgSQL  = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND from_user = ? AND cid = ?`
	afterSQL    = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?`
	beforeSQL   = `SELECT ` + messageCols + ` FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`
	roomsSQL    = `SELECT id, kind, last_seq, last_ts FROM rooms
		WHERE kind = 'public' OR member_a = ?1 OR member_b = ?1 ORDER BY id`
)

// EnsureRoom records a room (public, or a DM) so that Rooms lists it before
// its first message.
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
// room already holds from m.From with m.CID. The seq comes from the writer's
// cache of each room's last seq, so no query runs for it on the hot path.
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
	ts := nanos(m.TS)
	m.TS = fromNanos(ts) // what a later read returns
	var created bool
	op, err := db.enqueue(ctx, func(w *writer) error {
		t, err := w.tip(room)
		if err != nil {
			return err
		}
		created, err = w.execAffected(insertMsgSQL, m.Room, t.seq+1, m.ID, m.From, m.Text, ts, m.CID)
		if err != nil {
			return err
		}
		if !created {
			// Assigning to m is safe: the caller reads it only after done.
			if m, err = scanMessage(w.queryRow(findMsgSQL, m.Room, m.From, m.CID)); err != nil {
				return err
			}
		} else {
			t.seq, t.ts, t.moved = t.seq+1, ts, true
			m.Seq = t.seq
		}
		if event == nil {
			return nil
		}
		return w.record(event(m))
	})
	return func() (chatserver.Message, bool, error) {
		if err == nil {
			err = db.wait(ctx, op)
		}
		if err != nil {
			return chatserver.Message{}, false, err
		}
		return m, created, nil
	}
}

// After returns at most limit messages with seq > after, oldest first;
// HasMore reports newer ones beyond them.
func (db *DB) After(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	if limit <= 0 {
		return chatserver.Page{}, chatserver.Errorf(chatserver.EBadRequest, "invalid limit %d", limit)
	}
	return db.page(ctx, afterSQL, room, after, limit)
}

// Before returns the newest limit messages with seq < before (every seq when
// before <= 0), oldest first; HasMore reports older ones.
func (db *DB) Before(ctx context.Context, room string, before int64, limit int) (chatserver.Page, error) {
	if limit <= 0 {
		return chatserver.Page{}, chatserver.Errorf(chatserver.EBadRequest, "invalid limit %d", limit)
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	p, err := db.page(ctx, beforeSQL, room, before, limit)
	slices.Reverse(p.Messages)
	return p, err
}

// page runs query for limit+1 rows: the extra one only tells HasMore.
func (db *DB) page(ctx context.Context, query, room string, seq int64, limit int) (chatserver.Page, error) {
	msgs := make([]chatserver.Message, 0, min(limit+1, chatserver.MaxSincePage+1))
	err := eachRow(ctx, db.read, query, []any{room, seq, limit + 1}, func(r rowScanner) error {
		m, err := scanMessage(r)
		msgs = append(msgs, m)
		return err
	})
	if err != nil {
		return chatserver.Page{}, db.fail(ctx, err)
	}
	p := chatserver.Page{Messages: msgs, HasMore: len(msgs) > limit}
	if p.HasMore {
		p.Messages = msgs[:limit]
	}
	return p, nil
}

func scanMessage(r rowScanner) (chatserver.Message, error) {
	var m chatserver.Message
	var ts int64
	if err := r.Scan(&m.ID, &m.Room, &m.Seq, &m.From, &m.Text, &ts, &m.CID); err != nil {
		return chatserver.Message{}, err
	}
	m.TS = fromNanos(ts)
	return m, nil
}

// Rooms lists every public room and the DM rooms of user, sorted by id.
func (db *DB) Rooms(ctx context.Context, user string) ([]chatserver.RoomInfo, error) {
	rooms := []chatserver.RoomInfo{}
	err := eachRow(ctx, db.read, roomsSQL, []any{user}, func(r rowScanner) error {
		var ri chatserver.RoomInfo
		var ts int64
		err := r.Scan(&ri.ID, &ri.Kind, &ri.LastSeq, &ts)
		ri.LastTS = fromNanos(ts)
		rooms = append(rooms, ri)
		return err
	})
	if err != nil {
		return nil, db.fail(ctx, err)
	}
	return rooms, nil
}

// isNoRows reports a query that found nothing.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
