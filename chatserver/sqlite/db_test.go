package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// open opens a DB in a fresh directory and closes it when the test ends.
func open(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// reopen closes db and opens its directory again, for the rest of the test.
func reopen(t *testing.T, db *DB, dir string) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return openDir(t, dir)
}

// openDir opens the database in dir and closes it when the test ends.
func openDir(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// wantCode fails the test unless err carries the given *chatserver.Error code
// ("" for no error).
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := chatserver.ErrorCode(err); got != code {
		tb.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// time0 is a fixed instant with sub-millisecond digits, to check that times
// round-trip exactly.
var time0 = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

func TestOpen(t *testing.T) {
	t.Run("CreatesDirAndFile", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		db, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
			t.Fatal(err)
		}
		if db.Path() != filepath.Join(dir, FileName) {
			t.Fatalf("Path %q", db.Path())
		}
	})
	t.Run("PathWithURICharacters", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "we?ird#dir %41")
		db, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.EnsureRoom(context.Background(), "general"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SchemaVersionAndPragmas", func(t *testing.T) {
		db := open(t)
		var version, fk, syncMode, secureDelete, walLimit int
		var mode string
		err := db.submit(context.Background(), func(w *writer) error {
			return errors.Join(
				w.queryRow("PRAGMA user_version").Scan(&version),
				w.queryRow("PRAGMA journal_mode").Scan(&mode),
				w.queryRow("PRAGMA foreign_keys").Scan(&fk),
				w.queryRow("PRAGMA synchronous").Scan(&syncMode),
				w.queryRow("PRAGMA secure_delete").Scan(&secureDelete),
				w.queryRow("PRAGMA journal_size_limit").Scan(&walLimit))
		})
		if err != nil {
			t.Fatal(err)
		}
		if version != len(migrations) || mode != "wal" || fk != 1 || syncMode != 1 || secureDelete != 1 || walLimit != 0 {
			t.Fatalf("user_version %d journal_mode %q foreign_keys %d synchronous %d secure_delete %d journal_size_limit %d; want %d wal 1 1 (NORMAL) 1 0",
				version, mode, fk, syncMode, secureDelete, walLimit, len(migrations))
		}
	})
	t.Run("MigratesFromEveryVersion", func(t *testing.T) {
		for from := 1; from < len(migrations); from++ {
			dir := t.TempDir()
			raw, err := sql.Open("sqlite", filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range migrations[:from] {
				if _, err := raw.Exec(m + fmt.Sprintf("; PRAGMA user_version = %d", i+1)); err != nil {
					t.Fatal(err)
				}
			}
			_, err = raw.Exec(`INSERT INTO activity (id, type, ts, user_id, room_id, message_id)
				VALUES ('e1', 'session.login', 1, 'alice', '', '')`)
			if err != nil {
				t.Fatal(err)
			}
			raw.Close()
			db, err := Open(context.Background(), dir)
			if err != nil {
				t.Fatalf("from version %d: %v", from, err)
			}
			res, err := db.Search(context.Background(), chatserver.ActivityQuery{Type: chatserver.ActivityLogin})
			db.Close()
			if err != nil || res.Total != 1 {
				t.Fatalf("from version %d: the event before the migration: %+v %v", from, res, err)
			}
		}
	})
	t.Run("ReopenKeepsSchema", func(t *testing.T) {
		dir := t.TempDir()
		for range 2 {
			db, err := Open(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("NewerSchemaRefused", func(t *testing.T) {
		dir := t.TempDir()
		db, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		err = db.submit(context.Background(), func(w *writer) error {
			_, err := w.exec("PRAGMA user_version = 999")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = Open(context.Background(), dir)
		wantCode(t, err, chatserver.EInternal)
	})
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	t.Run("Twice", func(t *testing.T) {
		db, err := Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("ErrUnavailableAfterClose", func(t *testing.T) {
		db, err := Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, _, err = db.Append(ctx, msg("general", "alice", "c1"))
		wantCode(t, err, chatserver.EUnavailable)
		wantCode(t, db.Check(ctx), chatserver.EUnavailable)
		_, err = db.After(ctx, "general", 0, 10)
		wantCode(t, err, chatserver.EUnavailable)
	})
	t.Run("FinishesQueuedWrites", func(t *testing.T) {
		dir := t.TempDir()
		db, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, _, err := db.Append(ctx, msg("general", "alice", cid(i)))
				errs <- err
			})
		}
		time.Sleep(time.Millisecond)
		db.Close()
		wg.Wait()
		close(errs)
		acked := 0
		for err := range errs {
			if err == nil {
				acked++
			} else {
				wantCode(t, err, chatserver.EUnavailable)
			}
		}
		db, err = Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p, err := db.After(ctx, "general", 0, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) < acked {
			t.Fatalf("%d acknowledged, %d stored", acked, len(p.Messages))
		}
	})
}

// TestGoroutines checks that Close leaves no goroutine behind: the writer and
// the database/sql pools all end.
func TestGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	db, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, db, "general", 50)
	if _, err := db.Before(context.Background(), "general", 0, 10); err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() <= before {
		t.Fatal("the writer goroutine is not running")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDurability(t *testing.T) {
	for name, opts := range map[string][]Option{"WithFsync": nil, "WithoutFsync": {WithoutFsync()}} {
		t.Run(name, func(t *testing.T) { testDurability(t, opts...) })
	}
}

func testDurability(t *testing.T, opts ...Option) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, db, "general", 100)
	if err := db.CreateAccount(ctx, chatserver.Account{ID: "alice", Created: time0}); err != nil {
		t.Fatal(err)
	}
	if err := db.Record(ctx, event("e1", chatserver.ActivityLogin, time0, "alice", "")); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, dir)
	p, err := db.After(ctx, "general", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !equalMessages(p.Messages, want) || p.HasMore {
		t.Fatalf("after reopen: %d messages, has_more %v; want the %d appended", len(p.Messages), p.HasMore, len(want))
	}
	// The seq cache starts empty: the next seq comes from the file.
	m, created, err := db.Append(ctx, msg("general", "bob", "after-reopen"))
	if err != nil || !created || m.Seq != 101 {
		t.Fatalf("append after reopen: seq %d created %v err %v; want 101 true nil", m.Seq, created, err)
	}
	// So does idempotency.
	m, created, err = db.Append(ctx, msg("general", want[0].From, want[0].CID))
	if err != nil || created || !sameMessage(m, want[0]) {
		t.Fatalf("repeated append after reopen: %+v created %v err %v; want the original", m, created, err)
	}
	if _, err := db.Account(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if res, err := db.Search(ctx, chatserver.ActivityQuery{}); err != nil || res.Total != 1 {
		t.Fatalf("activity after reopen: %+v %v", res, err)
	}
}

// TestBrokenBatch checks that a write failing inside a batch fails alone: the
// other writes of its batch are retried one per transaction and succeed.
func TestBrokenBatch(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	const n = 20
	boom := errors.New("boom")
	var broken error
	results := inOneBatch(t, db, n, func() { broken = db.submit(ctx, func(*writer) error { return boom }) })

	wantCode(t, broken, chatserver.EInternal)
	if !errors.Is(broken, boom) {
		t.Fatalf("the cause is lost: %v", broken)
	}
	if chatserver.ErrorMessage(broken) != "database error" {
		t.Fatalf("client message %q leaks the cause", chatserver.ErrorMessage(broken))
	}
	for i, err := range results {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	checkSeqs(t, db, "general", n)
}

// TestGroupCommit checks that concurrent writes share transactions (and
// fsyncs) rather than each paying for its own.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 64, 10
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if _, _, err := db.Append(ctx, msg("general", fmt.Sprintf("user%d", g), cid(i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	w := db.writer
	t.Logf("%d writes in %d transactions", w.writes, w.batches)
	if w.writes != goroutines*each || w.batches*2 > w.writes {
		t.Fatalf("%d writes in %d transactions; want %d writes, at least 2 a transaction on average", w.writes, w.batches, goroutines*each)
	}
}

// inOneBatch queues n appends to general and runs also (which queues one
// write) on a goroutine of its own, all while the writer is held, so that
// they share its next batch; it returns the appends' errors once they and
// also are done.
func inOneBatch(t *testing.T, db *DB, n int, also func()) []error {
	t.Helper()
	release := holdWriter(t, db)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = db.Append(context.Background(), msg("general", "bob", cid(i))) })
	}
	wg.Go(also)
	waitQueue(t, db, n+1)
	release()
	wg.Wait()
	return errs
}

// waitQueue waits until n writes wait for the writer.
func waitQueue(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(db.ops) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(db.ops), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNoAckWithoutFsync checks that a write is acknowledged only once the WAL
// is on disk: when an fsync fails, so do the writes it was for, and every
// write after them, since a later fsync cannot vouch for pages the kernel
// may have dropped.
func TestNoAckWithoutFsync(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	failure := errors.New("EIO")
	var calls int // only the syncer goroutine calls fsync
	db.writer.fsync = func() error {
		if calls++; calls == 1 {
			return failure
		}
		return nil
	}
	for i := range 2 {
		_, _, err := db.Append(ctx, msg("general", "alice", cid(i)))
		wantCode(t, err, chatserver.EInternal)
		if !errors.Is(err, failure) {
			t.Fatalf("append %d: want the fsync error as the cause, got %v", i, err)
		}
	}
	wantCode(t, db.Check(ctx), chatserver.EUnavailable)
}

func TestCanceled(t *testing.T) {
	db := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := db.Append(ctx, msg("general", "alice", "c1"))
	wantCode(t, err, chatserver.EUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cause lost: %v", err)
	}
	_, err = db.Before(ctx, "general", 0, 10)
	wantCode(t, err, chatserver.EUnavailable)
}

func TestCheck(t *testing.T) {
	db := open(t)
	if err := db.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
