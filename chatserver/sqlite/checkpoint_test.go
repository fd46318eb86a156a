package sqlite

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Under constant writes the checkpointer keeps the WAL near restartFrames
// pages (256 here: 1 MiB), the writer catching up now and then so that the
// WAL starts over; with checkpoints held back (one, then none for an hour)
// the same writes take it far past that. Every message is still there
// after a reopen. The bound is loose (a quarter of the unbounded WAL, about
// 7 MiB, where about 1.6 MiB is usual) because the WAL grows during each
// checkpoint, and a checkpoint waits for fsyncs, which a busy disk slows.
func TestCheckpointsKeepTheWALBounded(t *testing.T) {
	bounded, catchUps := walHighWater(t, withCheckpoints(5*time.Millisecond, 256))
	unbounded, _ := walHighWater(t, withCheckpoints(time.Hour, 1<<30))
	t.Logf("WAL high-water mark: %d KiB with checkpoints (%d catch-ups by the writer), %d KiB without", bounded>>10, catchUps, unbounded>>10)
	if catchUps == 0 {
		t.Error("the writer never caught up: the WAL never started over")
	}
	if bounded*4 > unbounded {
		t.Errorf("with checkpoints the WAL reached %d KiB, more than a quarter of the %d KiB it reaches without", bounded>>10, unbounded>>10)
	}
}

// Once a checkpoint has copied the whole WAL, the writer, with nothing to
// write, starts the WAL over: the file is cut back to its header and the one
// frame of the transaction that did it, so that the next write's commit
// only appends.
func TestTheIdleWriterStartsTheWALOver(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), WithoutFsync(), withCheckpoints(time.Millisecond, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appendN(t, db, "general", 20)      // a commit each
	const startedOver = 32 + 24 + 4096 // the WAL header and one frame
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(db.Path() + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == startedOver {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL holds %d bytes after the writes, want %d once it started over", fi.Size(), startedOver)
		}
		time.Sleep(time.Millisecond)
	}
	if got := appendN(t, db, "general", 1); got[0].Seq != 21 {
		t.Fatalf("the next append got seq %d, want 21", got[0].Seq)
	}
}

// walHighWater stores 8,000 sends from 64 goroutines, as the server does
// (message and activity event in one write; about 3.5 KiB of WAL each when
// nothing is checkpointed), and returns the largest size the WAL file
// reached and how often the writer caught up. It reopens the database and
// checks that every send is there.
func walHighWater(t *testing.T, opt Option) (highWater, catchUps int64) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, WithoutFsync(), opt)
	if err != nil {
		t.Fatal(err)
	}
	const sends = 8000
	var (
		next    atomic.Int64
		highest atomic.Int64
		wg      sync.WaitGroup
	)
	for range 64 {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > sends {
					return
				}
				if _, _, err := db.AppendRecord(ctx, benchMessage(n), benchEvent)(); err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(db.Path() + "-wal"); err == nil && fi.Size() > highest.Load() {
					highest.Store(fi.Size()) // racy max, close enough
				}
			}
		})
	}
	wg.Wait()
	catchUps = db.ckpt.catchUps.Load()
	db = reopen(t, db, dir)
	var stored int64
	for room := range 16 {
		var after int64
		for {
			page, err := db.After(ctx, benchMessage(int64(room)).Room, after, 500)
			if err != nil {
				t.Fatal(err)
			}
			stored += int64(len(page.Messages))
			if !page.HasMore {
				break
			}
			after = page.Messages[len(page.Messages)-1].Seq
		}
	}
	if stored != sends {
		t.Fatalf("%d messages stored of %d sent", stored, sends)
	}
	return highest.Load(), catchUps
}
