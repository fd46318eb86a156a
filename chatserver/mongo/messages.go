package mongo

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/chatserver"
)

// maxAttempts bounds how often a batch of sends or an Update tries after
// losing a seq, a rev or a message's state to a writer of another
// instance. Each loss means another change took them, so the bound is only
// reached under a contention far beyond what one room sees, or while a rev
// marker whose writer died waits for the store's timeout.
const maxAttempts = 200

// revHistory is how many of the revs a message held its document lists,
// under a unique multikey index that keeps them taken on MongoDB. The slots
// of messages and rev markers keep every rev taken on any server (see
// revMarker); the list still guards the revs of messages stored before
// slots existed.
const revHistory = 1000

// messageDoc is a message as stored in the messages collection. Revs holds
// the revs it held, the current one last; reads leave it out (withoutRevs).
// Slot is the rev of its send, which it holds for good (see revMarker);
// messages stored before slots existed have none.
type messageDoc struct {
	ID        string        `bson:"_id"`
	Room      string        `bson:"room"`
	Seq       int64         `bson:"seq"`
	Rev       int64         `bson:"rev"`
	Revs      []int64       `bson:"revs,omitempty"`
	Slot      int64         `bson:"slot,omitempty"`
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

// Append stores m as the next message of its room. The sends of this
// instance to one room wait in a queue, and the first of them stores every
// send waiting as one batch (see appendQueues and storeBatch). A duplicate
// on (room, from, cid) means m was stored before: Append returns that
// original, in its current state, with created false.
func (d *DB) Append(ctx context.Context, m chatserver.Message) (chatserver.Message, bool, error) {
	if _, err := chatserver.ParseRoom(m.Room); err != nil {
		return chatserver.Message{}, false, err
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	p := &queuedAppend{ctx: ctx, m: m, lead: make(chan struct{}), done: make(chan struct{})}
	if d.queues.enqueue(p) || d.queues.await(p) {
		d.lead(ctx, m.Room)
		<-p.done
	}
	return p.res.stored, p.res.created, p.res.err
}

// lead stores the sends waiting in room's queue as one batch, moves the
// room's summary and hands the turn on. The batch is bounded by the store's
// timeout, not by the leader's ctx: the sends of the batch are not the
// leader's alone.
func (d *DB) lead(ctx context.Context, room string) {
	ctx, cancel := d.withTimeout(context.WithoutCancel(ctx))
	defer cancel()
	defer d.queues.handOff(room)
	if last := d.storeBatch(ctx, room, d.queues.take(room)); last.LastSeq > 0 {
		// The messages are durable; a failure to move the room's summary
		// is repaired by Rooms, so it fails no send. It moves before the
		// next batch starts, which takes it as the room's top.
		_ = d.touchRoom(ctx, last)
	}
}

// storeBatch stores the sends of batch, in their order, as the next
// messages of room, and finishes each. It inserts the messages with the
// seqs and revs after a lower bound of the room's highest ones in one
// ordered write: the room's summary, which the batch before moved (see
// lead). The unique indexes reject the first message whose seq
// or rev another writer (of another instance) took first, or that repeats
// a send; storeBatch answers a repeat with its original, and goes on with
// the rest after a new bound (nextTop). It returns the room's summary after
// the last message it stored (LastSeq 0: none).
func (d *DB) storeBatch(ctx context.Context, room string, batch []*queuedAppend) (last roomDoc) {
	last.ID = room
	todo := dropGivenUp(batch)
	if len(todo) == 0 {
		return last
	}
	fail := func(err error) {
		for _, p := range todo {
			p.finish(appendResult{err: err})
		}
	}
	unlock, err := d.lockRoom(ctx, room)
	if err != nil {
		fail(err)
		return last
	}
	defer unlock()
	top, err := d.summaryTop(ctx, room)
	for attempt := 0; err == nil && attempt < maxAttempts; attempt++ {
		d.attempts.Add(1)
		if top.Seq == 0 {
			// The room document must exist before the first message so that
			// Rooms lists (and repairs) the room whatever happens next.
			r, _ := chatserver.ParseRoom(room)
			if err = d.ensureRoom(ctx, r); err != nil {
				break
			}
		}
		docs := make([]messageDoc, len(todo))
		for i, p := range todo {
			m := p.m
			m.Seq, m.Rev = top.Seq+1+int64(i), top.Rev+1+int64(i)
			docs[i] = docOf(m, []int64{m.Rev})
			docs[i].Slot = m.Rev
		}
		stored, insertErr := d.insertOrdered(ctx, docs)
		for i, p := range todo[:stored] {
			p.finish(appendResult{stored: docs[i].message(), created: true})
			last.LastSeq, last.LastRev, last.LastTS = docs[i].Seq, docs[i].Rev, docs[i].TS
			top = messageDoc{Seq: docs[i].Seq, Rev: docs[i].Rev}
		}
		todo = todo[stored:]
		if insertErr == nil {
			return last
		}
		if !isDuplicate(insertErr) {
			err = storeError("append", insertErr)
			break
		}
		orig, repeated, findErr := d.byCID(ctx, todo[0].m)
		switch {
		case findErr != nil:
			err = findErr
		case repeated:
			// Sent before: the original answers it, and its seq and rev
			// go to the next message.
			todo[0].finish(appendResult{stored: orig})
			todo = todo[1:]
		default:
			// Another writer took the seq or the rev first.
			if err = d.refused(ctx, room, top.Rev+1, attempt); err == nil {
				top, err = d.nextTop(ctx, room, top)
			}
		}
		if todo = dropGivenUp(todo); len(todo) == 0 {
			break
		}
	}
	if err == nil && len(todo) > 0 {
		err = chatserver.Errorf(chatserver.EUnavailable, "room %s: too many concurrent changes, try again", room)
	}
	fail(err)
	return last
}

// summaryTop returns the last seq and rev of room's summary, which are
// never above its highest ones (touchRoom moves them after the writes),
// with a read by id, cheap on every server.
func (d *DB) summaryTop(ctx context.Context, room string) (messageDoc, error) {
	var r roomDoc
	err := d.rooms.FindOne(ctx, bson.D{{Key: "_id", Value: room}},
		options.FindOne().SetProjection(bson.D{{Key: "last_seq", Value: 1}, {Key: "last_rev", Value: 1}})).Decode(&r)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return messageDoc{}, storeError("read room", err)
	}
	return messageDoc{Seq: r.LastSeq, Rev: r.LastRev}, nil
}

// summaryTries is how often nextTop reads the summary before it sorts.
const summaryTries = 3

// nextTop returns where to insert after once an insert after refused was
// refused: the room's summary where it shows more than refused (the writer
// that won moves it right after its insert), else the room's highest seq
// and rev (tops: a sort, which servers without indexes for it, as FerretDB,
// answer by reading the whole room).
func (d *DB) nextTop(ctx context.Context, room string, refused messageDoc) (messageDoc, error) {
	for try := range summaryTries {
		if try > 0 {
			backOff(try)
		}
		s, err := d.summaryTop(ctx, room)
		if err != nil {
			return messageDoc{}, err
		}
		if s.Seq > refused.Seq || s.Rev > refused.Rev {
			return messageDoc{Seq: max(s.Seq, refused.Seq), Rev: max(s.Rev, refused.Rev)}, nil
		}
	}
	return d.tops(ctx, room)
}

// dropGivenUp finishes the sends whose callers gave up (their ctx ended)
// with EUnavailable and returns the others: a batch goes on only for sends
// still awaited.
func dropGivenUp(sends []*queuedAppend) []*queuedAppend {
	var rest []*queuedAppend
	for _, p := range sends {
		if err := p.ctx.Err(); err != nil {
			p.finish(appendResult{err: chatserver.Errorf(chatserver.EUnavailable, "room %s: gave up: %v", p.m.Room, err)})
			continue
		}
		rest = append(rest, p)
	}
	return rest
}

// insertOrdered inserts docs in their order, stopping at the first one
// refused, and returns how many it inserted with the error of that one.
func (d *DB) insertOrdered(ctx context.Context, docs []messageDoc) (int, error) {
	_, err := d.messages.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	if err == nil {
		return len(docs), nil
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
		first := bwe.WriteErrors[0].Index
		for _, we := range bwe.WriteErrors {
			first = min(first, we.Index)
		}
		return first, err
	}
	return 0, err
}

// refused waits after the attempt-th write that wanted rev of room was
// refused. From the third on it first looks for a change whose writer died
// holding rev, and frees the rev if so (fillStranded).
func (d *DB) refused(ctx context.Context, room string, rev int64, attempt int) error {
	if attempt >= 2 {
		if err := d.fillStranded(ctx, room, rev); err != nil {
			return err
		}
	}
	backOff(attempt)
	return nil
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
// ("seq" or "rev"); zeros if the room has none. Markers (seq and rev below
// 0) are not messages.
func (d *DB) top(ctx context.Context, room, field string) (messageDoc, error) {
	var doc messageDoc
	filter := bson.D{{Key: "room", Value: room}, {Key: field, Value: bson.D{{Key: "$gt", Value: 0}}}}
	err := d.messages.FindOne(ctx, filter, options.FindOne().
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

// tops returns room's highest seq and highest rev, read at once.
func (d *DB) tops(ctx context.Context, room string) (messageDoc, error) {
	var (
		wg             sync.WaitGroup
		bySeq, byRev   messageDoc
		seqErr, revErr error
	)
	wg.Go(func() { bySeq, seqErr = d.top(ctx, room, "seq") })
	byRev, revErr = d.top(ctx, room, "rev")
	wg.Wait()
	if seqErr != nil {
		return messageDoc{}, seqErr
	}
	return messageDoc{Seq: bySeq.Seq, Rev: byRev.Rev}, revErr
}

// After returns at most limit messages with seq > after, oldest first.
func (d *DB) After(ctx context.Context, room string, after int64, limit int) (chatserver.Page, error) {
	return d.page(ctx, room, bson.D{{Key: "seq", Value: bson.D{{Key: "$gt", Value: after}}}}, "seq", 1, limit)
}

// Before returns the newest limit messages with seq < before (no bound when
// before <= 0), oldest first.
func (d *DB) Before(ctx context.Context, room string, before int64, limit int) (chatserver.Page, error) {
	bound := bson.D{{Key: "seq", Value: bson.D{{Key: "$gt", Value: 0}}}} // markers are no messages
	if before > 0 {
		bound = bson.D{{Key: "seq", Value: bson.D{{Key: "$gt", Value: 0}, {Key: "$lt", Value: before}}}}
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
