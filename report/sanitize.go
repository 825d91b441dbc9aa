package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// This file is the one place that makes fleet text safe to show. Names,
// tags, ids and error messages come from whoever can call ec2:CreateTags
// (or edit a report file), and every human output (the table, Markdown,
// HTML, remediate's and rollback's tables, prompts) shows them: control
// characters would drive the terminal (ANSI escapes) or forge rows
// (newlines), bidi controls would reorder what is shown, and a huge value
// would flood the output. The machine formats keep the exact data: JSON
// through encoding/json's escaping, CSV through [CSVCell].

// Sanitize returns s with every character that could change how the text
// around it is shown replaced by a visible escape:
//
//   - tab, line feed and carriage return become \t, \n and \r;
//   - other C0 controls, DEL and bytes that are not UTF-8 become \xNN
//     (ESC is \x1b);
//   - C1 controls (U+0080–U+009F), the bidi controls (U+061C, U+200E,
//     U+200F, U+202A–U+202E, U+2066–U+2069), the line and paragraph
//     separators (U+2028, U+2029) and invisible format characters (U+200B,
//     U+2060–U+2064, U+206A–U+206F, U+FEFF, U+FFF9–U+FFFB, U+180E) become
//     \uNNNN; Unicode tag characters (U+E0000–U+E007F), which can spell
//     hidden text, become \UNNNNNNNN unless they are part of an emoji tag
//     sequence (the flag of Scotland).
//
// Everything else, Japanese and emoji included, is kept. A backslash is
// kept as it is: the escapes are for reading, not for decoding back.
func Sanitize(s string) string {
	i := unsafeIndex(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	// Tag characters are kept only in an emoji tag sequence (a black flag
	// followed by tags: the flags of England, Scotland, Wales).
	inFlag := i > 0 && strings.HasSuffix(s[:i], blackFlag)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		flag := inFlag
		inFlag = r == 0x1f3f4 || (inFlag && r >= 0xe0020 && r <= 0xe007e)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case flag && r >= 0xe0020 && r <= 0xe007f:
			b.WriteString(s[i : i+size])
		case !unsafeRune(r):
			b.WriteString(s[i : i+size])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether r must be escaped by [Sanitize].
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	case r == 0x200b, r >= 0x2060 && r <= 0x2064, r >= 0x206a && r <= 0x206f, r == 0xfeff, r >= 0xfff9 && r <= 0xfffb, r == 0x180e:
		// Invisible: a zero-width space, word joiner, invisible operators,
		// deprecated format controls, a BOM inside text, interlinear
		// annotation marks would hide what a name really is.
		return true
	case r >= 0xe0000 && r <= 0xe007f:
		// Tag characters: invisible, they can spell out hidden text.
		return true
	}
	return false
}

// blackFlag starts an emoji tag sequence.
const blackFlag = "\U0001F3F4"

// unsafeIndex is the byte offset of the first character Sanitize changes,
// or -1: most text needs no copy.
func unsafeIndex(s string) int {
	for i, r := range s {
		if unsafeRune(r) {
			return i
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return -1
}

// ellipsis ends a cell that was cut.
const ellipsis = "…"

// SanitizeCell is [Sanitize] for a table cell at most max columns wide
// (display width, see [DisplayWidth]): a longer value is cut at a
// grapheme-cluster boundary and ends with "…". The work and the result are
// bounded by max, not by the length of s, so a 10 MB name costs no more
// than a short one; a cluster that is absurdly long in bytes (thousands of
// combining marks) is cut too. max <= 0 means no cap.
func SanitizeCell(s string, max int) string {
	if max <= 0 {
		return Sanitize(s)
	}
	// An escape is at least 2 columns for 1 to 4 bytes, and a cluster of
	// width 1 or 2 is rarely longer than a few dozen bytes (emoji ZWJ
	// sequences): 16 bytes a column is more than any real name needs.
	budget := 16*max + 64
	cut := false
	if len(s) > budget {
		s = s[:budget]
		for len(s) > 0 && !utf8.RuneStart(s[len(s)-1]) {
			s = s[:len(s)-1]
		}
		if len(s) > 0 {
			// Drop the last, possibly partial, character.
			_, size := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-size]
		}
		cut = true
	}
	s = Sanitize(s)
	if !cut && DisplayWidth(s) <= max {
		return s
	}
	return cutWidth(s, max-1) + ellipsis
}

// cutWidth returns the longest prefix of s, whole grapheme clusters only,
// that is at most w columns wide and at most 16*w+64 bytes long.
func cutWidth(s string, w int) string {
	if w <= 0 {
		return ""
	}
	limit := 16*w + 64
	width, n := 0, 0
	state := -1
	rest := s
	for len(rest) > 0 {
		var cluster string
		var cw int
		cluster, rest, cw, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if width+cw > w || n+len(cluster) > limit {
			break
		}
		width += cw
		n += len(cluster)
	}
	return s[:n]
}

// DisplayWidth is the number of terminal columns s takes: grapheme
// clusters and East Asian widths per Unicode (UAX #29 and #11, from
// github.com/rivo/uniseg), so a Japanese name or an emoji counts 2 columns
// a character. The ANSI colour sequences the table adds (ESC [ ... m) take
// none; fleet text never carries one, since [Sanitize] escapes ESC.
func DisplayWidth(s string) int {
	if !strings.Contains(s, "\x1b[") {
		return plainWidth(s)
	}
	n := 0
	for s != "" {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			break
		}
		n += plainWidth(s[:i])
		s = s[i:]
		if l := ansiLen(s); l > 0 {
			s = s[l:]
		} else {
			// A lone ESC [ is not ours: count it as text.
			n += plainWidth(s[:2])
			s = s[2:]
		}
	}
	return n + plainWidth(s)
}

// plainWidth is uniseg's width of s, with a fast path for printable ASCII
// (one column a byte), which most cells are: a table of 100,000 instances
// measures a million cells.
func plainWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return uniseg.StringWidth(s)
		}
	}
	return len(s)
}

// ansiLen is the length of the ANSI SGR sequence (ESC [ digits/; m) at the
// start of s, or 0.
func ansiLen(s string) int {
	if !strings.HasPrefix(s, "\x1b[") {
		return 0
	}
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'm':
			return i + 1
		case c >= '0' && c <= '9', c == ';':
		default:
			return 0
		}
	}
	return 0
}

// CSVCell makes a text cell safe to open in a spreadsheet, following
// OWASP's advice on CSV injection: a cell a spreadsheet would run as a
// formula (one starting with = + - @, or with a tab or carriage return
// ahead of one) gets a leading single quote, which spreadsheets show as
// text. A spreadsheet that splits cells on another separator (a ;-locale
// Excel opening a ,-file, or a tab) would start a new cell inside this
// one, so a formula character right after , ; tab, CR, LF or a double
// quote gets a single quote before it as well. Numeric cells must not go
// through CSVCell: -1 is a number, not a formula. The value is otherwise
// exact; the CSV writer does the RFC 4180 quoting.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	needs := formulaStart(s[0])
	for i := 0; i+1 < len(s) && !needs; i++ {
		needs = cellSeparator(s[i]) && formulaStart(s[i+1])
	}
	if !needs {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	if formulaStart(s[0]) {
		b.WriteByte('\'')
	}
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if cellSeparator(s[i]) && i+1 < len(s) && formulaStart(s[i+1]) {
			b.WriteByte('\'')
		}
	}
	return b.String()
}

func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

func cellSeparator(c byte) bool {
	switch c {
	case ',', ';', '\t', '\r', '\n', '"':
		return true
	}
	return false
}
