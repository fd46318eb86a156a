package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawServer answers the WebSocket upgrade itself, so that a test decides
// which bytes go out in which write, and hands the connection to script.
func rawServer(t *testing.T, script func(r *http.Request, c net.Conn, br *bufio.Reader) error) (target, chan error) {
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- script(r, c, brw.Reader)
	}))
	t.Cleanup(srv.Close)
	return target{base: srv.URL, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", proto: chatProtocol{}}, done
}

func switchingProtocols(r *http.Request) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(r) + "\r\n\r\n"
}

func acceptKey(r *http.Request) string {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestDialRaw(t *testing.T) {
	hello := string(serverFrame(true, opText, `{"type":"hello","protocol":1}`))
	tests := map[string]struct {
		reply   func(r *http.Request) string // written in one write after the request
		expect  []clientFrame                // what the client must send back
		rest    []string                     // the messages the client must get after the hello
		errText string                       // or how dialRaw must fail
	}{
		"the hello alone": {
			reply: func(r *http.Request) string { return switchingProtocols(r) + hello },
		},
		"messages behind the hello reach the caller": {
			reply: func(r *http.Request) string {
				return switchingProtocols(r) + hello + string(serverFrame(true, opText, "m1")) + string(serverFrame(true, opText, "m2"))
			},
			rest: []string{"m1", "m2"},
		},
		"a ping before the hello is answered": {
			reply: func(r *http.Request) string {
				return switchingProtocols(r) + string(serverFrame(true, opPing, "early")) + hello
			},
			expect: []clientFrame{{opPong, "early"}},
		},
		"upgrade among the tokens of Connection": {
			reply: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Accept: " +
					acceptKey(r) + "\r\n\r\n" + hello
			},
		},
		"a refused upgrade is named by its status": {
			reply:   func(*http.Request) string { return "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n" },
			errText: "401 Unauthorized",
		},
		"a wrong accept key": {
			reply: func(*http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: eA==\r\n\r\n" + hello
			},
			errText: "not a valid WebSocket handshake",
		},
		"no Upgrade in Connection": {
			reply: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: " +
					acceptKey(r) + "\r\n\r\n" + hello
			},
			errText: "not a valid WebSocket handshake",
		},
		"an extension that was not offered": {
			reply: func(r *http.Request) string {
				return strings.TrimSuffix(switchingProtocols(r), "\r\n") + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" + hello
			},
			errText: "chose extensions",
		},
		"a first message that is not a hello": {
			reply: func(r *http.Request) string {
				return switchingProtocols(r) + string(serverFrame(true, opText, `{"type":"message"}`))
			},
			errText: "first frame is not a hello",
		},
		"a connection that ends before the hello": {
			reply:   func(r *http.Request) string { return switchingProtocols(r) + hello[:3] },
			errText: "reading hello",
		},
		"a frame error before the hello": {
			reply:   func(r *http.Request) string { return switchingProtocols(r) + string(serverFrame(true, 0x3, "x")) },
			errText: "unknown opcode",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tg, served := rawServer(t, func(r *http.Request, c net.Conn, br *bufio.Reader) error {
				for h, want := range map[string]string{"Authorization": "Bearer tok", "Origin": "http://" + r.Host,
					"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"} {
					if got := r.Header.Get(h); got != want {
						return fmt.Errorf("%s %q, want %q", h, got, want)
					}
				}
				if r.URL.Path != "/ws" {
					return fmt.Errorf("path %q, want /ws", r.URL.Path)
				}
				if _, err := c.Write([]byte(tt.reply(r))); err != nil {
					return err
				}
				for _, f := range tt.expect {
					if err := expectFrame(br, f); err != nil {
						return err
					}
				}
				return nil // and close: what was written still arrives
			})
			conn, rd, err := dialRaw(context.Background(), tg, "tok")
			if err == nil {
				defer conn.Close()
				err = readMessages(conn, rd, tt.rest)
			}
			if serr := <-served; serr != nil {
				t.Errorf("server: %v", serr)
			}
			switch {
			case tt.errText == "" && err != nil:
				t.Errorf("dialRaw: %v", err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("dialRaw = %v, want an error with %q", err, tt.errText)
			}
		})
	}
}

// readMessages reads conn through rd, which may already hold some of the
// bytes, until it has the messages want, and fails unless it gets exactly
// those.
func readMessages(conn net.Conn, rd *wsReader, want []string) error {
	var rec recorder
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	for {
		if err := rd.drain(&rec); err != nil {
			return err
		}
		if len(rec.msgs) >= len(want) {
			break
		}
		n, err := conn.Read(rd.space())
		rd.wrote(n)
		if err != nil {
			return fmt.Errorf("after %q: %w", rec.msgs, err)
		}
	}
	if fmt.Sprint(rec.msgs) != fmt.Sprint(want) {
		return fmt.Errorf("got messages %q, want %q", rec.msgs, want)
	}
	return nil
}

func TestDialRawTakesOnlyWS(t *testing.T) {
	if _, _, err := dialRaw(context.Background(), target{base: "https://127.0.0.1:1", wsURL: "wss://127.0.0.1:1/ws", proto: chatProtocol{}}, "tok"); err == nil ||
		!strings.Contains(err.Error(), "only ws://") {
		t.Errorf("dialRaw(wss://…) = %v, want an error naming ws://", err)
	}
}

func TestDialRawEndsWithItsContext(t *testing.T) {
	asked, release := make(chan struct{}), make(chan struct{})
	tg, served := rawServer(t, func(*http.Request, net.Conn, *bufio.Reader) error {
		close(asked)
		<-release // never answers
		return nil
	})
	defer func() {
		close(release)
		if err := <-served; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	dialed := make(chan error, 1)
	go func() {
		_, _, err := dialRaw(ctx, tg, "tok")
		dialed <- err
	}()
	<-asked
	cancel()
	// Well before the handshake timeout, which would end it too.
	select {
	case err := <-dialed:
		if err == nil {
			t.Error("dialRaw succeeded against a server that never answered")
		}
	case <-time.After(dialer.HandshakeTimeout / 2):
		t.Fatal("dialRaw did not end when its context did")
	}
}
