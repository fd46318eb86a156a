package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"

	"github.com/gorilla/websocket"
)

// The WebSocket framing of the subscribers' receive path without gorilla
// (see reactor_linux.go and wsdial.go): a frame parser that works on
// whatever bytes a non-blocking read returned, and the client frames it
// answers with. Only what a client of the chat server needs: no extensions,
// server frames unmasked (RFC 6455).

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const (
	wsReadBuffer = 16 << 10 // a connection's read buffer, as gorilla's ReadBufferSize was
	wsMinRead    = 4 << 10  // the least free space a read gets before the buffer is compacted or grown
	wsMaxMessage = 64 << 20 // a larger frame or message is a protocol error
	wsLeanRead   = 512      // a lean reader's buffer and least free space
)

// wsHandler is what wsReader.drain hands frames to.
type wsHandler interface {
	// message takes the payload of one complete text or binary message. It
	// aliases the reader's buffer and is valid until the next read. A
	// non-nil error stops drain, which returns it.
	message(payload []byte) error
	// send writes one complete, masked client frame (a pong or a close).
	send(frame []byte) error
}

// wsReader splits the bytes a server sent into WebSocket messages. Bytes are
// read into space, their count reported with wrote, and drain then hands
// every complete message to a wsHandler; a frame split across reads waits in
// the buffer for the rest.
type wsReader struct {
	buf    []byte // buf[r:] is received and not yet parsed
	r      int
	frag   []byte // the payload so far of a message sent in fragments
	fragOp byte   // the opcode of that message; 0 when none is in progress
	out    []byte // scratch for the frames drain sends
	// lean readers are for connections that seldom receive (idle): reads
	// get small buffers, and shrink lets them go between reads.
	lean bool
}

// space returns where the next read should put its bytes, at least
// wsMinRead of them and all that the frame in progress still lacks.
func (p *wsReader) space() []byte {
	if p.r == len(p.buf) {
		p.buf, p.r = p.buf[:0], 0
	}
	unparsed := len(p.buf) - p.r
	need, initial := wsMinRead, wsReadBuffer
	if p.lean {
		need, initial = wsLeanRead, wsLeanRead
	}
	if size, ok := frameSize(p.buf[p.r:]); ok && size <= wsMaxMessage {
		need = max(need, size-unparsed)
	}
	if cap(p.buf)-len(p.buf) < need {
		if p.r > 0 && cap(p.buf)-unparsed >= need {
			p.buf = p.buf[:copy(p.buf[:cap(p.buf)], p.buf[p.r:])]
		} else {
			nb := make([]byte, unparsed, max(initial, 2*cap(p.buf), unparsed+need))
			copy(nb, p.buf[p.r:])
			p.buf = nb
		}
		p.r = 0
	}
	return p.buf[len(p.buf):cap(p.buf)]
}

// shrink lets go of the reader's buffers when it holds no bytes it has not
// parsed: the next read gets a new one.
func (p *wsReader) shrink() {
	if p.r == len(p.buf) && p.fragOp == 0 {
		p.buf, p.r, p.frag, p.out = nil, 0, nil, nil
	}
}

// wrote records that the last read put n bytes into space.
func (p *wsReader) wrote(n int) { p.buf = p.buf[:len(p.buf)+n] }

// feed appends bytes received some other way.
func (p *wsReader) feed(b []byte) {
	for len(b) > 0 {
		n := copy(p.space(), b)
		p.wrote(n)
		b = b[n:]
	}
}

// frameSize returns the size, header included, of the frame that b starts
// with, once b holds its header.
func frameSize(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	h, n := 2, uint64(b[1]&0x7f)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, false
		}
		h, n = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0, false
		}
		h, n = 10, binary.BigEndian.Uint64(b[2:])
	}
	if b[1]&0x80 != 0 {
		h += 4
	}
	if n > wsMaxMessage {
		return wsMaxMessage + 1, true
	}
	return h + int(n), true
}

// next returns the next complete frame: its FIN bit, opcode and payload, or
// ok false when the buffer does not hold one yet.
func (p *wsReader) next() (fin bool, op byte, payload []byte, ok bool, err error) {
	b := p.buf[p.r:]
	size, ok := frameSize(b)
	if !ok {
		return false, 0, nil, false, nil
	}
	switch {
	case b[0]&0x70 != 0:
		return false, 0, nil, false, fmt.Errorf("websocket: reserved bits set in frame header %#x (no extension was negotiated)", b[0])
	case b[1]&0x80 != 0:
		return false, 0, nil, false, errors.New("websocket: the server sent a masked frame")
	case size > wsMaxMessage:
		return false, 0, nil, false, fmt.Errorf("websocket: frame over chatload's limit of %d bytes", wsMaxMessage)
	case len(b) < size:
		return false, 0, nil, false, nil
	}
	h := 2
	switch b[1] & 0x7f {
	case 126:
		h = 4
	case 127:
		h = 10
	}
	p.r += size
	return b[0]&0x80 != 0, b[0] & 0x0f, b[h:size], true, nil
}

// drain hands every complete message received so far to h, answers pings
// with pongs through h.send, and ends at a close frame with a
// *websocket.CloseError after echoing its code. It returns nil when it needs
// more bytes, and the first error of the stream or of h otherwise.
func (p *wsReader) drain(h wsHandler) error {
	for {
		fin, op, payload, ok, err := p.next()
		if err != nil || !ok {
			return err
		}
		switch op {
		case opText, opBinary, opContinuation:
			switch {
			case op == opContinuation && p.fragOp == 0:
				return errors.New("websocket: continuation frame without a message to continue")
			case op != opContinuation && p.fragOp != 0:
				return errors.New("websocket: new message while a fragmented one is in progress")
			case op != opContinuation && fin: // the common case: a whole message in one frame
				if err := h.message(payload); err != nil {
					return err
				}
				continue
			case op != opContinuation:
				p.fragOp, p.frag = op, append(p.frag[:0], payload...)
				continue
			}
			if len(p.frag)+len(payload) > wsMaxMessage {
				return fmt.Errorf("websocket: message over chatload's limit of %d bytes", wsMaxMessage)
			}
			if p.frag = append(p.frag, payload...); !fin {
				continue
			}
			p.fragOp = 0
			if err := h.message(p.frag); err != nil {
				return err
			}
		case opPing, opPong, opClose:
			if !fin || len(payload) > 125 {
				return fmt.Errorf("websocket: control frame %#x fragmented or over 125 bytes", op)
			}
			switch op {
			case opPing:
				p.out = appendClientFrame(p.out[:0], opPong, payload)
				if err := h.send(p.out); err != nil {
					return err
				}
			case opClose:
				ce := &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
				var echo []byte
				switch {
				case len(payload) == 1:
					return errors.New("websocket: close frame with a 1-byte payload")
				case len(payload) >= 2:
					ce.Code, ce.Text = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
					echo = payload[:2]
				}
				p.out = appendClientFrame(p.out[:0], opClose, echo)
				_ = h.send(p.out) // best effort: the connection ends either way
				return ce
			}
		default:
			return fmt.Errorf("websocket: unknown opcode %#x", op)
		}
	}
}

// errEOF is how a connection that ended without a close frame is reported:
// as gorilla reports it, so the table names it the same on both paths.
var errEOF = &websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: "unexpected EOF"}

// appendClientFrame appends one final frame as a client must send it: with
// its payload masked by a random key.
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, 0x80|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 0x80|127), uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], mrand.Uint32()) //nolint:gosec // a mask against proxies, not a secret: a load generator's own traffic
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range dst[start:] {
		dst[start+i] ^= key[i&3]
	}
	return dst
}
