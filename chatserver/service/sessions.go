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
	"net/netip"
	"strings"
	"time"
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

// dummyHash is a hash of no one's password, with the parameters of
// hashPassword: checking a password against it costs what checking one
// against a real account's does, so that an answer takes as long whether or
// not the account exists.
var dummyHash = []byte("$argon2id$v=19$m=19456,t=2,p=1$c2lnbi1pbi1kdW1teS0wMQ$+Xx3+wl4rE/NBP6D6ebmR4kOSf3PNQf8A5LhLi7bHuM")

// checkPassword reports whether password is the one hash was made of. A
// hash that hashPassword did not write (such as the empty one of an auth
// proxy's user) matches nothing, after the same work as any other.
func checkPassword(hash []byte, password string) bool {
	salt, want, mem, t, p, ok := parseHash(hash)
	if !ok {
		salt, want, mem, t, p, _ = parseHash(dummyHash)
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, argonKeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}

// parseHash reads the PHC string that hashPassword writes.
func parseHash(hash []byte) (salt, key []byte, mem, t uint32, p uint8, ok bool) {
	parts := strings.Split(string(hash), "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, nil, 0, 0, 0, false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || t == 0 || p == 0 {
		return nil, nil, 0, 0, 0, false // argon2 takes at least one pass and one thread
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	key, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) != argonKeyLen {
		return nil, nil, 0, 0, 0, false
	}
	return salt, key, mem, t, p, true
}

// hashing runs f with at most cap(s.hashes) password hashes at once, so that a
// burst of sign-ins cannot take all memory and CPU. Sign-ins wait for a slot
// in the order they came, for at most the policy's HashWait: then they are
// refused as rate_limited, to come back when the burst is over.
func (s *Service) hashing(ctx context.Context, f func()) error {
	var timeout <-chan time.Time
	if wait := s.policy().HashWait; wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case s.hashes <- struct{}{}:
	case <-timeout:
		return s.rateLimited(limitHashing, s.policy().HashWait, "too many sign-ins at once")
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

// Login signs a user in with a password, registering unknown usernames, for
// a caller that does not know the client's address: only the limits per
// user name apply.
func (s *Service) Login(ctx context.Context, username, password string) (token, user string, err error) {
	return s.LoginFrom(ctx, netip.Addr{}, username, password)
}

// LoginFrom signs a user in with a password from the client address from,
// registering unknown usernames, within the limits of the sign-in policy.
//
// A wrong password, of any length, is unauthorized after one password hash,
// and so is a password over the maximum length for an unknown name (checked
// against a dummy hash): the answer does not tell whether the name exists.
// A registration whose password breaks a rule is a bad request that says
// which.
func (s *Service) LoginFrom(ctx context.Context, from netip.Addr, username, password string) (token, user string, err error) {
	if s.cfg.AuthMode == "proxy" {
		return "", "", chatserver.Errorf(chatserver.EBadRequest, "this server signs users in through its auth proxy")
	}
	id, err := chatserver.NormalizeUserID(username)
	if err != nil {
		return "", "", err
	}
	t := s.throttle(id, from)
	if err := t.admit(ctx); err != nil {
		return "", "", err
	}
	acct, err := s.b.Users.Account(ctx, id)
	switch chatserver.ErrorCode(err) {
	case "":
		err = s.verify(ctx, t, acct.PasswordHash, password)
	case chatserver.ENotFound:
		err = s.register(ctx, t, id, password)
		if chatserver.ErrorCode(err) == chatserver.EConflict {
			// Somebody registered the name a moment ago: sign in as them instead.
			return s.LoginFrom(ctx, from, username, password)
		}
	}
	if err != nil {
		return "", "", err
	}
	return s.startSession(ctx, id)
}

// verify checks password against an account's hash.
func (s *Service) verify(ctx context.Context, t *throttle, hash []byte, password string) error {
	var ok bool
	if err := s.hashing(ctx, func() { ok = checkPassword(hash, password) }); err != nil {
		return err
	}
	if !ok {
		return t.failed(ctx)
	}
	return t.succeeded(ctx)
}

// register creates the account of id with password, if the password is
// fit for a new account and the client address may register one more.
func (s *Service) register(ctx context.Context, t *throttle, id, password string) error {
	if utf8.RuneCountInString(password) > chatserver.MaxPasswordLen {
		return s.verify(ctx, t, dummyHash, password) // as wrong as for a known name
	}
	if err := newPasswordError(id, password, s.policy().RefuseCommon); err != nil {
		if rerr := t.refused(ctx); rerr != nil {
			return rerr
		}
		return err
	}
	if err := t.signup(ctx); err != nil {
		return err
	}
	var hash []byte
	var herr error
	if err := s.hashing(ctx, func() { hash, herr = hashPassword(password) }); err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	if err := s.b.Users.CreateAccount(ctx, chatserver.Account{ID: id, PasswordHash: hash, Created: s.now()}); err != nil {
		return err
	}
	return t.succeeded(ctx)
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
