package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/chatserver"
)

// userDoc is a user as stored in the users collection, keyed by user id.
type userDoc struct {
	ID           string    `bson:"_id"`
	PasswordHash []byte    `bson:"password_hash,omitempty"`
	Created      time.Time `bson:"created"`
	LastSeen     time.Time `bson:"last_seen,omitempty"`
}

func (u userDoc) account() chatserver.Account {
	return chatserver.Account{ID: u.ID, PasswordHash: u.PasswordHash, Created: u.Created.UTC(), LastSeen: u.LastSeen.UTC()}
}

// CreateAccount registers a new user; EConflict if the id is taken.
func (d *DB) CreateAccount(ctx context.Context, a chatserver.Account) error {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	_, err := d.users.InsertOne(ctx, userDoc{ID: a.ID, PasswordHash: a.PasswordHash, Created: millis(a.Created), LastSeen: millis(a.LastSeen)})
	if chatserver.ErrorCode(storeError("", err)) == chatserver.EConflict {
		return chatserver.Errorf(chatserver.EConflict, "user %q already exists", a.ID)
	}
	return storeError("create account", err)
}

// Account returns one user, or ENotFound.
func (d *DB) Account(ctx context.Context, id string) (chatserver.Account, error) {
	var u userDoc
	if err := d.findByID(ctx, d.users, id, &u); err != nil {
		return chatserver.Account{}, storeError("account "+id, err)
	}
	return u.account(), nil
}

// Accounts returns every registered user, sorted by id.
func (d *DB) Accounts(ctx context.Context) ([]chatserver.Account, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	cur, err := d.users.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, storeError("accounts", err)
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("accounts", err)
	}
	out := make([]chatserver.Account, len(docs))
	for i, u := range docs {
		out[i] = u.account()
	}
	return out, nil
}

// SetLastSeen records when a user was last online; ENotFound for an unknown user.
func (d *DB) SetLastSeen(ctx context.Context, id string, t time.Time) error {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	res, err := d.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "last_seen", Value: millis(t)}}}})
	if err != nil {
		return storeError("set last seen", err)
	}
	if res.MatchedCount == 0 {
		return chatserver.Errorf(chatserver.ENotFound, "user %q not found", id)
	}
	return nil
}

// findByID decodes the document of coll whose _id is id into out.
func (d *DB) findByID(ctx context.Context, coll *mongo.Collection, id string, out any) error {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
}
