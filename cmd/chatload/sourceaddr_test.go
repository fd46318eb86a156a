package main

import (
	"net"
	"testing"
)

func TestSourcePoolDialer(t *testing.T) {
	three, err := newSourcePool(3)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		pool *sourcePool
		host string
		want []string // the source addresses of successive dials; "" for the system's choice
	}{
		"round-robin over the loopback addresses": {three, "127.0.0.1", []string{"127.0.0.2", "127.0.0.3", "127.0.0.1", "127.0.0.2"}},
		"another loopback server":                 {three, "127.0.0.9", []string{"127.0.0.3", "127.0.0.1"}},
		"a server by name":                        {three, "localhost", []string{"", ""}},
		"an IPv6 loopback server":                 {three, "::1", []string{""}},
		"a remote server":                         {three, "10.0.0.1", []string{""}},
		"no pool":                                 {nil, "127.0.0.1", []string{"", ""}},
	}
	// In order: the first two cases share the pool's turn.
	for _, name := range []string{"round-robin over the loopback addresses", "another loopback server", "a server by name",
		"an IPv6 loopback server", "a remote server", "no pool"} {
		tt := tests[name]
		t.Run(name, func(t *testing.T) {
			for i, want := range tt.want {
				d := tt.pool.dialer(tt.host)
				got := ""
				if a, ok := d.LocalAddr.(*net.TCPAddr); ok {
					got = a.IP.String()
				}
				if got != want || (want != "" && d.Control == nil) {
					t.Errorf("dial %d from %q (port option set %v), want %q", i, got, d.Control != nil, want)
				}
			}
		})
	}
	if _, err := newSourcePool(255); err == nil {
		t.Error("newSourcePool(255) took more addresses than 127.0.0.0/24 has")
	}
}
