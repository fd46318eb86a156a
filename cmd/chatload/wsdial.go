package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 derives Sec-WebSocket-Accept with SHA-1
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The WebSocket upgrade of the subscribers' receive path without gorilla
// (see reactor_linux.go), done by hand on a plain TCP connection so that no
// byte the server sent is left in a library's buffer when the socket is
// handed over: the bytes after the hello stay in the wsReader (wsraw.go)
// that comes with the connection. No extensions, no subprotocols.

// helloHandler takes the first messages of a connection, the server's
// greeting in the protocol of its target, answers them, and stops drain once
// the session is ready.
type helloHandler struct {
	conn  net.Conn
	t     target
	frame []byte // scratch for the replies
}

var errGotHello = errors.New("hello received")

func (h *helloHandler) message(payload []byte) error {
	reply, ready, err := h.t.proto.greet(payload)
	if err != nil {
		return err
	}
	if reply != nil {
		h.frame = appendClientFrame(h.frame[:0], opText, reply)
		if err := h.send(h.frame); err != nil {
			return err
		}
	}
	if ready {
		return errGotHello
	}
	return nil
}

func (h *helloHandler) send(frame []byte) error {
	_, err := h.conn.Write(frame)
	return err
}

// dialRaw does what dial does, the same request with the same headers, on a
// plain TCP connection instead of gorilla's. It returns the connection, with
// no deadline, and a reader holding whatever the server sent after the hello.
func dialRaw(ctx context.Context, t target, token string) (net.Conn, *wsReader, error) {
	u, err := url.Parse(t.wsURL)
	if err != nil || u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("%s: only ws:// URLs can be dialed without gorilla", t.wsURL)
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = net.JoinHostPort(u.Hostname(), "80")
	}
	ctx, cancel := context.WithTimeout(ctx, dialer.HandshakeTimeout)
	defer cancel()
	conn, err := t.src.dialer(u.Hostname()).DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", t.wsURL, err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	// The whole handshake, hello included, within the dialer's timeout or
	// until ctx ends.
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", t.wsURL, err)
	}
	// A deadline in the past interrupts the handshake; one that fails finds
	// the connection closed, which ends the handshake too.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	u.Scheme = "http"
	req := &http.Request{Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: upgradeHeader(t, token), Host: u.Host}
	req.Header["Upgrade"] = []string{"websocket"}
	req.Header["Connection"] = []string{"Upgrade"}
	req.Header["Sec-WebSocket-Key"] = []string{key}
	req.Header["Sec-WebSocket-Version"] = []string{"13"}
	if err := req.Write(conn); err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", t.wsURL, err)
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", t.wsURL, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, nil, fmt.Errorf("GET %s: %s", t.wsURL, resp.Status) // closing conn discards the body
	}
	resp.Body.Close() // a 101 has none

	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) //nolint:gosec // the protocol's hash, see the import
	switch {
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"),
		!headerHasToken(resp.Header, "Connection", "upgrade"),
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return nil, nil, fmt.Errorf("GET %s: not a valid WebSocket handshake response", t.wsURL)
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, nil, fmt.Errorf("GET %s: the server chose extensions %q, none were offered", t.wsURL, resp.Header.Get("Sec-WebSocket-Extensions"))
	}

	rd := &wsReader{}
	hello := &helloHandler{conn: conn, t: t}
	if msg := t.proto.opening(); msg != nil {
		if err := hello.send(appendClientFrame(nil, opText, msg)); err != nil {
			return nil, nil, fmt.Errorf("GET %s: %w", t.wsURL, err)
		}
	}
	for {
		if err := rd.drain(hello); errors.Is(err, errGotHello) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("%s: reading hello: %w", t.wsURL, err)
		}
		n, err := br.Read(rd.space())
		rd.wrote(n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: reading hello: %w", t.wsURL, err)
		}
	}
	// What bufio read past the hello belongs to the next frames.
	rest, _ := br.Peek(br.Buffered())
	rd.feed(rest)
	if !stop() {
		return nil, nil, fmt.Errorf("%s: %w", t.wsURL, ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", t.wsURL, err)
	}
	ok = true
	return conn, rd, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[http.CanonicalHeaderKey(name)] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
