//go:build !linux

package main

import (
	"context"
	"testing"
)

// TestNoReactorOffLinux checks that, without epoll, a fan-out gets no
// reactor (its subscribers then read through gorilla) and that a subscriber
// handed to one anyway is refused.
func TestNoReactorOffLinux(t *testing.T) {
	rx, err := newReactor(2, true)
	if rx != nil || err != nil {
		t.Errorf("newReactor = %v, %v; want nil, nil", rx, err)
	}
	if n := epollLoops(); n != 0 {
		t.Errorf("epollLoops = %d, want 0", n)
	}
	if err := rx.subscribe(context.Background(), target{}, "tok", newSubscriber(&bench{}, &span{}, 0, chatProtocol{}, 1), nil); err == nil {
		t.Error("subscribe succeeded without epoll")
	}
	rx.close()
}
