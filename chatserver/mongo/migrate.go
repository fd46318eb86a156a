package mongo

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// backfillBatch is how many documents one bulk write of a backfill updates.
const backfillBatch = 500

// migrate brings a database written by an earlier version up to date, then
// creates the indexes that are missing. Both steps are idempotent, and
// instances that run them at once write the same values.
//
// Messages stored before revs existed take rev = seq: their room's changes
// were its messages, in seq order. Their rooms' summaries take the rev of
// their last message. The unique (room, rev) index is created after that,
// when no two messages of a room lack a rev; once it exists, later starts
// skip the backfill and its scan of every message.
func (d *DB) migrate(ctx context.Context) error {
	done, err := hasIndex(ctx, d.messages, "room_rev")
	if err != nil {
		return err
	}
	if !done {
		if err := d.backfillRevs(ctx); err != nil {
			return err
		}
	}
	return d.createIndexes(ctx)
}

// backfillRevs gives the messages and rooms that have no rev one.
func (d *DB) backfillRevs(ctx context.Context) error {
	err := d.backfill(ctx, d.messages, "rev", "seq", func(seq int64) bson.D {
		return bson.D{{Key: "rev", Value: seq}, {Key: "revs", Value: bson.A{seq}}}
	})
	if err != nil {
		return err
	}
	return d.backfill(ctx, d.rooms, "last_rev", "last_seq", func(lastSeq int64) bson.D {
		return bson.D{{Key: "last_rev", Value: lastSeq}}
	})
}

// backfill sets, in every document of coll that lacks the field missing,
// what set makes of the document's int64 field from, in bulk writes of
// backfillBatch documents. Each write leaves a document alone that got the
// field meanwhile. Every round trip is bounded by the client's timeout, and
// the whole by ctx, since the collection may be large.
func (d *DB) backfill(ctx context.Context, coll *mongo.Collection, missing, from string, set func(int64) bson.D) error {
	op := "backfill " + coll.Name() + "." + missing
	absent := bson.D{{Key: missing, Value: bson.D{{Key: "$exists", Value: false}}}}
	cur, err := coll.Find(ctx, absent, options.Find().SetProjection(bson.D{{Key: from, Value: 1}}).SetBatchSize(backfillBatch))
	if err != nil {
		return storeError(op, err)
	}
	defer cur.Close(ctx)
	var batch []mongo.WriteModel
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := coll.BulkWrite(ctx, batch, options.BulkWrite().SetOrdered(false))
		batch = batch[:0]
		return storeError(op, err)
	}
	for cur.Next(ctx) {
		id := cur.Current.Lookup("_id")
		v, _ := cur.Current.Lookup(from).AsInt64OK()
		batch = append(batch, mongo.NewUpdateOneModel().
			SetFilter(append(bson.D{{Key: "_id", Value: id}}, absent...)).
			SetUpdate(bson.D{{Key: "$set", Value: set(v)}}))
		if len(batch) == backfillBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return storeError(op, err)
	}
	return flush()
}

// createIndexes creates the indexes that are missing. It lists them first
// rather than relying on createIndexes being a no-op for existing ones:
// FerretDB drops the connection when asked to create an index it has.
func (d *DB) createIndexes(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*d.timeout)
	defer cancel()
	want := []struct {
		coll   *mongo.Collection
		name   string
		keys   bson.D
		unique bool
		sparse bool // documents without the keys are left out (MongoDB; FerretDB leaves them out anyway)
	}{
		{d.messages, "room_seq", bson.D{{Key: "room", Value: 1}, {Key: "seq", Value: 1}}, true, false},
		{d.messages, "room_rev", bson.D{{Key: "room", Value: 1}, {Key: "rev", Value: 1}}, true, false},
		{d.messages, "room_revs", bson.D{{Key: "room", Value: 1}, {Key: "revs", Value: 1}}, true, false},
		// Messages stored before slots existed have none.
		{d.messages, "room_slot", bson.D{{Key: "room", Value: 1}, {Key: "slot", Value: 1}}, true, true},
		{d.messages, "room_from_cid", bson.D{{Key: "room", Value: 1}, {Key: "from", Value: 1}, {Key: "cid", Value: 1}}, true, false},
		{d.rooms, "kind", bson.D{{Key: "kind", Value: 1}}, false, false},
		{d.sessions, "expires", bson.D{{Key: "expires", Value: 1}}, false, false},
		{d.reads, "user", bson.D{{Key: "user", Value: 1}}, false, false},
	}
	for _, w := range want {
		has, err := hasIndex(ctx, w.coll, w.name)
		if err != nil {
			return err
		}
		if has {
			continue
		}
		opts := options.Index().SetName(w.name).SetUnique(w.unique)
		if w.sparse {
			opts.SetSparse(true)
		}
		model := mongo.IndexModel{Keys: w.keys, Options: opts}
		if _, err := w.coll.Indexes().CreateOne(ctx, model); err != nil {
			return storeError("create index "+w.name, err)
		}
	}
	return nil
}

// hasIndex reports whether coll has an index named name.
func hasIndex(ctx context.Context, coll *mongo.Collection, name string) (bool, error) {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return false, storeError("list indexes", err)
	}
	return slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == name }), nil
}
