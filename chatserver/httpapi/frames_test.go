package httpapi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gorilla/websocket"
)

// readFrame decodes one unmasked frame the way RFC 6455 section 5.2 lays it
// out, independently of the code under test.
func readFrame(t *testing.T, b []byte) (fin bool, opcode int, payload, rest []byte) {
	t.Helper()
	if len(b) < 2 {
		t.Fatalf("short frame: %d bytes", len(b))
	}
	fin, opcode = b[0]&0x80 != 0, int(b[0]&0x0f)
	if b[0]&0x70 != 0 || b[1]&0x80 != 0 {
		t.Fatalf("reserved bits or mask set: % x", b[:2])
	}
	n, h := int(b[1]&0x7f), 2
	switch n {
	case 126:
		n, h = int(binary.BigEndian.Uint16(b[2:])), 4
		if n < 126 {
			t.Fatalf("16-bit length %d should have been 7-bit", n)
		}
	case 127:
		n, h = int(binary.BigEndian.Uint64(b[2:])), 10
		if n <= 0xffff {
			t.Fatalf("64-bit length %d should have been 16-bit", n)
		}
	}
	if len(b) < h+n {
		t.Fatalf("frame says %d bytes, %d left", n, len(b)-h)
	}
	return fin, opcode, b[h : h+n], b[h+n:]
}

// describe decodes a stream of whole server frames into one line each:
// "text <payload>", "ping", "pong <payload>" or "close <code> <reason>".
func describe(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		fin, op, payload, rest := readFrame(t, b)
		if !fin {
			t.Fatalf("fragmented frame, opcode %d", op)
		}
		switch op {
		case websocket.TextMessage:
			out = append(out, "text "+string(payload))
		case websocket.PingMessage:
			out = append(out, "ping")
		case websocket.PongMessage:
			out = append(out, "pong "+string(payload))
		case websocket.CloseMessage:
			if len(payload) < 2 {
				out = append(out, "close")
				break
			}
			out = append(out, fmt.Sprintf("close %d %s", binary.BigEndian.Uint16(payload), payload[2:]))
		default:
			t.Fatalf("unexpected opcode %d", op)
		}
		b = rest
	}
	return out
}

func TestTextFramesCoalesceWholeObjectsUpToTheFrameLimit(t *testing.T) {
	obj := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	cases := []struct {
		name  string
		objs  [][]byte
		sizes []int // payload size of each frame
	}{
		{"one small", [][]byte{obj(10, 'a')}, []int{10}},
		{"7-bit limit", [][]byte{obj(125, 'a')}, []int{125}},
		{"16-bit length", [][]byte{obj(126, 'a')}, []int{126}},
		{"several in one frame", [][]byte{obj(100, 'a'), obj(200, 'b'), obj(300, 'c')}, []int{602}},
		{"exactly the limit", [][]byte{obj(8000, 'a'), obj(maxFrame-8001, 'b')}, []int{maxFrame}},
		{"one byte over starts a frame", [][]byte{obj(8000, 'a'), obj(maxFrame-8000, 'b')}, []int{8000, maxFrame - 8000}},
		{"an object over the limit alone", [][]byte{obj(10, 'a'), obj(70000, 'b'), obj(10, 'c')}, []int{10, 70000, 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := appendTextFrames(nil, tc.objs)
			var got [][]byte
			for i := 0; len(b) > 0; i++ {
				fin, op, payload, rest := readFrame(t, b)
				if !fin || op != websocket.TextMessage {
					t.Fatalf("frame %d: fin %v opcode %d", i, fin, op)
				}
				if i >= len(tc.sizes) || len(payload) != tc.sizes[i] {
					t.Fatalf("frame %d has %d bytes, want sizes %v", i, len(payload), tc.sizes)
				}
				got = append(got, bytes.Split(payload, []byte("\n"))...)
				b = rest
			}
			if len(got) != len(tc.objs) {
				t.Fatalf("%d objects back, want %d", len(got), len(tc.objs))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.objs[i]) {
					t.Fatalf("object %d differs", i)
				}
			}
		})
	}
}

func TestControlFrames(t *testing.T) {
	_, op, payload, rest := readFrame(t, pingFrame)
	if op != websocket.PingMessage || len(payload) != 0 || len(rest) != 0 {
		t.Fatalf("ping: opcode %d, %q", op, payload)
	}
	closeFrame := appendFrame(nil, websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
	_, op, payload, _ = readFrame(t, closeFrame)
	if op != websocket.CloseMessage || binary.BigEndian.Uint16(payload) != websocket.CloseGoingAway || string(payload[2:]) != "bye" {
		t.Fatalf("close: opcode %d, % x", op, payload)
	}
}
