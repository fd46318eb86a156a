//go:build faults

package faults

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// load is the steady mixed load of one round: every sender of the rig on
// its home instance, sending to the public rooms and its DMs, typing and
// reconnecting; a watcher per instance following the rooms and presence.
// Senders and watchers stop separately: the presence check needs the
// watchers connected after the senders have gone.
type load struct {
	h                 *history
	senders, watchers []*worker
	burst             atomic.Bool

	stopSenders, stopWatchers context.CancelFunc
	senderWG, watcherWG       sync.WaitGroup
}

func (r *rig) startLoad(round int) *load {
	l := &load{h: newHistory()}
	sctx, stopS := context.WithCancel(context.Background())
	wctx, stopW := context.WithCancel(context.Background())
	l.stopSenders, l.stopWatchers = stopS, stopW
	for i, u := range r.watchers {
		w := newWorker(u, false, r.public, r.bases(i), l.h, r.pace, &l.burst, round)
		l.watchers = append(l.watchers, w)
		l.watcherWG.Go(func() { w.run(wctx) })
	}
	for i, u := range r.senders {
		w := newWorker(u, true, append(append([]string(nil), r.public...), r.dms(i)...), r.bases(i), l.h, r.pace, &l.burst, round)
		w.reactsTo = r.reactsTo(i)
		l.senders = append(l.senders, w)
		l.senderWG.Go(func() { w.run(sctx) })
	}
	return l
}

// running waits until every sender had a send acknowledged.
func (l *load) running(within time.Duration) error {
	deadline := time.Now().Add(within)
	for !l.h.ackedSince(time.Time{}, l.senderNames()) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the load did not start: not every sender had a send acknowledged within %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// burstFor lifts the senders' pace for d.
func (l *load) burstFor(d time.Duration) {
	l.burst.Store(true)
	time.Sleep(d)
	l.burst.Store(false)
}

// endSenders stops the senders and waits for them; their connections are
// closed when it returns.
func (l *load) endSenders() {
	l.stopSenders()
	l.senderWG.Wait()
}

// end stops the senders, then the watchers, and waits for them all.
func (l *load) end() {
	l.endSenders()
	l.stopWatchers()
	l.watcherWG.Wait()
}

func (l *load) senderNames() []string {
	out := make([]string, len(l.senders))
	for i, w := range l.senders {
		out[i] = w.user
	}
	return out
}
