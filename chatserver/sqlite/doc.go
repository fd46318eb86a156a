// Package sqlite is the embedded default backend of the chat server: users,
// sessions, rooms, messages and the activity log in one SQLite file
// (dir/chat.db), through modernc.org/sqlite (pure Go, no cgo). *DB implements
// chatserver.UserStore, SessionStore, MessageStore, ActivityLog,
// ActivityIndex and Checker.
//
// # Writes: group commit
//
// Every write (Append, Record, EnsureRoom, account and session writes) is
// queued for one writer goroutine, which takes whatever is waiting (up to
// 1024 writes) and commits it in one transaction; each caller returns when
// its batch is durable, with its own outcome (a duplicate append, a taken
// user id). A write that breaks a batch with a driver error makes the writer
// retry that batch one write per transaction, so only the culprit fails.
//
// The writer keeps each room's last seq in memory, so Append costs one
// INSERT; the (room, seq) primary key and the (room, from, cid) unique key
// keep the seqs gap-free and sends idempotent even if the cache were wrong.
// The cache belongs to this process: one process owns the file.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: a batch is fsynced
// before any of its callers is answered, so an acknowledged write survives a
// process crash and a power loss. Group commit spreads the fsync over the
// whole batch, which makes FULL cost little more than NORMAL under load (see
// the benchmarks).
//
// # Reads
//
// Reads go through a separate pool of read-only connections; WAL lets them
// run alongside the writer, each seeing the last committed batch.
//
// # Activity search
//
// Search matches free text with FTS5 (compiled into modernc.org/sqlite) over
// the user, room, type and message id of each event: every word of the text
// must start a token of one of them (so "ali" finds alice, and "message.sent"
// the phrase message sent). Stats groups in SQL.
//
// # Lifecycle and concurrency
//
// Open starts the writer goroutine; Close finishes the writes already
// queued, stops the writer, waits for it and closes the file. Close is safe
// to call twice. Every method is safe for concurrent use; after Close they
// return EUnavailable.
package sqlite
