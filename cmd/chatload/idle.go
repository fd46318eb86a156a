package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// idleResult is what the idle-connections scenario measured.
type idleResult struct {
	conns int
	// Resident memory in KiB, summed over the servers' processes, before
	// the connections, with half of them open, and with all.
	rssBefore, rssHalf, rssAfter int64
	closed                       map[string]int
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

// runIdle opens conns authenticated WebSockets that only answer pings, and
// reads the servers' resident memory before and after.
func (b *bench) runIdle(ctx context.Context, conns int, settle time.Duration) (*idleResult, error) {
	if len(b.pids) == 0 {
		return nil, fmt.Errorf("idle: needs -pids to read the servers' memory")
	}
	res := &idleResult{conns: conns, closed: map[string]int{}}
	var err error
	if res.rssBefore, err = b.settledRSS(ctx, settle); err != nil {
		return nil, err
	}
	b.logf("idle: server RSS %d KiB; opening %d connections", res.rssBefore, conns)
	var (
		mu    sync.Mutex
		cs    = make([]*websocket.Conn, 0, conns)
		ended = make(chan error, conns)
	)
	defer func() {
		mu.Lock()
		for _, c := range cs {
			c.Close()
		}
		mu.Unlock()
	}()
	open := func(from, to int) error {
		return forEach(to-from, b.cfg.dialPar, func(i int) error {
			i += from
			c, err := dial(ctx, b.targets[i%len(b.targets)], b.tokens[i%len(b.tokens)])
			if err != nil {
				return err
			}
			mu.Lock()
			cs = append(cs, c)
			mu.Unlock()
			go func() { ended <- discard(c) }()
			return nil
		})
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
	for len(ended) > 0 {
		res.closed[closeReason(<-ended)]++
	}
	return res, nil
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

// discard reads and drops every frame of c, which keeps it answering the
// server's pings, until c fails.
func discard(c *websocket.Conn) error {
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
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
