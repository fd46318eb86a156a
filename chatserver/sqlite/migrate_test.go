package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
)

// TestMigrateVersion3 opens a database made with the schema of version 3
// (testdata/schema-v3.sql) that holds public and DM rooms: its messages
// get rev = seq, its rooms the rev of their last message, its DMs stay
// listed to their members, and new messages and changes go on from there.
func TestMigrateVersion3(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	schema, err := os.ReadFile(filepath.Join("testdata", "schema-v3.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db := openMadeBy(t, dir, []any{nanos(time0)},
		string(schema),
		`INSERT INTO rooms (id, kind, member_a, member_b, last_seq, last_ts) VALUES
			('general', 'public', NULL, NULL, 3, ?1), ('empty', 'public', NULL, NULL, 0, 0),
			('dm:alice_bob', 'dm', 'alice', 'bob', 2, ?1), ('dm:bob_carol', 'dm', 'bob', 'carol', 0, 0)`,
		`INSERT INTO messages (room, seq, id, from_user, text, ts, cid) VALUES
			('general', 1, 'm1', 'alice', 'one', ?1, 'c1'), ('general', 2, 'm2', 'bob', 'two', ?1, 'c2'),
			('general', 3, 'm3', 'alice', 'three', ?1, 'c3'),
			('dm:alice_bob', 1, 'm4', 'bob', 'hi', ?1, 'c4'), ('dm:alice_bob', 2, 'm5', 'bob', 'there', ?1, 'c5')`,
	)

	old := message(t, db, "general", 2)
	want := chatserver.Message{ID: "m2", Room: "general", Seq: 2, From: "bob", Text: "two", TS: time0, CID: "c2", Rev: 2}
	if !sameMessage(old, want) {
		t.Fatalf("a message of before: %+v, want %+v", old, want)
	}
	public := func(id string, seq, unread int64) chatserver.RoomInfo {
		r := chatserver.RoomInfo{ID: id, Kind: chatserver.RoomKindPublic, LastSeq: seq, Rev: seq, Unread: unread}
		if seq > 0 {
			r.LastTS = time0
		}
		return r
	}
	alicesDM := chatserver.RoomInfo{ID: "dm:alice_bob", Kind: chatserver.RoomKindDM, Members: []string{"alice", "bob"},
		LastSeq: 2, LastTS: time0, Rev: 2, Unread: 2}
	bobsDM := chatserver.RoomInfo{ID: "dm:bob_carol", Kind: chatserver.RoomKindDM, Members: []string{"bob", "carol"}}
	for user, want := range map[string][]chatserver.RoomInfo{
		"alice": {alicesDM, public("empty", 0, 0), public("general", 3, 1)},
		"carol": {bobsDM, public("empty", 0, 0), public("general", 3, 3)},
		"dave":  {public("empty", 0, 0), public("general", 3, 3)},
	} {
		if got, err := db.Rooms(ctx, user); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Rooms(%s): %v\n got %+v\nwant %+v", user, err, got, want)
		}
	}

	again, created, err := db.Append(ctx, msg("general", "bob", "c2"))
	if err != nil || created || !sameMessage(again, old) {
		t.Fatalf("repeated send of before: %+v created %v err %v; want %+v", again, created, err, old)
	}
	m, _, err := db.Append(ctx, msg("general", "carol", "c6"))
	if err != nil || m.Seq != 4 || m.Rev != 4 {
		t.Fatalf("new message: seq %d rev %d err %v; want 4 4", m.Seq, m.Rev, err)
	}
	if m, _ := update(t, db, "general", 1, edit("edited")); m.Rev != 5 {
		t.Fatalf("edit: rev %d, want 5", m.Rev)
	}
	p, err := db.Changes(ctx, "general", 2, 10)
	if err != nil || !slices.Equal(seqs(p.Messages), []int64{3, 4, 1}) || p.Rev != 5 {
		t.Fatalf("changes since rev 2: seqs %v rev %d err %v; want [3 4 1] 5", seqs(p.Messages), p.Rev, err)
	}
}

// TestMigrateVersion4IndexesMessagesForSearch opens a database at schema
// version 4 that holds messages, one of them deleted: search finds the
// others by their words, and goes on finding new and edited ones.
func TestMigrateVersion4IndexesMessagesForSearch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openMadeBy(t, dir, []any{nanos(time0)}, append(slices.Clone(migrations[:4]), `PRAGMA user_version = 4`,
		`INSERT INTO rooms (id, kind, last_seq, last_ts, rev) VALUES ('general', 'public', 3, ?1, 3), ('dm:alice_bob', 'dm', 1, ?1, 1)`,
		`INSERT INTO room_members (user_id, room) VALUES ('alice', 'dm:alice_bob'), ('bob', 'dm:alice_bob')`,
		`INSERT INTO messages (room, seq, rev, id, from_user, text, ts, cid, deleted) VALUES
			('general', 1, 1, 'm1', 'alice', 'Deployment done', ?1, 'c1', 0),
			('general', 2, 2, 'm2', 'bob', '', ?1, 'c2', 1),
			('general', 3, 3, 'm3', 'bob', 'deploy again', ?1 + 1, 'c3', 0),
			('dm:alice_bob', 1, 1, 'm4', 'bob', 'deploy secret', ?1 + 2, 'c4', 0)`,
	)...)
	ids := func(reader string, words ...string) ([]string, int64) {
		t.Helper()
		res, err := db.SearchMessages(ctx, chatserver.SearchQuery{Reader: reader, Words: words, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return collect(res.Messages, func(m chatserver.Message) string { return m.ID }), res.Total
	}
	if got, total := ids("alice", "deploy"); !slices.Equal(got, []string{"m4", "m3", "m1"}) || total != 3 {
		t.Fatalf("alice's search of before: %v, total %d; want [m4 m3 m1], 3", got, total)
	}
	if got, total := ids("carol", "deploy"); !slices.Equal(got, []string{"m3", "m1"}) || total != 2 {
		t.Fatalf("carol's search of before: %v, total %d; want [m3 m1], 2", got, total)
	}
	update(t, db, "general", 1, edit("rolled back"))
	if _, _, err := db.Append(ctx, msg("general", "carol", "deploy-later")); err != nil {
		t.Fatal(err)
	}
	if got, _ := ids("carol", "deploy"); !slices.Equal(got, []string{"m3", "general/carol/deploy-later"}) {
		t.Fatalf("after an edit and a send: %v; want [m3 general/carol/deploy-later]", got)
	}
}

// openMadeBy makes the database in dir with stmts, each run with args on one
// connection, as an older version of the server left it, and opens it with
// Open, which migrates it; it is closed when the test ends.
func openMadeBy(t *testing.T, dir string, args []any, stmts ...string) *DB {
	t.Helper()
	raw, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	for _, stmt := range stmts {
		if _, err := raw.Exec(stmt, args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	return openDir(t, dir)
}
