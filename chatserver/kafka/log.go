// Package kafka produces activity events to a Kafka topic through a durable
// local spool, so that chat keeps working, and loses no event, while Kafka
// is away.
//
// Record appends events to the spool (see spool.go for its format) and
// returns once they are fsync'd; concurrent Records share one fsync (group
// commit). A producer goroutine first makes sure the topic exists (creating
// it with the configured partitions, replication factor and retention; see
// topic.go), then reads the spool in order, produces each event keyed by its
// user id (one user's events land in one partition, in order) with acks from
// all in-sync replicas, and moves the spool's cursor once Kafka acknowledged.
// When Kafka is down it retries with backoff and the events wait in the
// spool, also across restarts. Nothing of this needs Kafka at start-up.
//
// A Log is safe for concurrent use. It owns two goroutines, the committer and
// the producer; Close stops both.
package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	maxCommitBatch = 1024 // Record calls sharing one fsync at most
	produceBatch   = 500  // events per produce request at most
	idlePoll       = time.Second
	maxBackoff     = 10 * time.Second
)

// Config configures a Log.
type Config struct {
	Conn         Conn
	Topic        TopicSpec     // the activity topic, and how it is created when missing
	SpoolDir     string        // directory of the spool; one Log at a time may use it
	FlushTimeout time.Duration // how long Close keeps producing what is spooled; default 5s
	SegmentBytes int64         // size past which the spool starts a new segment file; default 8 MiB
	Logger       *slog.Logger  // default slog.Default()
}

// Log is a chatserver.ActivityLog that spools events and produces them to Kafka.
type Log struct {
	cfg       Config
	log       *slog.Logger
	spool     *spool
	lock      *os.File // holds the spool directory's flock
	transport *kafkago.Transport
	writer    *kafkago.Writer
	backlog   atomic.Int64

	reqs          chan *recordReq
	quit          chan struct{} // closed by Close: Record refuses, the committer drains and ends
	committerDone chan struct{}
	wake          chan struct{} // the committer tells the producer there is more
	stop          chan struct{} // closed by Close once the committer ended
	producerDone  chan struct{}
	produceCtx    context.Context
	cancelProduce context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

var (
	_ chatserver.ActivityLog = (*Log)(nil)
	_ chatserver.Checker     = (*Log)(nil)
)

type recordReq struct {
	payloads [][]byte
	done     chan error // buffered
}

// Open opens (or creates) the spool, resumes producing what it holds and
// returns the Log. It does not need Kafka to be up.
func Open(cfg Config) (*Log, error) {
	cfg.Topic = cfg.Topic.withDefaults()
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = segmentBytes
	}
	t, err := cfg.Conn.Transport()
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(cfg.SpoolDir)
	if err != nil {
		return nil, chatserver.Errorf(chatserver.EInternal, "activity spool %s: %v", cfg.SpoolDir, err)
	}
	sp, cursor, backlog, err := openSpool(cfg.SpoolDir, cfg.SegmentBytes)
	if err != nil {
		_ = lock.Close()
		return nil, chatserver.Errorf(chatserver.EInternal, "activity spool %s: %v", cfg.SpoolDir, err)
	}
	l := &Log{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "kafka-activity", "topic", cfg.Topic.Name),
		spool:     sp,
		lock:      lock,
		transport: t,
		writer: &kafkago.Writer{
			Addr:                   kafkago.TCP(cfg.Conn.Brokers...),
			Topic:                  cfg.Topic.Name,
			Balancer:               &kafkago.Murmur2Balancer{}, // the Java client's partitioner
			RequiredAcks:           kafkago.RequireAll,
			MaxAttempts:            3,
			WriteBackoffMin:        100 * time.Millisecond,
			WriteBackoffMax:        time.Second,
			BatchSize:              produceBatch,
			BatchTimeout:           5 * time.Millisecond,
			Transport:              t,
			AllowAutoTopicCreation: false, // the producer creates it, as configured
		},
		reqs:          make(chan *recordReq, maxCommitBatch),
		quit:          make(chan struct{}),
		committerDone: make(chan struct{}),
		wake:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		producerDone:  make(chan struct{}),
	}
	l.backlog.Store(backlog)
	l.produceCtx, l.cancelProduce = context.WithCancel(context.Background())
	go l.commitLoop()
	go l.produceLoop(cursor)
	if backlog > 0 {
		l.log.Info("resuming the activity spool", "events", backlog)
	}
	return l, nil
}

// lockDir creates dir and takes an exclusive lock on it, so that two
// processes never share a spool.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close() // the lock file stays open without it
	f, err := root.OpenFile("LOCK", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// Record spools events and returns once they are on disk. Events without an
// id get a random one, without a time the current one.
func (l *Log) Record(ctx context.Context, events ...chatserver.ActivityEvent) error {
	if len(events) == 0 {
		return nil
	}
	r := &recordReq{payloads: make([][]byte, len(events)), done: make(chan error, 1)}
	for i, ev := range events {
		if ev.ID == "" {
			ev.ID = newID()
		}
		if ev.TS.IsZero() {
			ev.TS = time.Now()
		}
		ev.TS = ev.TS.UTC()
		b, err := json.Marshal(ev)
		if err != nil {
			return chatserver.Errorf(chatserver.EInternal, "encode activity event: %v", err)
		}
		r.payloads[i] = b
	}
	select {
	case l.reqs <- r:
	case <-l.quit:
		return chatserver.Errorf(chatserver.EUnavailable, "activity log closed")
	case <-ctx.Done():
		return chatserver.Errorf(chatserver.EUnavailable, "activity log: %v", ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The events may still be spooled: delivery is at least once anyway.
		return chatserver.Errorf(chatserver.EUnavailable, "activity log: %v", ctx.Err())
	case <-l.committerDone:
		select {
		case err := <-r.done:
			return err
		default:
			return chatserver.Errorf(chatserver.EUnavailable, "activity log closed")
		}
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// commitLoop appends what Record calls queued, many calls per fsync, until
// Close; then it commits what is still queued and ends.
func (l *Log) commitLoop() {
	defer close(l.committerDone)
	for {
		select {
		case r := <-l.reqs:
			l.commit(l.gather(r))
		case <-l.quit:
			for {
				select {
				case r := <-l.reqs:
					l.commit(l.gather(r))
				default:
					return
				}
			}
		}
	}
}

func (l *Log) gather(first *recordReq) []*recordReq {
	batch := []*recordReq{first}
	for len(batch) < maxCommitBatch {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (l *Log) commit(batch []*recordReq) {
	var payloads [][]byte
	for _, r := range batch {
		payloads = append(payloads, r.payloads...)
	}
	err := l.spool.append(payloads)
	if err != nil {
		l.log.Error("activity spool append failed", "err", err)
		err = chatserver.Errorf(chatserver.EUnavailable, "activity spool: write failed")
	} else {
		l.backlog.Add(int64(len(payloads)))
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	for _, r := range batch {
		r.done <- err
	}
}

// produceLoop makes sure the topic exists, then produces the spool from
// cursor on, in order, until Close; then it goes on until the spool is empty
// or the flush timeout cancels it. Kafka being away only makes it wait and
// retry: the events stay in the spool meanwhile.
func (l *Log) produceLoop(cursor pos) {
	defer close(l.producerDone)
	backoff := 100 * time.Millisecond
	stopping, ensured := false, false
	// retry reports a failure and waits before the next attempt; it returns
	// false when the loop must end instead.
	retry := func(what string, err error) bool {
		if stopping || l.produceCtx.Err() != nil {
			if n := l.backlog.Load(); n > 0 {
				l.log.Warn("activity events left in the spool for the next start", "events", n, "err", err)
			}
			return false
		}
		l.log.Warn(what+" failed; the events wait in the spool", "events", l.backlog.Load(), "retry_in", backoff.String(), "err", err)
		select {
		case <-time.After(backoff):
		case <-l.stop:
			stopping = true
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	for {
		if !stopping {
			select {
			case <-l.stop:
				stopping = true
			default:
			}
		}
		if !ensured {
			if stopping && l.backlog.Load() == 0 {
				return
			}
			if err := l.cfg.Conn.ensureTopic(l.produceCtx, l.transport, l.cfg.Topic, l.log); err != nil {
				if !retry("creating the activity topic", err) {
					return
				}
				continue
			}
			ensured, backoff = true, 100*time.Millisecond
		}
		recs, next, err := l.spool.read(cursor, produceBatch)
		if err != nil {
			l.log.Error("activity spool read failed", "err", err)
		}
		if len(recs) == 0 {
			if stopping {
				return
			}
			select {
			case <-l.wake:
			case <-l.stop:
				stopping = true
			case <-time.After(idlePoll):
			}
			continue
		}
		if err := l.produce(recs); err != nil {
			// A topic deleted while the server runs is created again.
			ensured = !topicMissing(err)
			if !retry("producing activity events", err) {
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if err := l.spool.ack(next); err != nil {
			// Kafka has them; producing them again on the next start is harmless.
			l.log.Error("activity spool cursor not saved", "err", err)
		}
		cursor = next
		l.backlog.Add(-int64(len(recs)))
	}
}

func (l *Log) produce(recs [][]byte) error {
	msgs := make([]kafkago.Message, len(recs))
	for i, p := range recs {
		var ev struct {
			User string    `json:"user"`
			TS   time.Time `json:"ts"`
		}
		_ = json.Unmarshal(p, &ev)
		msgs[i] = kafkago.Message{Key: []byte(ev.User), Value: p, Time: ev.TS}
	}
	return l.writer.WriteMessages(l.produceCtx, msgs...)
}

// Backlog returns the number of spooled events Kafka has not acknowledged yet.
func (l *Log) Backlog() int64 { return l.backlog.Load() }

// Check reports whether Kafka answers and has the topic (which the producer
// creates once Kafka answers).
func (l *Log) Check(ctx context.Context) error {
	return l.cfg.Conn.checkTopic(ctx, l.transport, l.cfg.Topic.Name)
}

// Close refuses new events, spools those already handed over, gives the
// producer up to FlushTimeout to send what the spool holds, and stops both
// goroutines. What Kafka did not get stays in the spool for the next Open.
// Calls after the first return its result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.quit)
		<-l.committerDone
		close(l.stop)
		flush := time.AfterFunc(l.cfg.FlushTimeout, l.cancelProduce)
		<-l.producerDone
		flush.Stop()
		l.cancelProduce()
		err := l.writer.Close()
		l.transport.CloseIdleConnections()
		if serr := l.spool.close(); err == nil {
			err = serr
		}
		if lerr := l.lock.Close(); err == nil {
			err = lerr
		}
		if err != nil {
			l.closeErr = chatserver.Errorf(chatserver.EInternal, "activity log close: %v", err)
		}
	})
	return l.closeErr
}
