package chatserver

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// A message's wire form is written field by field rather than through
// encoding/json's reflection: every send's message is encoded once for its
// event and its reply, and pages are sized by encoding their messages. The
// bytes are those of encoding/json with HTML escaping off, which the tests
// hold it to (see messageJSON for the field names and what is omitted).

// AppendJSON appends m's wire form to b.
func (m Message) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, m.ID)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, m.Room)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"from":`...)
	b = appendJSONString(b, m.From)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, m.Text)
	b = append(b, `,"ts":"`...)
	b = m.TS.UTC().AppendFormat(b, TimestampLayout)
	b = append(b, `","cid":`...)
	b = appendJSONString(b, m.CID)
	if m.Rev != 0 {
		b = append(b, `,"rev":`...)
		b = strconv.AppendInt(b, m.Rev, 10)
	}
	if m.ReplyTo != 0 {
		b = append(b, `,"reply_to":`...)
		b = strconv.AppendInt(b, m.ReplyTo, 10)
	}
	if len(m.Mentions) > 0 {
		b = append(b, `,"mentions":`...)
		b = appendJSONStrings(b, m.Mentions)
	}
	if !m.EditedTS.IsZero() {
		b = append(b, `,"edited_ts":"`...)
		b = m.EditedTS.UTC().AppendFormat(b, TimestampLayout)
		b = append(b, '"')
	}
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if len(m.Reactions) > 0 {
		b = append(b, `,"reactions":[`...)
		for i, r := range m.Reactions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"emoji":`...)
			b = appendJSONString(b, r.Emoji)
			b = append(b, `,"users":`...)
			b = appendJSONStrings(b, r.Users)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONStrings appends l as a JSON array; nil is null, as
// encoding/json writes a nil slice.
func appendJSONStrings(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

const lowerHex = "0123456789abcdef"

// invalidUTF8 is what encoding/json writes for one byte of a string that is
// not UTF-8: the escape \ufffd in some Go releases, the replacement
// character itself in others.
var invalidUTF8 = func() string {
	b, err := json.Marshal("\xff")
	if err != nil || len(b) < 2 {
		return `\ufffd`
	}
	return string(b[1 : len(b)-1])
}()

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it with HTML escaping off: quotes, backslashes and control
// characters (the short forms where JSON has one), U+2028 and U+2029,
// which JavaScript source cannot hold, and each invalid UTF-8 byte as
// U+FFFD (see invalidUTF8). The rest, HTML characters and DEL included, is
// copied.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[done:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[done:i]...)
			b = append(b, invalidUTF8...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[done:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}
