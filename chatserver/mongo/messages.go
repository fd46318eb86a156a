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

// maxAttempts bounds how often Append and Update retry after losing a seq,
// a rev or a message's state to a concurrent writer. Each loss means another
// change was stored, so the bound is only reached under a contention far
// beyond what one room sees.
const maxAttempts = 200

// revHistory is how many of the revs a message held it keeps taken (see the
// package comment): a writer would have to be overtaken by that many changes
// of one message while its write is under way for a rev to be reused.
const revHistory = 1000

// messageDoc is a message as stored in the messages collection. Revs holds
// the revs it held, the current one last; reads leave it out (withoutRevs).
type messageDoc struct {
	ID        string        `bson:"_id"`
	Room      string        `bson:"room"`
	Seq       int64         `bson:"seq"`
	Rev       int64         `bson:"rev"`
	Revs      []int64       `bson:"revs,omitempty"`
	From      string        `bson:"from"`
	Text      string        `bson:"text"`
	TS        time.Time     `bson:"ts"`
	CID       string        `bson:"cid"`
	ReplyTo   int64         `bson:"reply_to,omitempty"`
	Mentions  []string      `bson:"mentions,omitempty"`
	EditedTS  time.Time     `bson:"edited_ts,omitempty"`
	Deleted   bool          `bson:"deleted,omitempty"`
	Reactions []reactionDoc `bson:"reactions,omitempty"`
}

type reactionDoc struct {
	Emoji string   `bson:"emoji"`
	Users []string `bson:"users"`
}

// docOf is the document of m having held revs (m.Rev last). A deleted
// message keeps no text, mentions or reactions, whatever m says.
func docOf(m chatserver.Message, revs []int64) messageDoc {
	doc := messageDoc{ID: m.ID, Room: m.Room, Seq: m.Seq, Rev: m.Rev, Revs: revs, From: m.From, Text: m.Text, TS: millis(m.TS), CID: m.CID,
		ReplyTo: m.ReplyTo, Mentions: m.Mentions, EditedTS: millis(m.EditedTS), Deleted: m.Deleted}
	for _, r := range m.Reactions {
		doc.Reactions = append(doc.Reactions, reactionDoc(r))
	}
	if m.Deleted {
		doc.Text, doc.Mentions, doc.Reactions = "", nil, nil
	}
	return doc
}

// message is the message of m, with nil for empty lists so that a message
// reads back as it was stored.
func (m messageDoc) message() chatserver.Message {
	out := chatserver.Message{ID: m.ID, Room: m.Room, Seq: m.Seq, From: m.From, Text: m.Text, TS: m.TS.UTC(), CID: m.CID,
		Rev: m.Rev, ReplyTo: m.ReplyTo, Deleted: m.Deleted}
	if len(m.Mentions) > 0 {
		out.Mentions = m.Mentions
	}
	if !m.EditedTS.IsZero() {
		out.EditedTS = m.EditedTS.UTC()
	}
	for _, r := range m.Reactions {
		out.Reactions = append(out.Reactions, chatserver.Reaction(r))
	}
	return out
}

// withoutRevs is the projection of every read that returns messages.
func withoutRevs() bson.D { return bson.D{{Key: "revs", Value: 0}} }

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
	set := bson.D{{Key: "kind", Value: r.Kind}, {Key: "last_seq", Value: int64(0)}, {Key: "last_rev", Value: int64(0)}}
	if r.IsPrivate() {
		set = append(set, bson.E{Key: "members", Value: r.Members})
	}
	_, err := d.rooms.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.ID}},
		bson.D{{Key: "$setOnInsert", Value: set}}, options.UpdateOne().SetUpsert(true))
	if chatserver.ErrorCode(storeError("", err)) == chatserver.EConflict {
		return nil // a concurrent upsert created it
	}
	return storeError("ensure room", err)
}

// Append stores m as the next message of its room: it reads the room's
// highest seq and rev and inserts m with the next of each; the unique
// indexes reject the insert if another writer took either first, and Append
// reads again. A duplicate on (room, from, cid) means m was stored before:
// Append returns that original, in its current state, with created false.
func (d *DB) Append(ctx context.Context, m chatserver.Message) (chatserver.Message, bool, error) {
	r, err := chatserver.ParseRoom(m.Room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	if orig, found, err := d.byCID(ctx, m); err != nil || found {
		return orig, false, err
	}
	unlock, err := d.lockRoom(ctx, m.Room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	defer unlock()
	for attempt := range maxAttempts {
		last, err := d.top(ctx, m.Room, "seq")
		if err != nil {
			return chatserver.Message{}, false, err
		}
		if last.Seq == 0 {
			// The room document must exist before the first message so that
			// Rooms lists (and repairs) the room whatever happens next.
			if err := d.ensureRoom(ctx, r); err != nil {
				return chatserver.Message{}, false, err
			}
		}
		lastRev, err := d.top(ctx, m.Room, "rev")
		if err != nil {
			return chatserver.Message{}, false, err
		}
		m.Seq, m.Rev = last.Seq+1, lastRev.Rev+1
		doc := docOf(m, []int64{m.Rev})
		_, err = d.messages.InsertOne(ctx, doc)
		if err == nil {
			// The message is durable; a failure to update the room's summary
			// is repaired by Rooms, so it does not fail the send.
			stored := doc.message()
			_ = d.touchRoom(ctx, roomDoc{ID: m.Room, LastSeq: m.Seq, LastTS: doc.TS, LastRev: m.Rev})
			return stored, true, nil
		}
		if !isDuplicate(err) {
			return chatserver.Message{}, false, storeError("append", err)
		}
		if orig, found, err := d.byCID(ctx, m); err != nil || found {
			return orig, false, err
		}
		backOff(attempt)
	}
	return chatserver.Message{}, false, chatserver.Errorf(chatserver.EUnavailable, "room %s: too many concurrent changes, try again", m.Room)
}

// backOff waits a little after a lost race, longer after each, so that a
// crowd of writers does not keep colliding in lockstep.
func backOff(attempt int) {
	time.Sleep(time.Duration(rand.Int64N(int64(min(attempt+1, 10)) * int64(2*time.Millisecond)))) //nolint:gosec // jitter, not a secret
}

// lockRoom takes this instance's turn to change room, so that only writers
// of different instances ever race for a seq or a rev. Rooms share a fixed
// set of locks by hash, which bounds memory whatever the number of rooms.
func (d *DB) lockRoom(ctx context.Context, room string) (func(), error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(room))
	l := d.roomLocks[h.Sum32()%uint32(len(d.roomLocks))]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, chatserver.Errorf(chatserver.EUnavailable, "room %s: busy, try again", room)
	}
}

// byCID finds the message m.From already stored in m.Room with m.CID.
func (d *DB) byCID(ctx context.Context, m chatserver.Message) (chatserver.Message, bool, error) {
	return d.findMessage(ctx, bson.D{{Key: "room", Value: m.Room}, {Key: "from", Value: m.From}, {Key: "cid", Value: m.CID}})
}

// Message returns the message of room with seq, in its current state, or
// ENotFound.
func (d *DB) Message(ctx context.Context, room string, seq int64) (chatserver.Message, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	m, found, err := d.findMessage(ctx, bson.D{{Key: "room", Value: room}, {Key: "seq", Value: seq}})
	if err == nil && !found {
		err = chatserver.Errorf(chatserver.ENotFound, "room %s has no message %d", room, seq)
	}
	return m, err
}

// findMessage reads the one message filter selects, if there is one.
func (d *DB) findMessage(ctx context.Context, filter bson.D) (chatserver.Message, bool, error) {
	var doc messageDoc
	err := d.messages.FindOne(ctx, filter, options.FindOne().SetProjection(withoutRevs())).Decode(&doc)
	switch {
	case err == nil:
		return doc.message(), true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return chatserver.Message{}, false, nil
	default:
		return chatserver.Message{}, false, storeError("find message", err)
	}
}

// top returns the seq and rev of room's message with the highest field
// ("seq" or "rev"); zeros if the room has none.
func (d *DB) top(ctx context.Context, room, field string) (messageDoc, error) {
	var doc messageDoc
	err := d.messages.FindOne(ctx, bson.D{{Key: "room", Value: room}}, options.FindOne().
		SetSort(bson.D{{Key: field, Value: -1}}).
		SetProjection(bson.D{{Key: "seq", Value: 1}, {Key: "rev", Value: 1}})).Decode(&doc)
	switch {
	case err == nil:
		return doc, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return messageDoc{}, nil
	default:
		return messageDoc{}, storeError("last "+field, err)
	}
}

// After returns at most limit messages with seq > after, oldest first.
func (d *DB) After(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	return d.page(ctx, room, bson.D{{Key: "seq", Value: bson.D{{Key: "$gt", Value: after}}}}, "seq", 1, limit)
}

// Before returns the newest limit messages with seq < before (no bound when
// before <= 0), oldest first.
func (d *DB) Before(ctx context.Context, room string, before int64, limit int) (chatserver.Page, error) {
	var bound bson.D
	if before > 0 {
		bound = bson.D{{Key: "seq", Value: bson.D{{Key: "$lt", Value: before}}}}
	}
	p, err := d.page(ctx, room, bound, "seq", -1, limit)
	slices.Reverse(p.Messages)
	return p, err
}

// Changes returns at most limit messages whose rev > after, in their
// current state, in rev order.
func (d *DB) Changes(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	return d.page(ctx, room, bson.D{{Key: "rev", Value: bson.D{{Key: "$gt", Value: after}}}}, "rev", 1, limit)
}

// page reads the room's highest rev, then limit+1 of its messages within
// bound in the given direction of field: the extra one only tells whether
// there are more.
func (d *DB) page(ctx context.Context, room string, bound bson.D, field string, dir, limit int) (chatserver.Page, error) {
	if limit < 1 {
		return chatserver.Page{}, chatserver.Errorf(chatserver.EBadRequest, "limit must be positive")
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	last, err := d.top(ctx, room, "rev")
	if err != nil {
		return chatserver.Page{}, err
	}
	cur, err := d.messages.Find(ctx, append(bson.D{{Key: "room", Value: room}}, bound...), options.Find().
		SetSort(bson.D{{Key: field, Value: dir}}).SetLimit(int64(limit)+1).SetProjection(withoutRevs()))
	if err != nil {
		return chatserver.Page{}, storeError("read messages", err)
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return chatserver.Page{}, storeError("read messages", err)
	}
	p := chatserver.Page{HasMore: len(docs) > limit, Rev: last.Rev}
	if p.HasMore {
		docs = docs[:limit]
	}
	p.Messages = make([]chatserver.Message, len(docs))
	for i, doc := range docs {
		p.Messages[i] = doc.message()
	}
	return p, nil
}
