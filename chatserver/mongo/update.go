package mongo

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Update changes the message of room with seq: it reads the message, lets
// change make its next state, and replaces the message with that state and
// the room's next rev, provided the message still has the rev it was read
// with. When it has not (another change came first), or when the unique rev
// indexes reject the rev (another change took it), Update reads again and
// calls change again. The replacement is the whole document, so a deleted
// message keeps nothing of its text.
func (d *DB) Update(ctx context.Context, room string, seq int64, change chatserver.Change) (chatserver.Message, bool, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	unlock, err := d.lockRoom(ctx, room)
	if err != nil {
		return chatserver.Message{}, false, err
	}
	defer unlock()
	for attempt := range maxAttempts {
		var cur messageDoc
		err := d.messages.FindOne(ctx, bson.D{{Key: "room", Value: room}, {Key: "seq", Value: seq}}).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return chatserver.Message{}, false, chatserver.Errorf(chatserver.ENotFound, "room %s has no message %d", room, seq)
		}
		if err != nil {
			return chatserver.Message{}, false, storeError("read message", err)
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
		doc := docOf(next, heldRevs(cur.Revs, next.Rev))
		res, err := d.messages.ReplaceOne(ctx, bson.D{{Key: "_id", Value: cur.ID}, {Key: "rev", Value: cur.Rev}}, doc)
		if err == nil && res.MatchedCount == 1 {
			// Durable; Rooms repairs a summary this fails to move.
			_ = d.touchRoom(ctx, roomDoc{ID: room, LastRev: next.Rev})
			return doc.message(), true, nil
		}
		if err != nil && !isDuplicate(err) {
			return chatserver.Message{}, false, storeError("update message", err)
		}
		backOff(attempt)
	}
	return chatserver.Message{}, false, chatserver.Errorf(chatserver.EUnavailable, "room %s: too many concurrent changes, try again", room)
}

// heldRevs is the rev history of a message that held revs and takes rev:
// the last revHistory of them.
func heldRevs(revs []int64, rev int64) []int64 {
	revs = append(slices.Clip(revs), rev)
	return revs[max(0, len(revs)-revHistory):]
}
