package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxCachedRooms bounds the writer's last-seq cache; past it the cache starts
// over and refills from the database one room at a time.
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
	op := &writeOp{ctx: ctx, apply: apply, done: make(chan error, 1)}
	select {
	case db.ops <- op:
	case <-db.quit:
		return errClosed
	case <-ctx.Done():
		return canceled(ctx.Err())
	}
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
type writer struct {
	conn    *sql.Conn
	stmts   map[string]*sql.Stmt
	lastSeq map[string]int64    // committed last seq of rooms written since Open
	tips    map[string]*roomTip // rooms touched by the batch in progress
	results []error
}

// roomTip is a room's last message as the batch in progress leaves it.
type roomTip struct {
	seq, ts int64
	moved   bool // the batch appended to the room
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &writer{
		conn:    conn,
		stmts:   make(map[string]*sql.Stmt),
		lastSeq: make(map[string]int64),
		tips:    make(map[string]*roomTip),
	}, nil
}

// run commits batches until quit is closed, then commits whatever is still
// queued and returns, closing the connection.
func (w *writer) run(ops <-chan *writeOp, quit <-chan struct{}) {
	defer w.close()
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-ops:
			batch = fill(append(batch[:0], op), ops)
			w.commit(batch)
		case <-quit:
			for {
				batch = fill(batch[:0], ops)
				if len(batch) == 0 {
					return
				}
				w.commit(batch)
			}
		}
	}
}

// fill adds to batch the writes already waiting, up to maxBatch.
func fill(batch []*writeOp, ops <-chan *writeOp) []*writeOp {
	for len(batch) < maxBatch {
		select {
		case op := <-ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// commit runs the live writes of batch in one transaction and answers each.
func (w *writer) commit(batch []*writeOp) {
	live := batch[:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- canceled(err)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	w.results = append(w.results[:0], make([]error, len(live))...)
	err := w.tx(live, w.results)
	switch {
	case err == nil:
		for i, op := range live {
			op.done <- w.results[i]
		}
	case len(live) == 1:
		live[0].done <- wrapInternal(err)
	default:
		for _, op := range live {
			w.commit([]*writeOp{op})
		}
	}
}

// tx applies ops in one transaction and stores each one's outcome in results.
// An error means nothing was committed.
func (w *writer) tx(ops []*writeOp, results []error) (err error) {
	if _, err := w.conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// SQLite may have rolled back already; then this fails harmlessly.
			_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
			// The cache may now be wrong (another process wrote the file?):
			// forget it, the database is the authority.
			clear(w.lastSeq)
		}
		clear(w.tips)
	}()
	for i, op := range ops {
		results[i] = op.apply(w)
		if _, outcome := results[i].(*chatserver.Error); results[i] != nil && !outcome {
			return results[i]
		}
	}
	for room, t := range w.tips {
		if t.moved {
			if _, err := w.exec(setRoomTipSQL, t.seq, t.ts, room); err != nil {
				return err
			}
		}
	}
	if _, err := w.conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		return err
	}
	if len(w.lastSeq)+len(w.tips) > maxCachedRooms {
		clear(w.lastSeq)
	}
	for room, t := range w.tips {
		w.lastSeq[room] = t.seq
	}
	return nil
}

// tip returns the room's tip in the batch in progress, creating the room's
// row the first time the writer meets the room.
func (w *writer) tip(room chatserver.Room) (*roomTip, error) {
	if t, ok := w.tips[room.ID]; ok {
		return t, nil
	}
	seq, ok := w.lastSeq[room.ID]
	if !ok {
		if err := w.ensureRoom(room); err != nil {
			return nil, err
		}
		if err := w.queryRow(lastSeqSQL, room.ID).Scan(&seq); err != nil {
			return nil, err
		}
	}
	t := &roomTip{seq: seq}
	w.tips[room.ID] = t
	return t, nil
}

func (w *writer) ensureRoom(room chatserver.Room) error {
	var a, b sql.NullString
	if room.IsDM() {
		a = sql.NullString{String: room.Members[0], Valid: true}
		b = sql.NullString{String: room.Members[1], Valid: true}
	}
	_, err := w.exec(insertRoomSQL, room.ID, room.Kind, a, b)
	return err
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
	return errors.Join(append(errs, w.conn.Close())...)
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
