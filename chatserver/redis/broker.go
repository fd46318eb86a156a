package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Broker fans events out to every instance over one Redis Pub/Sub channel,
// <prefix>:events.
//
// One channel, not one per room: every instance needs every presence event
// and the DM events of users it may hold, and rooms come and go with
// connections, so per-room channels would cost a SUBSCRIBE round trip per
// join for little gain at chat rates. Redis delivers each PUBLISH to every
// subscriber; it drops what it published while a subscriber was
// disconnected, which the receiving hub repairs from the message store at the
// next message of the room.
//
// Publishes are grouped: while one PUBLISH is in flight, the events of
// concurrent Publish calls queue, and the next PUBLISH carries all of them
// (up to maxBatchBytes) in one envelope. A busy instance then costs Redis,
// and every subscribing instance, one message per group rather than one per
// event, and the receiving hubs get each group's events back to back, so
// that a subscriber's writes carry several at once. An event published
// alone goes as a single event, in the envelope every version reads.
type Broker struct {
	c       *Client
	channel string
	batch   *batcher
}

// Subscription health: after pingAfter without traffic the subscriber pings,
// and a connection that stays silent as long again is replaced.
const (
	pingAfter  = 5 * time.Second
	maxBackoff = 2 * time.Second
)

// Publish sends ev to every subscribed instance. It fails with EUnavailable
// at ctx's deadline or the client's Timeout, whichever comes first, and sends
// nothing again after Redis left it unanswered: the event may still reach
// the instances when Redis answers again, and a message event lost for good
// is read from the store by the hubs (see Broker).
func (b *Broker) Publish(ctx context.Context, ev chatserver.Event) error {
	return b.batch.publish(ctx, encodeEvent(ev))
}

// send publishes one group of encoded events.
func (b *Broker) send(ctx context.Context, events [][]byte) error {
	payload := events[0]
	if len(events) > 1 {
		payload = encodeBatch(events)
	}
	if err := b.c.rdb.Publish(ctx, b.channel, payload).Err(); err != nil {
		return b.c.fail("publish", err)
	}
	return nil
}

// Subscribe delivers every event published on the channel, in the order Redis
// relays them, until ctx ends; then it returns nil. When the subscription
// fails (Redis restarted, the network broke) it subscribes again, backing off
// up to 2s between attempts.
func (b *Broker) Subscribe(ctx context.Context, deliver func(chatserver.Event)) error {
	backoff := 50 * time.Millisecond
	for {
		delivered, err := b.subscribeOnce(ctx, deliver)
		if ctx.Err() != nil {
			return nil
		}
		if delivered {
			backoff = 50 * time.Millisecond
		}
		b.c.log.Warn("redis: event subscription lost; subscribing again", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// subscribeOnce runs one subscription until it fails or ctx ends, and reports
// whether it got as far as receiving anything.
func (b *Broker) subscribeOnce(ctx context.Context, deliver func(chatserver.Event)) (bool, error) {
	ps := b.c.rdb.Subscribe(ctx, b.channel)
	defer ps.Close()
	// A blocked receive does not watch ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()

	received, pinged := false, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, pingAfter)
		if err != nil {
			var netErr interface{ Timeout() bool }
			if errors.As(err, &netErr) && netErr.Timeout() && !pinged && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return received, err
				}
				pinged = true
				continue
			}
			return received, err
		}
		received, pinged = true, false
		if sub, ok := msg.(*goredis.Subscription); ok && sub.Kind == "subscribe" {
			// Events published before this confirmation never reach this
			// instance: its rooms read them from the store.
			deliver(chatserver.Event{Kind: chatserver.EventResync})
			continue
		}
		m, ok := msg.(*goredis.Message)
		if !ok {
			continue // pongs
		}
		if err := decodePayload([]byte(m.Payload), deliver); err != nil {
			b.c.log.Error("redis: dropping an undecodable event", "err", err, "bytes", len(m.Payload))
		}
	}
}

// The envelope of an event on the channel: a version byte, then Kind, Room
// and User as length-prefixed strings, Seq, Rev and Sent (Unix nanoseconds,
// 0 for none) as varints, and the rest is the Frame, untouched. Version 1
// had no Rev; it is still read, so that instances of both versions can run
// side by side during an upgrade.
//
// A group of events is the version byte batchVersion and then each event's
// envelope, prefixed by its length as a uvarint. Instances older than
// groups drop a group (logging it) and read its messages from the store at
// the next message of each room, as after any lost publish.
const (
	envelopeVersion = 2
	batchVersion    = 3
)

func encodeEvent(ev chatserver.Event) []byte {
	n := 1 + 3*binary.MaxVarintLen16 + len(ev.Kind) + len(ev.Room) + len(ev.User) + 3*binary.MaxVarintLen64 + len(ev.Frame)
	buf := make([]byte, 0, n)
	buf = append(buf, envelopeVersion)
	for _, s := range [...]string{ev.Kind, ev.Room, ev.User} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendVarint(buf, ev.Seq)
	buf = binary.AppendVarint(buf, ev.Rev)
	var sent int64
	if !ev.Sent.IsZero() {
		sent = ev.Sent.UnixNano()
	}
	buf = binary.AppendVarint(buf, sent)
	return append(buf, ev.Frame...)
}

var errEnvelope = errors.New("malformed event envelope")

// encodeBatch puts the encoded events into one group envelope.
func encodeBatch(events [][]byte) []byte {
	n := 1
	for _, e := range events {
		n += binary.MaxVarintLen32 + len(e)
	}
	buf := append(make([]byte, 0, n), batchVersion)
	for _, e := range events {
		buf = binary.AppendUvarint(buf, uint64(len(e)))
		buf = append(buf, e...)
	}
	return buf
}

// decodePayload delivers the event, or each event of the group, that b
// holds, in order. It delivers nothing from a malformed group.
func decodePayload(b []byte, deliver func(chatserver.Event)) error {
	if len(b) == 0 || b[0] != batchVersion {
		ev, err := decodeEvent(b)
		if err == nil {
			deliver(ev)
		}
		return err
	}
	var evs []chatserver.Event
	for rest := b[1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return errEnvelope
		}
		rest = rest[k:]
		if uint64(len(rest)) < n {
			return errEnvelope
		}
		ev, err := decodeEvent(rest[:n])
		if err != nil {
			return err
		}
		evs = append(evs, ev)
		rest = rest[n:]
	}
	for _, ev := range evs {
		deliver(ev)
	}
	return nil
}

func decodeEvent(b []byte) (chatserver.Event, error) {
	if len(b) == 0 || (b[0] != 1 && b[0] != envelopeVersion) {
		return chatserver.Event{}, errEnvelope
	}
	version := b[0]
	b = b[1:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return chatserver.Event{}, errEnvelope
		}
		b = b[k:]
		if uint64(len(b)) < n {
			return chatserver.Event{}, errEnvelope
		}
		fields[i] = string(b[:n])
		b = b[n:]
	}
	var nums [3]int64 // seq, rev, sent
	for i := range nums {
		if i == 1 && version == 1 {
			continue // no rev
		}
		v, k := binary.Varint(b)
		if k <= 0 {
			return chatserver.Event{}, errEnvelope
		}
		nums[i], b = v, b[k:]
	}
	ev := chatserver.Event{Kind: fields[0], Room: fields[1], User: fields[2], Seq: nums[0], Rev: nums[1], Frame: b}
	if nums[2] != 0 {
		ev.Sent = time.Unix(0, nums[2])
	}
	return ev, nil
}
