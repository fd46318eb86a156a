package main

import "bytes"

// Receipt parsing is on the generator's hot path: at a million delivered
// messages per second it shares two cores with the server under test. So a
// frame is never fully decoded; each line is scanned for the few keys the
// generator needs. That is sound for the server's output because a JSON key
// followed by ':' cannot occur inside a string value (quotes in strings are
// escaped), and the only nested objects that carry "seq" are messages.

// kind is what a server line is, as far as the generator cares.
type kind uint8

const (
	kindOther kind = iota
	kindHello
	kindMessage
	kindReply
	kindPing  // the server asks for a pong (Engine.IO); chat pings are WebSocket frames
	kindClose // the server ends the session (Socket.IO disconnect, Engine.IO close)
)

// event holds what the generator reads from one line of a server frame.
type event struct {
	kind kind
	// seq is the message's seq for a message event; for a reply, the last seq
	// in it: the stored message of a send, the newest message of a join.
	// Where the wire has no seq (Socket.IO), it is the publisher's count of
	// sends that the text carries, and 0 in replies.
	seq int64
	// stream is what seq counts in: 0 for the room's seq, the publisher's
	// index for its count of sends; -1 for a message without one.
	stream int
	re     int64 // the command id a reply answers
	ok     bool  // a reply's ok
	// sentAt is the send time written at the start of the text by
	// appendText, on the generator's clock; -1 when the text has none.
	sentAt int64
	// origin is the index of the server the sender used; -1 when unknown.
	origin int
	code   []byte // a failed reply's error code; aliases the frame
}

var (
	// Keys are searched without their opening quote, which is checked
	// apart: '"' is the commonest byte of JSON and a poor first byte to scan for.
	keyType = []byte(`type"`)
	keySeq  = []byte(`seq"`)
	keyText = []byte(`text"`)
	keyRe   = []byte(`re"`)
	keyOK   = []byte(`ok"`)
	keyCode = []byte(`code"`)

	valHello   = []byte(`"hello"`)
	valMessage = []byte(`"message"`)
	valReply   = []byte(`"reply"`)
	valTrue    = []byte(`true`)
)

// nextLine splits off the first newline-separated line of a frame.
func nextLine(frame []byte) (line, rest []byte) {
	if i := bytes.IndexByte(frame, '\n'); i >= 0 {
		return frame[:i], frame[i+1:]
	}
	return frame, nil
}

// parseLine fills ev from one JSON object of a server frame.
func parseLine(b []byte, ev *event) {
	*ev = event{kind: kindOther, sentAt: -1, origin: -1}
	t := valueOf(b, keyType)
	switch {
	case bytes.HasPrefix(t, valMessage):
		ev.kind = kindMessage
		ev.seq, _ = parseInt(valueOf(b, keySeq))
		st := parseText(valueOf(b, keyText))
		ev.sentAt, ev.origin = st.sentAt, st.origin
	case bytes.HasPrefix(t, valReply):
		ev.kind = kindReply
		ev.re, _ = parseInt(valueOf(b, keyRe))
		ev.ok = bytes.HasPrefix(valueOf(b, keyOK), valTrue)
		if ev.ok {
			ev.seq, _ = parseInt(lastValueOf(b, keySeq))
		} else if c := valueOf(b, keyCode); len(c) > 1 && c[0] == '"' {
			if end := bytes.IndexByte(c[1:], '"'); end >= 0 {
				ev.code = c[1 : 1+end]
			}
		}
	case bytes.HasPrefix(t, valHello):
		ev.kind = kindHello
	}
}

// valueOf returns b from the value of the first occurrence of key used as a
// key, or nil.
func valueOf(b, key []byte) []byte {
	for off := 0; ; {
		i := bytes.Index(b[off:], key)
		if i < 0 {
			return nil
		}
		i += off
		off = i + len(key)
		if v, ok := keyValue(b, i, off); ok {
			return v
		}
	}
}

// lastValueOf is valueOf for the last occurrence of key used as a key.
func lastValueOf(b, key []byte) []byte {
	for end := len(b); ; {
		i := bytes.LastIndex(b[:end], key)
		if i < 0 {
			return nil
		}
		if v, ok := keyValue(b, i, i+len(key)); ok {
			return v
		}
		end = i
	}
}

// keyValue checks that b[start:end] is a key, an opening quote before it and a
// colon after, and returns b from its value.
func keyValue(b []byte, start, end int) ([]byte, bool) {
	if start == 0 || b[start-1] != '"' {
		return nil, false
	}
	b = skipSpace(b[end:])
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	return skipSpace(b[1:]), true
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

// parseInt reads a decimal integer at the start of b.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, i := parseDigits(b)
	if neg {
		n = -n
	}
	return n, i > 0
}

// parseDigits reads the decimal digits at the start of b and returns their
// value and count.
func parseDigits(b []byte) (n int64, i int) {
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
		i++
	}
	return n, i
}

// stamp is what the generator writes at the start of each message text.
type stamp struct {
	sentAt int64 // the send time on the generator's clock
	origin int   // the index of the server the send went to
	pub    int   // the index of the publisher in its scenario
	n      int64 // the publisher's count of sends: 1, 2, …
}

// appendText appends a message text that carries st, padded with 'x' to size
// bytes: "<sentAt>.<origin>.<pub>.<n> xxxx…".
func appendText(dst []byte, st stamp, size int) []byte {
	start := len(dst)
	dst = appendInt(dst, st.sentAt)
	dst = append(dst, '.')
	dst = appendInt(dst, int64(st.origin))
	dst = append(dst, '.')
	dst = appendInt(dst, int64(st.pub))
	dst = append(dst, '.')
	dst = appendInt(dst, st.n)
	dst = append(dst, ' ')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// parseText reads what appendText wrote from a JSON string value; the fields
// it lacks are -1.
func parseText(v []byte) stamp {
	st := stamp{sentAt: -1, n: -1}
	if len(v) == 0 || v[0] != '"' {
		return stamp{sentAt: -1, origin: -1, pub: -1, n: -1}
	}
	origin, pub := int64(-1), int64(-1)
	st.sentAt, v = textField(v[1:], false)
	if st.sentAt >= 0 {
		origin, v = textField(v, true)
	}
	if origin >= 0 {
		pub, v = textField(v, true)
	}
	if pub >= 0 {
		st.n, _ = textField(v, true)
	}
	st.origin, st.pub = int(origin), int(pub)
	return st
}

// textField reads the decimal number at the start of v, after a '.' when
// dotted, and returns it and what follows, or -1 when there is none.
func textField(v []byte, dotted bool) (int64, []byte) {
	if dotted {
		if len(v) == 0 || v[0] != '.' {
			return -1, v
		}
		v = v[1:]
	}
	n, i := parseDigits(v)
	if i == 0 {
		return -1, v
	}
	return n, v[i:]
}

func appendInt(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// appendSend appends a send command.
func appendSend(dst []byte, id int64, room string, st stamp, size int, cidPrefix string) []byte {
	dst = append(dst, `{"type":"send","id":`...)
	dst = appendInt(dst, id)
	dst = append(dst, `,"room":"`...)
	dst = append(dst, room...)
	dst = append(dst, `","text":"`...)
	dst = appendText(dst, st, size)
	dst = append(dst, `","cid":"`...)
	dst = append(dst, cidPrefix...)
	dst = appendInt(dst, id)
	return append(dst, `"}`...)
}
