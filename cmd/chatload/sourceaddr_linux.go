package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort has a socket bound to a source address take its port when it
// connects, not when it binds (IP_BIND_ADDRESS_NO_PORT): connect picks a
// port free for that destination, and reuses ports in TIME_WAIT as loopback
// allows, where bind would need a port free for every destination.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1) //nolint:gosec // a descriptor fits an int
	}); err != nil {
		return err
	}
	return serr
}

// defaultSourceAddrs is -source-addrs' default: every 127/8 address is the
// loopback interface's.
const defaultSourceAddrs = 8
