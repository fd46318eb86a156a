package multi

import (
	"io"
	"net"
	"sync"
	"testing"
)

// conns is a set of open connections that can all be dropped at once.
type conns struct {
	mu      sync.Mutex
	open    map[net.Conn]struct{}
	dropped bool
}

// add records c, or closes it at once if everything was dropped already.
func (s *conns) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		_ = c.Close()
		return false
	}
	if s.open == nil {
		s.open = map[net.Conn]struct{}{}
	}
	s.open[c] = struct{}{}
	return true
}

func (s *conns) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
}

func (s *conns) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped = true
	for c := range s.open {
		_ = c.Close()
	}
	s.open = nil
}

// dropListener remembers the connections it accepted, WebSockets included
// (http.Server forgets those once they are hijacked), so that a test can
// drop them all like a crashed process would.
type dropListener struct {
	net.Listener
	conns conns
}

func newDropListener(l net.Listener) *dropListener { return &dropListener{Listener: l} }

func (l *dropListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.conns.add(c) {
			return c, nil
		}
	}
}

func (l *dropListener) dropAll() {
	_ = l.Close()
	l.conns.dropAll()
}

// proxy forwards TCP connections to a target until it is cut; then every
// connection through it breaks and new ones are refused, as if the host
// behind it had vanished.
type proxy struct {
	ln     net.Listener
	target string
	conns  conns
	wg     sync.WaitGroup // the accept loop and two copiers per connection
	once   sync.Once
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		if !p.conns.add(down) || !p.conns.add(up) {
			_ = down.Close()
			_ = up.Close()
			continue
		}
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.conns.remove(dst)
			p.conns.remove(src)
		}
		p.wg.Go(func() { pipe(up, down) })
		p.wg.Go(func() { pipe(down, up) })
	}
}

// cut closes the proxy and every connection through it, and waits for its
// goroutines. Cutting twice does nothing more.
func (p *proxy) cut() {
	p.once.Do(func() {
		_ = p.ln.Close()
		p.conns.dropAll()
		p.wg.Wait()
	})
}
