package report_test

import (
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"web-1", "web-1"},
		{"本番サーバー 🚀", "本番サーバー 🚀"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\nSUMMARY: planned 0\r\tb", `a\nSUMMARY: planned 0\r\tb`},
		{"\x00\x7f", `\x00\x7f`},
		{"\u0085\u009b", `\u0085\u009b`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c", `\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c`},
		{"line\u2028sep\u2029", `line\u2028sep\u2029`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`back\slash`, `back\slash`},
		// Invisible characters that would hide what a name is.
		{"ad\u200bmin\u2060\ufeff\u2062\u206a\ufff9\u180e", `ad\u200bmin\u2060\ufeff\u2062\u206a\ufff9\u180e`},
		// Tag characters spelling hidden text ("hi"), and a lone one.
		{"web\U000E0068\U000E0069", `web\U000e0068\U000e0069`},
		{"\U000E0001x", `\U000e0001x`},
		// ...but the flag of Scotland (black flag + tags + cancel tag),
		// ZWJ emoji, variation selectors, combining marks and fullwidth
		// forms are text.
		{"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F ok", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F ok"},
		{"x\U000E0067🏴\U000E0067\U000E007F\U000E0067", `x\U000e0067🏴` + "\U000E0067\U000E007F" + `\U000e0067`},
		{"👨\u200d👩\u200d👧 ❤\ufe0f e\u0301 ＡＢＣ", "👨\u200d👩\u200d👧 ❤\ufe0f e\u0301 ＡＢＣ"},
	} {
		if got := report.Sanitize(c.in); got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSanitizeCell(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven-char", 10, "eleven-ch…"},
		{"本番サーバー", 6, "本番…"},             // 2 columns a character: 4 + the ellipsis
		{"👨‍👩‍👧‍👦family", 3, "👨‍👩‍👧‍👦…"}, // a ZWJ family is one cluster, 2 columns
		{"\x1b[31m", 5, `\x1b…`},
		{"é", 1, "é"}, // e + combining accent: one column
	} {
		got := report.SanitizeCell(c.in, c.max)
		if got != c.want {
			t.Errorf("SanitizeCell(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if w := report.DisplayWidth(got); w > c.max {
			t.Errorf("SanitizeCell(%q, %d) is %d columns wide", c.in, c.max, w)
		}
	}
	// Bounded by the cap, not the input: 10 MB names, and one grapheme
	// cluster of a million combining marks.
	for name, huge := range map[string]string{
		"10 MB":   strings.Repeat("A", 10<<20),
		"escapes": strings.Repeat("\x1b", 10<<20),
		"zalgo":   "e" + strings.Repeat("\u0301", 1<<20),
	} {
		got := report.SanitizeCell(huge, 40)
		if len(got) > 16*40+64+len("…") || !strings.HasSuffix(got, "…") {
			t.Errorf("%s: %d bytes, %q…", name, len(got), got[:min(len(got), 40)])
		}
	}
}

func TestDisplayWidth(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"abc", 3},
		{"本番サーバー", 12},
		{"ｱｲｳ", 3}, // half-width katakana
		{"🚀", 2},
		{"🇯🇵", 2},                 // a flag: two regional indicators, one cluster
		{"👍🏽", 2},                 // emoji with a skin tone modifier
		{"e\u0301", 1},            // combining mark
		{"\x1b[31mred\x1b[0m", 3}, // the table's own colours take no columns
	} {
		if got := report.DisplayWidth(c.in); got != c.want {
			t.Errorf("DisplayWidth(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestCSVCell(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"web-1", "web-1"},
		{"", ""},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(1)", "'@SUM(1)"},
		{"\t=1", "'\t'=1"},
		{"\r=1", "'\r'=1"},
		{"name;=cmd|' /C calc'!A0", "name;'=cmd|' /C calc'!A0"},
		{"a,+1", "a,'+1"},
		{"x\n@y", "x\n'@y"},
		{`q"=1`, `q"'=1`},
		{"a-b; c", "a-b; c"},
	} {
		if got := report.CSVCell(c.in); got != c.want {
			t.Errorf("CSVCell(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
