package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// userIDs returns the ids of the registered users, in the order listed.
func userIDs(t *testing.T, s *service.Service) string {
	t.Helper()
	users, err := s.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	return strings.Join(ids, " ")
}

func TestPasswordSignIn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// In order: the first sign-in of a name registers it.
	tests := []struct {
		name, username, password string
		user, code               string
	}{
		{"an unknown name registers, lower-cased", "Alice", password, "alice", ""},
		{"a known name signs in with its password, in any case", "ALICE", password, "alice", ""},
		{"a wrong password is unauthorized", "alice", "password2", "", chatserver.EUnauthorized},
		{"a wrong short password of a known name is unauthorized", "alice", "short", "", chatserver.EUnauthorized},
		{"a password over 128 characters is only a wrong one", "alice", strings.Repeat("p", 129), "", chatserver.EUnauthorized},
		{"a name with an underscore is a bad request", "al_ice", password, "", chatserver.EBadRequest},
		{"an empty name is a bad request", "", password, "", chatserver.EBadRequest},
		{"a name starting with a dot is a bad request", ".alice", password, "", chatserver.EBadRequest},
		{"a name over 32 characters is a bad request", strings.Repeat("a", 33), password, "", chatserver.EBadRequest},
		{"a short password for a new name is a bad request", "bob", "short", "", chatserver.EBadRequest},
		{"7 two-byte characters are too short a password", "bob", strings.Repeat("é", 7), "", chatserver.EBadRequest},
		{"8 two-byte characters are password enough", "carol", strings.Repeat("é", 8), "carol", ""},
		{"128 two-byte characters are not too long a password", "dave", strings.Repeat("é", 128), "dave", ""},
		{"the admin's name cannot be claimed", "admin", password, "", chatserver.EUnauthorized},
		{"the admin signs in with the configured password", "admin", adminPassword, "admin", ""},
	}
	logins := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, user, err := e.svc.Login(ctx, tt.username, tt.password)
			chattest.WantCode(t, err, tt.code)
			if user != tt.user {
				t.Fatalf("signed in as %q, want %q", user, tt.user)
			}
			if err != nil {
				return
			}
			logins++
			if got, err := e.svc.Authenticate(ctx, token); err != nil || got != tt.user {
				t.Fatalf("the token authenticates %q, %v", got, err)
			}
		})
	}
	t.Run("a refused sign-in registers nobody", func(t *testing.T) {
		if got := userIDs(t, e.svc); got != "admin alice carol dave" {
			t.Fatalf("users %s", got)
		}
	})
	t.Run("each sign-in records one event", func(t *testing.T) {
		res, err := e.svc.Activity(ctx, "admin", chatserver.ActivityQuery{Type: chatserver.ActivityLogin, Size: 100})
		if err != nil || res.Total != int64(logins) {
			t.Fatalf("%d sign-in events, want %d: %v", res.Total, logins, err)
		}
	})
	t.Run("signing in through a proxy is refused", func(t *testing.T) {
		_, _, err := e.svc.LoginProxy(ctx, "alice")
		chattest.WantCode(t, err, chatserver.EBadRequest)
	})
}

func TestProxySignIn(t *testing.T) {
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.AuthMode = "proxy" })
	ctx := context.Background()
	t.Run("admins are not created behind a proxy, but are admins", func(t *testing.T) {
		if got := userIDs(t, e.svc); got != "" {
			t.Fatalf("users %q before anybody signed in", got)
		}
		if !e.svc.IsAdmin("admin") {
			t.Fatal("the configured admin is no admin")
		}
	})
	tests := []struct {
		name, username string
		user, code     string
	}{
		{"the proxy's user is registered on the first sign-in", "Bob", "bob", ""},
		{"the proxy's user signs in again", "bob", "bob", ""},
		{"a proxy naming nobody is unauthorized", "", "", chatserver.EUnauthorized},
		{"a proxy naming an invalid id is a bad request", "b_ob", "", chatserver.EBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, user, err := e.svc.LoginProxy(ctx, tt.username)
			chattest.WantCode(t, err, tt.code)
			if user != tt.user {
				t.Fatalf("signed in as %q, want %q", user, tt.user)
			}
			if err == nil {
				if got, err := e.svc.Authenticate(ctx, token); err != nil || got != tt.user {
					t.Fatalf("the token authenticates %q, %v", got, err)
				}
			}
		})
	}
	t.Run("the proxy's user has no password", func(t *testing.T) {
		a, err := e.db.Account(ctx, "bob")
		if err != nil || len(a.PasswordHash) != 0 {
			t.Fatalf("%+v %v", a, err)
		}
	})
	t.Run("a password sign-in is refused behind a proxy", func(t *testing.T) {
		_, _, err := e.svc.Login(ctx, "bob", password)
		chattest.WantCode(t, err, chatserver.EBadRequest)
	})
}

func TestAdmins(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	t.Run("a configured admin exists before anybody signs in", func(t *testing.T) {
		if got := userIDs(t, e.svc); got != "admin" {
			t.Fatalf("users %q", got)
		}
	})
	t.Run("only configured users are admins", func(t *testing.T) {
		if !e.svc.IsAdmin("admin") || e.svc.IsAdmin("alice") {
			t.Fatal("wrong admins")
		}
	})
	t.Run("another admin password does not reset the admin's own", func(t *testing.T) {
		other := e.another(t, func(cfg *service.Config) { cfg.AdminPassword = "otherpass1" })
		if _, _, err := other.Login(ctx, "admin", adminPassword); err != nil {
			t.Fatalf("the admin's password: %v", err)
		}
		_, _, err := other.Login(ctx, "admin", "otherpass1")
		chattest.WantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("a service needs every backend", func(t *testing.T) {
		b := *e.b
		b.Index = nil
		if _, err := service.New(ctx, &b, e.cfg); err == nil {
			t.Fatal("a service without an activity index was made")
		}
	})
}

// Two first sign-ins of one name at once make one account, and both sign
// in: the one that loses the race signs in as the other registered it.
func TestConcurrentFirstSignInsOfANameMakeOneAccount(t *testing.T) {
	e := newEnv(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, _, err := e.svc.Login(context.Background(), "erin", password)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := userIDs(t, e.svc); got != "admin erin" {
		t.Fatalf("users %q", got)
	}
}

// Password hashing takes a lot of memory: while every hashing slot is
// taken, a sign-in waits for one, and gives up with its context.
func TestASignInWaitingForHashingGivesUpWithItsContext(t *testing.T) {
	e := newEnv(t, nil)
	release := service.FillHashing(e.svc)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := e.svc.Login(ctx, "frank", password)
	chattest.WantCode(t, err, chatserver.EUnavailable)
	release()
	if _, _, err := e.svc.Login(context.Background(), "frank", password); err != nil {
		t.Fatalf("once a slot is free: %v", err)
	}
}
