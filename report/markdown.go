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
// (names, errors, recommendations) is escaped so it cannot break a table
// or inject Markdown or HTML.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	sum := summarize(r.Instances)
	failed := failedTargets(r)

	p("# IMDS report\n\n")
	p("Generated %s by %s. Usage window: %s.\n\n", mdEscape(shortTime(r.GeneratedAt)), mdEscape(toolText(r.Tool)), mdEscape(windowText(r.Window)))
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
		case !isTarget:
			status = "— (not a target)"
		}
		p("| %s | %s | %s | %d | %s |\n", mdEscape(row.Account), mdEscape(row.Region), status, row.Total, mdEscape(row.Error))
		shown++
	}
	if hidden > 0 {
		p("\n_… and %d more targets without errors (see the JSON report)._\n", hidden)
	}
	p("\n")

	p("## By classification\n\n")
	p("| Classification | Instances | Meaning |\n|---|--:|---|\n")
	for _, c := range Classifications {
		p("| `%s` | %d | %s |\n", c, sum.ByClassification[c], mdEscape(DescribeClassification(c)))
	}
	p("| **total** | **%d** | |\n\n", sum.Instances)

	p("## By risk\n\n")
	p("| Risk | Instances | Meaning |\n|---|--:|---|\n")
	for _, k := range Risks {
		p("| `%s` | %d | %s |\n", k, sum.ByRisk[k], mdEscape(DescribeRisk(k)))
	}
	p("\n")

	for _, g := range attentionGroups(r) {
		if len(g.Instances) == 0 {
			continue
		}
		p("## %s (%d)\n\n%s\n\n", mdEscape(g.Title), len(g.Instances), mdEscape(g.Meaning))
		p("| Instance | Name | Account | Region | Tokens | Hop | Classification | Risks | v1 calls | Last v1 call | Recommendation |\n")
		p("|---|---|---|---|---|--:|---|---|--:|---|---|\n")
		for i, in := range g.Instances {
			if i == markdownMaxRows {
				p("\n_… and %d more (see the JSON/CSV report)._\n", len(g.Instances)-markdownMaxRows)
				break
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				mdEscape(in.InstanceID), mdEscape(in.Name), mdEscape(in.Account), mdEscape(in.Region),
				mdEscape(in.MetadataOptions.HttpTokens), hopText(in), mdEscape(in.Classification),
				mdEscape(strings.Join(in.Risks, ", ")), callsAndRejectedText(in), lastCallText(in), mdEscape(recommendationText(in)))
		}
		p("\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	return nil
}

// mdEscaper makes fleet text inert inside a GitHub-flavoured Markdown
// table cell: | would end the cell, a newline the row; the backslash
// escapes stop emphasis, links, code spans and HTML tags.
var mdEscaper = strings.NewReplacer(
	"\\", "\\\\", "|", "\\|", "`", "\\`", "*", "\\*", "_", "\\_",
	"[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;", "&", "&amp;",
	"~", "\\~", "#", "\\#", "!", "\\!",
	"\r\n", " ", "\n", " ", "\r", " ", "\t", " ",
)

func mdEscape(s string) string { return mdEscaper.Replace(s) }
