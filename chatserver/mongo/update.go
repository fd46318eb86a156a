package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Update changes the message of room with seq: it reads the message, lets
// change make its next state, takes the room's next rev with a marker (see
// revMarker) and replaces the message with that state and rev, provided
// the message still has the rev it was read with. When the marker is
// refused (another change took the rev, or follows the same state of the
// message), Update reads again and calls change again. The replacement is
// the whole document, so a deleted message keeps nothing of its text.
func (d *DB) Update(ctx context.Context, room string, seq int64, change chatserver.Change) (chatserver.Message, bool, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	unlock, err := d.lockRoom(ctx, room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	defer unlock()
	for attempt := range maxAttempts {
		cur, err := d.current(ctx, room, seq)
		if err != nil {
			return chatserver.Message{}, false, err
		}
		current := cur.message()
		next, changed, err := change(current)
		switch {
		case err != nil:
			return chatserver.Message{}, false, err
		case !changed:
			return current, false, nil
		}
		last, err := d.top(ctx, room, "rev")
		if err != nil {
			return chatserver.Message{}, false, err
		}
		next.ID, next.Room, next.Seq, next.From, next.TS, next.CID = current.ID, current.Room, current.Seq, current.From, current.TS, current.CID
		next.Rev = last.Rev + 1
		_, err = d.messages.InsertOne(ctx, newRevMarker(cur, next.Rev))
		if isDuplicate(err) {
			if err := d.refused(ctx, room, next.Rev, attempt); err != nil {
				return chatserver.Message{}, false, err
			}
			continue
		}
		if err != nil {
			return chatserver.Message{}, false, storeError("mark rev", err)
		}
		doc := docOf(next, heldRevs(cur.Revs, next.Rev))
		doc.Slot = cur.slot()
		res, err := d.messages.ReplaceOne(ctx, bson.D{{Key: "_id", Value: cur.ID}, {Key: "rev", Value: cur.Rev}}, doc)
		if err == nil && res.MatchedCount == 1 {
			// Durable; Rooms repairs a summary this fails to move.
			_ = d.touchRoom(ctx, roomDoc{ID: room, LastRev: next.Rev})
			return doc.message(), true, nil
		}
		if err != nil && !isDuplicate(err) {
			return chatserver.Message{}, false, storeError("update message", err)
		}
		// The message moved on without this change: a writer took this
		// marker for stranded and gave its rev to the message as it was.
		backOff(attempt)
	}
	return chatserver.Message{}, false, chatserver.Errorf(chatserver.EUnavailable, "room %s: too many concurrent changes, try again", room)
}

// current reads the message of room with seq as stored, revs included.
func (d *DB) current(ctx context.Context, room string, seq int64) (messageDoc, error) {
	var cur messageDoc
	err := d.messages.FindOne(ctx, bson.D{{Key: "room", Value: room}, {Key: "seq", Value: seq}}).Decode(&cur)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments) || err == nil && seq < 1:
		return messageDoc{}, chatserver.Errorf(chatserver.ENotFound, "room %s has no message %d", room, seq)
	case err != nil:
		return messageDoc{}, storeError("read message", err)
	}
	return cur, nil
}

// revMarker is a document of the messages collection that holds the rev of
// a change to a message for good, so that no writer can take that rev
// again once the message moves on (a unique index on an array, which would
// keep the revs a message held taken, is not unique per element on every
// server that speaks MongoDB's protocol). It is stored before the change:
// its unique slot takes the rev, and its unique (from, cid), made of the
// message and the rev it had, lets only one change follow each state of a
// message. Its seq and rev are below 0, which keeps it out of every read
// of messages.
//
// A rev is taken only when every rev below it is stored, so a marker whose
// change never came (its writer died between the two writes) holds up
// every change of the room: the next writer that finds it older than the
// store's timeout gives its rev to the message it was for, in the state
// the message has (fillStranded). Subscribers then see that rev as an
// update that repeats the message's state.
type revMarker struct {
	ID    string    `bson:"_id"`
	Room  string    `bson:"room"`
	Seq   int64     `bson:"seq"`
	Rev   int64     `bson:"rev"`
	Revs  []int64   `bson:"revs"`
	Slot  int64     `bson:"slot"`
	From  string    `bson:"from"`
	CID   string    `bson:"cid"`
	TS    time.Time `bson:"ts"`
	Of    int64     `bson:"of"`    // the seq of the message changed
	After int64     `bson:"after"` // the rev the message had before
}

// newRevMarker is the marker of rev, a change to cur.
func newRevMarker(cur messageDoc, rev int64) revMarker {
	return revMarker{
		ID: fmt.Sprintf("%s#%d", cur.Room, rev), Room: cur.Room, Seq: -rev, Rev: -rev, Revs: []int64{-rev}, Slot: rev,
		CID: fmt.Sprintf("next %d %d", cur.Seq, cur.Rev), TS: millis(time.Now()), Of: cur.Seq, After: cur.Rev,
	}
}

// fillStranded finds what holds slot in room. A marker older than the
// store's timeout whose message still has the rev it had before is
// stranded: its writer is gone. The message takes the marker's rev, its
// state unchanged, so that the room's changes go on.
func (d *DB) fillStranded(ctx context.Context, room string, slot int64) error {
	var mk revMarker
	err := d.messages.FindOne(ctx, bson.D{{Key: "room", Value: room}, {Key: "slot", Value: slot}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: 0}}}}).Decode(&mk)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil // a message holds it: another writer was first
	case err != nil:
		return storeError("read rev marker", err)
	case time.Since(mk.TS) < d.grace:
		return nil // its writer may be at work still
	}
	cur, err := d.current(ctx, room, mk.Of)
	switch {
	case chatserver.ErrorCode(err) == chatserver.ENotFound:
		return nil
	case err != nil:
		return err
	case cur.Rev != mk.After:
		return nil // its change came, or a writer filled it first
	}
	doc := cur
	doc.Rev, doc.Revs, doc.Slot = mk.Slot, heldRevs(cur.Revs, mk.Slot), cur.slot()
	_, err = d.messages.ReplaceOne(ctx, bson.D{{Key: "_id", Value: cur.ID}, {Key: "rev", Value: mk.After}}, doc)
	if err != nil && !isDuplicate(err) {
		return storeError("fill rev", err)
	}
	_ = d.touchRoom(ctx, roomDoc{ID: room, LastRev: mk.Slot})
	return nil
}

// slot is the slot the message keeps when it moves to a new rev: its own,
// or, for a message stored before slots existed, the rev it leaves, which
// it then holds for good.
func (m messageDoc) slot() int64 {
	if m.Slot == 0 {
		return m.Rev
	}
	return m.Slot
}

// heldRevs is the rev history of a message that held revs and takes rev:
// the last revHistory of them.
func heldRevs(revs []int64, rev int64) []int64 {
	revs = append(slices.Clip(revs), rev)
	return revs[max(0, len(revs)-revHistory):]
}
