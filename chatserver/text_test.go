package chatserver_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestCheckText(t *testing.T) {
	const (
		flagScotland = "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
		family       = "\U0001F468\u200D\U0001F469\u200D\U0001F467"
	)
	tests := map[string]struct {
		text      string
		multiline bool
		ok        bool
	}{
		"PlainTextIsAllowed":                   {"hello, world", false, true},
		"NewlineAndTabAreAllowedInMultiline":   {"line one\n\tline two", true, true},
		"NewlineIsRefusedInASingleLine":        {"a\nb", false, false},
		"TabIsRefusedInASingleLine":            {"a\tb", false, false},
		"NULIsRefused":                         {"a\x00b", true, false},
		"CarriageReturnIsRefused":              {"a\rb", true, false},
		"EscapeIsRefused":                      {"\x1b[2Jclear", true, false},
		"DELIsRefused":                         {"a\x7fb", true, false},
		"C1ControlIsRefused":                   {"a\u0085b", true, false},
		"InvalidUTF8IsRefused":                 {"a\xffb", true, false},
		"AnEncodedReplacementCharIsAllowed":    {"a\ufffdb", true, true},
		"RightToLeftOverrideIsRefused":         {"invoice\u202Efdp.exe", true, false},
		"LeftToRightEmbeddingIsRefused":        {"\u202Aabc", true, false},
		"PopDirectionalFormattingIsRefused":    {"abc\u202C", true, false},
		"RightToLeftIsolateIsRefused":          {"a\u2067b\u2069", true, false},
		"FirstStrongIsolateIsRefused":          {"a\u2068b", true, false},
		"ZeroWidthSpaceIsRefused":              {"pay\u200Bpal", true, false},
		"WordJoinerIsRefused":                  {"a\u2060b", true, false},
		"ByteOrderMarkIsRefused":               {"\uFEFFhello", true, false},
		"SoftHyphenIsRefused":                  {"pay\u00ADpal", true, false},
		"HangulFillerIsRefused":                {"\u3164", true, false},
		"CombiningGraphemeJoinerIsRefused":     {"a\u034Fb", true, false},
		"LineSeparatorIsRefused":               {"a\u2028b", true, false},
		"NoncharacterIsRefused":                {"a\uFFFEb", true, false},
		"ZeroWidthJoinerBetweenASCIIIsRefused": {"pay\u200Dpal", true, false},
		"ZeroWidthJoinerAtTheEndIsRefused":     {"\U0001F468\u200D", true, false},
		"ZeroWidthJoinerInAnEmojiIsAllowed":    {family, true, true},
		"ZeroWidthNonJoinerInPersianIsAllowed": {"\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645", true, true},
		"RightToLeftMarkIsAllowed":             {"\u05E9\u05DC\u05D5\u05DD Hello\u200E!", true, true},
		"EmojiPresentationSelectorIsAllowed":   {"I \u2764\uFE0F it", true, true},
		"KeycapIsAllowed":                      {"#\uFE0F\u20E3", true, true},
		"TwoVariationSelectorsAreRefused":      {"a\uFE0F\uFE0E", true, false},
		"ALeadingVariationSelectorIsRefused":   {"\uFE0Fa", true, false},
		"AFlagsSubdivisionTagsAreAllowed":      {"go " + flagScotland + " go", true, true},
		"TagsWithoutAFlagAreRefused":           {"hi\U000E0068\U000E0069\U000E007F", true, false},
		"AFlagWithoutItsCancelTagIsRefused":    {"\U0001F3F4\U000E0067\U000E0062 x", true, false},
		"ATextEndingInsideAFlagIsRefused":      {"\U0001F3F4\U000E0067\U000E0062", true, false},
		"AFlagHidingLongTextIsRefused":         {"\U0001F3F4" + strings.Repeat("\U000E0061", 20) + "\U000E007F", true, false},
		"AFlagHidingUpperCaseIsRefused":        {"\U0001F3F4\U000E0041\U000E0042\U000E007F", true, false},
		"ArabicNumberSignIsAllowed":            {"\u0600\u0661\u0662", true, true},
		"CombiningAccentsAreAllowed":           {"e\u0301te\u0301", true, true},
		"ChineseIsAllowed":                     {"\u4F60\u597D", true, true},
		"PrivateUseIsAllowed":                  {"\uE000", true, true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := chatserver.CheckText("text", tt.text, tt.multiline)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckText(%+q) = %v, want ok %v", tt.text, err, tt.ok)
			}
			if err != nil && chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("code %q, want bad_request", chatserver.ErrorCode(err))
			}
		})
	}
}

func TestSearchWordsAreLowerCaseRunsOfLettersAndDigits(t *testing.T) {
	tests := []struct {
		q    string
		want []string
	}{
		{"Deploy", []string{"deploy"}},
		{"deplo noo", []string{"deplo", "noo"}},
		{`"deplo*" OR NEAR(x, y) -z col:umn ^a`, []string{"deplo", "or", "near", "x", "y", "z", "col", "umn", "a"}},
		{"Straße café naïve", []string{"straße", "café", "naïve"}},
		{"v2.1 v2", []string{"v2", "1"}},
		{"same SAME Same", []string{"same"}},
		{"日本語 テキスト", []string{"日本語", "テキスト"}},
		{`"*" - ( ) :`, nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := chatserver.SearchWords(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("SearchWords(%q) = %q, want %q", tt.q, got, tt.want)
		}
	}
}
