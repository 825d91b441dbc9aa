package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
	"github.com/imdsfleet/imdsfleet/report"
)

// guardrailsOptions are the flags of `imdsfleet guardrails`.
type guardrailsOptions struct {
	report     string
	format     string
	outDir     string
	breakGlass []string
	exemptTag  string
	maxHop     int
	declHop    int
	noEnforced bool
	message    string
	partition  string
	// partitionSet: --partition was given; otherwise the report's
	// partition (the scanning caller's) is used when it records one.
	partitionSet bool
	minWindow    int
	maxAge       string
	expect       []string
	now          func() time.Time
}

func newGuardrailsCmd(g *globals) *cobra.Command {
	def := guardrails.DefaultParams()
	o := &guardrailsOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:   "guardrails --report FILE",
		Short: "Write the organization policies that keep IMDSv1 from coming back, and say where each is safe to attach",
		Long: `guardrails reads a scan report and writes four organization policies, each
ready to attach, with readiness per organizational unit, account and Region:

  require-imdsv2-at-launch      SCP: deny ec2:RunInstances unless ec2:MetadataHttpTokens is required
  deny-imdsv1-reenable          SCP: deny ec2:ModifyInstanceMetadataOptions setting tokens back to optional
  deny-imdsv1-role-credentials  SCP: deny calls signed with role credentials IMDSv1 delivered (ec2:RoleDelivery < 2.0)
  declarative-imds-defaults     EC2 declarative policy: instance metadata defaults with tokens required

A guardrail is safe in a scope only when nothing there would be denied and
the evidence is complete; otherwise it is blocked (the blockers are counted
and named) or unknown (a failed target, a missing Region, a short or old
window, no launch sources in the report). Nothing is changed and no AWS call
is made: the output shows the aws organizations commands that attach them.`,
		Example: `  imdsfleet guardrails --report scan.json
  imdsfleet guardrails --report scan.json --out-dir policies/ --break-glass-role 'arn:aws:iam::*:role/BreakGlass'
  imdsfleet guardrails --report scan.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  imdsfleet guardrails --report scan.json --format json | jq '.scopes[] | select(.kind=="account")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.partitionSet = cmd.Flags().Changed("partition")
			return runGuardrails(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.report, "report", "", "scan report (JSON) to read (required)")
	f.StringVar(&o.format, "format", "table", "stdout format: table, json or markdown")
	f.StringVar(&o.outDir, "out-dir", "", "write one policy file per guardrail into DIR (an existing directory)")
	f.StringArrayVar(&o.breakGlass, "break-glass-role", nil, "principal ARN no SCP denies (aws:PrincipalArn; wildcards allowed; repeatable)")
	f.StringVar(&o.exemptTag, "exempt-tag", "", "KEY[=VALUE]: resources with this tag are exempt from the SCPs (launched or modified instance, or the signing role)")
	f.IntVar(&o.maxHop, "max-hop-limit", 0, "also deny launches with a hop limit above N (1..64; 0: no ceiling)")
	f.IntVar(&o.declHop, "declarative-hop-limit", def.DeclarativeHopLimit, "the declarative policy's hop limit (1..64, or -1 for no preference)")
	f.BoolVar(&o.noEnforced, "no-tokens-enforced", false, "leave http_tokens_enforced out of the declarative policy (defaults only, nothing denied)")
	f.StringVar(&o.message, "exception-message", "", "the declarative policy's exception_message: what a denied caller is told")
	f.StringVar(&o.partition, "partition", def.Partition, "ARN partition of the organization: aws, aws-us-gov or aws-cn (default: the report's, the scanning caller's)")
	f.IntVar(&o.minWindow, "min-window-days", def.MinWindowDays, "usage window (days) the evidence needs for a guardrail to be safe")
	f.StringVar(&o.maxAge, "max-age", "7d", "how old the scan may be for a guardrail to be safe (e.g. 7d, 36h)")
	f.StringSliceVar(&o.expect, "expect-regions", nil, "Regions every account must have been scanned in (comma list); a missing one makes it unknown")
	return cmd
}

// params checks the flags and turns them into guardrails.Params: bad
// usage (exit 2) before the report is read.
func (o *guardrailsOptions) params() (guardrails.Params, error) {
	p := guardrails.DefaultParams()
	if o.report == "" {
		return p, usageError("--report is required: the scan report to read (imdsfleet scan --output scan.json)")
	}
	switch o.format {
	case "table", "json", "markdown":
	default:
		return p, usageError("--format %q: want table, json or markdown", o.format)
	}
	p.Partition = o.partition
	p.BreakGlassRoles = o.breakGlass
	if o.exemptTag != "" {
		k, v, _ := strings.Cut(o.exemptTag, "=")
		if k == "" {
			return p, usageError("--exempt-tag %q: want KEY or KEY=VALUE", o.exemptTag)
		}
		p.ExemptTagKey, p.ExemptTagValue = k, v
	}
	p.MaxHopLimit = o.maxHop
	p.DeclarativeHopLimit = o.declHop
	p.TokensEnforced = !o.noEnforced
	p.ExceptionMessage = o.message
	p.MinWindowDays = o.minWindow
	age, err := parseAge(o.maxAge)
	if err != nil {
		return p, usageError("--max-age %q: %v", o.maxAge, err)
	}
	p.MaxAge = age
	for _, r := range o.expect {
		if r == "" {
			return p, usageError("--expect-regions: an empty Region name: give a comma list such as us-east-1,eu-west-1")
		}
		if err := checkRegion("--expect-regions", r); err != nil {
			return p, err
		}
	}
	p.ExpectRegions = o.expect
	if err := p.Validate(); err != nil {
		return p, usageError("%v", guardrailsFlagError(err))
	}
	return p, nil
}

// guardrailsFlagError names the flag behind a guardrails.Params error.
func guardrailsFlagError(err error) error {
	msg := err.Error()
	for prefix, flag := range map[string]string{
		"partition": "--partition", "break-glass role": "--break-glass-role", "exempt tag": "--exempt-tag",
		"hop limit ceiling": "--max-hop-limit", "declarative hop limit": "--declarative-hop-limit",
		"minimum window": "--min-window-days", "maximum report age": "--max-age",
	} {
		if strings.HasPrefix(msg, prefix) {
			return fmt.Errorf("%s: %s", flag, msg)
		}
	}
	return err
}

// parseAge reads 7d or a Go duration (36h).
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("want a number of days such as 7d, or a duration such as 36h")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a number of days such as 7d, or a duration such as 36h")
	}
	return d, nil
}

func runGuardrails(ctx context.Context, g *globals, o *guardrailsOptions) error {
	p, err := o.params()
	if err != nil {
		return err
	}
	// Every policy file is checked before anything is read or written:
	// a path that can never work (a directory, a FIFO... in its place, a
	// missing directory) costs nothing, as for every other output.
	var files []namedPath
	if o.outDir != "" {
		if st, err := os.Stat(o.outDir); err != nil || !st.IsDir() {
			what := "does not exist"
			if err == nil {
				what = "is not a directory"
			} else if !errors.Is(err, fs.ErrNotExist) {
				what = "cannot be read (" + err.Error() + ")"
			}
			return usageError("--out-dir %q %s: give an existing directory (mkdir -p it first)", o.outDir, what)
		}
		for _, gr := range guardrails.All(p) {
			path := filepath.Join(o.outDir, gr.File)
			if err := report.CheckOutput(path); err != nil {
				return usageError("--out-dir %v", err)
			}
			files = append(files, namedPath{"--out-dir", path})
		}
		if err := checkDistinctOutputs(files, []namedPath{{"--report", o.report}}); err != nil {
			return err
		}
	}
	rep, _, err := readReportFile(ctx, o.report)
	if err != nil {
		return err
	}
	if !o.partitionSet && rep.Partition != "" {
		p.Partition = rep.Partition
	}
	a, err := guardrails.Assess(report.GuardrailEvidence(rep), p, o.now())
	if err != nil {
		return usageError("%v", guardrailsFlagError(err))
	}
	for i, f := range files {
		content := a.Documents[i].Content
		if err := report.WriteOutputContext(ctx, f.path, func(w io.Writer) error {
			_, err := io.Copy(w, bytes.NewReader(content))
			return err
		}); err != nil {
			return err // names the file already
		}
		g.log.Info("policy written", "path", report.Sanitize(f.path))
	}
	switch o.format {
	case "json":
		return report.WriteGuardrailsJSON(g.streams.Out, a)
	case "markdown":
		return report.WriteGuardrailsMarkdown(g.streams.Out, a, o.outDir)
	}
	return report.WriteGuardrailsTable(g.streams.Out, a, o.outDir, tableOptions(g.streams))
}
