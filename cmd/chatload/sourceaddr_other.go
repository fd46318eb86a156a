//go:build !linux

package main

import "syscall"

// bindNoPort does nothing where IP_BIND_ADDRESS_NO_PORT does not exist: the
// port is taken when the socket binds.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }

// defaultSourceAddrs is -source-addrs' default: elsewhere, loopback
// addresses besides 127.0.0.1 often have to be configured.
const defaultSourceAddrs = 1
