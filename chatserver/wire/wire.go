// Package wire encodes and decodes the WebSocket protocol of the chat server:
// client commands in, replies and events out. It knows nothing of connections
// or backends.
package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Command types.
const (
	CmdJoin    = "join"
	CmdLeave   = "leave"
	CmdSend    = "send"
	CmdTyping  = "typing"
	CmdHistory = "history"
	CmdEdit    = "edit"
	CmdDelete  = "delete"
	CmdReact   = "react"
	CmdRead    = "read"
)

// Command is one decoded client command. Optional fields are pointers so that
// "absent" and "zero" differ.
type Command struct {
	Type   string
	ID     int64 // 0: no reply wanted
	Room   string
	Since  *int64
	Before *int64
	Limit  *int
	Text   string
	CID    string
	Active *bool
	// Version 2.
	Seq      *int64 // edit, delete, react, read: the message
	ReplyTo  *int64 // send: the message it answers
	SinceRev *int64 // join: the changes after this rev
	Emoji    string // react
}

type rawCommand struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id"`
	Room   *string         `json:"room"`
	Since  json.RawMessage `json:"since"`
	Before json.RawMessage `json:"before"`
	Limit  json.RawMessage `json:"limit"`
	Text   *string         `json:"text"`
	CID    *string         `json:"cid"`
	Active *bool           `json:"active"`

	Seq      json.RawMessage `json:"seq"`
	ReplyTo  json.RawMessage `json:"reply_to"`
	SinceRev json.RawMessage `json:"since_rev"`
	Emoji    *string         `json:"emoji"`
}

// Decode parses one JSON object of a frame. On error it still returns the
// command's id when one could be read, so that the error can be replied to.
func Decode(b []byte) (Command, error) {
	var r rawCommand
	if err := json.Unmarshal(b, &r); err != nil {
		// A field of the wrong type: still answer the command's id if it has one.
		var idOnly struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(b, &idOnly) == nil {
			if id, ok := positiveInt(idOnly.ID); ok {
				return Command{ID: id}, chatserver.Errorf(chatserver.EBadRequest, "malformed command: a field has the wrong type")
			}
		}
		return Command{}, chatserver.Errorf(chatserver.EBadRequest, "malformed command: not a JSON object")
	}
	var c Command
	if len(r.ID) > 0 && string(r.ID) != "null" {
		id, ok := positiveInt(r.ID)
		if !ok {
			return Command{}, chatserver.Errorf(chatserver.EBadRequest, "invalid id: want a positive integer")
		}
		c.ID = id
	}
	c.Type = r.Type
	if !utf8.Valid(b) {
		// Decoding replaced the invalid bytes: refuse rather than run
		// something other than what was sent.
		return c, chatserver.Errorf(chatserver.EBadRequest, "malformed command: not valid UTF-8")
	}
	if r.Type == "" {
		return c, chatserver.Errorf(chatserver.EBadRequest, "missing type")
	}
	if r.Room != nil {
		c.Room = *r.Room
	}
	if r.Text != nil {
		c.Text = *r.Text
	}
	if r.CID != nil {
		c.CID = *r.CID
	}
	c.Active = r.Active
	if r.Emoji != nil {
		c.Emoji = *r.Emoji
	}
	var err error
	if c.Since, err = optionalSeq(r.Since, "since"); err != nil {
		return c, err
	}
	if c.SinceRev, err = optionalSeq(r.SinceRev, "since_rev"); err != nil {
		return c, err
	}
	if c.Seq, err = optionalSeq(r.Seq, "seq"); err != nil {
		return c, err
	}
	if c.ReplyTo, err = optionalSeq(r.ReplyTo, "reply_to"); err != nil {
		return c, err
	}
	if c.Before, err = optionalSeq(r.Before, "before"); err != nil {
		return c, err
	}
	if len(r.Limit) > 0 && string(r.Limit) != "null" {
		n, ok := positiveInt(r.Limit)
		if !ok || n > chatserver.MaxHistoryLimit {
			return c, chatserver.Errorf(chatserver.EBadRequest, "invalid limit: want 1-%d", chatserver.MaxHistoryLimit)
		}
		l := int(n)
		c.Limit = &l
	}
	return c, nil
}

// positiveInt reads a JSON number that is a positive integer.
func positiveInt(b json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil && n > 0
}

func optionalSeq(b json.RawMessage, name string) (*int64, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return nil, chatserver.Errorf(chatserver.EBadRequest, "invalid %s: want a seq (an integer >= 0)", name)
	}
	return &n, nil
}

// SplitFrame calls f for every non-empty newline-separated object of a frame.
func SplitFrame(frame []byte, f func([]byte)) {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			f(line)
		}
	}
}

// Server events and replies. Each Encode function returns one JSON object
// without a trailing newline.

type hello struct {
	Type     string   `json:"type"`
	Protocol int      `json:"protocol"`
	User     userJSON `json:"user"`
}

type userJSON struct {
	ID string `json:"id"`
}

// Hello is the first frame of a connection.
func Hello(user string) []byte {
	return mustMarshal(hello{"hello", chatserver.ProtocolVersion, userJSON{user}})
}

type okReply struct {
	Type string `json:"type"`
	Re   int64  `json:"re"`
	OK   bool   `json:"ok"`
	Data any    `json:"data"`
}

// ErrorBody is the error object of replies and REST answers.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NewErrorBody returns the client-facing form of err.
func NewErrorBody(err error) ErrorBody {
	return ErrorBody{Code: chatserver.ErrorCode(err), Message: chatserver.ErrorMessage(err)}
}

type errReply struct {
	Type  string    `json:"type"`
	Re    int64     `json:"re"`
	OK    bool      `json:"ok"`
	Error ErrorBody `json:"error"`
}

type errEvent struct {
	Type  string    `json:"type"`
	Error ErrorBody `json:"error"`
}

// Reply encodes a successful reply to command id.
func Reply(id int64, data any) ([]byte, error) {
	return chatserver.MarshalJSON(okReply{"reply", id, true, data})
}

// ErrorReply encodes a failed reply to command id. For commands without an id
// it encodes an `error` event instead, so that the client still learns why.
func ErrorReply(id int64, err error) []byte {
	if id == 0 {
		return mustMarshal(errEvent{"error", NewErrorBody(err)})
	}
	return mustMarshal(errReply{"reply", id, false, NewErrorBody(err)})
}

// messageFrame encodes an event of kind typ that carries m: the frame of
// `message`, `update` and `mention` events.
func messageFrame(typ string, m chatserver.Message) []byte {
	b := make([]byte, 0, len(`{"type":"","message":}`)+len(typ)+160+len(m.Text))
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","message":`...)
	b = m.AppendJSON(b)
	return append(b, '}')
}

// MessageEvent encodes a `message` event.
func MessageEvent(m chatserver.Message) []byte {
	return messageFrame("message", m)
}

// messageEventPrefix is how MessageEvent's frames begin: the message's JSON
// follows, then the closing brace.
const messageEventPrefix = `{"type":"message","message":`

// SendReply encodes the successful reply to send command id from the
// `message` event of its message (MessageEvent's frame), the bytes that
// Reply(id, SendResult{Message: m}) would encode: a send's message is
// encoded once, for the fan-out and for the sender.
func SendReply(id int64, event []byte) []byte {
	msg := event[len(messageEventPrefix) : len(event)-1]
	b := make([]byte, 0, len(msg)+64)
	b = append(b, `{"type":"reply","re":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"ok":true,"data":{"message":`...)
	b = append(b, msg...)
	return append(b, "}}"...)
}

// UpdateEvent encodes an `update` event: m was edited, deleted, or its
// reactions changed.
func UpdateEvent(m chatserver.Message) []byte {
	return messageFrame("update", m)
}

// MentionEvent encodes a `mention` event: m mentions the receiver.
func MentionEvent(m chatserver.Message) []byte {
	return messageFrame("mention", m)
}

type readEvent struct {
	Type string `json:"type"`
	Room string `json:"room"`
	User string `json:"user"`
	Seq  int64  `json:"seq"`
}

// ReadEvent encodes a `read` event: user's read position in room is seq.
func ReadEvent(room, user string, seq int64) []byte {
	return mustMarshal(readEvent{"read", room, user, seq})
}

type typingEvent struct {
	Type   string `json:"type"`
	Room   string `json:"room"`
	User   string `json:"user"`
	Active bool   `json:"active"`
}

// TypingEvent encodes a `typing` event.
func TypingEvent(room, user string, active bool) []byte {
	return mustMarshal(typingEvent{"typing", room, user, active})
}

type presenceEvent struct {
	Type     string `json:"type"`
	User     string `json:"user"`
	Status   string `json:"status"`
	LastSeen string `json:"last_seen"`
}

// PresenceEvent encodes a `presence` event.
func PresenceEvent(user, status string, lastSeen time.Time) []byte {
	return mustMarshal(presenceEvent{"presence", user, status, chatserver.Timestamp(lastSeen)})
}

// Page is the reply data of join and history, and the answer of the REST
// history call.
type Page struct {
	Room     string               `json:"room"`
	Messages []chatserver.Message `json:"messages"`
	HasMore  bool                 `json:"has_more"`
	// Changes and ChangesMore answer a join with since_rev, and only it.
	Changes     *[]chatserver.Message `json:"changes,omitempty"`
	ChangesMore *bool                 `json:"changes_more,omitempty"`
}

// WithChanges adds the changes of a join with since_rev to p.
func (p Page) WithChanges(c chatserver.Page) Page {
	msgs := c.Messages
	if msgs == nil {
		msgs = []chatserver.Message{}
	}
	p.Changes, p.ChangesMore = &msgs, &c.HasMore
	return p
}

// NewPage returns the wire form of a page, with an empty (not null) list.
func NewPage(room string, p chatserver.Page) Page {
	msgs := p.Messages
	if msgs == nil {
		msgs = []chatserver.Message{}
	}
	return Page{Room: room, Messages: msgs, HasMore: p.HasMore}
}

// MessageSize is the length of m's JSON as MarshalJSON writes it.
func MessageSize(m chatserver.Message) int {
	var buf [1024]byte // on the stack: most messages fit
	return len(m.AppendJSON(buf[:0]))
}

// SendResult is the reply data of send, edit, delete and react.
type SendResult struct {
	Message chatserver.Message `json:"message"`
}

// ReadResult is the reply data of read.
type ReadResult struct {
	Room    string `json:"room"`
	ReadSeq int64  `json:"read_seq"`
}

// Empty is the reply data of leave and typing.
type Empty struct{}

func mustMarshal(v any) []byte {
	b, err := chatserver.MarshalJSON(v)
	if err != nil {
		panic("wire: " + err.Error()) // only fixed, marshalable types reach here
	}
	return b
}
