// Package service holds the chat server's rules: who may do what, what a send
// stores and fans out, what each action records in the activity log, and how
// presence is tracked. It runs on the backend interfaces of package chatserver
// and knows nothing of HTTP or WebSockets; the transport calls it.
//
// A Service is safe for concurrent use. Run starts its background work (the
// broker subscription, the presence reaper, the backend checker) and returns,
// having stopped all of it, when ctx ends; Close then releases the hub.
//
// Readiness (health.go) tells what a failing backend means: the stores of
// users, sessions and messages, presence and fan-out are critical (the
// instance cannot serve chat without them), the activity log and the
// activity index only degrade it.
//
// # Names
//
// Deps (deps.go) is what a Service runs on: one implementation of each
// role interface of package chatserver, their readiness checks and their
// closers. A Conn is one signed-in WebSocket connection as the rules see it
// (its user, its rooms, its session's expiry); the transport holds the
// socket itself (httpapi's wsConn), and the hub knows the same connection
// as a hub.Subscriber, the target its rooms' events are handed to.
package service

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/hub"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// Config is the part of the server configuration the service needs.
type Config struct {
	Admins        []string
	AdminPassword string
	AuthMode      string        // "password" or "proxy"
	SessionKey    string        // mixed into token hashes
	SessionTTL    time.Duration // default 7 days
	ReapInterval  time.Duration // how often dead instances' connections are reaped; default 5s
	CheckInterval time.Duration // how often the backends are checked for chat_backend_up; default 5s
	GapWait       time.Duration // hub: wait for a missing seq; default 50ms
	// PageBytes bounds the JSON of the messages of a join or history
	// page: a page stops before the message that would pass it (it holds
	// one message at least) and says has_more. Default 256 KiB.
	PageBytes int
	// MaxRooms is how many rooms the connections of one user on this
	// instance may have joined at once; default 1000.
	MaxRooms int
	// ConnectEvents is how many connections of one user per minute on this
	// instance go into the activity log (a burst of that many, then one
	// more every minute/ConnectEvents): a connection beyond it, and its
	// disconnect, are not recorded. Zero: every connection is.
	ConnectEvents int
	Logger        *slog.Logger
	Metrics       *Metrics // optional
	Now           func() time.Time
}

// Service implements the chat on top of its backends.
type Service struct {
	cfg    Config
	b      *Deps
	hub    *hub.Hub
	log    *slog.Logger
	admins map[string]bool
	hashes chan struct{} // bounds concurrent password hashing
	m      *Metrics
	health *Health
	// connects counts the ws.connect events recorded per user, against
	// Config.ConnectEvents.
	connects *MemoryLimiter
}

// New returns a service on b. It creates the configured admin accounts that
// do not exist yet.
func New(ctx context.Context, b *Deps, cfg Config) (*Service, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.ReapInterval <= 0 {
		cfg.ReapInterval = 5 * time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.PageBytes <= 0 {
		cfg.PageBytes = 256 << 10
	}
	s := &Service{
		cfg:    cfg,
		b:      b,
		log:    cfg.Logger,
		admins: map[string]bool{},
		hashes: make(chan struct{}, 4),
		m:      cfg.Metrics,
		health: NewHealth(b.Checks, cfg.Metrics.backendUp),
		// One key per user connecting within the rate's period.
		connects: NewMemoryLimiter(maxConnectingUsers, cfg.Now),
	}
	s.hub = hub.New(b.Messages, hub.Config{
		GapWait:   cfg.GapWait,
		MaxRooms:  cfg.MaxRooms,
		Logger:    cfg.Logger,
		Delivered: func(d time.Duration) { s.m.fanoutLatency.Observe(d.Seconds()) },
	})
	for _, a := range cfg.Admins {
		s.admins[a] = true
	}
	if cfg.AuthMode != "proxy" {
		if err := s.createAdmins(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Service) createAdmins(ctx context.Context) error {
	for _, id := range s.cfg.Admins {
		_, err := s.b.Users.Account(ctx, id)
		if chatserver.ErrorCode(err) != chatserver.ENotFound {
			if err != nil {
				return err
			}
			continue
		}
		hash, err := hashPassword(s.cfg.AdminPassword)
		if err != nil {
			return err
		}
		err = s.b.Users.CreateAccount(ctx, chatserver.Account{ID: id, PasswordHash: hash, Created: s.cfg.Now().UTC()})
		if err != nil && chatserver.ErrorCode(err) != chatserver.EConflict {
			return err
		}
		s.log.Info("created admin account", "user", id)
	}
	return nil
}

// Run subscribes to the broker, reaps dead instances' connections and checks
// the backends every CheckInterval (for chat_backend_up) until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.reapLoop(ctx) })
	wg.Go(func() { s.health.Run(ctx, s.cfg.CheckInterval) })
	err := s.b.Broker.Subscribe(ctx, s.hub.Dispatch)
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Close stops the hub's timers. Call it after Run returned.
func (s *Service) Close() { s.hub.Close() }

func (s *Service) reapLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		users, err := s.b.Presence.Reap(ctx)
		if err != nil {
			s.log.Warn("reaping presence", "err", err)
			continue
		}
		for _, u := range users {
			s.wentOffline(ctx, u)
		}
	}
}

// IsAdmin reports whether user may read the activity log.
func (s *Service) IsAdmin(user string) bool { return s.admins[user] }

// Ready checks every configured backend: the instance is unready when a
// critical one fails, degraded when only degrading ones do.
func (s *Service) Ready(ctx context.Context) Readiness { return s.health.Check(ctx) }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// newID returns a unique identifier: 16 bytes, hex, of which the first 6
// are the time in milliseconds and the other 10 random. Ids made one after
// the other sort about in that order, so a store's unique index of them
// (the activity log's, whose ids are made of message ids) takes each new
// one near its end: the writes of a batch then rewrite a few of the
// index's pages, not one page each, as random ids would.
func newID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16) // the low 6 bytes of the time, then 2 zero bytes
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// record stores an activity event. Callers that acknowledge the action fail
// it when the event cannot be made durable; the others log the error.
func (s *Service) record(ctx context.Context, ev chatserver.ActivityEvent) error {
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.TS.IsZero() {
		ev.TS = s.now()
	}
	err := s.b.Activity.Record(ctx, ev)
	if err != nil {
		s.log.Error("recording activity", "type", ev.Type, "user", ev.User, "err", err)
	}
	return err
}

// Users returns every registered user with presence, sorted by id.
func (s *Service) Users(ctx context.Context) ([]chatserver.User, error) {
	accounts, err := s.b.Users.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	online, err := s.b.Presence.Online(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	users := make([]chatserver.User, 0, len(accounts))
	for _, a := range accounts {
		u := chatserver.User{ID: a.ID, Status: chatserver.PresenceOffline, LastSeen: a.LastSeen}
		if u.LastSeen.IsZero() {
			u.LastSeen = a.Created
		}
		if online[a.ID] {
			u.Status, u.LastSeen = chatserver.PresenceOnline, now
		}
		users = append(users, u) // in the store's order: by id
	}
	return users, nil
}

// Rooms lists the public rooms and the caller's DM rooms.
func (s *Service) Rooms(ctx context.Context, user string) ([]chatserver.RoomInfo, error) {
	rooms, err := s.b.Messages.Rooms(ctx, user)
	if rooms == nil && err == nil {
		rooms = []chatserver.RoomInfo{}
	}
	return rooms, err
}

// access checks that user may read and write room, and returns it parsed.
func (s *Service) access(user, roomID string) (chatserver.Room, error) {
	r, err := chatserver.ParseRoom(roomID)
	if err != nil {
		return r, err
	}
	if !r.HasMember(user) {
		return r, chatserver.Errorf(chatserver.EForbidden, "not a member of %s", roomID)
	}
	return r, nil
}

// History returns the newest messages before a seq (nil: the newest of all).
func (s *Service) History(ctx context.Context, user, roomID string, beforeSeq *int64, limit int) (wire.Page, error) {
	if _, err := s.access(user, roomID); err != nil {
		return wire.Page{}, err
	}
	if limit == 0 {
		limit = chatserver.DefaultPage
	}
	if limit < 1 || limit > chatserver.MaxHistoryLimit {
		return wire.Page{}, chatserver.Errorf(chatserver.EBadRequest, "invalid limit: want 1-%d", chatserver.MaxHistoryLimit)
	}
	var before int64
	if beforeSeq != nil {
		if before = *beforeSeq; before < 0 {
			return wire.Page{}, chatserver.Errorf(chatserver.EBadRequest, "invalid before: want a seq")
		}
		if before <= 1 {
			return wire.NewPage(roomID, chatserver.Page{}), nil // nothing comes before seq 1
		}
	}
	p, err := s.pageBefore(ctx, roomID, before, limit)
	if err != nil {
		return wire.Page{}, err
	}
	return wire.NewPage(roomID, p), nil
}

// validateSend checks a send's text and cid and returns the trimmed text.
func validateSend(text, cid string) (string, error) {
	text, err := validateText(text)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(cid); n < 1 || n > chatserver.MaxCIDLen {
		return "", chatserver.Errorf(chatserver.EBadRequest, "invalid cid: want 1-%d characters", chatserver.MaxCIDLen)
	}
	// Other clients receive the cid with the message.
	if err := chatserver.CheckText("cid", cid, false); err != nil {
		return "", err
	}
	return text, nil
}

// validateText checks the text of a send or an edit and returns it trimmed.
func validateText(text string) (string, error) {
	text = strings.TrimSpace(text)
	if !utf8.ValidString(text) {
		return "", chatserver.Errorf(chatserver.EBadRequest, "text is not valid UTF-8")
	}
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return "", chatserver.Errorf(chatserver.EBadRequest, "empty text")
	case n > chatserver.MaxTextLen:
		return "", chatserver.Errorf(chatserver.ETooLarge, "text has %d characters; the limit is %d", n, chatserver.MaxTextLen)
	}
	if err := chatserver.CheckText("text", text, true); err != nil {
		return "", err
	}
	return text, nil
}

// Send stores a message and fans it out. A repeated cid returns the original.
func (s *Service) Send(ctx context.Context, user, roomID, text, cid string) (chatserver.Message, error) {
	finish, err := s.StartSend(ctx, user, roomID, text, cid, 0)
	if err != nil {
		return chatserver.Message{}, err
	}
	sent, err := finish()
	return sent.Message, err
}

// Sent is a stored send: its message and the `message` event of it, encoded
// once for the fan-out and the sender's reply (wire.SendReply).
type Sent struct {
	Message chatserver.Message
	Event   []byte
}

// StartSend checks a send and starts storing it; finish waits until it is
// durable, fans it out and returns the stored message and its event. Sends
// started one after the other are stored in that order; where the store can
// queue writes (Deps.Recorder), StartSend returns before the write is
// durable so that a connection can pipeline its sends. replyTo, when not 0, is the seq of the
// earlier message of the room that this one answers.
func (s *Service) StartSend(ctx context.Context, user, roomID, text, cid string, replyTo int64) (finish func() (Sent, error), err error) {
	r, err := s.access(user, roomID)
	if err != nil {
		return nil, err
	}
	if text, err = validateSend(text, cid); err != nil {
		return nil, err
	}
	if err := s.membersRegistered(ctx, r, user); err != nil {
		return nil, err
	}
	if replyTo != 0 {
		if _, err := s.b.Messages.Message(ctx, roomID, replyTo); err != nil {
			if chatserver.ErrorCode(err) == chatserver.ENotFound {
				return nil, chatserver.Errorf(chatserver.ENotFound, "reply_to: room %s has no message %d", roomID, replyTo)
			}
			return nil, err
		}
	}
	mentions, err := s.mentions(ctx, text)
	if err != nil {
		return nil, err
	}
	wait := s.appendRecord(ctx, chatserver.Message{
		ID: newID(), Room: roomID, From: user, Text: text, TS: s.now(), CID: cid, ReplyTo: replyTo, Mentions: mentions,
	})
	return func() (Sent, error) {
		m, created, err := wait()
		if err != nil {
			return Sent{}, err
		}
		if created {
			s.m.messagesStored.Inc()
		}
		// A repeated send publishes again: had the first one's publish been
		// lost, this repairs it, and the hubs drop what they have delivered.
		// Its frame is the message as first stored, which is what the
		// message event at its rev showed.
		frame := wire.MessageEvent(m)
		ev := chatserver.Event{Kind: chatserver.EventMessage, Room: roomID, User: user, Seq: m.Seq, Rev: m.Rev, Sent: m.TS, Frame: frame}
		pctx, cancel := context.WithTimeout(ctx, ackPublishWait)
		err = s.b.Broker.Publish(pctx, ev)
		if err == nil && created {
			err = s.publishMentions(pctx, r, m)
		}
		cancel()
		if err != nil {
			// Stored is stored: the ack stands, and every instance reads the
			// message from the store when the next one shows the gap.
			s.log.Warn("publishing message", "room", roomID, "seq", m.Seq, "err", err)
		}
		return Sent{Message: m, Event: frame}, nil
	}, nil
}

// membersRegistered checks that every other member of a DM or group DM is
// a registered user: a private room is for people who exist.
func (s *Service) membersRegistered(ctx context.Context, r chatserver.Room, user string) error {
	for _, m := range r.Members {
		if m == user {
			continue
		}
		if _, err := s.b.Users.Account(ctx, m); err != nil {
			if chatserver.ErrorCode(err) == chatserver.ENotFound {
				return chatserver.Errorf(chatserver.ENotFound, "user %s is not registered", m)
			}
			return err
		}
	}
	return nil
}

// ackPublishWait bounds the wait of a send's answer for the publish of its
// message. The message is stored, so the answer stands whatever the publish
// does: a broker that answers at all answers far sooner, and a silent one
// must hold up neither this answer nor those of the connection's sends
// behind it, which are answered in order.
const ackPublishWait = time.Second

// sentEvent is the activity event of a stored message. Its id follows from the
// message id, so a retried send records the same event again and the index
// keeps one.
func sentEvent(m chatserver.Message) chatserver.ActivityEvent {
	return chatserver.ActivityEvent{ID: "msg-" + m.ID, Type: chatserver.ActivityMessage, TS: m.TS, User: m.From, Room: m.Room, MessageID: m.ID, Message: &m}
}

// appendRecord stores a message and its activity event: queued as one write
// when the backends have a Recorder, else one after the other before it
// returns.
func (s *Service) appendRecord(ctx context.Context, m chatserver.Message) func() (chatserver.Message, bool, error) {
	if s.b.Recorder != nil {
		return s.b.Recorder.AppendRecord(ctx, m, sentEvent)
	}
	m, created, err := s.b.Messages.Append(ctx, m)
	if err == nil {
		err = s.b.Activity.Record(ctx, sentEvent(m))
	}
	return func() (chatserver.Message, bool, error) { return m, created, err }
}

// Typing tells the room (or the other members of a DM or group DM) that
// user types.
func (s *Service) Typing(ctx context.Context, user, roomID string, active bool) error {
	if _, err := s.access(user, roomID); err != nil {
		return err
	}
	return s.b.Broker.Publish(ctx, chatserver.Event{
		Kind: chatserver.EventTyping, Room: roomID, User: user, Frame: wire.TypingEvent(roomID, user, active),
	})
}

// Activity searches the activity log; admins only.
func (s *Service) Activity(ctx context.Context, user string, q chatserver.ActivityQuery) (chatserver.ActivityResult, error) {
	if !s.IsAdmin(user) {
		return chatserver.ActivityResult{}, chatserver.Errorf(chatserver.EForbidden, "the activity log is for admins")
	}
	res, err := s.b.Index.Search(ctx, q)
	if res.Events == nil {
		res.Events = []chatserver.ActivityEvent{}
	}
	return res, err
}

// Stats summarises the activity log; admins only.
func (s *Service) Stats(ctx context.Context, user string, q chatserver.StatsQuery) (chatserver.ActivityStats, error) {
	if !s.IsAdmin(user) {
		return chatserver.ActivityStats{}, chatserver.Errorf(chatserver.EForbidden, "the activity log is for admins")
	}
	st, err := s.b.Index.Stats(ctx, q)
	if st.Buckets == nil {
		st.Buckets = []chatserver.StatsBucket{}
	}
	if st.TopRooms == nil {
		st.TopRooms = []chatserver.RoomCount{}
	}
	return st, err
}
