package service_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("198.51.100.7")
)

// limitedEnv is a service whose sign-ins are limited by policy, counted in
// memory on the service's clock; it returns the registry of its metrics.
func limitedEnv(t *testing.T, policy service.SignInPolicy) (*env, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(cfg *service.Config, b *service.Deps) {
		cfg.Metrics = service.NewMetrics(reg)
		policy.Limiter = service.NewMemoryLimiter(1000, cfg.Now)
		b.SignIn = &policy
	})
	return e, reg
}

// limitedCount is chat_signin_limited_total{limit} in reg.
func limitedCount(t *testing.T, reg *prometheus.Registry, limit string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "chat_signin_limited_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelIs(m, "limit", limit) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// wantRateLimited fails t unless err is rate_limited with a Retry-After of
// whole seconds, more than 0 and at most most.
func wantRateLimited(t *testing.T, err error, most time.Duration) {
	t.Helper()
	chattest.WantCode(t, err, chatserver.ERateLimited)
	var e *chatserver.Error
	errors.As(err, &e)
	if e.RetryAfter <= 0 || e.RetryAfter > most || e.RetryAfter%time.Second != 0 {
		t.Fatalf("retry after %v, want whole seconds in (0, %v]", e.RetryAfter, most)
	}
}

// signIn signs user in from an address, and gives up after waitLimit.
func signIn(e *env, from netip.Addr, user, pw string) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, _, err := e.svc.LoginFrom(ctx, from, user, pw)
	return err
}

func TestFailedSignInsOfANameAreLimitedFromEveryAddress(t *testing.T) {
	e, reg := limitedEnv(t, service.SignInPolicy{UserFailures: chatserver.Rate{Events: 3, Period: time.Minute}})
	for _, u := range []string{"alice", "bob"} {
		if err := signIn(e, addrB, u, password); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}
	t.Run("the first failures are wrong passwords", func(t *testing.T) {
		for _, from := range []netip.Addr{addrA, addrB, {}} {
			chattest.WantCode(t, signIn(e, from, "alice", "wrong-guess"), chatserver.EUnauthorized)
		}
	})
	t.Run("beyond them even the right password is rate limited, from anywhere", func(t *testing.T) {
		wantRateLimited(t, signIn(e, addrA, "alice", password), 20*time.Second)
		wantRateLimited(t, signIn(e, addrB, "ALICE", password), 20*time.Second)
		if got := limitedCount(t, reg, "user_failures"); got != 2 {
			t.Fatalf("chat_signin_limited_total{limit=user_failures} = %v, want 2", got)
		}
	})
	t.Run("another name signs in meanwhile", func(t *testing.T) {
		if err := signIn(e, addrA, "bob", password); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the name signs in again once the rate allows one more", func(t *testing.T) {
		e.clock.Advance(20 * time.Second)
		if err := signIn(e, addrA, "alice", password); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unknown name is limited alike", func(t *testing.T) {
		long := strings.Repeat("p", chatserver.MaxPasswordLen+1)
		for range 3 {
			chattest.WantCode(t, signIn(e, addrA, "nobody", long), chatserver.EUnauthorized)
		}
		wantRateLimited(t, signIn(e, addrA, "nobody", long), 20*time.Second)
	})
	t.Run("a sign-in forgets the name's failures", func(t *testing.T) {
		for range 3 {
			chattest.WantCode(t, signIn(e, addrA, "alice", "wrong-guess"), chatserver.EUnauthorized)
		}
		wantRateLimited(t, signIn(e, addrA, "alice", password), 20*time.Second)
	})
}

func TestFailedSignInsFromAnAddressAreLimitedForEveryName(t *testing.T) {
	e, reg := limitedEnv(t, service.SignInPolicy{AddrFailures: chatserver.Rate{Events: 2, Period: time.Hour}})
	if err := signIn(e, addrB, "carol", password); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from     netip.Addr
		user, pw string
		code     string
	}{
		{"a wrong password counts", addrA, "carol", "wrong-guess", chatserver.EUnauthorized},
		{"a refused registration counts", addrA, "dave", "short", chatserver.EBadRequest},
		{"beyond them a right password is rate limited", addrA, "carol", password, chatserver.ERateLimited},
		{"and so is a registration", addrA, "erin", password, chatserver.ERateLimited},
		{"another address signs in", addrB, "carol", password, ""},
		{"a caller that does not know the address is not limited by it", netip.Addr{}, "carol", password, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chattest.WantCode(t, signIn(e, tt.from, tt.user, tt.pw), tt.code)
		})
	}
	t.Run("the limit is counted", func(t *testing.T) {
		if got := limitedCount(t, reg, "address_failures"); got != 2 {
			t.Fatalf("chat_signin_limited_total{limit=address_failures} = %v, want 2", got)
		}
	})
	t.Run("the addresses of one IPv6 /64 share a limit", func(t *testing.T) {
		for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
			chattest.WantCode(t, signIn(e, netip.MustParseAddr(a), "carol", "wrong-guess"), chatserver.EUnauthorized)
		}
		wantRateLimited(t, signIn(e, netip.MustParseAddr("2001:db8:1:2:abcd::1"), "carol", password), time.Hour)
		if err := signIn(e, netip.MustParseAddr("2001:db8:1:3::1"), "carol", password); err != nil {
			t.Fatalf("another /64: %v", err)
		}
	})
}

func TestRegistrationsFromAnAddressAreCapped(t *testing.T) {
	e, reg := limitedEnv(t, service.SignInPolicy{AddrSignups: chatserver.Rate{Events: 2, Period: time.Hour}})
	tests := []struct {
		name string
		from netip.Addr
		user string
		code string
	}{
		{"the first registration is made", addrA, "frank", ""},
		{"the second is made", addrA, "grace", ""},
		{"the third is rate limited", addrA, "heidi", chatserver.ERateLimited},
		{"a sign-in of a registered name is no registration", addrA, "frank", ""},
		{"another address registers", addrB, "heidi", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chattest.WantCode(t, signIn(e, tt.from, tt.user, password), tt.code)
		})
	}
	t.Run("the refused one waits for the rate: half an hour", func(t *testing.T) {
		wantRateLimited(t, signIn(e, addrA, "ivan", password), 30*time.Minute)
		if got := limitedCount(t, reg, "address_signups"); got != 2 {
			t.Fatalf("chat_signin_limited_total{limit=address_signups} = %v, want 2", got)
		}
	})
	t.Run("nobody refused was registered", func(t *testing.T) {
		if got := userIDs(t, e.svc); got != "admin frank grace heidi" {
			t.Fatalf("users %s", got)
		}
	})
}

// A failed sign-in is answered alike whether or not its name exists, and
// costs a password hash either way (seen here as the wait for a hashing
// slot while every slot is taken).
func TestUnknownNamesAndWrongPasswordsAreAnsweredAlike(t *testing.T) {
	e, reg := limitedEnv(t, service.SignInPolicy{HashWait: time.Millisecond})
	if err := signIn(e, addrA, "judy", password); err != nil {
		t.Fatal(err)
	}
	e.register(t, "proxied") // an account without a password
	long := strings.Repeat("p", chatserver.MaxPasswordLen+1)
	answers := map[string]error{}
	for name, try := range map[string]struct{ user, pw string }{
		"a wrong password":                      {"judy", "wrong-guess"},
		"a short wrong password":                {"judy", "short"},
		"an over-long password":                 {"judy", long},
		"an over-long password for an unknown":  {"nobody", long},
		"a password for an account without one": {"proxied", password},
	} {
		answers[name] = signIn(e, addrA, try.user, try.pw)
		release := service.FillHashing(e.svc)
		busy := signIn(e, addrB, try.user, try.pw)
		release()
		t.Run(name+" takes a hashing slot", func(t *testing.T) { wantRateLimited(t, busy, time.Second) })
	}
	want := answers["a wrong password"]
	chattest.WantCode(t, want, chatserver.EUnauthorized)
	for name, got := range answers {
		if chatserver.ErrorCode(got) != chatserver.ErrorCode(want) || chatserver.ErrorMessage(got) != chatserver.ErrorMessage(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	t.Run("a full hashing queue is counted", func(t *testing.T) {
		if got := limitedCount(t, reg, "hashing"); got != 5 {
			t.Fatalf("chat_signin_limited_total{limit=hashing} = %v, want 5", got)
		}
	})
}

func TestNewPasswordsMustNotBeCommonOrTheUserName(t *testing.T) {
	e, _ := limitedEnv(t, service.SignInPolicy{RefuseCommon: true})
	tests := []struct {
		name, user, pw, code string
	}{
		{"a common password is refused", "kim", "password1", chatserver.EBadRequest},
		{"in any case", "kim", "PassWord1", chatserver.EBadRequest},
		{"the user name is refused", "kimberley", "KimBerley", chatserver.EBadRequest},
		{"a short password is refused", "kim", "2short", chatserver.EBadRequest},
		{"an uncommon password is taken", "kim", "kim-likes-long-walks", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chattest.WantCode(t, signIn(e, addrA, tt.user, tt.pw), tt.code)
		})
	}
	t.Run("an account made with a common password before still signs in", func(t *testing.T) {
		policy := e.b.SignIn
		e.b.SignIn = nil
		err := signIn(e, addrA, "leo", "password1")
		e.b.SignIn = policy
		if err != nil {
			t.Fatal(err)
		}
		if err := signIn(e, addrA, "leo", "password1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("without the rule common passwords are taken", func(t *testing.T) {
		e.b.SignIn.RefuseCommon = false
		if err := signIn(e, addrA, "mia", "password1"); err != nil {
			t.Fatal(err)
		}
	})
}

// Sign-ins beyond the hashing capacity wait in turn, for at most HashWait.
func TestASignInWaitingTooLongForHashingIsRateLimited(t *testing.T) {
	e, reg := limitedEnv(t, service.SignInPolicy{HashWait: 20 * time.Millisecond})
	release := service.FillHashing(e.svc)
	err := signIn(e, addrA, "nina", password)
	release()
	wantRateLimited(t, err, time.Second)
	if got := limitedCount(t, reg, "hashing"); got != 1 {
		t.Fatalf("chat_signin_limited_total{limit=hashing} = %v, want 1", got)
	}
	if err := signIn(e, addrA, "nina", password); err != nil {
		t.Fatalf("once a slot is free: %v", err)
	}
}
