// Package chatserver holds the domain of the chat server: users, rooms, messages,
// activity events, the one error type, and the roles the server needs filled
// (roles.go: UserStore, SessionStore, MessageStore, ActivityLog,
// ActivityIndex, Presence, Broker). A backend is a system that fills some of
// those roles; each lives in a subpackage named for what it talks to (sqlite,
// inmem, redis, mongo, kafka, elastic), and the service and the transport
// only ever see the role interfaces.
package chatserver

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits of the wire contract.
const (
	MaxTextLen       = 4000 // characters, after trimming
	MaxCIDLen        = 64
	MaxFrameBytes    = 16 << 10
	DefaultPage      = 50  // history page and join without since
	MaxHistoryLimit  = 100 // history limit upper bound
	MaxSincePage     = 500 // join with since
	ProtocolVersion  = 2
	MinPasswordLen   = 8
	MaxPasswordLen   = 128
	PresenceOnline   = "online"
	PresenceOffline  = "offline"
	RoomKindPublic   = "public"
	RoomKindDM       = "dm"
	RoomKindGroup    = "group"
	DMPrefix         = "dm:"
	GroupPrefix      = "gdm:"
	MinGroupMembers  = 3
	MaxGroupMembers  = 8
	MaxReactions     = 20 // distinct emoji on one message
	MaxEmojiLen      = 16 // characters of one reaction's emoji
	TimestampLayout  = "2006-01-02T15:04:05.000Z07:00"
	ActivityTopic    = "chat.activity"
	DefaultStatsSpan = time.Hour
)

// Activity event types of the contract.
const (
	ActivityLogin      = "session.login"
	ActivityConnect    = "ws.connect"
	ActivityDisconnect = "ws.disconnect"
	ActivityJoin       = "room.join"
	ActivityLeave      = "room.leave"
	ActivityMessage    = "message.sent"
	ActivityEdited     = "message.edited"
	ActivityDeleted    = "message.deleted"
)

var (
	userIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,31}$`)
	roomIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
)

// NormalizeUserID lowercases a username and checks it is a valid user id.
func NormalizeUserID(username string) (string, error) {
	id := strings.ToLower(username)
	// Only ASCII names: lower-casing turns some other letters into ASCII
	// ones (the Kelvin sign into k), which would sign them in as another.
	if !isASCII(username) || !userIDPattern.MatchString(id) {
		return "", Errorf(EBadRequest, "invalid username %q: 1-32 of a-z, 0-9, '.', '-', starting with a letter or digit", username)
	}
	return id, nil
}

// ValidUserID reports whether id is already a valid, lowercased user id.
func ValidUserID(id string) bool { return userIDPattern.MatchString(id) }

// Room is a parsed room id.
type Room struct {
	ID      string
	Kind    string   // RoomKindPublic, RoomKindDM or RoomKindGroup
	Members []string // the users of a DM or group DM room, sorted; nil for public rooms
}

// ParseRoom validates a room id and tells what kind of room it names.
func ParseRoom(id string) (Room, error) {
	if rest, ok := strings.CutPrefix(id, DMPrefix); ok {
		a, b, ok := strings.Cut(rest, "_")
		if !ok || !ValidUserID(a) || !ValidUserID(b) || a >= b {
			return Room{}, Errorf(EBadRequest, "invalid direct-message room id %q: want dm:<user>_<user>, sorted and distinct", id)
		}
		return Room{ID: id, Kind: RoomKindDM, Members: []string{a, b}}, nil
	}
	if rest, ok := strings.CutPrefix(id, GroupPrefix); ok {
		members := strings.Split(rest, "_")
		if len(members) < MinGroupMembers || len(members) > MaxGroupMembers {
			return Room{}, Errorf(EBadRequest, "invalid group room id %q: want %d to %d members", id, MinGroupMembers, MaxGroupMembers)
		}
		for i, m := range members {
			if !ValidUserID(m) || (i > 0 && members[i-1] >= m) {
				return Room{}, Errorf(EBadRequest, "invalid group room id %q: want gdm:<user>_<user>_…, user ids sorted and distinct", id)
			}
		}
		return Room{ID: id, Kind: RoomKindGroup, Members: members}, nil
	}
	if !roomIDPattern.MatchString(id) {
		return Room{}, Errorf(EBadRequest, "invalid room id %q: 1-64 of a-z, 0-9, '-', starting with a letter or digit", id)
	}
	return Room{ID: id, Kind: RoomKindPublic}, nil
}

// IsDM reports whether the room is a direct-message room of two users.
func (r Room) IsDM() bool { return r.Kind == RoomKindDM }

// IsPrivate reports whether only the room's members may use it: a DM or a
// group DM.
func (r Room) IsPrivate() bool { return r.Kind == RoomKindDM || r.Kind == RoomKindGroup }

// HasMember reports whether user may read and write the room: everybody for a
// public room, only its members for a DM or group DM.
func (r Room) HasMember(user string) bool {
	return !r.IsPrivate() || slices.Contains(r.Members, user)
}

// GroupRoomID returns the id of the group DM room of users (3 to 8 distinct
// ids, in any order).
func GroupRoomID(users ...string) string {
	s := slices.Clone(users)
	slices.Sort(s)
	return GroupPrefix + strings.Join(s, "_")
}

// Other returns the other user of a DM room.
func (r Room) Other(user string) string {
	if r.Members[0] == user {
		return r.Members[1]
	}
	return r.Members[0]
}

// DMRoomID returns the id of the direct-message room of two users.
func DMRoomID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return DMPrefix + a + "_" + b
}

// Timestamp formats t as the contract wants it: RFC 3339, UTC, milliseconds.
func Timestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// Message is a stored chat message, in its current state.
type Message struct {
	ID   string
	Room string
	Seq  int64
	From string
	Text string // "" once deleted
	TS   time.Time
	CID  string
	// Rev is the room revision of the message's latest change: its send,
	// edit, delete or a change of its reactions.
	Rev int64
	// ReplyTo is the seq of the earlier message of the room it answers; 0: none.
	ReplyTo int64
	// Mentions are the sorted, distinct ids of the registered users its
	// text names as @id.
	Mentions []string
	EditedTS time.Time // of the last edit; zero if never edited
	Deleted  bool
	// Reactions in the order each emoji was first used; each emoji once,
	// its users sorted. An emoji whose last user took it back is gone.
	Reactions []Reaction
}

// Reaction is one emoji on a message and who reacted with it.
type Reaction struct {
	Emoji string   `json:"emoji"`
	Users []string `json:"users"`
}

// messageJSON is the wire form of a Message: AppendJSON writes it, and
// UnmarshalJSON reads it.
type messageJSON struct {
	ID        string     `json:"id"`
	Room      string     `json:"room"`
	Seq       int64      `json:"seq"`
	From      string     `json:"from"`
	Text      string     `json:"text"`
	TS        string     `json:"ts"`
	CID       string     `json:"cid"`
	Rev       int64      `json:"rev,omitempty"`
	ReplyTo   int64      `json:"reply_to,omitempty"`
	Mentions  []string   `json:"mentions,omitempty"`
	EditedTS  string     `json:"edited_ts,omitempty"`
	Deleted   bool       `json:"deleted,omitempty"`
	Reactions []Reaction `json:"reactions,omitempty"`
}

// MarshalJSON encodes the message in its wire form (see AppendJSON).
func (m Message) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, 160+len(m.Text))), nil
}

// MarshalJSON is json.Marshal without HTML escaping: clients show text as
// text, and "<" as \u003c would make a message six times its size.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// UnmarshalJSON decodes the wire form.
func (m *Message) UnmarshalJSON(b []byte) error {
	var j messageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	ts, err := time.Parse(time.RFC3339Nano, j.TS)
	if err != nil {
		return err
	}
	*m = Message{ID: j.ID, Room: j.Room, Seq: j.Seq, From: j.From, Text: j.Text, TS: ts.UTC(), CID: j.CID,
		Rev: j.Rev, ReplyTo: j.ReplyTo, Mentions: j.Mentions, Deleted: j.Deleted, Reactions: j.Reactions}
	if j.EditedTS != "" {
		if m.EditedTS, err = time.Parse(time.RFC3339Nano, j.EditedTS); err != nil {
			return err
		}
		m.EditedTS = m.EditedTS.UTC()
	}
	return nil
}

// User is a registered user as the registry shows it.
type User struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"`
	LastSeen time.Time `json:"last_seen"`
}

// Account is what the user store keeps of a user.
type Account struct {
	ID           string
	PasswordHash []byte // empty for users created by an auth proxy
	Created      time.Time
	LastSeen     time.Time // the last time the user went offline; zero if never
}

// Session is a signed-in session. Stores keep only TokenHash, never the token.
type Session struct {
	TokenHash string
	User      string
	Created   time.Time
	Expires   time.Time
}

// RoomInfo is a room as GET /api/rooms lists it to one user.
type RoomInfo struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Members []string  `json:"members,omitempty"` // DM and group DM rooms, sorted
	LastSeq int64     `json:"last_seq"`
	LastTS  time.Time `json:"last_ts"`
	Rev     int64     `json:"rev"`
	// ReadSeq is the user's read position (0: never read); Unread counts the
	// messages of other users after it that are not deleted, and Mentions
	// those of them that mention the user.
	ReadSeq  int64 `json:"read_seq"`
	Unread   int64 `json:"unread"`
	Mentions int64 `json:"mentions"`
	// Reads are the read positions of the other members of a DM or group
	// DM, by user id (members who never read it are left out), so that a
	// client shows read receipts from the start.
	Reads map[string]int64 `json:"reads,omitempty"`
}

// Page is a page of a room's messages, oldest first (by rev for
// MessageStore.Changes).
type Page struct {
	Messages []Message
	HasMore  bool
	// Rev is the room's latest rev, read before the messages: every change
	// after it has a higher rev, while a message of the page may already
	// show a later one.
	Rev int64
}

// ActivityEvent is one entry of the activity log.
type ActivityEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	TS        time.Time `json:"ts"`
	User      string    `json:"user"`
	Room      string    `json:"room,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	// Message is, for message.sent, message.edited and message.deleted,
	// the message as that change left it (no text once deleted): what the
	// message search index keeps of it. It travels with the event to the
	// indexer; the activity log itself keeps no message text.
	Message *Message `json:"message,omitempty"`
}

// ActivityQuery filters the activity log. Zero fields do not filter.
type ActivityQuery struct {
	Text string // free text over user, room, type and message id
	Type string
	User string
	Room string
	From time.Time
	To   time.Time
	Size int // 1..1000, default 50
}

// Message search limits.
const (
	MaxSearchQueryLen  = 200 // characters of q
	MaxSearchLimit     = 50
	DefaultSearchLimit = 20
)

// SearchQuery asks for the messages Reader may read (public rooms, and
// Reader's DMs and group DMs) whose current text has, for every one of
// Words, a word that equals it or begins with it, ignoring case; deleted
// messages never match. Zero Room, From and Before do not narrow it.
type SearchQuery struct {
	Reader string
	Words  []string // SearchWords of the query: lower case, at least one
	Room   string
	From   string    // the sender's user id
	Before time.Time // only messages sent before it
	Limit  int       // 1..MaxSearchLimit
}

// SearchResult is the answer of a search: how many messages match in all,
// and the newest Limit of them, newest first.
type SearchResult struct {
	Total    int64     `json:"total"`
	Messages []Message `json:"messages"`
}

// ActivityResult is a page of activity events, newest first.
type ActivityResult struct {
	Total  int64           `json:"total"`
	Events []ActivityEvent `json:"events"`
}

// StatsQuery asks for activity statistics over [From, To) in buckets of Interval.
type StatsQuery struct {
	From     time.Time
	To       time.Time
	Interval time.Duration
}

// StatsBucket counts the events of one interval by type.
type StatsBucket struct {
	TS          time.Time        `json:"ts"`
	CountByType map[string]int64 `json:"count_by_type"`
}

// RoomCount is a room and its number of messages in a stats window.
type RoomCount struct {
	Room  string `json:"room"`
	Count int64  `json:"count"`
}

// ActivityStats is the answer of GET /api/activity/stats.
type ActivityStats struct {
	Buckets     []StatsBucket `json:"buckets"`
	TopRooms    []RoomCount   `json:"top_rooms"`
	ActiveUsers int64         `json:"active_users"`
}

// PresenceChange is a user going online or offline.
type PresenceChange struct {
	User     string
	Status   string
	LastSeen time.Time
}

// MarshalJSON writes ts in the contract's form (UTC, milliseconds).
func (e ActivityEvent) MarshalJSON() ([]byte, error) {
	type plain ActivityEvent
	return json.Marshal(struct {
		plain
		TS string `json:"ts"`
	}{plain(e), Timestamp(e.TS)})
}

// MarshalJSON writes ts in the contract's form (UTC, milliseconds).
func (b StatsBucket) MarshalJSON() ([]byte, error) {
	type plain StatsBucket
	return json.Marshal(struct {
		plain
		TS string `json:"ts"`
	}{plain(b), Timestamp(b.TS)})
}
