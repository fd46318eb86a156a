package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
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
	addr := s.clientAddr(r)
	if limit := s.sockets.acquire(user, addr); limit != "" {
		s.hit(limit)
		s.writeError(w, r, "ws", &chatserver.Error{Code: chatserver.ERateLimited, Message: socketRefusals[limit], RetryAfter: capRetryAfter})
		return
	}
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hw, r, nil)
	// done gives back the socket and, once hijacked, the connection. It
	// holds the connection, never hw: hw holds net/http's response and its
	// buffers, which must go when this handler returns.
	hijacked := hw.conn
	done := func() {
		s.sockets.release(user, addr)
		if hijacked != nil {
			s.peers.closed(hijacked.Conn)
		}
	}
	if err != nil {
		done()
		return // the upgrader answered, or closed the connection
	}
	c := newWSConn(s, ws, hijacked.Conn)
	hijacked.attach(c)
	ws.SetPingHandler(c.pingHandler)
	ws.SetCloseHandler(c.closeHandler)
	if !s.track(c) {
		c.Close(CloseGoingAway, "server shutting down")
		c.wait()
		c.ws.Close()
		done()
		return
	}
	// The user is connected here, where the deep calls of the handshake
	// run (the session and presence lookups). The connection then lives on
	// in a goroutine of its own, so that this handler returns and net/http
	// lets go of the request and its 8 KiB of buffers, and so that an idle
	// connection, blocked on a read, keeps the small stack the goroutine
	// started with.
	ctx, cancel := context.WithCancel(context.Background())
	sc := c.r.open(ctx, user, token(r))
	go func() {
		defer s.wg.Done()
		defer done()
		defer s.untrack(c)
		defer cancel()
		c.serve(ctx, sc)
	}()
}

// socketRefusals tell a client refused by a cap of socketTracker why.
var socketRefusals = map[string]string{
	limitSocketsPerUser: "too many connections of this user: close some, then retry",
	limitSocketsPerAddr: "too many connections from this address: close some, then retry",
}

// wsConn is one WebSocket connection: its reader, and its writer with the
// queue, tied together. It is the sink the service's hub sends to.
type wsConn struct {
	srv  *Server
	ws   *websocket.Conn // reads; all writes go through w
	conn net.Conn        // what ws reads from and w writes to
	w    socketWriter
	r    reader
}

func newWSConn(s *Server, ws *websocket.Conn, conn net.Conn) *wsConn {
	c := &wsConn{srv: s, ws: ws, conn: conn}
	c.w = socketWriter{conn: conn, pool: s.writers, timeout: s.cfg.WriteTimeout}
	c.w.q.limit = s.cfg.SendQueue
	if sc, ok := conn.(syscall.Conn); ok {
		c.w.raw, _ = sc.SyscallConn()
	}
	c.r.c = c
	return c
}

// serve runs the connection of sc (nil: it could not connect) until it
// ends: it reads, then closes once the queue is written, and lets go of the
// socket.
func (c *wsConn) serve(ctx context.Context, sc *service.Conn) {
	err := c.r.run(ctx, sc)
	c.Close(websocket.CloseNormalClosure, "")
	c.wait()
	if err != nil && !isGone(err) {
		// The reader stopped at a protocol error, maybe mid-frame.
		lingeringClose(c.conn)
		return
	}
	c.ws.Close()
}

// Send queues one object; a connection whose queue passes its limit is
// closed with 1008 (its client resumes with join + since).
func (c *wsConn) Send(obj []byte) {
	start, closed := c.w.q.add(obj)
	c.queued(start, closed, ClosePolicy)
}

// control queues a ping or pong frame, written before the queued objects.
func (c *wsConn) control(frame []byte) {
	c.queued(c.w.q.addControl(frame), false, 0)
}

// Close ends the connection with code once the objects queued so far are
// written; for 1008 the queue is dropped, as the client is not reading it.
func (c *wsConn) Close(code int, reason string) {
	start, closed := c.w.q.close(code, reason, false)
	c.queued(start, closed, code)
}

// closeHandler answers the client's close frame with the same code, as
// RFC 6455 asks; the reader then ends.
func (c *wsConn) closeHandler(code int, _ string) error {
	start, _ := c.w.q.close(code, "", false)
	c.queued(start, false, code)
	return nil
}

// protocolError closes the connection with code after what is being written
// now: what is queued is dropped, and nothing follows the close frame.
func (c *wsConn) protocolError(code int) {
	start, closed := c.w.q.close(code, "", true)
	c.queued(start, closed, code)
}

// queued acts on what queueing told: closed, that the connection closed
// with code (counted); start, that its writer's turn starts.
func (c *wsConn) queued(start, closed bool, code int) {
	if closed {
		c.srv.svc.Metrics().Closed(strconv.Itoa(code))
	}
	if start {
		c.w.start()
	}
}

// readFailed ends the connection after a read error other than the client
// going away: a protocol error, closed with 1009 for a read over the limit,
// else 1002. gorilla/websocket has tried to write that close frame itself
// for most of them (upgradedConn in conn.go hands it to protocolError);
// the others (a frame length it cannot represent, a message that grows past
// the limit over several frames) get it here.
func (c *wsConn) readFailed(err error) {
	if isGone(err) {
		return
	}
	code := websocket.CloseProtocolError
	if errors.Is(err, websocket.ErrReadLimit) {
		code = CloseTooBig
	}
	c.protocolError(code)
}

func (c *wsConn) pingHandler(data string) error {
	c.control(appendFrame(nil, websocket.PongMessage, []byte(data)))
	return nil
}

// wait waits until nothing of c is being written.
func (c *wsConn) wait() { c.w.q.wait() }
