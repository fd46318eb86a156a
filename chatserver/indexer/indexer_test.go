package indexer_test

// The indexer's tests run it between kfake (franz-go's Kafka broker, in a
// process of each test's own, started by chattest/standin) and a fake
// Elasticsearch (chattest/fakees), with the chat server's activity log
// producing the events.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/fakees"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/chatserver/indexer"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// quietLog keeps the retries out of the test output.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// runIndexer runs an indexer until the returned stop is called (or the test ends).
func runIndexer(t *testing.T, brokers []string, topic, group, esURL string) (stop func()) {
	t.Helper()
	_, stop = runIndexerWith(t, brokers, topic, group, esURL, nil)
	return stop
}

// runIndexerWith is runIndexer with its configuration changed by mod (when
// not nil); it also returns the indexer.
func runIndexerWith(t *testing.T, brokers []string, topic, group, esURL string, mod func(*indexer.Config)) (ix *indexer.Indexer, stop func()) {
	t.Helper()
	es, err := elastic.New(elastic.Config{URL: esURL})
	if err != nil {
		t.Fatal(err)
	}
	cfg := indexer.Config{
		Conn: kafka.Conn{Brokers: brokers}, Topic: kafka.TopicSpec{Name: topic}, Group: group,
		BatchSize: 10, FlushInterval: 100 * time.Millisecond,
		RetryBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Registerer: prometheus.NewRegistry(), Logger: quietLog,
	}
	if mod != nil {
		mod(&cfg)
	}
	ix, err = indexer.New(cfg, es)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("indexer: %v", err)
		}
	}
	t.Cleanup(stop)
	return ix, stop
}

// activityLog is the chat server's activity log on brokers, with a spool of
// the test's own.
func activityLog(t *testing.T, brokers []string, topic string) *kafka.Log {
	t.Helper()
	l, err := kafka.Open(kafka.Config{
		Conn: kafka.Conn{Brokers: brokers}, Topic: kafka.TopicSpec{Name: topic},
		SpoolDir: t.TempDir(), FlushTimeout: 500 * time.Millisecond, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// recordN records events from..to-1 of three users, in turn.
func recordN(t *testing.T, l *kafka.Log, from, to int) []chatserver.ActivityEvent {
	t.Helper()
	var evs []chatserver.ActivityEvent
	for n := from; n < to; n++ {
		ev := standin.Event([]string{"alice", "bob", "carol"}[n%3], n)
		if err := l.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// indexHolds waits until the fake index holds exactly the ids of want.
func indexHolds(t *testing.T, es *fakees.Server, want []chatserver.ActivityEvent, what string) {
	t.Helper()
	chattest.Eventually(t, 90*time.Second, what, func() bool {
		docs, _, _ := es.Snapshot()
		if len(docs) != len(want) {
			return false
		}
		for _, ev := range want {
			if _, ok := docs[ev.ID]; !ok {
				return false
			}
		}
		return true
	})
}

// failuresPast waits until the fake index has answered more than n requests
// with a failure.
func failuresPast(t *testing.T, es *fakees.Server, n int, what string) {
	t.Helper()
	chattest.Eventually(t, 60*time.Second, what, func() bool {
		_, failed, _ := es.Snapshot()
		return failed > n
	})
}

func TestIndexer_kfake_FakeES_ExactlyOnceAcrossRestartAndOutage(t *testing.T) {
	topic, group := "activity-"+standin.RandomName(), "indexer-"+standin.RandomName()
	c := standin.StartKafka(t, standin.Kafka{Topic: topic, Partitions: 3})
	l := activityLog(t, c.ListenAddrs(), topic)
	es := fakees.Start(t)

	stopFirst := runIndexer(t, c.ListenAddrs(), topic, group, es.URL)
	want := recordN(t, l, 0, 30)
	indexHolds(t, es, want, "the first 30 events are indexed")
	if _, _, installed := es.Snapshot(); !installed {
		t.Fatal("the indexer did not install its template and lifecycle policy")
	}

	// Elasticsearch goes away: the indexer retries and commits nothing, and
	// is stopped before Elasticsearch returns.
	es.SetMode(fakees.Down)
	_, failedBefore, _ := es.Snapshot()
	want = append(want, recordN(t, l, 30, 60)...)
	failuresPast(t, es, failedBefore, "the indexer meets the outage")
	stopFirst()
	want = append(want, recordN(t, l, 60, 80)...)

	// A second indexer of the same group starts against an Elasticsearch that
	// rejects part of each batch, then recovers: the events the first never
	// committed come again, some are written twice, each is indexed once.
	es.SetMode(fakees.RejectHalf)
	runIndexer(t, c.ListenAddrs(), topic, group, es.URL)
	failuresPast(t, es, failedBefore+1, "the second indexer meets the partial rejections")
	es.SetMode(fakees.Up)
	indexHolds(t, es, want, "all 80 events are indexed, each once")
	docs, _, _ := es.Snapshot()
	for _, ev := range want {
		if got := docs[ev.ID]; got.User != ev.User || got.MessageID != ev.MessageID || !got.TS.Equal(ev.TS.Truncate(time.Millisecond)) {
			t.Fatalf("indexed %+v for %+v", got, ev)
		}
	}
}

// Events recorded by the chat server's activity log while Kafka is down
// reach the index through the spool, Kafka and the indexer.
func TestEndToEnd_kfake_FakeES_ActivityLogToIndex(t *testing.T) {
	topic, group := "activity-"+standin.RandomName(), "indexer-"+standin.RandomName()
	port := chattest.FreePort(t)
	l := activityLog(t, []string{fmt.Sprint("127.0.0.1:", port)}, topic)
	want := recordN(t, l, 0, 12)
	es := fakees.Start(t)
	c := standin.StartKafka(t, standin.Kafka{Port: port, Topic: topic, Partitions: 2})
	runIndexer(t, c.ListenAddrs(), topic, group, es.URL)
	want = append(want, recordN(t, l, 12, 24)...)
	indexHolds(t, es, want, "every recorded event reaches the index")
	docs, _, _ := es.Snapshot()
	for _, ev := range want {
		got := docs[ev.ID]
		ev.TS = ev.TS.UTC().Truncate(time.Millisecond)
		if got != ev {
			t.Fatalf("indexed %+v, recorded %+v", got, ev)
		}
		if index, want := es.IndexOf(ev.ID), "chat-activity-"+ev.TS.Format("2006.01.02"); index != want {
			t.Fatalf("%s indexed into %s, want the index of its day %s", ev.ID, index, want)
		}
	}
}

// On a cluster that creates no topic by itself, an indexer that starts
// before any chat server creates the topic as configured, and is ready only
// once it did.
func TestIndexer_kfake_FakeES_CreatesTheTopicWhenFirst(t *testing.T) {
	topic, group := "activity-"+standin.RandomName(), "indexer-"+standin.RandomName()
	port := chattest.FreePort(t)
	es := fakees.Start(t)
	ix, _ := runIndexerWith(t, []string{fmt.Sprint("127.0.0.1:", port)}, topic, group, es.URL, func(c *indexer.Config) {
		c.Topic.Partitions, c.Topic.ReplicationFactor, c.Topic.Retention = 2, -1, 90*time.Minute
	})
	chattest.WantCode(t, ix.CheckKafka(context.Background()), chatserver.EUnavailable)
	c := standin.StartKafka(t, standin.Kafka{Port: port})
	chattest.Eventually(t, 60*time.Second, "the indexer is ready on the Kafka side", func() bool { return ix.CheckKafka(context.Background()) == nil })
	if n, ret, ok := standin.TopicInfo(t, c.ListenAddrs(), topic); !ok || n != 2 || ret != "5400000" {
		t.Fatalf("exists %v, %d partitions, retention.ms %q; want 2 and 5400000", ok, n, ret)
	}
	l := activityLog(t, c.ListenAddrs(), topic)
	indexHolds(t, es, recordN(t, l, 0, 6), "the events are indexed")
}
