package service

import (
	"context"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/hub"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// Conn is one WebSocket connection's view of the service. Its methods are
// called from the connection's reader goroutine.
type Conn struct {
	s      *Service
	id     string
	user   string
	sub    *hub.Subscriber
	expiry *time.Timer // closes the connection when its session expires
	logged bool        // its connect was recorded, so its disconnect is
}

// Connect registers a new connection of user, opened with token: it is
// counted in presence and receives presence events and the user's DM messages
// from now on, until it closes or the session ends or expires (sink is then
// closed with 1008, as on every instance: each holds the expiry of its own
// connections' sessions).
func (s *Service) Connect(ctx context.Context, user, token string, sink hub.Sink) (*Conn, error) {
	c := &Conn{s: s, id: newID(), user: user}
	hash := s.tokenHash(token)
	c.sub = s.hub.Register(user, hash, sink)
	expires, err := s.sessionExpiry(ctx, hash)
	if err != nil {
		s.hub.Unregister(c.sub)
		return nil, err
	}
	online, err := s.b.Presence.Connect(ctx, user, c.id)
	if err != nil {
		s.hub.Unregister(c.sub)
		return nil, err
	}
	if c.logged = s.connectRecorded(ctx, user); c.logged {
		if err := s.record(ctx, chatserver.ActivityEvent{Type: chatserver.ActivityConnect, User: user}); err != nil {
			s.hub.Unregister(c.sub)
			// Nobody was told the user came online, so nobody is told they left.
			s.leavePresence(ctx, user, c.id)
			return nil, err
		}
	}
	if !expires.IsZero() {
		c.expiry = time.AfterFunc(expires.Sub(s.cfg.Now()), func() { sink.Close(hub.ClosePolicy, "the session has expired") })
	}
	s.m.connections.Inc()
	if online {
		s.publishPresence(ctx, user, chatserver.PresenceOnline)
	}
	return c, nil
}

// sessionExpiry returns when the session of a token hash expires (zero:
// never), or now if it ended since the caller authenticated the token: the
// event of its end may have come before the connection was registered.
func (s *Service) sessionExpiry(ctx context.Context, hash string) (time.Time, error) {
	sess, err := s.b.Sessions.Session(ctx, hash)
	if chatserver.ErrorCode(err) == chatserver.EUnauthorized {
		return s.cfg.Now(), nil
	}
	return sess.Expires, err
}

// connectRecorded tells whether a new connection of user goes into the
// activity log: not beyond Config.ConnectEvents, so that a client that
// connects and disconnects in a loop cannot flood the log.
func (s *Service) connectRecorded(ctx context.Context, user string) bool {
	rate := chatserver.Rate{Events: s.cfg.ConnectEvents, Period: time.Minute}
	if rate.Off() {
		return true
	}
	wait, err := s.connects.Take(ctx, user, rate)
	if err == nil && wait > 0 {
		s.m.Limited(LimitConnectEvents)
		return false
	}
	return true
}

// Close ends the connection: the user goes offline if it was their last.
func (c *Conn) Close(ctx context.Context) {
	s := c.s
	if c.expiry != nil {
		c.expiry.Stop()
	}
	s.hub.Unregister(c.sub)
	s.m.connections.Dec()
	if c.logged {
		// record logs a failure, and a closing connection has nobody to
		// report it to: the connection closes all the same.
		_ = s.record(ctx, chatserver.ActivityEvent{Type: chatserver.ActivityDisconnect, User: c.user})
	}
	if s.leavePresence(ctx, c.user, c.id) {
		s.wentOffline(ctx, c.user)
	}
}

// leavePresence stops counting connection id of user in presence and tells
// whether it was the user's last. A failure is logged and counts as not the
// last: the instance heartbeat lapses if it keeps failing, and Reap on a
// healthy instance reports the user offline.
func (s *Service) leavePresence(ctx context.Context, user, id string) (offline bool) {
	offline, err := s.b.Presence.Disconnect(ctx, user, id)
	if err != nil {
		s.log.Warn("presence disconnect", "user", user, "err", err)
		return false
	}
	return offline
}

func (s *Service) wentOffline(ctx context.Context, user string) {
	if err := s.b.Users.SetLastSeen(ctx, user, s.now()); err != nil {
		s.log.Warn("recording last seen", "user", user, "err", err)
	}
	s.publishPresence(ctx, user, chatserver.PresenceOffline)
}

func (s *Service) publishPresence(ctx context.Context, user, status string) {
	err := s.b.Broker.Publish(ctx, chatserver.Event{
		Kind: chatserver.EventPresence, User: user, Frame: wire.PresenceEvent(user, status, s.now()),
	})
	if err != nil {
		s.log.Warn("publishing presence", "user", user, "status", status, "err", err)
	}
}

// User returns the connection's user id.
func (c *Conn) User() string { return c.user }

// Join subscribes the connection to a room and answers with its recent
// messages (or those after since) and, with sinceRev, every message changed
// or added after that rev. reply is called with the page before any live
// event of the room reaches the connection.
func (c *Conn) Join(ctx context.Context, roomID string, since, sinceRev *int64, reply func(wire.Page)) error {
	s := c.s
	r, err := s.access(c.user, roomID)
	if err != nil {
		return err
	}
	if !r.IsPrivate() {
		if err := s.b.Messages.EnsureRoom(ctx, roomID); err != nil {
			return err
		}
	}
	followed, err := s.hub.Join(c.sub, roomID)
	if err != nil {
		s.m.Limited(LimitRooms)
		return err
	}
	// undo puts the subscription back as it was when the join fails.
	undo := func() {
		if followed {
			s.hub.Resume(c.sub, roomID, 0, 0)
		} else {
			s.hub.Leave(c.sub, roomID)
		}
	}
	// The changes are read first: live events resume after the rev of the
	// first read, so that nothing between the two reads is missed. What the
	// second read already shows may come again as an update; a message the
	// page holds never comes again.
	var changes chatserver.Page
	if sinceRev != nil {
		if changes, err = s.pageChanges(ctx, roomID, *sinceRev); err != nil {
			undo()
			return err
		}
	}
	var p chatserver.Page
	if since != nil {
		p, err = s.pageAfter(ctx, roomID, *since)
	} else {
		p, err = s.pageBefore(ctx, roomID, 0, chatserver.DefaultPage)
	}
	if err != nil {
		undo()
		return err
	}
	rev := p.Rev
	if sinceRev != nil {
		rev = changes.Rev
	}
	var last int64
	if n := len(p.Messages); n > 0 {
		last = p.Messages[n-1].Seq
	} else if since != nil && *since > 0 {
		// Nothing after since: the room ends at since or before. Only the
		// store may say where, or a since past the end would hide messages.
		tail, err := s.b.Messages.Before(ctx, roomID, 0, 1)
		if err != nil {
			undo()
			return err
		}
		if len(tail.Messages) > 0 {
			last = min(*since, tail.Messages[0].Seq)
		}
	}
	if err := s.record(ctx, chatserver.ActivityEvent{Type: chatserver.ActivityJoin, User: c.user, Room: roomID}); err != nil {
		undo()
		return err
	}
	page := wire.NewPage(roomID, p)
	if sinceRev != nil {
		page = page.WithChanges(changes)
	}
	reply(page)
	if (since == nil || !p.HasMore) && (sinceRev == nil || !changes.HasMore) {
		s.hub.Resume(c.sub, roomID, last, rev)
	}
	// Otherwise the client is catching up page by page: its next join with
	// since (and since_rev) resumes it, and live events wait in the hub
	// until then.
	return nil
}

// Leave unsubscribes the connection from a room. Leaving a room the user
// may not read is refused like joining it, and records nothing.
func (c *Conn) Leave(ctx context.Context, roomID string) error {
	if _, err := c.s.access(c.user, roomID); err != nil {
		return err
	}
	c.s.hub.Leave(c.sub, roomID)
	return c.s.record(ctx, chatserver.ActivityEvent{Type: chatserver.ActivityLeave, User: c.user, Room: roomID})
}
