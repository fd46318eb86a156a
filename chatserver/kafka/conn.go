package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/chatcluster/chatcluster/chatserver"
)

// dialTimeout bounds connecting to a broker, so that a check or a produce
// against a Kafka that is away fails fast and the spool keeps the events.
const dialTimeout = 2 * time.Second

// Conn says how to reach a Kafka cluster. The producer of this package and
// the indexer's consumer share it.
type Conn struct {
	Brokers   []string    // host:port of one or more brokers
	TLS       *tls.Config // nil: plaintext
	Mechanism string      // SASL: "", "plain", "scram-sha-256" or "scram-sha-512"
	Username  string
	Password  string
}

func (c Conn) mechanism() (sasl.Mechanism, error) {
	switch strings.ToLower(c.Mechanism) {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.Username, c.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.Username, c.Password)
	default:
		return nil, fmt.Errorf("unknown SASL mechanism %q", c.Mechanism)
	}
}

// Transport returns a kafka-go transport for writers and clients. Its idle
// connections are closed with CloseIdleConnections.
func (c Conn) Transport() (*kafkago.Transport, error) {
	m, err := c.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &kafkago.Transport{DialTimeout: dialTimeout, TLS: c.TLS, SASL: m, ClientID: "chatserver"}, nil
}

// Dialer returns a kafka-go dialer for readers.
func (c Conn) Dialer() (*kafkago.Dialer, error) {
	m, err := c.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &kafkago.Dialer{Timeout: dialTimeout, DualStack: true, TLS: c.TLS, SASLMechanism: m, ClientID: "chatserver"}, nil
}

// checkTopic asks the cluster for the topic's metadata through t: it fails
// when no broker answers or the topic does not exist.
func (c Conn) checkTopic(ctx context.Context, t *kafkago.Transport, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: t}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return chatserver.Errorf(chatserver.EUnavailable, "kafka: %v", err)
	}
	for _, tp := range md.Topics {
		if tp.Name == topic && tp.Error != nil {
			return chatserver.Errorf(chatserver.EUnavailable, "kafka: topic %s: %v", topic, tp.Error)
		}
	}
	return nil
}

// Check reports whether the cluster answers and knows topic.
func (c Conn) Check(ctx context.Context, topic string) error {
	t, err := c.Transport()
	if err != nil {
		return err
	}
	defer t.CloseIdleConnections()
	return c.checkTopic(ctx, t, topic)
}
