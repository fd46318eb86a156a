package service

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Deps is what a Service runs on. Every field must be set; Checks names the
// configured backends that /readyz reports.
type Deps struct {
	Users    chatserver.UserStore
	Sessions chatserver.SessionStore
	Messages chatserver.MessageStore
	Activity chatserver.ActivityLog
	Index    chatserver.ActivityIndex
	// Search finds messages by their words; nil: message search is
	// unavailable with these backends.
	Search   chatserver.MessageSearcher
	Presence chatserver.Presence
	Broker   chatserver.Broker
	// Recorder, when set, stores a message and its activity event in one
	// write: whoever opens the backends sets it when one store serves
	// both Messages and Activity (it is then both), and leaves it nil
	// otherwise. Without it a send is appended, then recorded.
	Recorder chatserver.MessageRecorder
	Checks   map[string]Check
	// Collectors are the backends' own metrics (such as the activity
	// spool's backlog), for the server to register with its own.
	Collectors []prometheus.Collector
	// SignIn limits password sign-ins and registrations and sets the
	// rules of new passwords; nil: nothing is limited (see SignInPolicy).
	SignIn *SignInPolicy

	closers []func() error
}

// Whether a backend is needed to serve chat, for AddCheck.
const (
	// Critical backends hold what every chat request needs (users, messages,
	// sessions, presence, fan-out): when one fails the instance is unready.
	Critical = true
	// Degrading backends serve only part of the product (the activity log,
	// which the spool covers, and the admins' activity search): when one
	// fails the instance stays ready, degraded.
	Degrading = false
)

// Check is the readiness check of one backend.
type Check struct {
	Checker  chatserver.Checker
	Critical bool // its failure makes the instance unready, not only degraded
}

// CheckFunc is a chatserver.Checker made of a function.
type CheckFunc func(ctx context.Context) error

// Check calls f.
func (f CheckFunc) Check(ctx context.Context) error { return f(ctx) }

// OnClose registers f to run when the backends are closed, in reverse order.
func (b *Deps) OnClose(f func() error) { b.closers = append(b.closers, f) }

// AddCheck registers the readiness check of a backend under name; critical
// (Critical or Degrading) says whether its failure makes the instance
// unready or only degraded.
func (b *Deps) AddCheck(name string, c chatserver.Checker, critical bool) {
	if b.Checks == nil {
		b.Checks = map[string]Check{}
	}
	b.Checks[name] = Check{Checker: c, Critical: critical}
}

// Close closes every backend, the last opened first.
func (b *Deps) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}

func (b *Deps) validate() error {
	if b.Users == nil || b.Sessions == nil || b.Messages == nil || b.Activity == nil ||
		b.Index == nil || b.Presence == nil || b.Broker == nil {
		return errors.New("service: every backend must be set")
	}
	return nil
}
