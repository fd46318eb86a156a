package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// centrifugoProtocol is Centrifugo's JSON protocol (v2) on its WebSocket
// endpoint, as the peer of hack/peers/centrifugo runs it: anonymous
// clients that subscribe to and publish into channels without a namespace.
// Commands and replies are JSON objects, several to a WebSocket message,
// one per line; the client speaks first.
//
//	client: {"id":1,"connect":{}}
//	server: {"id":1,"connect":{"client":…,"ping":25,"pong":true}}
//	client: {"id":<id>,"subscribe":{"channel":"<room>"}}
//	server: {"id":<id>,"subscribe":{}}
//	client: {"id":<id>,"publish":{"channel":"<room>","data":{"text":"<text>"}}}
//	server: {"id":<id>,"publish":{}}, or {"id":<id>,"error":{"code":…}}
//	server: {"push":{"channel":"<room>","pub":{"data":{"text":…},…}}}
//	server: {}, client: {}                 ping and pong (the server pings)
//	server: {"push":{"disconnect":…}}      disconnect
//
// There is no sign-in and no seq: like Socket.IO, messages are checked per
// publisher on the count of sends the text carries.
type centrifugoProtocol struct{}

func (centrifugoProtocol) name() string        { return "centrifugo" }
func (centrifugoProtocol) system() string      { return "centrifugo" }
func (centrifugoProtocol) signsIn() bool       { return false }
func (centrifugoProtocol) scenarios() []string { return []string{"idle", "max", "paced"} }
func (centrifugoProtocol) perPublisher() bool  { return true }

func (centrifugoProtocol) wsPath() string { return "/connection/websocket" }

var (
	cfConnect    = []byte(`{"id":1,"connect":{}}`)
	cfPing       = []byte(`{}`)
	cfPushPrefix = []byte(`{"push":`)
	cfIDPrefix   = []byte(`{"id":`)
	keyConnect   = []byte(`connect"`)
	keyError     = []byte(`error"`)
	keyPub       = []byte(`pub"`)
	keyDisc      = []byte(`disconnect"`)
)

// opening is the connect command: Centrifugo waits for the client.
func (centrifugoProtocol) opening() []byte { return cfConnect }

func (centrifugoProtocol) greet(msg []byte) ([]byte, bool, error) {
	line, _ := nextLine(msg)
	switch {
	case bytes.HasPrefix(line, cfIDPrefix) && valueOf(line, keyConnect) != nil:
		return nil, true, nil
	case bytes.Equal(line, cfPing):
		return cfPing, false, nil
	}
	return nil, false, fmt.Errorf("not a Centrifugo connect reply: %.200s", msg)
}

func (centrifugoProtocol) next(msg []byte, ev *event) []byte {
	line, rest := nextLine(msg)
	*ev = event{kind: kindOther, sentAt: -1, origin: -1}
	switch {
	case bytes.HasPrefix(line, cfPushPrefix):
		if valueOf(line, keyPub) != nil {
			ev.kind = kindMessage
			st := parseText(valueOf(line, keyText))
			ev.sentAt, ev.origin, ev.stream, ev.seq = st.sentAt, st.origin, st.pub, st.n
			if st.n < 0 {
				ev.stream = -1
			}
		} else if valueOf(line, keyDisc) != nil {
			ev.kind = kindClose
		}
	case bytes.HasPrefix(line, cfIDPrefix):
		if id, n := parseDigits(line[len(cfIDPrefix):]); n > 0 {
			ev.kind, ev.re = kindReply, id
			if e := valueOf(line, keyError); e != nil {
				ev.code = []byte("centrifugo_error")
			} else {
				ev.ok = true
			}
		}
	case bytes.Equal(line, cfPing):
		ev.kind = kindPing
	}
	return rest
}

func (centrifugoProtocol) pong() []byte { return cfPing }

// appendJoin subscribes to room. Ids may repeat the connect's 1: it was
// answered before any command is sent.
func (centrifugoProtocol) appendJoin(dst []byte, id int64, room string) []byte {
	dst = appendInt(append(dst, cfIDPrefix...), id)
	q, _ := json.Marshal(room) // a string always marshals
	return append(append(append(dst, `,"subscribe":{"channel":`...), q...), `}}`...)
}

// appendSend publishes a message with st's text into room, which, as in the
// other protocols, is written as it is. Centrifugo has no client ids:
// cidPrefix is not sent.
func (centrifugoProtocol) appendSend(dst []byte, id int64, room string, st stamp, size int, _ string) []byte {
	dst = appendInt(append(dst, cfIDPrefix...), id)
	dst = append(dst, `,"publish":{"channel":"`...)
	dst = append(dst, room...)
	dst = append(dst, `","data":{"text":"`...)
	dst = appendText(dst, st, size)
	return append(dst, `"}}}`...)
}
