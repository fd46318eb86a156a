package redis

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Sessions keeps each session at <prefix>:session:<token hash>, a JSON value
// that Redis deletes when the session expires. Without persistence, a Redis
// restart ends every session: run it with AOF or RDB where that matters.
type Sessions struct {
	c      *Client
	prefix string
}

type sessionJSON struct {
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// CreateSession stores s until s.Expires.
func (s *Sessions) CreateSession(ctx context.Context, sess chatserver.Session) error {
	if !sess.Expires.After(time.Now()) {
		return chatserver.Errorf(chatserver.EBadRequest, "session expires in the past")
	}
	v, err := json.Marshal(sessionJSON{sess.User, sess.Created, sess.Expires})
	if err != nil {
		return chatserver.Errorf(chatserver.EInternal, "encode session: %v", err)
	}
	// PXAT needs a millisecond part to be chosen over EXAT; round up so the
	// session never ends before it says.
	exp := sess.Expires.Truncate(time.Millisecond)
	if exp.Before(sess.Expires) {
		exp = exp.Add(time.Millisecond)
	}
	if err := s.c.rdb.SetArgs(ctx, s.prefix+sess.TokenHash, v, goredis.SetArgs{ExpireAt: exp}).Err(); err != nil {
		return s.c.fail("create session", err)
	}
	return nil
}

// Session returns the live session of a token hash, or EUnauthorized.
func (s *Sessions) Session(ctx context.Context, tokenHash string) (chatserver.Session, error) {
	v, err := s.c.rdb.Get(ctx, s.prefix+tokenHash).Bytes()
	if errors.Is(err, goredis.Nil) {
		return chatserver.Session{}, chatserver.Errorf(chatserver.EUnauthorized, "no such session")
	}
	if err != nil {
		return chatserver.Session{}, s.c.fail("read session", err)
	}
	var j sessionJSON
	if err := json.Unmarshal(v, &j); err != nil {
		return chatserver.Session{}, chatserver.Errorf(chatserver.EInternal, "decode session: %v", err)
	}
	if !j.Expires.After(time.Now()) {
		return chatserver.Session{}, chatserver.Errorf(chatserver.EUnauthorized, "session expired")
	}
	return chatserver.Session{TokenHash: tokenHash, User: j.User, Created: j.Created, Expires: j.Expires}, nil
}

// DeleteSession ends a session.
func (s *Sessions) DeleteSession(ctx context.Context, tokenHash string) error {
	if err := s.c.rdb.Del(ctx, s.prefix+tokenHash).Err(); err != nil {
		return s.c.fail("delete session", err)
	}
	return nil
}
