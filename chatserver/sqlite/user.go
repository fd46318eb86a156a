package sqlite

import (
	"context"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

const (
	insertAccountSQL = `INSERT INTO users (id, password_hash, created, last_seen) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`
	accountCols    = `id, password_hash, created, last_seen`
	accountSQL     = `SELECT ` + accountCols + ` FROM users WHERE id = ?`
	accountsSQL    = `SELECT ` + accountCols + ` FROM users ORDER BY id`
	setLastSeenSQL = `UPDATE users SET last_seen = ? WHERE id = ?`
)

// CreateAccount registers a new user; EConflict if the id is taken.
func (db *DB) CreateAccount(ctx context.Context, a chatserver.Account) error {
	if !chatserver.ValidUserID(a.ID) {
		return chatserver.Errorf(chatserver.EBadRequest, "invalid user id %q", a.ID)
	}
	return db.submit(ctx, func(w *writer) error {
		created, err := w.execAffected(insertAccountSQL, a.ID, a.PasswordHash, nanos(a.Created), nanos(a.LastSeen))
		if err == nil && !created {
			return chatserver.Errorf(chatserver.EConflict, "user %q already exists", a.ID)
		}
		return err
	})
}

// Account returns one user, or ENotFound.
func (db *DB) Account(ctx context.Context, id string) (chatserver.Account, error) {
	a, err := scanAccount(db.read.QueryRowContext(ctx, accountSQL, id))
	switch {
	case isNoRows(err):
		return chatserver.Account{}, chatserver.Errorf(chatserver.ENotFound, "no user %q", id)
	case err != nil:
		return chatserver.Account{}, db.fail(ctx, err)
	}
	return a, nil
}

// Accounts returns every registered user, sorted by id.
func (db *DB) Accounts(ctx context.Context) ([]chatserver.Account, error) {
	accounts := []chatserver.Account{}
	err := eachRow(ctx, db.read, accountsSQL, nil, func(r rowScanner) error {
		a, err := scanAccount(r)
		accounts = append(accounts, a)
		return err
	})
	if err != nil {
		return nil, db.fail(ctx, err)
	}
	return accounts, nil
}

func scanAccount(r rowScanner) (chatserver.Account, error) {
	var a chatserver.Account
	var created, lastSeen int64
	if err := r.Scan(&a.ID, &a.PasswordHash, &created, &lastSeen); err != nil {
		return chatserver.Account{}, err
	}
	if len(a.PasswordHash) == 0 {
		a.PasswordHash = nil
	}
	a.Created, a.LastSeen = fromNanos(created), fromNanos(lastSeen)
	return a, nil
}

// SetLastSeen records when a user was last online; ENotFound for an unknown user.
func (db *DB) SetLastSeen(ctx context.Context, id string, t time.Time) error {
	return db.submit(ctx, func(w *writer) error {
		found, err := w.execAffected(setLastSeenSQL, nanos(t), id)
		if err == nil && !found {
			return chatserver.Errorf(chatserver.ENotFound, "no user %q", id)
		}
		return err
	})
}
