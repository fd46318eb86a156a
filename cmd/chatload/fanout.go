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

// interval is the time between two sends of one publisher, or 0 when
// publishers send as fast as acks come back.
func (s fanoutSpec) interval() time.Duration {
	if s.rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) * float64(s.pubs) / s.rate)
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
	loadAvg          float64 // the 1-minute load average at the end
}

// span is the measured window on the generator's clock, in ns; both ends
// are MaxInt64 until set.
type span struct{ start, end atomic.Int64 }

func (s *span) contains(t int64) bool { return t >= s.start.Load() && t < s.end.Load() }

const joinID = 1

// errSessionEnded is how a subscriber or publisher ends when the server
// ends the session inside the WebSocket (Socket.IO's disconnect).
var errSessionEnded = errors.New("session ended by the server")

// A subscriber checks the messages of each stream apart: the chat server
// numbers a room's messages (one stream, the room's seq), while on Socket.IO
// each publisher's count of sends, which its texts carry, is a stream.
type subscriber struct {
	b       *bench
	w       *span
	proto   protocol
	conn    *wsConn    // nil when a reactor receives for it
	out     textSender // where answers to the server go: conn, or the reactor's socket
	origin  int
	lastSeq []atomic.Int64 // per stream, the last seq received; -1 until joined
	joined  chan struct{}
	done    chan struct{}
	err     error // why receiving ended; set before done closes

	// Owned by the receive path (run, or the reactor loop that has the
	// connection) until done closes.
	last             []int64 // per stream; -1 until the first message or the join reply
	hasJoined        bool
	delivered        uint64
	gaps, dupes, ooo uint64
	lat, latCross    hist
	// rxAt is the kernel's receive time of the read the frame came in, on
	// the generator's clock, or 0 (-kernel-rx off, or not on a reactor).
	rxAt  int64
	latRx hist
	// ev is the event being parsed: here rather than on frame's stack, which
	// it would leave for the heap, on every frame, through proto.next.
	ev event
}

func newSubscriber(b *bench, w *span, origin int, proto protocol, streams int) *subscriber {
	s := &subscriber{b: b, w: w, proto: proto, origin: origin, joined: make(chan struct{}), done: make(chan struct{}),
		last: make([]int64, streams), lastSeq: make([]atomic.Int64, streams)}
	for i := range streams {
		s.last[i] = -1
		s.lastSeq[i].Store(-1)
	}
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
		if buf, err = readFrame(s.conn.Conn, buf); err != nil {
			s.err = err
			return
		}
		if err = s.frame(buf); err != nil {
			s.err = err
			return
		}
	}
}

// message and ended make s the handler of a reactor's connection.
func (s *subscriber) message(payload []byte) error { return s.frame(payload) }

func (s *subscriber) ended(err error) {
	s.err = err
	close(s.done)
}

// frame processes one frame of server events, on whichever receive path got
// it. An error ends the subscriber.
func (s *subscriber) frame(buf []byte) error {
	now := s.b.now()
	ws, we := s.w.start.Load(), s.w.end.Load()
	in := now >= ws && now < we
	ev := &s.ev
	for rest := buf; len(rest) > 0; {
		switch rest = s.proto.next(rest, ev); ev.kind {
		case kindMessage:
			if in {
				s.delivered++
			}
			if uint(ev.stream) >= uint(len(s.last)) {
				continue // not a stream of this run: counted, not checked
			}
			last := &s.last[ev.stream]
			switch gap := ev.seq - *last - 1; {
			case *last < 0 || gap == 0:
			case gap > 0:
				s.gaps += uint64(gap)
			case ev.seq == *last:
				s.dupes++
				continue
			default:
				s.ooo++
				continue
			}
			*last = ev.seq
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
			for i, l := range s.last {
				if l < 0 {
					s.last[i] = ev.seq
				}
			}
			s.hasJoined = true
			s.storeLast()
			close(s.joined)
		case kindPing:
			if err := s.out.sendText(s.proto.pong()); err != nil {
				return err
			}
		case kindClose:
			return errSessionEnded
		}
	}
	if s.hasJoined {
		s.storeLast()
	}
	return nil
}

// storeLast publishes the last seq of every stream to lastSeq.
func (s *subscriber) storeLast() {
	for i, l := range s.last {
		s.lastSeq[i].Store(l)
	}
}

type publisher struct {
	conn   *wsConn
	origin int
	index  int // in its scenario: the pub of its texts' stamps, and its stream on Socket.IO
	cid    string
	slots  chan int // free slots of the send window
	sentID []atomic.Int64
	sentAt []atomic.Int64
	// maxSeq is the highest seq acked: the room's, or the publisher's own
	// count of sends where the protocol checks per publisher.
	maxSeq atomic.Int64
	done   chan struct{}
	err    error // why the read loop ended
	// onReply, when set before run starts, is called by the read loop with
	// every reply to one of p's commands, before the command's slot is freed.
	onReply func(ev *event)

	// Owned by the read loop until done closes.
	acked, ackedIn uint64
	errs           map[string]int
	ack            hist
}

func newPublisher(c *wsConn, origin int, cid string, window int) *publisher {
	p := &publisher{conn: c, origin: origin, cid: cid, slots: make(chan int, window),
		sentID: make([]atomic.Int64, window), sentAt: make([]atomic.Int64, window),
		done: make(chan struct{}), errs: map[string]int{}}
	for s := range window {
		p.slots <- s
	}
	return p
}

// send writes commands until stop closes, each as soon as a window slot is
// free, and when interval > 0 on a schedule of one per interval (the first at
// offset), catching up after a wait for the window. A command's id encodes its
// slot and the count n of the publisher's sends: id = n*window + slot.
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
		buf = p.conn.proto.appendSend(buf[:0], id, room, stamp{sentAt: at, origin: p.origin, pub: p.index, n: n}, size, p.cid)
		if err := p.conn.sendText(buf); err != nil {
			return err
		}
	}
}

func (p *publisher) run(b *bench, w *span) {
	defer close(p.done)
	window := int64(len(p.sentID))
	proto := p.conn.proto
	ownSeq := proto.perPublisher()
	var (
		buf []byte
		ev  event
		err error
	)
	for {
		if buf, err = readFrame(p.conn.Conn, buf); err != nil {
			p.err = err
			return
		}
		now := b.now()
		in := w.contains(now)
		for rest := buf; len(rest) > 0; {
			switch rest = proto.next(rest, &ev); {
			case ev.kind == kindPing:
				if err := p.conn.sendText(proto.pong()); err != nil {
					p.err = err
					return
				}
				continue
			case ev.kind == kindClose:
				p.err = errSessionEnded
				return
			case ev.kind != kindReply || ev.re <= 0:
				continue
			}
			slot := int(ev.re % window)
			if p.sentID[slot].Load() != ev.re {
				continue
			}
			if p.onReply != nil {
				p.onReply(&ev)
			}
			if at := p.sentAt[slot].Load(); w.contains(at) {
				p.ack.record(now - at)
			}
			if ev.ok {
				p.acked++
				if in {
					p.ackedIn++
				}
				if ownSeq {
					ev.seq = ev.re / window
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
	f, err := b.newFanoutRun(spec)
	if err != nil {
		return nil, err
	}
	defer f.close()
	if err := f.connect(ctx); err != nil {
		return nil, err
	}
	f.warmUp(ctx)
	if err := f.measure(ctx); err != nil {
		return nil, err
	}
	f.drain()
	return f.report(), nil
}

// fanoutRun is one run of a fan-out scenario, a method for each phase in
// order: connect opens the subscribers and publishers, warmUp starts the
// sends, measure times the window, drain waits for what is in flight, and
// report tallies the result. close ends every connection and goroutine the
// run started, whichever phase it reached.
type fanoutRun struct {
	b    *bench
	spec fanoutSpec
	res  *fanoutResult
	w    *span
	rx   *reactor // subscribers' epoll loops; nil when each has a goroutine
	join []byte   // the command subscribers join the room with

	// Filled by connect, each by the goroutine that opened it; nil until it
	// is open.
	subs []*subscriber
	pubs []*publisher

	sends       *sendLoops         // nil until warmUp
	profile     sync.WaitGroup     // the server profile taken during measure
	stopProfile context.CancelFunc // nil unless a profile is being taken
}

func (b *bench) newFanoutRun(spec fanoutSpec) (*fanoutRun, error) {
	var nonce [4]byte
	rand.Read(nonce[:])
	res := &fanoutResult{spec: spec, room: "bench-" + spec.name + "-" + hex.EncodeToString(nonce[:]),
		closed: map[string]int{}, sendErrs: map[string]int{}}
	w := &span{}
	w.start.Store(math.MaxInt64)
	w.end.Store(math.MaxInt64)
	f := &fanoutRun{b: b, spec: spec, res: res, w: w,
		join: b.targets[0].proto.appendJoin(nil, joinID, res.room),
		subs: make([]*subscriber, spec.subs), pubs: make([]*publisher, spec.pubs)}
	// Subscribers receive on epoll loops (reactor_linux.go) where the system
	// has epoll and the target is plain ws://.
	var err error
	if f.rx, err = b.reactor(b.cfg.kernelRx); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	return f, nil
}

// reactor starts the epoll loops of a scenario, -epoll-loops of them, or
// returns nil with -epoll=false or where there is no epoll.
func (b *bench) reactor(kernelRx bool) (*reactor, error) {
	if !b.cfg.epoll {
		return nil, nil
	}
	loops := b.cfg.epollLoops
	if loops <= 0 {
		loops = epollLoops()
	}
	return newReactor(loops, kernelRx)
}

// connect is the set-up: it opens every subscriber, each joined to the room,
// then every publisher.
func (f *fanoutRun) connect(ctx context.Context) error {
	f.b.logf("%s: connecting %d subscribers to room %s", f.spec.name, f.spec.subs, f.res.room)
	if err := forEach(f.spec.subs, f.b.cfg.dialPar, func(i int) error { return f.subscribe(ctx, i) }); err != nil {
		return err
	}
	return forEach(f.spec.pubs, f.b.cfg.dialPar, func(i int) error { return f.addPublisher(ctx, i) })
}

// subscribe opens subscriber i, on a reactor loop or on a goroutine of its
// own, and waits for the server to accept its join.
func (f *fanoutRun) subscribe(ctx context.Context, i int) error {
	origin := i % len(f.b.targets)
	t, token := f.b.targets[origin], f.b.tokens[i%len(f.b.tokens)]
	s := newSubscriber(f.b, f.w, origin, t.proto, f.streams())
	if f.rx != nil && strings.HasPrefix(t.wsURL, "ws:") {
		if err := f.rx.subscribe(ctx, t, token, s, f.join); err != nil {
			return err
		}
		f.subs[i] = s
	} else {
		c, err := dialConn(ctx, t, token)
		if err != nil {
			return err
		}
		s.conn, s.out = c, c
		f.subs[i] = s
		go s.run()
		if err := c.sendText(f.join); err != nil {
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
}

// addPublisher opens publisher i and starts its read loop.
func (f *fanoutRun) addPublisher(ctx context.Context, i int) error {
	origin := i % len(f.b.targets)
	c, err := dialConn(ctx, f.b.targets[origin], f.b.tokens[i%len(f.b.tokens)])
	if err != nil {
		return err
	}
	p := newPublisher(c, origin, fmt.Sprintf("p%d-", i), f.spec.window)
	p.index = i
	f.pubs[i] = p
	go p.run(f.b, f.w)
	return nil
}

// warmUp starts the publishers' send loops and lets them run for the
// warm-up, before anything is measured.
func (f *fanoutRun) warmUp(ctx context.Context) {
	f.b.logf("%s: %d publishers sending (%s), warm-up %v, measuring %v",
		f.spec.name, f.spec.pubs, rateString(f.spec.rate), f.spec.warmup, f.spec.duration)
	f.sends = startSendLoops(f.b, f.pubs, f.res.room, f.spec)
	sleepCtx(ctx, f.spec.warmup)
}

// measure opens the window, keeps it open for the scenario's duration, with
// a server profile alongside when one is asked for, and takes the CPU the
// servers and the generator used in it. Then it stops the sends.
func (f *fanoutRun) measure(ctx context.Context) error {
	srv0, gen0 := f.b.cpu()
	f.w.start.Store(f.b.now())
	t0 := time.Now()
	if f.b.cfg.serverProfile != "" && f.spec.rate == 0 {
		pctx, cancel := context.WithCancel(ctx)
		f.stopProfile = cancel
		f.profile.Go(func() { f.b.fetchProfile(pctx, f.spec.duration) })
	}
	sleepCtx(ctx, f.spec.duration)
	f.w.end.Store(f.b.now())
	f.res.window = time.Since(t0)
	srv1, gen1 := f.b.cpu()
	f.res.srvCPU = (srv1 - srv0).Seconds() / f.res.window.Seconds()
	f.res.genCPU = (gen1 - gen0).Seconds() / f.res.window.Seconds()
	if err := f.sends.stop(); err != nil {
		return fmt.Errorf("%s: sending: %w", f.spec.name, err)
	}
	return nil
}

// streams is how many streams of seqs the subscribers check: the room's,
// or one per publisher.
func (f *fanoutRun) streams() int {
	if f.b.targets[0].proto.perPublisher() {
		return f.spec.pubs
	}
	return 1
}

// drain waits, up to the scenario's drain in all, for the acks in flight,
// then for every subscriber to reach the newest acked seq of every stream,
// and counts what they did not reach as lost.
func (f *fanoutRun) drain() {
	deadline := time.Now().Add(f.spec.drain)
	for _, p := range f.pubs {
		for len(p.slots) < f.spec.window && time.Now().Before(deadline) && !isDone(p.done) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	maxSeq := make([]int64, f.streams())
	for _, p := range f.pubs {
		st := 0
		if f.b.targets[0].proto.perPublisher() {
			st = p.index
		}
		maxSeq[st] = max(maxSeq[st], p.maxSeq.Load())
	}
	for _, s := range f.subs {
		for st, want := range maxSeq {
			for s.lastSeq[st].Load() < want && time.Now().Before(deadline) && !isDone(s.done) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	for _, s := range f.subs {
		for st, want := range maxSeq {
			if behind := want - s.lastSeq[st].Load(); behind > 0 {
				f.res.lost += uint64(behind)
			}
		}
	}
}

// report is the tear-down: it notes the connections the server ended, closes
// the rest and adds up what the subscribers and publishers counted.
func (f *fanoutRun) report() *fanoutResult {
	res := f.res
	res.loadAvg = loadAvg1()
	f.profile.Wait()
	// Read loops that ended before this point were ended by the server.
	for _, s := range f.subs {
		if isDone(s.done) {
			res.closed[closeReason(s.err)]++
		}
	}
	for _, p := range f.pubs {
		if isDone(p.done) {
			res.closed[closeReason(p.err)]++
		}
	}
	f.close()
	for _, s := range f.subs {
		res.delivered += s.delivered
		res.gaps += s.gaps
		res.dupes += s.dupes
		res.ooo += s.ooo
		res.lat.merge(&s.lat)
		res.latCross.merge(&s.latCross)
		res.latRx.merge(&s.latRx)
	}
	for _, p := range f.pubs {
		res.sends += p.ackedIn
		res.ack.merge(&p.ack)
		for code, n := range p.errs {
			res.sendErrs[code] += n
		}
	}
	return res
}

// close ends every connection of the run and waits for their read loops,
// then stops the sends and the server profile if they still run. It may be
// called more than once.
func (f *fanoutRun) close() {
	if f.rx != nil {
		f.rx.close() // ends every subscriber it has
	}
	for _, s := range f.subs {
		if s != nil {
			if s.conn != nil {
				s.conn.Close()
			}
			<-s.done
		}
	}
	for _, p := range f.pubs {
		if p != nil {
			p.conn.Close()
			<-p.done
		}
	}
	if f.sends != nil {
		// measure reports the sends' error; past it, the sends end with
		// errors of the connections closed above.
		_ = f.sends.stop()
	}
	if f.stopProfile != nil {
		f.stopProfile()
	}
	f.profile.Wait()
}

// sendLoops runs the send loop of every publisher of a run, each on a
// goroutine of its own, until stop.
type sendLoops struct {
	done    chan struct{} // closed by stop
	stopped sync.Once
	wg      sync.WaitGroup
	err     atomic.Pointer[error] // the first error a send loop ended with
}

func startSendLoops(b *bench, pubs []*publisher, room string, spec fanoutSpec) *sendLoops {
	l := &sendLoops{done: make(chan struct{})}
	interval := spec.interval()
	for i, p := range pubs {
		offset := interval * time.Duration(i) / time.Duration(spec.pubs)
		l.wg.Go(func() {
			if err := p.send(b, room, spec.size, interval, offset, l.done); err != nil {
				l.err.CompareAndSwap(nil, &err)
			}
		})
	}
	return l
}

// stop ends the send loops, waits for them and returns the first error one
// of them ended with.
func (l *sendLoops) stop() error {
	l.stopped.Do(func() { close(l.done) })
	l.wg.Wait()
	if e := l.err.Load(); e != nil {
		return *e
	}
	return nil
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
