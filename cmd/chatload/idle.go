package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// idleResult is what the idle-connections scenario measured.
type idleResult struct {
	conns int
	// Resident memory in KiB, summed over the servers' processes, before
	// the connections, with half of them open, and with all.
	rssBefore, rssHalf, rssAfter int64
	closed                       map[string]int
	// dialling is the time spent opening the connections, both halves;
	// srvCPU and genCPU what the servers and the generator used meanwhile.
	dialling, srvCPU, genCPU time.Duration
	loadAvg                  float64 // the 1-minute load average at the end
}

// perConnKiB is the memory each connection added, over all of them.
func (r *idleResult) perConnKiB() float64 {
	return float64(r.rssAfter-r.rssBefore) / float64(r.conns)
}

// marginalKiB is what each connection of the second half added: a check on
// perConnKiB, which heap freed but kept before the scenario (password hashing
// takes tens of MiB per sign-in) can make look low, even below zero once the
// runtime hands that memory back. Both move with when the server's garbage
// collector last ran; the target is checked against the larger of the two.
func (r *idleResult) marginalKiB() float64 {
	return float64(r.rssAfter-r.rssHalf) / float64(r.conns-r.conns/2)
}

// connectRate is the connections opened per second of dialling.
func (r *idleResult) connectRate() float64 {
	if r.dialling <= 0 {
		return 0
	}
	return float64(r.conns) / r.dialling.Seconds()
}

// runIdle opens conns WebSockets that only answer pings, and reads the
// servers' resident memory before and after.
func (b *bench) runIdle(ctx context.Context, conns int, settle time.Duration) (*idleResult, error) {
	if len(b.pids) == 0 {
		return nil, fmt.Errorf("idle: needs -pids to read the servers' memory")
	}
	if err := raiseFileLimit(uint64(conns) + 256); err != nil { //nolint:gosec // a count of connections is not negative
		return nil, fmt.Errorf("idle: %w", err)
	}
	res := &idleResult{conns: conns, closed: map[string]int{}}
	var err error
	if res.rssBefore, err = b.settledRSS(ctx, settle); err != nil {
		return nil, err
	}
	b.logf("idle: server RSS %d KiB; opening %d connections", res.rssBefore, conns)
	ic, err := b.newIdleConns(conns)
	if err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	defer ic.close()
	open := func(from, to int) error {
		srv0, gen0 := b.cpu()
		t0 := time.Now()
		err := forEach(to-from, b.cfg.dialPar, func(i int) error {
			i += from
			return ic.open(ctx, b.targets[i%len(b.targets)], b.tokens[i%len(b.tokens)])
		})
		res.dialling += time.Since(t0)
		srv1, gen1 := b.cpu()
		res.srvCPU += srv1 - srv0
		res.genCPU += gen1 - gen0
		return err
	}
	if err := open(0, conns/2); err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	if res.rssHalf, err = b.settledRSS(ctx, settle); err != nil {
		return nil, err
	}
	b.logf("idle: server RSS %d KiB with %d connections; opening %d more", res.rssHalf, conns/2, conns-conns/2)
	if err := open(conns/2, conns); err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	if res.rssAfter, err = b.settledRSS(ctx, settle); err != nil {
		return nil, err
	}
	for len(ic.endings) > 0 {
		res.closed[closeReason(<-ic.endings)]++
	}
	res.loadAvg = loadAvg1()
	return res, nil
}

// idleConns are the idle scenario's connections: on the epoll loops of a
// reactor where there is one (see reactor_linux.go) and the target is
// ws://, which keeps a few hundred bytes of the generator's memory per
// connection; else each with a goroutine reading it through gorilla.
type idleConns struct {
	rx      *reactor // nil: every connection through gorilla
	mu      sync.Mutex
	conns   []*wsConn // those through gorilla
	readers sync.WaitGroup
	endings chan error // why each connection that ended did
}

func (b *bench) newIdleConns(n int) (*idleConns, error) {
	rx, err := b.reactor(false)
	if err != nil {
		return nil, err
	}
	return &idleConns{rx: rx, endings: make(chan error, n)}, nil
}

// open opens one idle connection to t.
func (ic *idleConns) open(ctx context.Context, t target, token string) error {
	if ic.rx != nil && strings.HasPrefix(t.wsURL, "ws:") {
		return ic.rx.hold(ctx, t, token, &idler{proto: t.proto, endings: ic.endings})
	}
	c, err := dialConn(ctx, t, token)
	if err != nil {
		return err
	}
	ic.mu.Lock()
	ic.conns = append(ic.conns, c)
	ic.mu.Unlock()
	ic.readers.Go(func() { ic.endings <- idleRead(c) })
	return nil
}

// close ends every connection and waits for their readers. Connections that
// end now tell endings too, which has room for all of them.
func (ic *idleConns) close() {
	if ic.rx != nil {
		ic.rx.close()
	}
	ic.mu.Lock()
	for _, c := range ic.conns {
		c.Close()
	}
	ic.mu.Unlock()
	ic.readers.Wait()
}

// idler is an idle connection on a reactor's loop.
type idler struct {
	proto   protocol
	out     textSender // the loop's socket
	endings chan<- error
}

func (i *idler) message(payload []byte) error { return answer(i.proto, i.out, payload) }
func (i *idler) ended(err error)              { i.endings <- err }

// idleRead reads c until it fails, answering what needs an answer.
func idleRead(c *wsConn) error {
	var (
		buf []byte
		err error
	)
	for {
		if buf, err = readFrame(c.Conn, buf); err != nil {
			return err
		}
		if err = answer(c.proto, c, buf); err != nil {
			return err
		}
	}
}

// answer is what an idle connection does with a message: it answers the
// server's pings of proto (the chat server's are WebSocket frames, answered
// by the WebSocket layer) and drops the rest. It fails when the server ended
// the session.
func answer(proto protocol, out textSender, msg []byte) error {
	var ev event
	for rest := msg; len(rest) > 0; {
		switch rest = proto.next(rest, &ev); ev.kind {
		case kindPing:
			if err := out.sendText(proto.pong()); err != nil {
				return err
			}
		case kindClose:
			return errSessionEnded
		}
	}
	return nil
}

// raiseFileLimit makes room for need open files: it raises the soft limit,
// and the hard one where the generator may (as root), when they are lower.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= need {
		return nil //nolint:nilerr // without a reading, the dials tell
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("the connections need about %d open files; the limit is %d (hard %d): raise ulimit -n (%w)",
			need, lim.Cur, lim.Max, err)
	}
	return nil
}

// collectGarbage asks each server that serves Go profiles (CHAT_PPROF=true)
// to run its garbage collector, through /debug/pprof/heap?gc=1, so that RSS
// readings do not count garbage, such as the tens of MiB each sign-in's
// password hash leaves, that a collection would free. Servers without
// profiles are read as they are.
func (b *bench) collectGarbage(ctx context.Context) {
	for _, t := range b.targets {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/debug/pprof/heap?gc=1", nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			b.logf("idle: %s: %v", t.base, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body) // read for the connection's reuse: only the status counts
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.logf("idle: %s serves no Go profiles (CHAT_PPROF): RSS includes uncollected garbage", t.base)
		}
	}
}

// settledRSS collects the servers' garbage, waits at least settle, then until
// their resident memory stops moving (under 0.5% per second, at most 30 s
// more), and returns it.
func (b *bench) settledRSS(ctx context.Context, settle time.Duration) (int64, error) {
	b.collectGarbage(ctx)
	sleepCtx(ctx, settle)
	prev, _, err := procStats(b.pids)
	if err != nil {
		return 0, err
	}
	for range 30 {
		sleepCtx(ctx, time.Second)
		rss, _, err := procStats(b.pids)
		if err != nil {
			return 0, err
		}
		if d := rss - prev; d*200 < rss && -d*200 < rss {
			return rss, nil
		}
		prev = rss
	}
	return prev, nil
}
