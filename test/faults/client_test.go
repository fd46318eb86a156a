//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// errUnauthorized is a token the server no longer knows (Redis, which keeps
// sessions, was restarted empty): sign in again.
var errUnauthorized = errors.New("401: sign in again")

// errNoReply is a command the server did not answer in time.
var errNoReply = errors.New("no reply")

// replyTimeout bounds the wait for any reply: a server that answers nothing
// for this long counts as gone, and the client reconnects.
const replyTimeout = 10 * time.Second

// httpClient makes every REST call of the campaign.
var httpClient = &http.Client{Timeout: replyTimeout}

// signIn signs user in at base and returns the token.
func signIn(ctx context.Context, base, user string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password(user)})
	status, b, err := rest(ctx, http.MethodPost, base+"/api/session", "", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("sign-in of %s: %d %s", user, status, b)
	}
	var v struct{ Token string }
	if err := json.Unmarshal(b, &v); err != nil || v.Token == "" {
		return "", fmt.Errorf("sign-in of %s: %s", user, b)
	}
	return v.Token, nil
}

// password is the password of a user of the campaign.
func password(user string) string { return "fault-campaign-" + user + "-Zq7" }

// getJSON makes a GET with token and decodes a 200 answer into out.
func getJSON(ctx context.Context, url, token string, out any) error {
	status, b, err := rest(ctx, http.MethodGet, url, token, nil)
	switch {
	case err != nil:
		return err
	case status == http.StatusUnauthorized:
		return errUnauthorized
	case status != http.StatusOK:
		return fmt.Errorf("GET %s: %d %s", url, status, b)
	}
	return json.Unmarshal(b, out)
}

func rest(ctx context.Context, method, url, token string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// wsConn is one WebSocket. Its reader hands every frame, replies included,
// to a handler in the order the server sent them, before any waiting
// command sees its reply: what a connection saw is checked in wire order,
// never in the order goroutines happen to run.
type wsConn struct {
	ws     *websocket.Conn
	handle func(c *wsConn, f chattest.Frame, cmd map[string]any) // cmd: the command a reply answers; nil for events

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int64
	pending map[int64]pendingCmd
	err     error         // why the reader stopped
	done    chan struct{} // closed when the reader stopped
}

type pendingCmd struct {
	cmd   map[string]any
	reply chan chattest.Frame
}

// dialWS opens a WebSocket to base and returns once the hello frame came.
func dialWS(ctx context.Context, base, token string, handle func(*wsConn, chattest.Frame, map[string]any)) (*wsConn, error) {
	d := websocket.Dialer{HandshakeTimeout: replyTimeout}
	ws, resp, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, errUnauthorized
		}
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(replyTimeout))
	_, first, err := ws.ReadMessage()
	if err == nil && !bytes.HasPrefix(first, []byte(`{"type":"hello"`)) {
		err = fmt.Errorf("first frame %s", first)
	}
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c := &wsConn{ws: ws, handle: handle, pending: map[int64]pendingCmd{}, done: make(chan struct{})}
	if _, rest, ok := bytes.Cut(first, []byte("\n")); ok {
		c.frame(rest) // what the server coalesced with its hello
	}
	go c.read()
	return c, nil
}

func (c *wsConn) read() {
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.frame(b)
	}
}

// frame handles the objects of one frame in order.
func (c *wsConn) frame(b []byte) {
	wire.SplitFrame(b, func(obj []byte) {
		var f chattest.Frame
		if err := json.Unmarshal(obj, &f); err != nil {
			f = chattest.Frame{Type: "undecodable"}
		}
		f.Raw = string(obj)
		var p pendingCmd
		if f.Type == "reply" {
			c.mu.Lock()
			p = c.pending[f.Re]
			delete(c.pending, f.Re)
			c.mu.Unlock()
		}
		c.handle(c, f, p.cmd)
		if p.reply != nil {
			p.reply <- f
		}
	})
}

// do sends cmd with a fresh id and waits for its reply.
func (c *wsConn) do(cmd map[string]any) (chattest.Frame, error) {
	ch := make(chan chattest.Frame, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	cmd["id"] = id
	c.pending[id] = pendingCmd{cmd: cmd, reply: ch}
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	b, _ := json.Marshal(cmd)
	c.writeMu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(replyTimeout))
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.writeMu.Unlock()
	if err != nil {
		forget()
		return chattest.Frame{}, err
	}
	timer := time.NewTimer(replyTimeout)
	defer timer.Stop()
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		forget()
		return chattest.Frame{}, fmt.Errorf("connection lost before the reply to %s: %w", cmd["type"], c.cause())
	case <-timer.C:
		forget()
		return chattest.Frame{}, fmt.Errorf("%w to %s within %v", errNoReply, cmd["type"], replyTimeout)
	}
}

// cause is why the connection ended, once it has.
func (c *wsConn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closeCode is the close status the server sent, 0 if none.
func (c *wsConn) closeCode() int {
	var ce *websocket.CloseError
	if errors.As(c.cause(), &ce) {
		return ce.Code
	}
	return 0
}

// close closes the connection and waits for its reader.
func (c *wsConn) close() {
	c.writeMu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.writeMu.Unlock()
	_ = c.ws.Close()
	<-c.done
}

// errorCode is the error code of a failed reply.
func errorCode(f chattest.Frame) string {
	if f.Error == nil {
		return "(none)"
	}
	return f.Error.Code
}

// roomPath is the REST path of a room's messages.
func roomPath(room string) string { return "/api/rooms/" + url.PathEscape(room) + "/messages" }
