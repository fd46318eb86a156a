package backends

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// With every role elsewhere (Redis, MongoDB, Kafka and Elasticsearch
// configured) the server opens no SQLite database: none is created in the
// data directory, which holds only the activity spool, and /readyz checks
// the four backends and nothing else. The chat works all the same.
func TestAllExternal_Redis_FerretDB_kfake_FakeES_OpensNoSQLite(t *testing.T) {
	be := startBackends(t)
	es := startFakeES(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{
		"CHAT_DATA_DIR":          dataDir,
		"CHAT_REDIS_URL":         be.redisURL,
		"CHAT_MONGODB_URI":       be.mongoURI,
		"CHAT_MONGODB_DATABASE":  be.mongoDB,
		"CHAT_KAFKA_BROKERS":     be.brokers,
		"CHAT_KAFKA_TOPIC":       be.topic,
		"CHAT_ELASTICSEARCH_URL": es.URL,
		"CHAT_INSTANCE_ID":       "external",
		"CHAT_SHUTDOWN_TIMEOUT":  "5s",
	}
	cfg, err := config.Parse("chatserver", nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if roles := app.RolesFor(cfg); roles.Uses(app.SQLite) {
		t.Fatalf("roles %+v leave something to SQLite", roles)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := app.New(cfg, quietLog, app.Options{Listener: ln})
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	base := "http://" + srv.Addr()

	status, r := readyz(base)
	if want := []string{"elasticsearch", "kafka", "mongodb", "redis"}; status != http.StatusOK || r.Status != "ready" ||
		!slices.Equal(slices.Sorted(maps.Keys(r.Backends)), want) {
		t.Fatalf("/readyz: %d %+v; want ready with exactly %v", status, r, want)
	}
	c := chattest.Dial(t, base, chattest.Login(t, base, "alice", mpPassword))
	c.OK(map[string]any{"type": "send", "room": "general", "text": "no sqlite here", "cid": "c1"}, nil)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	wantNoSQLite(t, dataDir)
}

// wantNoSQLite fails if dir holds an SQLite database or anything but the
// activity spool.
func wantNoSQLite(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want it missing", sqlite.FileName, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != app.SpoolDirName {
			t.Errorf("the data directory holds %s", e.Name())
		}
	}
}
