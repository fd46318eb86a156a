package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// walFile builds a WAL of 512-byte pages whose frames are commits where
// commit[i] says so; stale frames follow with another salt.
func walFile(commit []bool, stale int) []byte {
	const page = 512
	var b bytes.Buffer
	hdr := make([]byte, walHeader)
	binary.BigEndian.PutUint32(hdr[0:], 0x377f0682)
	binary.BigEndian.PutUint32(hdr[8:], page)
	copy(hdr[16:24], "saltsalt")
	b.Write(hdr)
	frame := func(commit bool, salt string) {
		fh := make([]byte, walFrameHeader+page)
		if commit {
			binary.BigEndian.PutUint32(fh[4:], 7)
		}
		copy(fh[8:16], salt)
		b.Write(fh)
	}
	for _, c := range commit {
		frame(c, "saltsalt")
	}
	for range stale {
		frame(true, "oldsalts")
	}
	return b.Bytes()
}

func TestLastWALCommit(t *testing.T) {
	tests := map[string]struct {
		wal    []byte
		frames int
		err    string
	}{
		"counts the frames of the last commit": {wal: walFile([]bool{true, false, false, true}, 0), frames: 3},
		"leaves out frames of no commit yet":   {wal: walFile([]bool{false, true, false}, 0), frames: 2},
		"stops at frames of an older salt":     {wal: walFile([]bool{false, true, true}, 2), frames: 1},
		"finds none in a WAL without commits":  {wal: walFile([]bool{false}, 1), frames: 0},
		"refuses a file that is not a WAL":     {wal: bytes.Repeat([]byte("x"), 100), err: "not a SQLite WAL"},
		"refuses a short file":                 {wal: []byte{0x37}, err: "WAL header"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chat.db-wal")
			if err := os.WriteFile(path, tt.wal, 0o600); err != nil {
				t.Fatal(err)
			}
			page, frames, err := lastWALCommit(path)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
			case err != nil || page != 512 || frames != tt.frames:
				t.Fatalf("lastWALCommit = %d, %d, %v; want 512, %d, nil", page, frames, err, tt.frames)
			}
		})
	}
}

// openStore opens an embedded store in a new directory, with one message
// appended, and returns the directory.
func openStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Append(context.Background(), chatserver.Message{ID: "m1", Room: "general", From: "alice", Text: "hi", CID: "c1", TS: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLastWALCommitReadsTheStoresWAL(t *testing.T) {
	dir := openStore(t)
	page, frames, err := lastWALCommit(filepath.Join(dir, sqlite.FileName+"-wal"))
	if err != nil || page != 4096 || frames == 0 {
		t.Fatalf("lastWALCommit = %d, %d, %v; want 4096 and some frames", page, frames, err)
	}
}

func TestDurableRunsBothVariantsAndRemovesItsProbe(t *testing.T) {
	servers, fakes := startFakes(t, 1, 0)
	targets, err := parseTargets(servers, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := openStore(t)
	b := &bench{cfg: testConfig(servers), targets: targets, tokens: []string{"t-bench0", "t-bench1"}, epoch: time.Now()}
	r, err := b.runDurable(context.Background(), &durableConfig{dir: dir, rounds: 6, pubs: 3, interval: time.Millisecond, target: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.variants) != 2 || r.variants[0].pubs != 1 || r.variants[1].pubs != 3 {
		t.Fatalf("variants %+v, want one of 1 publisher and one of 3", r.variants)
	}
	for _, v := range r.variants {
		if v.ack.n != uint64(6*v.pubs) || v.probe.n != 6 || v.ratio() <= 0 {
			t.Errorf("%d publishers: %d acks, %d syncs, ratio %.2f; want %d, 6 and a ratio", v.pubs, v.ack.n, v.probe.n, v.ratio(), 6*v.pubs)
		}
	}
	fakes[0].mu.Lock()
	sends := fakes[0].sends
	fakes[0].mu.Unlock()
	if want := durableCalibration + 6 + 6*3; sends != want {
		t.Errorf("the server took %d sends, want %d", sends, want)
	}
	if r.probeBytes != r.frames*(walFrameHeader+4096) || r.frames == 0 {
		t.Errorf("the probe writes %d bytes for %d frames", r.probeBytes, r.frames)
	}
	leftover, _ := filepath.Glob(filepath.Join(dir, ".chatload-fsync-*"))
	if len(leftover) > 0 {
		t.Errorf("the probe's file stayed: %v", leftover)
	}
	var out bytes.Buffer
	if code := b.reportDurable(&out, r, 2); code != 0 || strings.Count(out.String(), "durable ") != 2 {
		t.Errorf("report = %d:\n%s", code, out.String())
	}
}

func TestDurableRefusesADirectoryWithoutTheStore(t *testing.T) {
	tests := map[string]struct {
		dir, err string
	}{
		"no directory":            {"", "-fsync-dir"},
		"a directory without WAL": {t.TempDir(), "embedded mode"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			b := &bench{cfg: testConfig("http://127.0.0.1:1"), epoch: time.Now()}
			_, err := b.runDurable(context.Background(), &durableConfig{dir: tt.dir, rounds: 1, pubs: 1, interval: time.Millisecond})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want one saying %q", err, tt.err)
			}
		})
	}
}
