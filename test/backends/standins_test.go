package backends

import (
	"log/slog"
	"os"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver/chattest/fakees"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
)

// The stand-ins of the data backends are those of the packages' own tests:
// FerretDB and kfake in a process of each test's own (chattest/standin), a
// fake Elasticsearch in the test process (chattest/fakees).

// quietLog keeps the servers in the test process from printing their retries.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// mongoTarget returns the URI and a database name for a test: a real
// MongoDB with a fresh database when CHAT_TEST_MONGODB_URI is set, else a
// FerretDB of the test's own.
func mongoTarget(t *testing.T) (uri, database string) {
	t.Helper()
	return standin.MongoDB(t)
}

// startKafka runs kfake with topic made with partitions (none when
// partitions is 0), on port when it is not 0.
func startKafka(t *testing.T, port int, topic string, partitions int) *standin.Process {
	t.Helper()
	return standin.StartKafka(t, standin.Kafka{Port: port, Topic: topic, Partitions: partitions})
}

func startFakeES(t *testing.T) *fakees.Server { return fakees.Start(t) }

func randomName() string { return standin.RandomName() }
