package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// The durable scenario measures what a durable acknowledgement costs beside
// the disk itself: the time from a send to its reply at a modest rate, on a
// server that fsyncs before it acknowledges (embedded mode, CHAT_FSYNC=true),
// against a bare write of the same size and fdatasync on a file of the
// scenario's own in the server's data directory, timed in the same run,
// round by round.

// durableConfig is the durable scenario's settings.
type durableConfig struct {
	dir      string        // the server's data directory
	rounds   int           // rounds of each variant
	pubs     int           // publishers of the second variant
	interval time.Duration // from the start of one round to the next
	target   float64       // the highest ack p99 ÷ fdatasync p99 that meets the target
}

// durableFlags holds the settings from the command line, registered beside
// main's flags.
var durableFlags = registerDurableFlags(flag.CommandLine)

func registerDurableFlags(fs *flag.FlagSet) *durableConfig {
	c := &durableConfig{}
	fs.StringVar(&c.dir, "fsync-dir", "", "durable: the data directory of the (first) server, in embedded mode: the scenario reads the store's WAL there and times fdatasync on a file of its own there")
	fs.IntVar(&c.rounds, "durable-rounds", 300, "durable: rounds of each variant; each round, every publisher sends one message and waits for its ack, and the probe writes and fdatasyncs once")
	fs.IntVar(&c.pubs, "durable-pubs", 4, "durable: publishers of the second variant (the first has one)")
	fs.DurationVar(&c.interval, "durable-interval", 20*time.Millisecond, "durable: time from the start of one round to the next")
	fs.Float64Var(&c.target, "target-durable-ratio", 2, "durable: target ack p99 ÷ fdatasync p99")
	return c
}

const (
	// durableCalibration is how many sends, one at a time, precede the
	// rounds; after each, the probe's size is read from the store's WAL.
	durableCalibration = 10
	// durableReplyTimeout bounds the wait for one ack.
	durableReplyTimeout = 10 * time.Second
	// walHeader and walFrameHeader are SQLite's WAL file and frame headers.
	walHeader      = 32
	walFrameHeader = 24
)

// durableResult is what the durable scenario measured.
type durableResult struct {
	dir        string
	pageSize   int // of the store
	frames     int // WAL frames of one send's commit (the median of the calibration)
	probeBytes int // what each probe writes: frames of a page and a header each
	variants   []durableVariant
}

// durableVariant is one variant's rounds: pubs publishers with one send in
// flight each.
type durableVariant struct {
	pubs       int
	ack, probe hist
	errs       map[string]int
}

// ratio is ack p99 ÷ fdatasync p99; 0 when either is missing.
func (v *durableVariant) ratio() float64 {
	if v.ack.n == 0 || v.probe.n == 0 {
		return 0
	}
	return float64(v.ack.quantile(0.99)) / float64(v.probe.quantile(0.99))
}

// runDurable runs the durable scenario: the calibration, then the rounds of
// one publisher, then those of c.pubs publishers.
func (b *bench) runDurable(ctx context.Context, c *durableConfig) (*durableResult, error) {
	if c.dir == "" {
		return nil, errors.New("durable: -fsync-dir must name the server's data directory")
	}
	wal := filepath.Join(c.dir, sqlite.FileName+"-wal")
	if _, _, err := lastWALCommit(wal); err != nil {
		return nil, fmt.Errorf("durable: %w (is -fsync-dir the data directory of a server in embedded mode?)", err)
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	room := "bench-durable-" + hex.EncodeToString(nonce[:])
	pubs := make([]*durablePublisher, max(c.pubs, 1))
	defer func() {
		for _, p := range pubs {
			if p != nil {
				p.conn.Close()
			}
		}
	}()
	err := forEach(len(pubs), b.cfg.dialPar, func(i int) error {
		conn, err := dial(ctx, b.targets[0], b.tokens[i%len(b.tokens)])
		if err != nil {
			return err
		}
		pubs[i] = &durablePublisher{conn: conn, room: room, cid: fmt.Sprintf("d%x-%d-", nonce, i), size: b.cfg.size}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &durableResult{dir: c.dir}
	if res.pageSize, res.frames, err = calibrate(ctx, pubs[0], wal); err != nil {
		return nil, err
	}
	res.probeBytes = res.frames * (walFrameHeader + res.pageSize)
	probe, err := newSyncProbe(c.dir, res.probeBytes)
	if err != nil {
		return nil, err
	}
	defer probe.close()
	for _, n := range []int{1, len(pubs)} {
		b.logf("durable: %d round(s) of %d publisher(s), one send in flight each, every %v, with a write of %d bytes and fdatasync between rounds",
			c.rounds, n, c.interval, res.probeBytes)
		v, err := durableRounds(ctx, pubs[:n], probe, c.rounds, c.interval)
		if err != nil {
			return nil, err
		}
		res.variants = append(res.variants, v)
	}
	return res, nil
}

// calibrate sends durableCalibration messages one at a time and returns the
// store's page size and the median number of WAL frames of the last commit
// after each: what one send adds to the WAL.
func calibrate(ctx context.Context, p *durablePublisher, wal string) (pageSize, frames int, err error) {
	counts := make([]int, 0, durableCalibration)
	for range durableCalibration {
		if _, err := p.sendOne(ctx); err != nil {
			return 0, 0, fmt.Errorf("durable: %w", err)
		}
		var n int
		if pageSize, n, err = lastWALCommit(wal); err != nil {
			return 0, 0, fmt.Errorf("durable: %w", err)
		}
		if n > 0 {
			counts = append(counts, n)
		}
	}
	if len(counts) == 0 {
		return 0, 0, fmt.Errorf("durable: no commit in %s after %d sends", wal, durableCalibration)
	}
	slices.Sort(counts)
	return pageSize, counts[len(counts)/2], nil
}

// durableRounds runs rounds: in each, every publisher sends one message and
// waits for its ack, and the probe writes and syncs once, first or last in
// turn so that neither always follows the other's disk work. A round starts
// every interval, or as soon as the last one ends if it took longer.
func durableRounds(ctx context.Context, pubs []*durablePublisher, probe *syncProbe, rounds int, interval time.Duration) (durableVariant, error) {
	v := durableVariant{pubs: len(pubs), errs: map[string]int{}}
	lats := make([]time.Duration, len(pubs))
	errs := make([]error, len(pubs))
	sendAll := func() error {
		var wg sync.WaitGroup
		for i, p := range pubs {
			wg.Go(func() { lats[i], errs[i] = p.sendOne(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			refused, isRefused := errors.AsType[*refusedError](err)
			switch {
			case isRefused:
				v.errs[refused.code]++
			case err != nil:
				return fmt.Errorf("durable: %w", err)
			default:
				v.ack.record(int64(lats[i]))
			}
		}
		return nil
	}
	probeOnce := func() error {
		d, err := probe.run()
		v.probe.record(int64(d))
		return err
	}
	start := time.Now()
	for r := range rounds {
		sleepCtx(ctx, time.Until(start.Add(time.Duration(r)*interval)))
		if err := ctx.Err(); err != nil {
			return v, err
		}
		steps := []func() error{sendAll, probeOnce}
		if r%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return v, err
			}
		}
	}
	return v, nil
}

// durablePublisher sends one message at a time on its own connection.
type durablePublisher struct {
	conn *websocket.Conn
	room string
	cid  string // the prefix of its client message ids
	size int    // bytes of text
	n    int64  // sends so far, which numbers the commands and cids
	cmd  []byte // reused for each command
	buf  []byte // reused for each frame read
}

// refusedError is a send the server answered with an error.
type refusedError struct{ code string }

func (e *refusedError) Error() string { return "send refused: " + e.code }

// sendOne sends a message and returns the time until its reply.
func (p *durablePublisher) sendOne(ctx context.Context) (time.Duration, error) {
	p.n++
	p.cmd = fmt.Appendf(p.cmd[:0], `{"type":"send","id":%d,"room":%q,"cid":"%s%d","text":"durable %s"}`,
		p.n, p.room, p.cid, p.n, bytes.Repeat([]byte{'x'}, max(p.size-len("durable "), 1)))
	deadline := time.Now().Add(durableReplyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := p.conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := p.conn.WriteMessage(websocket.TextMessage, p.cmd); err != nil {
		return 0, err
	}
	var ev event
	for {
		frame, err := readFrame(p.conn, p.buf)
		p.buf = frame
		if err != nil {
			return 0, fmt.Errorf("waiting for the ack of send %d: %w", p.n, err)
		}
		elapsed := time.Since(t0)
		for rest := frame; len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			if parseLine(line, &ev); ev.kind != kindReply || ev.re != p.n {
				continue
			}
			if !ev.ok {
				return elapsed, &refusedError{code: string(ev.code)}
			}
			return elapsed, nil
		}
	}
}

// syncProbe appends size bytes to a file of its own and fdatasyncs it, as
// the store's writer appends a commit to its WAL and the syncer syncs it.
type syncProbe struct {
	f    *os.File
	data []byte
}

func newSyncProbe(dir string, size int) (*syncProbe, error) {
	f, err := os.CreateTemp(dir, ".chatload-fsync-*")
	if err != nil {
		return nil, fmt.Errorf("durable: %w", err)
	}
	data := make([]byte, size)
	rand.Read(data)
	return &syncProbe{f: f, data: data}, nil
}

// run writes and syncs once and returns the time both took.
func (p *syncProbe) run() (time.Duration, error) {
	t0 := time.Now()
	if _, err := p.f.Write(p.data); err != nil {
		return 0, fmt.Errorf("durable: probe: %w", err)
	}
	if err := fdatasync(p.f); err != nil {
		return 0, fmt.Errorf("durable: probe: %w", err)
	}
	return time.Since(t0), nil
}

// close removes the probe's file.
func (p *syncProbe) close() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// lastWALCommit reads the SQLite WAL file at path and returns the database's
// page size and the number of frames of the WAL's last committed
// transaction, 0 if it holds none. Frames whose salt differs from the
// header's are left from before the WAL last started over, and end it.
func lastWALCommit(path string) (pageSize, frames int, err error) {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var hdr [walHeader]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, 0, fmt.Errorf("%s: reading the WAL header: %w", path, err)
	}
	if binary.BigEndian.Uint32(hdr[:4])&^1 != 0x377f0682 {
		return 0, 0, fmt.Errorf("%s is not a SQLite WAL file", path)
	}
	pageSize = int(binary.BigEndian.Uint32(hdr[8:12]))
	if pageSize < 512 || pageSize > 65536 {
		return 0, 0, fmt.Errorf("%s: page size %d", path, pageSize)
	}
	info, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	n := (info.Size() - walHeader) / int64(walFrameHeader+pageSize)
	last, prev := int64(-1), int64(-1) // the last two commit frames
	var fh [walFrameHeader]byte
	for i := range n {
		if _, err := f.ReadAt(fh[:], walHeader+i*int64(walFrameHeader+pageSize)); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		if !bytes.Equal(fh[8:16], hdr[16:24]) {
			break
		}
		if binary.BigEndian.Uint32(fh[4:8]) != 0 { // the database size after a commit
			prev, last = last, i
		}
	}
	return pageSize, int(last - prev), nil
}

// reportDurable prints the durable table and returns the exit code: 1 when
// sends were refused.
func (b *bench) reportDurable(out io.Writer, r *durableResult, target float64) int {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tpubs\tacks\tack p50\tack p99\tack max\tsync p50\tsync p99\tsync max\tratio\ttarget\t")
	code := 0
	for _, v := range r.variants {
		ratio := v.ratio()
		fmt.Fprintf(tw, "durable\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t<= %g %s\t\n", v.pubs, v.ack.n,
			ms(v.ack.quantile(0.5)), ms(v.ack.quantile(0.99)), ms(time.Duration(v.ack.max)),
			ms(v.probe.quantile(0.5)), ms(v.probe.quantile(0.99)), ms(time.Duration(v.probe.max)),
			ratio, target, verdict(ratio > 0 && ratio <= target))
	}
	tw.Flush()
	fmt.Fprintf(out, "durable: sync is a write of %d bytes (%d WAL frames of %d-byte pages: what one send's commit wrote) to a file in %s and fdatasync, between the rounds; ratio is ack p99 ÷ sync p99\n",
		r.probeBytes, r.frames, r.pageSize, r.dir)
	for _, v := range r.variants {
		if len(v.errs) > 0 {
			fmt.Fprintf(out, "durable: FAIL: %d publisher(s): sends refused: %s\n", v.pubs, counts(v.errs))
			code = 1
		}
	}
	fmt.Fprintln(out)
	return code
}
