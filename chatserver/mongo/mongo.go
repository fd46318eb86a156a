// Package mongo keeps users, sessions, rooms and messages in MongoDB (or anything that
// speaks its wire protocol without transactions, such as FerretDB).
//
// A room's seq is derived from the messages themselves: Append reads the
// room's highest seq and inserts the message with the next one, and the unique
// (room, seq) index turns a concurrent insert of the same seq, from this
// process or another instance, into a duplicate-key error that makes Append
// read again and retry. A message and its seq are one document written by one
// insert, so a crash at any step leaves either the whole message or nothing,
// and never a gap. The unique (room, from, cid) index makes a repeated send
// return the original message.
//
// A DB is safe for concurrent use. It owns no goroutines beyond the driver's
// connection pool, which Close ends.
package mongo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	"os"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Timeouts chosen so that a request that needs MongoDB answers `unavailable`
// within a few seconds when MongoDB is away, instead of hanging.
const (
	selectTimeout = 2 * time.Second // finding a server to talk to
	opTimeout     = 4 * time.Second // default bound on one store method, all its round trips included
)

// Config says where MongoDB is.
type Config struct {
	URI      string // mongodb:// or mongodb+srv://
	Database string // default "chat"
	CAFile   string // PEM bundle trusted for TLS; empty: the URI's own TLS settings

	// Timeout bounds one store method, all its round trips and retries
	// included, so that a request answers `unavailable` instead of hanging
	// when MongoDB is away; default 4s.
	Timeout time.Duration
}

// DB is a MongoDB-backed chatserver.UserStore, chatserver.SessionStore and
// chatserver.MessageStore.
type DB struct {
	client   *mongo.Client
	users    *mongo.Collection
	rooms    *mongo.Collection
	messages *mongo.Collection
	sessions *mongo.Collection
	timeout  time.Duration

	appendLocks [64]chan struct{} // see lockRoom
}

var (
	_ chatserver.UserStore    = (*DB)(nil)
	_ chatserver.MessageStore = (*DB)(nil)
	_ chatserver.SessionStore = (*DB)(nil)
	_ chatserver.Checker      = (*DB)(nil)
)

// Open connects to MongoDB and creates the indexes the stores rely on. It
// returns EUnavailable when MongoDB cannot be reached within a few seconds.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Database == "" {
		cfg.Database = "chat"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = opTimeout
	}
	opts := options.Client().ApplyURI(cfg.URI).
		SetServerSelectionTimeout(selectTimeout).
		SetConnectTimeout(selectTimeout).
		SetTimeout(cfg.Timeout)
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, chatserver.Errorf(chatserver.EInternal, "mongodb: read CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, chatserver.Errorf(chatserver.EInternal, "mongodb: no certificate in CA file %s", cfg.CAFile)
		}
		opts.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, chatserver.Errorf(chatserver.EInternal, "mongodb: %v", err)
	}
	db := client.Database(cfg.Database)
	d := &DB{
		client:   client,
		users:    db.Collection("users"),
		rooms:    db.Collection("rooms"),
		messages: db.Collection("messages"),
		sessions: db.Collection("sessions"),
		timeout:  cfg.Timeout,
	}
	for i := range d.appendLocks {
		d.appendLocks[i] = make(chan struct{}, 1)
	}
	// Instances starting together create the same indexes at once; FerretDB
	// can drop the connection of one of them, which then tries again.
	for attempt := 1; ; attempt++ {
		err = d.createIndexes(ctx)
		if err == nil {
			return d, nil
		}
		if attempt == 3 || ctx.Err() != nil {
			_ = client.Disconnect(context.Background())
			return nil, err
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
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
	}{
		{d.messages, "room_seq", bson.D{{Key: "room", Value: 1}, {Key: "seq", Value: 1}}, true},
		{d.messages, "room_from_cid", bson.D{{Key: "room", Value: 1}, {Key: "from", Value: 1}, {Key: "cid", Value: 1}}, true},
		{d.rooms, "kind", bson.D{{Key: "kind", Value: 1}}, false},
		{d.sessions, "expires", bson.D{{Key: "expires", Value: 1}}, false},
	}
	for _, w := range want {
		specs, err := w.coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			return storeError("list indexes", err)
		}
		if slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == w.name }) {
			continue
		}
		model := mongo.IndexModel{Keys: w.keys, Options: options.Index().SetName(w.name).SetUnique(w.unique)}
		if _, err := w.coll.Indexes().CreateOne(ctx, model); err != nil {
			return storeError("create index "+w.name, err)
		}
	}
	return nil
}

// Check pings MongoDB.
func (d *DB) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, selectTimeout)
	defer cancel()
	return storeError("ping", d.client.Ping(ctx, readpref.Primary()))
}

// Close ends the connection pool.
func (d *DB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	return storeError("disconnect", d.client.Disconnect(ctx))
}

// withTimeout bounds one store method.
func (d *DB) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// Server error codes that mean "try again later" rather than "this is wrong".
var unavailableCodes = []int{
	91,    // ShutdownInProgress
	189,   // PrimarySteppedDown
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// storeError turns a driver error into a *chatserver.Error: EConflict for a
// duplicate key, ENotFound for no document, EUnavailable when MongoDB cannot
// be reached or is shutting down, EInternal for anything else.
func storeError(op string, err error) error {
	var se mongo.ServerError
	var sse topology.ServerSelectionError
	switch {
	case err == nil:
		return nil
	case mongo.IsDuplicateKeyError(err):
		return chatserver.Errorf(chatserver.EConflict, "mongodb %s: duplicate key", op)
	case errors.Is(err, mongo.ErrNoDocuments):
		return chatserver.Errorf(chatserver.ENotFound, "mongodb %s: not found", op)
	case mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.As(err, &sse),
		errors.Is(err, context.Canceled), errors.Is(err, mongo.ErrClientDisconnected):
		return chatserver.Errorf(chatserver.EUnavailable, "mongodb %s: unavailable: %v", op, err)
	case errors.As(err, &se):
		for _, c := range unavailableCodes {
			if se.HasErrorCode(c) {
				return chatserver.Errorf(chatserver.EUnavailable, "mongodb %s: unavailable: %v", op, err)
			}
		}
	}
	return chatserver.Errorf(chatserver.EInternal, "mongodb %s: %v", op, err)
}

// millis truncates t to what BSON dates keep, so that a stored value and the
// one returned to the caller are the same.
func millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
