package main

import (
	"net/url"
	"slices"
	"testing"
)

func TestCentrifugoGreet(t *testing.T) {
	testGreet(t, centrifugoProtocol{}, map[string]greetCase{
		"the connect reply makes the session ready": {
			msg: `{"id":1,"connect":{"client":"6f305ff4-88cf-421c-ab00-db4a43f8de9b","version":"0.0.0 OSS","ping":25,"pong":true}}`, ready: true,
		},
		"a ping before it is answered":    {msg: `{}`, reply: `{}`},
		"a refused connect is an error":   {msg: `{"id":1,"error":{"code":101,"message":"unauthorized"}}`, errText: "not a Centrifugo connect reply"},
		"a push before it is an error":    {msg: `{"push":{"channel":"r","pub":{}}}`, errText: "not a Centrifugo connect reply"},
		"an empty message is an error":    {msg: "", errText: "not a Centrifugo connect reply"},
		"another protocol's hello errors": {msg: `{"type":"hello","user":"x"}`, errText: "not a Centrifugo connect reply"},
	})
}

func TestCentrifugoNext(t *testing.T) {
	text := string(appendText(nil, stamp{sentAt: 123456789, origin: 1, pub: 3, n: 42}, 64))
	msg := func(text string) string {
		return `{"push":{"channel":"bench-max-1a","pub":{"data":{"text":"` + text + `"},"info":{"user":"","client":"6f30"}}}}`
	}
	testNext(t, centrifugoProtocol{}, map[string]nextCase{
		"a message from a publisher of the run": {msg(text), event{kind: kindMessage, seq: 42, stream: 3, sentAt: 123456789, origin: 1}},
		"a message from someone else is in no stream": {
			msg("hello"), event{kind: kindMessage, stream: -1, seq: -1, sentAt: -1, origin: -1},
		},
		"the reply to a publish":     {`{"id":6401,"publish":{}}`, event{kind: kindReply, re: 6401, ok: true, sentAt: -1, origin: -1}},
		"the reply to a subscribe":   {`{"id":1,"subscribe":{"recoverable":false}}`, event{kind: kindReply, re: joinID, ok: true, sentAt: -1, origin: -1}},
		"a refused publish":          {`{"id":7,"error":{"code":103,"message":"permission denied"}}`, event{kind: kindReply, re: 7, code: []byte("centrifugo_error"), sentAt: -1, origin: -1}},
		"a ping":                     {`{}`, event{kind: kindPing, sentAt: -1, origin: -1}},
		"a disconnect":               {`{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}`, event{kind: kindClose, sentAt: -1, origin: -1}},
		"another push":               {`{"push":{"channel":"r","join":{"info":{}}}}`, event{kind: kindOther, sentAt: -1, origin: -1}},
		"a reply without an id":      {`{"id":"x","publish":{}}`, event{kind: kindOther, sentAt: -1, origin: -1}},
		"an empty line is not a msg": {``, event{kind: kindOther, sentAt: -1, origin: -1}},
	})

	t.Run("several replies and pushes to a message are read one line at a time", func(t *testing.T) {
		frame := []byte(`{"id":300,"publish":{}}` + "\n" + msg(text) + "\n" + `{}`)
		var kinds []kind
		for rest := frame; rest != nil; {
			var ev event
			rest = centrifugoProtocol{}.next(rest, &ev)
			kinds = append(kinds, ev.kind)
		}
		if !slices.Equal(kinds, []kind{kindReply, kindMessage, kindPing}) {
			t.Errorf("kinds %v, want a reply, a message and a ping", kinds)
		}
	})
}

func TestCentrifugoCommands(t *testing.T) {
	p := centrifugoProtocol{}
	testWritten(t, map[string][2]string{
		"the opening connect":     {string(p.opening()), `{"id":1,"connect":{}}`},
		"a subscribe with its id": {string(p.appendJoin(nil, joinID, "bench-max-1a")), `{"id":1,"subscribe":{"channel":"bench-max-1a"}}`},
		"a room that needs escaping": {
			string(p.appendJoin([]byte("x"), 7, `a"b\c`)), `x{"id":7,"subscribe":{"channel":"a\"b\\c"}}`,
		},
		"a publish with its id, without the client id": {
			string(p.appendSend(nil, 6403, "r", stamp{sentAt: 5, origin: 0, pub: 1, n: 25}, 12, "p1-")),
			`{"id":6403,"publish":{"channel":"r","data":{"text":"5.0.1.25 xxx"}}}`,
		},
		"the pong": {string(p.pong()), `{}`},
		"the endpoint of a plain server": {
			endpoint(p, url.URL{Scheme: "http", Host: "127.0.0.1:8000"}), "ws://127.0.0.1:8000/connection/websocket",
		},
		"the endpoint of a TLS server": {
			endpoint(p, url.URL{Scheme: "https", Host: "rt.example:443"}), "wss://rt.example:443/connection/websocket",
		},
	})
}
