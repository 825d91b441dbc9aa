package main

// End-to-end tests of `imdsfleet remediate` and `imdsfleet rollback`: the
// CLI runs in-process (run(), as main does) against the simulated AWS over
// HTTP, and the tests check what a user would see: the exit code, the
// output, the journal, and above all the simulated fleet's state and the
// ModifyInstanceMetadataOptions calls the server received.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

const (
	remAcct  = "111111111111"
	remOther = "222222222222"
	remKey   = "AKIAREMEDIATETEST001"
)

// remInst is one instance of a remediation test fleet: how the sim holds it
// and how the report describes it.
type remInst struct {
	id      string
	region  string
	account string
	class   string
	risks   []string
	tags    map[string]string
	opts    fleet.MetadataOptions // as the simulated AWS holds it
	// reported overrides the options the report shows (drift).
	reported *report.MetadataOptions
	// notInSim puts the instance in the report only (gone).
	notInSim bool
	// want is what the plan must do: an action, or "" for a skip.
	want remediate.Action
}

func remID(region string, n int) string {
	h := 0
	for _, c := range region {
		h = h*31 + int(c)
	}
	return fmt.Sprintf("i-%08x%09x", uint32(h), n)
}

func optional(hop int32) fleet.MetadataOptions {
	return fleet.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: hop, HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}
}

// remMixedFleet is one of every plan case per Region, plus extra ready
// instances, in regions of account remAcct, and one ready instance in an
// account the caller has no role for.
func remMixedFleet(regions []string, extra int) []remInst {
	var out []remInst
	container := map[string]string{"eks:cluster-name": "prod"}
	for _, r := range regions {
		n := 0
		next := func() string { n++; return remID(r, n) }
		enforcedOpts := optional(2)
		enforcedOpts.HttpTokens = "required"
		disabledOpts := optional(1)
		disabledOpts.HttpEndpoint = "disabled"
		drifted := optional(1)
		drifted.HttpPutResponseHopLimit = 3
		scanned := report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1, HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled", State: "applied"}
		out = append(out,
			remInst{id: next(), region: r, class: report.ClassReady, opts: optional(1), want: remediate.ActionEnforce},
			remInst{id: next(), region: r, class: report.ClassReady, risks: []string{report.RiskContainerHopLimit}, tags: container, opts: optional(1), want: remediate.ActionEnforce},
			remInst{id: next(), region: r, class: report.ClassV1InUse, risks: []string{report.RiskContainerHopLimit}, tags: container, opts: optional(1), want: remediate.ActionRaiseHopLimit},
			remInst{id: next(), region: r, class: report.ClassV1InUse, opts: optional(1)},
			remInst{id: next(), region: r, class: report.ClassNoData, opts: optional(1)},
			remInst{id: next(), region: r, class: report.ClassEnforced, opts: enforcedOpts},
			remInst{id: next(), region: r, class: report.ClassDisabled, opts: disabledOpts},
			remInst{id: next(), region: r, class: report.ClassReady, tags: map[string]string{"imdsfleet:exempt": "true"}, opts: optional(1)},
			// Planned, but changed by someone since the scan: skipped at the drift check.
			remInst{id: next(), region: r, class: report.ClassReady, opts: drifted, reported: &scanned, want: "drift"},
			// Planned, but terminated since: the drift check's batch gets
			// InvalidInstanceID.NotFound and must still read the others.
			remInst{id: next(), region: r, class: report.ClassReady, opts: optional(1), notInSim: true, want: "gone"},
		)
		for range extra {
			out = append(out, remInst{id: next(), region: r, class: report.ClassReady, opts: optional(1), want: remediate.ActionEnforce})
		}
	}
	out = append(out, remInst{id: remID("other", 1), region: regions[0], account: remOther, class: report.ClassReady, opts: optional(1), want: "account"})
	return out
}

// remFleet builds the simulated fleet holding insts.
func remFleet(insts []remInst, knobs fleet.Knobs) *fleet.Fleet {
	f := &fleet.Fleet{Knobs: knobs}
	accts := map[string]int{}
	for _, in := range insts {
		if in.notInSim {
			continue
		}
		acct := in.account
		if acct == "" {
			acct = remAcct
		}
		ai, ok := accts[acct]
		if !ok {
			ai = len(f.Accounts)
			accts[acct] = ai
			a := fleet.Account{ID: acct}
			if acct == remAcct {
				a.AccessKeyIDs = []string{remKey}
			}
			f.Accounts = append(f.Accounts, a)
		}
		a := &f.Accounts[ai]
		ri := -1
		for i := range a.Regions {
			if a.Regions[i].Name == in.region {
				ri = i
			}
		}
		if ri < 0 {
			a.Regions = append(a.Regions, fleet.Region{Name: in.region})
			ri = len(a.Regions) - 1
		}
		a.Regions[ri].Instances = append(a.Regions[ri].Instances, fleet.Instance{
			ID: in.id, State: "running", LaunchTime: fleet.Rel(-30 * 24 * time.Hour), Tags: in.tags, MetadataOptions: in.opts,
		})
	}
	return f
}

// remRules are the scan rules remReport's reports record: the defaults.
var remRules = policy.Rules{MinObservedDays: policy.DefaultMinObservedDays, ContainerTags: policy.DefaultContainerTags()}

// remWindow is the usage window of a 14-day scan at now, as the scanner
// draws it (start at midnight UTC): 15 daily buckets.
func remWindow(now time.Time) report.Window {
	return report.Window{Start: now.Add(-14 * 24 * time.Hour).Truncate(24 * time.Hour), End: now}
}

// remReport writes the scan report describing insts and returns its path.
func remReport(t *testing.T, dir string, insts []remInst) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	r := &report.Report{SchemaVersion: report.SchemaVersion, Tool: report.Tool{Name: "imdsfleet", Version: "test"}, GeneratedAt: now,
		Window: remWindow(now), ScanOptions: remRules.ScanOptions()}
	targets := map[[2]string]bool{}
	for _, in := range insts {
		acct := in.account
		if acct == "" {
			acct = remAcct
		}
		mo := report.MetadataOptions{HttpTokens: in.opts.HttpTokens, HttpEndpoint: in.opts.HttpEndpoint, HttpPutResponseHopLimit: in.opts.HttpPutResponseHopLimit,
			HttpProtocolIpv6: in.opts.HttpProtocolIpv6, InstanceMetadataTags: in.opts.InstanceMetadataTags, State: "applied"}
		if in.reported != nil {
			mo = *in.reported
		}
		ri := report.Instance{Account: acct, Region: in.region, InstanceID: in.id, State: "running", Tags: in.tags, MetadataOptions: mo,
			Usage: report.Usage{Status: report.UsageComplete, Datapoints: 14}, Classification: in.class, Risks: in.risks}
		// Usage that gives the class under remRules: remediate checks it.
		switch in.class {
		case report.ClassV1InUse:
			ri.Usage.NoTokenCalls, ri.Usage.DaysWithCalls = 120, 5
		case report.ClassNoData:
			ri.Usage.Datapoints = 2
		case report.ClassDisabled:
			ri.Usage = report.Usage{Status: report.UsageNone}
		}
		r.Instances = append(r.Instances, ri)
		if k := [2]string{acct, in.region}; !targets[k] {
			targets[k] = true
			r.Targets = append(r.Targets, report.Target{Account: acct, Region: in.region, Status: report.TargetOK})
		}
	}
	report.Normalize(r)
	path := filepath.Join(dir, "scan.json")
	if err := report.WriteOutput(path, func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
		t.Fatal(err)
	}
	return path
}

// remEnv points the in-process CLI at the simulated AWS.
func remEnv(t *testing.T, url string) {
	t.Helper()
	for _, kv := range simtest.Env(url, remKey, "us-east-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
}

type remRun struct {
	code           int
	stdout, stderr string
}

// remCLI runs imdsfleet in-process with args and returns what a user sees.
func remCLI(t *testing.T, ctx context.Context, stdin string, tty bool, args ...string) remRun {
	t.Helper()
	var out, errb bytes.Buffer
	s := &streams{In: strings.NewReader(stdin), Out: &out, Err: &errb, InTTY: tty}
	code := run(ctx, args, s)
	t.Logf("imdsfleet %s → exit %d\nstderr:\n%s", strings.Join(args, " "), code, errb.String())
	return remRun{code: code, stdout: out.String(), stderr: errb.String()}
}

// fast are the flags that keep tests quick: fast verification polls and
// short retry pauses.
var remFast = []string{"--poll-interval", "50ms", "--retry-max-backoff", "50ms", "--wait-timeout", "20s"}

func remArgs(base ...string) []string { return append(base, remFast...) }

type remSetup struct {
	srv     *sim.Server
	url     string
	dir     string
	report  string
	insts   []remInst
	journal string
	// gate stops a run at a chosen live change (it lets everything
	// through until told otherwise).
	gate *simtest.Gate
}

func remStart(t *testing.T, insts []remInst, knobs fleet.Knobs) *remSetup {
	t.Helper()
	return remStartWith(t, insts, knobs, sim.Options{Seed: 1})
}

// remStartWith is remStart with the server's options (a simulated wall clock).
func remStartWith(t *testing.T, insts []remInst, knobs fleet.Knobs, opts sim.Options) *remSetup {
	t.Helper()
	gate := simtest.NewGate()
	srv, url := simtest.StartWith(t, remFleet(insts, knobs), opts, gate.Wrap)
	remEnv(t, url)
	dir := t.TempDir()
	return &remSetup{srv: srv, url: url, dir: dir, report: remReport(t, dir, insts), insts: insts, journal: filepath.Join(dir, "fix.jsonl"), gate: gate}
}

func (s *remSetup) acct(in remInst) string {
	if in.account != "" {
		return in.account
	}
	return remAcct
}

// options returns an instance's options as the simulated AWS holds them.
func (s *remSetup) options(t *testing.T, in remInst) fleet.MetadataOptions {
	t.Helper()
	got, ok := s.srv.Instance(s.acct(in), in.region, in.id)
	if !ok {
		t.Fatalf("instance %s/%s missing from the sim", in.region, in.id)
	}
	return got.MetadataOptions
}

// snapshot returns every sim instance's options.
func (s *remSetup) snapshot(t *testing.T) map[string]fleet.MetadataOptions {
	t.Helper()
	out := map[string]fleet.MetadataOptions{}
	for _, in := range s.insts {
		if !in.notInSim {
			out[in.id] = s.options(t, in)
		}
	}
	return out
}

func (s *remSetup) planned(action remediate.Action) []remInst {
	var out []remInst
	for _, in := range s.insts {
		if in.want == action {
			out = append(out, in)
		}
	}
	return out
}

// liveCalls counts the non-dry-run ModifyInstanceMetadataOptions calls per
// instance that the server accepted.
func liveCalls(srv *sim.Server) map[string]int {
	out := map[string]int{}
	for _, c := range srv.ModifyCalls() {
		if !c.DryRun && c.Outcome == "ok" {
			out[c.InstanceID]++
		}
	}
	return out
}

func readResults(t *testing.T, path string) remediate.Outcome {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o remediate.Outcome
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatalf("results %s: %v", path, err)
	}
	return o
}

func resultsByID(o remediate.Outcome) map[string]remediate.Result {
	m := map[string]remediate.Result{}
	for _, r := range o.Results {
		m[r.InstanceID] = r
	}
	return m
}

func TestRemediateDryRun(t *testing.T) {
	s := remStart(t, remMixedFleet([]string{"us-east-1", "eu-west-1"}, 3), fleet.Knobs{})
	before := s.snapshot(t)
	results := filepath.Join(s.dir, "results.json")
	planOut := filepath.Join(s.dir, "plan.json")
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--output", results, "--plan-out", planOut)...)
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stdout)
	}
	// Nothing changed on the server.
	if after := s.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a dry run changed the fleet:\nbefore %v\nafter  %v", before, after)
	}
	// Exactly one DryRun=true call per change that passed the drift check,
	// with only the fields the change sets; no live call at all.
	want := map[string]map[string]string{}
	for _, in := range append(s.planned(remediate.ActionEnforce), s.planned(remediate.ActionRaiseHopLimit)...) {
		if in.want == remediate.ActionEnforce {
			want[in.id] = map[string]string{"HttpTokens": "required"}
		} else {
			want[in.id] = map[string]string{"HttpPutResponseHopLimit": "2"}
		}
	}
	got := map[string]map[string]string{}
	for _, c := range s.srv.ModifyCalls() {
		if !c.DryRun {
			t.Errorf("live call in a dry run: %+v", c)
		}
		if _, dup := got[c.InstanceID]; dup {
			t.Errorf("%s called twice", c.InstanceID)
		}
		got[c.InstanceID] = c.Params
		if c.Outcome != "DryRunOperation" {
			t.Errorf("%s: outcome %s", c.InstanceID, c.Outcome)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dry-run calls:\n got %v\nwant %v", got, want)
	}
	// The results say why each instance was or was not changed.
	res := resultsByID(readResults(t, results))
	wantReason := map[string]string{
		report.ClassV1InUse: remediate.SkipV1InUse, report.ClassNoData: remediate.SkipNoData,
		report.ClassEnforced: remediate.SkipAlreadyEnforced, report.ClassDisabled: remediate.SkipEndpointDisabled,
	}
	for _, in := range s.insts {
		r := res[in.id]
		var status remediate.Status
		var reason string
		switch {
		case in.want == remediate.ActionEnforce || in.want == remediate.ActionRaiseHopLimit:
			status = remediate.StatusWouldChange
		case in.want == "drift":
			status, reason = remediate.StatusSkipped, remediate.SkipDrift
		case in.want == "gone":
			status, reason = remediate.StatusSkipped, remediate.SkipGone
		case in.want == "account":
			status, reason = remediate.StatusSkipped, remediate.SkipAccount
		case in.tags["imdsfleet:exempt"] != "":
			status, reason = remediate.StatusSkipped, remediate.SkipExcludedTag
		default:
			status, reason = remediate.StatusSkipped, wantReason[in.class]
		}
		if r.Status != status || r.Reason != reason {
			t.Errorf("%s (%s %v): status %s/%s (%s), want %s/%s", in.id, in.class, in.want, r.Status, r.Reason, r.Message, status, reason)
		}
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("would change %d,", len(want))) || !strings.Contains(r.stdout, "skipped changed-since-scan:") {
		t.Errorf("summary missing from stdout:\n%s", r.stdout)
	}
	var plan remediate.Plan
	data, _ := os.ReadFile(planOut)
	if err := json.Unmarshal(data, &plan); err != nil || len(plan.Changes) != 2*(3+5)+1 {
		t.Errorf("--plan-out: %v, %d changes", err, len(plan.Changes))
	}
}

func TestRemediateDenied(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1", "eu-west-1"}, 2)
	s := remStart(t, insts, fleet.Knobs{DenyModify: true})
	before := s.snapshot(t)
	results := filepath.Join(s.dir, "results.csv")
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--output", results)...)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d", r.code, exitFailed)
	}
	if after := s.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("a denied dry run changed the fleet")
	}
	data, _ := os.ReadFile(results)
	denied := strings.Count(string(data), ",denied,")
	want := len(s.planned(remediate.ActionEnforce)) + len(s.planned(remediate.ActionRaiseHopLimit))
	if denied != want || !strings.Contains(string(data), "UnauthorizedOperation") {
		t.Errorf("results.csv shows %d denied, want %d:\n%s", denied, want, data)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("%d change(s) denied", want)) {
		t.Errorf("stderr does not say how many were denied:\n%s", r.stderr)
	}
}

func TestRemediateLiveThenRollback(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1", "eu-west-1"}, 2)
	s := remStart(t, insts, fleet.Knobs{ApplyDelay: remDelay(200 * time.Millisecond)})
	before := s.snapshot(t)
	results := filepath.Join(s.dir, "results.json")
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--output", results)...)
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stdout)
	}
	calls := liveCalls(s.srv)
	for _, in := range insts {
		if in.notInSim {
			continue
		}
		got := s.options(t, in)
		want := before[in.id]
		switch in.want {
		case remediate.ActionEnforce:
			want.HttpTokens = "required"
		case remediate.ActionRaiseHopLimit:
			want.HttpPutResponseHopLimit = 2
		}
		if got != want {
			t.Errorf("%s (%s): options %+v, want %+v", in.id, in.want, got, want)
		}
		changed := in.want == remediate.ActionEnforce || in.want == remediate.ActionRaiseHopLimit
		if n := calls[in.id]; changed && n != 1 || !changed && n != 0 {
			t.Errorf("%s (%s): %d live calls", in.id, in.want, n)
		}
		if changed {
			if st := s.srv.MetadataState(s.acct(in), in.region, in.id); st != "applied" {
				t.Errorf("%s: state %s after the run", in.id, st)
			}
		}
	}
	// The results show each change verified applied.
	for _, res := range readResults(t, results).Results {
		if res.Status == remediate.StatusChanged && (res.Verified == nil || res.Verified.State != "applied" || res.Previous == nil) {
			t.Errorf("%s: changed without verified/previous state: %+v", res.InstanceID, res)
		}
	}
	// The journal has intent, result and verify for every change, in that order.
	data, _ := os.ReadFile(s.journal)
	kinds := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec remediate.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		kinds[rec.InstanceID] = append(kinds[rec.InstanceID], rec.Kind+":"+rec.Outcome)
	}
	for id := range calls {
		if got := strings.Join(kinds[id], " "); got != "intent: result:ok verify:applied" {
			t.Errorf("journal for %s: %s", id, got)
		}
	}

	// Someone changes one enforced instance back by hand; rollback must
	// leave it alone.
	enforced := s.planned(remediate.ActionEnforce)
	meddled := enforced[len(enforced)-1]
	ec := ec2.NewFromConfig(simtest.Config(s.url, remKey, meddled.region))
	if _, err := ec.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(meddled.id), HttpTokens: types.HttpTokensStateOptional, HttpPutResponseHopLimit: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}
	// A dry-run rollback changes nothing.
	mid := s.snapshot(t)
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal)...)
	if r.code != exitOK {
		t.Fatalf("dry-run rollback: exit %d", r.code)
	}
	if fmt.Sprint(s.snapshot(t)) != fmt.Sprint(mid) {
		t.Fatal("a dry-run rollback changed the fleet")
	}
	rbResults := filepath.Join(s.dir, "rollback.json")
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--output", rbResults)...)
	if r.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stdout)
	}
	for _, in := range insts {
		if in.notInSim {
			continue
		}
		got := s.options(t, in)
		want := before[in.id]
		if in.id == meddled.id {
			want = mid[in.id]
		}
		if got != want {
			t.Errorf("after rollback %s (%s): %+v, want %+v", in.id, in.want, got, want)
		}
	}
	rb := resultsByID(readResults(t, rbResults))
	if m := rb[meddled.id]; m.Status != remediate.StatusSkipped || m.Reason != remediate.SkipChangedSince || !strings.Contains(m.Message, "HttpTokens required→optional") {
		t.Errorf("meddled instance: %+v", m)
	}
	// Rollback sends only the fields the change set.
	for _, c := range s.srv.ModifyCalls() {
		if c.DryRun || c.Params["HttpTokens"] == "required" || c.Params["HttpPutResponseHopLimit"] == "2" || c.InstanceID == meddled.id {
			continue
		}
		if len(c.Params) != 1 {
			t.Errorf("rollback call %s sent %v", c.InstanceID, c.Params)
		}
	}
	if _, err := os.Stat(s.journal + ".rollback.jsonl"); err != nil {
		t.Errorf("rollback journal: %v", err)
	}
	// Running the rollback again (resume) changes nothing more.
	n := len(s.srv.ModifyCalls())
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK || len(s.srv.ModifyCalls()) != n || !strings.Contains(r.stdout, "skipped done-earlier:") {
		t.Errorf("second rollback: exit %d, %d new calls\n%s", r.code, len(s.srv.ModifyCalls())-n, r.stdout)
	}
}

func TestRemediateThrottlingLosesNothing(t *testing.T) {
	// 300 changes against ModifyInstanceMetadataOptions' bucket of 100,
	// sent at up to 1000/s: throttled on the way, every change must still
	// be made, once. The server's wall clock moves only when it refuses a
	// call, 4 s per refusal (20 tokens at 5/s), as if time passed only
	// while the clients back off: the first 100 changes empty the bucket
	// and the 101st is refused on every run, however fast the machine is.
	var insts []remInst
	for i := range 300 {
		insts = append(insts, remInst{id: remID("us-east-1", i+1), region: "us-east-1", class: report.ClassReady, opts: optional(1), want: remediate.ActionEnforce})
	}
	on := true
	var srv atomic.Pointer[sim.Server]
	t0 := time.Now()
	wall := func() time.Time {
		return t0.Add(time.Duration(sim.Total(srv.Load().Stats().Throttled)) * 4 * time.Second)
	}
	s := remStartWith(t, insts, fleet.Knobs{Throttle: &on}, sim.Options{Seed: 1, Wall: wall})
	srv.Store(s.srv)
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--rate", "1000", "--workers", "16")...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	calls := liveCalls(s.srv)
	for _, in := range insts {
		if got := s.options(t, in); got.HttpTokens != "required" || calls[in.id] != 1 {
			t.Errorf("%s: tokens %s after %d accepted calls", in.id, got.HttpTokens, calls[in.id])
		}
	}
	st := s.srv.Stats()
	if st.Throttled["ModifyInstanceMetadataOptions"]["us-east-1"] == 0 {
		t.Errorf("the server throttled no change: the test did not exercise throttling (stats %+v)", st)
	}
	t.Logf("throttled: %v", st.Throttled)
}

func TestRemediatePromptAndRefusals(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	// A terminal that answers anything but "yes": nothing changes.
	r := remCLI(t, context.Background(), "y\n", true, remArgs("remediate", "--report", s.report, "--live", "--journal", s.journal)...)
	if r.code != exitError || !strings.Contains(r.stderr, "Type yes") || !strings.Contains(r.stderr, remAcct+"/us-east-1") {
		t.Errorf("declined prompt: exit %d\n%s", r.code, r.stderr)
	}
	if len(s.srv.ModifyCalls()) != 0 {
		t.Fatal("a declined prompt changed something")
	}
	// "yes" on a terminal goes ahead.
	r = remCLI(t, context.Background(), "yes\n", true, remArgs("remediate", "--report", s.report, "--live", "--journal", s.journal)...)
	if r.code != exitOK || len(liveCalls(s.srv)) != 3 {
		t.Errorf("confirmed prompt: exit %d, %d changed", r.code, len(liveCalls(s.srv)))
	}
}

func TestRemediateBadInputs(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	truncated := filepath.Join(s.dir, "truncated.json")
	data, _ := os.ReadFile(s.report)
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	future := filepath.Join(s.dir, "future.json")
	os.WriteFile(future, bytes.Replace(data, []byte(fmt.Sprintf(`"schemaVersion": %d`, report.SchemaVersion)), []byte(`"schemaVersion": 99`), 1), 0o644)
	if bytes.Equal(data, mustRead(t, future)) {
		t.Fatal("test setup: schemaVersion not found in the report")
	}
	rbJournal := filepath.Join(s.dir, "fix.jsonl.rollback.jsonl")
	rbLine, _ := json.Marshal(remediate.Record{V: 1, Op: remediate.OpRollback, Kind: remediate.KindIntent, Account: remAcct, Region: "us-east-1",
		InstanceID: insts[0].id, Action: remediate.ActionRollback, Requested: &remediate.Change{HttpTokens: "optional"}})
	os.WriteFile(rbJournal, append(rbLine, '\n'), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"report given as the journal", []string{"remediate", "--report", s.report, "--live", "--yes", "--journal", s.report}, exitUsage, "is not an imdsfleet journal"},
		{"rollback of a rollback journal", []string{"rollback", "--journal", rbJournal}, exitUsage, "is a rollback journal"},
		{"missing report", []string{"remediate", "--report", filepath.Join(s.dir, "nope.json")}, exitUsage, "does not exist"},
		{"no report flag", []string{"remediate"}, exitUsage, "--report is required"},
		{"truncated report", []string{"remediate", "--report", truncated}, exitUsage, "truncated.json"},
		{"future schema version", []string{"remediate", "--report", future}, exitUsage, "schema"},
		{"dry-run and live", []string{"remediate", "--report", s.report, "--dry-run", "--live", "--yes"}, exitUsage, "--dry-run and --live conflict"},
		{"v1-in-use without force", []string{"remediate", "--report", s.report, "--include", "v1-in-use"}, exitUsage, "--force"},
		{"unknown include", []string{"remediate", "--report", s.report, "--include", "everything"}, exitUsage, "want no-data or v1-in-use"},
		{"live without yes off a terminal", []string{"remediate", "--report", s.report, "--live"}, exitUsage, "add --yes"},
		{"yes without live", []string{"remediate", "--report", s.report, "--yes"}, exitUsage, "--yes only applies"},
		{"output directory missing", []string{"remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--output", "/nonexistent-dir/r.json"}, exitUsage, "directory /nonexistent-dir does not exist"},
		{"journal directory missing", []string{"remediate", "--report", s.report, "--live", "--yes", "--journal", "/nonexistent-dir/j.jsonl"}, exitUsage, "--journal /nonexistent-dir/j.jsonl: directory /nonexistent-dir does not exist"},
		{"bad output extension", []string{"remediate", "--report", s.report, "--output", "x.txt"}, exitUsage, ".json or .csv"},
		{"bad exclude tag", []string{"remediate", "--report", s.report, "--exclude-tag", "=v"}, exitUsage, "KEY"},
		{"bad hop limit", []string{"remediate", "--report", s.report, "--container-hop-limit", "7"}, exitUsage, "--container-hop-limit"},
		{"rollback without journal", []string{"rollback"}, exitUsage, "--journal is required"},
		{"rollback missing journal", []string{"rollback", "--journal", filepath.Join(s.dir, "none.jsonl")}, exitUsage, "does not exist"},
		{"rollback of a file that is no journal", []string{"rollback", "--journal", s.report}, exitUsage, "is not an imdsfleet journal"},
		{"rollback journal is the remediate journal", []string{"rollback", "--journal", s.report, "--rollback-journal", s.dir + "/./" + filepath.Base(s.report)}, exitUsage, "--rollback-journal must differ"},
	}
	t.Cleanup(func() {
		if !bytes.Equal(mustRead(t, s.report), data) {
			t.Error("a bad input changed the report file")
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := remCLI(t, context.Background(), "", false, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr should mention %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
			if n := len(s.srv.ModifyCalls()); n != 0 {
				t.Errorf("%d ModifyInstanceMetadataOptions calls after bad input", n)
			}
		})
	}
}

func remDelay(d time.Duration) *fleet.Duration {
	fd := fleet.Duration(d)
	return &fd
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// One corrupt line in the middle of a journal is skipped and named: the
// lines after it still count for rollback and for a resumed remediate, and
// the journal is never cut back.
func TestRollbackCorruptJournalLine(t *testing.T) {
	insts := readyFleetN("us-east-1", 12)
	s := remStart(t, insts, fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("remediate exit %d", r.code)
	}
	lines := strings.SplitAfter(string(mustRead(t, s.journal)), "\n")
	// Corrupt the first result line from line 7 on (of 36): one in the middle.
	var bad remediate.Record
	n := 6
	for ; n < len(lines); n++ {
		if err := json.Unmarshal([]byte(lines[n]), &bad); err == nil && bad.Kind == remediate.KindResult {
			break
		}
	}
	if n > 20 {
		t.Fatalf("test setup: no result line in the middle of the journal")
	}
	lines[n] = "{\"v\":2,\"kind\":\n"
	where := fmt.Sprintf("%s:%d: corrupt", s.journal, n+1)
	corrupt := strings.Join(lines, "")
	os.WriteFile(s.journal, []byte(corrupt), 0o600)
	changed := liveCalls(s.srv)

	// The dry-run rollback plans every change, the one whose result line
	// is lost included (its intent is decided by re-reading the instance).
	n = len(s.srv.ModifyCalls())
	r := remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal)...)
	if r.code != exitOK || !strings.Contains(r.stderr, where) {
		t.Fatalf("exit %d; stderr should say %q:\n%s", r.code, where, r.stderr)
	}
	dry := map[string]bool{}
	for _, c := range s.srv.ModifyCalls()[n:] {
		if !c.DryRun {
			t.Errorf("dry-run rollback made a live call: %+v", c)
		}
		dry[c.InstanceID] = true
	}
	if len(dry) != len(changed) || !dry[bad.InstanceID] {
		t.Errorf("dry-run rollback planned %d of %d changes (the one behind the corrupt line: %v)", len(dry), len(changed), dry[bad.InstanceID])
	}

	// A resumed remediate keeps every line, changes nothing and does not
	// call its own changes "set outside this journal".
	n = len(s.srv.ModifyCalls())
	r = remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...)
	if r.code != exitOK || len(s.srv.ModifyCalls()) != n {
		t.Fatalf("resumed remediate: exit %d, %d new calls", r.code, len(s.srv.ModifyCalls())-n)
	}
	if after := string(mustRead(t, s.journal)); !strings.HasPrefix(after, corrupt) {
		t.Fatalf("the resumed run rewrote the journal")
	}
	if strings.Contains(r.stdout, "outside this journal") || strings.Contains(r.stdout, "changed-since-scan") {
		t.Errorf("resumed run mislabels its own changes:\n%s", r.stdout)
	}
	if m, _ := filepath.Glob(s.journal + ".corrupt-*"); len(m) != 0 {
		t.Errorf("backup files: %v", m)
	}

	// And the live rollback restores every instance.
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK {
		t.Fatalf("rollback exit %d\n%s", r.code, r.stdout)
	}
	for _, in := range insts {
		if got := s.options(t, in); got.HttpTokens != "optional" {
			t.Errorf("%s not rolled back: %s", in.id, got.HttpTokens)
		}
	}
}

func TestRemediateSelectionFlags(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1", "eu-west-1"}, 4)
	// Tag the first eu-west-1 instance team=db; the next three planned
	// in id order (container host, v1-in-use container host, drifted) leave
	// two changes, the rest are over --max-changes.
	tagged := 0
	for i := range insts {
		if insts[i].region == "eu-west-1" && tagged < 1 {
			insts[i].tags = map[string]string{"team": "db"}
			tagged++
		}
	}
	s := remStart(t, insts, fleet.Knobs{})
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal,
		"--regions", "eu-west-1", "--exclude-tag", "team=db", "--exclude-tag", "imdsfleet:exempt", "--max-changes", "3")...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	calls := liveCalls(s.srv)
	if len(calls) != 2 {
		t.Fatalf("changed %d instances, want 2 (--max-changes 3, one of them drifted): %v", len(calls), calls)
	}
	for _, in := range insts {
		if calls[in.id] == 0 {
			continue
		}
		if in.region != "eu-west-1" || in.tags["team"] == "db" {
			t.Errorf("changed %s (%s, tags %v) despite --regions/--exclude-tag", in.id, in.region, in.tags)
		}
	}
	for _, want := range []string{"skipped not-in-regions:", "skipped excluded-tag:", "skipped max-changes:", "skipped changed-since-scan:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func TestRemediateNeverApplied(t *testing.T) {
	insts := readyFleetN("us-east-1", 3)
	s := remStart(t, insts, fleet.Knobs{ApplyDelay: remDelay(time.Hour)})
	results := filepath.Join(s.dir, "results.json")
	r := remCLI(t, context.Background(), "", false, "remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal,
		"--output", results, "--wait-timeout", "300ms", "--poll-interval", "50ms")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d", r.code, exitFailed)
	}
	for _, res := range readResults(t, results).Results {
		if res.Status != remediate.StatusFailed || res.Reason != remediate.ReasonNotApplied || res.Verified == nil || res.Verified.State != "pending" {
			t.Errorf("%s: %+v", res.InstanceID, res)
		}
	}
	if got := strings.Count(string(mustRead(t, s.journal)), `"outcome":"not-applied"`); got != 3 {
		t.Errorf("journal has %d not-applied verify lines, want 3", got)
	}
}

func TestRemediateOtherAccountWithRole(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--role-name", "imdsfleet-remediate", "--instance-ids", remID("other", 1))...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	calls := s.srv.ModifyCalls()
	if len(calls) != 1 || calls[0].Account != remOther || !calls[0].DryRun || calls[0].Outcome != "DryRunOperation" {
		t.Errorf("calls %+v, want one dry run in account %s through the assumed role", calls, remOther)
	}
}

func readyFleetN(region string, n int) []remInst {
	var insts []remInst
	for i := range n {
		insts = append(insts, remInst{id: remID(region, i+1), region: region, class: report.ClassReady, opts: optional(1), want: remediate.ActionEnforce})
	}
	return insts
}

// The exempt tag keeps protecting when another exclusion is added; only an
// explicit empty --exclude-tag drops it.
func TestRemediateExemptTagStaysWithOtherExclusions(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	var exempt string
	for _, in := range insts {
		if in.tags["imdsfleet:exempt"] != "" {
			exempt = in.id
		}
	}
	s := remStart(t, insts, fleet.Knobs{})
	dryCalls := func() map[string]bool {
		m := map[string]bool{}
		for _, c := range s.srv.ModifyCalls() {
			m[c.InstanceID] = true
		}
		return m
	}
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--exclude-tag", "team=db")...)
	if r.code != exitOK || dryCalls()[exempt] {
		t.Fatalf("--exclude-tag team=db: exit %d, exempt instance %s planned: %v", r.code, exempt, dryCalls()[exempt])
	}
	r = remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--exclude-tag", "")...)
	if r.code != exitOK || !dryCalls()[exempt] {
		t.Fatalf("--exclude-tag '': exit %d, exempt instance %s not planned", r.code, exempt)
	}
}
