package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// startKafka runs a kfake broker with topic seeded, on port when it is not 0.
func startKafka(t *testing.T, port int, topic string, partitions int32) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// freePort returns a local port nothing listens on (for now).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func openLog(t *testing.T, brokers []string, topic, dir string) *kafka.Log {
	t.Helper()
	return openLogSegments(t, brokers, topic, dir, 0)
}

func openLogSegments(t *testing.T, brokers []string, topic, dir string, segmentBytes int64) *kafka.Log {
	t.Helper()
	l, err := kafka.Open(kafka.Config{
		Conn: kafka.Conn{Brokers: brokers}, Topic: topic, SpoolDir: dir,
		FlushTimeout: 500 * time.Millisecond, SegmentBytes: segmentBytes, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// consumed is one record read back from the topic.
type consumed struct {
	partition int32
	key       string
	event     chatserver.ActivityEvent
}

// consume reads the topic from the start, with franz-go rather than the
// client under test, until it holds at least n records.
func consume(t *testing.T, brokers []string, topic string, n int) []consumed {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []consumed
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var ev chatserver.ActivityEvent
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Errorf("record %q: %v", r.Value, err)
			}
			out = append(out, consumed{r.Partition, string(r.Key), ev})
		})
	}
	return out
}

func activity(user string, n int) chatserver.ActivityEvent {
	return chatserver.ActivityEvent{
		ID: fmt.Sprintf("%s-%03d", user, n), Type: chatserver.ActivityMessage, TS: time.Now(),
		User: user, Room: "general", MessageID: fmt.Sprintf("m-%s-%d", user, n),
	}
}

// recordEach records user's events from..to-1, one Record call each.
func recordEach(t *testing.T, l *kafka.Log, user string, from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := l.Record(context.Background(), activity(user, n)); err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
	}
}

// readInOrder reads the topic and wants exactly user's events 0..n-1, in order.
func readInOrder(t *testing.T, brokers []string, topic, user string, n int) {
	t.Helper()
	recs := consume(t, brokers, topic, n)
	for i, r := range recs {
		if want := fmt.Sprintf("%s-%03d", user, i); r.event.ID != want {
			t.Fatalf("record %d is %s, want %s", i, r.event.ID, want)
		}
	}
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
}

func TestKafka_kfake_RecordProducesKeyedAndOrderedPerUser(t *testing.T) {
	topic := "activity-" + randomName()
	c := startKafka(t, 0, topic, 3)
	l := openLog(t, c.ListenAddrs(), topic, t.TempDir())
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	const perUser = 20
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < perUser; n += 2 {
				if err := l.Record(context.Background(), activity(u, n), activity(u, n+1)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	recs := consume(t, c.ListenAddrs(), topic, len(users)*perUser)
	next := map[string]int{}
	partition := map[string]int32{}
	for _, r := range recs {
		if r.key != r.event.User {
			t.Fatalf("key %q for an event of %q", r.key, r.event.User)
		}
		if p, ok := partition[r.key]; ok && p != r.partition {
			t.Fatalf("%s's events in partitions %d and %d", r.key, p, r.partition)
		}
		partition[r.key] = r.partition
		if want := fmt.Sprintf("%s-%03d", r.key, next[r.key]); r.event.ID != want {
			t.Fatalf("read %s, want %s: out of order or duplicated", r.event.ID, want)
		}
		next[r.key]++
	}
	eventually(t, 30*time.Second, "the spool is empty once Kafka has everything", func() bool { return l.Backlog() == 0 })
}

func TestKafka_kfake_SpoolSurvivesBrokerDown(t *testing.T) {
	topic := "activity-" + randomName()
	port := freePort(t)
	brokers := []string{fmt.Sprint("127.0.0.1:", port)}
	l := openLog(t, brokers, topic, t.TempDir())
	ctx := context.Background()
	recordEach(t, l, "alice", 0, 10)
	wantCode(t, l.Check(ctx), chatserver.EUnavailable)
	if got := l.Backlog(); got != 10 {
		t.Fatalf("backlog %d, want 10", got)
	}
	c := startKafka(t, port, topic, 1)
	eventually(t, 60*time.Second, "the spool drains once Kafka is up", func() bool { return l.Backlog() == 0 })
	if err := l.Check(ctx); err != nil {
		t.Fatal(err)
	}
	readInOrder(t, c.ListenAddrs(), topic, "alice", 10)
}

func TestKafka_kfake_SpoolResumesAfterRestart(t *testing.T) {
	topic := "activity-" + randomName()
	port := freePort(t)
	brokers := []string{fmt.Sprint("127.0.0.1:", port)}
	dir := t.TempDir()
	ctx := context.Background()

	first := openLog(t, brokers, topic, dir)
	if _, err := kafka.Open(kafka.Config{Conn: kafka.Conn{Brokers: brokers}, Topic: topic, SpoolDir: dir}); err == nil {
		t.Fatal("a second Log opened a spool in use")
	}
	recordEach(t, first, "bob", 0, 6)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, first.Record(ctx, activity("bob", 99)), chatserver.EUnavailable)

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
	eventually(t, 60*time.Second, "the resumed spool drains", func() bool { return second.Backlog() == 0 })
	readInOrder(t, c.ListenAddrs(), topic, "bob", 7)
}

// Small segments make the spool rotate many times: the events cross
// segment boundaries while Kafka is down, across a restart, and the
// segments Kafka has all of are deleted.
func TestKafka_kfake_SpoolRotatesAndTrimsSegments(t *testing.T) {
	topic := "activity-" + randomName()
	port := freePort(t)
	brokers := []string{fmt.Sprint("127.0.0.1:", port)}
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
	eventually(t, 60*time.Second, "the spool drains", func() bool { return second.Backlog() == 0 })
	if n := segments(); n != 1 {
		t.Fatalf("%d segments left once Kafka has everything, want only the one being written", n)
	}
	readInOrder(t, c.ListenAddrs(), topic, "carol", 60)
}
