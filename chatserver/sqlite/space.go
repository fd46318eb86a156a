package sqlite

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chatcluster/chatcluster/chatserver"
)

// When the filesystem of the data directory is full, SQLite fails the write
// that needed the space (a COMMIT, or a statement spilling its pages to the
// WAL) with SQLITE_FULL, and the writer rolls the transaction back: none of
// it reaches the database, so nothing is acknowledged and nothing is
// corrupted. The space guard then refuses every write at once with
// EUnavailable, and Check fails naming the directory, until its goroutine,
// probing every spaceProbeGap, has written spaceProbeSize bytes to a file of
// its own: then writes are taken again, with no restart. A write that finds
// the disk still too full starts it over.
//
// The probe writes a file rather than the database: a write into the WAL may
// reuse space the WAL file already holds and succeed while the disk is still
// full.

const (
	spaceProbeGap  = time.Second
	spaceProbeSize = 1 << 20 // bytes the probe must be able to write
	probeFileName  = FileName + "-probe"
)

// errDiskFull is what clients are told while the data directory is full.
var errDiskFull = chatserver.Errorf(chatserver.EUnavailable, "the server's disk is full")

// spaceGuard knows whether the data directory is out of space, and finds
// out when space returns.
type spaceGuard struct {
	dir   string
	probe string // the probe's file
	gap   time.Duration
	log   *slog.Logger
	full  atomic.Pointer[causeError] // set while the directory is full
	kick  chan struct{}              // a token once the directory is found full
}

func newSpaceGuard(dir string, o options) *spaceGuard {
	return &spaceGuard{dir: dir, probe: filepath.Join(dir, probeFileName), gap: o.spaceProbeGap, log: o.log, kick: make(chan struct{}, 1)}
}

// err is the EUnavailable error to answer writes with while the directory is
// full, nil otherwise.
func (g *spaceGuard) err() error {
	if e := g.full.Load(); e != nil {
		return e
	}
	return nil
}

// exhausted records that err, an error for which isDiskFull holds, found
// the directory full, and returns the error to answer the write with.
func (g *spaceGuard) exhausted(err error) error {
	e := &causeError{errDiskFull, fmt.Errorf("no space left on device in the data directory %s: %w", g.dir, err)}
	if g.full.CompareAndSwap(nil, e) {
		g.log.Error("sqlite: the data directory is full: writes fail until space returns", "dir", g.dir, "err", err)
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	return e
}

// run probes for space while the directory is full, until quit is closed.
func (g *spaceGuard) run(quit <-chan struct{}) {
	t := time.NewTimer(g.gap)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-g.kick:
		}
		for g.full.Load() != nil {
			t.Reset(g.gap)
			select {
			case <-quit:
				return
			case <-t.C:
			}
			if err := writeProbe(g.probe, spaceProbeSize); err == nil {
				g.full.Store(nil)
				g.log.Info("sqlite: space in the data directory again: writes resume", "dir", g.dir)
			}
		}
	}
}

// writeProbe writes size bytes to the file at path, makes sure they are on
// disk and removes the file.
func writeProbe(path string, size int) error {
	f, err := os.OpenFile(filepath.Clean(path), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var werr error
	if size > 0 {
		_, werr = f.Write(make([]byte, size))
	}
	return errors.Join(werr, f.Sync(), f.Close(), os.Remove(path))
}

// checkWritable tells why dir cannot hold the database, if it cannot: the
// directory cannot be made, is not writable, or the database file in it
// cannot be opened for writing.
func checkWritable(dir, path string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("sqlite: cannot create the data directory %s: %w", dir, err)
	}
	if err := writeProbe(filepath.Join(dir, probeFileName), 0); err != nil {
		return fmt.Errorf("sqlite: the data directory %s is not writable: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Clean(path), os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: the database file %s in the data directory is not writable: %w", path, err)
	}
	return f.Close()
}

// isDiskFull reports an error that says the filesystem is out of space:
// SQLITE_FULL, which SQLite returns when a write of a database or WAL page
// fails with ENOSPC, SQLITE_IOERR_SHMSIZE, which it returns when the
// WAL-index file cannot grow (every few thousand WAL frames), or ENOSPC or
// EDQUOT themselves.
func isDiskFull(err error) bool {
	var e *msqlite.Error
	if errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_FULL || e.Code() == sqlite3.SQLITE_IOERR_SHMSIZE) {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
