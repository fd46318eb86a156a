package kubelet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// dialTimeout bounds how long a relay waits for its target to accept.
const dialTimeout = 10 * time.Second

// relay accepts TCP connections on one listener and joins each to a
// connection that dial opens: a Service port inside a pod's namespace, an
// external host inside a pod's namespace, or a pod's port forwarded to the
// host.
type relay struct {
	ln    net.Listener
	owner types.UID // the sandbox the listener is in; "" for the host
	what  string    // for logs
	// dial connects to the target and names the sandbox it is in ("" for
	// the host).
	dial func(ctx context.Context) (net.Conn, types.UID, error)
}

// relayConn is an accepted connection joined to its target.
type relayConn struct {
	client, target net.Conn
	sandboxes      [2]types.UID // the client's and the target's
}

func (c *relayConn) close() {
	c.client.Close()
	c.target.Close()
}

func (c *relayConn) involves(uid types.UID) bool {
	return c.sandboxes[0] == uid || c.sandboxes[1] == uid
}

// relays runs relays and the connections they accept, and closes the
// connections of a sandbox when it goes away: every goroutine it starts ends
// when its listener or connection is closed, and shutdown waits for them.
type relays struct {
	log  *slog.Logger
	base context.Context // cancelled at shutdown; bounds every dial

	mu     sync.Mutex
	conns  map[*relayConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newRelays(ctx context.Context, log *slog.Logger) *relays {
	return &relays{log: log, base: ctx, conns: map[*relayConn]struct{}{}}
}

// start serves r until its listener is closed.
func (rs *relays) start(r *relay) {
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		for {
			c, err := r.ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					rs.log.Warn("relay: accept", "relay", r.what, "err", err)
				}
				return
			}
			rs.wg.Add(1)
			go func() {
				defer rs.wg.Done()
				rs.join(r, c)
			}()
		}
	}()
}

// join connects c to r's target and copies both ways until both sides are
// done. A target that cannot be reached resets c, as a refused connection
// would.
func (rs *relays) join(r *relay, c net.Conn) {
	ctx, cancel := context.WithTimeout(rs.base, dialTimeout)
	target, uid, err := r.dial(ctx)
	cancel()
	if err != nil {
		rs.log.Debug("relay: no target", "relay", r.what, "err", err)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		return
	}
	rc := &relayConn{client: c, target: target, sandboxes: [2]types.UID{r.owner, uid}}
	if !rs.track(rc) {
		rc.close()
		return
	}
	defer rs.untrack(rc)

	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(target, c, rc)
	}()
	pipe(c, target, rc)
	<-done
	rc.close()
}

// pipe copies src to dst; at src's end it half-closes dst, and on an error
// it closes the whole connection so that the other direction ends too.
func pipe(dst, src net.Conn, rc *relayConn) {
	if _, err := io.Copy(dst, src); err != nil {
		rc.close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func (rs *relays) track(rc *relayConn) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return false
	}
	rs.conns[rc] = struct{}{}
	return true
}

func (rs *relays) untrack(rc *relayConn) {
	rs.mu.Lock()
	delete(rs.conns, rc)
	rs.mu.Unlock()
}

// closeSandbox closes every connection from or to a sandbox.
func (rs *relays) closeSandbox(uid types.UID) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for rc := range rs.conns {
		if rc.involves(uid) {
			rc.close()
		}
	}
}

// shutdown closes every connection and waits for every goroutine; the
// caller has closed every listener.
func (rs *relays) shutdown() {
	rs.mu.Lock()
	rs.closed = true
	for rc := range rs.conns {
		rc.close()
	}
	rs.mu.Unlock()
	rs.wg.Wait()
}
