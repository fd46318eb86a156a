package mongo

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/chatserver"
)

// roomDoc is a room as stored in the rooms collection. Its summary (LastSeq,
// LastTS, LastRev) follows the messages, moved after each write; Rooms
// repairs it when a crash came between a write and that move.
type roomDoc struct {
	ID      string    `bson:"_id"`
	Kind    string    `bson:"kind"`
	Members []string  `bson:"members,omitempty"`
	LastSeq int64     `bson:"last_seq"`
	LastTS  time.Time `bson:"last_ts,omitempty"`
	LastRev int64     `bson:"last_rev"`
}

// readDoc is a user's read position in a room, in the reads collection.
type readDoc struct {
	ID      string `bson:"_id"` // readID(user, room)
	User    string `bson:"user"`
	Room    string `bson:"room"`
	ReadSeq int64  `bson:"read_seq"`
}

// readID keys the read position of user in room (neither has a space).
func readID(user, room string) string { return user + " " + room }

// touchRoom moves room s.ID's summary forward to s, never backward: to
// s.LastSeq and s.LastTS unless it holds a later message (LastSeq 0: no
// new message), and to s.LastRev unless it holds a later rev.
func (d *DB) touchRoom(ctx context.Context, s roomDoc) error {
	maxRev := bson.E{Key: "$max", Value: bson.D{{Key: "last_rev", Value: s.LastRev}}}
	if s.LastSeq > 0 {
		res, err := d.rooms.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: s.ID}, {Key: "last_seq", Value: bson.D{{Key: "$lt", Value: s.LastSeq}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "last_seq", Value: s.LastSeq}, {Key: "last_ts", Value: s.LastTS}}}, maxRev})
		if err != nil || res.MatchedCount > 0 {
			return err
		}
	}
	_, err := d.rooms.UpdateOne(ctx, bson.D{{Key: "_id", Value: s.ID}}, bson.D{maxRev})
	return err
}

// MarkRead moves user's read position in room to seq unless it is already
// there or further, and returns the position.
func (d *DB) MarkRead(ctx context.Context, user, room string, seq int64) (int64, bool, error) {
	if seq <= 0 {
		return 0, false, chatserver.Errorf(chatserver.EBadRequest, "read position must be positive")
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	last, err := d.top(ctx, room, "seq")
	if err != nil {
		return 0, false, err
	}
	if seq > last.Seq {
		return 0, false, chatserver.Errorf(chatserver.EBadRequest, "room %s has no message %d", room, seq)
	}
	update := bson.D{
		{Key: "$max", Value: bson.D{{Key: "read_seq", Value: seq}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "user", Value: user}, {Key: "room", Value: room}}},
	}
	// The document as it was tells whether the position moved.
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)
	for attempt := 0; ; attempt++ {
		var old readDoc
		err := d.reads.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: readID(user, room)}}, update, opts).Decode(&old)
		switch {
		case isDuplicate(err) && attempt == 0:
			continue // a concurrent first read of the room inserted the document: update it
		case errors.Is(err, mongo.ErrNoDocuments):
			return seq, true, nil // the first read of the room
		case err != nil:
			return 0, false, storeError("mark read", err)
		}
		return max(old.ReadSeq, seq), old.ReadSeq < seq, nil
	}
}

// Rooms lists every public room and the DM and group rooms of user, sorted
// by id, with user's read position and counts. It takes four queries
// whatever the number of rooms: the rooms, the messages newer than their
// summaries (to repair them), user's read positions, and one aggregation
// that counts the unread messages.
func (d *DB) Rooms(ctx context.Context, user string) ([]chatserver.RoomInfo, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "kind", Value: chatserver.RoomKindPublic}},
		bson.D{{Key: "members", Value: user}},
	}}}
	var rooms []roomDoc
	if err := d.findAll(ctx, d.rooms, filter, &rooms, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})); err != nil {
		return nil, err
	}
	if len(rooms) == 0 {
		return []chatserver.RoomInfo{}, nil
	}
	if err := d.repairRooms(ctx, rooms); err != nil {
		return nil, err
	}
	var reads []readDoc
	if err := d.findAll(ctx, d.reads, bson.D{{Key: "user", Value: user}}, &reads); err != nil {
		return nil, err
	}
	readSeq := make(map[string]int64, len(reads))
	for _, r := range reads {
		readSeq[r.Room] = r.ReadSeq
	}
	counts, err := d.unread(ctx, user, rooms, readSeq)
	if err != nil {
		return nil, err
	}
	others, err := d.othersReads(ctx, user, rooms)
	if err != nil {
		return nil, err
	}
	out := make([]chatserver.RoomInfo, len(rooms))
	for i, r := range rooms {
		c := counts[r.ID]
		out[i] = chatserver.RoomInfo{ID: r.ID, Kind: r.Kind, Members: r.Members, LastSeq: r.LastSeq, LastTS: r.LastTS.UTC(), Rev: r.LastRev,
			ReadSeq: readSeq[r.ID], Unread: c.unread, Mentions: c.mentions, Reads: others[r.ID]}
	}
	return out, nil
}

// othersReads returns the read positions of the other members of the DM
// and group rooms among rooms, by room and user, in one query.
func (d *DB) othersReads(ctx context.Context, user string, rooms []roomDoc) (map[string]map[string]int64, error) {
	var private bson.A
	for _, r := range rooms {
		if len(r.Members) > 0 {
			private = append(private, r.ID)
		}
	}
	if len(private) == 0 {
		return nil, nil
	}
	var reads []readDoc
	filter := bson.D{{Key: "room", Value: bson.D{{Key: "$in", Value: private}}}, {Key: "user", Value: bson.D{{Key: "$ne", Value: user}}}}
	if err := d.findAll(ctx, d.reads, filter, &reads); err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	for _, r := range reads {
		if out[r.Room] == nil {
			out[r.Room] = map[string]int64{}
		}
		out[r.Room][r.User] = r.ReadSeq
	}
	return out, nil
}

// findAll decodes every document of coll that filter selects into out.
func (d *DB) findAll(ctx context.Context, coll *mongo.Collection, filter bson.D, out any, opts ...options.Lister[options.FindOptions]) error {
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return storeError("read "+coll.Name(), err)
	}
	return storeError("read "+coll.Name(), cur.All(ctx, out))
}

// repairRooms finds the messages newer than a room's summary, in seq or
// in rev (left behind by a crash between a write and the move of the
// summary), brings rooms up to date with them and stores the repair.
func (d *DB) repairRooms(ctx context.Context, rooms []roomDoc) error {
	newer := make(bson.A, 0, 2*len(rooms))
	byID := make(map[string]*roomDoc, len(rooms))
	for i := range rooms {
		r := &rooms[i]
		byID[r.ID] = r
		newer = append(newer,
			bson.D{{Key: "room", Value: r.ID}, {Key: "seq", Value: bson.D{{Key: "$gt", Value: r.LastSeq}}}},
			bson.D{{Key: "room", Value: r.ID}, {Key: "rev", Value: bson.D{{Key: "$gt", Value: r.LastRev}}}})
	}
	var docs []messageDoc
	projection := bson.D{{Key: "room", Value: 1}, {Key: "seq", Value: 1}, {Key: "ts", Value: 1}, {Key: "rev", Value: 1}}
	if err := d.findAll(ctx, d.messages, bson.D{{Key: "$or", Value: newer}}, &docs, options.Find().SetProjection(projection)); err != nil {
		return err
	}
	stale := map[string]bool{}
	for _, m := range docs {
		r := byID[m.Room]
		if m.Seq > r.LastSeq {
			r.LastSeq, r.LastTS = m.Seq, m.TS
		}
		r.LastRev = max(r.LastRev, m.Rev)
		stale[r.ID] = true
	}
	for id := range stale {
		if err := d.touchRoom(ctx, *byID[id]); err != nil {
			return storeError("repair room", err)
		}
	}
	return nil
}

// roomCounts are a user's unread and mention counts in one room.
type roomCounts struct{ unread, mentions int64 }

// unread counts, in one aggregation, the messages of other users that are
// not deleted and come after user's read position, by room, and those of
// them that mention user. It groups them by room and list of mentions
// (FerretDB has no conditional expressions), which leaves a few groups per
// room to add up here.
func (d *DB) unread(ctx context.Context, user string, rooms []roomDoc, readSeq map[string]int64) (map[string]roomCounts, error) {
	var after bson.A
	for _, r := range rooms {
		if r.LastSeq > readSeq[r.ID] {
			after = append(after, bson.D{{Key: "room", Value: r.ID}, {Key: "seq", Value: bson.D{{Key: "$gt", Value: readSeq[r.ID]}}}})
		}
	}
	counts := map[string]roomCounts{}
	if len(after) == 0 {
		return counts, nil
	}
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{
			{Key: "$or", Value: after},
			{Key: "from", Value: bson.D{{Key: "$ne", Value: user}}},
			{Key: "deleted", Value: bson.D{{Key: "$ne", Value: true}}},
		}}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: bson.D{{Key: "room", Value: "$room"}, {Key: "mentions", Value: "$mentions"}}},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	cur, err := d.messages.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, storeError("count unread", err)
	}
	var groups []struct {
		Key struct {
			Room     string   `bson:"room"`
			Mentions []string `bson:"mentions"`
		} `bson:"_id"`
		N int64 `bson:"n"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return nil, storeError("count unread", err)
	}
	for _, g := range groups {
		c := counts[g.Key.Room]
		c.unread += g.N
		if slices.Contains(g.Key.Mentions, user) {
			c.mentions += g.N
		}
		counts[g.Key.Room] = c
	}
	return counts, nil
}
