package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/rivo/uniseg"
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

// Caps of the table's cells, in columns: names are free text, and so is
// everything a report file holds, so no cell may grow without bound. The
// recommendation and error texts get more room; a terminal cuts them to
// its width anyway.
const (
	nameWidth = 28
	cellWidth = 40
	textWidth = 400
)

// WriteTable writes the terminal view of r: counts by classification and
// by risk, one line per (account, Region) with its counts and status (and
// the errors of failed targets), then the instances that need attention
// (v1-in-use, no-data, other risky ones, usage errors) with the most v1
// calls first. Columns are aligned by display width (see [DisplayWidth]),
// so Japanese names and emoji line up; colours never change the alignment.
// Every text from the report goes through [SanitizeCell]: no control or
// bidi character reaches the terminal, no cell is longer than its cap.
// Figures are computed from r.Instances; r is not modified.
func WriteTable(w io.Writer, r *Report, opts TableOptions) error {
	t := &tableWriter{opts: opts}
	sum := summarize(r.Instances)
	failed := failedTargets(r)

	t.line(fmt.Sprintf("IMDS report · %s · generated %s · window %s",
		SanitizeCell(toolText(r.Tool), cellWidth), shortTime(r.GeneratedAt), windowText(r.Window)))
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
		t.row(t.paint(color, k), riskCount(r, sum, k), DescribeRisk(k))
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
		case TargetSkipped:
			color = colorDefault
		case "":
			status, color = "-", colorDefault
		}
		cells := []string{cell(row.Account), cell(row.Region), t.paint(color, cell(status))}
		for _, c := range Classifications {
			cells = append(cells, fmt.Sprint(row.ByClass[c]))
		}
		t.row(append(cells, fmt.Sprint(row.Total), "")...)
	}
	t.end()
	for _, f := range failed {
		t.line(t.paint(colorRed, "error") + fmt.Sprintf(" %s/%s: %s", cell(f.Account), cell(f.Region), SanitizeCell(f.Error, textWidth)))
	}
	for _, e := range launchErrors(r) {
		t.line(t.paint(colorRed, "launch sources not read") + " " + SanitizeCell(e, textWidth))
	}
	if n := len(r.SkippedAccounts); n > 0 {
		t.line("")
		t.line(fmt.Sprintf("NOT SCANNED: %s", plural(n, "account")))
		for i, sa := range r.SkippedAccounts {
			if i == skippedShown {
				t.line(fmt.Sprintf("… and %d more (see the JSON report)", n-skippedShown))
				break
			}
			t.line("skipped " + skippedAccountText(sa, cellWidth, textWidth))
		}
	}
	if un := unplacedAccounts(r, cellWidth, textWidth); len(un) > 0 {
		t.line("")
		t.line(fmt.Sprintf("IN NO ORGANIZATIONAL UNIT: %s", plural(len(un), "account")))
		for _, l := range unplacedMeaning {
			t.line(l)
		}
		for i, u := range un {
			if i == skippedShown {
				t.line(fmt.Sprintf("… and %d more (see the JSON report)", len(un)-skippedShown))
				break
			}
			t.line(t.paint(colorYellow, "unplaced") + " " + u.String())
		}
	}
	for _, u := range skippedUnits(r, cellWidth, textWidth) {
		t.line(t.paint(colorYellow, "organizational unit not fully read") + " " + u)
	}
	if notes := orgNotes(r, textWidth); len(notes) > 0 {
		t.line("")
		t.line(fmt.Sprintf("ORGANIZATION NOTES: %s, %s", plural(len(notes), "note"), orgNotesIntro))
		for i, n := range notes {
			if i == skippedShown {
				t.line(fmt.Sprintf("… and %d more (see the JSON report)", len(notes)-skippedShown))
				break
			}
			t.line(t.paint(colorYellow, "note") + " " + n)
		}
	}
	t.line("")
	t.launchSections(r)

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
		t.row(cell(in.InstanceID), SanitizeCell(in.Name, nameWidth), cell(in.Region), cell(in.MetadataOptions.HttpTokens), hopText(in),
			t.paint(classColor(in.Classification), cell(in.Classification)), t.paint(riskColor, SanitizeCell(risks, textWidth)),
			callsAndRejectedText(in), lastCallText(in), SanitizeCell(recommendationText(in), textWidth))
		shown++
	}
	t.end()
	if n := len(list) - shown; n > 0 {
		t.line(fmt.Sprintf("… and %d more (see the JSON/CSV report, or raise the row limit)", n))
	}
	return t.flush(w)
}

// launchSections writes the workloads in plan order and the launch
// sources to fix (schema version 2), each capped at MaxRows.
func (t *tableWriter) launchSections(r *Report) {
	if ws := workloadsInPlanOrder(r); len(ws) > 0 {
		t.line(fmt.Sprintf("WORKLOADS: %s, in plan order", plural(len(ws), "workload")))
		t.begin()
		t.row("WORKLOAD", "KIND", "REGION", "OWNER", "INSTANCES", strings.ToUpper(ClassV1InUse), strings.ToUpper(ClassNoData),
			strings.ToUpper(ClassReady), strings.ToUpper(ClassEnforced), "NEXT LAUNCH", t.paint(colorBold, "STEP"), "RECOMMENDATION")
		shown := 0
		for _, w := range ws {
			if t.opts.MaxRows > 0 && shown == t.opts.MaxRows {
				break
			}
			color := colorDefault
			switch w.Step {
			case StepFixSource:
				color = colorRed
			case StepDone:
				color = colorGreen
			}
			t.row(SanitizeCell(w.Name, nameWidth), cell(w.Kind), cell(w.Region), SanitizeCell(ownerText(w), nameWidth), fmt.Sprint(w.Instances),
				fmt.Sprint(w.ByClassification[ClassV1InUse]), fmt.Sprint(w.ByClassification[ClassNoData]), fmt.Sprint(w.ByClassification[ClassReady]),
				fmt.Sprint(w.ByClassification[ClassEnforced]), SanitizeCell(NextLaunchText(w.NextLaunch), textWidth), t.paint(color, cell(w.Step)),
				SanitizeCell(w.Recommendation, textWidth))
			shown++
		}
		t.end()
		if n := len(ws) - shown; n > 0 {
			t.line(fmt.Sprintf("… and %d more workloads (see the JSON report, or raise the row limit)", n))
		}
		t.line("")
	}
	fix := sourcesToFix(r)
	toFix := fixSet(fix)
	switch {
	case len(fix) > 0:
		t.line(fmt.Sprintf("SOURCES TO FIX: %s that would launch instances allowing IMDSv1 (or cannot launch)", plural(len(fix), "launch source")))
		t.begin()
		t.row("SOURCE", "NAME", "REGION", t.paint(colorBold, "NEXT LAUNCH"), "GROUPS", "INSTANCES", "FIX")
		shown := 0
		for _, s := range fix {
			if t.opts.MaxRows > 0 && shown == t.opts.MaxRows {
				break
			}
			t.row(cell(s.ID), SanitizeCell(s.Name, nameWidth), cell(s.Region), t.paint(colorRed, SanitizeCell(NextLaunchText(&s.NextLaunch), textWidth)),
				SanitizeCell(groupsText(s, 3), textWidth), instancesText(s), SanitizeCell(sourceFixText(s, toFix), textWidth))
			shown++
		}
		t.end()
		if n := len(fix) - shown; n > 0 {
			t.line(fmt.Sprintf("… and %d more sources (see the JSON report, or raise the row limit)", n))
		}
		t.line("")
	case len(r.LaunchSources) > 0:
		t.line("No launch source would launch an instance allowing IMDSv1.")
		t.line("")
	}
}

// cell is a short text cell from the report, made safe and capped.
func cell(s string) string { return SanitizeCell(s, cellWidth) }

// ANSI SGR codes. Every code is two characters, so that every painted
// cell carries the same number of invisible bytes (not that alignment
// depends on it: widths skip the codes).
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

// tableWriter collects the output lines. A block of rows is aligned by
// display width; the last cell of each row (the recommendation, the
// meaning) is left out of the alignment and cut to the width that remains.
// Every cell handed to row or paint is already sanitized text: the only
// escape sequences in the output are the colours paint adds.
type tableWriter struct {
	opts  TableOptions
	out   bytes.Buffer
	block [][]string
}

// paint colours s when colour is on. Within one column either every cell
// is painted or none is.
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

func (t *tableWriter) row(cells ...string) { t.block = append(t.block, cells) }

// end aligns the block ([padColumns]), then appends the last cell, cut to
// what is left of the width.
func (t *tableWriter) end() {
	for i, prefix := range padColumns(t.block) {
		last := t.block[i][len(t.block[i])-1]
		if t.opts.Width > 0 {
			if room := t.opts.Width - DisplayWidth(prefix); DisplayWidth(last) > room {
				last = cutWidth(last, room-1) + ellipsis
			}
		}
		t.line(strings.TrimRight(prefix+last, " "))
	}
}

// AlignColumns lays out rows of sanitized cells in columns by display width
// ([DisplayWidth]), so that Japanese names and emoji keep the columns
// aligned (text/tabwriter counts runes): every cell but the last padded to
// its column's width plus two spaces. It returns one line per row, without
// trailing spaces or line end.
func AlignColumns(rows [][]string) []string {
	lines := padColumns(rows)
	for i, prefix := range lines {
		lines[i] = strings.TrimRight(prefix+rows[i][len(rows[i])-1], " ")
	}
	return lines
}

// padColumns returns, for each row, every cell but the last padded to its
// column's display width plus two spaces.
func padColumns(rows [][]string) []string {
	var widths []int
	for _, cells := range rows {
		for i, c := range cells[:len(cells)-1] {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], DisplayWidth(c))
		}
	}
	out := make([]string, len(rows))
	for r, cells := range rows {
		var b strings.Builder
		for i, c := range cells[:len(cells)-1] {
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-DisplayWidth(c)+2))
		}
		out[r] = b.String()
	}
	return out
}

// cut shortens a whole line to the width, keeping the colour codes and
// whole grapheme clusters.
func (t *tableWriter) cut(s string) string {
	if t.opts.Width <= 0 || DisplayWidth(s) <= t.opts.Width {
		return s
	}
	var b strings.Builder
	width := 0
	state := -1
	for rest := s; rest != ""; {
		if n := ansiLen(rest); n > 0 {
			b.WriteString(rest[:n])
			rest, state = rest[n:], -1
			continue
		}
		var cluster string
		var cw int
		cluster, rest, cw, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if width+cw > t.opts.Width-1 {
			b.WriteString(ellipsis)
			break
		}
		b.WriteString(cluster)
		width += cw
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
