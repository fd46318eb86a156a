package backends

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/chatserver/indexer"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

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

func recordN(t *testing.T, l *kafka.Log, from, to int) []chatserver.ActivityEvent {
	t.Helper()
	var evs []chatserver.ActivityEvent
	for n := from; n < to; n++ {
		ev := activity([]string{"alice", "bob", "carol"}[n%3], n)
		if err := l.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// indexHolds waits until the fake index holds exactly the ids of want.
func indexHolds(t *testing.T, es *fakeES, want []chatserver.ActivityEvent, what string) {
	t.Helper()
	eventually(t, 90*time.Second, what, func() bool {
		docs, _, _ := es.snapshot()
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

func TestIndexer_kfake_FakeES_ExactlyOnceAcrossRestartAndOutage(t *testing.T) {
	topic, group := "activity-"+randomName(), "indexer-"+randomName()
	c := startKafka(t, 0, topic, 3)
	l := openLog(t, c.ListenAddrs(), topic, t.TempDir())
	es := startFakeES(t)

	stopFirst := runIndexer(t, c.ListenAddrs(), topic, group, es.URL)
	want := recordN(t, l, 0, 30)
	indexHolds(t, es, want, "the first 30 events are indexed")
	if _, _, installed := es.snapshot(); !installed {
		t.Fatal("the indexer did not install its template and lifecycle policy")
	}

	// Elasticsearch goes away: the indexer retries and commits nothing, and
	// is stopped before Elasticsearch returns.
	es.setMode(esDown)
	_, failedBefore, _ := es.snapshot()
	want = append(want, recordN(t, l, 30, 60)...)
	eventually(t, 60*time.Second, "the indexer meets the outage", func() bool {
		_, failed, _ := es.snapshot()
		return failed > failedBefore
	})
	stopFirst()
	want = append(want, recordN(t, l, 60, 80)...)

	// A second indexer of the same group starts against an Elasticsearch that
	// rejects part of each batch, then recovers: the events the first never
	// committed come again, some are written twice, each is indexed once.
	es.setMode(esRejectHalf)
	runIndexer(t, c.ListenAddrs(), topic, group, es.URL)
	eventually(t, 60*time.Second, "the second indexer meets the partial rejections", func() bool {
		_, failed, _ := es.snapshot()
		return failed > failedBefore+1
	})
	es.setMode(esUp)
	indexHolds(t, es, want, "all 80 events are indexed, each once")
	docs, _, _ := es.snapshot()
	for _, ev := range want {
		if got := docs[ev.ID]; got.User != ev.User || got.MessageID != ev.MessageID || !got.TS.Equal(ev.TS.Truncate(time.Millisecond)) {
			t.Fatalf("indexed %+v for %+v", got, ev)
		}
	}
}

// Events recorded by the chat server's activity log while Kafka is down
// reach the index through the spool, Kafka and the indexer.
func TestEndToEnd_kfake_FakeES_ActivityLogToIndex(t *testing.T) {
	topic, group := "activity-"+randomName(), "indexer-"+randomName()
	port := freePort(t)
	brokers := []string{fmt.Sprint("127.0.0.1:", port)}
	l := openLog(t, brokers, topic, t.TempDir())
	want := recordN(t, l, 0, 12)
	es := startFakeES(t)
	c := startKafka(t, port, topic, 2)
	runIndexer(t, c.ListenAddrs(), topic, group, es.URL)
	want = append(want, recordN(t, l, 12, 24)...)
	indexHolds(t, es, want, "every recorded event reaches the index")
	docs, _, _ := es.snapshot()
	for _, ev := range want {
		got := docs[ev.ID]
		ev.TS = ev.TS.UTC().Truncate(time.Millisecond)
		if got != ev {
			t.Fatalf("indexed %+v, recorded %+v", got, ev)
		}
		if index, want := es.indexOf(ev.ID), "chat-activity-"+ev.TS.Format("2006.01.02"); index != want {
			t.Fatalf("%s indexed into %s, want the index of its day %s", ev.ID, index, want)
		}
	}
}

// On a cluster that creates no topic by itself, an indexer that starts
// before any chat server creates the topic as configured, and is ready only
// once it did.
func TestIndexer_kfake_FakeES_CreatesTheTopicWhenFirst(t *testing.T) {
	topic, group := "activity-"+randomName(), "indexer-"+randomName()
	port := freePort(t)
	brokers := []string{fmt.Sprint("127.0.0.1:", port)}
	es := startFakeES(t)
	ix, _ := runIndexerWith(t, brokers, topic, group, es.URL, func(c *indexer.Config) {
		c.Topic.Partitions, c.Topic.ReplicationFactor, c.Topic.Retention = 2, -1, 90*time.Minute
	})
	wantCode(t, ix.CheckKafka(context.Background()), chatserver.EUnavailable)
	c := startKafka(t, port, "", 0)
	eventually(t, 60*time.Second, "the indexer is ready on the Kafka side", func() bool { return ix.CheckKafka(context.Background()) == nil })
	if n, ret, ok := topicInfo(t, c.ListenAddrs(), topic); !ok || n != 2 || ret != "5400000" {
		t.Fatalf("exists %v, %d partitions, retention.ms %q; want 2 and 5400000", ok, n, ret)
	}
	l := openLog(t, c.ListenAddrs(), topic, t.TempDir())
	indexHolds(t, es, recordN(t, l, 0, 6), "the events are indexed")
}
