package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

func TestKafka_kfake_EnsureTopicCreatesThenAlignsRetention(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	c := startKafka(t, 0, "", 0)
	conn := kafka.Conn{Brokers: c.ListenAddrs()}
	ctx := context.Background()
	if _, _, exists := standin.TopicInfo(t, c.ListenAddrs(), topic); exists {
		t.Fatal("the topic exists before anybody created it")
	}
	// -1: the brokers' default replication factor.
	spec := kafka.TopicSpec{Name: topic, Partitions: 4, ReplicationFactor: -1, Retention: 2 * time.Hour}
	if err := conn.EnsureTopic(ctx, spec, quietLog); err != nil {
		t.Fatal(err)
	}
	if n, ret, ok := standin.TopicInfo(t, c.ListenAddrs(), topic); !ok || n != 4 || ret != "7200000" {
		t.Fatalf("created: exists %v, %d partitions, retention.ms %q; want 4 and 7200000", ok, n, ret)
	}
	// Again, as every instance does at its start: success, and an existing
	// topic gets the configured retention but keeps its partitions.
	spec.Partitions, spec.Retention = 6, 3*time.Hour
	if err := conn.EnsureTopic(ctx, spec, quietLog); err != nil {
		t.Fatalf("ensuring an existing topic: %v", err)
	}
	if n, ret, _ := standin.TopicInfo(t, c.ListenAddrs(), topic); n != 4 || ret != "10800000" {
		t.Fatalf("ensured again: %d partitions, retention.ms %q; want 4 and 10800000", n, ret)
	}
	// Kafka away is unavailable, for the caller to retry.
	down := kafka.Conn{Brokers: []string{fmt.Sprint("127.0.0.1:", chattest.FreePort(t))}}
	chattest.WantCode(t, down.EnsureTopic(ctx, spec, quietLog), chatserver.EUnavailable)
}

// A cluster where the chat server may not create topics (its user lacks the
// CREATE permission, as where administrators make the topics): the topic
// they made is used as it is, and a missing one is an error to retry.
func TestKafka_kfake_TopicMadeByAdministratorsIsUsed(t *testing.T) {
	topic := "activity-" + standin.RandomName()
	c := standin.StartKafka(t, standin.Kafka{Topic: topic, Partitions: 2, RefuseCreateTopics: true})
	conn := kafka.Conn{Brokers: c.ListenAddrs()}
	ctx := context.Background()
	if err := conn.EnsureTopic(ctx, kafka.TopicSpec{Name: topic, Partitions: 6}, quietLog); err != nil {
		t.Fatalf("the existing topic: %v", err)
	}
	chattest.WantCode(t, conn.EnsureTopic(ctx, kafka.TopicSpec{Name: "missing-" + standin.RandomName()}, quietLog), chatserver.EUnavailable)

	l := openLog(t, c.ListenAddrs(), topic, t.TempDir())
	recordEach(t, l, "frank", 0, 4)
	backlogDrains(t, l, "the spool drains into the existing topic")
	if n, _, _ := standin.TopicInfo(t, c.ListenAddrs(), topic); n != 2 {
		t.Fatalf("%d partitions, want the 2 it was made with", n)
	}
	readInOrder(t, c.ListenAddrs(), topic, "frank", 4)
}
