package main

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// protocol is what the generator speaks to one kind of server: the chat
// server's JSON commands and events (chatProtocol), Socket.IO's framing
// (socketio.go) or Centrifugo's JSON protocol (centrifugo.go). The scenarios are the same on every protocol, with the same
// connections, windows, pacing, clock and checks; only the bytes differ.
//
// next is on the receive path of every delivered message: implementations
// parse in place and allocate nothing.
type protocol interface {
	// name is the protocol as -protocol names it.
	name() string
	// system is the name results carry when -label is not given.
	system() string
	// wsPath is the path of the server's WebSocket endpoint, with its
	// query if it takes one (see endpoint).
	wsPath() string
	// signsIn reports whether connections carry a signed-in user's token.
	signsIn() bool
	// scenarios are the scenarios the protocol can run.
	scenarios() []string
	// opening is the message the client sends right after the upgrade, or
	// nil where the server speaks first.
	opening() []byte
	// greet takes the messages the server sends after the upgrade (and the
	// opening), one at a time, until it reports the session ready; a reply
	// is sent back first.
	greet(msg []byte) (reply []byte, ready bool, err error)
	// next parses the first event of a received message into ev and returns
	// the rest of the message.
	next(msg []byte, ev *event) (rest []byte)
	// pong is the message that answers an event of kindPing.
	pong() []byte
	// appendJoin appends the command that joins room, answered by a reply
	// whose re is id.
	appendJoin(dst []byte, id int64, room string) []byte
	// appendSend appends the command that sends a message with st and size
	// bytes of text to room, answered by a reply whose re is id; the chat
	// server also takes a client id, cidPrefix and id.
	appendSend(dst []byte, id int64, room string, st stamp, size int, cidPrefix string) []byte
	// perPublisher reports whether messages are checked per publisher, on the
	// count of sends their texts carry, rather than on the room's seq.
	perPublisher() bool
}

// protocols are the protocols -protocol takes.
var protocols = map[string]protocol{"chat": chatProtocol{}, "socketio": socketIOProtocol{}, "centrifugo": centrifugoProtocol{}}

// speak has every target reached as cfg says, in -protocol, from the
// addresses of -source-addrs, and checks that the protocol can run every
// scenario.
func speak(ts []target, cfg config, scenarios []string) error {
	p, ok := protocols[cmp.Or(cfg.protocol, "chat")]
	if !ok {
		return fmt.Errorf("-protocol: unknown protocol %q (want chat, socketio or centrifugo)", cfg.protocol)
	}
	for _, s := range scenarios {
		if !slices.Contains(p.scenarios(), s) {
			return fmt.Errorf("-scenarios: %s needs -protocol chat", s)
		}
	}
	var src *sourcePool
	if cfg.sourceAddrs > 1 {
		var err error
		if src, err = newSourcePool(cfg.sourceAddrs); err != nil {
			return err
		}
	}
	for i := range ts {
		u, err := url.Parse(ts[i].base)
		if err != nil {
			return fmt.Errorf("server %q: %w", ts[i].base, err)
		}
		ts[i].proto, ts[i].wsURL, ts[i].src = p, endpoint(p, *u), src
	}
	return nil
}

// endpoint is the WebSocket URL at which p's server of base URL base
// serves: ws:// for http://, wss:// for https://.
func endpoint(p protocol, base url.URL) string {
	base.Scheme = map[string]string{"http": "ws", "https": "wss"}[base.Scheme]
	base.Path, base.RawQuery, _ = strings.Cut(p.wsPath(), "?")
	return base.String()
}

// chatProtocol is the chat server's protocol (docs/protocol.md): sign-in,
// a hello, JSON commands with ids and replies that name them, and events
// coalesced several to a frame, one per line.
type chatProtocol struct{}

func (chatProtocol) name() string   { return "chat" }
func (chatProtocol) system() string { return "chatcluster" }
func (chatProtocol) signsIn() bool  { return true }

func (chatProtocol) scenarios() []string {
	return []string{"idle", "durable", "max", "paced", "rooms", "search"}
}

func (chatProtocol) wsPath() string { return "/ws" }

// opening is nil: the chat server greets first, with its hello.
func (chatProtocol) opening() []byte { return nil }

func (chatProtocol) greet(msg []byte) ([]byte, bool, error) {
	line, _ := nextLine(msg)
	var ev event
	if parseLine(line, &ev); ev.kind != kindHello {
		return nil, false, fmt.Errorf("first frame is not a hello: %.200s", msg)
	}
	return nil, true, nil
}

func (chatProtocol) next(msg []byte, ev *event) []byte {
	line, rest := nextLine(msg)
	parseLine(line, ev)
	return rest
}

// pong is never asked for: the chat server pings with WebSocket frames.
func (chatProtocol) pong() []byte { return nil }

func (chatProtocol) appendJoin(dst []byte, id int64, room string) []byte {
	return fmt.Appendf(dst, `{"type":"join","id":%d,"room":%q}`, id, room)
}

func (chatProtocol) appendSend(dst []byte, id int64, room string, st stamp, size int, cidPrefix string) []byte {
	return appendSend(dst, id, room, st, size, cidPrefix)
}

func (chatProtocol) perPublisher() bool { return false }

// textSender sends a text message on a connection whose receiving side
// answers the server (an Engine.IO pong).
type textSender interface {
	sendText(msg []byte) error
}

// wsConn is a connection through gorilla, in the protocol of its target.
// Its text messages may come from two goroutines, a send loop and the read
// loop answering pings, so writes take a lock.
type wsConn struct {
	*websocket.Conn
	proto protocol
	mu    sync.Mutex
}

func (c *wsConn) sendText(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.WriteMessage(websocket.TextMessage, msg)
}
