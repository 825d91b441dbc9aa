package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// The report command works on report files only: no AWS call, no
// credentials. Its logic is in package report (Merge, Diff and the
// writers); this file wires flags to it.

func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Merge, render and diff scan reports (no AWS call)",
		Long: `report works on the JSON reports scan writes, without any AWS call:

  merge    join the reports of a sharded scan (or of disjoint scans) into one
  render   write a report in another format (.html .md .csv .txt .json)
  diff     migration progress between two reports, per account, Region and workload`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newReportMergeCmd(g), newReportRenderCmd(g), newReportDiffCmd(g))
	return cmd
}

// reportOutputs checks -o files before any input is read: a format from
// each extension, a path WriteOutput can write, and no output that is an
// input (it would be replaced) or another output.
func reportOutputs(paths []string, inputs []string) ([]outputFile, error) {
	var outs []outputFile
	var named []namedPath
	for _, path := range paths {
		format, err := report.FormatFromPath(path)
		if err != nil {
			return nil, usageError("--output: %v", err)
		}
		if err := report.CheckOutput(path); err != nil {
			return nil, usageError("--output %v", err)
		}
		outs = append(outs, outputFile{path, format})
		named = append(named, namedPath{"--output", path})
	}
	keep := make([]namedPath, len(inputs))
	for i, in := range inputs {
		keep[i] = namedPath{"the input report", in}
	}
	if err := checkDistinctOutputs(named, keep); err != nil {
		return nil, err
	}
	return outs, nil
}

// writeReportOutputs writes r to every output.
func writeReportOutputs(ctx context.Context, g *globals, outs []outputFile, r *report.Report) error {
	for _, out := range outs {
		if err := report.WriteFileContext(ctx, out.path, out.format, r); err != nil {
			return withCode(exitError, err)
		}
		g.log.Info("report written", "path", report.Sanitize(out.path), "format", out.format)
	}
	return nil
}

type reportMergeOptions struct {
	outputs      []string
	allowMissing bool
}

func newReportMergeCmd(g *globals) *cobra.Command {
	o := &reportMergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge -o OUT REPORT.json REPORT.json...",
		Short: "Join shard reports (or reports of disjoint targets) into one report",
		Long: `merge joins the JSON reports of a sharded scan (scan --shard 1/N … N/N), or of
scans of disjoint accounts or Regions, into one report, as one scan of all
their targets would have written it: every target (failed ones included) and
every instance, sorted and counted again. remediate accepts the merged report
exactly as it would the unsharded scan.

The reports must share the schema version, the lookback (--lookback) and the
classification options (scanOptions: --min-observed-days, --container-tag);
a target (account and Region) may be in one report only; shards must be of
one --shard I/N, each once, and all of them unless --allow-missing-shards;
reports of two partitions, of two organizations (organization.id), or a
scan of an organization (--org, --ou) with one of plain accounts are not
merged. Any difference is refused (exit 2) with one line naming the files and what
differs. The merged report records its sources (mergedFrom: shard, time,
window and tool of each).

Each -o file's format follows its extension (.json .csv .md .html .txt).`,
		Example: `  imdsfleet report merge -o all.json shard-1.json shard-2.json shard-3.json shard-4.json
  imdsfleet report merge -o all.json -o all.html us.json eu.json   # two --regions scans`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReportMerge(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "write the merged report to FILE, format from the extension: .json .csv .md .html .txt (repeatable; at least one)")
	f.BoolVar(&o.allowMissing, "allow-missing-shards", false, "merge the shards given even when some of the N are missing (the report then covers only those)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "csv", "md", "html", "txt"}, cobra.ShellCompDirectiveFilterFileExt))
	return cmd
}

func runReportMerge(ctx context.Context, g *globals, o *reportMergeOptions, args []string) error {
	if len(o.outputs) == 0 {
		return usageError("merge needs -o FILE: where to write the merged report (e.g. -o all.json)")
	}
	outs, err := reportOutputs(o.outputs, args)
	if err != nil {
		return err
	}
	if err := distinctInputs(args); err != nil {
		return err
	}
	inputs := make([]report.MergeInput, len(args))
	for i, path := range args {
		r, _, err := readReportFile(ctx, path)
		if err != nil {
			return err
		}
		inputs[i] = report.MergeInput{Name: report.Sanitize(path), Report: r}
	}
	merged, err := report.Merge(inputs, report.MergeOptions{
		Tool:               report.Tool{Name: "imdsfleet", Version: toolVersion()},
		AllowMissingShards: o.allowMissing,
	})
	if err != nil {
		if errors.Is(err, report.ErrMerge) {
			return usageError("%v", err)
		}
		return withCode(exitError, err)
	}
	if err := writeReportOutputs(ctx, g, outs, merged); err != nil {
		return err
	}
	g.log.Info("reports merged", "reports", len(args), "targets", len(merged.Targets), "instances", len(merged.Instances))
	return nil
}

// distinctInputs refuses a report named twice: merging it with itself
// would be refused as overlapping anyway, but this says what happened.
func distinctInputs(paths []string) error {
	for i, p := range paths {
		for _, q := range paths[:i] {
			if !isStream(p) && samePath(p, q) {
				return usageError("report %s is given twice (also as %s): name each report once", report.Sanitize(p), report.Sanitize(q))
			}
		}
	}
	return nil
}

type reportRenderOptions struct {
	outputs []string
	format  string
}

func newReportRenderCmd(g *globals) *cobra.Command {
	o := &reportRenderOptions{}
	cmd := &cobra.Command{
		Use:   "render REPORT.json [-o OUT]...",
		Short: "Write a report in another format (.html .md .csv .txt .json)",
		Long: `render reads a JSON report (from scan or report merge) and writes it in any
format: each -o file's format follows its extension (.json .csv .md .html
.txt), as scan --output does. Without -o it prints the report on stdout in
--format (table, json, csv or markdown). An output may not be the input.`,
		Example: `  imdsfleet report render all.json -o all.html
  imdsfleet report render all.json -o summary.md -o all.csv
  imdsfleet report render all.json --format markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReportRender(cmd.Context(), g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "write the report to FILE, format from the extension: .json .csv .md .html .txt (repeatable)")
	f.StringVar(&o.format, "format", report.FormatTable, "stdout format when no -o is given: table, json, csv or markdown")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "json", "csv", "markdown"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "csv", "md", "html", "txt"}, cobra.ShellCompDirectiveFilterFileExt))
	return cmd
}

func runReportRender(ctx context.Context, g *globals, o *reportRenderOptions, in string) error {
	switch o.format {
	case report.FormatTable, report.FormatJSON, report.FormatCSV, report.FormatMarkdown:
	default:
		return usageError("--format %q: want table, json, csv or markdown", o.format)
	}
	outs, err := reportOutputs(o.outputs, []string{in})
	if err != nil {
		return err
	}
	r, _, err := readReportFile(ctx, in)
	if err != nil {
		return err
	}
	if len(outs) > 0 {
		return writeReportOutputs(ctx, g, outs, r)
	}
	if err := report.Write(g.streams.Out, o.format, r, tableOptions(g.streams)); err != nil {
		return withCode(exitError, fmt.Errorf("write report to stdout: %w", err))
	}
	return nil
}

type reportDiffOptions struct {
	format  string
	failOn  []string
	outputs []string
}

func newReportDiffCmd(g *globals) *cobra.Command {
	o := &reportDiffOptions{}
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json",
		Short: "Migration progress between two reports, per account, Region and workload",
		Long: `diff compares two JSON reports (say last week's scan and today's) instance by
instance (matched by account, Region and id) and shows the migration progress
per account and Region: instances newly enforced, newly v1-in-use,
regressions (enforced back to tokens optional), new and gone instances, and
IMDSv1 calls up or down. An instance in one report only counts as new or gone
when both reports scanned its account and Region (and the other scan's
--filter-tag, if any, matches its tags); otherwise it is "unscanned" (not
compared). Reports of different schema versions are
compared on what both record; the output says what was not compared.
Reports of two partitions or of two organizations (organization.id, or
the root of an older report's organization) are not compared (exit 2):
every account of one would be "unscanned" in the other.

--format table (default), markdown (for a pull request or
$GITHUB_STEP_SUMMARY) or json (stable: see the README). -o FILE writes it to
a file too (.txt .md .json). --fail-on regression and/or new-v1 exits 3 when
such a change is found.`,
		Example: `  imdsfleet report diff last-week.json today.json
  imdsfleet report diff old.json new.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  imdsfleet report diff old.json new.json --fail-on regression,new-v1 -o diff.json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReportDiff(cmd.Context(), g, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", report.FormatTable, "stdout format: table, markdown or json")
	f.StringSliceVar(&o.failOn, "fail-on", nil, "exit 3 when an instance regressed (regression) or is newly v1-in-use (new-v1); comma list or repeat")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "also write the diff to FILE, format from the extension: .txt .md .json (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(report.DiffFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(policy.DiffFailOnValues, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "md", "txt"}, cobra.ShellCompDirectiveFilterFileExt))
	return cmd
}

func runReportDiff(ctx context.Context, g *globals, o *reportDiffOptions, oldPath, newPath string) error {
	if !slices.Contains(report.DiffFormats, o.format) {
		return usageError("--format %q: want table, markdown or json", o.format)
	}
	failOn, err := policy.ParseDiffFailOn(o.failOn)
	if err != nil {
		return usageError("%v", err)
	}
	var outs []outputFile
	var named []namedPath
	for _, path := range o.outputs {
		format, err := report.DiffFormatFromPath(path)
		if err != nil {
			return usageError("--output: %v", err)
		}
		if err := report.CheckOutput(path); err != nil {
			return usageError("--output %v", err)
		}
		outs = append(outs, outputFile{path, format})
		named = append(named, namedPath{"--output", path})
	}
	if err := checkDistinctOutputs(named, []namedPath{{"the old report", oldPath}, {"the new report", newPath}}); err != nil {
		return err
	}
	oldRep, _, err := readReportFile(ctx, oldPath)
	if err != nil {
		return err
	}
	newRep, _, err := readReportFile(ctx, newPath)
	if err != nil {
		return err
	}
	if err := report.CheckComparable(report.Sanitize(oldPath), oldRep, report.Sanitize(newPath), newRep); err != nil {
		return usageError("%v", err)
	}
	d := report.Compare(oldRep, newRep)
	for _, out := range outs {
		err := report.WriteOutputContext(ctx, out.path, func(w io.Writer) error {
			return report.WriteDiff(w, out.format, d, report.TableOptions{})
		})
		if err != nil {
			return withCode(exitError, err)
		}
		g.log.Info("diff written", "path", report.Sanitize(out.path), "format", out.format)
	}
	if err := report.WriteDiff(g.streams.Out, o.format, d, tableOptions(g.streams)); err != nil {
		return withCode(exitError, fmt.Errorf("write diff to stdout: %w", err))
	}
	var matched []string
	for _, f := range failOn {
		if n := f.Count(d); n > 0 {
			matched = append(matched, fmt.Sprintf("%s: %s", f, plural(n, "instance")))
		}
	}
	if len(matched) > 0 {
		return withCode(exitFailOn, fmt.Errorf("--fail-on %s matched (%s)", strings.Join(o.failOn, ","), strings.Join(slices.Compact(matched), "; ")))
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
