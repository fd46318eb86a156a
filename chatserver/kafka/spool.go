package kafka

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The spool is a directory of append-only segment files and one cursor file.
//
// A segment, NNNNNNNNNNNNNNNNNNNN.seg, is a sequence of records, each an
// 8-byte header (payload length and CRC-32C of the payload, big-endian)
// followed by the payload. Appends go to the newest segment and are fsync'd
// before they are acknowledged; once it holds Config.SegmentBytes the next
// append starts a new one. A crash can leave a torn record only at the end of the
// newest segment, never acknowledged: opening the spool cuts it off.
//
// The cursor file holds "segment offset", the first record Kafka has not yet
// acknowledged. It is replaced atomically (write, fsync, rename, fsync the
// directory) after every acknowledged batch, and segments wholly before it
// are deleted. A crash after Kafka acknowledged a batch and before the cursor
// moved produces that batch again: delivery is at least once, and the indexer
// deduplicates by event id.

const (
	segmentBytes = 8 << 20 // default
	headerBytes  = 8
	maxRecord    = 1 << 20
	unbounded    = 1 << 62
	cursorFile   = "cursor"
	segSuffix    = ".seg"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pos is a place in the spool: a segment and a byte offset in it.
type pos struct {
	seg uint64
	off int64
}

type spool struct {
	root         *os.Root // the spool's directory, which holds all its files
	segmentBytes int64

	// Owned by the appending goroutine.
	active *os.File

	mu  sync.Mutex
	end pos // the durable end: everything before it is fsync'd
}

func segName(seg uint64) string { return fmt.Sprintf("%020d%s", seg, segSuffix) }

// openSpool opens or creates the spool in dir and returns it with the
// cursor (where producing resumes) and the number of records after it.
func openSpool(dir string, segBytes int64) (*spool, pos, int64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, pos{}, 0, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, pos{}, 0, err
	}
	s, cur, backlog, err := resumeSpool(root, segBytes)
	if err != nil {
		_ = root.Close()
		return nil, pos{}, 0, err
	}
	return s, cur, backlog, nil
}

// resumeSpool is openSpool once the directory is open: the spool it returns
// owns root.
func resumeSpool(root *os.Root, segBytes int64) (*spool, pos, int64, error) {
	segs, err := listSegments(root)
	if err != nil {
		return nil, pos{}, 0, err
	}
	cur, err := readCursor(root)
	if err != nil {
		return nil, pos{}, 0, err
	}
	if len(segs) == 0 {
		segs = []uint64{max(cur.seg, 1)}
	}
	if cur.seg < segs[0] {
		cur = pos{seg: segs[0]}
	}
	last := segs[len(segs)-1]
	f, err := root.OpenFile(segName(last), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, pos{}, 0, err
	}
	// Cut off a record torn by a crash in the middle of an append.
	good, _ := scan(f, 0, unbounded, -1, nil)
	err = f.Truncate(good)
	if err == nil {
		_, err = f.Seek(good, io.SeekStart)
	}
	if err == nil {
		err = syncDir(root)
	}
	if err != nil {
		_ = f.Close()
		return nil, pos{}, 0, err
	}
	s := &spool{root: root, segmentBytes: segBytes, active: f, end: pos{seg: last, off: good}}
	if cur.seg > s.end.seg || (cur.seg == s.end.seg && cur.off > s.end.off) {
		// Only a spool damaged from outside gets here (the cursor never
		// passes what was fsync'd): start after what is left.
		cur = s.end
	}
	for _, seg := range segs {
		if seg < cur.seg {
			_ = root.Remove(segName(seg))
		}
	}
	var backlog int64
	for p := cur; ; {
		recs, next, err := s.read(p, 1<<16)
		if err != nil {
			_ = f.Close()
			return nil, pos{}, 0, err
		}
		if len(recs) == 0 {
			break
		}
		backlog += int64(len(recs))
		p = next
	}
	return s, cur, backlog, nil
}

func listSegments(root *os.Root) ([]uint64, error) {
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), segSuffix); ok {
			if seg, err := strconv.ParseUint(n, 10, 64); err == nil {
				segs = append(segs, seg)
			}
		}
	}
	slices.Sort(segs)
	return segs, nil
}

func readCursor(root *os.Root) (pos, error) {
	b, err := root.ReadFile(cursorFile)
	if errors.Is(err, os.ErrNotExist) {
		return pos{}, nil
	}
	if err != nil {
		return pos{}, err
	}
	var p pos
	if _, err := fmt.Sscanf(string(b), "%d %d", &p.seg, &p.off); err != nil {
		return pos{}, fmt.Errorf("spool cursor %q: %w", b, err)
	}
	return p, nil
}

// scan reads the records of f in [off, limit), at most max of them (all
// when max < 0), calling each for every payload. It returns the offset after
// the last whole, valid record and how many it read.
func scan(f *os.File, off, limit int64, max int, each func([]byte)) (int64, int) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, limit-off), 64<<10)
	n := 0
	var hdr [headerBytes]byte
	for max < 0 || n < max {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		size := binary.BigEndian.Uint32(hdr[:4])
		if size > maxRecord {
			break
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			break
		}
		if each != nil {
			each(payload)
		}
		off += headerBytes + int64(size)
		n++
	}
	return off, n
}

// append writes records to the newest segment and fsyncs it. On failure it
// cuts the segment back to where it was, so that a failed append leaves
// nothing half-written behind the records that follow. Only one goroutine
// calls append.
func (s *spool) append(records [][]byte) error {
	var buf []byte
	for _, p := range records {
		size := len(p)
		if size > maxRecord {
			return fmt.Errorf("spool record of %d bytes exceeds %d", size, maxRecord)
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(size))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, crcTable))
		buf = append(buf, p...)
	}
	s.mu.Lock()
	end := s.end
	s.mu.Unlock()
	if end.off >= s.segmentBytes {
		if err := s.rotate(end.seg + 1); err != nil {
			return err
		}
		end = pos{seg: end.seg + 1}
	}
	_, err := s.active.WriteAt(buf, end.off)
	if err == nil {
		err = s.active.Sync()
	}
	if err != nil {
		_ = s.active.Truncate(end.off)
		return err
	}
	s.mu.Lock()
	s.end = pos{seg: end.seg, off: end.off + int64(len(buf))}
	s.mu.Unlock()
	return nil
}

func (s *spool) rotate(seg uint64) error {
	f, err := s.root.OpenFile(segName(seg), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(s.root); err != nil {
		_ = f.Close()
		return err
	}
	_ = s.active.Close()
	s.active = f
	s.mu.Lock()
	s.end = pos{seg: seg}
	s.mu.Unlock()
	return nil
}

// read returns up to max durable records from p on and the position after
// them, moving on to the next segment at the end of a finished one.
func (s *spool) read(p pos, max int) ([][]byte, pos, error) {
	s.mu.Lock()
	end := s.end
	s.mu.Unlock()
	var recs [][]byte
	for len(recs) < max && (p.seg < end.seg || p.off < end.off) {
		limit := int64(unbounded)
		if p.seg == end.seg {
			limit = end.off // never hand out what is written but not yet fsync'd
		}
		f, err := s.root.Open(segName(p.seg))
		if errors.Is(err, os.ErrNotExist) && p.seg < end.seg {
			p = pos{seg: p.seg + 1}
			continue
		}
		if err != nil {
			return recs, p, err
		}
		want := max - len(recs)
		off, n := scan(f, p.off, limit, want, func(b []byte) { recs = append(recs, b) })
		_ = f.Close()
		p.off = off
		if n < want {
			if p.seg == end.seg {
				break
			}
			p = pos{seg: p.seg + 1} // the end of a finished segment
		}
	}
	return recs, p, nil
}

// ack records that everything before p reached Kafka and deletes the
// segments before p's.
func (s *spool) ack(p pos) error {
	tmp := cursorFile + ".tmp"
	f, err := s.root.Create(tmp)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d %d\n", p.seg, p.off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, cursorFile)
	}
	if err == nil {
		err = syncDir(s.root)
	}
	if err != nil {
		return err
	}
	segs, err := listSegments(s.root)
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if seg < p.seg {
			_ = s.root.Remove(segName(seg))
		}
	}
	return nil
}

func (s *spool) close() error { return errors.Join(s.active.Close(), s.root.Close()) }

// syncDir fsyncs the directory itself, so that its entries are durable.
func syncDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
