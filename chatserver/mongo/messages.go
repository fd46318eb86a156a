package mongo

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxAppendAttempts bounds how often Append retries after losing a seq to a
// concurrent sender. Each loss means another message was stored, so the
// bound is only reached under a contention far beyond what one room sees.
const maxAppendAttempts = 200

// messageDoc is a message as stored in the messages collection.
type messageDoc struct {
	ID   string    `bson:"_id"`
	Room string    `bson:"room"`
	Seq  int64     `bson:"seq"`
	From string    `bson:"from"`
	Text string    `bson:"text"`
	TS   time.Time `bson:"ts"`
	CID  string    `bson:"cid"`
}

func docOf(m chatserver.Message) messageDoc {
	return messageDoc{ID: m.ID, Room: m.Room, Seq: m.Seq, From: m.From, Text: m.Text, TS: millis(m.TS), CID: m.CID}
}

func (m messageDoc) message() chatserver.Message {
	return chatserver.Message{ID: m.ID, Room: m.Room, Seq: m.Seq, From: m.From, Text: m.Text, TS: m.TS.UTC(), CID: m.CID}
}

// roomDoc is a room as stored in the rooms collection. LastSeq and LastTS
// follow the messages, updated after each insert; Rooms repairs them when a
// crash came between the insert and that update.
type roomDoc struct {
	ID      string    `bson:"_id"`
	Kind    string    `bson:"kind"`
	Members []string  `bson:"members,omitempty"`
	LastSeq int64     `bson:"last_seq"`
	LastTS  time.Time `bson:"last_ts,omitempty"`
}

// EnsureRoom records a room so that it is listed before its first message.
func (d *DB) EnsureRoom(ctx context.Context, room string) error {
	r, err := chatserver.ParseRoom(room)
	if err != nil {
		return err
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	return d.ensureRoom(ctx, r)
}

func (d *DB) ensureRoom(ctx context.Context, r chatserver.Room) error {
	set := bson.D{{Key: "kind", Value: r.Kind}, {Key: "last_seq", Value: int64(0)}}
	if r.IsDM() {
		set = append(set, bson.E{Key: "members", Value: r.Members[:]})
	}
	_, err := d.rooms.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.ID}},
		bson.D{{Key: "$setOnInsert", Value: set}}, options.UpdateOne().SetUpsert(true))
	if chatserver.ErrorCode(storeError("", err)) == chatserver.EConflict {
		return nil // a concurrent upsert created it
	}
	return storeError("ensure room", err)
}

// Append stores m as the next message of its room: it reads the room's
// highest seq and inserts m with the next one; the unique (room, seq) index
// rejects the insert if another sender took that seq first, and Append reads
// again. A duplicate on (room, from, cid) means m was stored before: Append
// returns that original with created false.
func (d *DB) Append(ctx context.Context, m chatserver.Message) (chatserver.Message, bool, error) {
	r, err := chatserver.ParseRoom(m.Room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	m.TS = millis(m.TS)
	if orig, found, err := d.byCID(ctx, m); err != nil || found {
		return orig, false, err
	}
	// Senders of this instance take turns per room, so that only senders of
	// different instances ever race for a seq.
	unlock, err := d.lockRoom(ctx, m.Room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	defer unlock()
	for attempt := range maxAppendAttempts {
		last, err := d.lastSeq(ctx, m.Room)
		if err != nil {
			return chatserver.Message{}, false, err
		}
		if last == 0 {
			// The room document must exist before the first message so that
			// Rooms lists (and repairs) the room whatever happens next.
			if err := d.ensureRoom(ctx, r); err != nil {
				return chatserver.Message{}, false, err
			}
		}
		m.Seq = last + 1
		_, err = d.messages.InsertOne(ctx, docOf(m))
		if err == nil {
			// The message is durable; a failure to update the room's summary
			// is repaired by Rooms, so it does not fail the send.
			_ = d.touchRoom(ctx, m)
			return m, true, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return chatserver.Message{}, false, storeError("append", err)
		}
		if orig, found, err := d.byCID(ctx, m); err != nil || found {
			return orig, false, err
		}
		// Lost the seq to another sender: step back a little so that a
		// crowd of senders does not keep colliding in lockstep.
		time.Sleep(time.Duration(rand.Int64N(int64(min(attempt+1, 10)) * int64(2*time.Millisecond)))) //nolint:gosec // jitter, not a secret
	}
	return chatserver.Message{}, false, chatserver.Errorf(chatserver.EUnavailable, "room %s: too many concurrent sends, try again", m.Room)
}

// lockRoom takes this instance's turn to append to room. Rooms share a
// fixed set of locks by hash, which bounds memory whatever the number of rooms.
func (d *DB) lockRoom(ctx context.Context, room string) (func(), error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(room))
	l := d.appendLocks[h.Sum32()%uint32(len(d.appendLocks))]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, chatserver.Errorf(chatserver.EUnavailable, "room %s: busy, try again", room)
	}
}

// byCID finds the message m.From already stored in m.Room with m.CID.
func (d *DB) byCID(ctx context.Context, m chatserver.Message) (chatserver.Message, bool, error) {
	var doc messageDoc
	err := d.messages.FindOne(ctx, bson.D{{Key: "room", Value: m.Room}, {Key: "from", Value: m.From}, {Key: "cid", Value: m.CID}}).Decode(&doc)
	switch {
	case err == nil:
		return doc.message(), true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return chatserver.Message{}, false, nil
	default:
		return chatserver.Message{}, false, storeError("find by cid", err)
	}
}

// lastSeq returns the highest seq stored in room, 0 if none.
func (d *DB) lastSeq(ctx context.Context, room string) (int64, error) {
	var doc messageDoc
	err := d.messages.FindOne(ctx, bson.D{{Key: "room", Value: room}},
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}}).SetProjection(bson.D{{Key: "seq", Value: 1}})).Decode(&doc)
	switch {
	case err == nil:
		return doc.Seq, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return 0, nil
	default:
		return 0, storeError("last seq", err)
	}
}

// touchRoom moves the room's summary forward to m, never backward.
func (d *DB) touchRoom(ctx context.Context, m chatserver.Message) error {
	_, err := d.rooms.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: m.Room}, {Key: "last_seq", Value: bson.D{{Key: "$lt", Value: m.Seq}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "last_seq", Value: m.Seq}, {Key: "last_ts", Value: m.TS}}}})
	return err
}

// After returns at most limit messages with seq > after, oldest first.
func (d *DB) After(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	filter := bson.D{{Key: "room", Value: room}, {Key: "seq", Value: bson.D{{Key: "$gt", Value: after}}}}
	return d.page(ctx, filter, 1, limit)
}

// Before returns the newest limit messages with seq < before (no bound when
// before <= 0), oldest first.
func (d *DB) Before(ctx context.Context, room string, before int64, limit int) (chatserver.Page, error) {
	filter := bson.D{{Key: "room", Value: room}}
	if before > 0 {
		filter = append(filter, bson.E{Key: "seq", Value: bson.D{{Key: "$lt", Value: before}}})
	}
	p, err := d.page(ctx, filter, -1, limit)
	slices.Reverse(p.Messages)
	return p, err
}

// page reads limit+1 messages in the given seq direction: the extra one only
// tells whether there are more.
func (d *DB) page(ctx context.Context, filter bson.D, dir, limit int) (chatserver.Page, error) {
	if limit < 1 {
		return chatserver.Page{}, chatserver.Errorf(chatserver.EBadRequest, "limit must be positive")
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	cur, err := d.messages.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "seq", Value: dir}}).SetLimit(int64(limit)+1))
	if err != nil {
		return chatserver.Page{}, storeError("read messages", err)
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return chatserver.Page{}, storeError("read messages", err)
	}
	p := chatserver.Page{HasMore: len(docs) > limit}
	if p.HasMore {
		docs = docs[:limit]
	}
	p.Messages = make([]chatserver.Message, len(docs))
	for i, doc := range docs {
		p.Messages[i] = doc.message()
	}
	return p, nil
}

// Rooms lists every public room and the DM rooms of user, sorted by id. A
// second query finds messages newer than a room's summary (left behind by a
// crash between a message's insert and its room's update) and repairs it.
func (d *DB) Rooms(ctx context.Context, user string) ([]chatserver.RoomInfo, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "kind", Value: chatserver.RoomKindPublic}},
		bson.D{{Key: "members", Value: user}},
	}}}
	cur, err := d.rooms.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, storeError("rooms", err)
	}
	var docs []roomDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("rooms", err)
	}
	if err := d.repairRooms(ctx, docs); err != nil {
		return nil, err
	}
	out := make([]chatserver.RoomInfo, len(docs))
	for i, r := range docs {
		out[i] = chatserver.RoomInfo{ID: r.ID, Kind: r.Kind, LastSeq: r.LastSeq, LastTS: r.LastTS.UTC()}
	}
	return out, nil
}

func (d *DB) repairRooms(ctx context.Context, rooms []roomDoc) error {
	if len(rooms) == 0 {
		return nil
	}
	newer := make(bson.A, len(rooms))
	byID := make(map[string]*roomDoc, len(rooms))
	for i := range rooms {
		r := &rooms[i]
		byID[r.ID] = r
		newer[i] = bson.D{{Key: "room", Value: r.ID}, {Key: "seq", Value: bson.D{{Key: "$gt", Value: r.LastSeq}}}}
	}
	cur, err := d.messages.Find(ctx, bson.D{{Key: "$or", Value: newer}}, options.Find().SetProjection(bson.D{{Key: "text", Value: 0}}))
	if err != nil {
		return storeError("rooms", err)
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return storeError("rooms", err)
	}
	for _, m := range docs {
		if r := byID[m.Room]; m.Seq > r.LastSeq {
			r.LastSeq, r.LastTS = m.Seq, m.TS
		}
	}
	for _, m := range docs {
		if r := byID[m.Room]; r.LastSeq == m.Seq {
			if err := d.touchRoom(ctx, m.message()); err != nil {
				return storeError("repair room", err)
			}
		}
	}
	return nil
}
