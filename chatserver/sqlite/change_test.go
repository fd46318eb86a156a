package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// The Changes below are what the service makes of edit, delete and react,
// less its rules of who may.

// edit sets the text, and the mentions it names; setting the same text
// changes nothing.
func edit(text string, mentions ...string) chatserver.Change {
	return func(m chatserver.Message) (chatserver.Message, bool, error) {
		if m.Text == text {
			return m, false, nil
		}
		m.Text, m.Mentions, m.EditedTS = text, mentions, time0.Add(time.Hour)
		return m, true, nil
	}
}

// remove deletes the message; deleting a deleted one changes nothing.
func remove() chatserver.Change {
	return func(m chatserver.Message) (chatserver.Message, bool, error) {
		if m.Deleted {
			return m, false, nil
		}
		m.Deleted, m.Text, m.Mentions, m.Reactions = true, "", nil, nil
		return m, true, nil
	}
}

// react sets (active) or takes back user's emoji; what is already so
// changes nothing.
func react(emoji, user string, active bool) chatserver.Change {
	return func(m chatserver.Message) (chatserver.Message, bool, error) {
		i := slices.IndexFunc(m.Reactions, func(r chatserver.Reaction) bool { return r.Emoji == emoji })
		if i < 0 {
			if !active {
				return m, false, nil
			}
			m.Reactions = append(m.Reactions, chatserver.Reaction{Emoji: emoji})
			i = len(m.Reactions) - 1
		}
		users := m.Reactions[i].Users
		has := slices.Contains(users, user)
		switch {
		case has == active:
			return m, false, nil
		case active:
			users = append(users, user)
		default:
			users = slices.DeleteFunc(users, func(u string) bool { return u == user })
		}
		m.Reactions[i].Users = users
		if len(users) == 0 {
			m.Reactions = slices.Delete(m.Reactions, i, i+1)
		}
		return m, true, nil
	}
}

// update applies change to the message of room with seq and fails the test
// on an error.
func update(tb testing.TB, db *DB, room string, seq int64, change chatserver.Change) (chatserver.Message, bool) {
	tb.Helper()
	m, changed, err := db.Update(context.Background(), room, seq, change)
	if err != nil {
		tb.Fatalf("Update %s/%d: %v", room, seq, err)
	}
	return m, changed
}

// message returns the message of room with seq and fails the test on an
// error.
func message(tb testing.TB, db *DB, room string, seq int64) chatserver.Message {
	tb.Helper()
	m, err := db.Message(context.Background(), room, seq)
	if err != nil {
		tb.Fatalf("Message %s/%d: %v", room, seq, err)
	}
	return m
}

// increasing reports whether every number of s is above the one before.
func increasing(s []int64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}
