// Package scanner finds every EC2 instance of a set of (account, Region)
// targets, reads its IMDS metadata options and its IMDSv1 usage from
// CloudWatch, reads the launch sources its replacement would come from
// (collectors.go lists the collectors; internal/launch resolves them), and
// classifies it into a [report.Report].
//
// All targets run in one bounded errgroup; a target that fails becomes an
// error record in the report and the others go on. Within a Region,
// DescribeInstances pages stream into the metrics stage, so GetMetricData
// calls (500 queries each, a bounded number in flight) start while pages
// still arrive. The scanner prints nothing: it reports through its return
// values, an optional [Progress] and an injected slog.Logger.
package scanner

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unique"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/imdsopts"
	"github.com/imdsfleet/imdsfleet/internal/launch"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// Defaults for [Options] fields left zero.
const (
	// DefaultConcurrency is the (account, Region) targets scanned at once:
	// every default Region (17) of three to four accounts in one wave. AWS
	// limits requests per account and per Region, so targets of different
	// accounts never draw on the same bucket, and each target keeps to at
	// most DefaultPartsInFlight listing parts and DefaultMetricsInFlight
	// GetMetricData calls: what bounds an organization scan is the
	// scanning machine, and 64 targets keep well under a few hundred
	// requests in flight.
	DefaultConcurrency     = 64
	DefaultMetricsInFlight = 4 // GetMetricData calls in flight per Region
)

// CloudWatch metric names and namespace the scanner reads.
const (
	Namespace             = "AWS/EC2"
	MetricNoToken         = "MetadataNoToken"
	MetricNoTokenRejected = "MetadataNoTokenRejected"
)

// Options configure a [Scan]. The zero value scans every enabled Region of
// the caller's account over the default lookback.
type Options struct {
	// Regions to scan; nil means every Region DescribeRegions reports as
	// enabled (opt-in-not-required or opted-in), per account.
	Regions []string
	// Roles reach accounts besides the caller's. A role whose account is
	// already scanned (the caller's, or an earlier role's) is skipped.
	Roles []Role
	// Accounts are account ids scanned besides the caller's, each through
	// RoleName (with ExternalID), in the caller's partition.
	Accounts []string
	// RoleName is the role assumed in Accounts and in the accounts Org
	// finds (other than the caller's, which uses the caller's credentials).
	RoleName   string
	ExternalID string
	// Org, if set, takes the accounts from AWS Organizations instead: every
	// account of the organization, or of Org.OUs. Only ACTIVE accounts are
	// scanned; the others are listed in the report as skipped.
	Org *OrgOptions
	// ExcludeAccounts are never scanned (listed in the report as skipped).
	ExcludeAccounts []string
	// Shard, if set (Count > 0), keeps only the accounts of that shard
	// (see [ShardOf]); the report records it.
	Shard report.Shard
	// Concurrency bounds the targets scanned at once (default DefaultConcurrency).
	Concurrency int
	// MetricsInFlight bounds the GetMetricData calls in flight per Region (default 4).
	MetricsInFlight int
	// PartsInFlight bounds the parts of one large Region listed at once
	// (default DefaultPartsInFlight).
	PartsInFlight int
	// NoPartition lists every Region page after page, never by
	// Availability Zone (for measuring the sequential bound).
	NoPartition bool
	// Lookback is the usage window (default 14 days, at most 455).
	Lookback time.Duration
	// MinObservedDays is the evidence "ready" needs (default 7), capped at
	// the lookback's days (see [policy.MinObservedDays]).
	MinObservedDays int
	// TagFilters narrow DescribeInstances server-side.
	TagFilters []TagFilter
	// ContainerTags add to [policy.DefaultContainerTags].
	ContainerTags []policy.TagMatcher
	// GroupBy are the tag keys that group instances no launcher groups
	// into workloads, tried in order (see [launch.Workloads]).
	GroupBy []string
	// OwnerTags are the tag keys naming a workload's owner, tried in
	// order (nil: [launch.DefaultOwnerTags]).
	OwnerTags []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, if set, is updated as the scan goes.
	Progress *Progress
	// Logger receives per-target log lines (default: discard).
	Logger *slog.Logger
	// Tool names the program in the report.
	Tool report.Tool
	// NoLaunchSources skips the launch-source reads (account defaults,
	// launch templates, Auto Scaling groups, launch configurations, AMIs):
	// instances then carry no launch source or next launch.
	NoLaunchSources bool
	// Pack packs each target's instances, launch sources and workloads as
	// soon as the target is done (see report.Packed): an organization's
	// report then takes about a tenth of the memory until it is written.
	// The report's lists are then empty: read them with
	// report.Report.EachInstance, or Unpack it.
	Pack bool
}

// RegionsAll is the Target.Region of an account whose Region list could not
// be read.
const RegionsAll = "all"

// Scan runs the scan and returns its report. The error is non-nil only when
// the scan could not run at all (the caller's identity could not be read,
// bad options, or ctx ended); failed targets are recorded in the report
// with status "error".
func Scan(ctx context.Context, c Clients, o Options) (*report.Report, error) {
	o = o.withDefaults()
	if err := checkLookback(o.Lookback); err != nil {
		return nil, fmt.Errorf("lookback %s: %w", o.Lookback, err)
	}
	// Whole seconds: the report's times read cleanly and two scans differ
	// only where something changed.
	now := o.Now().UTC().Truncate(time.Second)
	start, end := Window(now, o.Lookback)
	s := &scan{
		c:     c,
		o:     o,
		start: start,
		end:   end,
		rules: policy.Rules{
			MinObservedDays: policy.MinObservedDays(o.MinObservedDays, o.Lookback),
			ContainerTags:   append(policy.DefaultContainerTags(), o.ContainerTags...),
			WindowStart:     start,
		},
		filters:   ec2Filters(o.TagFilters),
		generated: now,
	}

	// The first call also proves the endpoint and credentials work (an
	// unreachable endpoint fails in seconds: the retryer gives connection
	// failures only a few quick attempts). Its ARN gives the partition
	// every role ARN is built in.
	caller, err := awsconfig.Identify(ctx, c.STS(Role{}))
	o.Progress.call()
	if err != nil {
		return nil, fmt.Errorf("identify the caller (sts:GetCallerIdentity): %w", err)
	}
	s.partition = caller.Partition()
	accounts, skipped, err := s.selectAccounts(ctx, caller)
	if err != nil {
		return nil, err
	}
	s.skipped = skipped

	if o.Regions != nil {
		if err := s.checkRegions(ctx, caller.Account); err != nil {
			return nil, err
		}
	}

	targets, failed := s.discover(ctx, accounts, caller.Account)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan interrupted: %w", err)
	}
	o.Progress.addTargets(len(targets))

	results := make([]targetResult, len(targets))
	g := new(errgroup.Group)
	g.SetLimit(o.Concurrency)
	for i, t := range targets {
		g.Go(func() error {
			results[i] = s.scanTarget(ctx, t)
			o.Progress.targetDone()
			return nil
		})
	}
	_ = g.Wait() // tasks never fail: each records its own error
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan interrupted: %w", err)
	}
	return s.assemble(targets, results, failed), nil
}

func (o Options) withDefaults() Options {
	// A Region named twice is one target (two would list its instances
	// twice, and give a packed report two workloads of one ID).
	if o.Regions != nil {
		var regions []string
		for _, r := range o.Regions {
			if !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
		o.Regions = regions
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MetricsInFlight <= 0 {
		o.MetricsInFlight = DefaultMetricsInFlight
	}
	if o.PartsInFlight <= 0 {
		o.PartsInFlight = DefaultPartsInFlight
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultLookback
	}
	if o.MinObservedDays <= 0 {
		o.MinObservedDays = policy.DefaultMinObservedDays
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

type account struct {
	id   string
	role Role
	// unreachable says why the account cannot be reached at all, known
	// before any call to it (a role in another partition): it is a
	// failed target without one.
	unreachable error
}

type target struct {
	account
	region string
}

// awsTarget is t as the client factory addresses it.
func (t target) awsTarget() Target { return Target{Account: t.id, Region: t.region, Role: t.role} }

type targetResult struct {
	instances  []report.Instance
	packed     *report.Packed // instead of instances and launch (Options.Pack)
	count      int            // instances, packed or not
	terminated int
	err        error
	launch     launch.Result // zero when launch sources were not read
}

type scan struct {
	c          Clients
	o          Options
	start, end time.Time
	rules      policy.Rules // the classification rules, recorded in the report
	filters    []ec2types.Filter
	generated  time.Time
	// callerRegions holds the opt-in status of every Region DescribeRegions
	// listed for the caller's account, when --regions was checked.
	callerRegions map[string]string
	// skipped are the accounts found or given but not scanned.
	skipped []report.SkippedAccount
	// org is the organization walked with --org or --ou (nil otherwise),
	// partition the caller's.
	org       *report.Organization
	partition string
	// notScanned are, per account, the enabled Regions --regions left
	// out (filled by discover).
	notScanned []report.AccountRegions
}

// UnknownRegionError reports --regions names that AWS does not list.
type UnknownRegionError struct {
	Names []string // the unknown names
	Known []string // every Region DescribeRegions listed
}

func (e *UnknownRegionError) Error() string {
	return fmt.Sprintf("unknown Region %s: AWS lists %s", strings.Join(quoteAll(e.Names), ", "), strings.Join(e.Known, ","))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// checkRegions checks an explicit Region list against what DescribeRegions
// lists for the caller's account (one call): a name AWS does not know is an
// [UnknownRegionError]. If the list cannot be read, the names are used as
// given.
func (s *scan) checkRegions(ctx context.Context, caller string) error {
	status, err := s.regionStatus(ctx, account{id: caller})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("scan interrupted: %w", ctx.Err())
		}
		s.o.Logger.Warn("cannot check --regions against DescribeRegions; using them as given", "err", awsconfig.Explain(err))
		return nil
	}
	known := slices.Sorted(maps.Keys(status))
	var unknown []string
	for _, name := range s.o.Regions {
		if _, ok := status[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return &UnknownRegionError{Names: unknown, Known: known}
	}
	s.callerRegions = status
	return nil
}

// enabledStatus reports whether a DescribeRegions OptInStatus means the
// Region can be used.
func enabledStatus(s string) bool {
	return s == "" || s == "opt-in-not-required" || s == "opted-in"
}

// regionStatus lists every Region of a's account with its opt-in status
// (one DescribeRegions call; with a role, the call that assumes it).
func (s *scan) regionStatus(ctx context.Context, a account) (map[string]string, error) {
	out, err := s.c.EC2(Target{Account: a.id, Role: a.role}).DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	s.o.Progress.call()
	if err != nil {
		return nil, fmt.Errorf("describe Regions: %w", err)
	}
	status := make(map[string]string, len(out.Regions))
	for _, r := range out.Regions {
		status[aws.ToString(r.RegionName)] = aws.ToString(r.OptInStatus)
	}
	return status, nil
}

// discover turns accounts into targets: every Region enabled for the
// account (or each --regions name), read with one DescribeRegions call per
// account. An account whose Regions cannot be listed (its role cannot be
// assumed, say) becomes one failed target (Region [RegionsAll]); a listed
// Region the account has not enabled becomes a skipped target.
func (s *scan) discover(ctx context.Context, accounts []account, caller string) ([]target, []report.Target) {
	statuses := make([]map[string]string, len(accounts))
	errs := make([]error, len(accounts))
	g := new(errgroup.Group)
	g.SetLimit(s.o.Concurrency)
	for i, a := range accounts {
		if a.unreachable != nil {
			errs[i] = a.unreachable
			continue
		}
		if a.id == caller && a.role == (Role{}) && s.callerRegions != nil {
			statuses[i] = s.callerRegions // read already by checkRegions
			continue
		}
		g.Go(func() error {
			statuses[i], errs[i] = s.regionStatus(ctx, a)
			return nil
		})
	}
	_ = g.Wait()
	var targets []target
	var failed []report.Target
	for i, a := range accounts {
		if errs[i] != nil {
			if ctx.Err() == nil { // interrupted: see scanTarget
				s.o.Logger.Warn("cannot list Regions", "account", a.id, "err", awsconfig.Explain(errs[i]))
			}
			failed = append(failed, report.Target{
				Account: a.id, Region: RegionsAll, Status: report.TargetError,
				Error: "list Regions: " + awsconfig.Explain(errs[i]),
			})
			continue
		}
		names := s.o.Regions
		if names != nil {
			// The enabled Regions --regions left out: recorded, so that
			// nothing reads their absence as "no instances there".
			var left []string
			for name, st := range statuses[i] {
				if enabledStatus(st) && !slices.Contains(names, name) {
					left = append(left, name)
				}
			}
			if len(left) > 0 {
				slices.Sort(left)
				s.notScanned = append(s.notScanned, report.AccountRegions{Account: a.id, Regions: left})
			}
		}
		if names == nil {
			for name, st := range statuses[i] {
				if enabledStatus(st) {
					names = append(names, name)
				} else {
					s.o.Logger.Debug("skipping Region not enabled", "account", a.id, "region", name, "optInStatus", st)
				}
			}
			slices.Sort(names)
		}
		for _, r := range names {
			if st, ok := statuses[i][r]; ok && !enabledStatus(st) {
				failed = append(failed, report.Target{
					Account: a.id, Region: r, Status: report.TargetSkipped,
					Error: fmt.Sprintf("the Region is not enabled for this account (opt-in status %s): nothing to scan there; enable it in the account settings to scan it", st),
				})
				continue
			}
			targets = append(targets, target{account: a, region: r})
		}
	}
	return targets, failed
}

// selectAccounts decides which accounts to scan and how to reach each:
// the organization's (or the OUs') accounts with Options.Org, otherwise the
// caller's plus Accounts and Roles. --exclude-accounts and the
// not-ACTIVE ones are returned as skipped; accounts of other shards are
// left out entirely (their shard's report lists them).
func (s *scan) selectAccounts(ctx context.Context, caller awsconfig.Caller) ([]account, []report.SkippedAccount, error) {
	type candidate struct {
		account
		name, state string
	}
	var cands []candidate
	seen := map[string]bool{}
	add := func(c candidate) {
		if seen[c.id] {
			s.o.Logger.Info("account given twice; scanning it once", "account", c.id)
			return
		}
		seen[c.id] = true
		cands = append(cands, c)
	}
	if s.o.Org != nil {
		found, org, err := DiscoverAccounts(ctx, s.c.Organizations(), s.o.Org.OUs, s.o.Progress.call)
		s.org = org
		if org != nil {
			for _, u := range org.Units {
				if u.Skipped != "" {
					s.o.Logger.Warn("organizational unit not fully read", "ou", u.ID, "reason", u.Skipped)
				}
			}
			for _, ua := range org.Unplaced {
				s.o.Logger.Warn("account in no organizational unit of the walk; scanning it", "account", ua.ID, "reason", ua.Reason)
			}
			for _, n := range org.Notes {
				s.o.Logger.Warn("organization", "note", n)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("scan interrupted: %w", ctx.Err())
			}
			return nil, nil, err
		}
		for _, a := range found {
			role, err := caller.RoleFor(a.ID, s.o.RoleName, s.o.ExternalID)
			if err != nil {
				return nil, nil, err
			}
			add(candidate{account: account{id: a.ID, role: role}, name: a.Name, state: a.State})
		}
	} else {
		add(candidate{account: account{id: caller.Account}})
		for _, id := range s.o.Accounts {
			role, err := caller.RoleFor(id, s.o.RoleName, s.o.ExternalID)
			if err != nil {
				return nil, nil, err
			}
			add(candidate{account: account{id: id, role: role}})
		}
		for _, r := range s.o.Roles {
			acct, partition, err := awsconfig.ParseRoleARN(r.ARN)
			if err != nil {
				return nil, nil, err
			}
			var unreachable error
			if partition != caller.Partition() {
				unreachable = &PartitionError{Role: r.ARN, RolePartition: partition, Caller: caller.ARN.String(), CallerPartition: caller.Partition()}
			}
			if acct == caller.Account {
				s.o.Logger.Info("the role is in the caller's account; scanning it with the caller's credentials", "role", r.ARN)
				continue
			}
			add(candidate{account: account{id: acct, role: r, unreachable: unreachable}})
		}
	}
	excluded := map[string]bool{}
	for _, id := range s.o.ExcludeAccounts {
		excluded[id] = true
	}
	// An id that matches no account found is most likely a typo: the
	// account meant stays scanned, so say so.
	for _, id := range s.o.ExcludeAccounts {
		if !seen[id] {
			s.o.Logger.Warn("--exclude-accounts: no account found has this id; nothing was excluded for it (check the id)", "account", id)
		}
	}
	var keep []account
	var skipped []report.SkippedAccount
	for _, c := range cands {
		if !inShard(s.o.Shard, c.id) {
			continue
		}
		switch {
		case excluded[c.id]:
			skipped = append(skipped, report.SkippedAccount{Account: c.id, Name: c.name, State: c.state, Reason: "excluded by --exclude-accounts"})
		case c.state != "" && c.state != AccountStateActive:
			skipped = append(skipped, report.SkippedAccount{Account: c.id, Name: c.name, State: c.state,
				Reason: fmt.Sprintf("the account is %s in the organization, not ACTIVE: nothing can be scanned there", c.state)})
		default:
			keep = append(keep, c.account)
		}
	}
	slices.SortFunc(skipped, func(a, b report.SkippedAccount) int { return strings.Compare(a.Account, b.Account) })
	return keep, skipped, nil
}

// selection records what the scan was asked to cover.
func (s *scan) selection() *report.Selection {
	sel := &report.Selection{
		Regions:           sortedCopy(s.o.Regions),
		ExcludeAccounts:   sortedCopy(s.o.ExcludeAccounts),
		RegionsNotScanned: slices.Clone(s.notScanned),
	}
	slices.SortFunc(sel.RegionsNotScanned, func(a, b report.AccountRegions) int { return strings.Compare(a.Account, b.Account) })
	if s.o.Org != nil {
		sel.Org = len(s.o.Org.OUs) == 0
		sel.OUs = sortedCopy(s.o.Org.OUs)
	}
	var accounts []string
	accounts = append(accounts, s.o.Accounts...)
	for _, r := range s.o.Roles {
		if acct, _, err := awsconfig.ParseRoleARN(r.ARN); err == nil {
			accounts = append(accounts, acct)
		}
	}
	sel.Accounts = sortedCopy(accounts)
	if s.o.Shard.Count > 0 {
		sel.Shards = []report.Shard{s.o.Shard}
	}
	return sel
}

// sortedCopy is ss sorted without repeats (nil for none).
func sortedCopy(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// ec2Filters turns tag filters into DescribeInstances filters. Terminated
// and shutting-down instances are not filtered out: they are counted.
func ec2Filters(tf []TagFilter) []ec2types.Filter {
	var out []ec2types.Filter
	for _, f := range tf {
		out = append(out, ec2types.Filter{Name: aws.String("tag:" + f.Key), Values: slices.Clone(f.Values)})
	}
	return out
}

// query is one instance's GetMetricData query.
type query struct {
	idx        int // index into the target's instance list
	instanceID string
	metric     string
}

// batch is up to MaxQueriesPerCall queries and, once fetched, their usage.
type batch struct {
	queries []query
	usage   []report.Usage
}

// scanTarget scans one (account, Region): DescribeInstances pages feed
// batches of metric queries to MetricsInFlight workers as they fill.
func (s *scan) scanTarget(ctx context.Context, t target) targetResult {
	log := s.o.Logger.With("account", t.id, "region", t.region)
	ec2c := s.c.EC2(t.awsTarget())
	cwc := s.c.CloudWatch(t.awsTarget())
	if r, ok := s.c.(interface{ Release(Target) }); ok {
		defer r.Release(t.awsTarget()) // an organization has thousands of targets
	}

	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *batch, s.o.MetricsInFlight)
	// The launch sources are read alongside: their listings start now,
	// and the reads that need the instances' tags and AMIs start once the
	// instances are listed (sent on listed).
	listed := make(chan []report.Instance, 1)
	var inv *launch.Inventory
	if !s.o.NoLaunchSources {
		g.Go(func() error {
			// An error here is the target's own (its listing failed, or ctx
			// ended), which the producer reports.
			inv, _ = collectLaunch(gctx, t, s.c, s.o.Progress, listed)
			return nil
		})
	}
	var (
		instances  []report.Instance // written by the producer only, read after Wait
		terminated int
		mu         sync.Mutex
		done       []*batch
	)
	g.Go(func() error {
		defer close(batches)
		send := func(b *batch) error {
			select {
			case batches <- b:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		cur := &batch{}
		// Pages may arrive from several parts of the Region at once (see
		// listInstances): one at a time through here.
		var pageMu sync.Mutex
		err := s.listInstances(gctx, ec2c, t.region, log, func(page []ec2types.Instance) error {
			pageMu.Lock()
			defer pageMu.Unlock()
			n := 0
			for _, in := range page {
				n++
				if st := in.State; st != nil && (st.Name == ec2types.InstanceStateNameTerminated || st.Name == ec2types.InstanceStateNameShuttingDown) {
					terminated++
					continue
				}
				ri := convertInstance(t, in)
				if policy.EndpointEnabled(ri.MetadataOptions) {
					metric := MetricNoToken
					if policy.TokensRequired(ri.MetadataOptions) {
						metric = MetricNoTokenRejected
					}
					cur.queries = append(cur.queries, query{idx: len(instances), instanceID: ri.InstanceID, metric: metric})
				} else {
					ri.Usage.Status = report.UsageNone
				}
				instances = append(instances, ri)
				if len(cur.queries) == MaxQueriesPerCall {
					if err := send(cur); err != nil {
						return err
					}
					cur = &batch{}
				}
			}
			s.o.Progress.addInstances(n)
			return nil
		})
		if err != nil {
			return err
		}
		listed <- instances // never appended to again: the launch collectors only read it
		if len(cur.queries) > 0 {
			return send(cur)
		}
		return nil
	})
	for range s.o.MetricsInFlight {
		g.Go(func() error {
			for b := range batches {
				b.usage = s.fetch(gctx, cwc, b.queries)
				mu.Lock()
				done = append(done, b)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// Once the scan is interrupted every target still running fails
		// alike, and no report is written: one warning per target
		// (thousands in an organization) would bury the line that says so.
		if ctx.Err() == nil {
			log.Warn("target failed", "err", awsconfig.Explain(err))
		}
		return targetResult{err: err}
	}
	for _, b := range done {
		for i, q := range b.queries {
			instances[q.idx].Usage = b.usage[i]
		}
	}
	var res launch.Result
	if inv != nil {
		res = launch.Resolve(inv, instances) // before policy.Apply: the risk next-launch-v1 reads NextLaunch
		for _, f := range inv.Failures {
			log.Warn("launch-source read failed", "read", f.Read, "permission", f.Permission, "err", f.Err)
		}
	}
	for i := range instances {
		policy.Apply(&instances[i], s.rules)
		// Most instances share a handful of recommendations.
		instances[i].Recommendation = intern(instances[i].Recommendation)
	}
	log.Debug("target scanned", "instances", len(instances), "terminated", terminated, "metricCalls", len(done))
	if s.o.Pack {
		// Everything the report holds per target, in its final form:
		// workloads and sorting are per account and Region, so a
		// target's part packed alone is the report's part.
		part := &report.Report{Instances: instances, LaunchSources: res.Sources}
		if res.Defaults != nil {
			part.AccountDefaults = []report.AccountDefaults{*res.Defaults}
		}
		part.Workloads = launch.Workloads(part, s.workloadOptions())
		report.Normalize(part)
		p, err := report.Pack(part)
		if err != nil {
			log.Warn("target failed", "err", err)
			return targetResult{err: err}
		}
		return targetResult{packed: p, count: len(instances), terminated: terminated, launch: launch.Result{Errors: res.Errors}}
	}
	return targetResult{instances: instances, count: len(instances), terminated: terminated, launch: res}
}

// workloadOptions are the options workloads are grouped by.
func (s *scan) workloadOptions() launch.WorkloadOptions {
	wo := launch.WorkloadOptions{GroupBy: s.o.GroupBy, OwnerTags: s.o.OwnerTags}
	if wo.OwnerTags == nil {
		wo.OwnerTags = launch.DefaultOwnerTags
	}
	return wo
}

// fetch runs one GetMetricData batch (following NextToken) and returns one
// Usage per query. A call that fails marks every query of the batch
// "error"; it never reads as "no calls".
func (s *scan) fetch(ctx context.Context, cw CloudWatchAPI, qs []query) []report.Usage {
	mq := make([]cwtypes.MetricDataQuery, len(qs))
	for i, q := range qs {
		mq[i] = cwtypes.MetricDataQuery{
			Id: aws.String(QueryID(i)),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(Namespace),
					MetricName: aws.String(q.metric),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(q.instanceID)}},
				},
				Period: aws.Int32(Period),
				Stat:   aws.String("Sum"),
			},
			ReturnData: aws.Bool(true),
		}
	}
	acc := make([]accumulator, len(qs))
	p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(s.start),
		EndTime:           aws.Time(s.end),
		MetricDataQueries: mq,
		ScanBy:            cwtypes.ScanByTimestampAscending,
	})
	out := make([]report.Usage, len(qs))
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		s.o.Progress.call()
		if err != nil {
			msg := "GetMetricData: " + awsconfig.Explain(err)
			for i := range out {
				out[i] = report.Usage{Status: report.UsageError, Error: msg}
			}
			return out
		}
		for _, r := range page.MetricDataResults {
			if i, ok := queryIndex(aws.ToString(r.Id), len(qs)); ok {
				acc[i].add(r)
			}
		}
	}
	for i, q := range qs {
		out[i] = acc[i].usage(q.metric)
	}
	return out
}

// accumulator joins one query's results across NextToken pages.
type accumulator struct {
	seen     bool
	status   cwtypes.StatusCode
	messages []string
	sum      float64
	days     int
	points   int
	last     time.Time
}

func (a *accumulator) add(r cwtypes.MetricDataResult) {
	a.seen = true
	// The last page's status stands (earlier pages of a query cut by
	// NextToken say PartialData), except that a failed read on any page
	// stays failed: a later Complete must not hide the missing points.
	if a.status == "" || readableStatus(a.status) {
		a.status = r.StatusCode
	}
	for _, m := range r.Messages {
		a.messages = append(a.messages, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
	}
	for j, ts := range r.Timestamps {
		if j >= len(r.Values) {
			break
		}
		v := r.Values[j]
		a.points++
		a.sum += v
		if v > 0 {
			a.days++
			if ts.After(a.last) {
				a.last = ts
			}
		}
	}
}

// readableStatus reports whether a result with this status carries figures.
func readableStatus(s cwtypes.StatusCode) bool {
	return s == cwtypes.StatusCodeComplete || s == cwtypes.StatusCodePartialData
}

func (a *accumulator) usage(metric string) report.Usage {
	u := report.Usage{DaysWithCalls: a.days, Datapoints: a.points}
	if metric == MetricNoTokenRejected {
		u.NoTokenRejected = a.sum
	} else {
		u.NoTokenCalls = a.sum
	}
	if !a.last.IsZero() {
		t := a.last.UTC()
		u.LastCallAt = &t
	}
	switch {
	case !a.seen:
		return report.Usage{Status: report.UsageError, Error: "CloudWatch returned no result for this instance's query"}
	case a.status == cwtypes.StatusCodeComplete:
		u.Status = report.UsageComplete
	case a.status == cwtypes.StatusCodePartialData:
		u.Status = report.UsagePartial
	default:
		// Figures from a failed read are not evidence: report none.
		msg := fmt.Sprintf("CloudWatch status %s", a.status)
		if len(a.messages) > 0 {
			msg += " (" + a.messages[len(a.messages)-1] + ")"
		}
		return report.Usage{Status: report.UsageError, Error: msg}
	}
	return u
}

// convertInstance maps an EC2 instance to the report's shape (no usage yet).
// Every string an organization repeats (tag keys and values, AMI, state,
// instance profile, metadata options) is interned: the scan holds every
// instance until the report is written, and without it each instance kept
// its own copy of "aws:autoscaling:groupName", its group's name, "optional"
// and the rest, one allocation each, as the XML decoder made them.
func convertInstance(t target, in ec2types.Instance) report.Instance {
	ri := report.Instance{
		Account:    t.id,
		Region:     t.region,
		InstanceID: validUTF8(aws.ToString(in.InstanceId)),
		ImageID:    intern(validUTF8(aws.ToString(in.ImageId))),
		LaunchTime: aws.ToTime(in.LaunchTime).UTC(),
		Tags:       make(map[string]string, len(in.Tags)),
		Risks:      []string{},
	}
	if in.State != nil {
		ri.State = intern(string(in.State.Name))
	}
	if in.IamInstanceProfile != nil {
		ri.InstanceProfileArn = intern(validUTF8(aws.ToString(in.IamInstanceProfile.Arn)))
	}
	for _, tag := range in.Tags {
		ri.Tags[intern(validUTF8(aws.ToString(tag.Key)))] = intern(validUTF8(aws.ToString(tag.Value)))
	}
	ri.Name = ri.Tags["Name"]
	mo := imdsopts.FromEC2(in.MetadataOptions)
	mo.HttpTokens, mo.HttpEndpoint = intern(mo.HttpTokens), intern(mo.HttpEndpoint)
	mo.HttpProtocolIpv6, mo.InstanceMetadataTags, mo.State = intern(mo.HttpProtocolIpv6), intern(mo.InstanceMetadataTags), intern(mo.State)
	ri.MetadataOptions = mo
	return ri
}

// validUTF8 returns s with every byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD, one for each byte, as the JSON report
// writes it. The SDK refuses such bytes from AWS, but a Clients of a
// library caller may hand them over: then every format, and a packed
// report (whose instances are decoded from their JSON), shows what the
// JSON report holds.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// intern returns the one shared copy of s (see [unique.Make]), so that
// equal strings held by many instances take the memory of one.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// assemble builds the report: targets and instances sorted by account,
// Region and id, so two scans of one fleet differ only in times.
func (s *scan) assemble(targets []target, results []targetResult, failed []report.Target) *report.Report {
	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          s.o.Tool,
		GeneratedAt:   s.generated,
		Window:        report.Window{Start: s.start, End: s.end},
		ScanOptions:   s.rules.ScanOptions(),
		Targets:       append([]report.Target{}, failed...),
	}
	if s.o.Shard.Count > 0 {
		sh := s.o.Shard
		r.Shard = &sh
	}
	r.SkippedAccounts = s.skipped
	r.ScanOptions.LaunchSources = !s.o.NoLaunchSources
	r.Partition = s.partition
	r.Organization = s.org
	total, sources := 0, 0
	for i := range results {
		total += len(results[i].instances)
		sources += len(results[i].launch.Sources)
	}
	r.Instances = make([]report.Instance, 0, total)
	r.LaunchSources = make([]report.LaunchSource, 0, sources) // an organization has tens of thousands
	// Packed parts join in the report's order: by account, then Region.
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(targets[a].id, targets[b].id), cmp.Compare(targets[a].region, targets[b].region))
	})
	var packed *report.Packed
	if s.o.Pack {
		packed = &report.Packed{}
	}
	for _, i := range order {
		t, res := targets[i], results[i]
		results[i].instances = nil // let each target's copy go as soon as it is merged
		rt := report.Target{Account: t.id, Region: t.region, Status: report.TargetOK}
		if res.err != nil {
			rt.Status = report.TargetError
			rt.Error = awsconfig.Explain(res.err)
		} else {
			if res.packed != nil {
				packed.Join(res.packed)
				results[i].packed = nil
			}
			rt.Instances = res.count
			rt.Terminated = res.terminated
			rt.LaunchErrors = res.launch.Errors
			r.Instances = append(r.Instances, res.instances...)
			if d := res.launch.Defaults; d != nil {
				r.AccountDefaults = append(r.AccountDefaults, *d)
			}
			r.LaunchSources = append(r.LaunchSources, res.launch.Sources...)
		}
		r.Targets = append(r.Targets, rt)
	}
	wo := s.workloadOptions()
	r.ScanOptions.GroupBy, r.ScanOptions.OwnerTags = wo.GroupBy, wo.OwnerTags
	for _, f := range s.o.TagFilters {
		r.ScanOptions.FilterTags = append(r.ScanOptions.FilterTags, report.TagFilter{Key: f.Key, Values: slices.Clone(f.Values)})
	}
	report.SortTagFilters(r.ScanOptions.FilterTags)
	r.ScanOptions.Selection = s.selection()
	if packed != nil {
		r.SetPacked(packed)
	} else {
		r.Workloads = launch.Workloads(r, wo)
	}
	report.Normalize(r)
	return r
}

// Incomplete reports whether any target of r failed, or any of its
// launch-source reads did.
func Incomplete(r *report.Report) bool {
	return slices.ContainsFunc(r.Targets, func(t report.Target) bool {
		return t.Status == report.TargetError || len(t.LaunchErrors) > 0
	})
}

// PartitionError is an --assume-role ARN in another partition than the
// caller's: STS never lets credentials of one partition (aws, aws-us-gov,
// aws-cn) assume a role of another, so its account is a failed target
// with this reason, and no AssumeRole is attempted.
type PartitionError struct {
	Role, RolePartition     string
	Caller, CallerPartition string // the caller's ARN and its partition
}

func (e *PartitionError) Error() string {
	return fmt.Sprintf("--assume-role %s is in partition %s but the caller (%s) is in %s: a role can only be assumed from its own partition; use credentials of %s, or the role's ARN in %s",
		e.Role, e.RolePartition, e.Caller, e.CallerPartition, e.RolePartition, e.CallerPartition)
}
