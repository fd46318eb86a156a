package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// socketIOProtocol is Socket.IO 5 over Engine.IO 4 on the WebSocket
// transport, as the relay of hack/peers/socketio speaks it: every Engine.IO
// packet is one WebSocket message, a digit for its type and then its data.
//
//	server: 0{"sid":…,"pingInterval":…}  open
//	client: 40                           connect to the main namespace
//	server: 40{"sid":…}                  connected
//	client: 42<id>["join","<room>"]      an event with an ack id
//	server: 43<id>[]                     its ack
//	server: 42["message",{"room":…,"text":…}]
//	server: 2, client: 3                 ping and pong (the server pings)
//	server: 41 or 1                      disconnect, close
//
// There is no sign-in and no seq: gaps, duplicates and order are checked per
// publisher on the count of sends the text carries.
type socketIOProtocol struct{}

func (socketIOProtocol) name() string        { return "socketio" }
func (socketIOProtocol) system() string      { return "socketio" }
func (socketIOProtocol) signsIn() bool       { return false }
func (socketIOProtocol) scenarios() []string { return []string{"idle", "max", "paced"} }
func (socketIOProtocol) perPublisher() bool  { return true }

func (socketIOProtocol) wsPath() string { return "/socket.io/?EIO=4&transport=websocket" }

var (
	sioConnect      = []byte("40")
	sioPing         = []byte("2")
	sioPong         = []byte("3")
	sioConnectError = []byte("44")
	sioEvent        = []byte("42")
	sioAck          = []byte("43")
	sioDisconnect   = []byte("41")
	sioMessage      = []byte(`42["message",`)
)

// opening is nil: Engine.IO opens with the server's open packet.
func (socketIOProtocol) opening() []byte { return nil }

func (socketIOProtocol) greet(msg []byte) ([]byte, bool, error) {
	switch {
	case bytes.HasPrefix(msg, sioConnect):
		return nil, true, nil
	case bytes.HasPrefix(msg, sioConnectError):
		return nil, false, fmt.Errorf("socket.io refused the connection: %.200s", msg[2:])
	case len(msg) > 0 && msg[0] == '0': // Engine.IO open
		return sioConnect, false, nil
	case bytes.Equal(msg, sioPing):
		return sioPong, false, nil
	}
	return nil, false, fmt.Errorf("not a Socket.IO open or connect: %.200s", msg)
}

func (socketIOProtocol) next(msg []byte, ev *event) []byte {
	*ev = event{kind: kindOther, sentAt: -1, origin: -1}
	switch {
	case bytes.HasPrefix(msg, sioMessage):
		ev.kind = kindMessage
		st := parseText(valueOf(msg[len(sioMessage):], keyText))
		ev.sentAt, ev.origin, ev.stream, ev.seq = st.sentAt, st.origin, st.pub, st.n
		if st.n < 0 {
			ev.stream = -1
		}
	case bytes.HasPrefix(msg, sioAck):
		if id, n := parseDigits(msg[len(sioAck):]); n > 0 {
			ev.kind, ev.re, ev.ok = kindReply, id, true
		}
	case bytes.Equal(msg, sioPing):
		ev.kind = kindPing
	case bytes.HasPrefix(msg, sioDisconnect) || (len(msg) > 0 && msg[0] == '1'):
		ev.kind = kindClose
	}
	return nil
}

func (socketIOProtocol) pong() []byte { return sioPong }

func (socketIOProtocol) appendJoin(dst []byte, id int64, room string) []byte {
	dst = appendInt(append(dst, sioEvent...), id)
	q, _ := json.Marshal(room) // a string always marshals
	return append(append(append(dst, `["join",`...), q...), ']')
}

// appendSend appends 42<id>["send",{"room":"<room>","text":"<text>"}]. Like
// the chat command, it writes room as it is: the scenarios' rooms need no
// escaping. Socket.IO has no client ids: cidPrefix is not sent.
func (socketIOProtocol) appendSend(dst []byte, id int64, room string, st stamp, size int, _ string) []byte {
	dst = appendInt(append(dst, sioEvent...), id)
	dst = append(dst, `["send",{"room":"`...)
	dst = append(dst, room...)
	dst = append(dst, `","text":"`...)
	dst = appendText(dst, st, size)
	return append(dst, `"}]`...)
}
