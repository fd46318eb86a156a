package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"

	// Registers the "sqlite" database/sql driver: pure Go, FTS5 compiled in.
	_ "modernc.org/sqlite"
)

// FileName is the name of the database file inside the data directory.
const FileName = "chat.db"

// synchronous is the PRAGMA synchronous of the writer connection: NORMAL,
// because the syncer fsyncs the WAL before any write is acknowledged (see
// syncer.go and the package documentation).
const synchronous = "NORMAL"

const (
	busyTimeout = 5 * time.Second
	queueLen    = 4096 // writes waiting for the writer before callers block
	maxBatch    = 1024 // writes committed in one transaction at most
)

// Compile-time checks that *DB is every backend it claims to be.
var (
	_ chatserver.UserStore       = (*DB)(nil)
	_ chatserver.SessionStore    = (*DB)(nil)
	_ chatserver.MessageStore    = (*DB)(nil)
	_ chatserver.MessageRecorder = (*DB)(nil)
	_ chatserver.ActivityLog     = (*DB)(nil)
	_ chatserver.ActivityIndex   = (*DB)(nil)
	_ chatserver.Checker         = (*DB)(nil)
)

// DB is the embedded store: one SQLite file, written by one goroutine in
// group-committed batches and read through a pool of read-only connections.
// It is safe for concurrent use.
type DB struct {
	path  string
	read  *sql.DB // read-only pool; WAL lets it read while the writer writes
	write *sql.DB // one connection, used only by the writer goroutine

	writer     *writer // the writer goroutine's; others read it only once stopped is closed
	ckpt       *checkpointer
	space      *spaceGuard
	background sync.WaitGroup // the checkpointer's and the space guard's goroutines
	ops        chan *writeOp
	quit       chan struct{} // closed by Close: the writer drains the queue and ends
	stopped    chan struct{} // closed by the writer goroutine as it ends

	rooms sync.Map // room id -> struct{}: rooms known to have their row

	writerErr error // set by the writer goroutine before it closes stopped
	closeOnce sync.Once
	closeErr  error
}

// Option changes how Open opens the database.
type Option func(*options)

type options struct {
	noFsync       bool
	log           *slog.Logger
	checkpointGap time.Duration
	restartFrames int
	spaceProbeGap time.Duration
}

// WithLogger logs what goes wrong in the background (checkpoints, a full
// disk) to log; the default is slog.Default().
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// withCheckpoints changes the checkpointer's timing, for the tests.
func withCheckpoints(gap time.Duration, frames int) Option {
	return func(o *options) { o.checkpointGap, o.restartFrames = gap, frames }
}

// withSpaceProbe changes how often the space guard probes a full disk, for
// the tests.
func withSpaceProbe(gap time.Duration) Option {
	return func(o *options) { o.spaceProbeGap = gap }
}

// WithoutFsync acknowledges writes once SQLite has written them to the WAL,
// without waiting for the disk: they survive a crash or restart of the
// process, as the chat contract asks, but not a power loss or kernel crash.
// It takes the fsync (milliseconds on most disks) out of every send's latency.
func WithoutFsync() Option { return func(o *options) { o.noFsync = true } }

// Open opens, or creates, dir/chat.db (creating dir too), brings its schema up
// to date and starts the writer goroutine. Close the DB to stop it. When dir
// cannot hold the database (not writable, full) the error says so and names
// it.
func Open(ctx context.Context, dir string, opts ...Option) (*DB, error) {
	o := options{log: slog.Default(), checkpointGap: checkpointGap, restartFrames: restartFrames, spaceProbeGap: spaceProbeGap}
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, wrapInternal(err)
	}
	path := filepath.Join(dir, FileName)
	if err := checkWritable(dir, path); err != nil {
		return nil, err
	}
	db := &DB{
		path:    path,
		space:   newSpaceGuard(dir, o),
		ops:     make(chan *writeOp, queueLen),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if db.write, err = sql.Open("sqlite", dsn(path,
		"journal_mode(WAL)", "foreign_keys(1)", "synchronous("+synchronous+")",
		// The unique keys (room, from, cid) and activity id take random
		// inserts: keep their pages cached rather than read them again.
		"cache_size(-65536)",
		// Checkpoints run off the writer goroutine (checkpoint.go).
		"wal_autocheckpoint(0)",
		// What a delete or an edit frees is zeroed, so that no former
		// text of a message stays in the file; and the WAL is cut back to
		// its first transaction each time it starts over, so that no
		// frame written before stays in it either.
		"secure_delete(1)", "journal_size_limit(0)")); err != nil {
		return nil, wrapInternal(err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, db.write); err != nil {
		_ = db.write.Close()
		return nil, openFailed(dir, err)
	}
	if db.ckpt, err = newCheckpointer(path, o); err != nil {
		_ = db.write.Close()
		return nil, wrapInternal(err)
	}
	db.writer, err = newWriter(ctx, db.write, path, db.ckpt, db.space)
	if err == nil && o.noFsync {
		db.writer.fsync = func() error { return nil }
	}
	if err != nil {
		_ = db.ckpt.close()
		_ = db.write.Close()
		return nil, openFailed(dir, err)
	}
	if db.read, err = sql.Open("sqlite", dsn(path, "query_only(1)")); err != nil {
		_ = db.ckpt.close()
		_ = db.writer.close()
		_ = db.write.Close()
		return nil, wrapInternal(err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	db.read.SetMaxOpenConns(readers)
	db.read.SetMaxIdleConns(readers)
	db.read.SetConnMaxIdleTime(0)

	db.background.Go(func() { db.ckpt.run(db.quit) })
	db.background.Go(func() { db.space.run(db.quit) })
	go func() {
		defer close(db.stopped)
		db.writerErr = db.writer.run(db.ops, db.quit)
	}()
	return db, nil
}

// dsn is the data source name of the database file with the given pragmas
// on every connection, busy_timeout first.
func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close finishes the writes already queued, stops the writer goroutine, waits
// for it and closes the database. Calls after the first return its result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.quit)
		<-db.stopped
		db.background.Wait()
		db.closeErr = errors.Join(db.writerErr, db.ckpt.close(), db.read.Close(), db.write.Close())
		if db.closeErr != nil {
			db.closeErr = wrapInternal(db.closeErr)
		}
	})
	return db.closeErr
}

// Check reports whether the database answers a query and takes writes.
func (db *DB) Check(ctx context.Context) error {
	select {
	case <-db.stopped:
		return errClosed
	default:
	}
	if db.writer.syncFailed.Load() {
		return chatserver.Errorf(chatserver.EUnavailable, "the database cannot sync to disk")
	}
	if err := db.space.err(); err != nil {
		return err
	}
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return db.fail(ctx, err)
	}
	return nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

var errClosed = chatserver.Errorf(chatserver.EUnavailable, "the database is closed")

// fail turns a driver or context error into a client-safe *chatserver.Error
// that still wraps the cause for the logs.
func (db *DB) fail(ctx context.Context, err error) error {
	var e *chatserver.Error
	switch {
	case errors.As(err, &e):
		return err
	case ctx.Err() != nil:
		return canceled(err)
	}
	select {
	case <-db.stopped:
		return &causeError{errClosed, err}
	default:
	}
	return wrapInternal(err)
}

// canceled reports a request given up by its caller.
func canceled(err error) error {
	return &causeError{chatserver.Errorf(chatserver.EUnavailable, "request canceled or timed out"), err}
}

// openFailed is the error of an Open that err stopped.
func openFailed(dir string, err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("sqlite: no space left on device in the data directory %s: %w", dir, err)
	}
	return wrapInternal(err)
}

func wrapInternal(err error) error {
	return &causeError{chatserver.Errorf(chatserver.EInternal, "database error"), err}
}

// causeError is a client-safe *chatserver.Error that keeps the error behind it
// for the logs: errors.As finds the *chatserver.Error, errors.Is the cause.
type causeError struct {
	err   *chatserver.Error
	cause error
}

func (e *causeError) Error() string   { return e.err.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.err, e.cause} }

// nanos and fromNanos store times as Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eachRow calls fn for every row of query.
func eachRow(ctx context.Context, q queryer, query string, args []any, fn func(rowScanner) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
