package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// serverFrame encodes one frame as a server sends it: unmasked, with the
// shortest length encoding.
func serverFrame(fin bool, op byte, payload string) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n <= 0xffff:
		f = binary.BigEndian.AppendUint16(append(f, 126), uint16(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 127), uint64(n))
	}
	return append(f, payload...)
}

func closePayload(code int, text string) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(code))) + text
}

// clientFrame is a decoded frame the client sent.
type clientFrame struct {
	op      byte
	payload string
}

// readClientFrame decodes one frame as a client must send it (final,
// masked) and unmasks its payload.
func readClientFrame(r io.Reader) (clientFrame, error) {
	var h [14]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return clientFrame{}, err
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 {
		return clientFrame{}, fmt.Errorf("first byte %#x: want FIN and no reserved bits", h[0])
	}
	if h[1]&0x80 == 0 {
		return clientFrame{}, errors.New("the client sent an unmasked frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, h[2:4]); err != nil {
			return clientFrame{}, err
		}
		if n = uint64(binary.BigEndian.Uint16(h[2:])); n < 126 {
			return clientFrame{}, fmt.Errorf("length %d in 16 bits", n)
		}
	case 127:
		if _, err := io.ReadFull(r, h[2:10]); err != nil {
			return clientFrame{}, err
		}
		if n = binary.BigEndian.Uint64(h[2:]); n <= 0xffff {
			return clientFrame{}, fmt.Errorf("length %d in 64 bits", n)
		}
	}
	var key [4]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return clientFrame{}, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return clientFrame{}, err
	}
	for i := range p {
		p[i] ^= key[i&3]
	}
	return clientFrame{op: h[0] & 0x0f, payload: string(p)}, nil
}

// expectFrame reads one client frame from br and fails unless it is want.
func expectFrame(br *bufio.Reader, want clientFrame) error {
	got, err := readClientFrame(br)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("client sent %+v, want %+v", got, want)
	}
	return nil
}

// recorder is a wsHandler that keeps what it is given.
type recorder struct {
	msgs []string
	sent [][]byte
}

func (r *recorder) message(p []byte) error { r.msgs = append(r.msgs, string(p)); return nil }
func (r *recorder) send(f []byte) error    { r.sent = append(r.sent, bytes.Clone(f)); return nil }

func TestWSReader(t *testing.T) {
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	long16, long64 := strings.Repeat("a", 300), strings.Repeat("b", 70000)
	tests := map[string]struct {
		in      []byte
		msgs    []string
		sent    []clientFrame
		close   int    // the close code drain ends with, if any
		errText string // or the error it ends with
	}{
		"one text frame": {
			in:   serverFrame(true, opText, `{"type":"hello"}`),
			msgs: []string{`{"type":"hello"}`},
		},
		"several frames in one read": {
			in:   cat(serverFrame(true, opText, "one"), serverFrame(true, opText, "two"), serverFrame(true, opBinary, "three")),
			msgs: []string{"one", "two", "three"},
		},
		"an empty message": {
			in:   cat(serverFrame(true, opText, ""), serverFrame(true, opText, "after")),
			msgs: []string{"", "after"},
		},
		"125 bytes, the longest 7-bit length": {
			in:   serverFrame(true, opText, long16[:125]),
			msgs: []string{long16[:125]},
		},
		"126 bytes, the shortest 16-bit length": {
			in:   serverFrame(true, opText, long64[:126]),
			msgs: []string{long64[:126]},
		},
		"65535 bytes, the longest 16-bit length": {
			in:   serverFrame(true, opText, long64[:0xffff]),
			msgs: []string{long64[:0xffff]},
		},
		"65536 bytes, the shortest 64-bit length": {
			in:   serverFrame(true, opText, long64[:0x10000]),
			msgs: []string{long64[:0x10000]},
		},
		"a 16-bit length": {
			in:   cat(serverFrame(true, opText, "x"), serverFrame(true, opText, long16), serverFrame(true, opText, "y")),
			msgs: []string{"x", long16, "y"},
		},
		"a 64-bit length, larger than the buffer": {
			in:   cat(serverFrame(true, opText, "x"), serverFrame(true, opText, long64), serverFrame(true, opText, "y")),
			msgs: []string{"x", long64, "y"},
		},
		"a ping is answered with a masked pong carrying its payload": {
			in:   cat(serverFrame(true, opPing, "keepalive"), serverFrame(true, opText, "m")),
			msgs: []string{"m"},
			sent: []clientFrame{{opPong, "keepalive"}},
		},
		"an empty ping": {
			in:   serverFrame(true, opPing, ""),
			sent: []clientFrame{{opPong, ""}},
		},
		"a pong is ignored": {
			in:   cat(serverFrame(true, opPong, "p"), serverFrame(true, opText, "m")),
			msgs: []string{"m"},
		},
		"a fragmented message with a ping between its fragments": {
			in: cat(serverFrame(false, opText, "ab"), serverFrame(true, opPing, "p"), serverFrame(false, opContinuation, "cd"),
				serverFrame(false, opContinuation, ""), serverFrame(true, opContinuation, "ef"), serverFrame(true, opText, "g")),
			msgs: []string{"abcdef", "g"},
			sent: []clientFrame{{opPong, "p"}},
		},
		"two fragmented messages in a row": {
			in: cat(serverFrame(false, opText, "ab"), serverFrame(true, opContinuation, "c"),
				serverFrame(false, opBinary, "de"), serverFrame(true, opContinuation, "f")),
			msgs: []string{"abc", "def"},
		},
		"a fragmented message with a 16-bit fragment": {
			in:   cat(serverFrame(false, opText, "a"), serverFrame(true, opContinuation, long16)),
			msgs: []string{"a" + long16},
		},
		"a close frame ends with its code and echoes it": {
			in:    cat(serverFrame(true, opText, "m"), serverFrame(true, opClose, closePayload(1008, "slow consumer")), serverFrame(true, opText, "never")),
			msgs:  []string{"m"},
			sent:  []clientFrame{{opClose, closePayload(1008, "")}},
			close: 1008,
		},
		"a close frame without a code": {
			in:    serverFrame(true, opClose, ""),
			sent:  []clientFrame{{opClose, ""}},
			close: websocket.CloseNoStatusReceived,
		},
		"a close frame inside a fragmented message": {
			in:    cat(serverFrame(false, opText, "ab"), serverFrame(true, opClose, closePayload(1001, ""))),
			sent:  []clientFrame{{opClose, closePayload(1001, "")}},
			close: 1001,
		},
		"a close frame with a 1-byte payload": {
			in:      serverFrame(true, opClose, "x"),
			errText: "1-byte payload",
		},
		"a fragmented close frame": {
			in:      serverFrame(false, opClose, closePayload(1000, "")),
			errText: "control frame",
		},
		"a close frame over 125 bytes": {
			in:      serverFrame(true, opClose, closePayload(1000, long16[:124])),
			errText: "control frame",
		},
		"a masked server frame": {
			in:      []byte{0x81, 0x81, 1, 2, 3, 4, 'x'},
			errText: "masked",
		},
		"reserved bits": {
			in:      []byte{0xc1, 0x01, 'x'},
			errText: "reserved bits",
		},
		"an unknown opcode": {
			in:      serverFrame(true, 0x3, "x"),
			errText: "unknown opcode",
		},
		"a continuation without a message": {
			in:      serverFrame(true, opContinuation, "x"),
			errText: "continuation frame without",
		},
		"a new message inside a fragmented one": {
			in:      cat(serverFrame(false, opText, "a"), serverFrame(true, opText, "b")),
			errText: "while a fragmented one",
		},
		"a fragmented ping": {
			in:      serverFrame(false, opPing, "x"),
			errText: "control frame",
		},
		"a ping over 125 bytes": {
			in:      serverFrame(true, opPing, long16[:126]),
			errText: "control frame",
		},
		"a frame over the limit": {
			in:      binary.BigEndian.AppendUint64([]byte{0x81, 127}, wsMaxMessage+1),
			errText: "over chatload's limit",
		},
		"a 64-bit length with its top bit set": {
			in:      binary.BigEndian.AppendUint64([]byte{0x81, 127}, 1<<63|5),
			errText: "over chatload's limit",
		},
	}
	for name, tt := range tests {
		// Reads of every size, then all of it fed at once; a chunk of 0
		// stands for feed.
		for _, chunk := range []int{1, 2, 3, 7, 100, 5000, len(tt.in), 0} {
			how := fmt.Sprintf("reads of %d", chunk)
			if chunk == 0 {
				how = "fed"
			}
			t.Run(name+"/"+how, func(t *testing.T) {
				var (
					rd  wsReader
					rec recorder
					err error
				)
				if chunk == 0 {
					rd.feed(tt.in)
					err = rd.drain(&rec)
				}
				for in := tt.in; chunk > 0 && len(in) > 0 && err == nil; {
					n := copy(rd.space(), in[:min(chunk, len(in))])
					rd.wrote(n)
					in = in[n:]
					err = rd.drain(&rec)
				}
				switch ce, isClose := errors.AsType[*websocket.CloseError](err); {
				case tt.close != 0:
					if !isClose || ce.Code != tt.close {
						t.Errorf("drain = %v, want a close %d", err, tt.close)
					}
				case tt.errText != "":
					if err == nil || !strings.Contains(err.Error(), tt.errText) {
						t.Errorf("drain = %v, want an error with %q", err, tt.errText)
					}
				case err != nil:
					t.Errorf("drain = %v", err)
				case rd.r != len(rd.buf):
					t.Errorf("%d bytes left unparsed", len(rd.buf)-rd.r)
				}
				if len(rec.msgs) != len(tt.msgs) {
					t.Fatalf("got %d messages, want %d", len(rec.msgs), len(tt.msgs))
				}
				for i := range tt.msgs {
					if rec.msgs[i] != tt.msgs[i] {
						t.Errorf("message %d = %.40q (%d bytes), want %.40q (%d bytes)", i, rec.msgs[i], len(rec.msgs[i]), tt.msgs[i], len(tt.msgs[i]))
					}
				}
				if len(rec.sent) != len(tt.sent) {
					t.Fatalf("sent %d frames, want %d", len(rec.sent), len(tt.sent))
				}
				for i, f := range rec.sent {
					r := bytes.NewReader(f)
					got, err := readClientFrame(r)
					if err != nil || r.Len() != 0 {
						t.Fatalf("sent frame %d % x: %v, %d bytes after it", i, f, err, r.Len())
					}
					if got != tt.sent[i] {
						t.Errorf("sent frame %d = %+v, want %+v", i, got, tt.sent[i])
					}
				}
			})
		}
	}
}

// failing is a wsHandler whose message or send fails with err.
type failing struct {
	recorder
	onMessage, onSend bool
	err               error
}

func (f *failing) message(p []byte) error {
	if f.onMessage {
		return f.err
	}
	return f.recorder.message(p)
}

func (f *failing) send(b []byte) error {
	if f.onSend {
		return f.err
	}
	return f.recorder.send(b)
}

func TestWSReaderAndAFailingHandler(t *testing.T) {
	stop := errors.New("stop")
	tests := map[string]struct {
		first     []byte
		onMessage bool
		onSend    bool
		wantClose bool // drain ends with the close, not with the handler's error
	}{
		"a message the handler refuses stops drain there": {first: serverFrame(true, opText, "first"), onMessage: true},
		"a pong that cannot be sent stops drain there":    {first: serverFrame(true, opPing, "p"), onSend: true},
		"a close echo that cannot be sent still ends with the close": {
			first: serverFrame(true, opClose, closePayload(1000, "")), onSend: true, wantClose: true,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var rd wsReader
			rd.feed(tt.first)
			rd.feed(serverFrame(true, opText, "second"))
			h := &failing{onMessage: tt.onMessage, onSend: tt.onSend, err: stop}
			err := rd.drain(h)
			if tt.wantClose {
				if ce, ok := errors.AsType[*websocket.CloseError](err); !ok || ce.Code != 1000 {
					t.Errorf("drain = %v, want close 1000", err)
				}
				return
			}
			if !errors.Is(err, stop) {
				t.Fatalf("drain = %v, want the handler's error", err)
			}
			// What followed is still there for the next drain.
			var rec recorder
			if err := rd.drain(&rec); err != nil || fmt.Sprint(rec.msgs) != "[second]" {
				t.Errorf("next drain = %v with %q, want nil with [second]", err, rec.msgs)
			}
		})
	}
}

func TestClientFrameMaskingKeysVary(t *testing.T) {
	keys := map[string]bool{}
	for range 8 {
		f := appendClientFrame(nil, opText, []byte("same payload"))
		keys[string(f[2:6])] = true
	}
	if len(keys) < 2 {
		t.Errorf("8 frames were masked with %d key(s), want a new random key each", len(keys))
	}
}

func TestClientFrameLengthsAndMasking(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xffff, 0x10000, 70000} {
		payload := strings.Repeat("z", n)
		f := appendClientFrame([]byte("prefix"), opText, []byte(payload))
		if !bytes.HasPrefix(f, []byte("prefix")) {
			t.Fatalf("%d bytes: the frame overwrote what it was appended to", n)
		}
		f = f[len("prefix"):]
		if n > 4 && bytes.Contains(f, []byte("zzzz")) && bytes.Equal(f[len(f)-n:], []byte(payload)) {
			t.Errorf("%d bytes: the payload is not masked", n)
		}
		r := bytes.NewReader(f)
		got, err := readClientFrame(bufio.NewReader(r))
		if err != nil || got.op != opText || got.payload != payload {
			t.Errorf("%d bytes: decoded %d bytes of op %d, %v", n, len(got.payload), got.op, err)
		}
	}
}
