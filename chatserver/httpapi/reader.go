package httpapi

import (
	"context"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// reader is a connection's reader: it reads the client's frames and runs
// their commands in order, answering through the connection's queue. A send
// is started in order and finished by the acker, so that the reader does not
// wait for storage.
type reader struct {
	c      *wsConn
	acks   *acker  // made at the first send
	budget *budget // nil without a rate limit
}

// run runs the commands of sc (nil: it could not connect) until the
// connection ends, then waits for the sends in flight and disconnects. It
// returns the read error that ended it, nil if none did; a read error other
// than the client going away has closed the connection already.
func (r *reader) run(ctx context.Context, sc *service.Conn) error {
	if sc == nil {
		return nil
	}
	defer r.disconnect(sc)
	return r.loop(ctx, sc)
}

// open says hello and connects the user to the service; nil: it could not,
// and the connection is closed.
func (r *reader) open(ctx context.Context, user, token string) *service.Conn {
	c := r.c
	s := c.srv
	ws := c.ws
	ws.SetReadLimit(maxFrame)
	// A deadline fails only on a closed connection, which the first read reports.
	_ = ws.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout))
	ws.SetPongHandler(func(string) error {
		if c.w.q.closed() {
			return nil // the deadline is the close handshake's now
		}
		return ws.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout))
	})

	c.Send(wire.Hello(user))
	sc, err := s.svc.Connect(ctx, user, token, c)
	if err != nil {
		s.log.Warn("connect failed", "user", user, "err", err)
		c.Close(closeCodeOf(err), chatserver.ErrorMessage(err))
		return nil
	}
	r.budget = newBudget(s.cfg)
	return sc
}

// disconnect waits for the sends in flight, then disconnects sc.
func (r *reader) disconnect(sc *service.Conn) {
	r.acks.wait()
	ctx, cancel := context.WithTimeout(context.Background(), r.c.srv.cfg.RequestTimeout)
	defer cancel()
	sc.Close(ctx)
}

// loop reads frames and runs their commands until a read fails. It is apart
// from run because an idle connection spends its life blocked in it: its
// frame, and not run's, stays on the goroutine's stack, which the runtime
// then shrinks to the smallest size.
func (r *reader) loop(ctx context.Context, sc *service.Conn) error {
	c, ws := r.c, r.c.ws
	closing := false
	for {
		typ, frame, err := ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return err
		}
		if c.w.q.closed() {
			// The server closed the connection (the session ended, the
			// client flooded, the instance stops): nothing more runs, and
			// a client that goes on sending is read for closeWait at most.
			if !closing {
				closing = true
				_ = ws.SetReadDeadline(time.Now().Add(closeWait))
			}
			continue
		}
		_ = ws.SetReadDeadline(time.Now().Add(c.srv.cfg.PongTimeout)) // as above: the next read reports a closed connection
		if typ != websocket.TextMessage {
			r.command(ctx, sc, nil)
			continue
		}
		wire.SplitFrame(frame, func(obj []byte) { r.command(ctx, sc, obj) })
	}
}

// command runs one command object (nil: a binary frame) and queues its
// reply. Commands run in the order they arrive, except that a send is
// started in order and may finish after later commands: it waits for
// storage without holding up the reader. Every object costs its command
// under the rate limit, malformed or not.
func (r *reader) command(ctx context.Context, sc *service.Conn, obj []byte) {
	s := r.c.srv
	if r.c.w.q.closed() {
		return // closed by an earlier object of the frame
	}
	var cmd wire.Command
	var err error
	if obj != nil {
		cmd, err = wire.Decode(obj)
	} else {
		err = chatserver.Errorf(chatserver.EBadRequest, "binary frames are not part of the protocol")
	}
	v := allowed
	if r.budget != nil {
		v = r.budget.take(time.Now())
	}
	switch v {
	case overFlood:
		s.svc.Metrics().Limited(service.LimitFlood)
		r.c.Close(ClosePolicy, "too many commands while rate limited")
		return
	case overCommands:
		s.svc.Metrics().Limited(service.LimitCommands)
		err = chatserver.Errorf(chatserver.ERateLimited, "slow down: at most %g commands per second", s.cfg.RateLimit)
	case overBytes:
		s.svc.Metrics().Limited(service.LimitReplyBytes)
		err = chatserver.Errorf(chatserver.ERateLimited, "slow down: the replies to your commands passed %g bytes per second", s.cfg.RateBytes)
	}
	if err != nil {
		r.finish(sc, cmd, err)
		return
	}
	s.svc.Metrics().Command(metricType(cmd.Type))
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	if cmd.Type != wire.CmdSend {
		r.finish(sc, cmd, r.execute(cctx, sc, cmd))
		cancel()
		return
	}
	var replyTo int64
	if cmd.ReplyTo != nil {
		replyTo = *cmd.ReplyTo
	}
	finish, err := s.svc.StartSend(cctx, sc.User(), cmd.Room, cmd.Text, cmd.CID, replyTo)
	if err != nil {
		r.finish(sc, cmd, err)
		cancel()
		return
	}
	if r.acks == nil {
		r.acks = newAcker(func(cmd wire.Command, sent service.Sent, err error) {
			if err == nil && cmd.ID != 0 {
				r.send(wire.SendReply(cmd.ID, sent.Event))
			}
			r.finish(sc, cmd, err)
		})
	}
	r.acks.add(pendingSend{cmd: cmd, finish: finish, cancel: cancel})
}

// metricType bounds the label values clients can create.
func metricType(typ string) string {
	switch typ {
	case wire.CmdJoin, wire.CmdLeave, wire.CmdSend, wire.CmdTyping, wire.CmdHistory,
		wire.CmdEdit, wire.CmdDelete, wire.CmdReact, wire.CmdRead:
		return typ
	case "":
		return "invalid"
	}
	return "unknown"
}

// reply queues the successful reply of a command that has an id.
func (r *reader) reply(cmd wire.Command, data any) error {
	if cmd.ID == 0 {
		return nil
	}
	b, err := wire.Reply(cmd.ID, data)
	if err != nil {
		return err
	}
	r.send(b)
	return nil
}

// send queues a reply, which costs its bytes under the rate limit.
func (r *reader) send(b []byte) {
	if r.budget != nil {
		r.budget.spend(time.Now(), len(b))
	}
	r.c.Send(b)
}

// finish answers a failed command; successful ones have replied already.
func (r *reader) finish(sc *service.Conn, cmd wire.Command, err error) {
	if err == nil {
		return
	}
	s := r.c.srv
	typ := metricType(cmd.Type)
	err = publicError(err)
	code := chatserver.ErrorCode(err)
	if code == chatserver.EInternal || code == chatserver.EUnavailable {
		s.log.Error("command failed", "type", typ, "user", sc.User(), "err", err)
	}
	s.svc.Metrics().Error(typ, code)
	r.send(wire.ErrorReply(cmd.ID, err))
}

// execute runs a decoded command; a successful one queues its own reply.
func (r *reader) execute(ctx context.Context, sc *service.Conn, cmd wire.Command) error {
	svc := r.c.srv.svc
	reply := func(data any) error { return r.reply(cmd, data) }
	switch cmd.Type {
	case wire.CmdJoin:
		// A page holds wire types only: its reply always encodes.
		return sc.Join(ctx, cmd.Room, cmd.Since, cmd.SinceRev, func(p wire.Page) { _ = reply(p) })
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
	case wire.CmdEdit, wire.CmdDelete, wire.CmdReact:
		if cmd.Seq == nil {
			return chatserver.Errorf(chatserver.EBadRequest, "%s needs seq: the message's seq", cmd.Type)
		}
		var m chatserver.Message
		var err error
		switch cmd.Type {
		case wire.CmdEdit:
			m, err = svc.Edit(ctx, sc.User(), cmd.Room, *cmd.Seq, cmd.Text)
		case wire.CmdDelete:
			m, err = svc.Delete(ctx, sc.User(), cmd.Room, *cmd.Seq)
		default:
			if cmd.Active == nil {
				return chatserver.Errorf(chatserver.EBadRequest, "react needs active: true or false")
			}
			m, err = svc.React(ctx, sc.User(), cmd.Room, *cmd.Seq, cmd.Emoji, *cmd.Active)
		}
		if err != nil {
			return err
		}
		return reply(wire.SendResult{Message: m})
	case wire.CmdRead:
		if cmd.Seq == nil {
			return chatserver.Errorf(chatserver.EBadRequest, "read needs seq: the last message read")
		}
		pos, err := svc.Read(ctx, sc.User(), cmd.Room, *cmd.Seq)
		if err != nil {
			return err
		}
		return reply(wire.ReadResult{Room: cmd.Room, ReadSeq: pos})
	default:
		return chatserver.Errorf(chatserver.EBadRequest, "unknown command type %q", cmd.Type)
	}
}
