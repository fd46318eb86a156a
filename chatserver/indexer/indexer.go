// Package indexer copies activity events from the Kafka topic into
// Elasticsearch: `chatserver index`.
//
// At start it makes sure the topic exists (creating it as the chat server
// would, so that either may start first on a fresh cluster) and installs the
// index lifecycle and template, retrying each until it succeeds. Then it
// consumes the topic in a consumer group, gathers a batch (BatchSize events,
// or what came within FlushInterval), bulk-writes it with each event's id as
// its document id, and commits the batch's offsets only once every event of
// it is indexed or parked. Elasticsearch answers each event of a bulk write
// on its own: the events it refuses for now (429, 5xx) or all of them when
// the request as a whole fails are written again, with growing backoff;
// those it refuses for good (any other 4xx, such as a document with a term
// longer than Lucene allows) are parked in the dead-letter topic, so that
// one such event never holds up the others. Nothing is committed
// meanwhile; after a crash or a restart the group resumes from the last
// commit and writes some events again, which replaces each with itself. So
// every event is in the index exactly once, or in the dead-letter topic.
//
// An event of a message change also writes its message into the message
// index, at the message's revision as an external version (see package
// elastic): an older or repeated change is answered 409 and counts as
// indexed, so the index keeps each message's latest change however the
// events come. Such an event is indexed once both of its writes are; it is
// parked when either is refused for good (its activity document may then
// be written already) and written again when either is refused for now.
//
// The dead-letter topic is the activity topic's name with DeadLetterSuffix,
// created like it when the first event is parked. A parked record is the
// original one (key, value, time and headers) with headers saying why and
// where it was: HeaderReason (the item's status and Elasticsearch's error,
// such as "400 illegal_argument_exception: Document contains at least one
// immense term in field=…"), HeaderEventID, HeaderTopic, HeaderPartition and
// HeaderOffset. Each parked event is counted in
// chat_indexer_dead_letters_total and logged as a warning with its id and
// reason. A write to the dead-letter topic that fails is retried like a bulk
// write, and the batch is not committed until it succeeds.
//
// A killed indexer's partitions go to the other members of its group (or to
// its successor) once its session times out, SessionTimeout after its last
// heartbeat.
//
// Run owns the Kafka reader and the dead-letter writer and returns, having
// closed both, when its context ends.
package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// Writer is what the indexer needs from Elasticsearch.
type Writer interface {
	// EnsureTemplate installs what the indices need (mappings, lifecycle)
	// before the first write.
	EnsureTemplate(ctx context.Context) error
	// BulkItems writes events with their ids as document ids and returns
	// what became of each, in their order; it fails when the request as a
	// whole did, and then none is known to be written.
	BulkItems(ctx context.Context, events []chatserver.ActivityEvent) ([]elastic.Outcome, error)
}

// fetchWait is how long the broker may hold a fetch that finds nothing
// new. Batches are cut at FlushInterval by the reader's context, not by
// this; kafka-go gives the broker's answer only a fraction of it on top, so
// a short wait makes an idle fetch time out and reconnect.
const fetchWait = 2 * time.Second

// Config configures an Indexer. Zero values mean what the comments say.
type Config struct {
	Conn          kafka.Conn
	Topic         kafka.TopicSpec // the activity topic, and how it is created when missing
	Group         string          // consumer group; default "chat-indexer"
	BatchSize     int             // events per bulk request at most; default 500
	FlushInterval time.Duration   // longest wait for a batch to fill; default 1s
	RetryBackoff  time.Duration   // first wait after a failed write; default 500ms
	MaxBackoff    time.Duration   // longest wait between retries; default 30s
	// SessionTimeout is how long the group waits for a member's heartbeat
	// before it hands the member's partitions to the others; default 10s,
	// heartbeats every tenth of it.
	SessionTimeout time.Duration
	Registerer     prometheus.Registerer
	Logger         *slog.Logger
}

// Indexer consumes activity events and writes them to Elasticsearch.
type Indexer struct {
	cfg          Config
	w            Writer
	log          *slog.Logger
	topicEnsured atomic.Bool

	indexed     prometheus.Counter
	bulkErrors  prometheus.Counter
	badEvents   prometheus.Counter
	commitFails prometheus.Counter
	parked      prometheus.Counter
	parkErrors  prometheus.Counter
	lag         prometheus.Gauge
}

// New returns an Indexer and registers its metrics with cfg.Registerer.
func New(cfg Config, w Writer) (*Indexer, error) {
	if cfg.Topic.Name == "" {
		cfg.Topic.Name = chatserver.ActivityTopic
	}
	if cfg.Group == "" {
		cfg.Group = "chat-indexer"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ix := &Indexer{
		cfg: cfg,
		w:   w,
		log: cfg.Logger.With("component", "indexer", "topic", cfg.Topic.Name, "group", cfg.Group),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_indexer_events_indexed_total", Help: "Activity events written to Elasticsearch (again after a redelivery).",
		}),
		bulkErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_indexer_bulk_errors_total", Help: "Bulk writes to Elasticsearch that failed, or left events refused for now, and were retried.",
		}),
		badEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_indexer_undecodable_events_total", Help: "Kafka records that were not activity events and were skipped.",
		}),
		commitFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_indexer_commit_errors_total", Help: "Offset commits that failed (their events will be written again).",
		}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_indexer_dead_letters_total", Help: "Activity events Elasticsearch refused for good, parked in the dead-letter topic.",
		}),
		parkErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_indexer_dead_letter_errors_total", Help: "Writes to the dead-letter topic that failed and were retried.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_indexer_lag", Help: "Records of the assigned partitions not yet consumed, as the reader last saw it.",
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{ix.indexed, ix.bulkErrors, ix.badEvents, ix.commitFails, ix.parked, ix.parkErrors, ix.lag} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, chatserver.Errorf(chatserver.EInternal, "indexer metrics: %v", err)
			}
		}
	}
	return ix, nil
}

// Run makes sure the topic exists, installs the index template, then
// indexes until ctx ends. It returns nil when ctx ended, an error only if the
// reader cannot be set up.
func (ix *Indexer) Run(ctx context.Context) error {
	ensureTopic := func(ctx context.Context) error { return ix.cfg.Conn.EnsureTopic(ctx, ix.cfg.Topic, ix.log) }
	if !ix.retry(ctx, "kafka: create the activity topic", nil, ensureTopic) {
		return nil
	}
	ix.topicEnsured.Store(true)
	if !ix.retry(ctx, "elasticsearch: install the index template", nil, ix.w.EnsureTemplate) {
		return nil
	}
	dialer, err := ix.cfg.Conn.Dialer()
	if err != nil {
		return err
	}
	spec := ix.cfg.Topic
	spec.Name += DeadLetterSuffix
	dead, err := newDeadLetters(ix.cfg.Conn, spec, ix.log)
	if err != nil {
		return err
	}
	defer func() {
		if err := dead.close(); err != nil {
			ix.log.Warn("closing the dead-letter writer", "err", err)
		}
	}()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           ix.cfg.Conn.Brokers,
		GroupID:           ix.cfg.Group,
		Topic:             ix.cfg.Topic.Name,
		Dialer:            dialer,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           fetchWait,
		CommitInterval:    0, // commits are synchronous, and only after a write
		StartOffset:       kafkago.FirstOffset,
		SessionTimeout:    ix.cfg.SessionTimeout,
		HeartbeatInterval: ix.cfg.SessionTimeout / 10,
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			ix.log.Warn("kafka reader: " + fmt.Sprintf(format, args...))
		}),
	})
	defer func() {
		if err := r.Close(); err != nil {
			ix.log.Warn("closing the kafka reader", "err", err)
		}
	}()
	ix.log.Info("indexer started")
	for {
		msgs := ix.fetch(ctx, r)
		if ctx.Err() != nil {
			return nil // fetched but unwritten records were not committed
		}
		if !ix.write(ctx, dead, ix.decode(msgs)) {
			return nil // nor were these
		}
		if err := r.CommitMessages(ctx, msgs...); err != nil {
			ix.commitFails.Inc()
			ix.log.Warn("offset commit failed; these events will be written again", "events", len(msgs), "err", err)
		}
		ix.lag.Set(float64(r.Stats().Lag))
	}
}

// CheckKafka reports whether Kafka answers and has the topic, once Run made
// sure it exists: the indexer's readiness on the Kafka side.
func (ix *Indexer) CheckKafka(ctx context.Context) error {
	if !ix.topicEnsured.Load() {
		return chatserver.Errorf(chatserver.EUnavailable, "kafka: the activity topic %s is not ensured yet", ix.cfg.Topic.Name)
	}
	return ix.cfg.Conn.Check(ctx, ix.cfg.Topic.Name)
}

// fetch waits for a first record, then gathers more until the batch is full
// or FlushInterval has passed since the first.
func (ix *Indexer) fetch(ctx context.Context, r *kafkago.Reader) []kafkago.Message {
	first, err := r.FetchMessage(ctx)
	if err != nil {
		return nil
	}
	msgs := []kafkago.Message{first}
	fctx, cancel := context.WithTimeout(ctx, ix.cfg.FlushInterval)
	defer cancel()
	for len(msgs) < ix.cfg.BatchSize {
		m, err := r.FetchMessage(fctx)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// write bulk-writes batch until every event of it is indexed or parked: it
// writes again, after a growing wait, the events Elasticsearch refused for
// now (all of them when the request failed as a whole), and parks those it
// refused for good in dead. It returns false if ctx ended first.
func (ix *Indexer) write(ctx context.Context, dead *deadLetters, batch []record) bool {
	return ix.retry(ctx, "elasticsearch: bulk write", ix.bulkErrors, func(ctx context.Context) error {
		events := make([]chatserver.ActivityEvent, len(batch))
		for i, rec := range batch {
			events[i] = rec.ev
		}
		outcomes, err := ix.w.BulkItems(ctx, events)
		if err != nil {
			return err
		}
		if len(outcomes) != len(batch) {
			return fmt.Errorf("%d outcomes for %d events", len(outcomes), len(batch))
		}
		var again []record
		var refused []refusal
		var first string // the reason of the first event refused for now
		for i, o := range outcomes {
			switch {
			case o.Indexed():
				ix.indexed.Inc()
			case o.RefusedForGood():
				refused = append(refused, refusal{msg: batch[i].msg, id: batch[i].ev.ID, reason: fmt.Sprintf("%d %s", o.Status, o.Reason)})
			default:
				if again == nil {
					first = fmt.Sprintf("%s: %d %s", batch[i].ev.ID, o.Status, o.Reason)
				}
				again = append(again, batch[i])
			}
		}
		if len(refused) > 0 && !ix.park(ctx, dead, refused) {
			return ctx.Err()
		}
		batch = again
		if len(again) > 0 {
			return fmt.Errorf("%d of %d events refused for now, first %s", len(again), len(outcomes), first)
		}
		return nil
	})
}

// park writes refused into the dead-letter topic until it succeeds, and
// counts and logs each; it returns false if ctx ended first.
func (ix *Indexer) park(ctx context.Context, dead *deadLetters, refused []refusal) bool {
	if !ix.retry(ctx, "kafka: park refused events in the dead-letter topic", ix.parkErrors, func(ctx context.Context) error {
		return dead.write(ctx, refused)
	}) {
		return false
	}
	for _, r := range refused {
		ix.parked.Inc()
		ix.log.Warn("elasticsearch refused an event for good; parked it in the dead-letter topic",
			"event", r.id, "reason", r.reason, "partition", r.msg.Partition, "offset", r.msg.Offset, "dead_letter_topic", dead.spec.Name)
	}
	return true
}

// record is an event and the record it came in.
type record struct {
	msg kafkago.Message
	ev  chatserver.ActivityEvent
}

// decode turns records into events. A record that is no event is skipped
// (and committed with the rest: it never will be one); an event without an
// id gets one from its place in the topic, and one without a time the
// record's, the same at every delivery.
func (ix *Indexer) decode(msgs []kafkago.Message) []record {
	events := make([]record, 0, len(msgs))
	for _, m := range msgs {
		var ev chatserver.ActivityEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil || ev.Type == "" {
			ix.badEvents.Inc()
			ix.log.Warn("skipping a record that is no activity event", "partition", m.Partition, "offset", m.Offset)
			continue
		}
		if ev.ID == "" {
			ev.ID = fmt.Sprintf("%s-%d-%d", m.Topic, m.Partition, m.Offset)
		}
		if ev.TS.IsZero() {
			// The record's time: the same at every delivery, so the event
			// keeps its daily index.
			ev.TS = m.Time
		}
		events = append(events, record{msg: m, ev: ev})
	}
	return events
}

// retry calls f until it succeeds, counting failures in failures (if not
// nil) and waiting longer after each; it returns false if ctx ended first.
func (ix *Indexer) retry(ctx context.Context, what string, failures prometheus.Counter, f func(context.Context) error) bool {
	backoff := ix.cfg.RetryBackoff
	for {
		err := f(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return false
		}
		if failures != nil {
			failures.Inc()
		}
		ix.log.Warn(what+" failed; retrying", "in", backoff.String(), "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, ix.cfg.MaxBackoff)
	}
}
