package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/launch"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
)

var errScanInterrupted = errors.New("scan interrupted: no report written")

// scanOptions are the scan command's flags.
type scanOptions struct {
	regions         string
	assumeRoles     []string
	accounts        []string
	roleName        string
	externalID      string
	org             bool
	ous             []string
	excludeAccounts []string
	shard           string
	concurrency     int
	lookback        string
	minObservedDays int
	filterTags      []string
	containerTags   []string
	groupBy         []string
	ownerTags       []string
	outputs         []string
	format          string
	failOn          string
	profile         string
	region          string
	endpointURL     string
	cwProtocol      string
	maxBackoff      time.Duration
	noLaunchSources bool
}

func newScanCmd(g *globals) *cobra.Command {
	o := &scanOptions{}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Find instances that allow or use IMDSv1, in every Region and account",
		Long: `scan lists every EC2 instance of the caller's account (and of the accounts
reached with --assume-role or --accounts/--role-name) in every enabled Region
(or the --regions list), reads each instance's metadata options, and reads
its IMDSv1 usage from CloudWatch (MetadataNoToken where tokens are optional,
MetadataNoTokenRejected where they are required) with batched GetMetricData
calls over --lookback. Terminated and shutting-down instances are counted,
not reported.

Each instance is classified, first rule that matches:
  disabled    HttpEndpoint=disabled
  enforced    HttpTokens=required
  v1-in-use   tokens optional and MetadataNoToken > 0 in the window
  ready       tokens optional, no v1 calls, data on >= --min-observed-days days
              (never fewer than 1, and at most the lookback's days)
  no-data     tokens optional and not enough evidence (or the metric unreadable)
and gets risks (container-hop-limit, role-exposed, v1-rejected,
next-launch-v1) and a recommendation. Instances are grouped into workloads
(Auto Scaling group, EKS node group or Karpenter node pool, launch
template, else the first --group-by tag, else unmanaged), each with its
owner (--owner-tag), launch source, next launch and next step; see
docs/next-launch.md for how the next launch is worked out.

The report goes to stdout (--format) and to every --output file, whose format
follows its extension (.json, .csv, .md, .html, .txt). Files are replaced
atomically (a symlink's target; a device or FIFO is written directly), and
are written also when some targets failed. When stdout gets JSON, CSV or
nothing (--format none) and every --output is .json or .csv, each target's
results are packed in memory as soon as it is done: an organization of
200,000 instances then scans in a few hundred MB (the table, Markdown and
HTML need every instance at once; render them later with report render).

Credentials and Region come from the standard AWS chain (environment,
--profile / AWS_PROFILE, SSO, instance role); --endpoint-url or
AWS_ENDPOINT_URL points every client at another endpoint (the simulated AWS,
moto). The caller needs sts:GetCallerIdentity, ec2:DescribeRegions,
ec2:DescribeInstances and cloudwatch:GetMetricData, and for the launch
sources (what each instance's replacement would get; skip them with
--no-launch-sources) ec2:GetInstanceMetadataDefaults,
ec2:DescribeLaunchTemplateVersions, ec2:DescribeImages,
autoscaling:DescribeAutoScalingGroups and
autoscaling:DescribeLaunchConfigurations.

Exit codes: 0 success; 1 the scan could not run; 2 bad usage; 3 --fail-on
matched; 4 the scan is incomplete (a target failed, an instance's usage
could not be read from CloudWatch, or a launch-source read was denied or
failed; the report still lists it). When 3 and 4
both apply, 3.`,
		Example: `  # every enabled Region of the caller's account, table on the terminal
  imdsfleet scan

  # two Regions, JSON and Markdown reports, CI gate on v1 use
  imdsfleet scan --regions us-east-1,eu-west-1 --output report.json \
      --output "$GITHUB_STEP_SUMMARY.md" --fail-on v1-in-use

  # three member accounts through the same role, 30 days of evidence
  imdsfleet scan --accounts 111122223333,444455556666,777788889999 \
      --role-name OrganizationAccountAccessRole --lookback 30d

  # only production web servers, JSON on stdout
  imdsfleet scan --filter-tag env=prod --filter-tag role=web --format json

  # against moto (no CBOR CloudWatch)
  imdsfleet scan --endpoint-url http://127.0.0.1:5000 --regions us-east-1 \
      --cloudwatch-protocol json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.regions, "regions", "all", `Regions to scan: "all" (every Region enabled for each account) or a comma list, checked against DescribeRegions`)
	f.StringArrayVar(&o.assumeRoles, "assume-role", nil, "also scan the account of this role ARN, assuming it (repeatable)")
	f.StringSliceVar(&o.accounts, "accounts", nil, "also scan these account ids (comma list), assuming --role-name in each")
	f.BoolVar(&o.org, "org", false, "scan every ACTIVE account of the caller's AWS Organization (from the management account or a delegated administrator), assuming --role-name in each")
	f.StringArrayVar(&o.ous, "ou", nil, "scan the ACTIVE accounts under this organizational unit, recursively, assuming --role-name in each (repeatable)")
	f.StringSliceVar(&o.excludeAccounts, "exclude-accounts", nil, "never scan these account ids (comma list; listed in the report as skipped)")
	f.StringVar(&o.shard, "shard", "", "scan only shard I of N of the accounts (I/N, e.g. 2/4; by a hash of the account id, so N jobs cover every account once)")
	f.StringVar(&o.roleName, "role-name", "", "role to assume in each account other than the caller's (--accounts, --org, --ou), in the caller's partition")
	f.StringVar(&o.externalID, "external-id", "", "external id for the assumed roles")
	f.IntVar(&o.concurrency, "concurrency", scanner.DefaultConcurrency, "(account, Region) targets scanned at once")
	f.StringVar(&o.lookback, "lookback", "14d", "CloudWatch usage window, e.g. 14d, 336h (at least 1d; at most 455d, CloudWatch's retention)")
	f.IntVar(&o.minObservedDays, "min-observed-days", policy.DefaultMinObservedDays, `days with data an instance needs to be "ready" (at least 1; capped at the lookback's days)`)
	f.StringArrayVar(&o.filterTags, "filter-tag", nil, "scan only instances with tag KEY=VALUE (repeatable; the same key twice matches either value)")
	f.StringArrayVar(&o.containerTags, "container-tag", nil, "tag KEY or KEY=VALUE marking container hosts, besides the EKS/ECS/Karpenter ones (repeatable; KEY may end in *)")
	f.StringArrayVar(&o.groupBy, "group-by", nil, "tag KEYs whose value groups instances that no Auto Scaling group, EKS node group, Karpenter node pool or launch template groups into workloads (comma list, repeatable: each instance is grouped by the first KEY, in the order given, that it carries)")
	f.StringArrayVar(&o.ownerTags, "owner-tag", launch.DefaultOwnerTags, "tag KEYs naming a workload's owner, the first an instance carries (comma list, repeatable)")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "write the report to FILE too, format from the extension: .json .csv .md .html .txt (repeatable)")
	f.StringVar(&o.format, "format", report.FormatTable, "stdout format: table, json, csv, markdown, or none (the --output files only, or the --fail-on exit code)")
	f.StringVar(&o.failOn, "fail-on", string(policy.FailOnNone), "exit 3 when an instance matches: none, v1-allowed (tokens optional, endpoint on), v1-in-use, risk (any risk)")
	f.StringVar(&o.profile, "profile", "", "AWS profile (default: AWS_PROFILE or the default profile)")
	f.StringVar(&o.region, "region", "", "home Region for STS and DescribeRegions (default: AWS_REGION, the profile's, or us-east-1)")
	f.StringVar(&o.endpointURL, "endpoint-url", "", "send every AWS call to this URL (default: AWS_ENDPOINT_URL or AWS)")
	f.BoolVar(&o.noLaunchSources, "no-launch-sources", false, "do not read the launch sources (account defaults, launch templates, Auto Scaling groups, launch configurations, AMIs): no next launch, no sources to fix")
	f.StringVar(&o.cwProtocol, "cloudwatch-protocol", awsconfig.ProtocolCBOR, "CloudWatch wire protocol: cbor (AWS's SDK default), json or query (emulators without CBOR, such as moto)")

	// Retry tuning for unusual throttling (and fast tests); hidden like
	// remediate's.
	f.DurationVar(&o.maxBackoff, "retry-max-backoff", 20*time.Second, "longest pause between retries of a throttled or failed call")
	_ = f.MarkHidden("retry-max-backoff")

	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "json", "csv", "markdown", formatNone}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(policy.FailOnValues, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("cloudwatch-protocol", cobra.FixedCompletions([]string{awsconfig.ProtocolCBOR, awsconfig.ProtocolJSON, awsconfig.ProtocolQuery}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "csv", "md", "html", "txt"}, cobra.ShellCompDirectiveFilterFileExt))
	return cmd
}

// scanPlan is scanOptions checked and parsed.
type scanPlan struct {
	opts    scanner.Options
	outputs []outputFile
	failOn  policy.FailOn
}

type outputFile struct{ path, format string }

// formatNone is --format none: no report on stdout.
const formatNone = "none"

// streams reports whether stdout's format and every output's stream the
// report (JSON and CSV), so that the scan can pack it (scanner.Options.Pack).
func (p *scanPlan) streams(stdout string) bool {
	ok := func(f string) bool { return f == report.FormatJSON || f == report.FormatCSV || f == formatNone }
	for _, out := range p.outputs {
		if !ok(out.format) {
			return false
		}
	}
	return ok(stdout)
}

// parse checks every flag before any AWS call, so bad usage never costs a
// scan.
func (o *scanOptions) parse() (*scanPlan, error) {
	p := &scanPlan{}
	var err error
	if p.opts.Regions, err = scanner.ParseRegions(o.regions); err != nil {
		return nil, usageError("%v", err)
	}
	if err := checkRegion("--region", o.region); err != nil {
		return nil, err
	}
	if err := checkEndpointURL("--endpoint-url", o.endpointURL); err != nil {
		return nil, err
	}
	if err := o.parseAccounts(p); err != nil {
		return nil, err
	}
	if o.concurrency < 1 || o.concurrency > 1000 {
		return nil, usageError("--concurrency %d: want 1..1000 targets at once", o.concurrency)
	}
	p.opts.Concurrency = o.concurrency
	if p.opts.Lookback, err = scanner.ParseLookback(o.lookback); err != nil {
		return nil, usageError("%v", err)
	}
	// "ready" always rests on at least one observed day.
	if o.minObservedDays < 1 {
		return nil, usageError("--min-observed-days %d: want at least 1 (the days with data an instance needs to be ready)", o.minObservedDays)
	}
	p.opts.MinObservedDays = o.minObservedDays
	p.opts.NoLaunchSources = o.noLaunchSources
	if p.opts.TagFilters, err = scanner.ParseTagFilters(o.filterTags); err != nil {
		return nil, usageError("%v", err)
	}
	for _, s := range o.containerTags {
		m, err := policy.ParseTagMatcher(s)
		if err != nil {
			return nil, usageError("--container-tag: %v", err)
		}
		p.opts.ContainerTags = append(p.opts.ContainerTags, m)
	}
	groupBy, err := splitKeyList("--group-by", o.groupBy)
	if err != nil {
		return nil, err
	}
	if err := checkTagKeys("--group-by", groupBy); err != nil {
		return nil, err
	}
	// Read as --group-by is: "owner, team" means owner and team, not
	// " team"; a line break is refused (pflag's comma list kept the
	// first line and dropped the rest).
	ownerTags, err := splitKeyList("--owner-tag", o.ownerTags)
	if err != nil {
		return nil, err
	}
	if err := checkTagKeys("--owner-tag", ownerTags); err != nil {
		return nil, err
	}
	if len(ownerTags) == 0 {
		return nil, usageError("--owner-tag is empty: name at least one tag key (the default is %s)", strings.Join(launch.DefaultOwnerTags, ","))
	}
	p.opts.GroupBy, p.opts.OwnerTags = groupBy, ownerTags
	switch o.format {
	case report.FormatTable, report.FormatJSON, report.FormatCSV, report.FormatMarkdown, formatNone:
	default:
		return nil, usageError("--format %q: want table, json, csv, markdown or none", o.format)
	}
	if p.failOn, err = policy.ParseFailOn(o.failOn); err != nil {
		return nil, usageError("%v", err)
	}
	var outs []namedPath
	for _, path := range o.outputs {
		format, err := report.FormatFromPath(path)
		if err != nil {
			return nil, usageError("--output: %v", err)
		}
		if err := report.CheckOutput(path); err != nil {
			return nil, usageError("--output %v", err)
		}
		p.outputs = append(p.outputs, outputFile{path, format})
		outs = append(outs, namedPath{"--output", path})
	}
	if err := checkDistinctOutputs(outs, nil); err != nil {
		return nil, err
	}
	// --format none with --fail-on is a gate (the exit code is the
	// answer); with neither it and an --output, nothing would be kept.
	if o.format == formatNone && len(p.outputs) == 0 && p.failOn == policy.FailOnNone {
		return nil, usageError("--format none writes no report to stdout and no --output is given: the scan's findings would go nowhere; add --output FILE (.json or .csv), or --fail-on to gate on the exit code alone")
	}
	if err := checkPositive("--retry-max-backoff", o.maxBackoff); err != nil {
		return nil, err
	}
	if err := (awsconfig.Options{CloudWatchProtocol: o.cwProtocol}).Validate(); err != nil {
		return nil, usageError("%v", err)
	}
	return p, nil
}

// parseAccounts checks the flags that choose accounts: --assume-role,
// --accounts, --org, --ou, --role-name, --external-id, --exclude-accounts
// and --shard. Role ARNs for --accounts and --org are built after the
// caller's partition is known, by the scanner.
func (o *scanOptions) parseAccounts(p *scanPlan) error {
	for _, arn := range o.assumeRoles {
		if _, _, err := awsconfig.ParseRoleARN(arn); err != nil {
			return usageError("--assume-role: %v", err)
		}
		p.opts.Roles = append(p.opts.Roles, scanner.Role{ARN: arn, ExternalID: o.externalID})
	}
	orgMode := o.org || len(o.ous) > 0
	switch {
	case o.org && len(o.ous) > 0:
		return usageError("--org and --ou both choose the accounts: use --org for the whole organization, or --ou for some of its units")
	case orgMode && (len(o.accounts) > 0 || len(o.assumeRoles) > 0):
		return usageError("--org/--ou find the accounts themselves: leave out --accounts and --assume-role (use --exclude-accounts to leave some out)")
	case orgMode && o.roleName == "":
		return usageError("--org/--ou need --role-name: the role to assume in each member account (e.g. OrganizationAccountAccessRole, or the audit role your StackSet deploys)")
	case len(o.accounts) > 0 && o.roleName == "":
		return usageError("--accounts needs --role-name: the role to assume in each account (e.g. OrganizationAccountAccessRole)")
	case !orgMode && len(o.accounts) == 0 && o.roleName != "":
		return usageError("--role-name needs --accounts, --org or --ou: the accounts to assume it in")
	}
	if o.roleName != "" {
		if err := awsconfig.CheckRoleName(o.roleName); err != nil {
			return usageError("--role-name: %v", err)
		}
	}
	for _, a := range o.accounts {
		a = strings.TrimSpace(a)
		if !awsconfig.ValidAccountID(a) {
			return usageError("--accounts: account %q: want 12-digit AWS account ids, comma-separated", a)
		}
		p.opts.Accounts = append(p.opts.Accounts, a)
	}
	p.opts.RoleName, p.opts.ExternalID = o.roleName, o.externalID
	if o.externalID != "" && len(p.opts.Roles) == 0 && o.roleName == "" {
		return usageError("--external-id applies to assumed roles: add --assume-role, --accounts/--role-name or --org/--ou with --role-name")
	}
	if orgMode {
		p.opts.Org = &scanner.OrgOptions{}
		for _, ou := range o.ous {
			ou = strings.TrimSpace(ou)
			if err := scanner.CheckOU(ou); err != nil {
				return usageError("%v", err)
			}
			p.opts.Org.OUs = append(p.opts.Org.OUs, ou)
		}
	}
	for _, a := range o.excludeAccounts {
		a = strings.TrimSpace(a)
		if !awsconfig.ValidAccountID(a) {
			return usageError("--exclude-accounts: account %q: want 12-digit AWS account ids, comma-separated", a)
		}
		p.opts.ExcludeAccounts = append(p.opts.ExcludeAccounts, a)
	}
	var err error
	if p.opts.Shard, err = scanner.ParseShard(o.shard); err != nil {
		return usageError("%v", err)
	}
	return nil
}

func runScan(ctx context.Context, g *globals, o *scanOptions) error {
	plan, err := o.parse()
	if err != nil {
		return err
	}
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{
		Profile:            o.profile,
		Region:             o.region,
		EndpointURL:        o.endpointURL,
		CloudWatchProtocol: o.cwProtocol,
		MaxBackoff:         o.maxBackoff,
		Logger:             g.log,
	})
	if err != nil {
		return loadConfigError(err)
	}
	if !scanner.ValidRegionName(cfg.Region) {
		return usageError("unknown AWS Region %q (from --region, AWS_REGION or the profile): use a Region name such as us-east-1", cfg.Region)
	}

	// Resolve credentials now: a missing or expired credential is one clear
	// line before any scan work, not an error per target.
	if err := awsconfig.CheckCredentials(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return withCode(exitError, errScanInterrupted)
		}
		return withCode(exitError, errors.New(awsconfig.Explain(err)))
	}

	// A scan holds every instance until the report is written: about 1 KiB
	// each, most of the process's memory. The default GOGC of 100 lets the
	// heap reach twice that; 50 keeps 100,000 instances well under 300 MB
	// for a little more GC work. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	// When every output streams (JSON and CSV), each target's instances,
	// launch sources and workloads are packed as soon as it is done, about
	// a tenth of their memory (see report.Packed): an organization's scan
	// then fits in a few hundred MB. The table, Markdown and HTML need
	// every instance at once.
	plan.opts.Pack = plan.streams(o.format)

	prog := &scanner.Progress{}
	plan.opts.Progress = prog
	plan.opts.Tool = report.Tool{Name: "imdsfleet", Version: toolVersion()}
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "imdsfleet-scan", o.cwProtocol))

	log, stop := startProgress(g, prog)
	plan.opts.Logger = log
	r, err := scanner.Scan(ctx, clients, plan.opts)
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return withCode(exitError, errScanInterrupted)
		}
		var unknown *scanner.UnknownRegionError
		if errors.As(err, &unknown) {
			return usageError("--regions: %v", err)
		}
		var orgErr *scanner.OrgError
		if errors.As(err, &orgErr) {
			if orgErr.IsUsage() {
				return usageError("%v", orgErr)
			}
			return withCode(exitError, fmt.Errorf("scan: %v", orgErr))
		}
		return withCode(exitError, fmt.Errorf("scan: %s", awsconfig.ExplainFor(cfg, err)))
	}

	// Files first: they are the record, and are written even when targets
	// failed.
	for _, out := range plan.outputs {
		if err := report.WriteFileContext(ctx, out.path, out.format, r); err != nil {
			return withCode(exitError, err)
		}
		g.log.Info("report written", "path", out.path, "format", out.format)
	}
	if o.format != formatNone {
		if err := report.Write(g.streams.Out, o.format, r, tableOptions(g.streams)); err != nil {
			return withCode(exitError, fmt.Errorf("write report to stdout: %w", err))
		}
	}

	n, unread, err := countInstances(r, plan.failOn)
	if err != nil {
		return withCode(exitError, err)
	}
	if n > 0 {
		return withCode(exitFailOn, fmt.Errorf("--fail-on %s: %d of %d instances match", o.failOn, n, r.InstanceCount()))
	}
	// A usage that could not be read is missing evidence, not "no calls":
	// the scan is incomplete, so that a --fail-on v1-in-use gate never
	// passes because CloudWatch was denied or failed.
	failed := failedTargets(r)
	var why []string
	if len(failed) > 0 {
		why = append(why, fmt.Sprintf("%d of %d targets failed (%s)", len(failed), len(r.Targets), strings.Join(failed, ", ")))
	}
	if unread > 0 {
		why = append(why, fmt.Sprintf("the IMDSv1 usage of %d instances could not be read from CloudWatch (usage status error)", unread))
	}
	if targets, perms := unreadLaunchSources(r); len(targets) > 0 {
		why = append(why, fmt.Sprintf("the launch sources of %s could not all be read (grant %s, or pass --no-launch-sources)",
			strings.Join(targets, ", "), strings.Join(perms, ", ")))
	}
	if len(why) > 0 {
		return withCode(exitIncomplete, fmt.Errorf("scan incomplete: %s; the report lists them", strings.Join(why, "; ")))
	}
	return nil
}

// unreadLaunchSources names the targets with a failed launch-source read
// (account/Region) and the permissions those reads need.
func unreadLaunchSources(r *report.Report) (targets, perms []string) {
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if len(t.LaunchErrors) == 0 {
			continue
		}
		targets = append(targets, t.Account+"/"+t.Region)
		for _, e := range t.LaunchErrors {
			if !seen[e.Permission] {
				seen[e.Permission] = true
				perms = append(perms, e.Permission)
			}
		}
	}
	slices.Sort(perms)
	return targets, perms
}

// countInstances counts the instances --fail-on matches and those whose
// usage status is error, in one pass (a packed report's instances are
// decoded one at a time).
func countInstances(r *report.Report, f policy.FailOn) (match, unread int, err error) {
	err = r.EachInstance(func(in *report.Instance) error {
		if f.Match(in) {
			match++
		}
		if in.Usage.Status == report.UsageError {
			unread++
		}
		return nil
	})
	return match, unread, err
}

// failedTargets names the failed targets as account/Region.
func failedTargets(r *report.Report) []string {
	var out []string
	for _, t := range r.Targets {
		if t.Status == report.TargetError {
			out = append(out, t.Account+"/"+t.Region)
		}
	}
	slices.Sort(out)
	return out
}

// tableOptions fits the table to a terminal stdout.
func tableOptions(s *streams) report.TableOptions {
	if !s.OutTTY {
		return report.TableOptions{}
	}
	opts := report.TableOptions{Color: os.Getenv("NO_COLOR") == "", MaxRows: 50}
	if w := terminalWidth(s.Out); w > 0 {
		opts.Width = w
	}
	return opts
}

// progressDisplay is the one-line progress display on stderr. Log lines
// go through it too (Write), so that a log line first clears the progress
// line instead of being glued to it, and the two never write at once.
type progressDisplay struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

// Write implements io.Writer for the logger.
func (d *progressDisplay) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown {
		fmt.Fprint(d.w, "\r\033[K")
		d.shown = false
	}
	return d.w.Write(p)
}

func (d *progressDisplay) draw(s scanner.ProgressSnapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "\r\033[Kscanning: %d/%d targets, %d instances, %d API calls", s.TargetsDone, s.TargetsTotal, s.Instances, s.APICalls)
	d.shown = true
}

func (d *progressDisplay) clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown {
		fmt.Fprint(d.w, "\r\033[K")
		d.shown = false
	}
}

// startProgress shows the progress display while the scan runs, only when
// stderr is a terminal and --quiet is off. It returns the logger the scan
// should use (routed through the display) and a function that stops the
// display and clears its line.
func startProgress(g *globals, p *scanner.Progress) (*slog.Logger, func()) {
	if !g.streams.ErrTTY || g.quiet {
		return g.log, func() {}
	}
	d := &progressDisplay{w: g.streams.Err}
	log := g.log
	// Rebuild the logger (same format and level) on the display's writer.
	s := *g.streams
	s.Err = d
	g2 := *g
	g2.streams = &s
	if err := g2.setupLogging(); err == nil {
		log = g2.log
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		d.draw(p.Snapshot())
		for {
			select {
			case <-done:
				d.clear()
				return
			case <-t.C:
				d.draw(p.Snapshot())
			}
		}
	}()
	return log, func() {
		close(done)
		wg.Wait()
	}
}

// terminalWidth returns the width of w when it is a terminal, else 0.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
