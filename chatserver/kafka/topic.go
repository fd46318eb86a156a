package kafka

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/chatserver"
)

// topicTimeout bounds one EnsureTopic: creating the topic, waiting for its
// metadata, and aligning its retention.
const topicTimeout = 15 * time.Second

// DefaultPartitions is the partition count of a topic created without one.
const DefaultPartitions = 3

// retentionKey is the topic setting that bounds how long Kafka keeps events.
const retentionKey = "retention.ms"

// TopicSpec says how the activity topic is created when it does not exist.
type TopicSpec struct {
	Name              string        // default chatserver.ActivityTopic
	Partitions        int           // default DefaultPartitions
	ReplicationFactor int           // 0 or -1: the brokers' default (Kafka 2.4 or later)
	Retention         time.Duration // retention.ms; 0: the brokers' default
}

func (s TopicSpec) withDefaults() TopicSpec {
	if s.Name == "" {
		s.Name = chatserver.ActivityTopic
	}
	if s.Partitions <= 0 {
		s.Partitions = DefaultPartitions
	}
	if s.ReplicationFactor == 0 {
		s.ReplicationFactor = -1
	}
	return s
}

// EnsureTopic creates the topic of spec if it does not exist, with its
// partitions, replication factor and retention. An existing topic is success:
// its partitions and replication are left as they are, and its retention is
// brought to spec's when the brokers allow it (logged when they do not). A
// creation the brokers refuse (no permission to create topics) is success too
// when the topic exists anyway.
// Calling it again, from any number of processes at once, is harmless.
func (c Conn) EnsureTopic(ctx context.Context, spec TopicSpec, log *slog.Logger) error {
	t, err := c.Transport()
	if err != nil {
		return err
	}
	defer t.CloseIdleConnections()
	return c.ensureTopic(ctx, t, spec, log)
}

// ensureTopic is EnsureTopic through t; a topic it creates is in t's
// metadata when it returns, so that a writer on t can produce to it at once.
func (c Conn) ensureTopic(ctx context.Context, t *kafkago.Transport, spec TopicSpec, log *slog.Logger) error {
	spec = spec.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithTimeout(ctx, topicTimeout)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: t}
	tc := kafkago.TopicConfig{Topic: spec.Name, NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor}
	if spec.Retention > 0 {
		tc.ConfigEntries = []kafkago.ConfigEntry{{ConfigName: retentionKey, ConfigValue: retentionMS(spec.Retention)}}
	}
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{tc}})
	if err != nil {
		return chatserver.Errorf(chatserver.EUnavailable, "kafka: create topic %s: %v", spec.Name, err)
	}
	terr, answered := res.Errors[spec.Name]
	switch {
	case !answered:
		return chatserver.Errorf(chatserver.EUnavailable, "kafka: create topic %s: no answer for the topic", spec.Name)
	case terr == nil:
		log.Info("kafka: created the activity topic", "topic", spec.Name, "partitions", spec.Partitions,
			"replication_factor", spec.ReplicationFactor, "retention", spec.Retention.String())
		return nil
	case errors.Is(terr, kafkago.TopicAlreadyExists):
		c.alignRetention(ctx, cl, spec, log)
		return nil
	case topicExists(ctx, cl, spec.Name):
		// Refused (no CREATE permission, a creation policy) but there: a
		// topic made by the cluster's administrators, used as it is.
		log.Warn("kafka: the activity topic exists but could not be ensured; using it as it is", "topic", spec.Name, "err", terr)
		return nil
	default:
		return chatserver.Errorf(chatserver.EUnavailable, "kafka: create topic %s: %v", spec.Name, terr)
	}
}

// topicExists reports whether the cluster's metadata knows topic.
func topicExists(ctx context.Context, cl *kafkago.Client, topic string) bool {
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false
	}
	for _, t := range md.Topics {
		if t.Name == topic && t.Error == nil {
			return true
		}
	}
	return false
}

// alignRetention sets the retention of an existing topic to spec's unless it
// has it already. A broker that refuses (no permission, a managed service)
// leaves the topic as it is, with a warning.
func (c Conn) alignRetention(ctx context.Context, cl *kafkago.Client, spec TopicSpec, log *slog.Logger) {
	if spec.Retention <= 0 {
		return
	}
	want := retentionMS(spec.Retention)
	current := "unknown"
	desc, err := cl.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: spec.Name, ConfigNames: []string{retentionKey},
	}}})
	if err == nil && len(desc.Resources) == 1 && desc.Resources[0].Error == nil {
		for _, e := range desc.Resources[0].ConfigEntries {
			if e.ConfigName == retentionKey {
				current = e.ConfigValue
			}
		}
		if current == want {
			return
		}
	}
	alt, err := cl.IncrementalAlterConfigs(ctx, &kafkago.IncrementalAlterConfigsRequest{Resources: []kafkago.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: spec.Name,
		Configs: []kafkago.IncrementalAlterConfigsRequestConfig{{Name: retentionKey, Value: want, ConfigOperation: kafkago.ConfigOperationSet}},
	}}})
	if err == nil && len(alt.Resources) == 1 {
		err = alt.Resources[0].Error
	} else if err == nil {
		err = errors.New("no answer for the topic")
	}
	if err != nil {
		log.Warn("kafka: could not set the activity topic's retention; it keeps its own", "topic", spec.Name,
			"retention_ms", current, "wanted_ms", want, "err", err)
		return
	}
	log.Info("kafka: set the activity topic's retention", "topic", spec.Name, "from_ms", current, "to_ms", want)
}

func retentionMS(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// topicMissing reports whether a produce failed because the topic does not
// exist (it was deleted, or never created).
func topicMissing(err error) bool {
	var we kafkago.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if errors.Is(e, kafkago.UnknownTopicOrPartition) {
				return true
			}
		}
	}
	return errors.Is(err, kafkago.UnknownTopicOrPartition)
}
