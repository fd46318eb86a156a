package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/chatcluster/chatcluster/chatserver"
)

// sessionDoc is a session as stored in the sessions collection, keyed by
// the hash of its token. A zero Expires never expires.
type sessionDoc struct {
	TokenHash string    `bson:"_id"`
	User      string    `bson:"user"`
	Created   time.Time `bson:"created"`
	Expires   time.Time `bson:"expires,omitempty"`
}

// CreateSession stores a session: ENotFound if the user is not registered,
// EConflict if the token hash is taken. Each sign-in deletes the sessions
// that have expired, so that they do not pile up.
func (d *DB) CreateSession(ctx context.Context, s chatserver.Session) error {
	if _, err := d.Account(ctx, s.User); err != nil {
		return err
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	if _, err := d.sessions.DeleteMany(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: millis(time.Now())}}}}); err != nil {
		return storeError("delete expired sessions", err)
	}
	_, err := d.sessions.InsertOne(ctx, sessionDoc{TokenHash: s.TokenHash, User: s.User, Created: millis(s.Created), Expires: millis(s.Expires)})
	return storeError("create session", err)
}

// Session returns the session of a token hash, or EUnauthorized when there
// is none or it has expired. An expired one is deleted on the way (MongoDB's
// TTL indexes would do it, but FerretDB has none).
func (d *DB) Session(ctx context.Context, tokenHash string) (chatserver.Session, error) {
	var s sessionDoc
	err := d.findByID(ctx, d.sessions, tokenHash, &s)
	if chatserver.ErrorCode(storeError("", err)) == chatserver.ENotFound {
		return chatserver.Session{}, chatserver.Errorf(chatserver.EUnauthorized, "no such session")
	}
	if err != nil {
		return chatserver.Session{}, storeError("session", err)
	}
	if !s.Expires.IsZero() && !time.Now().Before(s.Expires) {
		_ = d.DeleteSession(ctx, tokenHash)
		return chatserver.Session{}, chatserver.Errorf(chatserver.EUnauthorized, "session expired")
	}
	return chatserver.Session{TokenHash: s.TokenHash, User: s.User, Created: s.Created.UTC(), Expires: s.Expires.UTC()}, nil
}

// DeleteSession ends a session; ending one that does not exist is no error.
func (d *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	_, err := d.sessions.DeleteOne(ctx, bson.D{{Key: "_id", Value: tokenHash}})
	return storeError("delete session", err)
}
