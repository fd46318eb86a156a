package chatserver

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text that people write is shown to other people: the server refuses what
// would be invisible to them, or would change how the text around it
// reads, rather than store and fan out a message whose words are not what
// they seem (a right-to-left override that reverses a file name, a zero-width
// space inside a link, a control character that corrupts a terminal or a
// log, hidden text in tag characters).
//
// Refused, anywhere:
//   - invalid UTF-8 and Unicode noncharacters;
//   - control characters (C0, DEL, C1), but for newline and tab in
//     multi-line text, and the line and paragraph separators;
//   - format characters (Unicode category Cf), among them the bidirectional
//     embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069),
//     the zero-width space, word joiner and byte order mark;
//   - the other default-ignorable characters: fillers, the combining
//     grapheme joiner, the invisible Khmer vowels, unassigned ignorables.
//
// Allowed, because scripts and emoji need them:
//   - the left-to-right, right-to-left and Arabic letter marks (U+200E,
//     U+200F, U+061C), which writers of right-to-left scripts type;
//   - the zero-width joiner and non-joiner (U+200D, U+200C) between two
//     characters that are not ASCII (emoji sequences, Persian, Indic
//     scripts), never next to ASCII, where they only hide a break in a word;
//   - a variation selector right after a character that is not one (emoji
//     presentation, ideographic variants), never two in a row;
//   - tag characters only as the subdivision code of a flag emoji: after
//     U+1F3F4, 2 to 6 lower-case letters or digits, then the cancel tag;
//   - the prepended concatenation marks (Arabic number signs and the like),
//     which are visible.

// CheckText returns a bad_request *Error naming the first character of s
// that the rules above refuse, or nil. multiline allows newline and tab.
func CheckText(field, s string, multiline bool) error {
	var prev rune = -1
	tags := 0 // tag characters of the flag in progress; -1: none in progress
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return Errorf(EBadRequest, "%s is not valid UTF-8", field)
			}
		}
		if why := refused(r, prev, s[i+utf8.RuneLen(r):], multiline, &tags); why != "" {
			return Errorf(EBadRequest, "%s contains U+%04X (%s), which is not allowed", field, r, why)
		}
		prev = r
	}
	if tags > 0 {
		return Errorf(EBadRequest, "%s ends inside a flag's tag sequence", field)
	}
	return nil
}

// refused tells why r, after prev and before rest, is refused ("" when it
// is not); tags counts the tag characters of a flag emoji in progress.
func refused(r, prev rune, rest string, multiline bool, tags *int) string {
	const (
		blackFlag = 0x1F3F4
		cancelTag = 0xE007F
		zwnj, zwj = 0x200C, 0x200D
	)
	if isTag(r) {
		switch {
		case *tags == 0 && prev != blackFlag:
			return "a tag character outside a flag emoji"
		case r == cancelTag && *tags >= 2:
			*tags = 0
			return ""
		case r == cancelTag || *tags == 6 || !isTagAlnum(r):
			return "a tag character outside a flag's subdivision code"
		}
		*tags++
		return ""
	}
	if *tags > 0 {
		return "a flag's tag sequence without its cancel tag"
	}
	if r >= ' ' && r < 0x7F {
		return "" // printable ASCII, most of what is sent: no table to look up
	}
	switch {
	case r == '\n' || r == '\t':
		if multiline {
			return ""
		}
		return "a control character"
	case unicode.IsControl(r):
		return "a control character"
	case r == '\u2028' || r == '\u2029':
		return "a line or paragraph separator"
	case unicode.Is(unicode.Noncharacter_Code_Point, r):
		return "a noncharacter"
	case r == zwj || r == zwnj:
		next, size := utf8.DecodeRuneInString(rest)
		if prev < utf8.RuneSelf || size == 0 || next < utf8.RuneSelf {
			return "a zero-width joiner next to ASCII or at an end"
		}
		return ""
	case r == '\u200E' || r == '\u200F' || r == '\u061C':
		return "" // directional marks: typed by writers of right-to-left scripts
	case unicode.Is(unicode.Variation_Selector, r):
		if prev < 0 || unicode.Is(unicode.Variation_Selector, prev) {
			return "a variation selector with no character of its own"
		}
		return ""
	case unicode.Is(unicode.Prepended_Concatenation_Mark, r):
		return ""
	case isBidiControl(r):
		return "a bidirectional control"
	case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return "an invisible character"
	}
	return ""
}

func isTag(r rune) bool { return r >= 0xE0020 && r <= 0xE007F }

// isTagAlnum reports whether tag character r stands for a lower-case
// letter or a digit, as the subdivision codes of flags do.
func isTagAlnum(r rune) bool {
	a := r - 0xE0000
	return a >= '0' && a <= '9' || a >= 'a' && a <= 'z'
}

// isBidiControl reports the embeddings, overrides and isolates, which
// reorder the text that follows them.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// isASCII reports whether s has only ASCII characters.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// SearchWords splits a search query into the words it looks for: the runs
// of letters, marks and digits, in lower case, each once, in their order.
// Everything else separates words and is never searched as syntax, so a
// query cannot inject operators into a full-text engine.
func SearchWords(q string) []string {
	var words []string
	start := -1
	add := func(w string) {
		w = strings.ToLower(w)
		if !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	for i, r := range q {
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			add(q[start:i])
			start = -1
		}
	}
	if start >= 0 {
		add(q[start:])
	}
	return words
}
