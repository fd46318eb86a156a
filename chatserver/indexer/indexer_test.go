package indexer_test

// The indexer's tests run it between kfake (franz-go's Kafka broker, in a
// process of each test's own, started by chattest/standin) and a fake
// Elasticsearch (chattest/fakees), with the chat server's activity log
// producing the events.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

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

// An event Elasticsearch refuses for good is parked in the dead-letter topic
// with its reason, written once, and holds up nothing; one it refuses for
// now is written again until it is indexed. Either way every other event of
// the batch, of every partition, is written exactly once and the batch is
// committed.
func TestIndexer_kfake_FakeES_EachRefusedEventByItsOutcome(t *testing.T) {
	c := standin.StartKafka(t, standin.Kafka{})
	brokers := c.ListenAddrs()
	tests := map[string]struct {
		status, times int  // how Elasticsearch refuses the event, how often (-1: always)
		parked        bool // the event ends in the dead-letter topic, not in the index
	}{
		"RefusedForGoodIsParked":        {status: http.StatusBadRequest, times: -1, parked: true},
		"TooManyRequestsIsIndexedLater": {status: http.StatusTooManyRequests, times: 2},
		"UnavailableIsIndexedLater":     {status: http.StatusServiceUnavailable, times: 2},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			topic, group := "activity-"+standin.RandomName(), "indexer-"+standin.RandomName()
			l := activityLog(t, brokers, topic)
			es := fakees.Start(t)
			events := recordN(t, l, 0, 30)
			refused := events[10]
			es.Refuse(tt.status, tt.times, refused.ID)
			records := consume(t, brokers, topic, len(events))
			at := recordOf(t, records, refused.ID)
			if !slices.ContainsFunc(records, func(r standin.Record) bool { return r.Partition != at.Partition }) {
				t.Fatalf("every event is in partition %d: the batch must span partitions", at.Partition)
			}

			reg := prometheus.NewRegistry()
			runIndexerWith(t, brokers, topic, group, es.URL, func(c *indexer.Config) {
				c.Registerer, c.BatchSize, c.FlushInterval = reg, 100, time.Second
			})
			allCommitted(t, brokers, group, topic, records)

			want, refusals, parked := events, tt.times, 0
			if tt.parked {
				want = slices.DeleteFunc(slices.Clone(events), func(ev chatserver.ActivityEvent) bool { return ev.ID == refused.ID })
				refusals, parked = 1, 1
			}
			indexHolds(t, es, want, "every event but the parked ones is indexed")
			for _, ev := range want {
				if n := es.Writes(ev.ID); n != 1 {
					t.Errorf("%s written %d times, want once", ev.ID, n)
				}
			}
			if n := es.Refused(refused.ID); n != refusals {
				t.Errorf("%s refused %d times, want %d", refused.ID, n, refusals)
			}
			if n := counter(t, reg, "chat_indexer_dead_letters_total"); n != float64(parked) {
				t.Errorf("chat_indexer_dead_letters_total %v, want %d", n, parked)
			}
			dead := deadLetters(t, brokers, topic+indexer.DeadLetterSuffix)
			if len(dead) != parked {
				t.Fatalf("%d records in the dead-letter topic, want %d", len(dead), parked)
			}
			if parked == 1 {
				wantParked(t, dead[0], at, topic, "400 illegal_argument_exception: Document contains at least one immense term")
			}
		})
	}
}

// While the dead-letter topic cannot be written (here: the cluster refuses
// to create it), the batch of an event refused for good is never committed
// past that event.
func TestIndexer_kfake_FakeES_UnparkedEventIsNotCommitted(t *testing.T) {
	topic, group := "activity-"+standin.RandomName(), "indexer-"+standin.RandomName()
	c := standin.StartKafka(t, standin.Kafka{Topic: topic, Partitions: 3, RefuseCreateTopics: true})
	brokers := c.ListenAddrs()
	l := activityLog(t, brokers, topic)
	es := fakees.Start(t)
	events := recordN(t, l, 0, 30)
	refused := events[10]
	es.Refuse(http.StatusBadRequest, -1, refused.ID)
	records := consume(t, brokers, topic, len(events))
	at := recordOf(t, records, refused.ID)

	reg := prometheus.NewRegistry()
	runIndexerWith(t, brokers, topic, group, es.URL, func(c *indexer.Config) { c.Registerer = reg })
	chattest.Eventually(t, 90*time.Second, "the indexer fails to park the event twice", func() bool {
		return counter(t, reg, "chat_indexer_dead_letter_errors_total") >= 2
	})
	if offsets, ok := committed(brokers, group, topic, 3); !ok || offsets[at.Partition] > at.Offset {
		t.Fatalf("committed %v (read %v) past the unparked event at %d:%d", offsets, ok, at.Partition, at.Offset)
	}
	if n := counter(t, reg, "chat_indexer_dead_letters_total"); n != 0 {
		t.Fatalf("chat_indexer_dead_letters_total %v with no dead-letter topic", n)
	}
}

// consume reads the first n records of topic, once the activity log has
// created it: Record returns when an event is spooled, maybe before.
func consume(t *testing.T, brokers []string, topic string, n int) []standin.Record {
	t.Helper()
	chattest.Eventually(t, 60*time.Second, "the activity log creates the topic", func() bool {
		_, _, exists := standin.TopicInfo(t, brokers, topic)
		return exists
	})
	return standin.Consume(t, brokers, topic, n)
}

// recordOf returns the record of the event id.
func recordOf(t *testing.T, records []standin.Record, id string) standin.Record {
	t.Helper()
	i := slices.IndexFunc(records, func(r standin.Record) bool { return r.Event.ID == id })
	if i < 0 {
		t.Fatalf("no record of %s", id)
	}
	return records[i]
}

// wantParked fails unless m is the record at, parked with a reason that
// starts with reason.
func wantParked(t *testing.T, m kafkago.Message, at standin.Record, topic, reason string) {
	t.Helper()
	var ev chatserver.ActivityEvent
	if err := json.Unmarshal(m.Value, &ev); err != nil || ev.ID != at.Event.ID || ev.MessageID != at.Event.MessageID || string(m.Key) != at.Key {
		t.Errorf("parked key %q value %s (%v), want the record of %s keyed %q", m.Key, m.Value, err, at.Event.ID, at.Key)
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	for key, want := range map[string]string{
		indexer.HeaderEventID: at.Event.ID, indexer.HeaderTopic: topic,
		indexer.HeaderPartition: strconv.Itoa(at.Partition), indexer.HeaderOffset: strconv.FormatInt(at.Offset, 10),
	} {
		if headers[key] != want {
			t.Errorf("header %s %q, want %q", key, headers[key], want)
		}
	}
	if !strings.HasPrefix(headers[indexer.HeaderReason], reason) {
		t.Errorf("header %s %q, want %q…", indexer.HeaderReason, headers[indexer.HeaderReason], reason)
	}
}

// counter returns the value of the counter name of reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// allCommitted waits until group has committed every one of records, all of
// topic's.
func allCommitted(t *testing.T, brokers []string, group, topic string, records []standin.Record) {
	t.Helper()
	partitions, _, _ := standin.TopicInfo(t, brokers, topic)
	end := map[int]int64{}
	for _, r := range records {
		end[r.Partition] = max(end[r.Partition], r.Offset+1)
	}
	chattest.Eventually(t, 90*time.Second, "the group commits every record", func() bool {
		offsets, ok := committed(brokers, group, topic, partitions)
		if !ok {
			return false
		}
		for p, o := range end {
			if offsets[p] != o {
				return false
			}
		}
		return true
	})
}

// committed returns the offsets group committed in the first partitions of
// topic (-1: none), and whether Kafka answered.
func committed(brokers []string, group, topic string, partitions int) (map[int]int64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	res, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil || res.Error != nil {
		return nil, false
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, false
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, true
}

// deadLetters returns every record of the dead-letter topic, none when it
// does not exist.
func deadLetters(t *testing.T, brokers []string, topic string) []kafkago.Message {
	t.Helper()
	partitions, _, exists := standin.TopicInfo(t, brokers, topic)
	if !exists {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	last := make([]kafkago.OffsetRequest, partitions)
	for p := range last {
		last[p] = kafkago.LastOffsetOf(p)
	}
	res, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: last}})
	if err != nil {
		t.Fatalf("offsets of %s: %v", topic, err)
	}
	var out []kafkago.Message
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("offsets of %s: %v", topic, po.Error)
		}
		if po.LastOffset == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: po.Partition, MaxBytes: 10 << 20})
		for range po.LastOffset {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("reading %s/%d: %v", topic, po.Partition, err)
			}
			out = append(out, m)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The message of a change event goes into the message index at its Rev:
// an older change that comes after a newer one, or again, changes nothing
// and is no failure; a delete leaves a tombstone; a message document
// Elasticsearch refuses for good parks its event.
func TestIndexer_kfake_FakeES_MessagesByVersion(t *testing.T) {
	c := standin.StartKafka(t, standin.Kafka{})
	brokers := c.ListenAddrs()
	topic, group := "activity-"+standin.RandomName(), "indexer-"+standin.RandomName()
	l := activityLog(t, brokers, topic)
	es := fakees.Start(t)
	es.Refuse(http.StatusBadRequest, -1, "general/7")

	var events []chatserver.ActivityEvent
	record := func(typ string, m chatserver.Message) {
		ev := standin.Event(m.From, len(events))
		ev.Type, ev.MessageID, ev.Message = typ, m.ID, &m
		if err := l.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	sent := make([]chatserver.Message, 10)
	for i := range sent {
		sent[i] = chatserver.Message{ID: fmt.Sprint("m-", i), Room: "general", Seq: int64(i), Rev: int64(i + 1), From: "alice", Text: fmt.Sprint("text ", i), TS: time.Now()}
		record(chatserver.ActivityMessage, sent[i])
	}
	edited := sent[2]
	edited.Rev, edited.Text, edited.EditedTS = 20, "edited", time.Now()
	record(chatserver.ActivityEdited, edited)
	record(chatserver.ActivityMessage, sent[2])
	deleted := sent[4]
	deleted.Rev, deleted.Text, deleted.Deleted = 21, "", true
	record(chatserver.ActivityDeleted, deleted)
	record(chatserver.ActivityDeleted, deleted)
	records := consume(t, brokers, topic, len(events))

	reg := prometheus.NewRegistry()
	runIndexerWith(t, brokers, topic, group, es.URL, func(c *indexer.Config) { c.Registerer = reg })
	allCommitted(t, brokers, group, topic, records)
	indexHolds(t, es, events, "every activity document is written")

	want := map[string]fakees.Message{}
	for i, m := range sent {
		if i != 7 {
			want[fmt.Sprint("general/", i)] = fakees.Message{Version: m.Rev, ID: m.ID, Text: m.Text, Rev: m.Rev}
		}
	}
	want["general/2"] = fakees.Message{Version: 20, ID: "m-2", Text: "edited", Rev: 20}
	want["general/4"] = fakees.Message{Version: 21, ID: "m-4", Rev: 21, Deleted: true}
	if got := es.Messages(); !maps.Equal(got, want) {
		t.Fatalf("message index %+v\nwant %+v", got, want)
	}
	if n := counter(t, reg, "chat_indexer_dead_letters_total"); n != 1 {
		t.Errorf("chat_indexer_dead_letters_total %v, want 1", n)
	}
	dead := deadLetters(t, brokers, topic+indexer.DeadLetterSuffix)
	if len(dead) != 1 {
		t.Fatalf("%d records in the dead-letter topic, want 1", len(dead))
	}
	wantParked(t, dead[0], recordOf(t, records, events[7].ID), topic, "400 chat-messages general/7: illegal_argument_exception: Document contains at least one immense term")
}
