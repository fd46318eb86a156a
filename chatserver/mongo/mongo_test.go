package mongo_test

// The store's tests run against FerretDB (the MongoDB wire protocol over
// SQLite) in a process of each test's own, started by chattest/standin, or
// against a real MongoDB, each test in a fresh database, when
// CHAT_TEST_MONGODB_URI is set.

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	drv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/mongo"
)

// openMongo opens a store with a generous timeout: FerretDB under the race
// detector on a busy machine is slow, and these tests are about results, not
// speed (TestMongo_FerretDB_UnavailableWhenAway keeps the default).
func openMongo(t *testing.T, uri, database string) *mongo.DB {
	t.Helper()
	db, err := mongo.Open(context.Background(), mongo.Config{URI: uri, Database: database, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// newMongo opens a store on a fresh database of the test's target.
func newMongo(t *testing.T) (*mongo.DB, string, string) {
	t.Helper()
	uri, database := standin.MongoDB(t)
	return openMongo(t, uri, database), uri, database
}

// rawDB is the database of a store, reached around it, as an operator or a
// crashed process would.
func rawDB(t *testing.T, uri, database string) *drv.Database {
	t.Helper()
	client, err := drv.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(database)
}

func msg(room, from, cid string) chatserver.Message {
	return chatserver.Message{ID: "m-" + standin.RandomName(), Room: room, From: from, Text: "hello " + cid, TS: time.Now(), CID: cid}
}

func TestMongo_FerretDB_Accounts(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	created := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	for _, id := range []string{"carol", "alice", "bob"} {
		if err := db.CreateAccount(ctx, chatserver.Account{ID: id, PasswordHash: []byte("hash-" + id), Created: created}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("ConflictOnTakenID", func(t *testing.T) {
		chattest.WantCode(t, db.CreateAccount(ctx, chatserver.Account{ID: "alice", Created: created}), chatserver.EConflict)
	})
	t.Run("AccountRoundTrips", func(t *testing.T) {
		a, err := db.Account(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != "bob" || string(a.PasswordHash) != "hash-bob" || !a.Created.Equal(created.Truncate(time.Millisecond)) || !a.LastSeen.IsZero() {
			t.Fatalf("got %+v", a)
		}
	})
	t.Run("UnknownAccountIsNotFound", func(t *testing.T) {
		_, err := db.Account(ctx, "nobody")
		chattest.WantCode(t, err, chatserver.ENotFound)
	})
	t.Run("AccountsSortedByID", func(t *testing.T) {
		all, err := db.Accounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range all {
			ids = append(ids, a.ID)
		}
		if fmt.Sprint(ids) != "[alice bob carol]" {
			t.Fatalf("ids %v", ids)
		}
	})
	t.Run("SetLastSeen", func(t *testing.T) {
		seen := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
		if err := db.SetLastSeen(ctx, "carol", seen); err != nil {
			t.Fatal(err)
		}
		a, err := db.Account(ctx, "carol")
		if err != nil || !a.LastSeen.Equal(seen) {
			t.Fatalf("got %+v, %v", a, err)
		}
		chattest.WantCode(t, db.SetLastSeen(ctx, "nobody", seen), chatserver.ENotFound)
	})
}

// pageCase reads a page, and show(page) must be want.
type pageCase struct {
	read func() (chatserver.Page, error)
	want string
}

func runPages(t *testing.T, show func(chatserver.Page) string, cases map[string]pageCase) {
	t.Helper()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			if got := show(p); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestMongo_FerretDB_Pages(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		m, created, err := db.Append(ctx, msg("general", "alice", fmt.Sprint("c", i)))
		if err != nil || !created || m.Seq != int64(i) {
			t.Fatalf("append %d: %+v created=%v err=%v", i, m, created, err)
		}
	}
	seqs := func(p chatserver.Page) string {
		var s []int64
		for _, m := range p.Messages {
			s = append(s, m.Seq)
		}
		return fmt.Sprint(s, " more=", p.HasMore)
	}
	runPages(t, seqs, map[string]pageCase{
		"after 0, all fit":               {func() (chatserver.Page, error) { return db.After(ctx, "general", 0, 5) }, "[1 2 3 4 5] more=false"},
		"after 0, one short of all":      {func() (chatserver.Page, error) { return db.After(ctx, "general", 0, 4) }, "[1 2 3 4] more=true"},
		"after 3":                        {func() (chatserver.Page, error) { return db.After(ctx, "general", 3, 10) }, "[4 5] more=false"},
		"after the last":                 {func() (chatserver.Page, error) { return db.After(ctx, "general", 5, 10) }, "[] more=false"},
		"before unbounded, newest two":   {func() (chatserver.Page, error) { return db.Before(ctx, "general", 0, 2) }, "[4 5] more=true"},
		"before unbounded, all fit":      {func() (chatserver.Page, error) { return db.Before(ctx, "general", 0, 5) }, "[1 2 3 4 5] more=false"},
		"before 4, exactly what is left": {func() (chatserver.Page, error) { return db.Before(ctx, "general", 4, 3) }, "[1 2 3] more=false"},
		"before 4, one short":            {func() (chatserver.Page, error) { return db.Before(ctx, "general", 4, 2) }, "[2 3] more=true"},
		"before 1":                       {func() (chatserver.Page, error) { return db.Before(ctx, "general", 1, 10) }, "[] more=false"},
		"another room is empty":          {func() (chatserver.Page, error) { return db.After(ctx, "random", 0, 10) }, "[] more=false"},
	})
	t.Run("MessagesRoundTrip", func(t *testing.T) {
		in := msg("roundtrip", "bob", "x")
		in.TS = time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))
		stored, _, err := db.Append(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		p, err := db.After(ctx, "roundtrip", 0, 1)
		if err != nil || len(p.Messages) != 1 {
			t.Fatalf("%+v %v", p, err)
		}
		got := p.Messages[0]
		want := in
		want.Seq, want.Rev, want.TS = 1, 1, in.TS.UTC().Truncate(time.Millisecond)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(stored, want) {
			t.Fatalf("read %+v\nstored %+v\nwant %+v", got, stored, want)
		}
	})
	t.Run("NonPositiveLimitIsBadRequest", func(t *testing.T) {
		_, err := db.After(ctx, "general", 0, 0)
		chattest.WantCode(t, err, chatserver.EBadRequest)
	})
}

func TestMongo_FerretDB_AppendIdempotentCID(t *testing.T) {
	db, _, _ := newMongo(t)
	ctx := context.Background()
	first, created, err := db.Append(ctx, msg("general", "alice", "cid-1"))
	if err != nil || !created {
		t.Fatal(created, err)
	}
	again := msg("general", "alice", "cid-1")
	again.Text = "a different text, as a confused client might send"
	got, created, err := db.Append(ctx, again)
	if err != nil || created || !reflect.DeepEqual(got, first) {
		t.Fatalf("repeat: %+v created=%v err=%v, want the original %+v", got, created, err, first)
	}
	for _, m := range []chatserver.Message{msg("general", "bob", "cid-1"), msg("random", "alice", "cid-1")} {
		got, created, err := db.Append(ctx, m)
		if err != nil || !created || got.Seq != map[string]int64{"general": 2, "random": 1}[m.Room] {
			t.Fatalf("%s/%s: %+v created=%v err=%v", m.Room, m.From, got, created, err)
		}
	}
}

// Two stores on one database stand for two chat-server instances. Their
// writers race for the seqs of one room, some of them repeating a send.
func TestMongo_FerretDB_AppendConcurrentGapFree(t *testing.T) {
	uri, database := standin.MongoDB(t)
	instances := []*mongo.DB{openMongo(t, uri, database), openMongo(t, uri, database)}
	const writers, perWriter = 3, 12
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*perWriter*2)
	for i, db := range instances {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from := fmt.Sprintf("user%d-%d", i, w)
				for n := range perWriter {
					cid := fmt.Sprint("c", n)
					for range 1 + n%2 { // every other send is repeated, as after a reconnect
						if _, _, err := db.Append(ctx, msg("race", from, cid)); err != nil {
							errs <- err
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := len(instances) * writers * perWriter
	p, err := instances[0].After(ctx, "race", 0, 2*total)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != total || p.HasMore {
		t.Fatalf("%d messages stored, want %d", len(p.Messages), total)
	}
	seen := map[string]bool{}
	for i, m := range p.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: a gap or a duplicate", i, m.Seq)
		}
		key := m.From + "/" + m.CID
		if seen[key] {
			t.Fatalf("%s stored twice", key)
		}
		seen[key] = true
	}
}

func TestMongo_FerretDB_Rooms(t *testing.T) {
	db, uri, database := newMongo(t)
	ctx := context.Background()
	if err := db.EnsureRoom(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if err := db.EnsureRoom(ctx, "lobby"); err != nil {
		t.Fatalf("ensure twice: %v", err)
	}
	chattest.WantCode(t, db.EnsureRoom(ctx, "Not A Room"), chatserver.EBadRequest)
	var last chatserver.Message
	for _, m := range []chatserver.Message{msg("general", "alice", "1"), msg("general", "bob", "2"), msg("dm:alice_bob", "alice", "3"), msg("dm:bob_carol", "bob", "4")} {
		var err error
		if last, _, err = db.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	list := func(user string) string {
		t.Helper()
		rooms, err := db.Rooms(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range rooms {
			s = append(s, fmt.Sprintf("%s/%s/%d", r.ID, r.Kind, r.LastSeq))
		}
		return fmt.Sprint(s)
	}
	if got, want := list("alice"), "[dm:alice_bob/dm/1 general/public/2 lobby/public/0]"; got != want {
		t.Fatalf("alice sees %s, want %s", got, want)
	}
	if got, want := list("bob"), "[dm:alice_bob/dm/1 dm:bob_carol/dm/1 general/public/2 lobby/public/0]"; got != want {
		t.Fatalf("bob sees %s, want %s", got, want)
	}
	rooms, _ := db.Rooms(ctx, "carol")
	for _, r := range rooms {
		if r.ID == "dm:bob_carol" && !r.LastTS.Equal(last.TS) {
			t.Fatalf("last_ts %v, want %v", r.LastTS, last.TS)
		}
	}

	t.Run("RepairsASummaryACrashLeftBehind", func(t *testing.T) {
		// A process that died between inserting a message and updating its
		// room leaves the message alone in the messages collection.
		_, err := rawDB(t, uri, database).Collection("messages").InsertOne(ctx, bson.D{
			{Key: "_id", Value: "orphan"}, {Key: "room", Value: "general"}, {Key: "seq", Value: int64(3)},
			{Key: "rev", Value: int64(3)}, {Key: "revs", Value: bson.A{int64(3)}},
			{Key: "from", Value: "alice"}, {Key: "text", Value: "x"}, {Key: "ts", Value: time.Now()}, {Key: "cid", Value: "orphan"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := list("carol"), "[dm:bob_carol/dm/1 general/public/3 lobby/public/0]"; got != want {
			t.Fatalf("carol sees %s, want %s", got, want)
		}
		m, _, err := db.Append(ctx, msg("general", "carol", "after-orphan"))
		if err != nil || m.Seq != 4 || m.Rev != 4 {
			t.Fatalf("next append: %+v %v, want seq and rev 4", m, err)
		}
	})
}

func TestMongo_FerretDB_UnavailableWhenAway(t *testing.T) {
	t.Run("OpenFailsWithNoServer", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		_, err = mongo.Open(context.Background(), mongo.Config{URI: "mongodb://" + addr + "/"})
		chattest.WantCode(t, err, chatserver.EUnavailable)
	})
	t.Run("StoreAnswersUnavailableAfterServerStops", func(t *testing.T) {
		f := standin.FerretDB(t)
		db, err := mongo.Open(context.Background(), mongo.Config{URI: f.MongoDBURI()})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		if _, _, err := db.Append(ctx, msg("general", "alice", "before")); err != nil {
			t.Fatal(err)
		}
		if err := db.Check(ctx); err != nil {
			t.Fatal(err)
		}
		f.Stop()
		_, _, err = db.Append(ctx, msg("general", "alice", "after"))
		chattest.WantCode(t, err, chatserver.EUnavailable)
		chattest.WantCode(t, db.Check(ctx), chatserver.EUnavailable)
		_, err = db.After(ctx, "general", 0, 10)
		chattest.WantCode(t, err, chatserver.EUnavailable)
	})
}

func TestMongo_FerretDB_Sessions(t *testing.T) {
	db, uri, database := newMongo(t)
	ctx := context.Background()
	if err := db.CreateAccount(ctx, chatserver.Account{ID: "alice", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	live := chatserver.Session{TokenHash: "h-live", User: "alice", Created: now, Expires: now.Add(time.Hour)}
	forever := chatserver.Session{TokenHash: "h-forever", User: "alice", Created: now}
	for _, s := range []chatserver.Session{live, forever, {TokenHash: "h-old", User: "alice", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("LiveSessionsRoundTrip", func(t *testing.T) {
		for _, want := range []chatserver.Session{live, forever} {
			got, err := db.Session(ctx, want.TokenHash)
			if err != nil || got != want {
				t.Fatalf("got %+v, %v; want %+v", got, err, want)
			}
		}
	})
	t.Run("ExpiredIsUnauthorized", func(t *testing.T) {
		_, err := db.Session(ctx, "h-old")
		chattest.WantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("UnknownIsUnauthorized", func(t *testing.T) {
		_, err := db.Session(ctx, "h-none")
		chattest.WantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("TakenHashIsConflict", func(t *testing.T) {
		chattest.WantCode(t, db.CreateSession(ctx, live), chatserver.EConflict)
	})
	t.Run("ASignInDeletesTheExpired", func(t *testing.T) {
		sessions := rawDB(t, uri, database).Collection("sessions")
		n, err := sessions.CountDocuments(ctx, bson.D{{Key: "_id", Value: "h-old"}})
		if err != nil || n != 0 {
			t.Fatalf("expired session documents: %d, %v", n, err)
		}
		n, err = sessions.CountDocuments(ctx, bson.D{})
		if err != nil || n != 2 {
			t.Fatalf("%d session documents, want the 2 live ones: %v", n, err)
		}
	})
	t.Run("UnknownUserIsNotFound", func(t *testing.T) {
		chattest.WantCode(t, db.CreateSession(ctx, chatserver.Session{TokenHash: "h-x", User: "nobody", Created: now}), chatserver.ENotFound)
	})
	t.Run("DeleteEndsIt", func(t *testing.T) {
		if err := db.DeleteSession(ctx, "h-live"); err != nil {
			t.Fatal(err)
		}
		_, err := db.Session(ctx, "h-live")
		chattest.WantCode(t, err, chatserver.EUnauthorized)
		if err := db.DeleteSession(ctx, "h-live"); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
	})
}
