package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
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
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	c := &wsConn{srv: s, ws: ws, limit: s.cfg.SendQueue, sends: make(chan pendingSend, maxPipelinedSends), wake: make(chan struct{}, 1)}
	if !s.track(c) {
		c.Close(CloseGoingAway, "server shutting down")
		c.wait()
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
	ws    *websocket.Conn
	limit int

	mu      sync.Mutex
	queue   [][]byte
	queued  int
	writing bool
	closing bool
	code    int
	reason  string
	writer  sync.WaitGroup
	wake    chan struct{} // wakes a lingering writer

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

// Send queues one object; a connection whose queue passes its limit is closed
// with 1008 (its client resumes with join + since).
func (c *wsConn) Send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	// One object always fits an empty queue, so that a large join reply
	// does not end the connection that asked for it.
	if c.queued > 0 && c.queued+len(frame) > c.limit {
		c.closeLocked(ClosePolicy, "too slow: reconnect and resume with join and since")
		return
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.startWriterLocked()
}

// Close ends the connection with code once the frames queued so far are
// written; for 1008 the queue is dropped, as the client is not reading it.
func (c *wsConn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason)
}

func (c *wsConn) closeLocked(code int, reason string) {
	if c.closing {
		return
	}
	c.closing, c.code, c.reason = true, code, reason
	if code == ClosePolicy {
		c.queue, c.queued = nil, 0
	}
	c.srv.svc.Metrics().Closed(strconv.Itoa(code))
	c.startWriterLocked()
}

func (c *wsConn) startWriterLocked() {
	if c.writing {
		select {
		case c.wake <- struct{}{}: // a lingering writer takes it from here
		default:
		}
		return
	}
	c.writing = true
	c.writer.Add(1)
	go c.flush()
}

// flush writes the queue, coalescing objects into frames of at most 16 KiB,
// and exits when the queue is empty; after a close it writes the close frame.
func (c *wsConn) flush() {
	defer c.writer.Done()
	var batch [][]byte
	var linger *time.Timer
	for {
		// Let the goroutines already runnable go first: under load they are
		// fanning out the rest of a burst, which this write then carries in
		// the same frame. On an idle server this returns at once.
		runtime.Gosched()
		c.mu.Lock()
		if len(c.queue) == 0 {
			closing, code, reason := c.closing, c.code, c.reason
			if !closing && c.lingerFor(&linger) {
				continue
			}
			if !closing || code == 0 {
				c.writing = false
				c.mu.Unlock()
				return
			}
			c.code = 0 // the close frame goes out once
			c.mu.Unlock()
			c.writeClose(code, reason)
			continue
		}
		batch, c.queue = c.queue, batch[:0]
		c.queued = 0
		c.mu.Unlock()
		if err := c.writeBatch(batch); err != nil {
			c.ws.NetConn().Close()
			c.mu.Lock()
			c.closing, c.queue, c.queued, c.code = true, nil, 0, 0
			c.writing = false
			c.mu.Unlock()
			return
		}
		clear(batch)
	}
}

// lingerWait is how long a writer with nothing to write waits for more before
// it exits. A busy connection keeps its writer (and the stack it has grown)
// instead of starting one per event; an idle one holds none.
const lingerWait = 100 * time.Millisecond

// lingerFor waits, with c.mu held on entry and released, for Send to queue
// more within lingerWait. It reports true, with c.mu released, when the
// writer should look at the queue again, and false with c.mu still held when
// the wait ran out with the queue still empty.
func (c *wsConn) lingerFor(t **time.Timer) bool {
	c.mu.Unlock()
	if *t == nil {
		*t = time.NewTimer(lingerWait)
	} else {
		(*t).Reset(lingerWait)
	}
	select {
	case <-c.wake:
		(*t).Stop()
		return true
	case <-(*t).C:
	}
	c.mu.Lock()
	if len(c.queue) > 0 || c.closing {
		c.mu.Unlock()
		return true
	}
	return false
}

func (c *wsConn) writeBatch(batch [][]byte) error {
	c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	size := 0
	for _, obj := range batch {
		if w != nil && size+1+len(obj) > maxFrame {
			if err := w.Close(); err != nil {
				return err
			}
			w = nil
		}
		if w == nil {
			nw, err := c.ws.NextWriter(websocket.TextMessage)
			if err != nil {
				return err
			}
			w, size = nw, 0
		} else {
			w.Write([]byte{'\n'})
			size++
		}
		if _, err := w.Write(obj); err != nil {
			return err
		}
		size += len(obj)
	}
	if w != nil {
		return w.Close()
	}
	return nil
}

func (c *wsConn) writeClose(code int, reason string) {
	deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	// The reader ends when the client answers the close, or at this deadline.
	c.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
}

// wait waits for the writer goroutine, if any.
func (c *wsConn) wait() { c.writer.Wait() }

// run is the connection's reader: it runs commands in order until the
// connection ends.
func (c *wsConn) run(user, token string) {
	s := c.srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer func() {
		c.Close(websocket.CloseNormalClosure, "")
		c.wait()
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
			if errors.Is(err, websocket.ErrReadLimit) {
				s.svc.Metrics().Closed(strconv.Itoa(CloseTooBig))
			}
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
