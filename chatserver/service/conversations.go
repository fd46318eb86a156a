package service

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// The rules of a conversation past sending: edits, deletes, reactions and
// read positions. Each change of a message is the store's next revision of
// the room (MessageStore.Update with a Change that states the rule), is
// recorded in the activity log where the contract says so, and reaches the
// room's connections as an `update` event in rev order, through the hub as
// messages do.

// Edit replaces the text of the message seq of room, which user wrote.
func (s *Service) Edit(ctx context.Context, user, roomID string, seq int64, text string) (chatserver.Message, error) {
	r, err := s.access(user, roomID)
	if err != nil {
		return chatserver.Message{}, err
	}
	if seq <= 0 {
		return chatserver.Message{}, chatserver.Errorf(chatserver.EBadRequest, "invalid seq: want a message's seq")
	}
	if text, err = validateText(text); err != nil {
		return chatserver.Message{}, err
	}
	mentions, err := s.mentions(ctx, text)
	if err != nil {
		return chatserver.Message{}, err
	}
	now := s.now()
	var before []string // who the text mentioned before the edit
	m, changed, err := s.update(ctx, roomID, seq, func(cur chatserver.Message) (chatserver.Message, bool, error) {
		before = cur.Mentions
		switch {
		case cur.Deleted:
			return cur, false, chatserver.Errorf(chatserver.ENotFound, "message %d of %s was deleted", seq, roomID)
		case cur.From != user:
			return cur, false, chatserver.Errorf(chatserver.EForbidden, "only its author may edit a message")
		case cur.Text == text:
			return cur, false, nil
		}
		cur.Text, cur.Mentions, cur.EditedTS = text, mentions, now
		return cur, true, nil
	}, func(m chatserver.Message) chatserver.ActivityEvent {
		return changeEvent(chatserver.ActivityEdited, "edit", user, m)
	})
	if err != nil || !changed {
		return m, err
	}
	s.published(ctx, r, m, func(ctx context.Context, r chatserver.Room, m chatserver.Message) error {
		// Only those the edit newly mentions are told.
		m.Mentions = slices.DeleteFunc(slices.Clone(m.Mentions), func(u string) bool { return slices.Contains(before, u) })
		return s.publishMentions(ctx, r, m)
	})
	return m, nil
}

// Delete deletes the message seq of room: its author may, and an admin in a
// public room. Deleting a deleted message changes nothing and answers its
// tombstone.
func (s *Service) Delete(ctx context.Context, user, roomID string, seq int64) (chatserver.Message, error) {
	r, err := s.access(user, roomID)
	if err != nil {
		return chatserver.Message{}, err
	}
	if seq <= 0 {
		return chatserver.Message{}, chatserver.Errorf(chatserver.EBadRequest, "invalid seq: want a message's seq")
	}
	mayModerate := s.IsAdmin(user) && !r.IsPrivate()
	m, changed, err := s.update(ctx, roomID, seq, func(cur chatserver.Message) (chatserver.Message, bool, error) {
		switch {
		case cur.From != user && !mayModerate:
			return cur, false, chatserver.Errorf(chatserver.EForbidden, "only its author (or an admin, in a public room) may delete a message")
		case cur.Deleted:
			return cur, false, nil
		}
		cur.Text, cur.Mentions, cur.Reactions, cur.Deleted = "", nil, nil, true
		return cur, true, nil
	}, func(m chatserver.Message) chatserver.ActivityEvent {
		return changeEvent(chatserver.ActivityDeleted, "delete", user, m)
	})
	if err != nil || !changed {
		return m, err
	}
	s.published(ctx, r, m, nil)
	return m, nil
}

// React sets (active) or takes back user's reaction emoji on the message seq
// of room. Setting what is set, or taking back what is not, changes nothing.
func (s *Service) React(ctx context.Context, user, roomID string, seq int64, emoji string, active bool) (chatserver.Message, error) {
	r, err := s.access(user, roomID)
	if err != nil {
		return chatserver.Message{}, err
	}
	if seq <= 0 {
		return chatserver.Message{}, chatserver.Errorf(chatserver.EBadRequest, "invalid seq: want a message's seq")
	}
	if err := validateEmoji(emoji); err != nil {
		return chatserver.Message{}, err
	}
	m, changed, err := s.update(ctx, roomID, seq, func(cur chatserver.Message) (chatserver.Message, bool, error) {
		if cur.Deleted {
			return cur, false, chatserver.Errorf(chatserver.ENotFound, "message %d of %s was deleted", seq, roomID)
		}
		next, changed := react(cur.Reactions, emoji, user, active)
		if len(next) > chatserver.MaxReactions {
			return cur, false, chatserver.Errorf(chatserver.EBadRequest, "a message holds at most %d different reactions", chatserver.MaxReactions)
		}
		cur.Reactions = next
		return cur, changed, nil
	}, nil)
	if err != nil || !changed {
		return m, err
	}
	s.published(ctx, r, m, nil)
	return m, nil
}

// react returns reactions with user's emoji set or taken back, and whether
// that changed them. It never changes reactions in place: they belong to a
// message another goroutine may hold.
func react(reactions []chatserver.Reaction, emoji, user string, active bool) ([]chatserver.Reaction, bool) {
	i := slices.IndexFunc(reactions, func(r chatserver.Reaction) bool { return r.Emoji == emoji })
	if i < 0 {
		if !active {
			return reactions, false
		}
		return append(slices.Clone(reactions), chatserver.Reaction{Emoji: emoji, Users: []string{user}}), true
	}
	users := reactions[i].Users
	j, found := slices.BinarySearch(users, user)
	if found == active {
		return reactions, false
	}
	next := slices.Clone(reactions)
	if active {
		next[i].Users = slices.Insert(slices.Clone(users), j, user)
		return next, true
	}
	if len(users) == 1 {
		return slices.Delete(next, i, i+1), true
	}
	next[i].Users = slices.Delete(slices.Clone(users), j, j+1)
	return next, true
}

// validateEmoji checks a reaction: 1 to MaxEmojiLen characters, no
// whitespace, and nothing the text rules refuse.
func validateEmoji(emoji string) error {
	n := utf8.RuneCountInString(emoji)
	if n < 1 || n > chatserver.MaxEmojiLen || strings.IndexFunc(emoji, unicode.IsSpace) >= 0 {
		return chatserver.Errorf(chatserver.EBadRequest, "invalid emoji: want 1-%d characters without whitespace", chatserver.MaxEmojiLen)
	}
	return chatserver.CheckText("emoji", emoji, false)
}

// Read moves user's read position in room to seq, unless it is further,
// and tells the user's connections (and, in a DM or group DM, the other
// members', as a read receipt) when it moved.
func (s *Service) Read(ctx context.Context, user, roomID string, seq int64) (int64, error) {
	r, err := s.access(user, roomID)
	if err != nil {
		return 0, err
	}
	if seq <= 0 {
		return 0, chatserver.Errorf(chatserver.EBadRequest, "invalid seq: want a message's seq")
	}
	pos, moved, err := s.b.Messages.MarkRead(ctx, user, roomID, seq)
	if err != nil {
		return 0, err
	}
	if moved {
		err := s.b.Broker.Publish(ctx, chatserver.Event{Kind: chatserver.EventRead, Room: r.ID, User: user, Seq: pos, Frame: wire.ReadEvent(r.ID, user, pos)})
		if err != nil {
			s.log.Warn("publishing a read position", "room", roomID, "user", user, "err", err)
		}
	}
	return pos, nil
}

// update applies change to the message seq of room and records the
// activity event that event makes of the changed message (none when event
// is nil or nothing changed): in one write when the store is also the
// activity log, else one after the other.
func (s *Service) update(ctx context.Context, room string, seq int64, change chatserver.Change, event func(chatserver.Message) chatserver.ActivityEvent) (chatserver.Message, bool, error) {
	if s.b.Recorder != nil && event != nil {
		return s.b.Recorder.UpdateRecord(ctx, room, seq, change, event)
	}
	m, changed, err := s.b.Messages.Update(ctx, room, seq, change)
	if err == nil && changed && event != nil {
		err = s.b.Activity.Record(ctx, event(m))
	}
	return m, changed, err
}

// changeEvent is the activity event of a change of a message by user. Its
// id follows from the message and its rev, so that the change, recorded
// again, is indexed once.
func changeEvent(typ, prefix, user string, m chatserver.Message) chatserver.ActivityEvent {
	return chatserver.ActivityEvent{
		ID: prefix + "-" + m.ID + "-" + strconv.FormatInt(m.Rev, 10), Type: typ,
		User: user, Room: m.Room, MessageID: m.ID, Message: &m,
	}
}

// published fans out a stored change of a message as an `update` event,
// then whatever more (mentions of an edited text). The change is stored, so
// a failure is logged: every instance reads the change from the store when
// the next one shows the gap.
func (s *Service) published(ctx context.Context, r chatserver.Room, m chatserver.Message, more func(context.Context, chatserver.Room, chatserver.Message) error) {
	ctx, cancel := context.WithTimeout(ctx, ackPublishWait)
	defer cancel()
	err := s.b.Broker.Publish(ctx, chatserver.Event{Kind: chatserver.EventUpdate, Room: m.Room, User: m.From, Seq: m.Seq, Rev: m.Rev, Frame: wire.UpdateEvent(m)})
	if err == nil && more != nil {
		err = more(ctx, r, m)
	}
	if err != nil {
		s.log.Warn("publishing a change", "room", m.Room, "seq", m.Seq, "rev", m.Rev, "err", err)
	}
}

// publishMentions tells each user m mentions, but its author, on every
// connection, when m is in a public room: in a DM or group DM the message
// reaches every member anyway.
func (s *Service) publishMentions(ctx context.Context, r chatserver.Room, m chatserver.Message) error {
	if r.IsPrivate() {
		return nil
	}
	var frame []byte
	for _, u := range m.Mentions {
		if u == m.From {
			continue
		}
		if frame == nil {
			frame = wire.MentionEvent(m)
		}
		if err := s.b.Broker.Publish(ctx, chatserver.Event{Kind: chatserver.EventMention, Room: m.Room, User: u, Seq: m.Seq, Frame: frame}); err != nil {
			return err
		}
	}
	return nil
}

// maxMentions bounds the distinct @names of one text that are looked up.
const maxMentions = 50

// mentions returns the sorted, distinct ids of the registered users text
// names as @id: an @ at the start or after a character that cannot be in
// an id, then an id (letters are lowered; a '.' or '-' that ends it is
// punctuation, not part of it).
func (s *Service) mentions(ctx context.Context, text string) ([]string, error) {
	var out []string
	for _, id := range mentionTokens(text) {
		if len(out) == maxMentions {
			break
		}
		if _, err := s.b.Users.Account(ctx, id); err != nil {
			if chatserver.ErrorCode(err) == chatserver.ENotFound {
				continue
			}
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// mentionTokens returns the sorted, distinct valid user ids text names as
// @id, registered or not, at most 4*maxMentions of them.
func mentionTokens(text string) []string {
	var ids []string
	for i := 0; i < len(text) && len(ids) < 4*maxMentions; i++ {
		if text[i] != '@' || (i > 0 && isIDByte(lower(text[i-1]))) {
			continue
		}
		j := i + 1
		for j < len(text) && isIDByte(lower(text[j])) {
			j++
		}
		id := strings.TrimRight(strings.ToLower(text[i+1:j]), ".-")
		if chatserver.ValidUserID(id) {
			ids = append(ids, id)
		}
		i = j - 1
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// lower lowers an ASCII letter, as user names are lowered into ids.
func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// isIDByte reports the bytes a user id is made of.
func isIDByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '-'
}
