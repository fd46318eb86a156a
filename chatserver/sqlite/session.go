package sqlite

import (
	"context"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	userExistsSQL    = `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`
	insertSessionSQL = `INSERT INTO sessions (token_hash, user_id, created, expires) VALUES (?, ?, ?, ?)
		ON CONFLICT (token_hash) DO NOTHING`
	sessionSQL       = `SELECT token_hash, user_id, created, expires FROM sessions WHERE token_hash = ?`
	deleteSessionSQL = `DELETE FROM sessions WHERE token_hash = ?`
	purgeSessionsSQL = `DELETE FROM sessions WHERE expires > 0 AND expires <= ?`
)

// CreateSession stores a session. A zero Expires never expires. ENotFound
// if the user is not registered, EConflict if the token hash is taken. Each
// sign-in deletes the sessions that have expired, so that they do not pile up.
func (db *DB) CreateSession(ctx context.Context, s chatserver.Session) error {
	return db.submit(ctx, func(w *writer) error {
		if _, err := w.exec(purgeSessionsSQL, nanos(time.Now())); err != nil {
			return err
		}
		var exists bool
		if err := w.queryRow(userExistsSQL, s.User).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return chatserver.Errorf(chatserver.ENotFound, "no user %q", s.User)
		}
		created, err := w.execAffected(insertSessionSQL, s.TokenHash, s.User, nanos(s.Created), nanos(s.Expires))
		if err == nil && !created {
			return chatserver.Errorf(chatserver.EConflict, "session exists")
		}
		return err
	})
}

// Session returns the session of a token hash; EUnauthorized when there is
// none or it has expired.
func (db *DB) Session(ctx context.Context, tokenHash string) (chatserver.Session, error) {
	var s chatserver.Session
	var created, expires int64
	err := db.read.QueryRowContext(ctx, sessionSQL, tokenHash).Scan(&s.TokenHash, &s.User, &created, &expires)
	switch {
	case isNoRows(err):
		return chatserver.Session{}, chatserver.Errorf(chatserver.EUnauthorized, "invalid or ended session")
	case err != nil:
		return chatserver.Session{}, db.fail(ctx, err)
	}
	s.Created, s.Expires = fromNanos(created), fromNanos(expires)
	if !s.Expires.IsZero() && !time.Now().Before(s.Expires) {
		return chatserver.Session{}, chatserver.Errorf(chatserver.EUnauthorized, "session expired")
	}
	return s, nil
}

// DeleteSession ends a session; ending one that does not exist is no error.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	return db.submit(ctx, func(w *writer) error {
		_, err := w.exec(deleteSessionSQL, tokenHash)
		return err
	})
}
