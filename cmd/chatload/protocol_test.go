package main

import (
	"fmt"
	"strings"
	"testing"
)

// greetCase is a message a server sends during the greeting and what the
// protocol must make of it.
type greetCase struct {
	msg     string
	reply   string // "" for none
	ready   bool
	errText string
}

// testGreet runs p.greet over the cases.
func testGreet(t *testing.T, p protocol, tests map[string]greetCase) {
	t.Helper()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			reply, ready, err := p.greet([]byte(tt.msg))
			switch {
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("greet = %v, want an error with %q", err, tt.errText)
				}
			case err != nil:
				t.Errorf("greet: %v", err)
			case string(reply) != tt.reply || ready != tt.ready:
				t.Errorf("greet = %q, %v; want %q, %v", reply, ready, tt.reply, tt.ready)
			}
		})
	}
}

// nextCase is one message of a server and the event it holds.
type nextCase struct {
	msg  string
	want event
}

// testNext runs p.next over the cases, each a message that holds one event.
func testNext(t *testing.T, p protocol, tests map[string]nextCase) {
	t.Helper()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var ev event
			if rest := p.next([]byte(tt.msg), &ev); rest != nil {
				t.Errorf("next left %q of a message with one event", rest)
			}
			if fmt.Sprint(ev) != fmt.Sprint(tt.want) {
				t.Errorf("next(%s)\n got %+v\nwant %+v", tt.msg, ev, tt.want)
			}
		})
	}
}

// testWritten compares what a protocol wrote with what it should have.
func testWritten(t *testing.T, tests map[string][2]string) {
	t.Helper()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got, want := tt[0], tt[1]; got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}
