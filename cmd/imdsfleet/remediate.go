package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
)

// changeFlags are the flags remediate and rollback share: mode, AWS access,
// pacing, outputs.
type changeFlags struct {
	dryRun, live, yes bool

	profile, region, endpointURL string
	roleName, externalID         string

	rate         float64
	waitTimeout  time.Duration
	pollInterval time.Duration
	workers      int
	maxAttempts  int
	maxBackoff   time.Duration
	stopGrace    time.Duration

	outputs []string

	cfg aws.Config // from loadConfig
}

func (f *changeFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.dryRun, "dry-run", false, "send every change with DryRun=true and change nothing (the default)")
	fs.BoolVar(&f.live, "live", false, "make the changes (needs --yes, or typing yes at the prompt on a terminal)")
	fs.BoolVar(&f.yes, "yes", false, "with --live: do not ask for confirmation")
	fs.StringVar(&f.profile, "profile", "", "AWS shared config profile (default: AWS_PROFILE or default)")
	fs.StringVar(&f.region, "region", "", "home Region for STS (default: AWS_REGION, the profile's, or us-east-1)")
	fs.StringVar(&f.endpointURL, "endpoint-url", "", "send every AWS call to this URL (a simulator, moto); AWS_ENDPOINT_URL is honoured too")
	fs.StringVar(&f.roleName, "role-name", "", "role to assume (arn:<partition>:iam::<account>:role/NAME) for instances in accounts other than the caller's; without it they are skipped")
	fs.StringVar(&f.externalID, "external-id", "", "external ID for --role-name")
	fs.Float64Var(&f.rate, "rate", 5, "changes per second per account and Region (5 is ModifyInstanceMetadataOptions' refill rate on AWS)")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", 5*time.Minute, "how long to wait for each live change to show applied")
	fs.StringArrayVar(&f.outputs, "output", nil, "also write the per-instance results to FILE (.json or .csv; repeatable; a file is replaced atomically, a device or FIFO written directly)")
	fs.DurationVar(&f.pollInterval, "poll-interval", time.Second, "pause between verification reads")
	fs.IntVar(&f.workers, "workers", 4, "calls in flight per Region")
	fs.IntVar(&f.maxAttempts, "max-attempts", 30, "attempts per AWS call (throttling is retried, never reported as a failure)")
	fs.DurationVar(&f.maxBackoff, "retry-max-backoff", 20*time.Second, "longest pause between retries")
	fs.DurationVar(&f.stopGrace, "stop-grace", remediate.DefaultStopGrace, "after the first SIGINT/SIGTERM, how long calls in flight may go on (retrying a throttle) before they are cut")
	for _, hidden := range []string{"poll-interval", "workers", "max-attempts", "retry-max-backoff", "stop-grace"} {
		_ = fs.MarkHidden(hidden)
	}
}

// validate checks the mode flags. It needs the streams to know whether a
// prompt is possible.
func (f *changeFlags) validate(s *streams) error {
	if f.dryRun && f.live {
		return usageError("--dry-run and --live conflict: pick one (a dry run is the default)")
	}
	if f.yes && !f.live {
		return usageError("--yes only applies to --live runs")
	}
	if f.live && !f.yes && !s.InTTY {
		return usageError("refusing a live run without --yes: stdin is not a terminal, so nothing can confirm it; add --yes")
	}
	if err := checkRate("--rate", f.rate); err != nil {
		return err
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--wait-timeout", f.waitTimeout}, {"--poll-interval", f.pollInterval}, {"--retry-max-backoff", f.maxBackoff}, {"--stop-grace", f.stopGrace}} {
		if err := checkPositive(d.flag, d.v); err != nil {
			return err
		}
	}
	if f.workers < 1 || f.workers > 100 {
		return usageError("--workers %d: want 1..100 calls in flight per Region", f.workers)
	}
	if f.maxAttempts < 1 || f.maxAttempts > 100 {
		return usageError("--max-attempts %d: want 1..100 attempts per call", f.maxAttempts)
	}
	if err := checkEndpointURL("--endpoint-url", f.endpointURL); err != nil {
		return err
	}
	if err := checkRegion("--region", f.region); err != nil {
		return err
	}
	if f.roleName != "" {
		if err := awsconfig.CheckRoleName(f.roleName); err != nil {
			return usageError("--role-name: %v", err)
		}
	}
	if f.externalID != "" && f.roleName == "" {
		return usageError("--external-id applies to the role of --role-name: add --role-name")
	}
	for _, o := range f.outputs {
		switch strings.ToLower(filepath.Ext(o)) {
		case ".json", ".csv":
		default:
			return usageError("--output %q: the file name must end in .json or .csv", o)
		}
		if err := report.CheckOutput(o); err != nil {
			return usageError("--output %v", err)
		}
	}
	return nil
}

// outputPaths are the --output files, named for [checkDistinctOutputs].
func (f *changeFlags) outputPaths() []namedPath {
	var outs []namedPath
	for _, o := range f.outputs {
		outs = append(outs, namedPath{"--output", o})
	}
	return outs
}

// journalFiles are the files a journal at path keeps (itself, its lock's
// description, the rollback journal beside it and that one's), which no
// output may replace.
func journalFiles(flag, path string) []namedPath {
	rb := remediate.RollbackJournalPath(path)
	return []namedPath{
		{flag, path}, {"the lock file of " + flag, remediate.LockInfoPath(path)},
		{"the rollback journal of " + flag, rb}, {"the lock file of the rollback journal of " + flag, remediate.LockInfoPath(rb)},
	}
}

// checkDir makes sure path's directory exists, so that a file written after
// a live run cannot fail for want of it.
func checkDir(flag, path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageError("%s %s: directory %s does not exist: create it first", flag, path, dir)
	}
	return nil
}

func (f *changeFlags) runOptions(g *globals) remediate.RunOptions {
	return remediate.RunOptions{
		Live: f.live, Rate: f.rate, Workers: f.workers, WaitTimeout: f.waitTimeout, PollInterval: f.pollInterval, Logger: g.log,
		StopGrace: f.stopGrace,
	}
}

// loadConfig reads the AWS configuration (files and environment; no AWS
// call), so that a --profile that does not exist is bad usage reported
// before any work.
func (f *changeFlags) loadConfig(ctx context.Context, g *globals) error {
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{
		Profile: f.profile, Region: f.region, EndpointURL: f.endpointURL,
		MaxAttempts: f.maxAttempts, MaxBackoff: f.maxBackoff, Logger: g.log,
	})
	if err != nil {
		return loadConfigError(err)
	}
	if !scanner.ValidRegionName(cfg.Region) {
		return usageError("unknown AWS Region %q (from --region, AWS_REGION or the profile): use a Region name such as us-east-1", cfg.Region)
	}
	f.cfg = cfg
	return nil
}

// loadConfigError maps an awsconfig.Load error to one line and an exit
// code: a profile that does not exist is bad usage.
func loadConfigError(err error) error {
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return usageError("%s", awsconfig.Explain(err))
	}
	var role config.SharedConfigAssumeRoleError
	if errors.As(err, &role) && role.Err == nil {
		return usageError("%s", awsconfig.Explain(err))
	}
	var badFile *awsconfig.SharedFileError
	if errors.As(err, &badFile) {
		return usageError("%v", badFile)
	}
	return withCode(exitError, errors.New(awsconfig.Explain(err)))
}

// fleetClients hands out EC2 and CloudWatch clients per (account,
// Region) from the one client factory: the caller's credentials for the
// caller's account, --role-name (in the caller's partition) for the others.
type fleetClients struct {
	caller  awsconfig.Caller
	f       *changeFlags
	factory *awsconfig.Clients

	mu  sync.Mutex
	ec2 map[[2]string]remediate.EC2API
	cw  map[[2]string]remediate.MetricsAPI
	asg map[[2]string]remediate.AutoScalingAPI
}

var (
	_ remediate.Clients        = (*fleetClients)(nil)
	_ remediate.MetricsClients = (*fleetClients)(nil)
)

// account is the caller's account.
func (c *fleetClients) account() string { return c.caller.Account }

func (c *fleetClients) target(account, region string) (awsconfig.Target, error) {
	role, err := c.caller.RoleFor(account, c.f.roleName, c.f.externalID)
	if errors.Is(err, awsconfig.ErrNoRole) {
		return awsconfig.Target{}, fmt.Errorf("account %s is not the caller's (%s); pass --role-name to assume a role there: %w", account, c.caller.Account, remediate.ErrNoAccess)
	}
	if err != nil {
		return awsconfig.Target{}, fmt.Errorf("%v: %w", err, remediate.ErrNoAccess)
	}
	return awsconfig.Target{Account: account, Region: region, Role: role}, nil
}

// cachedClient returns the client of (account, region) from m, making it
// with mk on first use; one client per target, shared by every caller.
func cachedClient[T any](c *fleetClients, m map[[2]string]T, account, region string, mk func(awsconfig.Target) T) (T, error) {
	var none T
	t, err := c.target(account, region)
	if err != nil {
		return none, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{account, region}
	if cl, ok := m[k]; ok {
		return cl, nil
	}
	cl := mk(t)
	m[k] = cl
	return cl, nil
}

// EC2 implements remediate.Clients.
func (c *fleetClients) EC2(account, region string) (remediate.EC2API, error) {
	return cachedClient(c, c.ec2, account, region, func(t awsconfig.Target) remediate.EC2API { return c.factory.EC2(t) })
}

// CloudWatch implements remediate.MetricsClients.
func (c *fleetClients) CloudWatch(account, region string) (remediate.MetricsAPI, error) {
	return cachedClient(c, c.cw, account, region, func(t awsconfig.Target) remediate.MetricsAPI { return c.factory.CloudWatch(t) })
}

// clients identifies the caller and returns the clients for its fleet.
func (f *changeFlags) clients(ctx context.Context) (*fleetClients, error) {
	cfg := f.cfg
	if err := awsconfig.CheckCredentials(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return nil, withCode(exitError, errors.New("interrupted while getting AWS credentials: nothing was changed"))
		}
		return nil, withCode(exitError, errors.New(awsconfig.Explain(err)))
	}
	// The caller's ARN gives the partition of every role ARN (aws,
	// aws-us-gov, aws-cn).
	factory := awsconfig.NewClients(cfg, "imdsfleet-remediate", "")
	caller, err := awsconfig.Identify(ctx, factory.STS(awsconfig.Role{}))
	if err != nil {
		return nil, withCode(exitError, fmt.Errorf("identify the caller: %s", awsconfig.ExplainFor(cfg, err)))
	}
	return &fleetClients{caller: caller, f: f, factory: factory,
		ec2: map[[2]string]remediate.EC2API{}, cw: map[[2]string]remediate.MetricsAPI{}, asg: map[[2]string]remediate.AutoScalingAPI{}}, nil
}

// confirm shows what a live run will change and asks for the word yes.
func confirm(ctx context.Context, s *streams, what string, counts map[string]map[string]int) error {
	fmt.Fprintf(s.Err, "\nAbout to %s LIVE:\n", what)
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		var parts []string
		total := 0
		for _, a := range slices.Sorted(maps.Keys(counts[k])) {
			parts = append(parts, fmt.Sprintf("%s %d", a, counts[k][a]))
			total += counts[k][a]
		}
		// k is account/Region from the report: sanitized like every table.
		fmt.Fprintf(s.Err, "  %-32s %4d  (%s)\n", report.SanitizeCell(k, 64), total, strings.Join(parts, ", "))
	}
	fmt.Fprint(s.Err, "Type yes to continue: ")
	type answer struct {
		line string
		err  error
	}
	// Read in the background so that Ctrl-C (ctx) ends the prompt too.
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(s.In).ReadString('\n')
		ch <- answer{line, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		fmt.Fprintln(s.Err)
		return withCode(exitError, errors.New("interrupted at the prompt: nothing was changed"))
	}
	if a.err != nil && !errors.Is(a.err, io.EOF) {
		return withCode(exitError, fmt.Errorf("read confirmation: %w", a.err))
	}
	if strings.TrimSpace(a.line) != "yes" {
		return withCode(exitError, errors.New("not confirmed: nothing was changed"))
	}
	return nil
}

// writeOutputs writes the results files (see report.WriteOutput).
func writeOutputs(ctx context.Context, paths []string, out *remediate.Outcome) error {
	for _, p := range paths {
		write := func(w io.Writer) error { return remediate.WriteResultsJSON(w, out) }
		if strings.EqualFold(filepath.Ext(p), ".csv") {
			write = func(w io.Writer) error { return remediate.WriteResultsCSV(w, out) }
		}
		if err := report.WriteOutputContext(ctx, p, write); err != nil {
			return withCode(exitError, fmt.Errorf("write results: %w", err))
		}
	}
	return nil
}

// resumeCommand rebuilds the command line from the flags that were set,
// making sure it names the journal.
func resumeCommand(cmd *cobra.Command, journalFlag, journal string) string {
	args := []string{"imdsfleet", cmd.Name()}
	sawJournal := false
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name == journalFlag {
			sawJournal = true
		}
		if fl.Value.Type() == "bool" {
			args = append(args, "--"+fl.Name)
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name, shellQuote(v))
			}
			return
		}
		args = append(args, "--"+fl.Name, shellQuote(fl.Value.String()))
	})
	if !sawJournal {
		args = append(args, "--"+journalFlag, shellQuote(journal))
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell. A value with a character the
// sanitizer would escape (a control or bidi character, a byte that is not
// UTF-8) is written as $'...' with that character escaped (\x1b, \n,
// \u202e), which bash, zsh and ksh read back exactly: the printed command
// can neither drive the terminal nor run as something else when pasted.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r))
	}) < 0 {
		return s
	}
	if report.Sanitize(s) == s {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	e := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
	return "$'" + report.Sanitize(e) + "'"
}

// finish prints the results, writes the outputs and maps the outcome to an
// exit code.
func finish(cmd *cobra.Command, g *globals, f *changeFlags, out *remediate.Outcome, runErr error, journalFlag, journal string) error {
	if err := remediate.WriteResultsTable(g.streams.Out, out); err != nil {
		return withCode(exitError, err)
	}
	if err := writeOutputs(cmd.Context(), f.outputs, out); err != nil {
		return err
	}
	if out.Live && journal != "" {
		fmt.Fprintf(g.streams.Err, "journal: %s\n", report.Sanitize(journal))
	}
	if runErr != nil {
		fmt.Fprintf(g.streams.Err, "after fixing the journal problem, resume with:\n  %s\n", resumeCommand(cmd, journalFlag, journal))
		return withCode(exitError, fmt.Errorf("stopped: %w", runErr))
	}
	if out.Interrupted {
		if out.Live {
			fmt.Fprintf(g.streams.Err, "interrupted: changes in flight were journaled (any still retrying after the stop grace were cut; resuming re-reads them). Resume with:\n  %s\n", resumeCommand(cmd, journalFlag, journal))
		} else {
			fmt.Fprintln(g.streams.Err, "interrupted: the dry run did not finish")
		}
		return withCode(exitError, errors.New("interrupted"))
	}
	if !out.OK() {
		return withCode(exitFailed, fmt.Errorf("%d change(s) denied, %d failed", out.Summary.Denied, out.Summary.Failed))
	}
	return nil
}

type remediateFlags struct {
	changeFlags
	report            string
	include           []string
	force             bool
	noHopLimitFix     bool
	containerHopLimit int32
	excludeTags       []string
	instanceIDs       []string
	regions           []string
	maxChanges        int
	planOut           string
	journal           string
	scope             []string
	enforceDefaults   bool
}

func newRemediateCmd(g *globals) *cobra.Command {
	f := &remediateFlags{}
	cmd := &cobra.Command{
		Use:   "remediate --report FILE [--dry-run | --live --yes]",
		Short: "Enforce IMDSv2 from a scan report (dry run by default), journaled and resumable",
		Long: `remediate plans IMDSv2 changes from a scan report and carries them out.

Plan (from each instance's classification in the report):
  ready                enforce: HttpTokens=required, hop limit untouched
                       (container hosts keep hop limit 1 unless --container-hop-limit 2)
  v1-in-use            container host with hop limit 1: raise-hop-limit to 2, tokens untouched
                       (off with --no-hop-limit-fix); others skipped unless
                       --include v1-in-use --force (container hosts then get hop limit 2 too)
  no-data              skipped unless --include no-data
  enforced, disabled   never touched (imdsfleet never disables the endpoint)
Exclusions: --exclude-tag (imdsfleet:exempt always, plus each one given;
--exclude-tag '' drops imdsfleet:exempt), --instance-ids, --regions,
--max-changes (the first N planned changes in account, Region, id order).
A container host is one the report flags with the container-hop-limit risk
(the scan's container tags, hop limit 1, v1 allowed).

First, every instance's classification and risks are recomputed from the
report's own evidence (options, usage, tags) with the scan's rules and the
options the report records (scanOptions). A report that disagrees (e.g. an
instance edited to ready that made v1 calls), that lacks an instance's
httpTokens, that has no scanOptions (written by an older imdsfleet), or
whose evidence no scan writes (negative counts, more observed days than
its window, an instance outside the targets it scanned) is refused before
any AWS call: re-run the scan.

Before any change each instance is re-read; one whose options changed since
the scan, or that is gone, is skipped with the reason. A dry run (the
default) sends every change with DryRun=true: "would change" or "denied".
A live run journals every call before and after it (--journal; by default
<report dir>/<report name>.remediate-<hash of the report>.jsonl), waits
until each change shows applied, and can be resumed by running the same
command again: nothing is changed twice. One live run
at a time per journal (a second one exits 2 naming the first). Undo it with
'imdsfleet rollback'; a rerun after a rollback plans the changes again.

--scope sources (or instances,sources: the sources first) plans the launch
sources instead: a new version with HttpTokens=required of each launch
template version in use that would launch IMDSv1, then ModifyLaunchTemplate
for $Default users and UpdateAutoScalingGroup for pinned groups (no dry run
exists for it: a dry run does not send it), then the account defaults of a
Region once nothing there relies on IMDSv1 (--enforce-account-defaults also
HttpTokensEnforced=enabled where nothing would fail to launch). A source
changes only when every live instance of its workloads is ready or enforced,
unless --force. Launch configurations, EKS node groups, Karpenter, Elastic
Beanstalk and declarative-policy defaults are skipped with the change to make.

Exit codes: 0 every planned change succeeded (or would), 5 some were denied
or failed, 2 bad usage (report refused, journal locked, not a journal, not a regular file),
1 could not run or interrupted.`,
		Example: `  # What would change, and are we allowed to? (nothing changes)
  imdsfleet remediate --report scan.json

  # Write the plan for review, Region by Region
  imdsfleet remediate --report scan.json --regions eu-west-1 --plan-out plan.json

  # Make the changes, journaled; re-run the same command to resume
  imdsfleet remediate --report scan.json --live --yes --journal fix.jsonl --output results.csv

  # Also raise container hosts' hop limit to 2 when enforcing
  imdsfleet remediate --report scan.json --container-hop-limit 2 --live --yes

  # Fix the launch sources first, then the instances
  imdsfleet remediate --report scan.json --scope instances,sources --plan-out plan.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemediate(cmd, g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.report, "report", "", "scan report (JSON) to plan from (required)")
	fs.StringSliceVar(&f.include, "include", nil, "widen the enforce set: no-data, v1-in-use (the latter needs --force)")
	fs.BoolVar(&f.force, "force", false, "confirm --include v1-in-use")
	fs.BoolVar(&f.noHopLimitFix, "no-hop-limit-fix", false, "do not raise the hop limit of v1-in-use container hosts")
	fs.Int32Var(&f.containerHopLimit, "container-hop-limit", 1, "hop limit for container hosts when enforcing: 1 keeps it, 2 raises it in the same call")
	fs.StringArrayVar(&f.excludeTags, "exclude-tag", nil, "skip instances with this tag, KEY or KEY=VALUE (repeatable), besides "+remediate.DefaultExemptTag+" (--exclude-tag '' drops that one)")
	fs.StringSliceVar(&f.instanceIDs, "instance-ids", nil, "only these instances (comma-separated)")
	fs.StringSliceVar(&f.regions, "regions", nil, "only these Regions (comma-separated)")
	fs.IntVar(&f.maxChanges, "max-changes", 0, "change at most N instances (0: no cap)")
	fs.StringSliceVar(&f.scope, "scope", []string{remediate.ScopeInstances}, "what to change: instances, sources (launch templates, Auto Scaling groups, account defaults), or instances,sources")
	fs.BoolVar(&f.enforceDefaults, "enforce-account-defaults", false, "with --scope sources: also set HttpTokensEnforced=enabled in the account defaults where nothing would then fail to launch")
	fs.StringVar(&f.planOut, "plan-out", "", "write the plan as JSON to FILE (a file is replaced atomically, a device or FIFO written directly)")
	fs.StringVar(&f.journal, "journal", "", "journal file (JSON Lines); an existing one is resumed (default <report dir>/<report name>.remediate-<hash of the report>.jsonl, so the same command, or a later one from the same report, resumes it)")
	f.changeFlags.register(fs)
	return cmd
}

func runRemediate(cmd *cobra.Command, g *globals, f *remediateFlags) error {
	ctx := cmd.Context()
	s := g.streams
	if f.report == "" {
		return usageError("--report is required: the JSON report of 'imdsfleet scan --output scan.json'")
	}
	if err := f.changeFlags.validate(s); err != nil {
		return err
	}
	if _, err := g.useSimClock(""); err != nil {
		return err
	}
	if err := f.changeFlags.loadConfig(ctx, g); err != nil {
		return err
	}
	for _, fl := range []struct {
		name   string
		values []string
		what   string
	}{{"instance-ids", f.instanceIDs, "instance id"}, {"regions", f.regions, "Region"}} {
		if err := checkFilter(cmd.Flags(), fl.name, fl.values, fl.what); err != nil {
			return err
		}
	}
	// 0 means "keep" to PlanOptions; as a flag value it is a hop limit AWS
	// refuses.
	if f.containerHopLimit != 1 && f.containerHopLimit != 2 {
		return usageError("--container-hop-limit %d: want 1 (keep) or 2", f.containerHopLimit)
	}
	if len(f.scope) == 0 {
		return usageError("--scope: want instances, sources or instances,sources")
	}
	opts := remediate.PlanOptions{
		Include: f.include, Force: f.force, NoHopLimitFix: f.noHopLimitFix, ContainerHopLimit: f.containerHopLimit,
		InstanceIDs: f.instanceIDs, Regions: f.regions, MaxChanges: f.maxChanges,
		EnforceAccountDefaults: f.enforceDefaults,
	}
	if !(len(f.scope) == 1 && f.scope[0] == remediate.ScopeInstances) {
		opts.Scope = f.scope
	}
	// The exempt tag is a safety control: adding an exclusion must not
	// quietly drop it. Only an explicit empty --exclude-tag does.
	if !slices.Contains(f.excludeTags, "") {
		opts.ExcludeTags = append(opts.ExcludeTags, remediate.TagMatch{Key: remediate.DefaultExemptTag})
	}
	for _, t := range f.excludeTags {
		if t == "" {
			continue
		}
		m, err := remediate.ParseTagMatch(t)
		if err != nil {
			return usageError("--exclude-tag: %v", err)
		}
		opts.ExcludeTags = append(opts.ExcludeTags, m)
	}
	if err := opts.Validate(); err != nil {
		return usageError("%v", err)
	}
	if f.planOut != "" {
		if err := report.CheckOutput(f.planOut); err != nil {
			return usageError("--plan-out %v", err)
		}
	}
	if f.journal != "" {
		if err := checkDir("--journal", f.journal); err != nil {
			return err
		}
	}
	if f.live && f.journal == "" {
		// The default journal sits beside the report: beside a pipe or a
		// device (--report /dev/stdin, <(jq …)) it would land in /dev or
		// /proc, and be lost with the rollback information it holds.
		if fi, err := os.Stat(f.report); err == nil && !fi.Mode().IsRegular() {
			return usageError("--report %s is not a regular file (a pipe or a device), so a live run's journal cannot sit beside it: pass --journal FILE (and keep it: rollback reads it)", f.report)
		}
		// Standard input or a descriptor redirected from a regular file
		// (--report /dev/stdin < r.json, /dev/fd/N, /proc/self/fd/N) is
		// a regular file, but its directory is /dev or /proc.
		if inSystemDir(f.report) {
			return usageError("--report %s is reached through /dev or /proc (standard input or a file descriptor), so a live run's journal cannot sit beside it: pass --journal FILE (and keep it: rollback reads it), or name the report's own file", f.report)
		}
	}
	rep, data, err := readReportFile(ctx, f.report)
	if err != nil {
		return err
	}
	journal := f.journal
	if journal == "" {
		journal = defaultJournalPath(f.report, data)
	}
	if err := checkJournalFiles("--journal", journal, remediate.RollbackJournalPath(journal)); err != nil {
		return err
	}
	outs := f.outputPaths()
	if f.planOut != "" {
		outs = append([]namedPath{{"--plan-out", f.planOut}}, outs...)
	}
	if err := checkDistinctOutputs(outs, append([]namedPath{{"--report", f.report}}, journalFiles("--journal", journal)...)); err != nil {
		return err
	}
	plan, err := remediate.BuildPlan(rep, opts, g.clock.Now())
	if errors.Is(err, policy.ErrUntrusted) {
		return usageError("%s: %v", f.report, err)
	}
	if err != nil {
		return usageError("%v", err)
	}
	if err := remediate.WritePlanTable(s.Out, plan); err != nil {
		return withCode(exitError, err)
	}
	if f.planOut != "" {
		plan.Describe(f.report, data, rep.GeneratedAt, planFlags(cmd))
		if err := plan.Seal(); err != nil {
			return withCode(exitError, err)
		}
		if err := report.WriteOutputContext(ctx, f.planOut, func(w io.Writer) error { return remediate.WritePlanJSON(w, plan) }); err != nil {
			return withCode(exitError, fmt.Errorf("write plan: %w", err))
		}
	}
	tasks := remediate.TasksFromPlan(plan)
	ro := f.runOptions(g)
	skipped := append(remediate.SkippedSourceResults(plan.SourcesSkipped), remediate.SkippedResults(plan.Skipped)...)
	if len(tasks) == 0 && len(plan.Sources) == 0 {
		out := &remediate.Outcome{Live: f.live, Summary: remediate.Summary{Skipped: map[string]int{}}}
		out.AddSkipped(skipped)
		fmt.Fprintln(s.Out, "\nNothing to change.")
		return finish(cmd, g, &f.changeFlags, out, nil, "journal", "")
	}
	if f.live {
		if !f.yes {
			if err := confirm(ctx, s, confirmWhat(len(tasks), len(plan.Sources)), mergeCounts(plan.CountsByTarget(), plan.SourceCounts())); err != nil {
				return err
			}
		}
	}
	closeJournal, err := useJournal(s, journal, f.live, remediate.OpRemediate, "imdsfleet remediate --report "+f.report, 0, time.Now, &ro)
	if err != nil {
		return err
	}
	defer closeJournal()
	// A change rolled back since it was journaled is no longer done: plan
	// it again. Rollback journals itself beside the journal it undoes.
	rbPath := remediate.RollbackJournalPath(journal)
	rb, warns, err := remediate.ReadJournal(rbPath)
	if err != nil {
		return usageError("%v", err)
	}
	printWarnings(s, warns)
	if n := ro.Prior.ForgetRolledBack(rb) + ro.Prior.ForgetSourcesRolledBack(rb); n > 0 {
		fmt.Fprintf(s.Err, "%d change(s) of the journal were rolled back since (%s): they are planned again\n", n, report.Sanitize(rbPath))
	}
	return f.executeAll(ctx, cmd, g, plan.Sources, tasks, ro, skipped, "journal", journal)
}

// planShapingFlags are the remediate flags that decide what a plan holds.
var planShapingFlags = []string{"include", "force", "no-hop-limit-fix", "container-hop-limit", "exclude-tag", "instance-ids", "regions", "max-changes", "scope", "enforce-account-defaults"}

// planFlags lists the plan-shaping flags that were set, as --name=value.
func planFlags(cmd *cobra.Command) []string {
	out := []string{}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if !slices.Contains(planShapingFlags, fl.Name) {
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+fl.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+fl.Name+"="+fl.Value.String())
	})
	return out
}

// readReportFile reads and checks the report at path, and returns its bytes
// too (the default journal is named after them: the file is read once, as
// a pipe or a FIFO can be). A signal stops the wait: a FIFO without a writer
// would otherwise block the open for good, with the first signal taken.
func readReportFile(ctx context.Context, path string) (*report.Report, []byte, error) {
	type result struct {
		rep  *report.Report
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rep, data, err := report.ReadFileData(path)
		done <- result{rep, data, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, nil, usageError("%v", r.err)
		}
		return r.rep, r.data, nil
	case <-ctx.Done():
		return nil, nil, withCode(exitError, fmt.Errorf("interrupted while reading the report %s: nothing was changed", path))
	}
}

// inSystemDir reports whether path's directory is /dev or /proc (or
// below them): no place for a journal.
func inSystemDir(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	dir := filepath.Dir(abs)
	for _, sys := range []string{"/dev", "/proc"} {
		if dir == sys || strings.HasPrefix(dir, sys+"/") {
			return true
		}
	}
	return false
}

// defaultJournalPath derives the journal of a remediation from the report's
// content (data, as read once): running the same command again after a
// crash resumes the same journal, and so does a later run from the same
// report with another selection (--max-changes 10, then 100; one Region,
// then the next), so a staged rollout keeps all its changes, and its one
// rollback, in one file. A different report gets a journal of its own. It
// sits beside the report.
func defaultJournalPath(reportPath string, data []byte) string {
	sum := sha256.Sum256(data)
	base := strings.TrimSuffix(filepath.Base(reportPath), filepath.Ext(reportPath))
	return filepath.Join(filepath.Dir(reportPath), fmt.Sprintf("%s.remediate-%x.jsonl", base, sum[:6]))
}

// checkJournalFiles refuses journal paths that are not regular files (or
// absent): a directory, a FIFO, a device. It never opens them, so it never
// blocks, and it runs before any AWS call.
func checkJournalFiles(flag string, paths ...string) error {
	for _, p := range paths {
		if _, err := remediate.CheckJournalFile(p); err != nil {
			return usageError("%s: %v", flag, err)
		}
	}
	return nil
}

func printWarnings(s *streams, warns []remediate.Warning) {
	for _, w := range warns {
		fmt.Fprintf(s.Err, "warning: %s\n", w)
	}
}

// execute runs tasks, adds the results of what was skipped before any call,
// and reports through [finish].
func (f *changeFlags) execute(ctx context.Context, cmd *cobra.Command, g *globals, tasks []remediate.Task, ro remediate.RunOptions, skipped []remediate.Result, journalFlag, journal string) error {
	clients, err := f.clients(ctx)
	if err != nil {
		return err
	}
	out, runErr := remediate.Execute(ctx, clients, tasks, ro)
	if out == nil {
		return withCode(exitError, runErr)
	}
	out.AddSkipped(skipped)
	return finish(cmd, g, f, out, runErr, journalFlag, journal)
}

// useJournal wires the journal at path, written by op, into ro. A live run
// opens it for appending under its exclusive lock (resuming what it already
// records); a dry run only reads it, if it exists, so that its plan shows
// what a resumed live run would skip. A file that is not a journal, or is
// the other operation's journal, or is locked by another live run is bad
// usage (exit 2), refused before any AWS call. The returned function closes
// what was opened.
//
// remSeq, for a rollback journal, is the last seq of the remediate journal
// it undoes, stamped on every line so that the two journals are ordered
// without trusting clocks.
func useJournal(s *streams, path string, live bool, op, command string, remSeq int64, now func() time.Time, ro *remediate.RunOptions) (func(), error) {
	var (
		prior *remediate.JournalState
		warns []remediate.Warning
		err   error
		j     *remediate.Journal
	)
	if live {
		j, prior, warns, err = remediate.OpenJournal(path, remediate.JournalOptions{
			RunID: newRunID(), Holder: remediate.ThisProcess(command, time.Now()), Op: op, RemediateSeq: remSeq, Now: now})
	} else {
		prior, warns, err = remediate.ReadJournal(path)
		if err == nil && prior.Records == 0 && len(warns) > 0 && !(len(warns) == 1 && warns[0].Torn) {
			err = fmt.Errorf("%s is not an imdsfleet journal (line %d: %v): pass a new or existing journal file: %w", path, warns[0].Line, warns[0].Err, remediate.ErrNotJournal)
		}
		if err == nil {
			err = prior.CheckOp(path, op)
		}
	}
	var locked *remediate.LockedError
	switch {
	case errors.As(err, &locked), errors.Is(err, remediate.ErrNotJournal), errors.Is(err, remediate.ErrNotRegular), errors.Is(err, remediate.ErrWrongOp):
		return nil, usageError("%v", err)
	case err != nil:
		return nil, withCode(exitError, err)
	}
	if live {
		fmt.Fprintf(s.Err, "journal: %s\n", report.Sanitize(path))
	} else if prior.Records > 0 {
		fmt.Fprintf(s.Err, "journal: %s (read only: a dry run writes nothing)\n", report.Sanitize(path))
	}
	printWarnings(s, warns)
	ro.Journal, ro.Prior = j, prior
	return func() {
		if j != nil {
			j.Close()
		}
	}, nil
}

// newRunID names one invocation in the journal.
func newRunID() string {
	return time.Now().UTC().Format("20060102T150405.000000000Z")
}
