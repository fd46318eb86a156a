package sqlite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeleteErasesTheText checks that nothing of a deleted message's text,
// nor of the text an edit replaced, stays in the database: not in the
// message; not in the bytes of the file once the WAL is checkpointed into
// it; not in the WAL once it started over; not in any file once the
// database is closed. The texts sit among thousands of other messages, so
// that the pages holding them were split and rebalanced before the delete;
// the long one fills overflow pages.
func TestDeleteErasesTheText(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, WithoutFsync())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := map[string]string{
		"short":  "short secret 3f9a1c",
		"long":   strings.Repeat("long secret 77b2e0 ", 600),
		"edited": "replaced secret 4d81aa",
	}
	at := map[string]int{"short": 100, "long": 200, "edited": 300}
	targets := map[string]int64{}
	for i := range 3000 {
		m := msg("general", "alice", cid(i))
		for name, j := range at {
			if i == j {
				m.Text, targets[name] = secrets[name], int64(i+1)
			}
		}
		if _, _, err := db.AppendRecord(ctx, m, nil)(); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{db.Path(), db.Path() + "-wal"}
	if found := findTexts(t, secrets, files...); len(found) != len(secrets) {
		t.Fatalf("only %v of the texts are in the files before the delete: the scan would prove nothing", found)
	}
	update(t, db, "general", targets["edited"], edit("harmless"))
	for name, seq := range targets {
		update(t, db, "general", seq, remove())
		if m := message(t, db, "general", seq); m.Text != "" || !m.Deleted {
			t.Fatalf("%s: %+v after delete, want no text", name, m)
		}
	}
	fullCheckpoint(t, db)
	wantNoTexts(t, secrets, db.Path())
	appendN(t, db, "general", 1) // starts the WAL over
	wantNoTexts(t, secrets, files...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	wantNoTexts(t, secrets, all...)
}

// fullCheckpoint copies every frame of the WAL into the database file.
func fullCheckpoint(t *testing.T, db *DB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var busy, frames, done int
		if err := db.ckpt.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
			t.Fatal(err)
		}
		if busy == 0 && frames == done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint: busy %d, %d of %d frames", busy, done, frames)
		}
		time.Sleep(time.Millisecond)
	}
}

// findTexts returns the names of the secrets whose text (its first 18 bytes)
// one of the files holds, and where.
func findTexts(t *testing.T, secrets map[string]string, files ...string) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Clean(f))
		if err != nil {
			t.Fatal(err)
		}
		for name, text := range secrets {
			if bytes.Contains(b, []byte(text[:18])) {
				found[name] = filepath.Base(f)
			}
		}
	}
	return found
}

func wantNoTexts(t *testing.T, secrets map[string]string, files ...string) {
	t.Helper()
	if found := findTexts(t, secrets, files...); len(found) > 0 {
		t.Fatalf("texts still there: %v", found)
	}
}
