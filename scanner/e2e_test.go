package scanner_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
)

var clock = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// env is a started simulated AWS with a fleet built by scantest.
type env struct {
	srv     *sim.Server
	url     string
	expect  *scantest.Expect
	clients scanner.Clients
}

func start(t *testing.T, f *fleet.Fleet, e *scantest.Expect) *env {
	t.Helper()
	return startWith(t, f, e, sim.Options{Seed: 1})
}

// startWith is start with the server's options (a simulated wall clock).
func startWith(t *testing.T, f *fleet.Fleet, e *scantest.Expect, opts sim.Options) *env {
	t.Helper()
	c := clock
	f.Clock = &c
	srv, url := simtest.Start(t, f, opts)
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(acctA), "us-east-1")
	return &env{
		srv:     srv,
		url:     url,
		expect:  e,
		clients: scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR)),
	}
}

func (e *env) scan(t *testing.T, o scanner.Options) *report.Report {
	t.Helper()
	o.Now = e.srv.Now
	if o.ContainerTags == nil {
		m, _ := policy.ParseTagMatcher(scantest.ContainerTag)
		o.ContainerTags = []policy.TagMatcher{m}
	}
	r, err := scanner.Scan(context.Background(), e.clients, o)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return r
}

func target(t *testing.T, r *report.Report, account, region string) report.Target {
	t.Helper()
	for _, tg := range r.Targets {
		if tg.Account == account && tg.Region == region {
			return tg
		}
	}
	t.Fatalf("no target %s/%s in %+v", account, region, r.Targets)
	return report.Target{}
}

func counts(e *scantest.Expect, account, region string) (reported, counted, queried int) {
	return e.Counts(account, region)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// TestScanFleet scans every enabled Region of one account: a Region with
// more than 1,000 instances (two DescribeInstances pages, three
// GetMetricData batches), two small ones, and a not-opted-in Region that
// must be skipped. Every instance is checked, and the calls are the minimum.
func TestScanFleet(t *testing.T) {
	e := scantest.New(clock)
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 1234)},
		{Name: "eu-west-1", Instances: e.Instances(acctA, "eu-west-1", 45)},
		{Name: "ap-east-1", OptInStatus: "opted-in", Instances: e.Instances(acctA, "ap-east-1", 15)},
		{Name: "me-south-1", OptInStatus: "not-opted-in"},
	}}}}
	env := start(t, f, e)
	prog := &scanner.Progress{}
	// Page after page: the calls counted here are the sequential listing's
	// (TestPartitionedListing counts the listing by Availability Zone).
	r := env.scan(t, scanner.Options{Progress: prog, Tool: report.Tool{Name: "imdsfleet", Version: "test"}, NoPartition: true})

	e.Require(t, r, func(string, string) bool { return true }, nil)
	if len(r.Targets) != 3 {
		t.Fatalf("targets %+v, want us-east-1, eu-west-1, ap-east-1 (me-south-1 is not opted in)", r.Targets)
	}
	stats := env.srv.Stats()
	totalCalls := 2 // GetCallerIdentity, DescribeRegions
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-east-1"} {
		reported, counted, queried := counts(e, acctA, region)
		tg := target(t, r, acctA, region)
		if tg.Status != report.TargetOK || tg.Instances != reported || tg.Terminated != counted {
			t.Errorf("target %s = %+v, want ok with %d instances, %d terminated", region, tg, reported, counted)
		}
		wantDescribe := ceilDiv(reported+counted, 1000)
		wantMetrics := ceilDiv(queried, 500)
		if got := stats.Calls["DescribeInstances"][region]; got != wantDescribe {
			t.Errorf("%s: %d DescribeInstances calls, want %d", region, got, wantDescribe)
		}
		if got := stats.Calls["GetMetricData"][region]; got != wantMetrics {
			t.Errorf("%s: %d GetMetricData calls, want %d (%d queries)", region, got, wantMetrics, queried)
		}
		totalCalls += wantDescribe + wantMetrics
		// The launch sources: one call each for the account defaults, the
		// templates' $Latest/$Default, the groups and the configurations
		// (none of them has a second page, and no instance names an AMI).
		for _, api := range []string{"GetInstanceMetadataDefaults", "DescribeLaunchTemplateVersions", "DescribeAutoScalingGroups", "DescribeLaunchConfigurations"} {
			if got := stats.Calls[api][region]; got != 1 {
				t.Errorf("%s: %d %s calls, want 1", region, got, api)
			}
		}
		totalCalls += 4
	}
	if got := stats.Calls["DescribeRegions"]["us-east-1"]; got != 1 {
		t.Errorf("DescribeRegions calls = %d, want 1", got)
	}
	if n := stats.Calls["DescribeInstances"]["me-south-1"]; n != 0 {
		t.Errorf("not-opted-in Region was scanned (%d calls)", n)
	}
	snap := prog.Snapshot()
	if snap.TargetsDone != 3 || snap.TargetsTotal != 3 || snap.Instances != int64(1234+45+15) || snap.APICalls != int64(totalCalls) {
		t.Errorf("progress %+v, want 3/3 targets, %d instances, %d calls", snap, 1234+45+15, totalCalls)
	}
	if r.Summary.Instances != len(r.Instances) || r.Summary.ByClassification[report.ClassV1InUse] == 0 {
		t.Errorf("summary %+v", r.Summary)
	}
	wantStart := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if !r.Window.Start.Equal(wantStart) || !r.Window.End.Equal(clock) {
		t.Errorf("window %v, want [%v, %v)", r.Window, wantStart, clock)
	}
	// The report records the rules its verdicts came from, and remediate's
	// check, which recomputes every verdict from them, agrees with the
	// scan on every instance.
	wantTags := []string{"eks:cluster-name", "aws:eks:cluster-name", "eks:eks-cluster-name", "kubernetes.io/cluster/*", "karpenter.sh/nodepool", "AmazonECSManaged", scantest.ContainerTag}
	if so := r.ScanOptions; so == nil || so.MinObservedDays != policy.DefaultMinObservedDays || !slices.Equal(so.ContainerTags, wantTags) {
		t.Errorf("scanOptions %+v, want minObservedDays %d and container tags %v", so, policy.DefaultMinObservedDays, wantTags)
	}
	if _, err := policy.Check(r); err != nil {
		t.Errorf("the scan's own report fails remediate's check: %v", err)
	}
	if !slices.IsSortedFunc(r.Instances, func(a, b report.Instance) int {
		return strings.Compare(a.Account+a.Region+a.InstanceID, b.Account+b.Region+b.InstanceID)
	}) {
		t.Error("instances not sorted by account, Region, id")
	}
}

// TestScanRegionsListAndFilters scans a Region list with tag filters: the
// same key twice is an OR, two keys an AND.
func TestScanRegionsListAndFilters(t *testing.T) {
	e := scantest.New(clock)
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 60)},
		{Name: "eu-west-1", Instances: e.Instances(acctA, "eu-west-1", 60)},
	}}}}
	env := start(t, f, e)
	filters, err := scanner.ParseTagFilters([]string{"env=prod", "team=a", "env=stage"})
	if err != nil {
		t.Fatal(err)
	}
	r := env.scan(t, scanner.Options{Regions: []string{"eu-west-1"}, TagFilters: filters})
	if len(r.Targets) != 1 || r.Targets[0].Region != "eu-west-1" {
		t.Fatalf("targets %+v, want eu-west-1 only", r.Targets)
	}
	if n := sumCalls(env.srv.Stats().Calls["DescribeRegions"]); n != 1 {
		t.Errorf("%d DescribeRegions calls for an explicit Region list, want 1 (the names are checked)", n)
	}
	match := func(w *scantest.Want) bool {
		return (w.Tags["env"] == "prod" || w.Tags["env"] == "stage") && w.Tags["team"] == "a"
	}
	// Narrow the expectation to what the filter selects.
	sub := &scantest.Expect{Day0: e.Day0, Want: map[string]*scantest.Want{}}
	for id, w := range e.Want {
		if w.Region == "eu-west-1" && match(w) {
			sub.Want[id] = w
		}
	}
	if len(sub.Want) == 0 {
		t.Fatal("the filter selects nothing; fix the test fleet")
	}
	sub.Require(t, r, func(string, string) bool { return true }, nil)
}

// TestScanFailures: one Region answers AuthFailure (the target fails, the
// others complete), one denies CloudWatch (every instance's usage is
// "error", never zero calls, and optional ones are no-data).
func TestScanFailures(t *testing.T) {
	e := scantest.New(clock)
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 30)},
		{Name: "eu-west-1", Knobs: &fleet.Knobs{AuthFailure: true}, Instances: e.Instances(acctA, "eu-west-1", 30)},
		{Name: "us-west-2", Knobs: &fleet.Knobs{CloudWatchDenied: true}, Instances: e.Instances(acctA, "us-west-2", 520)},
	}}}}
	env := start(t, f, e)
	r := env.scan(t, scanner.Options{})
	if !scanner.Incomplete(r) {
		t.Error("Incomplete = false with a failed target")
	}
	bad := target(t, r, acctA, "eu-west-1")
	if bad.Status != report.TargetError || !strings.Contains(bad.Error, "AuthFailure") || strings.Contains(bad.Error, "\n") {
		t.Errorf("eu-west-1 target = %+v, want one-line error naming AuthFailure", bad)
	}
	if tg := target(t, r, acctA, "us-west-2"); tg.Status != report.TargetOK {
		t.Errorf("us-west-2 target = %+v, want ok (CloudWatch denial is per instance)", tg)
	}
	e.Require(t, r, func(_, region string) bool { return region != "eu-west-1" }, func(w *scantest.Want) {
		if w.Region == "us-west-2" {
			scantest.CloudWatchDenied(w)
		}
	})
	for _, in := range r.Instances {
		if in.Region == "us-west-2" && in.Usage.Status == report.UsageError && !strings.Contains(in.Usage.Error, "AccessDenied") {
			t.Errorf("%s: usage error %q, want it to name AccessDenied", in.InstanceID, in.Usage.Error)
			break
		}
	}
}

// TestScanThrottlingStorm drains both Regions' DescribeInstances and
// GetMetricData buckets, then scans while they refill on a simulated wall
// clock that moves 15 ms at each reading (0.3 DescribeInstances token, 0.75
// GetMetricData token per call the server handles): the scan absorbs the
// throttles and is still exact. The first DescribeInstances call after the
// drain is always refused (only DescribeRegions comes before it), so the
// storm happens on every run; each caller's own retries earn it a token
// within a few attempts, so the retry budget never runs out, however the
// machine schedules the calls.
func TestScanThrottlingStorm(t *testing.T) {
	e := scantest.New(clock)
	on := true
	f := &fleet.Fleet{
		Knobs: fleet.Knobs{Throttle: &on},
		Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
			{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 1100)},
			{Name: "eu-west-1", Instances: e.Instances(acctA, "eu-west-1", 520)},
		}}},
	}
	wall := simtest.NewClock(clock)
	env := startWith(t, f, e, sim.Options{Seed: 1, Wall: wall.Now})
	cfg := simtest.Config(env.url, fleet.DefaultAccessKeyID(acctA), "us-east-1")
	cfg.Retryer = func() aws.Retryer { return awsconfig.NewRetryer(20, 50*time.Millisecond) }
	env.clients = scanner.NewAWSClients(awsconfig.NewClients(cfg, "", ""))
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		if err := scantest.Drain(context.Background(), cfg, region); err != nil {
			t.Fatal(err)
		}
	}
	env.srv.ResetStats()
	wall.SetStep(15 * time.Millisecond)
	// Without the launch-source reads: each of their calls would read the
	// simulated wall clock before the first DescribeInstances call, refill
	// its bucket and calm the storm.
	r := env.scan(t, scanner.Options{Regions: []string{"us-east-1", "eu-west-1"}, NoLaunchSources: true})
	if scanner.Incomplete(r) {
		t.Fatalf("targets failed under throttling: %+v", r.Targets)
	}
	e.Require(t, r, func(string, string) bool { return true }, nil)
	stats := env.srv.Stats()
	t.Logf("throttled answers absorbed: %v", stats.Throttled)
	if n := stats.Throttled["DescribeInstances"]["us-east-1"] + stats.Throttled["DescribeInstances"]["eu-west-1"]; n == 0 {
		t.Errorf("no DescribeInstances call was throttled (stats %+v): the test did not make a storm", stats.Throttled)
	}
}

// TestScanAssumeRole scans the caller's account and a second one reached
// with AssumeRole; a role the second account does not accept fails only
// its own targets, and a role into an already scanned account is skipped.
func TestScanAssumeRole(t *testing.T) {
	e := scantest.New(clock)
	f := &fleet.Fleet{Accounts: []fleet.Account{
		{ID: acctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 20)}}},
		{ID: acctB, Roles: []string{"Auditor"}, Regions: []fleet.Region{
			{Name: "us-east-1", Instances: e.Instances(acctB, "us-east-1", 20)},
			{Name: "eu-central-1", Instances: e.Instances(acctB, "eu-central-1", 20)},
		}},
	}}
	env := start(t, f, e)
	r := env.scan(t, scanner.Options{Roles: []scanner.Role{
		{ARN: "arn:aws:iam::" + acctB + ":role/Auditor"},
		{ARN: "arn:aws:iam::" + acctA + ":role/Whatever"}, // the caller's own account: skipped
	}})
	if scanner.Incomplete(r) {
		t.Fatalf("targets failed: %+v", r.Targets)
	}
	if len(r.Targets) != 3 {
		t.Errorf("targets %+v, want A/us-east-1, B/eu-central-1, B/us-east-1", r.Targets)
	}
	e.Require(t, r, func(string, string) bool { return true }, nil)
	if n := env.srv.Stats().Calls["AssumeRole"]; sumCalls(n) != 1 {
		t.Errorf("AssumeRole calls %v, want 1 (credentials shared by the account's Regions)", n)
	}

	// With --regions all, the refused role fails the account's Region
	// discovery: one error target for the whole account.
	r = env.scan(t, scanner.Options{Roles: []scanner.Role{{ARN: "arn:aws:iam::" + acctB + ":role/Intruder"}}})
	if all := target(t, r, acctB, scanner.RegionsAll); all.Status != report.TargetError || !strings.Contains(all.Error, "list Regions") || !strings.Contains(all.Error, "assume") {
		t.Errorf("account target = %+v, want an error listing its Regions", all)
	}
	if !scanner.Incomplete(r) || target(t, r, acctA, "us-east-1").Status != report.TargetOK {
		t.Errorf("targets %+v: want the caller's ok and the refused account failed", r.Targets)
	}

	// With --regions too: each account's Regions are read (to skip the
	// ones it has not enabled), so the refused role fails the account once.
	r = env.scan(t, scanner.Options{Regions: []string{"us-east-1"}, Roles: []scanner.Role{{ARN: "arn:aws:iam::" + acctB + ":role/Intruder"}}})
	bad := target(t, r, acctB, scanner.RegionsAll)
	if bad.Status != report.TargetError || !strings.Contains(bad.Error, "assume") {
		t.Errorf("target with a refused role = %+v, want an error about assuming the role", bad)
	}
	if ok := target(t, r, acctA, "us-east-1"); ok.Status != report.TargetOK || ok.Instances == 0 {
		t.Errorf("caller's target = %+v, want ok", ok)
	}
}

func sumCalls(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestScanLongLookback reads 455 days: 500 queries × 455 daily buckets
// exceed one answer's 100,800 datapoints, so NextToken pages must be joined.
// (The window starts at the first midnight within retention, so the clock's
// partial day is the 455th bucket.)
func TestScanLongLookback(t *testing.T) {
	e := scantest.New(clock)
	ins := e.Instances(acctA, "us-east-1", 700)
	for i := range ins {
		if ins[i].State == "running" {
			ins[i].LaunchTime = fleet.Abs(e.Day0.Add(-600 * 24 * time.Hour))
		}
	}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: ins}}}}}
	env := start(t, f, e)
	r := env.scan(t, scanner.Options{Regions: []string{"us-east-1"}, Lookback: scanner.MaxLookback})
	for _, in := range r.Instances {
		w := e.Want[in.InstanceID]
		if w.Profile != "ready" && w.Profile != "v1" {
			continue
		}
		// Running for 600 days: every daily bucket of the 455 is there.
		if in.Usage.Status != report.UsageComplete || in.Usage.Datapoints != 455 || in.Usage.NoTokenCalls != w.Usage.NoTokenCalls {
			t.Errorf("%s (%s): usage %+v, want 455 datapoints and %v calls", in.InstanceID, w.Profile, in.Usage, w.Usage.NoTokenCalls)
		}
	}
	_, _, queried := counts(e, acctA, "us-east-1")
	if got, batches := env.srv.Stats().Calls["GetMetricData"]["us-east-1"], scanner.Batches(queried); got <= batches {
		t.Errorf("GetMetricData calls = %d, want more than the %d batches (NextToken pages)", got, batches)
	}
}

// TestScanRegionsChecked: a listed Region AWS does not know stops the scan
// before any target; one the account has not opted in to is skipped with
// the reason (nothing is missing there, so the scan is not incomplete).
func TestScanRegionsChecked(t *testing.T) {
	e := scantest.New(clock)
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 15)},
		{Name: "me-south-1", OptInStatus: "not-opted-in"},
	}}}}
	env := start(t, f, e)
	_, err := scanner.Scan(context.Background(), env.clients, scanner.Options{Now: env.srv.Now, Regions: []string{"us-east-1", "eu-west-9"}})
	var unknown *scanner.UnknownRegionError
	if !errors.As(err, &unknown) || !slices.Equal(unknown.Names, []string{"eu-west-9"}) || !strings.Contains(err.Error(), "us-east-1") {
		t.Errorf("err = %v, want an UnknownRegionError for eu-west-9 listing us-east-1", err)
	}
	if n := env.srv.Stats().Calls["DescribeInstances"]; len(n) != 0 {
		t.Errorf("instances were listed despite an unknown Region: %v", n)
	}

	r := env.scan(t, scanner.Options{Regions: []string{"us-east-1", "me-south-1"}})
	off := target(t, r, acctA, "me-south-1")
	if off.Status != report.TargetSkipped || !strings.Contains(off.Error, "not enabled") {
		t.Errorf("me-south-1 = %+v, want a skipped target saying it is not enabled", off)
	}
	if scanner.Incomplete(r) {
		t.Error("a skipped Region made the scan incomplete")
	}
	if n := env.srv.Stats().Calls["DescribeInstances"]["me-south-1"]; n != 0 {
		t.Errorf("the not-enabled Region was called %d times", n)
	}
	e.Require(t, r, nil, nil)
}

// TestScanRejectsShortLookback: usage is read in daily buckets, so a
// window under one day is no evidence that nothing uses IMDSv1 (a 1ns
// lookback used to make "ready" from part of one day). Scan refuses it
// before any AWS call, whoever calls it.
func TestScanRejectsShortLookback(t *testing.T) {
	e := scantest.New(clock)
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 10)},
	}}}}
	env := start(t, f, e)
	for _, lookback := range []time.Duration{time.Nanosecond, time.Hour, scanner.Day - time.Second} {
		_, err := scanner.Scan(context.Background(), env.clients, scanner.Options{Lookback: lookback, Now: env.srv.Now})
		if err == nil || !strings.Contains(err.Error(), "under one day") {
			t.Errorf("lookback %s: error %v, want it refused as under one day", lookback, err)
		}
	}
	if calls := env.srv.Stats().Calls; sim.Total(calls) != 0 {
		t.Errorf("AWS was called: %v", calls)
	}
	// One day is enough.
	if r := env.scan(t, scanner.Options{Lookback: scanner.Day}); r.ScanOptions.MinObservedDays != 1 {
		t.Errorf("lookback 1d: minObservedDays %d, want 1 (the default 7 capped at the window)", r.ScanOptions.MinObservedDays)
	}
}

// TestScanReportPassesRemediateCheck: whatever the time of day and the
// lookback (one day, a day and a second, 36 hours, the 455-day maximum and
// a second under it), the scan's own report passes remediate's check
// (policy.Check): its window is at least a day, minObservedDays lies
// within it, and no instance has more observed days than the window's
// daily buckets. A genuine report must never be refused.
func TestScanReportPassesRemediateCheck(t *testing.T) {
	day0 := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	for _, now := range []time.Time{day0, day0.Add(time.Second), day0.Add(scanner.Day - time.Second), day0.Add(12 * time.Hour)} {
		e := scantest.New(now)
		ins := e.Instances(acctA, "us-east-1", 20)
		for i := range ins {
			if ins[i].State == "running" {
				ins[i].LaunchTime = fleet.Abs(now.Add(-600 * scanner.Day))
			}
		}
		f := &fleet.Fleet{Clock: &now, Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: ins}}}}}
		srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
		clients := scanner.NewAWSClients(awsconfig.NewClients(simtest.Config(url, fleet.DefaultAccessKeyID(acctA), "us-east-1"), "", awsconfig.ProtocolCBOR))
		for _, lookback := range []time.Duration{scanner.Day, scanner.Day + time.Second, 36 * time.Hour, 14 * scanner.Day, scanner.MaxLookback - time.Second, scanner.MaxLookback} {
			for _, minDays := range []int{1, 7, 1000} {
				r, err := scanner.Scan(context.Background(), clients, scanner.Options{Regions: []string{"us-east-1"}, Lookback: lookback, MinObservedDays: minDays, Now: srv.Now})
				if err != nil {
					t.Fatalf("clock %s, lookback %s: %v", now.Format(time.TimeOnly), lookback, err)
				}
				if _, err := policy.Check(r); err != nil {
					t.Errorf("clock %s, lookback %s, --min-observed-days %d: remediate refuses the scan's own report: %v", now.Format(time.TimeOnly), lookback, minDays, err)
				}
				if r.Summary.ByClassification[report.ClassReady] == 0 {
					t.Errorf("clock %s, lookback %s, --min-observed-days %d: no instance ready (the check is not exercised)", now.Format(time.TimeOnly), lookback, minDays)
				}
			}
		}
	}
}
