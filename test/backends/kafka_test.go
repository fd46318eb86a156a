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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// startKafka runs a kfake broker with topic seeded (none when partitions is
// 0), on port when it is not 0. Topics are never created automatically, as
// on a production cluster: only an explicit CreateTopics makes one.
func startKafka(t *testing.T, port int, topic string, partitions int32) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if partitions > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topic))
	}
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
		Conn: kafka.Conn{Brokers: brokers}, Topic: kafka.TopicSpec{Name: topic}, SpoolDir: dir,
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
	if _, err := kafka.Open(kafka.Config{Conn: kafka.Conn{Brokers: brokers}, Topic: kafka.TopicSpec{Name: topic}, SpoolDir: dir}); err == nil {
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

// topicInfo asks the cluster, with franz-go rather than the client under
// test, for topic's partition count and retention.ms; exists is false when
// the cluster does not know it.
func topicInfo(t *testing.T, brokers []string, topic string) (partitions int, retentionMS string, exists bool) {
	t.Helper()
	cl, ctx := adminClient(t, brokers)
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mres, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mres.Topics) != 1 || mres.Topics[0].ErrorCode != 0 {
		return 0, "", false
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName, dr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
	dreq.Resources = append(dreq.Resources, dr)
	dres, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range dres.Resources {
		for _, c := range r.Configs {
			if c.Name == "retention.ms" && c.Value != nil {
				retentionMS = *c.Value
			}
		}
	}
	return len(mres.Topics[0].Partitions), retentionMS, true
}

func TestKafka_kfake_EnsureTopicCreatesThenAlignsRetention(t *testing.T) {
	topic := "activity-" + randomName()
	c := startKafka(t, 0, "", 0)
	conn := kafka.Conn{Brokers: c.ListenAddrs()}
	ctx := context.Background()
	if _, _, exists := topicInfo(t, c.ListenAddrs(), topic); exists {
		t.Fatal("the topic exists before anybody created it")
	}
	// -1: the brokers' default replication factor.
	spec := kafka.TopicSpec{Name: topic, Partitions: 4, ReplicationFactor: -1, Retention: 2 * time.Hour}
	if err := conn.EnsureTopic(ctx, spec, quietLog); err != nil {
		t.Fatal(err)
	}
	if n, ret, ok := topicInfo(t, c.ListenAddrs(), topic); !ok || n != 4 || ret != "7200000" {
		t.Fatalf("created: exists %v, %d partitions, retention.ms %q; want 4 and 7200000", ok, n, ret)
	}
	// Again, as every instance does at its start: success, and an existing
	// topic gets the configured retention but keeps its partitions.
	spec.Partitions, spec.Retention = 6, 3*time.Hour
	if err := conn.EnsureTopic(ctx, spec, quietLog); err != nil {
		t.Fatalf("ensuring an existing topic: %v", err)
	}
	if n, ret, _ := topicInfo(t, c.ListenAddrs(), topic); n != 4 || ret != "10800000" {
		t.Fatalf("ensured again: %d partitions, retention.ms %q; want 4 and 10800000", n, ret)
	}
	// Kafka away is unavailable, for the caller to retry.
	down := kafka.Conn{Brokers: []string{fmt.Sprint("127.0.0.1:", freePort(t))}}
	wantCode(t, down.EnsureTopic(ctx, spec, quietLog), chatserver.EUnavailable)
}

// On a cluster that creates no topic by itself, the producer creates the
// activity topic as configured, also when Kafka comes up only after the
// events were spooled.
func TestKafka_kfake_ProducerCreatesTheTopic(t *testing.T) {
	topic := "activity-" + randomName()
	port := freePort(t)
	brokers := []string{fmt.Sprint("127.0.0.1:", port)}
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
	eventually(t, 60*time.Second, "the spool drains into the topic the producer created", func() bool { return l.Backlog() == 0 })
	if n, ret, ok := topicInfo(t, c.ListenAddrs(), topic); !ok || n != 5 || ret != "129600000" {
		t.Fatalf("exists %v, %d partitions, retention.ms %q; want 5 and 129600000", ok, n, ret)
	}
	if err := l.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	readInOrder(t, c.ListenAddrs(), topic, "dave", 5)

	// The topic deleted while the server runs is created again, as configured.
	deleteTopic(t, c.ListenAddrs(), topic)
	recordEach(t, l, "erin", 0, 3)
	eventually(t, 60*time.Second, "the spool drains into the topic created again", func() bool { return l.Backlog() == 0 })
	if n, _, ok := topicInfo(t, c.ListenAddrs(), topic); !ok || n != 5 {
		t.Fatalf("created again: exists %v, %d partitions; want 5", ok, n)
	}
	readInOrder(t, c.ListenAddrs(), topic, "erin", 3)
}

// adminClient is a franz-go client of brokers, closed with the test, and a
// context that bounds its requests.
func adminClient(t *testing.T, brokers []string) (*kgo.Client, context.Context) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return cl, ctx
}

func deleteTopic(t *testing.T, brokers []string, topic string) {
	t.Helper()
	cl, ctx := adminClient(t, brokers)
	req := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	req.Topics, req.TopicNames = append(req.Topics, dt), []string{topic}
	res, err := req.RequestWith(ctx, cl)
	if err != nil || len(res.Topics) != 1 || res.Topics[0].ErrorCode != 0 {
		t.Fatalf("deleting %s: %v %+v", topic, err, res)
	}
	if _, _, exists := topicInfo(t, brokers, topic); exists {
		t.Fatalf("%s still exists", topic)
	}
}

// A cluster where the chat server may not create topics (its user lacks the
// CREATE permission, as where administrators make the topics): the topic
// they made is used as it is, and a missing one is an error to retry.
func TestKafka_kfake_TopicMadeByAdministratorsIsUsed(t *testing.T) {
	topic := "activity-" + randomName()
	c := startKafka(t, 0, topic, 2)
	c.ControlKey(int16(kmsg.CreateTopics), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.CreateTopicsRequest)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	conn := kafka.Conn{Brokers: c.ListenAddrs()}
	ctx := context.Background()
	if err := conn.EnsureTopic(ctx, kafka.TopicSpec{Name: topic, Partitions: 6}, quietLog); err != nil {
		t.Fatalf("the existing topic: %v", err)
	}
	wantCode(t, conn.EnsureTopic(ctx, kafka.TopicSpec{Name: "missing-" + randomName()}, quietLog), chatserver.EUnavailable)

	l := openLog(t, c.ListenAddrs(), topic, t.TempDir())
	recordEach(t, l, "frank", 0, 4)
	eventually(t, 60*time.Second, "the spool drains into the existing topic", func() bool { return l.Backlog() == 0 })
	if n, _, _ := topicInfo(t, c.ListenAddrs(), topic); n != 2 {
		t.Fatalf("%d partitions, want the 2 it was made with", n)
	}
	readInOrder(t, c.ListenAddrs(), topic, "frank", 4)
}
