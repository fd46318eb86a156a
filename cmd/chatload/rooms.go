package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The rooms scenario measures the room list of a user in many busy rooms:
// GET /api/rooms with each room's read position, unread and mention counts.

const (
	// roomsMentionEvery: every this many rounds of messages over the rooms,
	// a round mentions the measured user.
	roomsMentionEvery = 10
	// roomsReplyTimeout bounds the wait for a reply to any one command.
	roomsReplyTimeout = 30 * time.Second
)

// roomsPlan is what the rooms scenario sends. Message k goes to room
// k % rooms, in round k / rooms; publisher p sends the messages of span(p),
// as user p % users. User 0 is the measured one: it sends too (its own
// messages are never unread), is mentioned in every roomsMentionEvery-th
// round and reads every other room.
type roomsPlan struct {
	prefix                       string // room ids are prefix and a number
	rooms, messages, pubs, users int
	user                         string // the measured user's id
	size                         int    // bytes of message text
}

// total is the number of messages.
func (pl roomsPlan) total() int { return pl.rooms * pl.messages }

// room is the id of room i.
func (pl roomsPlan) room(i int) string { return fmt.Sprintf("%s%04d", pl.prefix, i) }

// span is the range of messages publisher p sends: whole rounds over every
// room as long as there are more rounds than publishers, so that each room
// gets messages from each of them.
func (pl roomsPlan) span(p int) (from, to int) {
	n := pl.total()
	return p * n / pl.pubs, (p + 1) * n / pl.pubs
}

// own reports whether publisher p sends as the measured user.
func (pl roomsPlan) own(p int) bool { return p%pl.users == 0 }

// mentions reports whether message k mentions the measured user.
func (pl roomsPlan) mentions(k int) bool { return k/pl.rooms%roomsMentionEvery == 0 }

// readSeq is where the measured user reads room i to, given the room's last
// seq: every other room, at a position that varies from room to room up to
// the last message; 0 for the others.
func (pl roomsPlan) readSeq(i int, last int64) int64 {
	if i%2 == 1 || last == 0 {
		return 0
	}
	return 1 + int64(i/2*37)%last
}

// appendSend appends the send command of message k: its number, the
// mention when it has one, then padding to the text size.
func (pl roomsPlan) appendSend(dst []byte, id int64, k int) []byte {
	dst = append(dst, `{"type":"send","id":`...)
	dst = appendInt(dst, id)
	dst = append(dst, `,"room":"`...)
	dst = append(dst, pl.room(k%pl.rooms)...)
	dst = append(dst, `","text":"`...)
	start := len(dst)
	dst = appendInt(dst, int64(k))
	if pl.mentions(k) {
		dst = append(dst, " @"...)
		dst = append(dst, pl.user...)
	}
	dst = append(dst, ' ')
	for len(dst)-start < pl.size {
		dst = append(dst, 'x')
	}
	dst = append(dst, `","cid":"r`...)
	dst = appendInt(dst, int64(k))
	return append(dst, `"}`...)
}

// roomCounts is one room of the measured user's room list.
type roomCounts struct{ lastSeq, readSeq, unread, mentions int64 }

func (c roomCounts) String() string {
	return fmt.Sprintf("last_seq %d, read_seq %d, unread %d, mentions %d", c.lastSeq, c.readSeq, c.unread, c.mentions)
}

// want is what the room list must say of each room of the plan, given the
// seq each message was stored with (0: not stored), once the measured user
// has read to readSeq.
func (pl roomsPlan) want(seqs []int64) map[string]roomCounts {
	counts := make([]roomCounts, pl.rooms)
	for k, s := range seqs {
		c := &counts[k%pl.rooms]
		c.lastSeq = max(c.lastSeq, s)
	}
	for i := range counts {
		counts[i].readSeq = pl.readSeq(i, counts[i].lastSeq)
	}
	for p := range pl.pubs {
		if pl.own(p) {
			continue
		}
		from, to := pl.span(p)
		for k := from; k < to; k++ {
			if c := &counts[k%pl.rooms]; seqs[k] > c.readSeq {
				c.unread++
				if pl.mentions(k) {
					c.mentions++
				}
			}
		}
	}
	want := make(map[string]roomCounts, pl.rooms)
	for i, c := range counts {
		want[pl.room(i)] = c
	}
	return want
}

// checkRooms checks a GET /api/rooms answer against want, every room of
// which it must list, as public and with those counts; other rooms are
// ignored. It returns how many rooms the answer lists.
func checkRooms(body []byte, want map[string]roomCounts) (int, error) {
	var answer struct {
		Rooms []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			LastSeq  int64  `json:"last_seq"`
			ReadSeq  int64  `json:"read_seq"`
			Unread   int64  `json:"unread"`
			Mentions int64  `json:"mentions"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return 0, fmt.Errorf("not a room list: %w", err)
	}
	seen := make(map[string]bool, len(want))
	var wrong []string
	for _, r := range answer.Rooms {
		w, ok := want[r.ID]
		if !ok {
			continue
		}
		if seen[r.ID] {
			return 0, fmt.Errorf("room %s is listed twice", r.ID)
		}
		seen[r.ID] = true
		if got := (roomCounts{r.LastSeq, r.ReadSeq, r.Unread, r.Mentions}); r.Kind != "public" || got != w {
			wrong = append(wrong, fmt.Sprintf("%s: %s, %s; want public, %s", r.ID, r.Kind, got, w))
		}
	}
	if len(seen) < len(want) {
		return 0, fmt.Errorf("%d of the %d rooms are missing from %d listed", len(want)-len(seen), len(want), len(answer.Rooms))
	}
	if len(wrong) > 0 {
		return 0, fmt.Errorf("%d rooms are wrong, such as %s", len(wrong), strings.Join(wrong[:min(len(wrong), 3)], "; "))
	}
	return len(answer.Rooms), nil
}

// roomsResult is what the rooms scenario measured.
type roomsResult struct {
	plan     roomsPlan
	setup    time.Duration // from the first connection to the last read acknowledged
	sendRate float64       // messages acknowledged per second while filling the rooms
	closed   map[string]int
	sendErrs map[string]int // refused sends and reads

	// Of the timed requests; none when the set-up failed.
	requests    int
	lat         hist
	busy        time.Duration // the requests' times added up
	srvCPU      time.Duration // what the servers used meanwhile
	listed      int           // rooms in the last right answer
	answerBytes int
	wrong       int    // answers that were not 200 or not right
	firstWrong  string // what was wrong with the first of them
}

// requestRate is requests per second of request time: one after another,
// the inverse of the mean.
func (r *roomsResult) requestRate() float64 {
	if r.busy <= 0 {
		return 0
	}
	return float64(r.requests) / r.busy.Seconds()
}

// runRooms fills the rooms, has the measured user read half of them, and
// times its room list.
func (b *bench) runRooms(ctx context.Context) (*roomsResult, error) {
	cfg := b.cfg
	if cfg.users < 2 || cfg.roomsPubs < 2 || cfg.roomsRooms < 1 || cfg.roomsMessages < 1 || cfg.roomsRequests < 1 {
		return nil, fmt.Errorf("rooms: needs -users and -rooms-pubs of 2 or more, and rooms, messages and requests")
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	pl := roomsPlan{prefix: "bench-rooms-" + hex.EncodeToString(nonce[:]) + "-", rooms: cfg.roomsRooms,
		messages: cfg.roomsMessages, pubs: cfg.roomsPubs, users: cfg.users, user: b.userID(0), size: cfg.size}
	res := &roomsResult{plan: pl, closed: map[string]int{}, sendErrs: map[string]int{}}
	want, err := b.fillRooms(ctx, res)
	if err != nil || len(res.closed)+len(res.sendErrs) > 0 {
		return res, err
	}
	b.waitQuiet(ctx) // the store's writes behind it, such as checkpoints
	return res, b.timeRooms(ctx, res, want)
}

// fillRooms is the set-up: the publishers send every message of the plan,
// then the measured user reads. It returns the room list the measured user
// must then get, or nil when the server ended a connection or refused a
// command, which res then tells.
func (b *bench) fillRooms(ctx context.Context, res *roomsResult) (map[string]roomCounts, error) {
	f := &roomsFill{b: b, res: res, seqs: make([]int64, res.plan.total())}
	defer f.close()
	t0 := time.Now()
	if err := f.connect(ctx); err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	if err := f.send(ctx); f.ended() || err != nil {
		return nil, f.failure("sending", err)
	}
	want := res.plan.want(f.seqs)
	if err := f.read(ctx, want); f.ended() || err != nil {
		return nil, f.failure("reading", err)
	}
	res.setup = time.Since(t0)
	f.close()
	for _, p := range f.pubs {
		for code, n := range p.errs {
			res.sendErrs[code] += n
		}
	}
	return want, nil
}

// roomsFill is the set-up of one rooms run, a method for each phase in
// order; close ends the publishers whichever phase it reached.
type roomsFill struct {
	b    *bench
	res  *roomsResult
	pubs []*publisher // each nil until it is open
	// seqs holds the seq each message was stored with, each written by the
	// read loop of the publisher that sent it.
	seqs []int64
}

// connect opens the publishers, publisher i as user i % users, and starts
// their read loops.
func (f *roomsFill) connect(ctx context.Context) error {
	pl, window := f.res.plan, f.b.cfg.window
	f.b.logf("rooms: %d publishers filling %d rooms %s* with %d messages each", pl.pubs, pl.rooms, pl.prefix, pl.messages)
	f.pubs = make([]*publisher, pl.pubs)
	return forEach(pl.pubs, f.b.cfg.dialPar, func(i int) error {
		origin := i % len(f.b.targets)
		c, err := dialConn(ctx, f.b.targets[origin], f.b.tokens[i%pl.users])
		if err != nil {
			return err
		}
		p := newPublisher(c, origin, "", window)
		p.onReply = func(ev *event) {
			// Reads are numbered past the sends.
			if k := int(ev.re/int64(window)) - 1; ev.ok && k < len(f.seqs) {
				f.seqs[k] = ev.seq
			}
		}
		f.pubs[i] = p
		go p.run(f.b, &span{}) // a window that never opens: nothing is timed
		return nil
	})
}

// send has every publisher send its span of the plan.
func (f *roomsFill) send(ctx context.Context) error {
	pl := f.res.plan
	t0 := time.Now()
	err := forEach(pl.pubs, pl.pubs, func(i int) error {
		from, to := pl.span(i)
		return f.pubs[i].pipeline(ctx, from, to, pl.appendSend)
	})
	f.res.sendRate = float64(pl.total()) / time.Since(t0).Seconds()
	return err
}

// read has the measured user, publisher 0, read the rooms want reads.
func (f *roomsFill) read(ctx context.Context, want map[string]roomCounts) error {
	pl := f.res.plan
	var rooms []string
	for i := range pl.rooms {
		if want[pl.room(i)].readSeq > 0 {
			rooms = append(rooms, pl.room(i))
		}
	}
	f.b.logf("rooms: %.0f sends/s; %s reads %d rooms", f.res.sendRate, pl.user, len(rooms))
	n := pl.total()
	return f.pubs[0].pipeline(ctx, n, n+len(rooms), func(dst []byte, id int64, k int) []byte {
		return appendRead(dst, id, rooms[k-n], want[rooms[k-n]].readSeq)
	})
}

// ended notes the publishers the server disconnected and reports whether
// there were any.
func (f *roomsFill) ended() bool {
	for _, p := range f.pubs {
		if isDone(p.done) {
			f.res.closed[closeReason(p.err)]++
		}
	}
	return len(f.res.closed) > 0
}

// failure is what a phase that ended with err returns: nothing when the
// server disconnected a publisher (res tells it), else err.
func (f *roomsFill) failure(phase string, err error) error {
	if len(f.res.closed) > 0 {
		return nil
	}
	return fmt.Errorf("rooms: %s: %w", phase, err)
}

// close ends every publisher and waits for its read loop. It may be called
// more than once.
func (f *roomsFill) close() {
	for _, p := range f.pubs {
		if p != nil {
			p.conn.Close()
			<-p.done
		}
	}
}

// appendRead appends a read command.
func appendRead(dst []byte, id int64, room string, seq int64) []byte {
	dst = append(dst, `{"type":"read","id":`...)
	dst = appendInt(dst, id)
	dst = append(dst, `,"room":"`...)
	dst = append(dst, room...)
	dst = append(dst, `","seq":`...)
	dst = appendInt(dst, seq)
	return append(dst, '}')
}

// pipeline writes the commands k in [from, to) on p, each as soon as a slot
// of p's window is free, with the id (k+1)*window + slot, and returns once
// every one of them has been answered. p's read loop must be running.
func (p *publisher) pipeline(ctx context.Context, from, to int, appendCmd func(dst []byte, id int64, k int) []byte) error {
	window := len(p.sentID)
	take := func() (int, error) {
		select {
		case slot := <-p.slots:
			return slot, nil
		default:
		}
		select {
		case slot := <-p.slots:
			return slot, nil
		case <-p.done:
			return 0, fmt.Errorf("connection ended: %s", closeReason(p.err))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(roomsReplyTimeout):
			return 0, fmt.Errorf("no reply within %v", roomsReplyTimeout)
		}
	}
	var buf []byte
	for k := from; k < to; k++ {
		slot, err := take()
		if err != nil {
			return err
		}
		id := int64(k+1)*int64(window) + int64(slot)
		p.sentID[slot].Store(id)
		buf = appendCmd(buf[:0], id, k)
		if err := p.conn.sendText(buf); err != nil {
			return err
		}
	}
	// Every slot back is every command answered; they go back for the next
	// pipeline.
	slots := make([]int, 0, window)
	defer func() {
		for _, s := range slots {
			p.slots <- s
		}
	}()
	for range window {
		slot, err := take()
		if err != nil {
			return err
		}
		slots = append(slots, slot)
	}
	return nil
}

// timeRooms gets the measured user's room list once untimed, then the
// scenario's number of times one after another, each timed from the
// request to the answer's last byte and checked after.
func (b *bench) timeRooms(ctx context.Context, res *roomsResult, want map[string]roomCounts) error {
	n := b.cfg.roomsRequests
	b.logf("rooms: timing %d GET /api/rooms as %s", n, res.plan.user)
	var body bytes.Buffer
	get := func(i int) (time.Duration, error) {
		t := b.targets[i%len(b.targets)]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/api/rooms", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+b.tokens[0])
		body.Reset()
		start := time.Now()
		resp, err := httpClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("rooms: %w", err)
		}
		_, err = body.ReadFrom(resp.Body)
		d := time.Since(start)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("rooms: GET %s/api/rooms: %w", t.base, err)
		}
		res.check(resp.StatusCode, body.Bytes(), want)
		return d, nil
	}
	if _, err := get(0); err != nil { // warms the server's caches and the connection
		return err
	}
	srv0, _ := b.cpu()
	for i := range n {
		d, err := get(i)
		if err != nil {
			return err
		}
		res.requests++
		res.lat.record(int64(d))
		res.busy += d
	}
	srv1, _ := b.cpu()
	res.srvCPU = srv1 - srv0
	return nil
}

// check records whether one answer was right.
func (r *roomsResult) check(status int, body []byte, want map[string]roomCounts) {
	listed, err := checkRooms(body, want)
	if status != http.StatusOK {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	if err != nil {
		if r.wrong++; r.wrong == 1 {
			r.firstWrong = err.Error()
		}
		return
	}
	r.listed, r.answerBytes = listed, len(body)
}

// reportRooms prints the rooms scenario's table and returns 1 when it
// failed, else 0.
func (b *bench) reportRooms(out io.Writer, r *roomsResult) int {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trooms\tmessages\tsetup\tsends/s\tlisted\tanswer\trequests\tp50\tp99\tmax\trequests/s\tsrv cpu/req\ttarget\t")
	met := r.requests > 0 && r.lat.quantile(0.99) <= b.cfg.targetRoomsP99
	cpu := "-"
	if len(b.pids) > 0 && r.requests > 0 {
		cpu = ms(r.srvCPU / time.Duration(r.requests))
	}
	fmt.Fprintf(tw, "rooms\t%d\t%d\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\tp99 <= %v %s\t\n",
		r.plan.rooms, r.plan.total(), seconds(r.setup), human(r.sendRate), r.listed, kib(r.answerBytes), r.requests,
		ms(r.lat.quantile(0.5)), ms(r.lat.quantile(0.99)), ms(time.Duration(r.lat.max)),
		strconv.FormatFloat(r.requestRate(), 'f', 1, 64), cpu, b.cfg.targetRoomsP99, verdict(met))
	tw.Flush()
	code := 0
	fail := func(format string, args ...any) {
		fmt.Fprintf(out, "rooms: FAIL: "+format+"\n", args...)
		code = 1
	}
	if len(r.closed) > 0 {
		fail("connections ended by the server: %s", counts(r.closed))
	}
	if len(r.sendErrs) > 0 {
		fail("sends or reads refused: %s", counts(r.sendErrs))
	}
	if r.wrong > 0 {
		fail("%d of %d answers were wrong; the first: %s", r.wrong, r.requests+1, r.firstWrong)
	}
	if r.requests == 0 {
		fail("no request was timed")
	}
	fmt.Fprintln(out)
	return code
}

// seconds writes a duration in seconds with one decimal.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// kib writes a size in KiB with one decimal.
func kib(n int) string {
	return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
}
