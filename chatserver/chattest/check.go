package chattest

import (
	"net"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// WantCode fails the test unless err carries the error code code ("" for no
// error).
func WantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := chatserver.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// Eventually polls cond until it holds, and fails the test if it does not
// within the given time.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a local port nothing listens on (for now), for a server
// that starts on it later.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
