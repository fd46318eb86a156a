package kafka_test

// The tests of the activity log and of the topic run against kfake
// (franz-go's Kafka broker) in a process of each test's own, started by
// chattest/standin. Like a production cluster it creates no topic by
// itself: only an explicit CreateTopics makes one. What the log produced is
// read back with kafka-go's low-level requests, not with the producer under
// test.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// quietLog keeps the producer's retries out of the test output.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// startKafka runs kfake with topic made with partitions (none when
// partitions is 0), on port when it is not 0.
func startKafka(t *testing.T, port int, topic string, partitions int) *standin.Process {
	t.Helper()
	return standin.StartKafka(t, standin.Kafka{Port: port, Topic: topic, Partitions: partitions})
}

// downBrokers returns the address of a broker that is not there yet, and
// its port, to start it on later.
func downBrokers(t *testing.T) ([]string, int) {
	t.Helper()
	port := chattest.FreePort(t)
	return []string{fmt.Sprint("127.0.0.1:", port)}, port
}

func openLog(t *testing.T, brokers []string, topic, dir string) *kafka.Log {
	t.Helper()
	return openLogSegments(t, brokers, topic, dir, 0)
}

func openLogSegments(t *testing.T, brokers []string, topic, dir string, segmentBytes int64) *kafka.Log {
	t.Helper()
	l, err := kafka.Open(kafka.Config{
		Conn: kafka.Conn{Brokers: brokers}, Topic: kafka.TopicSpec{Name: topic}, SpoolDir: dir,
		FlushTimeout: 500 * time.Millisecond, SegmentBytes: segmentBytes, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// recordEach records user's events from..to-1, one Record call each.
func recordEach(t *testing.T, l *kafka.Log, user string, from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := l.Record(context.Background(), standin.Event(user, n)); err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
	}
}

// readInOrder reads the topic and wants exactly user's events 0..n-1, in order.
func readInOrder(t *testing.T, brokers []string, topic, user string, n int) {
	t.Helper()
	recs := standin.Consume(t, brokers, topic, n)
	for i, r := range recs {
		if want := standin.Event(user, i).ID; r.Event.ID != want {
			t.Fatalf("record %d is %s, want %s", i, r.Event.ID, want)
		}
	}
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
}

// backlogDrains waits until the log's spool is empty.
func backlogDrains(t *testing.T, l *kafka.Log, what string) {
	t.Helper()
	chattest.Eventually(t, 60*time.Second, what, func() bool { return l.Backlog() == 0 })
}

func TestKafka_kfake_RecordProducesKeyedAndOrderedPerUser(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	c := startKafka(t, 0, topic, 3)
	l := openLog(t, c.ListenAddrs(), topic, t.TempDir())
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	const perUser = 20
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for n := 0; n < perUser; n += 2 {
				if err := l.Record(context.Background(), standin.Event(u, n), standin.Event(u, n+1)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	recs := standin.Consume(t, c.ListenAddrs(), topic, len(users)*perUser)
	next := map[string]int{}
	partition := map[string]int{}
	for _, r := range recs {
		if r.Key != r.Event.User {
			t.Fatalf("key %q for an event of %q", r.Key, r.Event.User)
		}
		if p, ok := partition[r.Key]; ok && p != r.Partition {
			t.Fatalf("%s's events in partitions %d and %d", r.Key, p, r.Partition)
		}
		partition[r.Key] = r.Partition
		if want := standin.Event(r.Key, next[r.Key]).ID; r.Event.ID != want {
			t.Fatalf("read %s, want %s: out of order or duplicated", r.Event.ID, want)
		}
		next[r.Key]++
	}
	backlogDrains(t, l, "the spool is empty once Kafka has everything")
}

func TestKafka_kfake_SpoolSurvivesBrokerDown(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	brokers, port := downBrokers(t)
	l := openLog(t, brokers, topic, t.TempDir())
	ctx := context.Background()
	recordEach(t, l, "alice", 0, 10)
	chattest.WantCode(t, l.Check(ctx), chatserver.EUnavailable)
	if got := l.Backlog(); got != 10 {
		t.Fatalf("backlog %d, want 10", got)
	}
	c := startKafka(t, port, topic, 1)
	backlogDrains(t, l, "the spool drains once Kafka is up")
	if err := l.Check(ctx); err != nil {
		t.Fatal(err)
	}
	readInOrder(t, c.ListenAddrs(), topic, "alice", 10)
}

func TestKafka_kfake_SpoolResumesAfterRestart(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	brokers, port := downBrokers(t)
	dir := t.TempDir()
	ctx := context.Background()

	first := openLog(t, brokers, topic, dir)
	if _, err := kafka.Open(kafka.Config{Conn: kafka.Conn{Brokers: brokers}, Topic: kafka.TopicSpec{Name: topic}, SpoolDir: dir}); err == nil {
		t.Fatal("a second Log opened a spool in use")
	}
	recordEach(t, first, "bob", 0, 6)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	chattest.WantCode(t, first.Record(ctx, standin.Event("bob", 99)), chatserver.EUnavailable)

	// A crash in the middle of an append leaves a torn record at the end of
	// the newest segment; it was never acknowledged and must not be produced.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no spool segment")
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 0, 40, 1, 2, 3, 4, '{', '"'})
	_ = f.Close()

	second := openLog(t, brokers, topic, dir)
	if got := second.Backlog(); got != 6 {
		t.Fatalf("backlog after restart %d, want 6", got)
	}
	recordEach(t, second, "bob", 6, 7)
	c := startKafka(t, port, topic, 1)
	backlogDrains(t, second, "the resumed spool drains")
	readInOrder(t, c.ListenAddrs(), topic, "bob", 7)
}

// Small segments make the spool rotate many times: the events cross
// segment boundaries while Kafka is down, across a restart, and the
// segments Kafka has all of are deleted.
func TestKafka_kfake_SpoolRotatesAndTrimsSegments(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	brokers, port := downBrokers(t)
	dir := t.TempDir()
	segments := func() int {
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(segs)
	}

	first := openLogSegments(t, brokers, topic, dir, 1024)
	recordEach(t, first, "carol", 0, 30)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if segments() < 3 {
		t.Fatalf("%d segments for 30 events of about 150 bytes in 1 KiB segments", segments())
	}
	second := openLogSegments(t, brokers, topic, dir, 1024)
	recordEach(t, second, "carol", 30, 60)
	c := startKafka(t, port, topic, 1)
	backlogDrains(t, second, "the spool drains")
	if n := segments(); n != 1 {
		t.Fatalf("%d segments left once Kafka has everything, want only the one being written", n)
	}
	readInOrder(t, c.ListenAddrs(), topic, "carol", 60)
}

// On a cluster that creates no topic by itself, the producer creates the
// activity topic as configured, also when Kafka comes up only after the
// events were spooled.
func TestKafka_kfake_ProducerCreatesTheTopic(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	brokers, port := downBrokers(t)
	l, err := kafka.Open(kafka.Config{
		Conn:         kafka.Conn{Brokers: brokers},
		Topic:        kafka.TopicSpec{Name: topic, Partitions: 5, ReplicationFactor: -1, Retention: 36 * time.Hour},
		SpoolDir:     t.TempDir(),
		FlushTimeout: 500 * time.Millisecond, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	recordEach(t, l, "dave", 0, 5)
	c := startKafka(t, port, "", 0)
	backlogDrains(t, l, "the spool drains into the topic the producer created")
	if n, ret, ok := standin.TopicInfo(t, c.ListenAddrs(), topic); !ok || n != 5 || ret != "129600000" {
		t.Fatalf("exists %v, %d partitions, retention.ms %q; want 5 and 129600000", ok, n, ret)
	}
	if err := l.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	readInOrder(t, c.ListenAddrs(), topic, "dave", 5)

	// The topic deleted while the server runs is created again, as configured.
	standin.DeleteTopic(t, c.ListenAddrs(), topic)
	recordEach(t, l, "erin", 0, 3)
	backlogDrains(t, l, "the spool drains into the topic created again")
	if n, _, ok := standin.TopicInfo(t, c.ListenAddrs(), topic); !ok || n != 5 {
		t.Fatalf("created again: exists %v, %d partitions; want 5", ok, n)
	}
	readInOrder(t, c.ListenAddrs(), topic, "erin", 3)
}
