//go:build !linux

package main

import (
	"context"
	"errors"
)

// reactor is the epoll receive path of reactor_linux.go; elsewhere every
// subscriber and idle connection reads on its own goroutine through gorilla.
type reactor struct{}

func epollLoops() int { return 0 }

// newReactor returns nil: no reactor on this system.
func newReactor(int, bool) (*reactor, error) { return nil, nil }

func (*reactor) close() {}

var errNoReactor = errors.New("the epoll receive path needs Linux")

func (*reactor) subscribe(context.Context, target, string, *subscriber, []byte) error {
	return errNoReactor
}

func (*reactor) hold(context.Context, target, string, *idler) error { return errNoReactor }
