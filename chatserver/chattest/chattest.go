// Package chattest is a small client of the chat protocol for tests: sign in
// over REST, open WebSockets, send commands and wait for replies and events.
// It is used by the transport's tests and by the multi-instance tests.
package chattest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// Timeout bounds every wait of this package.
var Timeout = 10 * time.Second

// Login signs username in at base (http://host:port) and returns the token.
func Login(t testing.TB, base, username, password string) string {
	t.Helper()
	status, body := Do(t, http.MethodPost, base+"/api/session", "", map[string]string{"username": username, "password": password})
	if status != http.StatusOK {
		t.Fatalf("login %s: %d %s", username, status, body)
	}
	var v struct{ Token string }
	if err := json.Unmarshal(body, &v); err != nil || v.Token == "" {
		t.Fatalf("login %s: %s", username, body)
	}
	return v.Token
}

// Do makes a REST call with an optional bearer token and JSON body.
func Do(t testing.TB, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Frame is one object received from the server, decoded loosely.
type Frame struct {
	Type     string          `json:"type"`
	Re       int64           `json:"re"`
	OK       bool            `json:"ok"`
	Data     json.RawMessage `json:"data"`
	Error    *wire.ErrorBody `json:"error"`
	Message  *Message        `json:"message"`
	Room     string          `json:"room"`
	User     json.RawMessage `json:"user"`
	Active   bool            `json:"active"`
	Status   string          `json:"status"`
	LastSeen string          `json:"last_seen"`
	Raw      string          `json:"-"`
}

// Message is a message as the wire carries it.
type Message = chatserver.Message

// UserID returns the user field of typing and presence events.
func (f Frame) UserID() string {
	var s string
	if err := json.Unmarshal(f.User, &s); err != nil {
		return "" // not a string: no user id
	}
	return s
}

// Client is one WebSocket connection.
type Client struct {
	t      testing.TB
	WS     *websocket.Conn
	nextID atomic.Int64
	frames chan Frame

	mu        sync.Mutex
	closeErr  error
	closeCode int
	done      chan struct{}
	replies   map[int64]chan Frame
}

// Dial opens a WebSocket to base with token (empty: none) and returns the
// client once the hello frame arrived.
func Dial(t testing.TB, base, token string) *Client {
	t.Helper()
	c, resp, err := DialErr(base, token, nil)
	if resp != nil {
		_ = resp.Body.Close() // the handshake's reply: no body to read
	}
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", base, err, status)
	}
	c.t = t
	t.Cleanup(func() { c.Close() })
	hello := c.Next(func(f Frame) bool { return true })
	if hello.Type != "hello" {
		t.Fatalf("first frame %s", hello.Raw)
	}
	return c
}

// DialErr opens a WebSocket without failing the test, for tests of refusals.
func DialErr(base, token string, header http.Header) (*Client, *http.Response, error) {
	if header == nil {
		header = http.Header{}
	}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	ws, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{WS: ws, frames: make(chan Frame, 100000), done: make(chan struct{}), replies: map[int64]chan Frame{}}
	go c.read()
	return c, resp, nil
}

func (c *Client) read() {
	defer close(c.done)
	defer close(c.frames)
	for {
		_, b, err := c.WS.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
				c.closeCode = ce.Code
			}
			c.mu.Unlock()
			return
		}
		wire.SplitFrame(b, func(obj []byte) {
			var f Frame
			if err := json.Unmarshal(obj, &f); err != nil {
				f = Frame{Type: "undecodable"}
			}
			f.Raw = string(obj)
			if f.Type == "reply" {
				c.mu.Lock()
				ch := c.replies[f.Re]
				delete(c.replies, f.Re)
				c.mu.Unlock()
				if ch != nil {
					ch <- f
					return
				}
			}
			c.frames <- f
		})
	}
}

// Send writes raw text as one frame.
func (c *Client) Send(text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.WS.WriteMessage(websocket.TextMessage, []byte(text))
}

// Command sends cmd with a fresh id and waits for its reply.
func (c *Client) Command(cmd map[string]any) Frame {
	c.t.Helper()
	f, err := c.CommandErr(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// CommandErr is Command without failing the test.
func (c *Client) CommandErr(cmd map[string]any) (Frame, error) {
	id := c.nextID.Add(1)
	cmd["id"] = id
	ch := make(chan Frame, 1)
	c.mu.Lock()
	c.replies[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(cmd)
	if err := c.Send(string(b)); err != nil {
		return Frame{}, err
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		return Frame{}, fmt.Errorf("connection closed before the reply to %s: %w", b, c.Err())
	case <-time.After(Timeout):
		return Frame{}, fmt.Errorf("no reply to %s", b)
	}
}

// OK sends cmd and fails the test unless the reply is ok; it decodes the
// reply's data into out when out is not nil.
func (c *Client) OK(cmd map[string]any, out any) {
	c.t.Helper()
	f := c.Command(cmd)
	if !f.OK {
		c.t.Fatalf("%v: %s", cmd, f.Raw)
	}
	if out != nil {
		if err := json.Unmarshal(f.Data, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

// Next returns the next non-reply frame that match accepts, dropping others.
func (c *Client) Next(match func(Frame) bool) Frame {
	c.t.Helper()
	f, err := c.NextErr(match)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// NextErr is Next without failing the test.
func (c *Client) NextErr(match func(Frame) bool) (Frame, error) {
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return Frame{}, fmt.Errorf("connection closed: %w", c.Err())
			}
			if match(f) {
				return f, nil
			}
		case <-timer.C:
			return Frame{}, fmt.Errorf("no matching frame within %s", Timeout)
		}
	}
}

// Quiet reports whether no frame that match accepts arrives within d.
func (c *Client) Quiet(d time.Duration, match func(Frame) bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return true
			}
			if match(f) {
				return false
			}
		case <-timer.C:
			return true
		}
	}
}

// Messages returns the next n message events of room, in arrival order.
func (c *Client) Messages(room string, n int) []Message {
	c.t.Helper()
	out := make([]Message, 0, n)
	for len(out) < n {
		f := c.Next(IsMessage(room))
		out = append(out, *f.Message)
	}
	return out
}

// IsMessage matches message events of room.
func IsMessage(room string) func(Frame) bool {
	return func(f Frame) bool { return f.Type == "message" && f.Message != nil && f.Message.Room == room }
}

// IsChange matches the message and update events of room.
func IsChange(room string) func(Frame) bool {
	return func(f Frame) bool {
		return (f.Type == "message" || f.Type == "update") && f.Message != nil && f.Message.Room == room
	}
}

// Revs reads room's message and update events up to rev last and fails the
// test unless they are exactly revs 1..last, each once, in order.
func (c *Client) Revs(room string, last int64) {
	c.t.Helper()
	for want := int64(1); want <= last; want++ {
		f := c.Next(IsChange(room))
		if f.Message.Rev != want {
			c.t.Fatalf("rev %d of %s (%s), want %d: a gap, a repeat or disorder", f.Message.Rev, room, f.Type, want)
		}
	}
}

// CatchUp joins room with since_rev from 0, paging on changes_more, and
// returns every message's current state by seq; it fails the test on a
// change not above the since_rev it answers.
func (c *Client) CatchUp(room string) map[int64]Message {
	c.t.Helper()
	current := map[int64]Message{}
	for since := int64(0); ; {
		var page struct {
			Changes     []Message
			ChangesMore bool `json:"changes_more"`
		}
		c.OK(map[string]any{"type": "join", "room": room, "since_rev": since}, &page)
		for _, m := range page.Changes {
			if m.Rev <= since {
				c.t.Fatalf("change at rev %d after since_rev %d", m.Rev, since)
			}
			current[m.Seq], since = m, m.Rev
		}
		if !page.ChangesMore {
			return current
		}
	}
}

// IsPresence matches presence events of user with status.
func IsPresence(user, status string) func(Frame) bool {
	return func(f Frame) bool { return f.Type == "presence" && f.UserID() == user && f.Status == status }
}

// WaitClosed waits for the server to close the connection and returns the close code.
func (c *Client) WaitClosed() int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	go func() {
		for range c.frames { // drain so the reader can finish
		}
	}()
	select {
	case <-c.done:
	case <-ctx.Done():
		c.t.Fatal("connection not closed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// Err returns the error that ended the connection, if it ended.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Close closes the connection and waits for its reader.
func (c *Client) Close() {
	c.WS.Close()
	<-c.done
}
