package main

import (
	"fmt"
	"net"
	"sync/atomic"
)

// sourcePool spreads the connections to loopback servers over the source
// addresses 127.0.0.1 … 127.0.0.n. From one source address, the connections
// to one server share the ephemeral ports, about 28,000 by default: fewer
// than idle opens. Every 127/8 address is the loopback interface's on Linux.
type sourcePool struct {
	n    int
	next atomic.Uint32
}

func newSourcePool(n int) (*sourcePool, error) {
	if n > 254 {
		return nil, fmt.Errorf("-source-addrs %d: want at most 254", n)
	}
	return &sourcePool{n: n}, nil
}

// dialer returns the dialer of one connection to host: from the pool's next
// source address when host is an IPv4 loopback address, else from wherever
// the system chooses. p may be nil.
func (p *sourcePool) dialer(host string) *net.Dialer {
	d := &net.Dialer{}
	ip := net.ParseIP(host).To4()
	if p == nil || p.n < 2 || ip == nil || !ip.IsLoopback() {
		return d
	}
	last := byte(1 + int(p.next.Add(1))%p.n) //nolint:gosec // at most 254: newSourcePool
	d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, last)}
	d.Control = bindNoPort
	return d
}
