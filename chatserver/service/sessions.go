package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Password hashing: argon2id with the OWASP parameters (19 MiB, 2 passes),
// a random 16-byte salt, stored in the usual PHC string form.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func hashPassword(password string) ([]byte, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	key := argon2.IDKey([]byte(password), salt[:], argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt[:]), enc.EncodeToString(key)), nil
}

func checkPassword(hash []byte, password string) bool {
	parts := strings.Split(string(hash), "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || t == 0 || p == 0 {
		return false // argon2 takes at least one pass and one thread
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) != argonKeyLen {
		return false // not a hash that hashPassword wrote
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, argonKeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// hashing runs f with at most cap(s.hashes) password hashes at once, so that a
// burst of sign-ins cannot take all memory and CPU.
func (s *Service) hashing(ctx context.Context, f func()) error {
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return chatserver.Errorf(chatserver.EUnavailable, "sign-in cancelled")
	}
	defer func() { <-s.hashes }()
	f()
	return nil
}

// tokenHash is what stores keep instead of a token.
func (s *Service) tokenHash(token string) string {
	if s.cfg.SessionKey == "" {
		sum := sha256.Sum256([]byte(token))
		return hex.EncodeToString(sum[:])
	}
	mac := hmac.New(sha256.New, []byte(s.cfg.SessionKey))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// Login signs a user in with a password, registering unknown usernames.
func (s *Service) Login(ctx context.Context, username, password string) (token, user string, err error) {
	if s.cfg.AuthMode == "proxy" {
		return "", "", chatserver.Errorf(chatserver.EBadRequest, "this server signs users in through its auth proxy")
	}
	id, err := chatserver.NormalizeUserID(username)
	if err != nil {
		return "", "", err
	}
	if utf8.RuneCountInString(password) > chatserver.MaxPasswordLen {
		return "", "", chatserver.Errorf(chatserver.EBadRequest, "the password must have %d-%d characters", chatserver.MinPasswordLen, chatserver.MaxPasswordLen)
	}
	acct, err := s.b.Users.Account(ctx, id)
	switch chatserver.ErrorCode(err) {
	case "":
		var ok bool
		if err := s.hashing(ctx, func() { ok = checkPassword(acct.PasswordHash, password) }); err != nil {
			return "", "", err
		}
		if !ok {
			return "", "", chatserver.Errorf(chatserver.EUnauthorized, "wrong username or password")
		}
	case chatserver.ENotFound:
		if utf8.RuneCountInString(password) < chatserver.MinPasswordLen {
			return "", "", chatserver.Errorf(chatserver.EBadRequest, "the password must have %d-%d characters", chatserver.MinPasswordLen, chatserver.MaxPasswordLen)
		}
		var hash []byte
		var herr error
		if err := s.hashing(ctx, func() { hash, herr = hashPassword(password) }); err != nil {
			return "", "", err
		}
		if herr != nil {
			return "", "", herr
		}
		err := s.b.Users.CreateAccount(ctx, chatserver.Account{ID: id, PasswordHash: hash, Created: s.now()})
		if chatserver.ErrorCode(err) == chatserver.EConflict {
			// Somebody registered the name a moment ago: sign in as them instead.
			return s.Login(ctx, username, password)
		}
		if err != nil {
			return "", "", err
		}
	default:
		return "", "", err
	}
	return s.startSession(ctx, id)
}

// LoginProxy signs in the user an auth proxy vouches for.
func (s *Service) LoginProxy(ctx context.Context, username string) (token, user string, err error) {
	if s.cfg.AuthMode != "proxy" {
		return "", "", chatserver.Errorf(chatserver.EBadRequest, "this server is not behind an auth proxy")
	}
	if username == "" {
		return "", "", chatserver.Errorf(chatserver.EUnauthorized, "the auth proxy named no user")
	}
	id, err := chatserver.NormalizeUserID(username)
	if err != nil {
		return "", "", err
	}
	if _, err := s.b.Users.Account(ctx, id); chatserver.ErrorCode(err) == chatserver.ENotFound {
		err = s.b.Users.CreateAccount(ctx, chatserver.Account{ID: id, Created: s.now()})
		if err != nil && chatserver.ErrorCode(err) != chatserver.EConflict {
			return "", "", err
		}
	} else if err != nil {
		return "", "", err
	}
	return s.startSession(ctx, id)
}

func (s *Service) startSession(ctx context.Context, user string) (string, string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	err := s.b.Sessions.CreateSession(ctx, chatserver.Session{
		TokenHash: s.tokenHash(token), User: user, Created: now, Expires: now.Add(s.cfg.SessionTTL),
	})
	if err != nil {
		return "", "", err
	}
	if err := s.record(ctx, chatserver.ActivityEvent{Type: chatserver.ActivityLogin, User: user}); err != nil {
		return "", "", err
	}
	return token, user, nil
}

// Authenticate returns the user of a session token.
func (s *Service) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", chatserver.Errorf(chatserver.EUnauthorized, "sign in first")
	}
	sess, err := s.b.Sessions.Session(ctx, s.tokenHash(token))
	if err != nil {
		return "", err
	}
	if !sess.Expires.IsZero() && !s.cfg.Now().Before(sess.Expires) {
		return "", chatserver.Errorf(chatserver.EUnauthorized, "the session has ended")
	}
	return sess.User, nil
}

// Logout ends the session of a token and closes the connections opened with
// it, on every instance.
func (s *Service) Logout(ctx context.Context, user, token string) error {
	hash := s.tokenHash(token)
	if err := s.b.Sessions.DeleteSession(ctx, hash); err != nil {
		return err
	}
	return s.b.Broker.Publish(ctx, chatserver.Event{Kind: chatserver.EventSessionEnd, User: user, Frame: []byte(hash)})
}
