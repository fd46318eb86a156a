package httpapi

import (
	"encoding/binary"

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
