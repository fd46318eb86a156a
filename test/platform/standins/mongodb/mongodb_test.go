package mongodb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/internal/proctest"
	"github.com/chatcluster/chatcluster/test/platform/standins/mongodb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args []string
		want mongodb.Config
	}{
		{nil, mongodb.Config{Port: 27017, DBPath: "/data/db"}},
		{[]string{"--bind_ip_all"}, mongodb.Config{Port: 27017, DBPath: "/data/db"}}, // what the operator passes
		{[]string{"mongod", "--bind_ip_all", "--port", "27018", "--dbpath=/srv/db"}, mongodb.Config{Port: 27018, DBPath: "/srv/db"}},
		{[]string{"--bind_ip", "127.0.0.1", "--wiredTigerCacheSizeGB", "0.25"}, mongodb.Config{Port: 27017, BindIP: "127.0.0.1", DBPath: "/data/db"}},
	}
	for _, c := range cases {
		got, err := mongodb.ParseArgs(c.args, standins.Env{})
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v", c.args, got, err)
		}
	}
	for _, args := range [][]string{{"--auth"}, {"--replSet", "rs0"}, {"--port"}, {"--port", "x"}, {"bash"}, {"--bind_ip", "a,b"}} {
		_, err := mongodb.ParseArgs(args, standins.Env{})
		var ee *standins.ExitError
		if err == nil || !errorsAs(err, &ee) || ee.Status != 2 {
			t.Errorf("%q accepted or wrong status: %v", args, err)
		}
	}
	if _, err := mongodb.ParseArgs(nil, standins.Env{"MONGO_INITDB_ROOT_USERNAME": "root", "MONGO_INITDB_ROOT_PASSWORD": "x"}); err == nil {
		t.Error("root user creation accepted")
	}
}

func errorsAs(err error, target **standins.ExitError) bool {
	e, ok := err.(*standins.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// serve runs the stand-in on dir until the returned stop is called.
func serve(t *testing.T, dir string, port int) (stop func()) {
	t.Helper()
	cfg, err := mongodb.ParseArgs([]string{"--bind_ip_all", "--port", fmt.Sprint(port), "--dbpath", dir}, standins.Env{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mongodb.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func connect(t *testing.T, port int) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(fmt.Sprintf("mongodb://127.0.0.1:%d/chat", port)).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func TestFerretDB_PingInsertFindRestart(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil { // an ext4 volume's root
		t.Fatal(err)
	}
	port := proctest.FreePortNumber(t)
	stop := serve(t, dir, port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connect(t, port)
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatal("ping:", err)
	}
	users := c.Database("chat").Collection("users")
	if _, err := users.InsertOne(ctx, bson.M{"_id": "alice", "name": "Alice"}); err != nil {
		t.Fatal("insert:", err)
	}
	if _, err := users.InsertOne(ctx, bson.M{"_id": "alice"}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id: %v", err)
	}
	var got bson.M
	if err := users.FindOne(ctx, bson.M{"_id": "alice"}).Decode(&got); err != nil || got["name"] != "Alice" {
		t.Fatalf("find: %v %v", got, err)
	}
	_ = c.Disconnect(ctx)
	stop()

	serve(t, dir, port)
	c2 := connect(t, port)
	if err := c2.Database("chat").Collection("users").FindOne(ctx, bson.M{"_id": "alice"}).Decode(&got); err != nil || got["name"] != "Alice" {
		t.Fatalf("find after restart: %v %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !strings.Contains(strings.Join(names, " "), "chat.sqlite") {
		t.Fatalf("data not under --dbpath: %v", names)
	}
}

func TestStart_RefusesAMissingDBPath(t *testing.T) {
	cfg := mongodb.Config{Port: proctest.FreePortNumber(t), DBPath: filepath.Join(t.TempDir(), "nope")}
	_, err := mongodb.Start(cfg, quiet)
	if err == nil || !strings.Contains(err.Error(), "NonExistentPath") {
		t.Fatalf("missing dbpath: %v", err)
	}
}
