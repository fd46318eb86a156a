package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxCachedRooms bounds the writer's cache of each room's last seq and rev;
// past it the cache starts over and refills from the database one room at a
// time.
const maxCachedRooms = 1 << 16

// A writeOp is one caller's write, queued for the writer goroutine. apply
// runs inside the batch's transaction and leaves its results in variables the
// caller's closure captured; the caller reads them once done has answered.
type writeOp struct {
	ctx   context.Context
	apply func(*writer) error
	done  chan error // buffered: the writer never waits for the caller
}

// submit queues a write and waits until the transaction holding it has
// committed (or failed). apply reports a per-write outcome (EConflict,
// ENotFound, ...) by returning a *chatserver.Error; any other error breaks
// the batch, which is then retried one write per transaction so that only the
// culprit fails.
func (db *DB) submit(ctx context.Context, apply func(*writer) error) error {
	op, err := db.enqueue(ctx, apply)
	if err != nil {
		return err
	}
	return db.wait(ctx, op)
}

// enqueue queues a write without waiting for it. Writes queued one after the
// other by one goroutine are applied in that order. While the disk is full
// it fails at once.
func (db *DB) enqueue(ctx context.Context, apply func(*writer) error) (*writeOp, error) {
	if err := db.space.err(); err != nil {
		return nil, err
	}
	op := &writeOp{ctx: ctx, apply: apply, done: make(chan error, 1)}
	select {
	case db.ops <- op:
		return op, nil
	case <-db.quit:
		return nil, errClosed
	case <-ctx.Done():
		return nil, canceled(ctx.Err())
	}
}

// wait waits until the transaction holding op has committed (or failed).
func (db *DB) wait(ctx context.Context, op *writeOp) error {
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		// The write may still commit; an idempotent retry will find it.
		return canceled(ctx.Err())
	case <-db.stopped:
		// The writer answers everything queued before it stops; an op
		// queued while Close ran may have missed it.
		select {
		case err := <-op.done:
			return err
		default:
			return errClosed
		}
	}
}

// writer owns the write connection. Only the writer goroutine touches it.
//
// It applies each write as it arrives, in the transaction it keeps open, and
// commits that transaction when the syncer is idle (or the batch is full):
// a batch is whatever arrived while the previous one was being fsynced, so
// under load batches grow with the fsync latency instead of costing one
// fsync each.
type writer struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	last  map[string]roomPos  // committed last seq and rev of rooms written since Open
	tips  map[string]*roomTip // rooms touched by the open transaction
	// indexFrom is the last activity row before the open transaction, whose
	// later rows its commit adds to the FTS index; -1 if it added none.
	indexFrom int64
	inTx      bool
	pending   []reply // the writes of the open transaction, with their outcomes

	// Shared with syncLoop.
	wal        *os.File      // the connection's WAL file
	fsync      func() error  // wal.Sync, but for tests
	synced     chan []reply  // committed batches, for syncLoop to answer
	idle       chan struct{} // holds a token while syncLoop waits for work
	syncFailed atomic.Bool   // an fsync failed: nothing is acknowledged any more

	ckpt  *checkpointer // told of every commit
	space *spaceGuard   // told when the disk is full; refuses writes meanwhile

	batches, writes int64 // committed so far, for the benchmarks
}

// roomPos is a room's last seq and rev.
type roomPos struct{ seq, rev int64 }

// roomTip is a room's last message and change as the open transaction
// leaves them.
type roomTip struct {
	roomPos
	ts       int64 // of the last message, once the transaction appended one
	appended bool  // the transaction appended to the room
	revised  bool  // the transaction changed a message of the room
}

// newWriter takes the connection of db, the database at path.
func newWriter(ctx context.Context, db *sql.DB, path string, ckpt *checkpointer, space *spaceGuard) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	wal, err := openWAL(path)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &writer{
		ckpt:      ckpt,
		space:     space,
		conn:      conn,
		wal:       wal,
		fsync:     wal.Sync,
		synced:    make(chan []reply, syncQueue),
		idle:      make(chan struct{}, 1),
		stmts:     make(map[string]*sql.Stmt),
		last:      make(map[string]roomPos),
		tips:      make(map[string]*roomTip),
		indexFrom: -1,
	}, nil
}

// run applies and commits writes until quit is closed, then does the same
// with whatever is still queued, waits for the syncer to answer everything,
// closes the connection and returns the error of closing it.
func (w *writer) run(ops <-chan *writeOp, quit <-chan struct{}) (err error) {
	syncerDone := make(chan struct{})
	go func() {
		defer close(syncerDone)
		w.syncLoop()
	}()
	defer func() {
		close(w.synced)
		<-syncerDone
		err = w.close()
	}()
	for {
		var idle <-chan struct{}     // nil, never ready, while there is nothing to commit
		var caughtUp <-chan struct{} // nil while a transaction is open
		switch {
		case len(w.pending) >= maxBatch:
			<-w.idle
			w.commitIdle()
			continue
		case len(w.pending) > 0:
			idle = w.idle
		case !w.inTx:
			caughtUp = w.ckpt.caughtUp
		}
		select {
		case op := <-ops:
			w.add(op)
		case <-idle:
			w.addQueued(ops)
			w.commitIdle()
		case <-caughtUp:
			if len(ops) == 0 && w.ckpt.caughtUpAt.Load() == w.ckpt.commits.Load() {
				w.startOver()
			}
		case <-quit:
			for w.addQueued(ops) {
				w.commit()
			}
			w.commit()
			return nil
		}
	}
}

// addQueued applies the writes already waiting until the batch is full, and
// reports whether it is.
func (w *writer) addQueued(ops <-chan *writeOp) (full bool) {
	for len(w.pending) < maxBatch {
		select {
		case op := <-ops:
			w.add(op)
		default:
			return false
		}
	}
	return true
}

// add applies op in the open transaction, beginning one if need be.
func (w *writer) add(op *writeOp) {
	if !w.begin(op) {
		return
	}
	res := op.apply(w)
	if isFatal(res) {
		if isDiskFull(res) {
			_ = w.space.exhausted(res) // the retries below fail at once
		}
		redo := w.rollback()
		for _, o := range append(redo, op) {
			w.alone(o)
		}
		return
	}
	w.pending = append(w.pending, reply{op, res})
}

// alone runs op in a transaction of its own: the retry of a batch that failed.
func (w *writer) alone(op *writeOp) {
	if !w.begin(op) {
		return
	}
	res := op.apply(w)
	if isFatal(res) {
		w.rollback()
		op.done <- w.failure(res)
		return
	}
	w.pending = append(w.pending, reply{op, res})
	w.commit()
}

// begin makes sure a transaction is open for op; if op is canceled, the
// disk is full or no transaction can begin, it answers op and returns false.
func (w *writer) begin(op *writeOp) bool {
	if err := op.ctx.Err(); err != nil {
		op.done <- canceled(err)
		return false
	}
	if err := w.space.err(); err != nil {
		op.done <- err
		return false
	}
	if !w.inTx {
		if _, err := w.conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
			op.done <- w.failure(err)
			return false
		}
		w.inTx = true
	}
	return true
}

// isFatal tells a write's own outcome (nil, or a *chatserver.Error such as
// EConflict) from an error that breaks its transaction. Only a bare
// *chatserver.Error is an outcome: a database failure arrives wrapped in one
// (wrapInternal), which errors.As would take for an outcome.
func isFatal(res error) bool {
	_, outcome := res.(*chatserver.Error) //nolint:errorlint // a bare *chatserver.Error only, see above
	return res != nil && !outcome
}

// failure is the answer to a write that err broke: EUnavailable when the
// disk is full (the space guard then refuses the writes after it), else
// EInternal.
func (w *writer) failure(err error) error {
	if isDiskFull(err) {
		return w.space.exhausted(err)
	}
	return wrapInternal(err)
}

// commitIdle commits with the syncer's idle token in hand. When no batch
// reaches the syncer (the commit failed), the token goes back: the writer
// would otherwise wait for it from a syncer waiting for a batch.
func (w *writer) commitIdle() {
	before := w.batches
	w.commit()
	if w.batches == before {
		select {
		case w.idle <- struct{}{}:
		default:
		}
	}
}

// commit commits the open transaction and hands its writes to the syncer. If
// the commit fails, each write is retried alone (and fails at once if the
// disk is full).
func (w *writer) commit() {
	if !w.inTx {
		return
	}
	if err := w.finish(); err != nil {
		failed := w.failure(err)
		redo := w.rollback()
		if len(redo) == 1 {
			redo[0].done <- failed
			return
		}
		for _, op := range redo {
			w.alone(op)
		}
		return
	}
	w.inTx, w.indexFrom = false, -1
	if len(w.last)+len(w.tips) > maxCachedRooms {
		clear(w.last)
	}
	for room, t := range w.tips {
		w.last[room] = t.roomPos
	}
	clear(w.tips)
	w.batches++
	w.writes += int64(len(w.pending))
	w.synced <- w.pending
	w.pending = nil
	w.ckpt.catchUp(w.conn)
	w.ckpt.committed()
}

// finish does the work the transaction's writes left for its end, once
// for all of them: the tips of the rooms written to, the FTS index of the
// activity recorded. Then it commits.
func (w *writer) finish() error {
	if err := w.finishActivity(); err != nil {
		return err
	}
	for room, t := range w.tips {
		var err error
		switch {
		case t.appended:
			_, err = w.exec(setRoomTipSQL, t.seq, t.ts, t.rev, room)
		case t.revised:
			_, err = w.exec(setRoomRevSQL, t.rev, room)
		}
		if err != nil {
			return err
		}
	}
	_, err := w.conn.ExecContext(context.Background(), "COMMIT")
	return err
}

// startOver commits a transaction that changes nothing (it sets the schema
// version to what it is, which rewrites the database header), once a
// checkpoint has copied the whole WAL and no write waits: SQLite starts the
// WAL over in it, rather than in the commit of the next write (see
// checkpoint.go). It is no commit for the checkpointer, which would
// otherwise copy the header and call for another one; if it fails, the next
// write starts the WAL over as it would have.
func (w *writer) startOver() {
	ctx := context.Background()
	if w.space.err() != nil {
		return
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return
	}
	_, err := w.conn.ExecContext(ctx, startOverSQL)
	if err == nil {
		_, err = w.conn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
	}
}

// startOverSQL writes the schema version the migrations left.
var startOverSQL = fmt.Sprintf("PRAGMA user_version = %d", len(migrations))

// rollback abandons the open transaction and returns its writes.
func (w *writer) rollback() []*writeOp {
	// SQLite may have rolled back already; then this fails harmlessly.
	_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
	w.inTx, w.indexFrom = false, -1
	clear(w.tips)
	// The cache may be wrong (did another process write the file?): forget
	// it, the database is the authority.
	clear(w.last)
	ops := make([]*writeOp, len(w.pending))
	for i, r := range w.pending {
		ops[i] = r.op
	}
	w.pending = nil
	return ops
}

// tip returns the room's tip in the batch in progress, creating the room's
// row the first time the writer meets the room.
func (w *writer) tip(room chatserver.Room) (*roomTip, error) {
	if t, ok := w.tips[room.ID]; ok {
		return t, nil
	}
	pos, ok := w.last[room.ID]
	if !ok {
		if err := w.ensureRoom(room); err != nil {
			return nil, err
		}
		if err := w.queryRow(lastPosSQL, room.ID).Scan(&pos.seq, &pos.rev); err != nil {
			return nil, err
		}
	}
	t := &roomTip{roomPos: pos}
	w.tips[room.ID] = t
	return t, nil
}

// lastSeq returns the room's last seq as the open transaction leaves it,
// without creating the room's row.
func (w *writer) lastSeq(room string) (int64, error) {
	if t, ok := w.tips[room]; ok {
		return t.seq, nil
	}
	if pos, ok := w.last[room]; ok {
		return pos.seq, nil
	}
	var pos roomPos
	err := w.queryRow(lastPosSQL, room).Scan(&pos.seq, &pos.rev)
	return pos.seq, err
}

// ensureRoom creates the room's row, and its members' rows for a DM or
// group room, unless it exists.
func (w *writer) ensureRoom(room chatserver.Room) error {
	created, err := w.execAffected(insertRoomSQL, room.ID, room.Kind)
	if err != nil || !created {
		return err
	}
	for _, user := range room.Members {
		if _, err := w.exec(insertMemberSQL, user, room.ID); err != nil {
			return err
		}
	}
	return nil
}

// stmt returns query prepared on the write connection, preparing it once.
func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = s
	return s, nil
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(context.Background(), args...)
}

// execAffected runs query and reports whether it changed a row.
func (w *writer) execAffected(query string, args ...any) (bool, error) {
	res, err := w.exec(query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (w *writer) queryRow(query string, args ...any) rowScanner {
	s, err := w.stmt(query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(context.Background(), args...)
}

func (w *writer) close() error {
	var errs []error
	for _, s := range w.stmts {
		errs = append(errs, s.Close())
	}
	return errors.Join(append(errs, w.conn.Close(), w.wal.Close())...)
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
