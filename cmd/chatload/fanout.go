package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// fanoutSpec describes one fan-out scenario: subs subscribers joined to a
// fresh public room and pubs publishers sending to it.
type fanoutSpec struct {
	name       string
	subs, pubs int
	window     int     // sends in flight per publisher
	rate       float64 // total sends per second; 0 sends as fast as acks come back
	size       int     // bytes of message text
	warmup     time.Duration
	duration   time.Duration // the measured window
	drain      time.Duration // how long to wait for in-flight messages after it
}

// fanoutResult is what one fan-out scenario measured.
type fanoutResult struct {
	spec             fanoutSpec
	room             string
	window           time.Duration
	sends, delivered uint64 // acks and message events received within the window
	lat, latCross    hist   // send to receipt, sender and receiver on the same server or not
	latRx            hist   // send to the kernel's receipt (-kernel-rx)
	ack              hist   // send to ack
	gaps, dupes, ooo uint64 // seq faults seen by subscribers
	lost             uint64 // acked messages some subscriber never got
	closed           map[string]int
	sendErrs         map[string]int
	srvCPU, genCPU   float64 // cores used during the window
}

// span is the measured window on the generator's clock, in ns; both ends
// are MaxInt64 until set.
type span struct{ start, end atomic.Int64 }

func (s *span) contains(t int64) bool { return t >= s.start.Load() && t < s.end.Load() }

const joinID = 1

type subscriber struct {
	b       *bench
	w       *span
	conn    *websocket.Conn // nil when a reactor receives for it
	origin  int
	lastSeq atomic.Int64 // the last seq received; -1 until joined
	joined  chan struct{}
	done    chan struct{}
	err     error // why receiving ended; set before done closes

	// Owned by the receive path (run, or the reactor loop that has the
	// connection) until done closes.
	last             int64 // -1 until the first message or the join reply
	hasJoined        bool
	delivered        uint64
	gaps, dupes, ooo uint64
	lat, latCross    hist
	// rxAt is the kernel's receive time of the read the frame came in, on
	// the generator's clock, or 0 (-kernel-rx off, or not on a reactor).
	rxAt  int64
	latRx hist
}

func newSubscriber(b *bench, w *span, origin int) *subscriber {
	s := &subscriber{b: b, w: w, origin: origin, joined: make(chan struct{}), done: make(chan struct{}), last: -1}
	s.lastSeq.Store(-1)
	return s
}

// run is the receive path through gorilla: it reads frames from s.conn until
// it fails.
func (s *subscriber) run() {
	defer close(s.done)
	var (
		buf []byte
		err error
	)
	for {
		if buf, err = readFrame(s.conn, buf); err != nil {
			s.err = err
			return
		}
		if err = s.frame(buf); err != nil {
			s.err = err
			return
		}
	}
}

// frame processes one frame of server events, on whichever receive path got
// it. An error ends the subscriber.
func (s *subscriber) frame(buf []byte) error {
	now := s.b.now()
	ws, we := s.w.start.Load(), s.w.end.Load()
	in := now >= ws && now < we
	var ev event
	for rest := buf; len(rest) > 0; {
		var line []byte
		if line, rest = nextLine(rest); len(line) == 0 {
			continue
		}
		parseLine(line, &ev)
		switch ev.kind {
		case kindMessage:
			if in {
				s.delivered++
			}
			switch {
			case s.last < 0 || ev.seq == s.last+1:
			case ev.seq > s.last+1:
				s.gaps += uint64(ev.seq - s.last - 1)
			case ev.seq == s.last:
				s.dupes++
				continue
			default:
				s.ooo++
				continue
			}
			s.last = ev.seq
			if ev.sentAt >= ws && ev.sentAt < we {
				if s.rxAt != 0 {
					s.latRx.record(s.rxAt - ev.sentAt)
				}
				if ev.origin == s.origin || ev.origin < 0 {
					s.lat.record(now - ev.sentAt)
				} else {
					s.latCross.record(now - ev.sentAt)
				}
			}
		case kindReply:
			if ev.re != joinID || s.hasJoined {
				continue
			}
			if !ev.ok {
				return fmt.Errorf("join refused: %s", ev.code)
			}
			if s.last < 0 {
				s.last = ev.seq
			}
			s.hasJoined = true
			s.lastSeq.Store(s.last)
			close(s.joined)
		}
	}
	if s.hasJoined {
		s.lastSeq.Store(s.last)
	}
	return nil
}

type publisher struct {
	conn   *websocket.Conn
	origin int
	cid    string
	slots  chan int // free slots of the send window
	sentID []atomic.Int64
	sentAt []atomic.Int64
	maxSeq atomic.Int64
	done   chan struct{}
	err    error // why the read loop ended

	// Owned by the read loop until done closes.
	acked, ackedIn uint64
	errs           map[string]int
	ack            hist
}

// send writes commands until stop closes, each as soon as a window slot is
// free, and when interval > 0 on a schedule of one per interval (the first at
// offset), catching up after a wait for the window. A command's id encodes its
// slot: id = n*window + slot.
func (p *publisher) send(b *bench, room string, size int, interval, offset time.Duration, stop <-chan struct{}) error {
	window := int64(len(p.sentID))
	next := time.Now().Add(offset)
	var buf []byte
	for n := int64(1); ; n++ {
		scheduled := next
		if interval > 0 {
			select {
			case <-stop:
				return nil
			case <-time.After(time.Until(next)):
			}
			next = next.Add(interval)
		}
		var slot int
		select {
		case <-stop:
			return nil
		case slot = <-p.slots:
		}
		id := n*window + int64(slot)
		at := b.now()
		if interval > 0 {
			// A paced send that waited for a window slot is timed from
			// when it was due: a server that falls behind shows in the
			// latencies instead of slowing the generator down unseen.
			at = int64(scheduled.Sub(b.epoch))
		}
		p.sentAt[slot].Store(at)
		p.sentID[slot].Store(id)
		buf = appendSend(buf[:0], id, room, at, p.origin, size, p.cid)
		if err := p.conn.WriteMessage(websocket.TextMessage, buf); err != nil {
			return err
		}
	}
}

func (p *publisher) run(b *bench, w *span) {
	defer close(p.done)
	window := int64(len(p.sentID))
	var (
		buf []byte
		ev  event
		err error
	)
	for {
		if buf, err = readFrame(p.conn, buf); err != nil {
			p.err = err
			return
		}
		now := b.now()
		in := w.contains(now)
		for rest := buf; len(rest) > 0; {
			var line []byte
			if line, rest = nextLine(rest); len(line) == 0 {
				continue
			}
			if parseLine(line, &ev); ev.kind != kindReply || ev.re <= 0 {
				continue
			}
			slot := int(ev.re % window)
			if p.sentID[slot].Load() != ev.re {
				continue
			}
			if at := p.sentAt[slot].Load(); w.contains(at) {
				p.ack.record(now - at)
			}
			if ev.ok {
				p.acked++
				if in {
					p.ackedIn++
				}
				if ev.seq > p.maxSeq.Load() {
					p.maxSeq.Store(ev.seq)
				}
			} else {
				p.errs[string(ev.code)]++
			}
			p.sentID[slot].Store(0)
			p.slots <- slot
		}
	}
}

// runFanout runs one fan-out scenario from connecting to closing.
func (b *bench) runFanout(ctx context.Context, spec fanoutSpec) (*fanoutResult, error) {
	var nonce [4]byte
	rand.Read(nonce[:])
	res := &fanoutResult{spec: spec, room: "bench-" + spec.name + "-" + hex.EncodeToString(nonce[:]),
		closed: map[string]int{}, sendErrs: map[string]int{}}
	w := &span{}
	w.start.Store(math.MaxInt64)
	w.end.Store(math.MaxInt64)

	var (
		mu   sync.Mutex
		subs = make([]*subscriber, spec.subs)
		pubs = make([]*publisher, spec.pubs)
	)
	// Subscribers receive on epoll loops (reactor_linux.go) where the system
	// has epoll and the target is plain ws://.
	var rx *reactor
	if b.cfg.epoll {
		loops := b.cfg.epollLoops
		if loops <= 0 {
			loops = epollLoops()
		}
		var err error
		if rx, err = newReactor(loops, b.cfg.kernelRx); err != nil {
			return nil, fmt.Errorf("%s: %w", spec.name, err)
		}
	}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		if rx != nil {
			rx.close() // ends every subscriber it has
		}
		for _, s := range subs {
			if s != nil {
				if s.conn != nil {
					s.conn.Close()
				}
				<-s.done
			}
		}
		for _, p := range pubs {
			if p != nil {
				p.conn.Close()
				<-p.done
			}
		}
	}
	defer closeAll()

	b.logf("%s: connecting %d subscribers to room %s", spec.name, spec.subs, res.room)
	join := []byte(fmt.Sprintf(`{"type":"join","id":%d,"room":%q}`, joinID, res.room))
	err := forEach(spec.subs, b.cfg.dialPar, func(i int) error {
		origin := i % len(b.targets)
		t, token := b.targets[origin], b.tokens[i%len(b.tokens)]
		s := newSubscriber(b, w, origin)
		if rx != nil && strings.HasPrefix(t.wsURL, "ws:") {
			if err := rx.subscribe(ctx, t, token, s, join); err != nil {
				return err
			}
			mu.Lock()
			subs[i] = s
			mu.Unlock()
		} else {
			c, err := dial(ctx, t, token)
			if err != nil {
				return err
			}
			s.conn = c
			mu.Lock()
			subs[i] = s
			mu.Unlock()
			go s.run()
			if err := c.WriteMessage(websocket.TextMessage, join); err != nil {
				return err
			}
		}
		select {
		case <-s.joined:
			return nil
		case <-s.done:
			return fmt.Errorf("subscriber %d: %w", i, s.err)
		case <-time.After(15 * time.Second):
			return fmt.Errorf("subscriber %d: no reply to join within 15s", i)
		}
	})
	if err != nil {
		return nil, err
	}
	err = forEach(spec.pubs, b.cfg.dialPar, func(i int) error {
		origin := i % len(b.targets)
		c, err := dial(ctx, b.targets[origin], b.tokens[i%len(b.tokens)])
		if err != nil {
			return err
		}
		p := &publisher{conn: c, origin: origin, cid: fmt.Sprintf("p%d-", i),
			slots:  make(chan int, spec.window),
			sentID: make([]atomic.Int64, spec.window), sentAt: make([]atomic.Int64, spec.window),
			done: make(chan struct{}), errs: map[string]int{}}
		for s := range spec.window {
			p.slots <- s
		}
		mu.Lock()
		pubs[i] = p
		mu.Unlock()
		go p.run(b, w)
		return nil
	})
	if err != nil {
		return nil, err
	}

	var interval time.Duration
	if spec.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(spec.pubs) / spec.rate)
	}
	b.logf("%s: %d publishers sending (%s), warm-up %v, measuring %v", spec.name, spec.pubs, rateString(spec.rate), spec.warmup, spec.duration)
	stop := make(chan struct{})
	var sendErr atomic.Pointer[error]
	var senders sync.WaitGroup
	for i, p := range pubs {
		offset := interval * time.Duration(i) / time.Duration(spec.pubs)
		senders.Go(func() {
			if err := p.send(b, res.room, spec.size, interval, offset, stop); err != nil {
				sendErr.CompareAndSwap(nil, &err)
			}
		})
	}

	sleepCtx(ctx, spec.warmup)
	srv0, gen0 := b.cpu()
	w.start.Store(b.now())
	t0 := time.Now()
	var profile sync.WaitGroup
	if b.cfg.serverProfile != "" && spec.rate == 0 {
		profile.Go(func() { b.fetchProfile(ctx, spec.duration) })
	}
	sleepCtx(ctx, spec.duration)
	w.end.Store(b.now())
	res.window = time.Since(t0)
	srv1, gen1 := b.cpu()
	res.srvCPU = (srv1 - srv0).Seconds() / res.window.Seconds()
	res.genCPU = (gen1 - gen0).Seconds() / res.window.Seconds()
	close(stop)
	senders.Wait()
	if e := sendErr.Load(); e != nil {
		return nil, fmt.Errorf("%s: sending: %w", spec.name, *e)
	}

	// Wait for the acks in flight, then for every subscriber to reach the
	// newest acked seq.
	deadline := time.Now().Add(spec.drain)
	for _, p := range pubs {
		for len(p.slots) < spec.window && time.Now().Before(deadline) && !isDone(p.done) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var maxSeq int64
	for _, p := range pubs {
		maxSeq = max(maxSeq, p.maxSeq.Load())
	}
	for _, s := range subs {
		for s.lastSeq.Load() < maxSeq && time.Now().Before(deadline) && !isDone(s.done) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, s := range subs {
		if l := s.lastSeq.Load(); l < maxSeq {
			res.lost += uint64(maxSeq - l)
		}
	}
	profile.Wait()

	// Read loops that ended before this point were ended by the server.
	for _, s := range subs {
		if isDone(s.done) {
			res.closed[closeReason(s.err)]++
		}
	}
	for _, p := range pubs {
		if isDone(p.done) {
			res.closed[closeReason(p.err)]++
		}
	}
	closeAll()
	for _, s := range subs {
		res.delivered += s.delivered
		res.gaps += s.gaps
		res.dupes += s.dupes
		res.ooo += s.ooo
		res.lat.merge(&s.lat)
		res.latCross.merge(&s.latCross)
		res.latRx.merge(&s.latRx)
	}
	for _, p := range pubs {
		res.sends += p.ackedIn
		res.ack.merge(&p.ack)
		for code, n := range p.errs {
			res.sendErrs[code] += n
		}
	}
	return res, nil
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func closeReason(err error) string {
	if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
		return fmt.Sprintf("close %d", ce.Code)
	}
	if err == nil {
		return "unknown"
	}
	return err.Error()
}

func rateString(rate float64) string {
	if rate == 0 {
		return "as fast as acked"
	}
	return fmt.Sprintf("%g msg/s in total", rate)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// fetchProfile saves a CPU profile of the first server, taken over d, when
// the server exposes net/http/pprof.
func (b *bench) fetchProfile(ctx context.Context, d time.Duration) {
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.targets[0].base, max(int(d.Seconds()), 1))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		b.logf("server profile: %v", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.logf("server profile: GET %s: %s", url, resp.Status)
		return
	}
	f, err := os.Create(b.cfg.serverProfile)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		err = cmpOr(err, f.Close())
	}
	if err != nil {
		b.logf("server profile: %v", err)
		return
	}
	b.logf("server profile written to %s", b.cfg.serverProfile)
}
