package chatserver

import (
	"context"
	"time"
)

// The interfaces below are what the server needs from its backends. Every
// implementation is safe for concurrent use and reports failures as *Error:
// EUnavailable when the backend cannot be reached (the server then answers
// `unavailable` and never acknowledges without durability), EConflict and
// ENotFound where documented, anything else as EInternal.

// UserStore keeps the registry of users.
type UserStore interface {
	// CreateAccount registers a new user. It returns EConflict if the id is taken.
	CreateAccount(ctx context.Context, a Account) error
	// Account returns one user, or ENotFound.
	Account(ctx context.Context, id string) (Account, error)
	// Accounts returns every registered user, sorted by id.
	Accounts(ctx context.Context) ([]Account, error)
	// SetLastSeen records when a user was last online.
	SetLastSeen(ctx context.Context, id string, t time.Time) error
}

// SessionStore keeps signed-in sessions, by the hash of their token.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session of a token hash, or EUnauthorized when there is
	// none or it has expired.
	Session(ctx context.Context, tokenHash string) (Session, error)
	// DeleteSession ends a session; ending one that does not exist is no error.
	DeleteSession(ctx context.Context, tokenHash string) error
}

// MessageStore keeps rooms and their messages. It is the authority on seq
// and rev: the n-th message stored in a room has seq n, and the n-th change
// stored in a room (a new message, an edit, a delete, a change of
// reactions) has rev n, with no gaps, whatever instance stored it. A
// message's Rev is that of its latest change.
type MessageStore interface {
	// EnsureRoom records a public room so that it is listed before its first message.
	EnsureRoom(ctx context.Context, room string) error
	// Append durably stores m (ID, Room, From, Text, TS and CID set, maybe
	// ReplyTo and Mentions; Seq and Rev zero) as the next message of its
	// room and returns it with its seq and rev. If the room already holds a
	// message from m.From with m.CID, Append stores nothing and returns that
	// message, in its current state, with created false.
	Append(ctx context.Context, m Message) (stored Message, created bool, err error)
	// Message returns the message of room with seq, in its current state, or
	// ENotFound.
	Message(ctx context.Context, room string, seq int64) (Message, error)
	// Update changes the message of room with seq (ENotFound if there is
	// none). It calls change with the message's current state; when change
	// reports changed, the store durably saves what it returned as the
	// room's next change (the store sets Rev; ID, Room, Seq, From, TS and
	// CID stay) and returns it with changed true, else it returns the
	// current state with changed false. change may be called again when a
	// concurrent change came first; its error is returned as it is. Saving a
	// deleted message leaves nothing of its former text in the store.
	Update(ctx context.Context, room string, seq int64, change Change) (stored Message, changed bool, err error)
	// After returns at most limit messages with seq > after, oldest first;
	// HasMore reports that newer ones exist beyond them.
	After(ctx context.Context, room string, after int64, limit int) (Page, error)
	// Before returns the newest limit messages with seq < before (no bound when
	// before <= 0), oldest first; HasMore reports that older ones exist.
	Before(ctx context.Context, room string, before int64, limit int) (Page, error)
	// Changes returns at most limit messages whose Rev > after, in their
	// current state, in rev order; HasMore reports that more exist beyond them.
	Changes(ctx context.Context, room string, after int64, limit int) (Page, error)
	// MarkRead moves user's read position in room to seq unless it is
	// already there or further, and returns the position and whether it
	// moved. A seq past the room's last message is EBadRequest.
	MarkRead(ctx context.Context, user, room string, seq int64) (readSeq int64, moved bool, err error)
	// Rooms lists every public room and the DM and group DM rooms of user,
	// sorted by id, with user's read position, unread and mention counts,
	// and for DM and group DM rooms the other members' read positions.
	Rooms(ctx context.Context, user string) ([]RoomInfo, error)
}

// Change is what MessageStore.Update applies to a message: it returns the
// message's new state and whether it differs from the current one, or an
// error that refuses the change.
type Change func(current Message) (next Message, changed bool, err error)

// MessageRecorder is implemented by a MessageStore that is also the
// ActivityLog: it stores a message, or a change of one, together with the
// activity event that event makes of the stored message, in one durable
// write.
//
// AppendRecord queues the append of m and returns at once; wait blocks until
// both are durable. Appends queued one after the other by one goroutine are
// stored in that order, so a connection can pipeline its sends and keep
// their order. UpdateRecord is Update that records the event of a change
// with it (none when nothing changed).
type MessageRecorder interface {
	AppendRecord(ctx context.Context, m Message, event func(stored Message) ActivityEvent) (wait func() (stored Message, created bool, err error))
	UpdateRecord(ctx context.Context, room string, seq int64, change Change, event func(stored Message) ActivityEvent) (stored Message, changed bool, err error)
}

// MessageSearcher finds messages by the words of their current text. What
// it finds follows what the MessageStore stored within seconds: at once for
// the embedded store, which keeps its index in the same transactions, and
// through the activity log and the indexer for Elasticsearch.
type MessageSearcher interface {
	SearchMessages(ctx context.Context, q SearchQuery) (SearchResult, error)
}

// ActivityLog takes activity events on their way to the index. Record returns
// once the events are durable (stored, or spooled for a downstream that is
// away), so that an acknowledged action never loses its event.
type ActivityLog interface {
	Record(ctx context.Context, events ...ActivityEvent) error
}

// ActivityIndex answers the admins' queries over the activity log.
type ActivityIndex interface {
	Search(ctx context.Context, q ActivityQuery) (ActivityResult, error)
	Stats(ctx context.Context, q StatsQuery) (ActivityStats, error)
}

// Presence counts the open connections of every user across all instances.
type Presence interface {
	// Connect counts a new connection; online reports that the user had none.
	Connect(ctx context.Context, user, conn string) (online bool, err error)
	// Disconnect forgets a connection; offline reports that it was the user's last.
	Disconnect(ctx context.Context, user, conn string) (offline bool, err error)
	// Online returns the users that have at least one connection on any instance.
	Online(ctx context.Context) (map[string]bool, error)
	// Reap forgets the connections of instances that died without closing them
	// and returns the users who are offline because of it. Every instance calls
	// it now and then; each user is returned by one call only.
	Reap(ctx context.Context) ([]string, error)
}

// Event kinds carried by a Broker.
const (
	EventMessage  = "message"
	EventUpdate   = "update" // a message was edited, deleted, or its reactions changed
	EventTyping   = "typing"
	EventPresence = "presence"
	// EventRead: User's read position in Room moved to Seq; it reaches the
	// user's connections, and in a DM or group DM the other members'.
	EventRead = "read"
	// EventMention: a message of a public room mentions User; it reaches
	// that user's connections.
	EventMention = "mention"
	// EventSessionEnd: a user signed out; Frame holds the session's token
	// hash, and every instance closes the connections opened with it.
	EventSessionEnd = "session.end"
	// EventResync: the broker (re)established its subscription and may have
	// missed events before it; the receiver reads what it follows from the
	// store. Only the Broker of this instance delivers it, never Publish.
	EventResync = "resync"
)

// Event is what instances exchange through the Broker. Frame is the server
// event exactly as connections receive it, encoded once by the instance that
// produced it.
type Event struct {
	Kind  string    // one of the Event kinds above
	Room  string    // message, update, typing, read and mention events
	User  string    // typing: who types; presence: whose status changed; message and update: the sender; read: whose position; mention: who is mentioned
	Seq   int64     // message and update events: the message's seq; read: the position
	Rev   int64     // message and update events: the change's rev
	Sent  time.Time // message events: when the message was stored (latency metrics); may be zero
	Frame []byte
}

// Broker fans events out to every instance, this one included.
type Broker interface {
	// Publish hands ev to every instance. It returns EUnavailable when the
	// broker cannot take it.
	Publish(ctx context.Context, ev Event) error
	// Subscribe calls deliver for every event any instance publishes until ctx
	// ends; it reconnects by itself after failures, and delivers an
	// EventResync each time its subscription is (re)established, since what
	// was published meanwhile is lost to it. deliver is safe for
	// concurrent calls and does not block. Events of one room may arrive out of
	// rev order (two instances publish concurrently): the receiver reorders.
	Subscribe(ctx context.Context, deliver func(Event)) error
}

// Checker is implemented by backends that can tell whether they are reachable;
// /readyz reports every configured one.
type Checker interface {
	Check(ctx context.Context) error
}
