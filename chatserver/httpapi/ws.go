package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

const maxFrame = chatserver.MaxFrameBytes

func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: nothing to protect against
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.checkOrigin(r) {
		s.writeError(w, r, "ws", chatserver.Errorf(chatserver.EForbidden, "origin %s is not allowed", r.Header.Get("Origin")))
		return
	}
	user, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, "ws", err)
		return
	}
	if s.draining.Load() {
		s.writeError(w, r, "ws", chatserver.Errorf(chatserver.EUnavailable, "shutting down"))
		return
	}
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	c := &wsConn{srv: s, ws: ws, conn: hw.conn.Conn, limit: s.cfg.SendQueue}
	if sc, ok := c.conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	hw.conn.attach(c)
	ws.SetPingHandler(c.pingHandler)
	ws.SetCloseHandler(c.closeHandler)
	if !s.track(c) {
		c.Close(CloseGoingAway, "server shutting down")
		c.wait()
		c.ws.Close()
		return
	}
	// The connection lives on in its own goroutine so that this handler
	// returns and net/http lets go of the request and its 8 KiB of buffers.
	tok := token(r)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.untrack(c)
		c.run(user, tok)
	}()
}

// wsConn is one WebSocket connection.
type wsConn struct {
	srv   *Server
	ws    *websocket.Conn // reads; writes go through the queue below
	conn  net.Conn        // what ws reads from, and what the writers write to
	raw   syscall.RawConn // conn's socket, for the pool's non-blocking writes; nil if not one
	limit int

	// The write side (writer.go).
	mu        sync.Mutex
	queue     [][]byte // objects to write
	queued    int      // their bytes
	controls  [][]byte // ping and pong frames to write first
	scheduled bool     // on the pool, or with its own goroutine writing
	closing   bool
	code      int // close frame still to write, if not 0
	reason    string
	active    sync.WaitGroup // held while scheduled

	// sends holds the send commands in flight on this connection, in the
	// order they started: each waits for its message to be durable, and a
	// client may pipeline many. One goroutine, the acker, started on demand
	// (acking), finishes them in order.
	sends   chan pendingSend
	acking  bool
	pending sync.WaitGroup
}

// maxPipelinedSends is how many sends of one connection may wait for their
// storage at once; the reader stops reading while they all wait. Deep enough
// that a publisher at full speed keeps the store's group commits large.
const maxPipelinedSends = 256

// pendingSend is a started send waiting for its storage.
type pendingSend struct {
	cmd    wire.Command
	finish func() (chatserver.Message, error)
	cancel context.CancelFunc
}

// run is the connection's reader: it runs commands in order until the
// connection ends.
func (c *wsConn) run(user, token string) {
	s := c.srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var readErr error
	defer func() {
		c.Close(websocket.CloseNormalClosure, "")
		c.wait()
		if readErr != nil && !isGone(readErr) {
			lingeringClose(c.conn)
			return
		}
		c.ws.Close()
	}()
	ws := c.ws
	ws.SetReadLimit(maxFrame)
	ws.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout))
	})

	c.Send(wire.Hello(user))
	sc, err := s.svc.Connect(ctx, user, token, c)
	if err != nil {
		s.log.Warn("connect failed", "user", user, "err", err)
		c.Close(closeCodeOf(err), chatserver.ErrorMessage(err))
		return
	}
	defer func() {
		c.pending.Wait()
		cctx, ccancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		defer ccancel()
		sc.Close(cctx)
	}()

	var limiter *rate.Limiter
	if s.cfg.RateLimit > 0 {
		limiter = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.RateBurst)
	}
	for {
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			readErr = err
			c.readFailed(err)
			return
		}
		ws.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout))
		if typ != websocket.TextMessage {
			c.Send(wire.ErrorReply(0, chatserver.Errorf(chatserver.EBadRequest, "binary frames are not part of the protocol")))
			continue
		}
		wire.SplitFrame(frame, func(obj []byte) { c.command(ctx, sc, limiter, obj) })
	}
}

// command runs one command object and queues its reply. Commands run in the
// order they arrive, except that a send is started in order and may finish
// after later commands: it waits for storage without holding up the reader.
func (c *wsConn) command(ctx context.Context, sc *service.Conn, limiter *rate.Limiter, obj []byte) {
	s := c.srv
	cmd, err := wire.Decode(obj)
	if err == nil && limiter != nil && !limiter.Allow() {
		err = chatserver.Errorf(chatserver.ERateLimited, "slow down: at most %g commands per second", s.cfg.RateLimit)
	}
	if err != nil {
		c.finish(sc, cmd, err)
		return
	}
	s.svc.Metrics().Command(metricType(cmd.Type))
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	if cmd.Type != wire.CmdSend {
		c.finish(sc, cmd, c.execute(cctx, sc, cmd))
		cancel()
		return
	}
	finish, err := s.svc.StartSend(cctx, sc.User(), cmd.Room, cmd.Text, cmd.CID)
	if err != nil {
		c.finish(sc, cmd, err)
		cancel()
		return
	}
	if c.sends == nil {
		// Made at the first send (by the reader, before any acker starts):
		// a connection that only listens never holds its 50-odd KiB.
		c.sends = make(chan pendingSend, maxPipelinedSends)
	}
	c.sends <- pendingSend{cmd: cmd, finish: finish, cancel: cancel}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.acking {
		c.acking = true
		c.pending.Add(1)
		go c.ack(sc)
	}
}

// ack finishes the connection's sends in the order they started (the order
// the store completes them in) and answers each; it exits when none is left.
// One goroutine for all of a connection's sends wakes once per group commit,
// not once per send.
func (c *wsConn) ack(sc *service.Conn) {
	defer c.pending.Done()
	for {
		var p pendingSend
		select {
		case p = <-c.sends:
		default:
			c.mu.Lock()
			if len(c.sends) == 0 {
				c.acking = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			continue
		}
		msg, err := p.finish()
		if err == nil {
			err = c.reply(p.cmd, wire.SendResult{Message: msg})
		}
		c.finish(sc, p.cmd, err)
		p.cancel()
	}
}

// metricType bounds the label values clients can create.
func metricType(typ string) string {
	switch typ {
	case wire.CmdJoin, wire.CmdLeave, wire.CmdSend, wire.CmdTyping, wire.CmdHistory:
		return typ
	case "":
		return "invalid"
	}
	return "unknown"
}

// reply queues the successful reply of a command that has an id.
func (c *wsConn) reply(cmd wire.Command, data any) error {
	if cmd.ID == 0 {
		return nil
	}
	b, err := wire.Reply(cmd.ID, data)
	if err != nil {
		return err
	}
	c.Send(b)
	return nil
}

// finish answers a failed command; successful ones have replied already.
func (c *wsConn) finish(sc *service.Conn, cmd wire.Command, err error) {
	if err == nil {
		return
	}
	s := c.srv
	typ := metricType(cmd.Type)
	err = publicError(err)
	code := chatserver.ErrorCode(err)
	if code == chatserver.EInternal || code == chatserver.EUnavailable {
		s.log.Error("command failed", "type", typ, "user", sc.User(), "err", err)
	}
	s.svc.Metrics().Error(typ, code)
	c.Send(wire.ErrorReply(cmd.ID, err))
}

// execute runs a decoded command; a successful one queues its own reply.
func (c *wsConn) execute(ctx context.Context, sc *service.Conn, cmd wire.Command) error {
	svc := c.srv.svc
	reply := func(data any) error { return c.reply(cmd, data) }
	switch cmd.Type {
	case wire.CmdJoin:
		return sc.Join(ctx, cmd.Room, cmd.Since, func(p wire.Page) { reply(p) })
	case wire.CmdLeave:
		if err := sc.Leave(ctx, cmd.Room); err != nil {
			return err
		}
		return reply(wire.Empty{})
	case wire.CmdTyping:
		if cmd.Active == nil {
			return chatserver.Errorf(chatserver.EBadRequest, "typing needs active: true or false")
		}
		if err := svc.Typing(ctx, sc.User(), cmd.Room, *cmd.Active); err != nil {
			return err
		}
		return reply(wire.Empty{})
	case wire.CmdHistory:
		limit := chatserver.DefaultPage
		if cmd.Limit != nil {
			limit = *cmd.Limit
		}
		p, err := svc.History(ctx, sc.User(), cmd.Room, cmd.Before, limit)
		if err != nil {
			return err
		}
		return reply(p)
	default:
		return chatserver.Errorf(chatserver.EBadRequest, "unknown command type %q", cmd.Type)
	}
}
