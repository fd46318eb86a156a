package standin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/chatserver"
)

// The helpers below read a Kafka cluster back with kafka-go's low-level
// requests (Metadata, Fetch, DescribeConfigs, DeleteTopics), not with the
// producer or the consumer group under test; the stand-in, franz-go's kfake,
// decodes and checks every produced batch on its own.

// kafkaTimeout bounds each helper: the stand-in under the race detector on
// a busy machine can be slow.
const kafkaTimeout = 60 * time.Second

// adminClient returns a client of brokers, a context bounding its
// requests, and a function that releases both.
func adminClient(brokers []string) (*kafkago.Client, context.Context, func()) {
	tr := &kafkago.Transport{DialTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	return &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr}, ctx, func() {
		cancel()
		tr.CloseIdleConnections()
	}
}

// Event returns user's n-th activity event, a sent message, with an id that
// tells both: Event("alice", 7).ID is "alice-007".
func Event(user string, n int) chatserver.ActivityEvent {
	return chatserver.ActivityEvent{
		ID: fmt.Sprintf("%s-%03d", user, n), Type: chatserver.ActivityMessage, TS: time.Now(),
		User: user, Room: "general", MessageID: fmt.Sprintf("m-%s-%d", user, n),
	}
}

// Record is one record read back from the activity topic.
type Record struct {
	Partition int
	Offset    int64
	Key       string
	Event     chatserver.ActivityEvent
}

// Consume reads topic from its start until it has at least n records, and
// returns what it read: each partition's records in order, the partitions
// one after the other as they answered.
func Consume(t testing.TB, brokers []string, topic string, n int) []Record {
	t.Helper()
	cl, ctx, done := adminClient(brokers)
	defer done()
	partitions, exists := topicPartitions(ctx, t, cl, topic)
	if !exists {
		t.Fatalf("consuming %s: no such topic", topic)
	}
	next := make([]int64, partitions) // the offset to read next, by partition
	var out []Record
	for len(out) < n {
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s within %v", len(out), n, topic, kafkaTimeout)
		}
		for p := range next {
			res, err := cl.Fetch(ctx, &kafkago.FetchRequest{
				Topic: topic, Partition: p, Offset: next[p], MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
			})
			if err != nil || res.Error != nil {
				continue // the next round asks again, until the deadline
			}
			out = append(out, readRecords(t, res, &next[p])...)
		}
	}
	return out
}

// readRecords decodes the records of one fetch from offset *next on, and
// moves *next past them.
func readRecords(t testing.TB, res *kafkago.FetchResponse, next *int64) []Record {
	t.Helper()
	var out []Record
	for {
		r, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading partition %d: %v", res.Partition, err)
		}
		if r.Offset < *next { // a batch may start before the offset asked for
			continue
		}
		*next = r.Offset + 1
		key, _ := kafkago.ReadAll(r.Key)
		value, _ := kafkago.ReadAll(r.Value)
		var ev chatserver.ActivityEvent
		if err := json.Unmarshal(value, &ev); err != nil {
			t.Errorf("record %q: %v", value, err)
		}
		out = append(out, Record{Partition: res.Partition, Offset: r.Offset, Key: string(key), Event: ev})
	}
}

// TopicInfo asks the cluster for topic's partition count and retention.ms;
// exists is false when the cluster does not know the topic.
func TopicInfo(t testing.TB, brokers []string, topic string) (partitions int, retentionMS string, exists bool) {
	t.Helper()
	cl, ctx, done := adminClient(brokers)
	defer done()
	partitions, exists = topicPartitions(ctx, t, cl, topic)
	if !exists {
		return 0, "", false
	}
	res, err := cl.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"retention.ms"},
	}}})
	if err != nil {
		t.Fatalf("describing %s: %v", topic, err)
	}
	for _, r := range res.Resources {
		for _, c := range r.ConfigEntries {
			if c.ConfigName == "retention.ms" {
				retentionMS = c.ConfigValue
			}
		}
	}
	return partitions, retentionMS, true
}

// topicPartitions asks the cluster's metadata for topic.
func topicPartitions(ctx context.Context, t testing.TB, cl *kafkago.Client, topic string) (partitions int, exists bool) {
	t.Helper()
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	for _, tp := range md.Topics {
		if tp.Name == topic && tp.Error == nil {
			return len(tp.Partitions), true
		}
	}
	return 0, false
}

// DeleteTopic deletes topic and fails the test unless it is gone.
func DeleteTopic(t testing.TB, brokers []string, topic string) {
	t.Helper()
	cl, ctx, done := adminClient(brokers)
	defer done()
	res, err := cl.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{topic}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		t.Fatalf("deleting %s: %v", topic, err)
	}
	if _, _, exists := TopicInfo(t, brokers, topic); exists {
		t.Fatalf("%s still exists", topic)
	}
}
