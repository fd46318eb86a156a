package httpapi

import (
	"encoding/binary"
	"math"

	"github.com/gorilla/websocket"
)

// The frames the server writes (RFC 6455 section 5: server frames are never
// masked, and these are never fragmented).

// appendTextFrames appends objs as text frames, each holding as many whole
// objects, separated by '\n', as fit in maxFrame bytes (one object larger
// than that gets a frame of its own).
func appendTextFrames(buf []byte, objs [][]byte) []byte {
	for i := 0; i < len(objs); {
		size, j := uint64(len(objs[i])), i+1
		for j < len(objs) && size+1+uint64(len(objs[j])) <= maxFrame {
			size += 1 + uint64(len(objs[j]))
			j++
		}
		buf = appendHeader(buf, websocket.TextMessage, size)
		for k := i; k < j; k++ {
			if k > i {
				buf = append(buf, '\n')
			}
			buf = append(buf, objs[k]...)
		}
		i = j
	}
	return buf
}

// appendFrame appends one unfragmented frame of the given opcode.
func appendFrame(buf []byte, opcode byte, payload []byte) []byte {
	return append(appendHeader(buf, opcode, uint64(len(payload))), payload...)
}

// appendHeader appends the header of a final, unmasked frame of size bytes.
func appendHeader(buf []byte, opcode byte, size uint64) []byte {
	buf = append(buf, 0x80|opcode)
	switch {
	case size < 126:
		return append(buf, byte(size))
	case size <= 0xffff:
		return binary.BigEndian.AppendUint16(append(buf, 126), uint16(size))
	default:
		return binary.BigEndian.AppendUint64(append(buf, 127), size)
	}
}

// pingFrame is the server's ping: no payload.
var pingFrame = appendFrame(nil, websocket.PingMessage, nil)

// frameEnd returns where the frame that holds byte off of buf ends; buf
// starts with a frame, and is frames the server wrote. (off at a frame's
// start gives that frame's end.)
func frameEnd(buf []byte, off int) int {
	end := 0
	for end <= off && end < len(buf) {
		end += frameSize(buf[end:])
	}
	return min(end, len(buf))
}

// framesUpTo returns the length of the whole frames buf starts with that
// fit in limit bytes together: the first frame's at least.
func framesUpTo(buf []byte, limit int) int {
	n := frameEnd(buf, 0)
	for n < len(buf) {
		next := frameEnd(buf, n)
		if next > limit {
			break
		}
		n = next
	}
	return n
}

// frameSize returns the length of the frame that b starts with, header
// included (at most len(b)): a frame the server wrote, so never masked.
func frameSize(b []byte) int {
	switch n := b[1] & 0x7f; n {
	case 126:
		return 4 + int(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if size := binary.BigEndian.Uint64(b[2:10]); size <= math.MaxInt32 {
			return min(10+int(size), len(b))
		}
		return len(b) // never: the server writes no frame that large
	default:
		return 2 + int(n)
	}
}
