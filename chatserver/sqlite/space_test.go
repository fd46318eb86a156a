package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/sqlite/sqlitetest"
)

// sendTimeout bounds each write of these tests: a write that hangs fails with
// a timeout, which they tell from the disk-full error.
const sendTimeout = 10 * time.Second

// TestDiskFullFailsWritesAtOnceUntilSpaceReturns fills the data directory's filesystem under sends: they fail
// at once with the disk-full error (none hangs), Check fails naming the
// directory, reads go on; once space returns the store takes writes again by
// itself, every message acknowledged before, during and after is there, and
// the file passes SQLite's integrity check.
func TestDiskFullFailsWritesAtOnceUntilSpaceReturns(t *testing.T) {
	ctx := context.Background()
	dir := sqlitetest.SmallDisk(t, 16<<20)
	db, err := Open(ctx, dir, withSpaceProbe(10*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &sender{db: db, acked: map[string]chatserver.Message{}}
	if errs := s.burst(100); len(errs) > 0 {
		t.Fatalf("before the disk is full: %d sends failed, the first with %v", len(errs), errs[0])
	}

	// The WAL may still have room for a few sends: send until some fail.
	free := sqlitetest.Fill(t, dir)
	var errs []error
	for i := 0; len(errs) == 0; i++ {
		if i == 100 {
			t.Fatal("5,000 sends of a KiB all succeeded on a full disk")
		}
		errs = s.burst(50)
	}
	t.Logf("on the full disk: %d sends acknowledged in all so far, %d failed in the last burst of 50", len(s.acked), len(errs))
	for _, err := range errs {
		wantDiskFull(t, err)
	}
	wctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	wantDiskFull(t, db.CreateAccount(wctx, chatserver.Account{ID: "bob", Created: time0}))
	wantDiskFull(t, db.Record(wctx, event("e1", chatserver.ActivityLogin, time0, "bob", "")))
	err = db.Check(wctx)
	wantCode(t, err, chatserver.EUnavailable)
	for _, want := range []string{"no space left on device", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check on a full disk: %q does not say %q", err, want)
		}
	}
	if _, err := db.After(wctx, "general", 0, 10); err != nil {
		t.Fatalf("a read on a full disk: %v", err)
	}

	free()
	chattest.Eventually(t, sendTimeout, "Check passes once space returns", func() bool { return db.Check(ctx) == nil })
	if errs := s.burst(200); len(errs) > 0 {
		t.Fatalf("after space returned: %d sends failed, the first with %v", len(errs), errs[0])
	}
	if err := db.CreateAccount(ctx, chatserver.Account{ID: "bob", Created: time0}); err != nil {
		t.Fatal(err)
	}
	s.check(t, db)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wantIntegrity(t, filepath.Join(dir, FileName))
	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.check(t, db)
}

// TestFailedCommitLeavesTheWriterWorking fails a COMMIT (a foreign key
// checked only there) and checks that the next writes still go through:
// the writer does not wait for a syncer that got nothing to sync.
func TestFailedCommitLeavesTheWriterWorking(t *testing.T) {
	db := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	for i := range 3 {
		err := db.submit(ctx, func(w *writer) error {
			if _, err := w.exec("PRAGMA defer_foreign_keys = ON"); err != nil {
				return err
			}
			_, err := w.exec(insertMsgSQL, "no-such-room", 1, "m"+cid(i), "alice", "hi", 1, cid(i))
			return err
		})
		wantCode(t, err, chatserver.EInternal)
		if _, _, err := db.Append(ctx, msg("general", "alice", cid(i))); err != nil {
			t.Fatalf("the append after failed commit %d: %v", i, err)
		}
	}
	checkSeqs(t, db, "general", 3)
}

func TestOpenSaysWhyTheDataDirectoryCannotHoldTheDatabase(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want []string
	}{{
		name: "ReadOnlyFilesystem",
		dir:  func(t *testing.T) string { return readOnlyDisk(t, false) },
		want: []string{"data directory", "is not writable", "read-only file system"},
	}, {
		name: "ReadOnlyFilesystemWithADatabase",
		dir:  func(t *testing.T) string { return readOnlyDisk(t, true) },
		want: []string{"data directory", "is not writable", "read-only file system"},
	}, {
		name: "FullFilesystem",
		dir: func(t *testing.T) string {
			dir := sqlitetest.SmallDisk(t, 1<<20)
			sqlitetest.Fill(t, dir)
			return dir
		},
		want: []string{"data directory", "no space left on device"},
	}, {
		name: "AFile",
		dir: func(t *testing.T) string {
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return file
		},
		want: []string{"cannot create the data directory", "not a directory"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			db, err := Open(context.Background(), dir)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded", dir)
			}
			for _, want := range append(tc.want, dir) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error %q does not say %q", err, want)
				}
			}
		})
	}
}

// readOnlyDisk is a small read-only filesystem, holding a database if withDB.
func readOnlyDisk(t *testing.T, withDB bool) string {
	t.Helper()
	dir := sqlitetest.SmallDisk(t, 1<<20)
	if withDB {
		db, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sqlitetest.ReadOnly(t, dir)
	return dir
}

// wantDiskFull fails the test unless err is the disk-full error: a write
// that waited for its deadline fails too, with another EUnavailable error.
func wantDiskFull(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errDiskFull) || chatserver.ErrorCode(err) != chatserver.EUnavailable {
		t.Fatalf("error %v, want %v", err, errDiskFull)
	}
}

// wantIntegrity fails the test unless SQLite's integrity check passes on the
// database at path.
func wantIntegrity(t *testing.T, path string) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var res string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q %v", res, err)
	}
}

// sender sends messages of a KiB to the room general from several
// goroutines and keeps those acknowledged.
type sender struct {
	db    *DB
	next  atomic.Int64
	mu    sync.Mutex
	acked map[string]chatserver.Message // by cid
}

// burst sends n messages, eight at a time, and returns the errors of those
// that failed.
func (s *sender) burst(n int) []error {
	var left atomic.Int64
	left.Store(int64(n))
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := s.send(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func (s *sender) send() error {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	m := msg("general", "alice", "c"+strconv.FormatInt(s.next.Add(1), 10))
	m.Text = strings.Repeat("x", 1024)
	stored, _, err := s.db.Append(ctx, m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.acked[m.CID] = stored
	s.mu.Unlock()
	return nil
}

// check fails the test unless db holds exactly the messages acknowledged,
// with seqs from 1 and no gap: a send that failed left nothing behind.
func (s *sender) check(t *testing.T, db *DB) {
	t.Helper()
	p, err := db.After(context.Background(), "general", 0, len(s.acked)+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != len(s.acked) {
		t.Fatalf("%d messages stored, %d acknowledged", len(p.Messages), len(s.acked))
	}
	if got := seqs(p.Messages); !slices.Equal(got, span(1, int64(len(got)))) {
		t.Fatalf("seqs %v, want 1..%d", got, len(got))
	}
	for _, m := range p.Messages {
		if !sameMessage(s.acked[m.CID], m) {
			t.Fatalf("stored %+v, acknowledged %+v", m, s.acked[m.CID])
		}
	}
}
