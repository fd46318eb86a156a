package backends

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// quietLog keeps the stand-ins from printing wire dumps.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// ferret is a FerretDB (MongoDB wire protocol over SQLite) running in the test
// process until stop or the end of the test.
type ferret struct {
	uri  string
	stop func()
}

func startFerret(t *testing.T) *ferret {
	t.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    quietLog,
		Handler:   "sqlite",
		SQLiteURL: "file:" + t.TempDir() + "/",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	fr := &ferret{uri: f.MongoDBURI()}
	stopped := false
	fr.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(fr.stop)
	return fr
}

// mongoTarget returns the URI and a database name for a Mongo test: a real
// MongoDB with a fresh database when CHAT_TEST_MONGODB_URI is set, else a
// FerretDB of the test's own.
func mongoTarget(t *testing.T) (uri, database string) {
	t.Helper()
	if uri := os.Getenv("CHAT_TEST_MONGODB_URI"); uri != "" {
		return uri, "chattest_" + randomName()
	}
	return startFerret(t).uri, "chat"
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
