package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Diff formats accepted by [WriteDiff].
var DiffFormats = []string{FormatTable, FormatMarkdown, FormatJSON}

// WriteDiff writes d in the named format: "table", "markdown" or "json";
// opts is used by "table" only.
func WriteDiff(w io.Writer, format string, d *Diff, opts TableOptions) error {
	switch format {
	case FormatTable:
		return WriteDiffTable(w, d, opts)
	case FormatMarkdown:
		return WriteDiffMarkdown(w, d)
	case FormatJSON:
		return WriteDiffJSON(w, d)
	}
	return fmt.Errorf("unknown diff format %q: use one of %s", format, strings.Join(DiffFormats, ", "))
}

// DiffFormatFromPath picks a diff output's format from its extension:
// .json, .md (or .markdown) and .txt.
func DiffFormatFromPath(path string) (string, error) {
	f, err := FormatFromPath(path)
	if err != nil {
		return "", err
	}
	switch f {
	case FormatJSON, FormatMarkdown, FormatTable:
		return f, nil
	}
	return "", fmt.Errorf("diff file %q: a diff is written as .json, .md or .txt", path)
}

// diffRows is how many changed instances the human formats list.
const diffRows = 50

// listedChanges is the instances the human formats list, most urgent
// first: every change but a mere change in the v1 call count (most v1
// users change every day; the per-Region figures sum them) and an
// instance only one report scanned (the per-Region status says so).
func listedChanges(d *Diff) (list []*DiffInstance, callsOnly, unscanned int) {
	for i := range d.Instances {
		in := &d.Instances[i]
		switch {
		case slices.Contains(in.Changes, ChangeUnscanned):
			unscanned++
		case onlyCalls(in.Changes):
			callsOnly++
		default:
			list = append(list, in)
		}
	}
	// d.Instances is sorted by account, Region and id; a stable sort by
	// the first (most urgent) kind keeps that order within a kind.
	slices.SortStableFunc(list, func(a, b *DiffInstance) int {
		return cmp.Compare(kindRank(a.Changes[0]), kindRank(b.Changes[0]))
	})
	return list, callsOnly, unscanned
}

func onlyCalls(changes []string) bool {
	for _, c := range changes {
		if c != ChangeV1CallsUp && c != ChangeV1CallsDown {
			return false
		}
	}
	return true
}

func kindRank(k string) int {
	for i, c := range ChangeKinds {
		if c == k {
			return i
		}
	}
	return len(ChangeKinds)
}

// changedRegions is the Regions the human formats list: those with a
// change of any kind (v1 calls included) or whose status changed, the
// most regressions first, then the most new v1 users, then by account and
// Region; quiet counts the others. An organization has thousands of
// Regions, most of them without any instance.
func changedRegions(d *Diff) (list []*DiffGroup, quiet int) {
	for i := range d.Regions {
		g := &d.Regions[i]
		changed := g.Status != nil && g.Status.Old != g.Status.New
		for _, k := range ChangeKinds {
			changed = changed || g.Changes.Count(k) > 0
		}
		if changed {
			list = append(list, g)
		} else {
			quiet++
		}
	}
	slices.SortStableFunc(list, func(a, b *DiffGroup) int {
		return cmp.Or(
			cmp.Compare(b.Changes.Regression+b.Changes.NextLaunchRegression, a.Changes.Regression+a.Changes.NextLaunchRegression),
			cmp.Compare(b.Changes.NewV1, a.Changes.NewV1))
	})
	return list, quiet
}

// regionsNotShown says which Regions a list leaves out, or "".
func regionsNotShown(more, quiet int) string {
	var parts []string
	if more > 0 {
		parts = append(parts, fmt.Sprintf("%d more with changes", more))
	}
	if quiet > 0 {
		parts = append(parts, fmt.Sprintf("%s without any change not shown", plural(quiet, "Region")))
	}
	if len(parts) == 0 {
		return ""
	}
	return "… " + strings.Join(parts, "; ")
}

// changedWorkloads is the workloads the human formats list: those with a
// change other than v1 calls alone or unscanned instances, the most
// regressions first, then the most new v1 users, then by account, Region
// and ID.
func changedWorkloads(d *Diff) []*DiffGroup {
	var list []*DiffGroup
	for i := range d.Workloads {
		c := d.Workloads[i].Changes
		if c.Regression+c.NextLaunchRegression+c.NewV1+c.Enforced+c.New+c.Gone+c.Reclassified > 0 ||
			d.Workloads[i].NextLaunchTokens != nil && d.Workloads[i].NextLaunchTokens.Old != d.Workloads[i].NextLaunchTokens.New {
			list = append(list, &d.Workloads[i])
		}
	}
	slices.SortStableFunc(list, func(a, b *DiffGroup) int {
		return cmp.Or(
			cmp.Compare(b.Changes.Regression+b.Changes.NextLaunchRegression, a.Changes.Regression+a.Changes.NextLaunchRegression),
			cmp.Compare(b.Changes.NewV1, a.Changes.NewV1))
	})
	return list
}

// workloadText names a workload for people: "KIND NAME".
func workloadText(g *DiffGroup) string {
	switch g.Kind {
	case "":
		return g.Workload
	case WorkloadUnmanaged:
		return g.Kind
	}
	return g.Kind + " " + g.Name
}

// pairText is "old → new", or just the value when it did not change.
func pairText(o, n int) string {
	if o == n {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d → %d", o, n)
}

func callsPairText(p FloatPair) string {
	if p.Old == p.New {
		return FormatCount(p.New)
	}
	s := FormatCount(p.Old) + " → " + FormatCount(p.New)
	if pct := math.Round((p.New - p.Old) / p.Old * 100); p.Old > 0 && pct != 0 {
		s += fmt.Sprintf(" (%+.0f%%)", pct)
	}
	return s
}

func nullableCallsText(p NullableFloatPair) string {
	side := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return FormatCount(*v)
	}
	if p.Old != nil && p.New != nil && *p.Old == *p.New {
		return side(p.New)
	}
	return side(p.Old) + " → " + side(p.New)
}

func strPairText(p StringPair) string {
	o, n := p.Old, p.New
	if o == "" {
		o = "-"
	}
	if n == "" {
		n = "-"
	}
	if o == n {
		return n
	}
	return o + " → " + n
}

func statusPairText(p *StringPair) string {
	if p == nil {
		return ""
	}
	return strPairText(*p)
}

func diffReportText(r DiffReport) string {
	s := fmt.Sprintf("%s (%s, schema %d, window %s): %s in %s",
		shortTime(r.GeneratedAt), toolText(r.Tool), r.SchemaVersion, windowText(r.Window),
		plural(r.Instances, "instance"), plural(r.Targets, "target"))
	if r.FailedTargets > 0 {
		s += fmt.Sprintf(", %d failed", r.FailedTargets)
	}
	return s
}

// WriteDiffTable writes the terminal view of d: the two reports, the
// changes by kind, one line per account and Region, the workloads that
// changed (regressions first), then the changed instances (regressions first; mere call-count changes are only summed).
// Every text from the reports goes through [SanitizeCell].
func WriteDiffTable(w io.Writer, d *Diff, opts TableOptions) error {
	t := &tableWriter{opts: opts}
	t.line("IMDS migration progress")
	t.line("old: " + SanitizeCell(diffReportText(d.Old), textWidth))
	t.line("new: " + SanitizeCell(diffReportText(d.New), textWidth))
	for _, s := range d.NotCompared {
		t.line("not compared: " + SanitizeCell(s, textWidth))
	}
	t.line("")

	t.begin()
	t.row(t.paint(colorBold, "CHANGE"), "INSTANCES", "MEANING")
	for _, k := range ChangeKinds {
		n := d.Totals.Changes.Count(k)
		color := colorDefault
		switch {
		case n > 0 && (k == ChangeRegression || k == ChangeNextLaunchRegression || k == ChangeNewV1):
			color = colorRed
		case n > 0 && k == ChangeEnforced:
			color = colorGreen
		}
		t.row(t.paint(color, k), fmt.Sprint(n), DescribeChange(k))
	}
	t.end()
	t.line("")

	t.begin()
	t.row("ACCOUNT", "REGION", t.paint(colorBold, "STATUS"), "INSTANCES", "ENFORCED", "V1-IN-USE", "V1 CALLS",
		"+ENFORCED", "+V1", "REGRESSED", "NEXT-LAUNCH REGRESSED", "NEW", "GONE", "")
	rows, quiet := changedRegions(d)
	limit := diffRows
	if opts.MaxRows > 0 {
		limit = opts.MaxRows
	}
	more := max(len(rows)-limit, 0)
	rows = rows[:len(rows)-more]
	total := d.Totals
	total.Account, total.Region = "total", ""
	for _, g := range append(rows, &total) {
		t.row(cell(g.Account), cell(g.Region), cell(statusPairText(g.Status)), pairText(g.Instances.Old, g.Instances.New),
			pairText(g.Enforced.Old, g.Enforced.New), pairText(g.V1InUse.Old, g.V1InUse.New), callsPairText(g.V1Calls),
			fmt.Sprint(g.Changes.Enforced), fmt.Sprint(g.Changes.NewV1),
			fmt.Sprint(g.Changes.Regression), fmt.Sprint(g.Changes.NextLaunchRegression), fmt.Sprint(g.Changes.New), fmt.Sprint(g.Changes.Gone), "")
	}
	t.end()
	if s := regionsNotShown(more, quiet); s != "" {
		t.line(s + " (see --format json)")
	}
	t.line("")

	if wl := changedWorkloads(d); len(wl) > 0 {
		t.line(fmt.Sprintf("WORKLOADS THAT CHANGED: %d of %d", len(wl), len(d.Workloads)))
		t.begin()
		t.row("WORKLOAD", "ACCOUNT", "REGION", "INSTANCES", "ENFORCED", "V1-IN-USE", "NEXT LAUNCH TOKENS",
			"+ENFORCED", "+V1", "REGRESSED", "NEXT-LAUNCH REGRESSED", "NEW", "GONE", "")
		for i, g := range wl {
			if i == diffRows {
				break
			}
			t.row(SanitizeCell(workloadText(g), nameWidth), cell(g.Account), cell(g.Region), pairText(g.Instances.Old, g.Instances.New),
				pairText(g.Enforced.Old, g.Enforced.New), pairText(g.V1InUse.Old, g.V1InUse.New), cell(strPairText(*g.NextLaunchTokens)),
				fmt.Sprint(g.Changes.Enforced), fmt.Sprint(g.Changes.NewV1), fmt.Sprint(g.Changes.Regression),
				fmt.Sprint(g.Changes.NextLaunchRegression), fmt.Sprint(g.Changes.New), fmt.Sprint(g.Changes.Gone), "")
		}
		t.end()
		if n := len(wl) - diffRows; n > 0 {
			t.line(fmt.Sprintf("… and %d more (see --format json)", n))
		}
		t.line("")
	}

	list, callsOnly, unscanned := listedChanges(d)
	if len(list) == 0 {
		t.line("No instance changed" + parenthesized(notListedText(callsOnly, unscanned)) + ".")
		return t.flush(w)
	}
	t.line(fmt.Sprintf("CHANGED: %s%s", plural(len(list), "instance"), parenthesized(notListedText(callsOnly, unscanned))))
	t.begin()
	t.row("INSTANCE", "NAME", "ACCOUNT", "REGION", t.paint(colorBold, "CHANGES"), "CLASSIFICATION", "TOKENS", "V1 CALLS")
	shown := 0
	for _, in := range list {
		if shown == limit {
			break
		}
		t.row(cell(in.InstanceID), SanitizeCell(in.Name, nameWidth), cell(in.Account), cell(in.Region),
			SanitizeCell(strings.Join(in.Changes, ","), textWidth), cell(strPairText(in.Classification)),
			cell(strPairText(in.HttpTokens)), nullableCallsText(in.V1Calls))
		shown++
	}
	t.end()
	if n := len(list) - shown; n > 0 {
		t.line(fmt.Sprintf("… and %d more (see --format json)", n))
	}
	return t.flush(w)
}

// notListedText names the instances the lists leave out.
func notListedText(callsOnly, unscanned int) string {
	var parts []string
	if callsOnly > 0 {
		parts = append(parts, plural(callsOnly, "instance")+" whose v1 call count alone changed")
	}
	if unscanned > 0 {
		parts = append(parts, plural(unscanned, "instance")+" in a target only one report scanned")
	}
	return strings.Join(parts, "; ")
}

func parenthesized(notListed string) string {
	if notListed == "" {
		return ""
	}
	return " (not listed: " + notListed + ")"
}

// WriteDiffMarkdown writes d for a pull request or $GITHUB_STEP_SUMMARY:
// the changes by kind, a table per account and Region, and the changed
// instances (50 rows). Fleet text is made inert with the same escaping as
// the Markdown report (see md).
func WriteDiffMarkdown(w io.Writer, d *Diff) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	tot := d.Totals.Changes
	p("# IMDS migration progress\n\n")
	p("- **Old:** %s\n- **New:** %s\n\n", md(diffReportText(d.Old), mdTextWidth), md(diffReportText(d.New), mdTextWidth))
	regressed := d.CountInstances(ChangeRegression, ChangeNextLaunchRegression)
	switch {
	case regressed > 0:
		p("> [!CAUTION]\n> %s regressed: IMDSv1 is allowed again (now, or at the next launch) where it was not.\n\n", plural(regressed, "instance"))
	case tot.NewV1 > 0:
		p("> [!WARNING]\n> %s newly using IMDSv1.\n\n", plural(tot.NewV1, "instance"))
	}
	p("**%d newly enforced** · %d newly v1-in-use · %d regressed (%d now, %d at the next launch) · %d new · %d gone · enforced %s · v1-in-use %s · v1 calls %s.\n\n",
		tot.Enforced, tot.NewV1, regressed, tot.Regression, tot.NextLaunchRegression, tot.New, tot.Gone,
		pairText(d.Totals.Enforced.Old, d.Totals.Enforced.New), pairText(d.Totals.V1InUse.Old, d.Totals.V1InUse.New), callsPairText(d.Totals.V1Calls))
	for _, s := range d.NotCompared {
		p("_Not compared: %s._\n\n", md(s, mdTextWidth))
	}

	p("## Changes\n\n| Change | Instances | Meaning |\n|---|--:|---|\n")
	for _, k := range ChangeKinds {
		p("| `%s` | %d | %s |\n", k, tot.Count(k), md(DescribeChange(k), 0))
	}
	p("\n## By account and Region\n\n")
	p("Regions with a change, regressions first.\n\n")
	p("| Account | Region | Status | Instances | Enforced | v1-in-use | v1 calls | +enforced | +v1 | Regressed | Next launch regressed | New | Gone |\n")
	p("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	rows, quiet := changedRegions(d)
	more := max(len(rows)-diffRows, 0)
	for _, g := range rows[:len(rows)-more] {
		p("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d | %d |\n",
			md(g.Account, mdCellWidth), md(g.Region, mdCellWidth), md(statusPairText(g.Status), mdCellWidth),
			pairText(g.Instances.Old, g.Instances.New), pairText(g.Enforced.Old, g.Enforced.New), pairText(g.V1InUse.Old, g.V1InUse.New),
			callsPairText(g.V1Calls), g.Changes.Enforced, g.Changes.NewV1, g.Changes.Regression, g.Changes.NextLaunchRegression,
			g.Changes.New, g.Changes.Gone)
	}
	if s := regionsNotShown(more, quiet); s != "" {
		p("\n_%s (see the JSON diff)._\n", s)
	}
	p("\n")

	if wl := changedWorkloads(d); len(wl) > 0 {
		p("## Workloads that changed (%d of %d)\n\n", len(wl), len(d.Workloads))
		p("| Workload | Account | Region | Instances | Enforced | v1-in-use | Next launch tokens | +enforced | +v1 | Regressed | Next launch regressed | New | Gone |\n")
		p("|---|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|\n")
		for i, g := range wl {
			if i == diffRows {
				p("\n_… and %d more (see the JSON diff)._\n", len(wl)-diffRows)
				break
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d | %d |\n",
				md(workloadText(g), mdCellWidth), md(g.Account, mdCellWidth), md(g.Region, mdCellWidth),
				pairText(g.Instances.Old, g.Instances.New), pairText(g.Enforced.Old, g.Enforced.New), pairText(g.V1InUse.Old, g.V1InUse.New),
				md(strPairText(*g.NextLaunchTokens), mdCellWidth), g.Changes.Enforced, g.Changes.NewV1, g.Changes.Regression,
				g.Changes.NextLaunchRegression, g.Changes.New, g.Changes.Gone)
		}
		p("\n")
	}

	list, callsOnly, unscanned := listedChanges(d)
	p("## Changed instances (%d)\n\n", len(list))
	if s := notListedText(callsOnly, unscanned); s != "" {
		p("_Not listed: %s (see the JSON diff)._\n\n", md(s, 0))
	}
	if len(list) > 0 {
		p("| Instance | Name | Account | Region | Changes | Classification | Tokens | v1 calls |\n|---|---|---|---|---|---|---|--:|\n")
		for i, in := range list {
			if i == diffRows {
				p("\n_… and %d more (see the JSON diff)._\n", len(list)-diffRows)
				break
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n",
				md(in.InstanceID, mdCellWidth), md(in.Name, mdCellWidth), md(in.Account, mdCellWidth), md(in.Region, mdCellWidth),
				md(strings.Join(in.Changes, ", "), mdTextWidth), md(strPairText(in.Classification), mdCellWidth),
				md(strPairText(in.HttpTokens), mdCellWidth), md(nullableCallsText(in.V1Calls), mdCellWidth))
		}
		p("\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write markdown diff: %w", err)
	}
	return nil
}
