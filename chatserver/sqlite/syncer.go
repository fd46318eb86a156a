package sqlite

import (
	"errors"
	"os"
	"path/filepath"
)

// The writer commits with synchronous=NORMAL, which in WAL mode writes the
// batch to the WAL file without fsync, and hands the callers' answers to the
// syncer. The syncer fsyncs the WAL file and only then answers them: the
// batch is then on disk, as with synchronous=FULL, but the writer has gone
// on to the next batch meanwhile, and one fsync covers every batch committed
// before it started.
//
// This relies on what SQLite documents of WAL mode: the WAL is the database
// file's name plus "-wal", and it stays (the same file) as long as a
// connection has the database open, which the writer's connection does until
// the syncer has ended.

// reply is a write's outcome, held until its batch is on disk.
type reply struct {
	op  *writeOp
	err error
}

const syncQueue = 64 // committed batches waiting for an fsync before the writer waits

// openWAL opens the WAL file of the database at path, for fsync, and makes
// the directory entries of the database and its WAL durable.
func openWAL(path string) (*os.File, error) {
	wal, err := os.Open(filepath.Clean(path + "-wal"))
	if err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		_ = wal.Close()
		return nil, err
	}
	return wal, nil
}

func syncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// syncLoop answers the batches sent on w.synced once the WAL is on disk,
// until the writer closes w.synced. After a failed fsync it answers every
// write with that error: the kernel may have dropped the pages it could not
// write, so a later fsync that succeeds proves nothing.
func (w *writer) syncLoop() {
	var batch []reply
	var failed error
	for {
		select {
		case w.idle <- struct{}{}:
		default: // the writer has not taken the last token yet
		}
		first, ok := <-w.synced
		if !ok {
			return
		}
		batch = append(batch[:0], first...)
	drain:
		for {
			select {
			case more, ok := <-w.synced:
				if !ok {
					break drain
				}
				batch = append(batch, more...)
			default:
				break drain
			}
		}
		if failed == nil {
			if failed = w.fsync(); failed != nil {
				w.syncFailed.Store(true)
			}
		}
		for _, r := range batch {
			if failed != nil {
				r.op.done <- wrapInternal(failed)
			} else {
				r.op.done <- r.err
			}
		}
	}
}
