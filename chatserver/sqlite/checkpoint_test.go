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
// pages; with checkpoints held back (one, then none for an hour) the same
// writes take it far past that, so the bound is the checkpointer's doing.
// Every message is still there after a reopen.
func TestCheckpointsKeepTheWALBounded(t *testing.T) {
	const frames = 256 // 1 MiB of 4 KiB pages
	const bound = 4 << 20
	bounded := walHighWater(t, withCheckpoints(5*time.Millisecond, frames))
	unbounded := walHighWater(t, withCheckpoints(time.Hour, 1<<30))
	t.Logf("WAL high-water mark: %d KiB with checkpoints, %d KiB without", bounded>>10, unbounded>>10)
	if unbounded <= 3*bound {
		t.Fatalf("without checkpoints the WAL reached only %d KiB: the load proves nothing", unbounded>>10)
	}
	if bounded > bound {
		t.Fatalf("with checkpoints the WAL reached %d KiB, want at most %d", bounded>>10, bound>>10)
	}
}

// walHighWater stores 6,000 sends from 64 goroutines, as the server does
// (message and activity event in one write; about 3.5 KiB of WAL each when
// nothing is checkpointed), and returns the largest
// size the WAL file reached. It reopens the database and checks that every
// send is there.
func walHighWater(t *testing.T, opt Option) int64 {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, WithoutFsync(), opt)
	if err != nil {
		t.Fatal(err)
	}
	const sends = 6000
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
	return highest.Load()
}
