// Package mongo keeps users, sessions, rooms and messages in MongoDB (or anything that
// speaks its wire protocol without transactions, such as FerretDB).
//
// A room's seq and rev are derived from the messages themselves: Append
// reads the room's highest seq and highest rev and inserts the message with
// the next of each, and the unique (room, seq) and (room, rev) indexes turn a
// concurrent insert of the same seq or rev, from this process or another
// instance, into a duplicate-key error that makes Append read again and
// retry. Update writes a message's new state with the room's next rev by a
// compare-and-set on the rev the message had, so that a change made
// meanwhile makes it read again and retry too. A message, its seq and its rev
// are one document written by one write, so a crash at any step leaves either
// the whole change or nothing, and never a gap. The unique (room, from, cid)
// index makes a repeated send return the original message.
//
// The message that holds a room's latest change holds its highest rev, so
// the next rev is always the highest one stored + 1. A rev that a message
// held before it changed again stays taken: each message keeps the revs it
// held (its last revHistory ones) under a unique multikey index, so that a
// writer that read the highest rev just before another message took the
// next one and moved on cannot store its change with the rev that message
// left. Seq and rev grow together for new messages.
//
// FerretDB (on SQLite) is a stand-in with two gaps: it evaluates an
// update's filter and operators ($max) apart from its write, and a unique
// index on an array as a whole. Changes to one message, or to one user's
// read position in a room, made at the same moment by two instances can
// then overwrite one another there, and a writer overtaken by two changes
// can store its own with a rev a message left; on MongoDB neither happens.
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
	"strings"
	"time"

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
	reads    *mongo.Collection
	timeout  time.Duration

	roomLocks [64]chan struct{} // see lockRoom
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
		reads:    db.Collection("reads"),
		timeout:  cfg.Timeout,
	}
	for i := range d.roomLocks {
		d.roomLocks[i] = make(chan struct{}, 1)
	}
	// Instances starting together create the same indexes at once; FerretDB
	// can drop the connection of one of them, which then tries again.
	for attempt := 1; ; attempt++ {
		err = d.migrate(ctx)
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

// isDuplicate reports whether a unique index refused a write. FerretDB (on
// SQLite) reports a refused update, unlike a refused insert, as an internal
// error that names the constraint.
func isDuplicate(err error) bool {
	return mongo.IsDuplicateKeyError(err) || err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
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
	case isDuplicate(err):
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
