package e2e

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

	"github.com/gorilla/websocket"
)

// SignIn signs a user in with a password on the chat server at base
// (http://host:port), registering the user the first time, and returns the
// session token.
func SignIn(ctx context.Context, base, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	var out struct {
		Token string `json:"token"`
	}
	if err := call(ctx, http.MethodPost, base+"/api/session", "", bytes.NewReader(body), &out); err != nil {
		return "", fmt.Errorf("sign in %s: %w", user, err)
	}
	return out.Token, nil
}

// Get calls a REST endpoint with the token and decodes its JSON answer.
func Get(ctx context.Context, base, token, path string, out any) error {
	return call(ctx, http.MethodGet, base+path, token, nil, out)
}

func call(ctx context.Context, method, u, token string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// Message is a chat message as the protocol carries it.
type Message struct {
	ID   string `json:"id"`
	Room string `json:"room"`
	Seq  int64  `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
	CID  string `json:"cid"`
}

// Event is one object the server sends on the WebSocket.
type Event struct {
	Type    string          `json:"type"`
	Re      int64           `json:"re"`
	OK      bool            `json:"ok"`
	Data    json.RawMessage `json:"data"`
	Error   *struct{ Code, Message string }
	Message *Message `json:"message"`
	User    any      `json:"user"` // hello: an object; presence, typing: an id
	Status  string   `json:"status"`
	Room    string   `json:"room"`
}

// Conn is a WebSocket connection of a signed-in user. A reader goroutine
// keeps every event, until Close.
type Conn struct {
	User string
	ws   *websocket.Conn
	done chan struct{}

	mu     sync.Mutex
	events []Event
	err    error
	more   chan struct{} // closed and replaced when events grow or reading ends
	nextID int64
}

// Dial opens the WebSocket of a session on base and waits for hello.
func Dial(ctx context.Context, base, user, token string) (*Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/ws"
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s as %s: %s: %w", u, user, resp.Status, err)
		}
		return nil, fmt.Errorf("websocket %s as %s: %w", u, user, err)
	}
	c := &Conn{User: user, ws: ws, done: make(chan struct{}), more: make(chan struct{})}
	go c.read()
	if _, err := c.Await(ctx, func(e Event) bool { return e.Type == "hello" }); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) read() {
	defer close(c.done)
	for {
		_, frame, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.err = err
		} else {
			for _, line := range bytes.Split(frame, []byte("\n")) {
				if len(bytes.TrimSpace(line)) == 0 {
					continue
				}
				var e Event
				if jerr := json.Unmarshal(line, &e); jerr != nil {
					c.err = fmt.Errorf("undecodable event %q: %w", line, jerr)
					break
				}
				c.events = append(c.events, e)
			}
		}
		close(c.more)
		c.more = make(chan struct{})
		failed := c.err != nil
		c.mu.Unlock()
		if failed {
			return
		}
	}
}

// Close closes the connection and waits for its reader.
func (c *Conn) Close() {
	_ = c.ws.Close()
	<-c.done
}

// Await returns the first event received so far or later that matches.
func (c *Conn) Await(ctx context.Context, match func(Event) bool) (Event, error) {
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.events); seen++ {
			if match(c.events[seen]) {
				e := c.events[seen]
				c.mu.Unlock()
				return e, nil
			}
		}
		err, more := c.err, c.more
		c.mu.Unlock()
		if err != nil {
			return Event{}, fmt.Errorf("%s's connection: %w", c.User, err)
		}
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("%s's connection: %w", c.User, ctx.Err())
		case <-more:
		}
	}
}

// Command sends a command with a fresh id and returns its reply, failing
// on an error reply.
func (c *Conn) Command(ctx context.Context, cmd map[string]any) (Event, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return Event{}, err
	}
	reply, err := c.Await(ctx, func(e Event) bool { return e.Type == "reply" && e.Re == id })
	if err != nil {
		return Event{}, err
	}
	if !reply.OK {
		if reply.Error != nil {
			return reply, fmt.Errorf("%s: %s: %s", cmd["type"], reply.Error.Code, reply.Error.Message)
		}
		return reply, errors.New("command failed")
	}
	return reply, nil
}

// AwaitMessage waits for a message event in room with the text.
func (c *Conn) AwaitMessage(ctx context.Context, room, text string) (Message, error) {
	e, err := c.Await(ctx, func(e Event) bool {
		return e.Type == "message" && e.Message != nil && e.Message.Room == room && e.Message.Text == text
	})
	if err != nil {
		return Message{}, fmt.Errorf("%s waiting for %q in %s: %w", c.User, text, room, err)
	}
	return *e.Message, nil
}
