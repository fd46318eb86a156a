package service

import (
	"context"
	"errors"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Backends is what a Service runs on. Every field must be set; Checks names the
// configured backends that /readyz reports.
type Backends struct {
	Users    chatserver.UserStore
	Sessions chatserver.SessionStore
	Messages chatserver.MessageStore
	Activity chatserver.ActivityLog
	Index    chatserver.ActivityIndex
	Presence chatserver.Presence
	Broker   chatserver.Broker
	Checks   map[string]chatserver.Checker

	closers []func() error
}

// OnClose registers f to run when the backends are closed, in reverse order.
func (b *Backends) OnClose(f func() error) { b.closers = append(b.closers, f) }

// AddCheck registers a readiness check under name.
func (b *Backends) AddCheck(name string, c chatserver.Checker) {
	if b.Checks == nil {
		b.Checks = map[string]chatserver.Checker{}
	}
	b.Checks[name] = c
}

// Close closes every backend, the last opened first.
func (b *Backends) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}

func (b *Backends) validate() error {
	if b.Users == nil || b.Sessions == nil || b.Messages == nil || b.Activity == nil ||
		b.Index == nil || b.Presence == nil || b.Broker == nil {
		return errors.New("service: every backend must be set")
	}
	return nil
}

// Ready checks every configured backend and returns their errors by name.
func (b *Backends) Ready(ctx context.Context) map[string]error {
	out := make(map[string]error, len(b.Checks))
	for name, c := range b.Checks {
		out[name] = c.Check(ctx)
	}
	return out
}
