package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// TableOptions shape the terminal table of [WriteTable].
type TableOptions struct {
	// Width is the terminal width in columns: lines that would be longer
	// are cut, the recommendation column first. 0 means no limit (a pipe
	// or a file).
	Width int
	// Color adds ANSI colours. Set it only when the output is a terminal
	// that wants them (and NO_COLOR is unset): the caller decides.
	Color bool
	// MaxRows caps the list of instances needing attention; the rest are
	// counted in a closing line. 0 means no cap.
	MaxRows int
}

// nameWidth caps the name column of the table: names are free text.
const nameWidth = 28

// WriteTable writes the terminal view of r: counts by classification and
// by risk, one line per (account, Region) with its counts and status (and
// the errors of failed targets), then the instances that need attention
// (v1-in-use, no-data, other risky ones, usage errors) with the most v1
// calls first. Columns are aligned with text/tabwriter; colours never
// change the alignment. Figures are computed from r.Instances; r is not
// modified.
func WriteTable(w io.Writer, r *Report, opts TableOptions) error {
	t := &tableWriter{opts: opts}
	sum := summarize(r.Instances)
	failed := failedTargets(r)

	t.line(fmt.Sprintf("IMDS report · %s · generated %s · window %s",
		toolText(r.Tool), shortTime(r.GeneratedAt), windowText(r.Window)))
	targets := plural(len(r.Targets), "target")
	if len(failed) > 0 {
		targets += ", " + t.paint(colorRed, fmt.Sprintf("%d failed (report incomplete)", len(failed)))
	}
	t.line(fmt.Sprintf("%s in %s", plural(sum.Instances, "instance"), targets))
	t.line("")

	// Summary by classification, then by risk.
	t.begin()
	t.row(t.paint(colorBold, "CLASSIFICATION"), "INSTANCES", "MEANING")
	for _, c := range Classifications {
		t.row(t.paint(classColor(c), c), fmt.Sprint(sum.ByClassification[c]), DescribeClassification(c))
	}
	t.row(t.paint(colorBold, "total"), fmt.Sprint(sum.Instances), "")
	t.end()
	t.line("")
	t.begin()
	t.row(t.paint(colorBold, "RISK"), "INSTANCES", "MEANING")
	for _, k := range Risks {
		color := colorDefault
		if sum.ByRisk[k] > 0 {
			color = colorYellow
		}
		t.row(t.paint(color, k), fmt.Sprint(sum.ByRisk[k]), DescribeRisk(k))
	}
	t.end()
	t.line("")

	// By Region.
	t.begin()
	head := []string{"ACCOUNT", "REGION", t.paint(colorBold, "STATUS")}
	for _, c := range Classifications {
		head = append(head, strings.ToUpper(c))
	}
	t.row(append(head, "TOTAL", "")...)
	for _, row := range regionRows(r) {
		status, color := row.Status, colorGreen
		switch row.Status {
		case TargetError:
			color = colorRed
		case "":
			status, color = "-", colorDefault
		}
		cells := []string{row.Account, row.Region, t.paint(color, status)}
		for _, c := range Classifications {
			cells = append(cells, fmt.Sprint(row.ByClass[c]))
		}
		t.row(append(cells, fmt.Sprint(row.Total), "")...)
	}
	t.end()
	for _, f := range failed {
		t.line(t.paint(colorRed, "error") + fmt.Sprintf(" %s/%s: %s", f.Account, f.Region, oneLine(f.Error)))
	}
	t.line("")

	// Instances needing attention.
	list := attentionList(r)
	if len(list) == 0 {
		t.line("No instance needs attention.")
		return t.flush(w)
	}
	t.line(fmt.Sprintf("NEEDS ATTENTION: %s", plural(len(list), "instance")))
	t.begin()
	t.row("INSTANCE", "NAME", "REGION", "TOKENS", "HOP", t.paint(colorBold, "CLASSIFICATION"), t.paint(colorBold, "RISKS"),
		"V1 CALLS", "LAST CALL", "RECOMMENDATION")
	// The name is free text: laid out by display width (see endLead).
	shown := 0
	for _, in := range list {
		if opts.MaxRows > 0 && shown == opts.MaxRows {
			break
		}
		risks := strings.Join(in.Risks, ",")
		riskColor := colorYellow
		if risks == "" {
			risks, riskColor = "-", colorDefault
		}
		t.row(in.InstanceID, truncate(oneLine(in.Name), nameWidth), in.Region, in.MetadataOptions.HttpTokens, hopText(in),
			t.paint(classColor(in.Classification), in.Classification), t.paint(riskColor, risks),
			callsAndRejectedText(in), lastCallText(in), oneLine(recommendationText(in)))
		shown++
	}
	t.endLead(2)
	if n := len(list) - shown; n > 0 {
		t.line(fmt.Sprintf("… and %d more (see the JSON/CSV report, or raise the row limit)", n))
	}
	return t.flush(w)
}

// ANSI SGR codes. Every code is two characters, so that every painted
// cell carries the same number of invisible bytes and tabwriter's
// alignment holds with or without colour.
const (
	colorBold    = "01"
	colorRed     = "31"
	colorGreen   = "32"
	colorYellow  = "33"
	colorCyan    = "36"
	colorDefault = "39"
	colorGrey    = "90"
	ansiReset    = "\x1b[0m"
)

func classColor(c string) string {
	switch c {
	case ClassV1InUse:
		return colorRed
	case ClassNoData:
		return colorYellow
	case ClassReady:
		return colorGreen
	case ClassEnforced:
		return colorCyan
	case ClassDisabled:
		return colorGrey
	}
	return colorDefault
}

// tableWriter collects the output lines. A block of rows goes through
// tabwriter; the last cell of each row (the recommendation, the meaning)
// is left out of the alignment and cut to the width that remains.
type tableWriter struct {
	opts  TableOptions
	out   bytes.Buffer
	block [][]string
}

// paint colours s when colour is on. Within one column either every cell
// is painted or none is (a column mixing both would misalign).
func (t *tableWriter) paint(code, s string) string {
	if !t.opts.Color {
		return s
	}
	return "\x1b[" + code + "m" + s + ansiReset
}

func (t *tableWriter) line(s string) {
	t.out.WriteString(t.cut(s))
	t.out.WriteByte('\n')
}

func (t *tableWriter) begin() { t.block = t.block[:0] }

// row adds a row to the block. Tabs and line breaks in a cell would break
// the alignment; they become spaces.
func (t *tableWriter) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cellReplacer.Replace(c)
	}
	t.block = append(t.block, cells)
}

var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

// end aligns the block: every cell but the last through tabwriter, then the
// last cell appended, cut to what is left of the width.
func (t *tableWriter) end() { t.endLead(0) }

// endLead is end with the first lead columns laid out here, by display
// width, ahead of the tabwriter columns. tabwriter counts runes, so a
// column of free text (names, which may be Japanese or carry emoji) would
// misalign every column after it; laid out first and padded by display
// width, it cannot.
func (t *tableWriter) endLead(lead int) {
	widths := make([]int, lead)
	for _, cells := range t.block {
		for i := range lead {
			widths[i] = max(widths[i], visibleWidth(cells[i]))
		}
	}
	var aligned bytes.Buffer
	tw := tabwriter.NewWriter(&aligned, 0, 0, 2, ' ', 0)
	for _, cells := range t.block {
		for _, c := range cells[lead : len(cells)-1] {
			tw.Write([]byte(c))
			tw.Write([]byte{'\t'})
		}
		tw.Write([]byte{'\n'})
	}
	tw.Flush()
	sc := bufio.NewScanner(&aligned)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		cells := t.block[i]
		var b strings.Builder
		for j := range lead {
			b.WriteString(cells[j])
			b.WriteString(strings.Repeat(" ", widths[j]-visibleWidth(cells[j])+2))
		}
		b.WriteString(sc.Text())
		prefix := b.String()
		last := cells[len(cells)-1]
		if t.opts.Width > 0 {
			last = truncate(last, t.opts.Width-visibleWidth(prefix))
		}
		t.line(strings.TrimRight(prefix+last, " "))
	}
}

// cut shortens a whole line to the width, colour codes aside.
func (t *tableWriter) cut(s string) string {
	if t.opts.Width <= 0 || visibleWidth(s) <= t.opts.Width {
		return s
	}
	var b strings.Builder
	width := 0
	for i := 0; i < len(s); {
		if n := ansiLen(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if width+runeWidth(r) > t.opts.Width-1 {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		width += runeWidth(r)
		i += size
	}
	if t.opts.Color {
		b.WriteString(ansiReset)
	}
	return b.String()
}

func (t *tableWriter) flush(w io.Writer) error {
	if _, err := w.Write(t.out.Bytes()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// ansiLen is the length of the ANSI SGR sequence at the start of s, or 0.
func ansiLen(s string) int {
	if !strings.HasPrefix(s, "\x1b[") {
		return 0
	}
	if end := strings.IndexByte(s, 'm'); end > 0 {
		return end + 1
	}
	return 0
}

// visibleWidth is the number of terminal columns s takes, ANSI
// sequences aside (see [runeWidth]).
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if l := ansiLen(s[i:]); l > 0 {
			i += l
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n += runeWidth(r)
	}
	return n
}

// runeWidth is the number of terminal columns r takes: 0 for combining
// marks and zero-width characters, 2 for East Asian wide and full-width
// characters and most emoji, 1 otherwise. An approximation of Unicode
// UAX #11 good enough for names; no table of every code point.
func runeWidth(r rune) int {
	switch {
	case r == 0x200b || r == 0x200c || r == 0x200d || r == 0xfeff || (r >= 0xfe00 && r <= 0xfe0f):
		return 0
	case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
		return 0
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0x303e, r >= 0x3041 && r <= 0x33ff,
		r >= 0x3400 && r <= 0x4dbf, r >= 0x4e00 && r <= 0x9fff, r >= 0xa000 && r <= 0xa4cf,
		r >= 0xac00 && r <= 0xd7a3, r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f,
		r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1f64f,
		r >= 0x1f900 && r <= 0x1f9ff, r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}

// truncate cuts plain text s to at most w columns, ending with "…" when
// cut.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if visibleWidth(s) <= w {
		return s
	}
	var b strings.Builder
	width := 0
	for _, r := range s {
		if width+runeWidth(r) > w-1 {
			break
		}
		b.WriteRune(r)
		width += runeWidth(r)
	}
	b.WriteString("…")
	return b.String()
}

// oneLine replaces control characters (newlines, tabs, escapes) with
// spaces: fleet text must not break the layout or drive the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
