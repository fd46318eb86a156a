package indexer

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// DeadLetterSuffix names the dead-letter topic after the activity topic:
// chat.activity.dead-letter.
const DeadLetterSuffix = ".dead-letter"

// The headers a parked record carries besides its own.
const (
	HeaderReason    = "dead-letter-reason"    // the item's status and error: "400 illegal_argument_exception: Document contains…"
	HeaderEventID   = "dead-letter-event-id"  // the event's id, also when the indexer gave it one
	HeaderTopic     = "dead-letter-topic"     // where the record was: topic,
	HeaderPartition = "dead-letter-partition" // partition (decimal)
	HeaderOffset    = "dead-letter-offset"    // and offset (decimal)
)

// parkTimeout bounds one write to the dead-letter topic.
const parkTimeout = 15 * time.Second

// refusal is a record whose event Elasticsearch refused for good, and why.
type refusal struct {
	msg    kafkago.Message
	id     string
	reason string
}

// deadLetters writes records into the dead-letter topic, which it creates
// as the activity topic (partitions, replication, retention) the first time
// it needs it, so that a cluster whose events are all indexable never has
// one. It is used by one goroutine at a time.
type deadLetters struct {
	conn    kafka.Conn
	spec    kafka.TopicSpec
	log     *slog.Logger
	t       *kafkago.Transport
	w       *kafkago.Writer
	ensured bool // the topic is known to exist
}

func newDeadLetters(conn kafka.Conn, spec kafka.TopicSpec, log *slog.Logger) (*deadLetters, error) {
	t, err := conn.Transport()
	if err != nil {
		return nil, err
	}
	return &deadLetters{conn: conn, spec: spec, log: log, t: t, w: &kafkago.Writer{
		Addr:                   kafkago.TCP(conn.Brokers...),
		Topic:                  spec.Name,
		Balancer:               &kafkago.Murmur2Balancer{}, // by the original key, as the activity topic
		RequiredAcks:           kafkago.RequireAll,
		MaxAttempts:            3,
		BatchTimeout:           5 * time.Millisecond,
		Transport:              t,
		AllowAutoTopicCreation: false, // created as configured
	}}, nil
}

// write parks refused, each its original record (key, value, time,
// headers) with the headers above. On an error some may have been written:
// writing them again is harmless but for a reader of the topic, who may see
// a record twice.
func (d *deadLetters) write(ctx context.Context, refused []refusal) error {
	ctx, cancel := context.WithTimeout(ctx, parkTimeout)
	defer cancel()
	if !d.ensured {
		if err := d.conn.EnsureTopic(ctx, d.spec, d.log); err != nil {
			return err
		}
		d.ensured = true
	}
	msgs := make([]kafkago.Message, len(refused))
	for i, r := range refused {
		headers := append(r.msg.Headers[:len(r.msg.Headers):len(r.msg.Headers)],
			kafkago.Header{Key: HeaderReason, Value: []byte(r.reason)},
			kafkago.Header{Key: HeaderEventID, Value: []byte(r.id)},
			kafkago.Header{Key: HeaderTopic, Value: []byte(r.msg.Topic)},
			kafkago.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(r.msg.Partition))},
			kafkago.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.msg.Offset, 10))},
		)
		msgs[i] = kafkago.Message{Key: r.msg.Key, Value: r.msg.Value, Time: r.msg.Time, Headers: headers}
	}
	if err := d.w.WriteMessages(ctx, msgs...); err != nil {
		d.ensured = false // the topic may be gone: make sure of it again first
		return fmt.Errorf("kafka: write to %s: %w", d.spec.Name, err)
	}
	return nil
}

// close closes the writer and its connections.
func (d *deadLetters) close() error {
	err := d.w.Close()
	d.t.CloseIdleConnections()
	return err
}
