package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// SQLite copies the WAL back into the database file in checkpoints. By
// default the connection whose COMMIT takes the WAL past 1,000 pages runs
// one inside that COMMIT: here, the writer goroutine, which then stops
// applying writes while the checkpoint copies pages and fsyncs the WAL and
// the database file. In make bench's max scenario the writer spent about a
// fifth of its time there, and taking it out raised the sends stored from
// about 11,000 to about 13,500 a second.
//
// So the writer's connection has wal_autocheckpoint off, and the
// checkpointer runs PASSIVE checkpoints on a connection of its own, in
// parallel with the writer and without ever waiting for it: one at most
// every checkpointGap while there are commits. Under constant writes such a
// checkpoint always ends a few commits behind the writer, and the WAL can
// only start over from its beginning once a checkpoint has caught up with
// every commit. Once the WAL holds restartFrames frames the checkpointer
// therefore asks the writer to run one PASSIVE checkpoint itself, between
// two transactions: it catches up completely, copying only what the
// checkpointer has not, and the next transaction writes the WAL from its
// start. The WAL thus stays near restartFrames pages (64 MiB) however fast
// the writes come, and the writer pauses once per restartFrames pages
// instead of once per 1,000. As with SQLite's own checkpoints, a read
// transaction that lasts (a stats query over a long window) holds back every
// checkpoint meanwhile, and the WAL grows until it ends.
//
// Durability is unchanged: both connections have synchronous=NORMAL, under
// which SQLite fsyncs the WAL before a checkpoint and the database file
// after it, before the WAL can start over.
//
// Starting over costs the transaction that does it more than the rest of a
// small commit: SQLite writes and fsyncs a new WAL header, and cuts the file
// back to that transaction (journal_size_limit 0), about 1 ms here against
// 0.4 ms for the rest of a one-message commit. At a low rate of writes most
// checkpoints copy the whole WAL, and one send's commit in seven to fifteen
// took over 0.8 ms (make bench's durable scenario). So when a checkpoint has
// copied the whole WAL with no commit since it began, the checkpointer tells
// the writer (caughtUp), and the writer, if no write waits, commits a
// transaction that changes nothing but starts the WAL over
// (writer.startOver): the next send's commit then only appends, and one in
// a hundred or fewer took over 0.8 ms.

const (
	checkpointGap = 100 * time.Millisecond
	restartFrames = 16384
)

// checkpointer runs the database's checkpoints off the writer goroutine.
type checkpointer struct {
	db            *sql.DB // one connection
	kick          chan struct{}
	restart       atomic.Bool // the writer should checkpoint after its next commit
	gap           time.Duration
	restartFrames int
	log           *slog.Logger
	catchUps      atomic.Int64 // the writer's, for the tests

	commits atomic.Int64 // the writer's, counted by committed
	// caughtUp holds a token when a checkpoint copied the whole WAL;
	// caughtUpAt is the count of commits when that checkpoint began.
	caughtUp   chan struct{}
	caughtUpAt atomic.Int64
}

func newCheckpointer(path string, o options) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, "journal_mode(WAL)", "synchronous("+synchronous+")"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return &checkpointer{db: db, kick: make(chan struct{}, 1), caughtUp: make(chan struct{}, 1),
		gap: o.checkpointGap, restartFrames: o.restartFrames, log: o.log}, nil
}

// committed tells the checkpointer that the WAL grew. It never blocks.
func (c *checkpointer) committed() {
	c.commits.Add(1)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run checkpoints after commits until quit is closed.
func (c *checkpointer) run(quit <-chan struct{}) {
	t := time.NewTimer(c.gap)
	defer t.Stop()
	failing := false // logged once when checkpoints start failing, once when they recover
	for {
		select {
		case <-quit:
			return
		case <-c.kick:
		}
		if c.restart.Load() {
			continue // the writer checkpoints next: leave it the WAL
		}
		at := c.commits.Load()
		frames, complete, err := checkpoint(context.Background(), c.db)
		if complete {
			c.caughtUpAt.Store(at)
			select {
			case c.caughtUp <- struct{}{}:
			default:
			}
		}
		if errors.Is(err, errCheckpointBusy) {
			err = nil // the writer's catch-up ran meanwhile
		}
		switch {
		case err != nil && !failing:
			c.log.Warn("sqlite: checkpoint failed; the WAL grows until one succeeds", "err", err)
		case err == nil && failing:
			c.log.Info("sqlite: checkpoints succeed again")
		}
		failing = err != nil
		if frames >= c.restartFrames {
			c.restart.Store(true)
		}
		// One checkpoint for the commits of the next gap, not one each.
		t.Reset(c.gap)
		select {
		case <-quit:
			return
		case <-t.C:
		}
	}
}

func (c *checkpointer) close() error { return c.db.Close() }

// errCheckpointBusy is a checkpoint that did not run because another
// connection was running one: SQLite reports it in the pragma's result row,
// not as an error.
var errCheckpointBusy = errors.New("wal_checkpoint: another checkpoint is running")

// checkpoint runs a PASSIVE checkpoint on a connection of q and returns how
// many frames the WAL held and whether it copied them all.
func checkpoint(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (frames int, complete bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, busyTimeout)
	defer cancel()
	var busy, done int
	if err := q.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
		return 0, false, fmt.Errorf("wal_checkpoint: %w", err)
	}
	if busy != 0 {
		return 0, false, errCheckpointBusy
	}
	return frames, frames > 0 && done == frames, nil
}

// catchUp is the writer's own checkpoint, between two transactions, once the
// checkpointer asked for it: with no transaction open it can copy every
// frame, and the next transaction then writes the WAL from its start. If the
// checkpointer's own checkpoint was running at that moment, the writer tries
// again after its next commit.
func (c *checkpointer) catchUp(conn *sql.Conn) {
	if !c.restart.Load() {
		return
	}
	_, _, err := checkpoint(context.Background(), conn)
	switch {
	case err == nil:
		c.restart.Store(false)
		c.catchUps.Add(1)
	case !errors.Is(err, errCheckpointBusy):
		c.restart.Store(false) // the checkpointer asks again when the WAL is still long
		c.log.Warn("sqlite: checkpoint failed", "err", err)
	}
}
