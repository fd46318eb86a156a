package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/test/platform/standins/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m, main) }

// env is the environment the operator gives the apache/kafka container
// (controllers/chatcluster_backends.go), with this test's port and volume.
func env(port, dir string) map[string]string {
	return map[string]string{
		"CLUSTER_ID":                           "Y2hhdGNsdXN0ZXItMDAwMQ",
		"KAFKA_NODE_ID":                        "1",
		"KAFKA_PROCESS_ROLES":                  "broker,controller",
		"KAFKA_LISTENERS":                      "PLAINTEXT://:" + port + ",CONTROLLER://localhost:9093",
		"KAFKA_ADVERTISED_LISTENERS":           "PLAINTEXT://localhost:" + port,
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_CONTROLLER_LISTENER_NAMES":      "CONTROLLER",
		"KAFKA_LOG_DIRS":                       dir + "/logs",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":      "false",
		"KAFKA_LOG_RETENTION_HOURS":            "168",
		"KAFKA_HEAP_OPTS":                      "-Xms512m -Xmx512m",
		"KAFKA_SASL_JAAS_CONFIG":               `org.apache.kafka.common.security.plain.PlainLoginModule required password="sekrit";`,
	}
}

// TestProcess runs the broker on a volume whose root holds lost+found (the
// log directory is a subdirectory, as the operator sets it), creates the
// topic as the chat server does, produces, and reads back after a restart.
func TestProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	port := proctest.FreePort(t)
	addr := "127.0.0.1:" + port
	p := proctest.Start(t, env(port, dir), "/etc/kafka/docker/run")
	p.WaitPort(t, addr, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: "chat.activity", AllowAutoTopicCreation: true, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 1}
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte("alice"), Value: []byte("hello")}); !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Fatalf("produce before the topic exists, auto-creation off: %v", err)
	}
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: "chat.activity", NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "604800000"}}}}})
	if err != nil || res.Errors["chat.activity"] != nil {
		t.Fatalf("create topics: %v %v", err, res)
	}
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte("alice"), Value: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	p.Stop(t)
	proctest.NoSecret(t, p.Stderr(), "sekrit")

	p = proctest.Start(t, env(port, dir))
	p.WaitPort(t, addr, 30*time.Second)
	var got []string
	for part := range 3 {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: "chat.activity", Partition: part, MaxWait: 100 * time.Millisecond})
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		if m, err := r.ReadMessage(rctx); err == nil {
			got = append(got, string(m.Value))
		}
		rcancel()
		_ = r.Close()
	}
	if len(got) != 1 || got[0] != "hello" {
		t.Fatalf("after restart: %q", got)
	}
	p.Stop(t)
}

// TestProcess_LostAndFound: the root of a fresh ext4 volume holds
// lost+found, and Kafka refuses to start when that root is its log
// directory.
func TestProcess_LostAndFound(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	e := env(proctest.FreePort(t), dir)
	e["KAFKA_LOG_DIRS"] = dir
	p := proctest.Start(t, e)
	code := p.Wait(20 * time.Second)
	if code != 1 || !strings.Contains(p.Stderr(), "KafkaException: Found directory "+filepath.Join(dir, "lost+found")+", 'lost+found' is not in the form of topic-partition") {
		t.Fatalf("status %d:\n%s", code, p.Stderr())
	}
}

// TestProcess_Killed: records acknowledged before a SIGKILL and committed
// offsets are there after the next start.
func TestProcess_Killed(t *testing.T) {
	dir := t.TempDir()
	port := proctest.FreePort(t)
	addr := "127.0.0.1:" + port
	p := proctest.Start(t, env(port, dir))
	p.WaitPort(t, addr, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	if res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: "t", NumPartitions: 1, ReplicationFactor: 1}}}); err != nil || res.Errors["t"] != nil {
		t.Fatalf("create topics: %v %v", err, res)
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: "t", BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafkago.RequireAll}
	for i := range 3 {
		if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	if _, err := cl.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "g", GenerationID: -1, Topics: map[string][]kafkago.OffsetCommit{"t": {{Partition: 0, Offset: 2}}}}); err != nil {
		t.Fatal(err)
	}
	p.Kill(10 * time.Second)

	p = proctest.Start(t, env(port, dir))
	p.WaitPort(t, addr, 30*time.Second)
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: "t", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var got string
	for len(got) < 3 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after SIGKILL, read %q: %v\n%s", got, err, p.Stderr())
		}
		got += string(m.Value)
	}
	if got != "abc" {
		t.Fatalf("after SIGKILL: %q", got)
	}
	cl = &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second, Transport: &kafkago.Transport{}} // the shared transport's connections died with the broker
	off, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "g", Topics: map[string][]int{"t": {0}}})
	if err != nil || off.Topics["t"][0].CommittedOffset != 2 {
		t.Fatalf("committed offset after SIGKILL: %+v %v\n%s", off, err, p.Stderr())
	}
	p.Stop(t)
}
