//go:build faults

package faults

import (
	"net"
	"sync"
	"testing"
)

// proxy forwards every connection it accepts to a target it dials. Paused,
// it forwards nothing: bytes already sent wait, new connections are accepted
// and left hanging, and nothing is refused or closed, as when the network
// drops every packet; resumed, everything that waited flows on. The dial
// function lets the same forwarding cross network namespaces.
type proxy struct {
	ln   net.Listener
	dial func() (net.Conn, error)
	gate gate

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and two copiers per connection
}

// startProxy forwards the connections of ln through dial until the test
// ends.
func startProxy(t testing.TB, ln net.Listener, dial func() (net.Conn, error)) *proxy {
	p := &proxy{ln: ln, dial: dial, conns: map[net.Conn]struct{}{}}
	p.gate.open = true
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// tcpProxy forwards a new loopback port to target.
func tcpProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startProxy(t, ln, func() (net.Conn, error) { return net.Dial("tcp", target) })
}

// Addr is where the proxy listens.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// cut pauses the proxy; heal resumes it.
func (p *proxy) cut() error  { p.gate.set(false); return nil }
func (p *proxy) heal() error { p.gate.set(true); return nil }

func (p *proxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(down) {
			return
		}
		p.wg.Go(func() { p.forward(down) })
	}
}

// forward dials the target for down once the gate is open, and copies both
// ways until either side ends.
func (p *proxy) forward(down net.Conn) {
	if !p.gate.wait() {
		p.untrack(down)
		return
	}
	up, err := p.dial()
	if err != nil || !p.track(up) {
		if up != nil {
			_ = up.Close()
		}
		p.untrack(down)
		return
	}
	p.wg.Go(func() { p.pipe(up, down) })
	p.pipe(down, up)
}

// pipe copies src to dst through the gate, then closes both.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate.wait() {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.untrack(dst)
	p.untrack(src)
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// close stops the proxy, closes every connection through it and waits for
// its goroutines.
func (p *proxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.gate.shut()
	p.wg.Wait()
}

// gate holds the copiers of a paused proxy.
type gate struct {
	mu     sync.Mutex
	open   bool
	shutDn bool
	change chan struct{} // closed and replaced at every change
}

func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = open
	g.signal()
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shutDn = true
	g.signal()
}

func (g *gate) signal() {
	if g.change != nil {
		close(g.change)
		g.change = nil
	}
}

// wait blocks while the gate is closed; it returns false once the proxy
// shuts down.
func (g *gate) wait() bool {
	for {
		g.mu.Lock()
		if g.shutDn {
			g.mu.Unlock()
			return false
		}
		if g.open {
			g.mu.Unlock()
			return true
		}
		if g.change == nil {
			g.change = make(chan struct{})
		}
		ch := g.change
		g.mu.Unlock()
		<-ch
	}
}
