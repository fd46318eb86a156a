// Package sqlite is the embedded default backend of the chat server: users,
// sessions, rooms, messages and the activity log in one SQLite file
// (dir/chat.db), through modernc.org/sqlite (pure Go, no cgo). *DB implements
// chatserver.UserStore, SessionStore, MessageStore, MessageRecorder,
// MessageSearcher, ActivityLog, ActivityIndex and Checker.
//
// # Writes: group commit
//
// Every write (Append, Update, MarkRead, Record, EnsureRoom, account and
// session writes) is queued for one writer goroutine. The writer applies each write as it
// arrives in the transaction it keeps open, and commits that transaction as
// soon as the previous one is on disk (or 1024 writes wait in it); a second
// goroutine, the syncer, fsyncs the WAL and only then answers the callers of
// the batches it covered. So the batch grows with the fsync latency and the
// load, one fsync covers every write of a batch, and the writer applies the
// next batch while the disk syncs the last one. Each caller still gets its
// own outcome (a duplicate append, a taken user id). A write that fails with
// a driver error makes the writer roll back its batch and run each of that
// batch's writes in a transaction of its own, so only the culprit fails.
//
// # Disk full
//
// A write that finds the data directory's filesystem full (SQLITE_FULL,
// ENOSPC) is rolled back, so nothing half-written stays, and fails with
// EUnavailable, as does every write after it, at once, without queuing;
// Check fails meanwhile, naming the directory. A goroutine probes the
// directory every second by writing 1 MiB to a file of its own, and once
// that succeeds writes are taken again, without a restart (space.go). Open
// refuses a directory it cannot write, saying which and why.
//
// Checkpoints (copying the WAL back into the database file) do not run in
// the writer's COMMITs, as SQLite's automatic ones would: a third goroutine
// runs them on a connection of its own while the writer goes on, and the
// writer catches up itself only once per 16,384 WAL pages, so that the WAL
// can start over from its beginning and stays bounded. When a checkpoint
// has copied the whole WAL and no write waits, the writer starts the WAL
// over at once, in a transaction that changes nothing, so that the commit
// of the next write does not pay for that (checkpoint.go).
//
// The writer keeps each room's last seq and rev in memory, so an Append
// costs one INSERT; the (room, seq) primary key, the (room, rev) and (room,
// from, cid) unique keys keep seqs and revs gap-free and sends idempotent
// even if the cache were wrong (the writer forgets it after any failed
// transaction). The activity rows of a batch enter the FTS5 index in one
// statement at its end, since FTS5 writes a segment per statement; so do
// the new messages of each room, when the writer sets the room's tip
// (Message search, below).
//
// One process owns the file: a second one would not corrupt it (the keys
// hold) but would make the first one's batches fail and retry.
//
// # Changes and read positions
//
// Update (and UpdateRecord) runs its chatserver.Change on the writer
// goroutine, between reading the message and saving it in the open
// transaction, so no other write comes between the two: the Change is
// called once (again only if its batch is retried), and must not wait for
// the DB itself, whose writer is running it. A Change that refuses or
// changes nothing stores nothing and takes no rev; its error reaches the
// caller as it is and leaves the rest of its batch alone.
//
// Rooms counts without reading the unread messages: they are the seqs after
// the read position (seqs have no gaps) less the deleted ones and the
// reader's own, which two partial indexes count; mentions are counted on a
// table of their own, by user. For a user in 1,000 rooms of 100 messages,
// half of them unread, Rooms takes about 6 ms here (BenchmarkRooms_Unread).
// The price is two more index entries per Append: about 5 µs more of the
// writer's CPU time (16 µs instead of 11 here).
//
// A deleted message keeps no text, mentions or reactions (the store clears
// them whatever the Change returns). The writer's connection has
// secure_delete on, so SQLite zeroes what a delete or an edit frees in the
// database file, and journal_size_limit 0, so the WAL is cut back to its
// first transaction each time it starts over (after a checkpoint has copied
// all of it, see checkpoint.go): a former text stays in the WAL only until
// then.
//
// # Durability
//
// WAL mode and synchronous=NORMAL, plus the syncer's fsync of the WAL file
// before any write of a batch is acknowledged: an acknowledged write is on
// disk and survives a process crash and a power loss, as with
// synchronous=FULL. NORMAL only spares SQLite's own fsync inside COMMIT,
// which would hold the writer for the whole fsync: with FULL, the same
// benchmarks stored about 40% fewer activity events and 10-15% fewer sends
// (Append + Record) a second. The price: other connections may read a batch
// during its fsync, before its writers are answered, so a power loss at that
// moment can take back a message someone has read (never one that was
// acknowledged). After a failed fsync no write is acknowledged any more and
// Check fails: the kernel may have dropped what it could not write.
//
// The syncer relies on what SQLite documents of WAL mode: the WAL is the
// database file's name plus "-wal", and it stays the same file while a
// connection has the database open (the writer's does, until the syncer is
// done).
//
// # Reads
//
// Reads go through a separate pool of read-only connections; WAL lets them
// run alongside the writer, each seeing the last committed batch.
//
// # Activity search and stats
//
// Search matches free text with FTS5 (compiled into modernc.org/sqlite) over
// the user, room, type and message id of each event: every word of the text
// must start a token of one of them (so "ali" finds alice, and "message.sent"
// the phrase message sent). The user and room filters are exact (found
// through the FTS index, then compared); the window is [From, To); Size is
// 50 by default and at most 1000. Stats counts with GROUP BY over the covering
// indexes; it reads every event of the window, about 2 µs each here, so an
// hour at 10,000 events a second would take a minute: long windows at that
// rate want a rollup table.
//
// # Message search
//
// SearchMessages matches words with FTS5 too, over messages_fts: an index
// of the text of every message not deleted, keyed by the rowid of its row
// in messages (external content, so the text is stored once). Triggers
// keep it in step in the transaction of every write, whatever code path
// writes. FTS5 writes a segment of its index at each statement that
// follows one that changed it, so new messages do not enter it one by one:
// a trigger on rooms indexes a room's new messages when the writer moves
// its last_seq past them at the end of the batch, one statement per room
// and batch. An edit or a delete of a message indexed before first gives
// the index the old text to forget ('delete'); one of a message of the same
// batch, not yet indexed, need not. The index's secure-delete option
// removes forgotten words from its pages, as secure_delete does for rows.
// The tokenizer is unicode61 with diacritics kept and the token characters
// of chatserver.SearchWords (letters, decimal digits, marks), so each query
// word, quoted as an FTS5 string (never syntax) with a * for prefix, is
// one token. The index costs the writer about a quarter of its append rate
// (BenchmarkAppend_Parallel, 16 rooms: 25,000-26,000 appends a second
// here instead of 31,000-36,000; BenchmarkSend_Parallel 17,000-18,000
// instead of 19,500-20,500).
//
// The match drives each search, with a rowid lookup into messages per
// match for the room, sender and time filters (private rooms by
// room_members, as Rooms lists them). Counting every match is the cost,
// about 1 µs a match here: the page is found without sorting the matches.
// The index gives them newest rowid first, and rows are stored about in ts
// order, so the ts of the Limit-th match in that order is a floor that
// every message of the page reaches (Limit matches do) and few others do:
// the count collects the rowids at or above it, and only those are sorted
// and read in whole. With 1,000,000 messages in 1,000 rooms, a word in 10%
// of them takes about 0.15 s, a rare one a few milliseconds (docs/bench.md).
//
// The FTS rowids are those of messages, which has no INTEGER PRIMARY KEY:
// a VACUUM may renumber its rows, so after one (the store never runs it)
// the index must be rebuilt: INSERT INTO messages_fts (messages_fts)
// VALUES ('rebuild').
//
// # Lifecycle and concurrency
//
// Open starts the writer goroutine (which starts the syncer), the
// checkpointer and the space guard; Close finishes the writes already
// queued, stops all four, waits for them and closes the file.
// Close is safe to call twice. Every method is safe for concurrent use; after
// Close they return EUnavailable.
package sqlite
