package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestFanoutRunThatFailsToConnectEndsWhatItOpened runs a fan-out whose
// publishers the server refuses: connect fails, and close must end every
// subscriber it had opened, on either receive path.
func TestFanoutRunThatFailsToConnectEndsWhatItOpened(t *testing.T) {
	for _, epoll := range []bool{true, false} {
		t.Run(fmt.Sprintf("epoll=%v", epoll), func(t *testing.T) {
			const subs = 5
			servers, fakes := startFakes(t, 1, 0)
			fakes[0].accept = subs
			cfg := testConfig(servers)
			cfg.epoll = epoll
			targets, err := parseTargets(servers, false)
			if err != nil {
				t.Fatal(err)
			}
			b := &bench{cfg: cfg, targets: targets, tokens: []string{"t-bench0"}, epoch: time.Now()}
			f, err := b.newFanoutRun(fanoutSpec{name: "max", subs: subs, pubs: 2, window: 4, size: 40, drain: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.connect(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
				t.Errorf("connect = %v, want the refusal", err)
			}
			f.close()
			for i, s := range f.subs {
				if s == nil || !isDone(s.done) {
					t.Errorf("subscriber %d: opened %v, ended %v; want both", i, s != nil, s != nil && isDone(s.done))
				}
			}
			for i, p := range f.pubs {
				if p != nil {
					t.Errorf("publisher %d is open though the server refused it", i)
				}
			}
			f.close() // a second close has nothing left to do
		})
	}
}

func TestFanoutSpecInterval(t *testing.T) {
	tests := map[string]struct {
		spec fanoutSpec
		want time.Duration
	}{
		"as fast as acked":               {fanoutSpec{pubs: 2}, 0},
		"200/s over 2 publishers":        {fanoutSpec{pubs: 2, rate: 200}, 10 * time.Millisecond},
		"1,000/s from one publisher":     {fanoutSpec{pubs: 1, rate: 1000}, time.Millisecond},
		"a rate below one send a second": {fanoutSpec{pubs: 1, rate: 0.5}, 2 * time.Second},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.spec.interval(); got != tt.want {
				t.Errorf("interval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCloseReason(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"a close frame is named by its code": {&websocket.CloseError{Code: 1008, Text: "slow consumer"}, "close 1008"},
		"a wrapped close frame too":          {fmt.Errorf("subscriber 3: %w", &websocket.CloseError{Code: 1001}), "close 1001"},
		"an EOF as gorilla reports it":       {errEOF, "close 1006"},
		"another error by its text":          {errors.New("read: connection reset by peer"), "read: connection reset by peer"},
		"no error":                           {nil, "unknown"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := closeReason(tt.err); got != tt.want {
				t.Errorf("closeReason = %q, want %q", got, tt.want)
			}
		})
	}
}
