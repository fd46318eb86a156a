package httpapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Names of the limits, as the label of chat_limited_total.
const (
	limitConnsPerAddress = "connections_per_address"
	limitUnauthenticated = "unauthenticated_per_address"
	limitSocketsPerUser  = "sockets_per_user"
	limitSocketsPerAddr  = "sockets_per_address"
	limitReadHeader      = "read_header_timeout"
	limitBadHeaders      = "bad_request_headers"
	limitIdle            = "idle_timeout"
	limitRead            = "read_timeout"
	limitBodyBytes       = "body_bytes"
	limitOrigin          = "origin"
	limitContentType     = "content_type"
	capRetryAfter        = 5 * time.Second // what a client refused by a cap is told to wait
	refusalWriteTimeout  = time.Second
)

// connTracker follows every connection of the chat listener from its accept
// to its close (a WebSocket's included: it lets go of it in closed), and
// caps, per client address, the connections open and those that have not
// yet carried a valid session. A connection over a cap is refused at once,
// before any of it is read. The client address is the TCP peer; a trusted
// proxy is not counted (its clients are, at the WebSocket, by socketTracker).
//
// It also counts the timeouts of net/http that end connections, from the
// state the connection was in when it closed: nothing read for
// ReadHeaderTimeout after it opened, a request that never reached a handler
// (after ReadHeaderTimeout: too slow; before: headers over MaxHeaderBytes or
// malformed), or idle for IdleTimeout after a request.
type connTracker struct {
	maxConns, maxUnauthenticated int
	headerTimeout, idleTimeout   time.Duration
	trusted                      func(netip.Addr) bool
	hit                          func(limit string)

	mu     sync.Mutex
	conns  map[net.Conn]*trackedConn
	byAddr map[netip.Addr]*addrConns
}

// addrConns are the connections of one client address.
type addrConns struct{ open, unauthenticated int }

// trackedConn is what connTracker knows of one connection; its fields are
// guarded by connTracker.mu.
type trackedConn struct {
	addr          netip.Addr // the client address counted; zero: not counted
	authenticated bool       // a request on it carried a valid session
	released      bool
	state         http.ConnState
	since         time.Time // when it opened or last went idle
	handled       bool      // a handler started since
}

type trackedConnKey struct{}

func newConnTracker(cfg Config, trusted func(netip.Addr) bool, hit func(string)) *connTracker {
	return &connTracker{
		maxConns: cfg.MaxConnsPerAddress, maxUnauthenticated: cfg.MaxUnauthenticatedPerAddress,
		headerTimeout: cfg.ReadHeaderTimeout, idleTimeout: cfg.IdleTimeout,
		trusted: trusted, hit: hit,
		conns: map[net.Conn]*trackedConn{}, byAddr: map[netip.Addr]*addrConns{},
	}
}

// connContext is the http.Server's ConnContext: it admits c, or refuses
// it with 429 and closes it.
func (t *connTracker) connContext(ctx context.Context, c net.Conn) context.Context {
	tc := &trackedConn{state: http.StateNew, since: time.Now()}
	if a, ok := peerAddr(c.RemoteAddr()); ok && !t.trusted(a) {
		tc.addr = addrKey(a)
	}
	if limit := t.admit(c, tc); limit != "" {
		t.hit(limit)
		refuseConn(c)
		return ctx
	}
	return context.WithValue(ctx, trackedConnKey{}, tc)
}

// admit counts c in unless a cap refuses it, whose limit it returns.
func (t *connTracker) admit(c net.Conn, tc *trackedConn) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tc.addr.IsValid() {
		n := t.byAddr[tc.addr]
		if n == nil {
			n = &addrConns{}
		}
		switch {
		case t.maxConns > 0 && n.open >= t.maxConns:
			return limitConnsPerAddress
		case t.maxUnauthenticated > 0 && n.unauthenticated >= t.maxUnauthenticated:
			return limitUnauthenticated
		}
		n.open++
		n.unauthenticated++
		t.byAddr[tc.addr] = n
	}
	t.conns[c] = tc
	return ""
}

// connState is the http.Server's ConnState hook.
func (t *connTracker) connState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed {
		t.closed(c)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tc := t.conns[c]
	if tc == nil {
		return // refused
	}
	tc.state = st
	if st == http.StateIdle {
		tc.since, tc.handled = time.Now(), false
	}
}

// closed lets go of c, once it is closed: from connState, or for a
// hijacked connection (a WebSocket), from its owner.
func (t *connTracker) closed(c net.Conn) {
	t.mu.Lock()
	tc := t.conns[c]
	if tc == nil {
		t.mu.Unlock()
		return
	}
	delete(t.conns, c)
	tc.released = true
	if n := t.byAddr[tc.addr]; n != nil {
		n.open--
		if !tc.authenticated {
			n.unauthenticated--
		}
		if n.open == 0 {
			delete(t.byAddr, tc.addr)
		}
	}
	limit := t.cutBy(tc, time.Since(tc.since))
	t.mu.Unlock()
	if limit != "" {
		t.hit(limit)
	}
}

// cutBy names the net/http limit that closed a connection in tc's state,
// elapsed after tc.since, if one did.
func (t *connTracker) cutBy(tc *trackedConn, elapsed time.Duration) string {
	switch {
	case tc.state == http.StateIdle && elapsed >= t.idleTimeout:
		return limitIdle
	case tc.state == http.StateNew && elapsed >= t.headerTimeout:
		return limitReadHeader
	case tc.state == http.StateActive && !tc.handled && elapsed >= t.headerTimeout:
		return limitReadHeader
	case tc.state == http.StateActive && !tc.handled:
		return limitBadHeaders
	}
	return ""
}

// handling notes that a handler runs on the connection of ctx.
func (t *connTracker) handling(ctx context.Context) {
	if tc, ok := ctx.Value(trackedConnKey{}).(*trackedConn); ok {
		t.mu.Lock()
		tc.handled = true
		t.mu.Unlock()
	}
}

// authenticated notes that the connection of ctx carried a valid session:
// it no longer counts as unauthenticated.
func (t *connTracker) authenticated(ctx context.Context) {
	tc, ok := ctx.Value(trackedConnKey{}).(*trackedConn)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tc.authenticated || tc.released {
		return
	}
	tc.authenticated = true
	if n := t.byAddr[tc.addr]; n != nil {
		n.unauthenticated--
	}
}

// refusal is the whole answer to a connection over a cap, in the contract's
// error shape.
var refusal = func() string {
	body := fmt.Sprintf(`{"error":{"code":%q,"message":"too many connections from this address: close some, then retry"}}`+"\n", chatserver.ERateLimited)
	return fmt.Sprintf("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"+
		"X-Content-Type-Options: nosniff\r\nRetry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		int(capRetryAfter/time.Second), len(body), body)
}()

// refuseConn answers a connection over a cap with 429 and closes it. Only a
// plain TCP connection gets the answer: over TLS it would need the
// handshake, which the accepting goroutine must not wait for.
func refuseConn(c net.Conn) {
	if _, ok := c.(*net.TCPConn); ok && c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout)) == nil {
		// The answer fits an empty socket buffer; if it fails, closing is the answer.
		_, _ = io.WriteString(c, refusal)
	}
	_ = c.Close()
}

// socketTracker caps the WebSockets of one user and of one client address.
type socketTracker struct {
	maxPerUser, maxPerAddr int

	mu    sync.Mutex
	users map[string]int
	addrs map[netip.Addr]int
}

func newSocketTracker(cfg Config) *socketTracker {
	return &socketTracker{maxPerUser: cfg.MaxSocketsPerUser, maxPerAddr: cfg.MaxSocketsPerAddress, users: map[string]int{}, addrs: map[netip.Addr]int{}}
}

// acquire counts a socket of user from addr (zero: not counted by address)
// unless a cap refuses it, whose limit it returns; release gives it back.
func (t *socketTracker) acquire(user string, addr netip.Addr) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.maxPerUser > 0 && t.users[user] >= t.maxPerUser:
		return limitSocketsPerUser
	case addr.IsValid() && t.maxPerAddr > 0 && t.addrs[addr] >= t.maxPerAddr:
		return limitSocketsPerAddr
	}
	t.users[user]++
	if addr.IsValid() {
		t.addrs[addr]++
	}
	return ""
}

func (t *socketTracker) release(user string, addr netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.users[user]--; t.users[user] <= 0 {
		delete(t.users, user)
	}
	if addr.IsValid() {
		if t.addrs[addr]--; t.addrs[addr] <= 0 {
			delete(t.addrs, addr)
		}
	}
}

// clientAddr is the address a request comes from, as counted: its TCP peer,
// or, when that is a trusted proxy, the last address X-Forwarded-For names
// that is not a trusted proxy's (the ones before it are the client's to
// write). Zero when there is none (not an IP peer).
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0 && s.trusted(a); i-- {
		hop, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			break // a proxy wrote no address: count the last one that did
		}
		a = hop
	}
	return addrKey(a)
}

// parseHop reads one X-Forwarded-For entry: an address, maybe with a port.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// trusted reports whether a is one of Config.TrustedProxies.
func (s *Server) trusted(a netip.Addr) bool {
	ip := net.IP(a.Unmap().AsSlice())
	for _, n := range s.cfg.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// peerAddr is the IP address of a connection's peer.
func peerAddr(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap(), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap(), err == nil
}

// addrKey is what a client address is counted as: an IPv6 address by its
// /64, which one client usually holds whole.
func addrKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64) // 64 bits always fit an IPv6 address
		return p.Addr()
	}
	return a
}
