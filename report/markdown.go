package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// markdownMaxRows caps each instance table of the Markdown report: a step
// summary is read by a person, and GitHub limits it to 1 MiB.
const markdownMaxRows = 50

// markdownMaxTargets caps the targets table; failed targets are always
// listed.
const markdownMaxTargets = 50

// WriteMarkdown writes a summary fit for $GITHUB_STEP_SUMMARY: the window,
// the targets (every failed one with its error), counts by classification
// and by risk with what each means, and one table per group that needs
// attention (v1-in-use, no-data, other instances with a risk), each capped
// at 50 rows with a pointer to the JSON/CSV report for the rest. Figures
// are computed from r.Instances; r is not modified. Text from the fleet
// (names, errors, recommendations) is sanitized, capped and escaped (see
// md) so it cannot break a table, inject Markdown or HTML, or become a
// link.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	sum := summarize(r.Instances)
	failed := failedTargets(r)

	p("# IMDS report\n\n")
	p("Generated %s by %s. Usage window: %s.\n\n", md(shortTime(r.GeneratedAt), 0), md(toolText(r.Tool), mdCellWidth), md(windowText(r.Window), 0))
	p("**%s** in %s", plural(sum.Instances, "instance"), plural(len(r.Targets), "target"))
	if n := sum.ByClassification[ClassReady]; n > 0 {
		p(" · **%d ready to enforce now**", n)
	}
	if n := sum.ByClassification[ClassV1InUse]; n > 0 {
		p(" · **%d still using IMDSv1**", n)
	}
	p(".\n\n")
	if len(failed) > 0 {
		p("> [!WARNING]\n> %s failed to scan: this report is incomplete (errors below).\n\n", plural(len(failed), "target"))
	}

	p("## Targets\n\n")
	p("| Account | Region | Status | Instances | Error |\n|---|---|---|--:|---|\n")
	shown, hidden := 0, 0
	for _, row := range regionRows(r) {
		isTarget := row.Status != ""
		if row.Status != TargetError && shown >= markdownMaxTargets {
			hidden++
			continue
		}
		status := "✅ ok"
		switch {
		case row.Status == TargetError:
			status = "❌ error"
		case row.Status == TargetSkipped:
			status = "⏭ skipped"
		case !isTarget:
			status = "— (not a target)"
		}
		p("| %s | %s | %s | %d | %s |\n", md(row.Account, mdCellWidth), md(row.Region, mdCellWidth), status, row.Total, md(row.Error, mdTextWidth))
		shown++
	}
	if hidden > 0 {
		p("\n_… and %d more targets without errors (see the JSON report)._\n", hidden)
	}
	p("\n")
	if n := len(r.SkippedAccounts); n > 0 {
		p("## Accounts not scanned (%d)\n\n", n)
		p("| Account | Name | State | Reason |\n|---|---|---|---|\n")
		for i, sa := range r.SkippedAccounts {
			if i == skippedShown {
				p("\n_… and %d more (see the JSON report)._\n", n-skippedShown)
				break
			}
			p("| %s | %s | %s | %s |\n", md(sa.Account, mdCellWidth), md(sa.Name, mdCellWidth), md(sa.State, mdCellWidth), md(sa.Reason, mdTextWidth))
		}
		p("\n")
	}
	if un := unplacedAccounts(r, mdCellWidth, mdTextWidth); len(un) > 0 {
		p("## Accounts in no organizational unit (%d)\n\n", len(un))
		p("> [!WARNING]\n> %s\n\n", md(strings.Join(unplacedMeaning, " "), 0))
		p("| Account | Name | This scan |\n|---|---|---|\n")
		for i, u := range un {
			if i == skippedShown {
				p("\n_… and %d more (see the JSON report)._\n", len(un)-skippedShown)
				break
			}
			p("| %s | %s | %s |\n", md(u.id, 0), md(u.name, 0), md(u.fate, 0))
		}
		p("\n")
	}
	if units := skippedUnits(r, mdCellWidth, mdTextWidth); len(units) > 0 {
		p("> [!WARNING]\n> Organizational units not fully read (changed while the scan walked the organization):\n")
		for _, u := range units {
			p("> - %s\n", md(u, 0))
		}
		p("\n")
	}
	if notes := orgNotes(r, mdTextWidth); len(notes) > 0 {
		p("> [!NOTE]\n> Organization: %s, %s:\n", plural(len(notes), "note"), md(orgNotesIntro, 0))
		for i, n := range notes {
			if i == skippedShown {
				p("> - _… and %d more (see the JSON report)._\n", len(notes)-skippedShown)
				break
			}
			p("> - %s\n", md(n, 0))
		}
		p("\n")
	}

	p("## By classification\n\n")
	p("| Classification | Instances | Meaning |\n|---|--:|---|\n")
	for _, c := range Classifications {
		p("| `%s` | %d | %s |\n", c, sum.ByClassification[c], md(DescribeClassification(c), 0))
	}
	p("| **total** | **%d** | |\n\n", sum.Instances)

	p("## By risk\n\n")
	p("| Risk | Instances | Meaning |\n|---|--:|---|\n")
	for _, k := range Risks {
		p("| `%s` | %s | %s |\n", k, riskCount(r, sum, k), md(DescribeRisk(k), 0))
	}
	p("\n")

	writeMarkdownLaunch(p, r)

	for _, g := range attentionGroups(r) {
		if len(g.Instances) == 0 {
			continue
		}
		p("## %s (%d)\n\n%s\n\n", md(g.Title, 0), len(g.Instances), md(g.Meaning, 0))
		p("| Instance | Name | Account | Region | Tokens | Hop | Classification | Risks | v1 calls | Last v1 call | Recommendation |\n")
		p("|---|---|---|---|---|--:|---|---|--:|---|---|\n")
		for i, in := range g.Instances {
			if i == markdownMaxRows {
				p("\n_… and %d more (see the JSON/CSV report)._\n", len(g.Instances)-markdownMaxRows)
				break
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				md(in.InstanceID, mdCellWidth), md(in.Name, mdCellWidth), md(in.Account, mdCellWidth), md(in.Region, mdCellWidth),
				md(in.MetadataOptions.HttpTokens, mdCellWidth), hopText(in), md(in.Classification, mdCellWidth),
				md(strings.Join(in.Risks, ", "), mdTextWidth), callsAndRejectedText(in), lastCallText(in), md(recommendationText(in), mdTextWidth))
		}
		p("\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	return nil
}

// writeMarkdownLaunch writes the workloads in plan order, the launch
// sources to fix and the failed launch-source reads (schema version 2),
// each table capped at markdownMaxRows.
func writeMarkdownLaunch(p func(string, ...any), r *Report) {
	if errs := launchErrors(r); len(errs) > 0 {
		p("> [!WARNING]\n> Launch sources could not be read for %s: next launches that depend on them are unresolved.\n", plural(len(errs), "read"))
		for _, e := range errs {
			p("> - %s\n", md(e, mdTextWidth))
		}
		p("\n")
	}
	if ws := workloadsInPlanOrder(r); len(ws) > 0 {
		p("## Workloads (%d)\n\n", len(ws))
		p("In plan order: fix the launch source, enforce the ready instances, find the IMDSv1 callers, gather evidence.\n\n")
		p("| Workload | Kind | Account | Region | Owner | Instances | v1-in-use | no-data | ready | enforced | Next launch | Step | Recommendation |\n")
		p("|---|---|---|---|---|--:|--:|--:|--:|--:|---|---|---|\n")
		for i, w := range ws {
			if i == markdownMaxRows {
				p("\n_… and %d more (see the JSON report)._\n", len(ws)-markdownMaxRows)
				break
			}
			p("| %s | %s | %s | %s | %s | %d | %d | %d | %d | %d | %s | `%s` | %s |\n",
				md(w.Name, mdCellWidth), md(w.Kind, mdCellWidth), md(w.Account, mdCellWidth), md(w.Region, mdCellWidth), md(ownerText(w), mdCellWidth),
				w.Instances, w.ByClassification[ClassV1InUse], w.ByClassification[ClassNoData], w.ByClassification[ClassReady], w.ByClassification[ClassEnforced],
				md(NextLaunchText(w.NextLaunch), mdTextWidth), md(w.Step, mdCellWidth), md(w.Recommendation, mdTextWidth))
		}
		p("\n")
	}
	fix := sourcesToFix(r)
	toFix := fixSet(fix)
	switch {
	case len(fix) > 0:
		p("## Sources to fix (%d)\n\n", len(fix))
		p("Launch sources whose next instance would allow IMDSv1 (or could not launch): fix them, or every instance fixed is undone at its replacement.\n\n")
		p("| Source | Name | Account | Region | Next launch | Groups | Instances | Fix |\n|---|---|---|---|---|---|--:|---|\n")
		for i, s := range fix {
			if i == markdownMaxRows {
				p("\n_… and %d more (see the JSON report)._\n", len(fix)-markdownMaxRows)
				break
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n",
				md(s.ID, mdCellWidth), md(s.Name, mdCellWidth), md(s.Account, mdCellWidth), md(s.Region, mdCellWidth),
				md(NextLaunchText(&s.NextLaunch), mdTextWidth), md(groupsText(s, 5), mdTextWidth), instancesText(s), md(sourceFixText(s, toFix), mdTextWidth))
		}
		p("\n")
	case len(r.LaunchSources) > 0:
		p("## Sources to fix\n\nNo launch source would launch an instance allowing IMDSv1.\n\n")
	}
}

// Caps of the Markdown cells, in columns (see [SanitizeCell]): a step
// summary is limited to 1 MiB, and a name is free text.
const (
	mdCellWidth = 64
	mdTextWidth = 400
)

// md makes fleet text inert in a GitHub-flavoured Markdown table cell:
// [SanitizeCell] first (control and bidi characters escaped, length
// capped at max columns), then Markdown's own escapes: | would end the
// cell; backslash escapes stop emphasis, links, code spans, headings and
// math ($); < > & become entities so no HTML tag survives. GitHub also
// turns bare URLs, www. names and e-mail addresses into links (its
// "autolink" extension): an escaped colon (http\://) or dot (www\.) keeps
// the text as it reads without a link, and an @ is put in a code span,
// since the e-mail rule sees through backslash escapes and entities.
func md(s string, max int) string {
	s = SanitizeCell(s, max)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '|', '`', '*', '_', '[', ']', '~', '#', '!', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case ':':
			if strings.HasPrefix(s[i:], "://") {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '@':
			b.WriteString("`@`")
		case '.':
			if i >= 3 && strings.EqualFold(s[i-3:i], "www") {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
