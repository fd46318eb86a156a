// Package mongo keeps users, sessions, rooms and messages in MongoDB (or anything that
// speaks its wire protocol without transactions, such as FerretDB).
//
// A room's seq and rev are taken by the write that stores the change: a
// writer reads the room's highest seq and highest rev and inserts the
// message with the next of each, and the unique (room, seq) and (room, rev)
// indexes turn a concurrent insert of the same seq or rev, from another
// instance, into a duplicate-key error that makes it read again and retry.
// So a crash at any step leaves either the whole change or nothing, never a
// gap, and the changes of a room are stored in rev order, which the reads'
// Page.Rev relies on. The unique (room, from, cid) index makes a repeated
// send return the original message.
//
// Within an instance the sends of a room wait in a queue, and one of them
// stores all those waiting with one ordered insert of consecutive seqs and
// revs (appendQueues): a batch costs three round trips (the room's
// summary, read by id, as a lower bound of its highest seq and rev; the
// insert; and the move of the summary) however many senders it serves, and
// only writers of different instances ever race. A lost race costs the
// batch a read of the summary and an insert again, and means that another
// instance stored a batch meanwhile.
//
// An edit, a delete or a change of reactions moves a message to a new rev,
// so the rev it had is no longer held by its document. Every rev is held
// for good by a unique slot instead: a message's slot is the rev of its
// send, and a change first stores a rev marker (revMarker) whose slot is
// its rev, then the message in its new state. A writer that read the
// highest rev before a change took and left the next one therefore cannot
// take it again, on any server: the slot is one value per document, unlike
// the revs a message held (which it still lists, under a unique multikey
// index that FerretDB applies to the array as a whole). The marker also
// lets only one change follow each state of a message, so two instances
// changing one message at once cannot overwrite one another, even where an
// update's filter is not applied atomically with its write (FerretDB). A
// marker whose writer died before its second write holds up the room's
// changes until the store's timeout has passed; the next writer then gives
// the rev to the message as it is (fillStranded).
//
// FerretDB still evaluates an update's operators ($max) apart from its
// write: one user's read position moved by two instances at the same moment
// can end at the smaller of the two there; on MongoDB it cannot.
//
// A DB is safe for concurrent use. It owns no goroutines beyond the driver's
// connection pool, which Close ends: a send waits in its room's queue on its
// caller's goroutine, which stores the batch when its turn comes, and the
// reads a method runs at once end before it returns.
package mongo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"sync/atomic"
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
	// grace is how long a rev marker may wait for its change before the
	// next writer takes it for stranded (see fillStranded): the store's
	// timeout, which bounds the writer that put it there.
	grace time.Duration

	roomLocks [64]chan struct{} // see lockRoom
	queues    appendQueues
	attempts  atomic.Int64 // writes of batches tried, for the tests
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
		grace:    cfg.Timeout,
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

// isDuplicate reports whether a unique index refused a write. FerretDB
// reports a refused update, unlike a refused insert, as an internal error
// that names the constraint (in SQLite's or PostgreSQL's words).
func isDuplicate(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return mongo.IsDuplicateKeyError(err) || strings.Contains(msg, "UNIQUE constraint failed") ||
		strings.Contains(msg, "duplicate key value violates unique constraint")
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
