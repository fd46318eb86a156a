package service_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/hub"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

func login(t *testing.T, s *service.Service, user string) string {
	t.Helper()
	token, _, err := s.Login(context.Background(), user, password)
	if err != nil {
		t.Fatalf("%s signs in: %v", user, err)
	}
	return token
}

func TestSessionTokens(t *testing.T) {
	const key = "the-session-key"
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.SessionKey = key })
	ctx := context.Background()
	token := login(t, e.svc, "alice")
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(token))
	keyed := hex.EncodeToString(mac.Sum(nil))

	t.Run("a token is 32 random bytes, base64url", func(t *testing.T) {
		if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(token) != 43 || len(b) != 32 {
			t.Fatalf("token %q: %v", token, err)
		}
		if other := login(t, e.svc, "alice"); other == token {
			t.Fatal("two sign-ins got the same token")
		}
	})
	t.Run("the store keeps the token's HMAC, never the token", func(t *testing.T) {
		if s, err := e.db.Session(ctx, keyed); err != nil || s.User != "alice" {
			t.Fatalf("session by HMAC: %+v %v", s, err)
		}
		_, err := e.db.Session(ctx, token)
		chattest.WantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("without a session key the store keeps the token's SHA-256", func(t *testing.T) {
		plain := e.another(t, func(cfg *service.Config) { cfg.SessionKey = "" })
		token := login(t, plain, "alice")
		sum := sha256.Sum256([]byte(token))
		if s, err := e.db.Session(ctx, hex.EncodeToString(sum[:])); err != nil || s.User != "alice" {
			t.Fatalf("session by SHA-256: %+v %v", s, err)
		}
	})
	tests := []struct {
		name    string
		service func(t *testing.T) *service.Service
		token   string
		code    string
	}{
		{"a token authenticates its user", nil, token, ""},
		{"a token works on another instance with the same key", func(t *testing.T) *service.Service {
			return e.another(t, func(*service.Config) {})
		}, token, ""},
		{"an instance with another key refuses the token", func(t *testing.T) *service.Service {
			return e.another(t, func(cfg *service.Config) { cfg.SessionKey = "another-key" })
		}, token, chatserver.EUnauthorized},
		{"no token is unauthorized", nil, "", chatserver.EUnauthorized},
		{"an unknown token is unauthorized", nil, "not-a-token", chatserver.EUnauthorized},
		{"the token's hash is no token", nil, keyed, chatserver.EUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.svc
			if tt.service != nil {
				s = tt.service(t)
			}
			user, err := s.Authenticate(ctx, tt.token)
			chattest.WantCode(t, err, tt.code)
			if err == nil && user != "alice" {
				t.Fatalf("authenticated %q", user)
			}
		})
	}
}

func TestSessionsEndAtTheirLifetime(t *testing.T) {
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.SessionTTL = time.Hour })
	token := login(t, e.svc, "alice")
	tests := []struct {
		name    string
		advance time.Duration
		code    string
	}{
		{"a session works to the end of its lifetime", time.Hour - time.Millisecond, ""},
		{"a session ends with its lifetime", time.Millisecond, chatserver.EUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(tt.advance)
			_, err := e.svc.Authenticate(context.Background(), token)
			chattest.WantCode(t, err, tt.code)
		})
	}
	t.Run("the default lifetime is a week", func(t *testing.T) {
		week := newEnv(t, nil)
		token := login(t, week.svc, "alice")
		week.clock.Advance(7*24*time.Hour - time.Millisecond)
		if _, err := week.svc.Authenticate(context.Background(), token); err != nil {
			t.Fatalf("before a week: %v", err)
		}
		week.clock.Advance(time.Millisecond)
		_, err := week.svc.Authenticate(context.Background(), token)
		chattest.WantCode(t, err, chatserver.EUnauthorized)
	})
}

// Signing out ends the session and closes the connections opened with its
// token, and only those.
func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	first, second := login(t, e.svc, "alice"), login(t, e.svc, "alice")
	_, onFirst := e.connectWith(t, "alice", first)
	_, alsoOnFirst := e.connectWith(t, "alice", first)
	_, onSecond := e.connectWith(t, "alice", second)
	if err := e.svc.Logout(ctx, "alice", first); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		sink  *sink
		code  string
		close int
	}{
		{"the ended session's token is refused, its connection closed", first, onFirst, chatserver.EUnauthorized, hub.ClosePolicy},
		{"every connection of the ended session is closed", first, alsoOnFirst, chatserver.EUnauthorized, hub.ClosePolicy},
		{"the user's other session carries on", second, onSecond, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Authenticate(ctx, tt.token)
			chattest.WantCode(t, err, tt.code)
			if got := tt.sink.closedWith(); got != tt.close {
				t.Fatalf("closed with %d, want %d", got, tt.close)
			}
		})
	}
	t.Run("signing out of an ended session is no error", func(t *testing.T) {
		if err := e.svc.Logout(ctx, "alice", first); err != nil {
			t.Fatal(err)
		}
	})
}
