package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	// markReadSQL returns a row only when the position moved.
	markReadSQL = `INSERT INTO reads (user_id, room, seq) VALUES (?, ?, ?)
		ON CONFLICT (user_id, room) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > reads.seq
		RETURNING seq`
	readSeqSQL = `SELECT seq FROM reads WHERE user_id = ? AND room = ?`
	// roomsSQL lists the rooms of ?1 with its read position and counts. The
	// messages after the read position are the seqs up to last_seq (they
	// have no gaps), less the deleted ones and the user's own: those two are
	// counted on partial indexes (messages_deleted, messages_own), so the
	// cost grows with them, not with the unread messages.
	roomsSQL = `
WITH listed AS (
	SELECT id, kind, last_seq, last_ts, rev FROM rooms WHERE kind = 'public'
	UNION ALL
	SELECT r.id, r.kind, r.last_seq, r.last_ts, r.rev
	FROM room_members m JOIN rooms r ON r.id = m.room WHERE m.user_id = ?1
), positioned AS (
	SELECT l.*, COALESCE(rd.seq, 0) AS read_seq
	FROM listed l LEFT JOIN reads rd ON rd.user_id = ?1 AND rd.room = l.id
)
SELECT id, kind, last_seq, last_ts, rev, read_seq,
	last_seq - read_seq
	- (SELECT COUNT(*) FROM messages m WHERE m.room = p.id AND m.deleted = 1 AND m.seq > p.read_seq)
	- (SELECT COUNT(*) FROM messages m WHERE m.from_user = ?1 AND m.room = p.id AND m.deleted = 0 AND m.seq > p.read_seq),
	(SELECT COUNT(*) FROM mentions mn WHERE mn.user_id = ?1 AND mn.room = p.id AND mn.seq > p.read_seq)
FROM positioned p ORDER BY id`
)

// MarkRead moves user's read position in room to seq unless it is already
// there or further, and returns the position. seq must be a message of the
// room: below 1 or past its last one is EBadRequest.
func (db *DB) MarkRead(ctx context.Context, user, room string, seq int64) (int64, bool, error) {
	if _, err := chatserver.ParseRoom(room); err != nil {
		return 0, false, err
	}
	if seq <= 0 {
		return 0, false, chatserver.Errorf(chatserver.EBadRequest, "invalid seq %d", seq)
	}
	var pos int64
	moved := true
	err := db.submit(ctx, func(w *writer) error {
		last, err := w.lastSeq(room)
		switch {
		case err != nil:
			return err
		case seq > last:
			return chatserver.Errorf(chatserver.EBadRequest, "seq %d is past the last message of room %q (%d)", seq, room, last)
		}
		err = w.queryRow(markReadSQL, user, room, seq).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			moved = false // already there or further
			err = w.queryRow(readSeqSQL, user, room).Scan(&pos)
		}
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return pos, moved, nil
}

// Rooms lists every public room and the DM and group rooms of user, sorted
// by id, with user's read position, unread and mention counts.
func (db *DB) Rooms(ctx context.Context, user string) ([]chatserver.RoomInfo, error) {
	rooms := []chatserver.RoomInfo{}
	err := eachRow(ctx, db.read, roomsSQL, []any{user}, func(r rowScanner) error {
		var ri chatserver.RoomInfo
		var ts int64
		if err := r.Scan(&ri.ID, &ri.Kind, &ri.LastSeq, &ts, &ri.Rev, &ri.ReadSeq, &ri.Unread, &ri.Mentions); err != nil {
			return err
		}
		ri.LastTS = fromNanos(ts)
		if ri.Kind != chatserver.RoomKindPublic {
			parsed, err := chatserver.ParseRoom(ri.ID)
			if err != nil {
				return err
			}
			ri.Members = parsed.Members
		}
		rooms = append(rooms, ri)
		return nil
	})
	if err == nil {
		err = db.othersReads(ctx, user, rooms)
	}
	if err != nil {
		return nil, db.fail(ctx, err)
	}
	return rooms, nil
}

// othersReads sets the read positions of the other members of each DM and
// group room of rooms: one lookup by primary key per member.
func (db *DB) othersReads(ctx context.Context, user string, rooms []chatserver.RoomInfo) error {
	for i := range rooms {
		r := &rooms[i]
		for _, m := range r.Members {
			if m == user {
				continue
			}
			var seq int64
			err := db.read.QueryRowContext(ctx, readSeqSQL, m, r.ID).Scan(&seq)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				continue // never read
			case err != nil:
				return err
			}
			if r.Reads == nil {
				r.Reads = map[string]int64{}
			}
			r.Reads[m] = seq
		}
	}
	return nil
}
