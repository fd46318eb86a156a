-- The schema of a database made by schema version 3 (before revisions,
-- mentions, reactions, read positions and group rooms), as SQLite keeps it.
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
CREATE INDEX activity_ts ON activity (ts, type, user_id);
CREATE INDEX activity_type ON activity (type, ts, room_id);
CREATE VIRTUAL TABLE activity_fts USING fts5 (
	user_id, room_id, type, message_id,
	content = 'activity', content_rowid = 'n', columnsize = 0
);
CREATE INDEX rooms_kind ON rooms (kind);
CREATE INDEX sessions_expires ON sessions (expires) WHERE expires > 0;
PRAGMA user_version = 3;
