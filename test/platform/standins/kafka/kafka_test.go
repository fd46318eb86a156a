package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/internal/proctest"
	"github.com/chatcluster/chatcluster/test/platform/standins/kafka"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// operatorEnv is the environment the operator gives the apache/kafka
// container (controllers/chatcluster_backends.go), for the Service host.
func operatorEnv(host, logDir string) standins.Env {
	return standins.Env{
		"CLUSTER_ID":                                     "Y2hhdGNsdXN0ZXItMDAwMQ",
		"KAFKA_NODE_ID":                                  "1",
		"KAFKA_PROCESS_ROLES":                            "broker,controller",
		"KAFKA_LISTENERS":                                "PLAINTEXT://:9092,CONTROLLER://localhost:9093",
		"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://" + host + ":9092",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9093",
		"KAFKA_INTER_BROKER_LISTENER_NAME":               "PLAINTEXT",
		"KAFKA_LOG_DIRS":                                 logDir + "/logs",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		"KAFKA_LOG_RETENTION_HOURS":                      "168",
		"KAFKA_HEAP_OPTS":                                "-Xms512m -Xmx512m",
	}
}

func TestFromEnv_OperatorEnvironment(t *testing.T) {
	cfg, err := kafka.FromEnv(operatorEnv("chat-kafka.team.svc", "/var/lib/kafka/data"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenHost != "" || cfg.Port != 9092 || cfg.AdvertisedHost != "chat-kafka.team.svc" || cfg.AdvertisedPort != 9092 ||
		cfg.LogDir != "/var/lib/kafka/data/logs" || cfg.AutoCreate || cfg.NumPartitions != 1 || cfg.NodeID != 1 ||
		cfg.BrokerConfigs["log.retention.ms"] != "604800000" || cfg.BrokerConfigs["log.cleaner.backoff.ms"] != "300000" {
		t.Fatalf("%+v", cfg)
	}
	for env, want := range map[string]string{
		"KAFKA_LOG_RETENTION_HOURS=1":                               "3600000",
		"KAFKA_LOG_RETENTION_HOURS=1,KAFKA_LOG_RETENTION_MINUTES=2": "120000",
		"KAFKA_LOG_RETENTION_MINUTES=2,KAFKA_LOG_RETENTION_MS=5":    "5",
		"KAFKA_LOG_RETENTION_MS=-1":                                 "-1",
	} {
		e := standins.Env{}
		for _, kv := range strings.Split(env, ",") {
			k, v, _ := strings.Cut(kv, "=")
			e[k] = v
		}
		cfg, err := kafka.FromEnv(e)
		if err != nil || cfg.BrokerConfigs["log.retention.ms"] != want {
			t.Errorf("%s: %v %v, want %s", env, cfg.BrokerConfigs, err, want)
		}
	}
	if strings.Join(cfg.Ignored, ",") != "KAFKA_CONTROLLER_QUORUM_VOTERS,KAFKA_HEAP_OPTS,KAFKA_INTER_BROKER_LISTENER_NAME,KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR,KAFKA_TRANSACTION_STATE_LOG_MIN_ISR,KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR" {
		t.Fatalf("ignored: %v", cfg.Ignored)
	}
	// The image's defaults.
	cfg, err = kafka.FromEnv(standins.Env{})
	if err != nil || cfg.Port != 9092 || cfg.AdvertisedHost != "localhost" || cfg.LogDir != "/tmp/kraft-combined-logs" || !cfg.AutoCreate || cfg.NumPartitions != 1 {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for name, env := range map[string]standins.Env{
		"auto create not a boolean": {"KAFKA_AUTO_CREATE_TOPICS_ENABLE": "yes"},
		"zero partitions":           {"KAFKA_NUM_PARTITIONS": "0"},
		"SASL listener":             {"KAFKA_LISTENERS": "SASL_PLAINTEXT://:9092,CONTROLLER://:9093"},
		"two broker listeners":      {"KAFKA_LISTENERS": "PLAINTEXT://:9092,OTHER://:9094,CONTROLLER://:9093", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT,CONTROLLER:PLAINTEXT"},
		"controller only":           {"KAFKA_PROCESS_ROLES": "controller"},
		"two log dirs":              {"KAFKA_LOG_DIRS": "/a,/b"},
		"retention not a number":    {"KAFKA_LOG_RETENTION_HOURS": "a week"},
		"advertise 0.0.0.0":         {"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://0.0.0.0:9092"},
	} {
		if _, err := kafka.FromEnv(env); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg, err = kafka.FromEnv(standins.Env{"KAFKA_AUTO_CREATE_TOPICS_ENABLE": "FALSE", "KAFKA_NUM_PARTITIONS": "3"})
	if err != nil || cfg.AutoCreate || cfg.NumPartitions != 3 {
		t.Fatalf("%+v, %v", cfg, err)
	}
}

func TestCheckLogDir_RefusesWhatKafkaRefuses(t *testing.T) {
	for _, name := range []string{"lost+found", "config", "data", "topic-x", "-0", "a.b-delete"} {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		err := kafka.CheckLogDir(dir)
		want := fmt.Sprintf("KafkaException: Found directory %s, '%s' is not in the form of topic-partition", filepath.Join(dir, name), name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"chat.activity-0", "__consumer_offsets-49", "__cluster_metadata-0", "t-1.5f3a-delete", "t-2.abc-future", "remote-log-index-cache", kafka.DataDirName} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"meta.properties", "recovery-point-offset-checkpoint", "lost+found.txt", ".lock"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := kafka.CheckLogDir(dir); err != nil {
		t.Fatal(err)
	}
}

// startBroker starts the stand-in on a free port of every address,
// advertising host (localhost when empty).
func startBroker(t *testing.T, dir string, env standins.Env) (*kafka.Broker, string) {
	t.Helper()
	port := proctest.FreePortNumber(t)
	e := standins.Env{
		"KAFKA_LISTENERS":            fmt.Sprintf("PLAINTEXT://:%d,CONTROLLER://localhost:9093", port),
		"KAFKA_ADVERTISED_LISTENERS": fmt.Sprintf("PLAINTEXT://localhost:%d", port),
		"KAFKA_LOG_DIRS":             dir,
	}
	for k, v := range env {
		e[k] = strings.ReplaceAll(v, "PORT", fmt.Sprint(port))
	}
	cfg, err := kafka.FromEnv(e)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kafka.Start(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, fmt.Sprintf("127.0.0.1:%d", port)
}

func TestBroker_AdvertisesTheServiceAddress(t *testing.T) {
	_, addr := startBroker(t, t.TempDir(), standins.Env{"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://chat-kafka.team.svc:PORT"})
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	md, err := cl.Metadata(context.Background(), &kafkago.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if len(md.Brokers) != 1 || md.Brokers[0].Host != "chat-kafka.team.svc" || fmt.Sprint(md.Brokers[0].Port) != port {
		t.Fatalf("brokers: %+v", md.Brokers)
	}
	if len(md.Topics) != 0 {
		t.Fatalf("topics exist at start: %+v", md.Topics)
	}
}

func writer(addr, topic string, allowAuto bool) *kafkago.Writer {
	return &kafkago.Writer{
		Addr: kafkago.TCP(addr), Topic: topic, AllowAutoTopicCreation: allowAuto, RequiredAcks: kafkago.RequireAll,
		BatchTimeout: 5 * time.Millisecond, MaxAttempts: 2, WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: 100 * time.Millisecond,
	}
}

func partitions(t *testing.T, addr, topic string) int {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	md, err := cl.Metadata(context.Background(), &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		if tp.Name == topic && tp.Error == nil {
			return len(tp.Partitions)
		}
	}
	return 0
}

func TestBroker_AutoCreateOff(t *testing.T) {
	_, addr := startBroker(t, t.TempDir(), standins.Env{"KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := writer(addr, "missing", true)
	defer w.Close()
	err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("x")})
	if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing topic with auto-creation off: %v", err)
	}
	if n := partitions(t, addr, "missing"); n != 0 {
		t.Fatalf("the topic was created: %d partitions", n)
	}
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: "made", NumPartitions: 2, ReplicationFactor: 1}}})
	if err != nil || res.Errors["made"] != nil {
		t.Fatalf("create topics: %v %v", err, res)
	}
	w2 := writer(addr, "made", false)
	defer w2.Close()
	if err := w2.WriteMessages(ctx, kafkago.Message{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("produce to a created topic: %v", err)
	}
	if n := partitions(t, addr, "made"); n != 2 {
		t.Fatalf("partitions of made: %d", n)
	}
}

func TestBroker_AutoCreateOn(t *testing.T) {
	_, addr := startBroker(t, t.TempDir(), standins.Env{"KAFKA_NUM_PARTITIONS": "3"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A client that does not allow auto-creation does not get it, as in Kafka.
	w0 := writer(addr, "not-asked", false)
	defer w0.Close()
	if err := w0.WriteMessages(ctx, kafkago.Message{Value: []byte("x")}); !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Fatalf("auto-creation without the client asking: %v", err)
	}
	w := writer(addr, "chat.activity", true)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte("alice"), Value: []byte("hello")}); err != nil {
		t.Fatalf("produce with auto-creation: %v", err)
	}
	if n := partitions(t, addr, "chat.activity"); n != 3 {
		t.Fatalf("auto-created with %d partitions, want KAFKA_NUM_PARTITIONS=3", n)
	}
}

func TestBroker_RestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	b, addr := startBroker(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := writer(addr, "events", true)
	var msgs []kafkago.Message
	for i := range 5 {
		msgs = append(msgs, kafkago.Message{Value: []byte(fmt.Sprint("m", i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	// A consumer group commits an offset.
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	if _, err := cl.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "indexer", GenerationID: -1, Topics: map[string][]kafkago.OffsetCommit{"events": {{Partition: 0, Offset: 3}}}}); err != nil {
		t.Fatal("commit:", err)
	}
	b.Close()
	if _, err := os.Stat(filepath.Join(dir, "meta.properties")); err != nil {
		t.Fatal("meta.properties:", err)
	}

	_, addr2 := startBroker(t, dir, nil)
	if got := readFrom(t, addr2, "events", kafkago.FirstOffset, 5); strings.Join(got, ",") != "m0,m1,m2,m3,m4" {
		t.Fatalf("after restart: %v", got)
	}
	cl2 := &kafkago.Client{Addr: kafkago.TCP(addr2), Timeout: 5 * time.Second}
	off, err := cl2.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "indexer", Topics: map[string][]int{"events": {0}}})
	if err != nil || off.Topics["events"][0].CommittedOffset != 3 {
		t.Fatalf("committed offset after restart: %+v %v", off, err)
	}
}

func TestBroker_RefusesLostAndFound(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err := kafka.FromEnv(standins.Env{"KAFKA_LOG_DIRS": dir, "KAFKA_LISTENERS": fmt.Sprintf("PLAINTEXT://:%d", proctest.FreePortNumber(t))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kafka.Start(cfg, quiet); err == nil || !strings.Contains(err.Error(), "'lost+found' is not in the form of topic-partition") {
		t.Fatalf("started on a log dir with lost+found: %v", err)
	}
}

func TestBroker_OneProcessPerLogDir(t *testing.T) {
	dir := t.TempDir()
	startBroker(t, dir, nil)
	cfg, err := kafka.FromEnv(standins.Env{"KAFKA_LOG_DIRS": dir, "KAFKA_LISTENERS": fmt.Sprintf("PLAINTEXT://:%d", proctest.FreePortNumber(t))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kafka.Start(cfg, quiet); err == nil || !strings.Contains(err.Error(), "Failed to acquire lock") {
		t.Fatalf("second broker on one log dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "meta.properties"), []byte("node.id=7\nversion=1\ncluster.id=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.LogDir = other
	if _, err := kafka.Start(cfg, quiet); err == nil || !strings.Contains(err.Error(), "Stored node id 7 doesn't match previous node id 1") {
		t.Fatalf("node id mismatch: %v", err)
	}
}

// TestBroker_Retention: records older than a topic's retention.ms go at the
// next retention check, as Kafka's log cleaner deletes expired segments.
func TestBroker_Retention(t *testing.T) {
	_, addr := startBroker(t, t.TempDir(), standins.Env{"KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS": "100"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: "short", NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "60000"}},
	}}})
	if err != nil || res.Errors["short"] != nil {
		t.Fatalf("create: %v %v", err, res)
	}
	w := writer(addr, "short", false)
	defer w.Close()
	old := time.Now().Add(-time.Hour)
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("old"), Time: old}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		offs, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{"short": {kafkago.FirstOffsetOf(0)}}})
		if err != nil {
			t.Fatal(err)
		}
		if p := offs.Topics["short"]; len(p) == 1 && p[0].FirstOffset == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired record is still there: %+v", offs.Topics["short"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := readFrom(t, addr, "short", 1, 1); got[0] != "new" {
		t.Fatalf("after retention: %v", got)
	}
}

// readFrom reads n records of the topic's partition 0 from the offset on.
func readFrom(t *testing.T, addr, topic string, offset int64, n int) []string {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d: %v", len(out), n, err)
		}
		out = append(out, string(m.Value))
	}
	return out
}
