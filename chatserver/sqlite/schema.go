package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations brings the schema from version i (PRAGMA user_version) to i+1.
// Append new steps; never edit one that has shipped.
//
// Times are stored as Unix nanoseconds, 0 standing for the zero time.
var migrations = []string{
	// 1: users, sessions, rooms, messages, the activity log and its FTS5 index.
	`
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	password_hash BLOB,
	created       INTEGER NOT NULL,
	last_seen     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL
) WITHOUT ROWID;

-- last_seq and last_ts are kept by the writer, once per batch and room, so
-- that listing rooms never scans messages.
CREATE TABLE rooms (
	id       TEXT PRIMARY KEY,
	kind     TEXT NOT NULL,
	member_a TEXT,
	member_b TEXT,
	last_seq INTEGER NOT NULL DEFAULT 0,
	last_ts  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX rooms_member_a ON rooms (member_a) WHERE member_a IS NOT NULL;
CREATE INDEX rooms_member_b ON rooms (member_b) WHERE member_b IS NOT NULL;

CREATE TABLE messages (
	room      TEXT NOT NULL REFERENCES rooms (id),
	seq       INTEGER NOT NULL,
	id        TEXT NOT NULL,
	from_user TEXT NOT NULL,
	text      TEXT NOT NULL,
	ts        INTEGER NOT NULL,
	cid       TEXT NOT NULL,
	PRIMARY KEY (room, seq),
	UNIQUE (room, from_user, cid)
);

CREATE TABLE activity (
	n          INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	type       TEXT NOT NULL,
	ts         INTEGER NOT NULL,
	user_id    TEXT NOT NULL,
	room_id    TEXT NOT NULL,
	message_id TEXT NOT NULL
);
-- Covering indexes for the stats queries: buckets and active users by ts,
-- top rooms by type. Search finds users and rooms through activity_fts,
-- which spares two indexes (with random inserts) on the hot path.
CREATE INDEX activity_ts ON activity (ts, type, user_id);
CREATE INDEX activity_type ON activity (type, ts, room_id);

-- Filled by the writer once per transaction, with the rows it added to
-- activity: FTS5 writes a segment per statement, so a trigger (one
-- statement per event) would cost many times more.
CREATE VIRTUAL TABLE activity_fts USING fts5 (
	user_id, room_id, type, message_id,
	content = 'activity', content_rowid = 'n', columnsize = 0
);
`,
	// 2: Rooms lists public rooms by index. Also brings databases made by
	// early development builds of step 1 (an FTS trigger, two more activity
	// indexes) to the same schema, and their FTS index back in step.
	`
CREATE INDEX IF NOT EXISTS rooms_kind ON rooms (kind);
DROP TRIGGER IF EXISTS activity_fts_insert;
DROP INDEX IF EXISTS activity_user;
DROP INDEX IF EXISTS activity_room;
INSERT INTO activity_fts (activity_fts) VALUES ('rebuild');
`,
	// 3: expired sessions are deleted at each sign-in, found by this index.
	`
CREATE INDEX sessions_expires ON sessions (expires) WHERE expires > 0;
`,
	// 4: revisions, replies, mentions, edits, deletes, reactions, read
	// positions and group rooms. The messages stored before get rev = seq,
	// and each room the rev of its last message.
	`
ALTER TABLE rooms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET rev = last_seq;

-- The members of DM and group rooms, by user: the private rooms Rooms lists.
CREATE TABLE room_members (
	user_id TEXT NOT NULL,
	room    TEXT NOT NULL REFERENCES rooms (id),
	PRIMARY KEY (user_id, room)
) WITHOUT ROWID;
INSERT INTO room_members (user_id, room)
	SELECT member_a, id FROM rooms WHERE member_a IS NOT NULL
	UNION ALL
	SELECT member_b, id FROM rooms WHERE member_b IS NOT NULL;
DROP INDEX rooms_member_a;
DROP INDEX rooms_member_b;
ALTER TABLE rooms DROP COLUMN member_a;
ALTER TABLE rooms DROP COLUMN member_b;

-- mentions: the ids, space-separated; reactions: JSON, in the order of
-- first use; both '' when empty. A deleted message keeps no text, mentions
-- or reactions (and secure_delete zeroes what they leave behind).
ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN edited_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reactions TEXT NOT NULL DEFAULT '';
UPDATE messages SET rev = seq;
CREATE UNIQUE INDEX messages_rev ON messages (room, rev);
-- Unread counts without scanning the unread messages: a room's unread
-- messages are its seqs after the read position, less the deleted ones and
-- the reader's own, counted on these two indexes.
CREATE INDEX messages_own ON messages (from_user, room, seq) WHERE deleted = 0;
CREATE INDEX messages_deleted ON messages (room, seq) WHERE deleted = 1;

-- A row for every user that a message not deleted mentions, its author
-- aside: the mention counts of Rooms.
CREATE TABLE mentions (
	user_id TEXT NOT NULL,
	room    TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (user_id, room, seq)
) WITHOUT ROWID;

-- Read positions: the seq up to which user_id has read room.
CREATE TABLE reads (
	user_id TEXT NOT NULL,
	room    TEXT NOT NULL REFERENCES rooms (id),
	seq     INTEGER NOT NULL,
	PRIMARY KEY (user_id, room)
) WITHOUT ROWID;
`,
	// 5: message search. messages_fts indexes the text of each message not
	// deleted under the rowid of its row in messages (external content: the
	// text stays in messages only), kept in step by triggers in the
	// transaction of every write. FTS5 writes a segment at each statement
	// after one that changed it, so new messages enter it once per room and
	// transaction, when the writer moves the room's last_seq past them, not
	// one by one. An edit or a delete of a message already indexed (seq up
	// to last_seq) gives it the old text to forget ('delete'), and
	// secure-delete removes those words from its pages. The token characters
	// are those of chatserver.SearchWords (letters, decimal digits and
	// marks; diacritics kept), so that a query word is one token.
	`
CREATE VIRTUAL TABLE messages_fts USING fts5 (
	text,
	content = 'messages', content_rowid = 'rowid', columnsize = 0,
	tokenize = 'unicode61 remove_diacritics 0 categories ''L* Nd M*'''
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (rowid, text) SELECT rowid, text FROM messages WHERE deleted = 0;

CREATE TRIGGER messages_fts_append AFTER UPDATE OF last_seq ON rooms
WHEN new.last_seq > old.last_seq BEGIN
	INSERT INTO messages_fts (rowid, text) SELECT rowid, text FROM messages
		WHERE room = new.id AND seq > old.last_seq AND seq <= new.last_seq AND deleted = 0;
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages
WHEN (old.text IS NOT new.text OR old.deleted IS NOT new.deleted)
	AND old.seq <= (SELECT last_seq FROM rooms WHERE id = old.room) BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, text) SELECT 'delete', old.rowid, old.text WHERE old.deleted = 0;
	INSERT INTO messages_fts (rowid, text) SELECT new.rowid, new.text WHERE new.deleted = 0;
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.deleted = 0 AND old.seq <= (SELECT last_seq FROM rooms WHERE id = old.room) BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
`,
}

// migrate applies the migrations the database has not seen yet, each in its
// own transaction together with the user_version it reaches.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}
