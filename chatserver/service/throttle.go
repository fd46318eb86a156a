package service

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// SignInPolicy is what the service enforces on password sign-ins beyond the
// contract's password length: limits on failed sign-ins and on
// registrations, counted in a Limiter, and the rules for the passwords of
// new accounts. A Service without one limits nothing, and length and the
// user name are then the only password rules.
type SignInPolicy struct {
	// Limiter keeps the counts: in memory for one instance, in Redis for
	// every instance that shares it. Nil: nothing is limited.
	Limiter chatserver.Limiter
	// UserFailures bounds the failed sign-ins of one user name, from
	// anywhere: beyond it every sign-in of the name is refused, whatever
	// its password, until the rate allows one more. (Every sign-in counts
	// until it succeeds, which forgets the count.)
	UserFailures chatserver.Rate
	// AddrFailures bounds the failed sign-ins and refused registrations
	// from one client address (for IPv6, its /64).
	AddrFailures chatserver.Rate
	// AddrSignups bounds the accounts registered from one client address.
	AddrSignups chatserver.Rate
	// HashWait is the longest a sign-in waits for a password-hashing slot
	// before it is refused as rate_limited; 0: as long as its context lets.
	HashWait time.Duration
	// RefuseCommon refuses the most common passwords for new accounts.
	RefuseCommon bool
}

// The limits of a SignInPolicy, as chat_signin_limited_total labels them.
const (
	limitUserFailures = "user_failures"
	limitAddrFailures = "address_failures"
	limitAddrSignups  = "address_signups"
	limitHashing      = "hashing"
)

// policy returns the service's sign-in policy: the zero one, which limits
// nothing, when its backends have none.
func (s *Service) policy() *SignInPolicy {
	if s.b.SignIn == nil {
		return &SignInPolicy{}
	}
	return s.b.SignIn
}

// throttle applies a SignInPolicy to one sign-in.
type throttle struct {
	s *Service
	p *SignInPolicy
	// The limiter's keys: the failures of the user name and of the client
	// address, and the registrations from the address ("" when the address
	// is unknown).
	user, addr, signups string
}

func (s *Service) throttle(user string, from netip.Addr) *throttle {
	t := &throttle{s: s, p: s.policy(), user: "signin-failures:user:" + user}
	if a := addrKey(from); a != "" {
		t.addr = "signin-failures:addr:" + a
		t.signups = "signups:addr:" + a
	}
	return t
}

// addrKey is how the limits know a client address: IPv4 addresses as they
// are, IPv6 ones by their /64, which a single subscriber usually has whole.
func addrKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return ""
	case a.Is6():
		p, _ := a.Prefix(64)
		return p.String()
	default:
		return a.String()
	}
}

// admit counts a sign-in against its user name, and refuses it while the
// name or its client address has used up its failures. The name's count
// is taken before the password is checked, so that sign-ins of one name
// in parallel cannot all pass; a sign-in that succeeds forgets it again.
func (t *throttle) admit(ctx context.Context) error {
	if t.p.Limiter == nil {
		return nil
	}
	wait, err := t.p.Limiter.Take(ctx, t.user, t.p.UserFailures)
	if err != nil || wait > 0 {
		return t.limited(err, limitUserFailures, wait, "too many failed sign-ins of this user name")
	}
	if t.addr == "" {
		return nil
	}
	wait, err = t.p.Limiter.Wait(ctx, t.addr, t.p.AddrFailures)
	if err != nil || wait > 0 {
		return t.limited(err, limitAddrFailures, wait, "too many failed sign-ins from this address")
	}
	return nil
}

// failed counts a wrong password against the client address (admit counted
// it against the name), and returns the answer to it: the same for every
// user name, whether or not it exists.
func (t *throttle) failed(ctx context.Context) error {
	if err := t.refused(ctx); err != nil {
		return err
	}
	return chatserver.Errorf(chatserver.EUnauthorized, "wrong username or password")
}

// refused counts a refused sign-in or registration against the client
// address.
func (t *throttle) refused(ctx context.Context) error {
	if t.p.Limiter == nil || t.addr == "" {
		return nil
	}
	_, err := t.p.Limiter.Take(ctx, t.addr, t.p.AddrFailures)
	return err
}

// succeeded forgets the sign-ins of the user name (not the failures of the
// address: an account of one's own must not buy more guesses at others').
func (t *throttle) succeeded(ctx context.Context) error {
	if t.p.Limiter == nil || t.p.UserFailures.Off() {
		return nil
	}
	return t.p.Limiter.Reset(ctx, t.user)
}

// signup counts a registration against the client address, or refuses it.
func (t *throttle) signup(ctx context.Context) error {
	if t.p.Limiter == nil || t.signups == "" {
		return nil
	}
	wait, err := t.p.Limiter.Take(ctx, t.signups, t.p.AddrSignups)
	if err != nil || wait > 0 {
		return t.limited(err, limitAddrSignups, wait, "too many accounts registered from this address")
	}
	return nil
}

// limited returns err if the limiter failed, else the rate_limited answer
// for limit, which it counts.
func (t *throttle) limited(err error, limit string, wait time.Duration, why string) error {
	if err != nil {
		return err
	}
	return t.s.rateLimited(limit, wait, why)
}

// rateLimited counts that limit bit and returns its answer: why, and when
// to try again, in whole seconds as Retry-After gives it.
func (s *Service) rateLimited(limit string, wait time.Duration, why string) error {
	s.m.signInLimited.WithLabelValues(limit).Inc()
	secs := max(1, int64((wait+time.Second-1)/time.Second))
	return &chatserver.Error{
		Code:       chatserver.ERateLimited,
		Message:    fmt.Sprintf("%s: try again in %d s", why, secs),
		RetryAfter: time.Duration(secs) * time.Second,
	}
}
