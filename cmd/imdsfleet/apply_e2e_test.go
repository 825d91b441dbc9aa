package main

// End-to-end tests of `imdsfleet apply` and `imdsfleet status`: plan files,
// waves, bakes, breakage and resume. The CLI runs in-process against the
// simulated AWS over HTTP, on a simulated clock that the server's metrics
// follow and that moves on only when a bake sleeps: a bake of an hour
// takes no wall time, and nothing depends on the machine's speed.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/internal/simclock"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// testClock is the rollout's clock and the server's: Sleep moves it on at
// once, and onSleep (if set) sees every sleep, so a test can stop a run
// in the middle of a bake.
type testClock struct {
	*simtest.Clock
	mu      sync.Mutex
	sleeps  int
	onSleep func(n int)
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	c.mu.Lock()
	c.sleeps++
	n, f := c.sleeps, c.onSleep
	c.mu.Unlock()
	if f != nil {
		f(n)
	}
	return ctx.Err()
}

var _ remediate.Clock = (*testClock)(nil)

const otherKey = "AKIAOTHERACCOUNT0001"

type applySetup struct {
	*remSetup
	clock *testClock
	plan  string
}

// applyFleet is six ready instances in two Auto Scaling groups (web: 1-3,
// api: 4-6), so that `--waves 1,50%,100%` makes three waves: the canary
// (1 and 4, one per group), wave 2 (2) and wave 3 (3, 5, 6); plus a v1-in-use
// instance (7) that no plan includes.
func applyFleet() []remInst {
	var out []remInst
	for n := 1; n <= 6; n++ {
		asg := "web"
		if n > 3 {
			asg = "api"
		}
		out = append(out, remInst{id: remID("us-east-1", n), region: "us-east-1", class: report.ClassReady,
			tags: map[string]string{remediate.ASGTag: asg, "Name": asg + "-" + string(rune('0'+n))}, opts: optional(1), want: remediate.ActionEnforce})
	}
	out = append(out, remInst{id: remID("us-east-1", 7), region: "us-east-1", class: report.ClassV1InUse, opts: optional(1)})
	return out
}

func applyID(n int) string { return remID("us-east-1", n) }

// applyStart serves the fleet with a hidden caller (starting 10 minutes
// after enforcement, 60 calls an hour) on the given instances, and writes
// the scan report and the plan (remediate --plan-out) at the clock's time.
func applyStart(t *testing.T, hidden ...int) *applySetup {
	t.Helper()
	return applyStartWith(t, hidden, nil)
}

// applyStartWith is applyStart where the instances of failing fail their
// status check from 20 minutes after the clock's start on.
func applyStartWith(t *testing.T, hidden, failing []int) *applySetup {
	t.Helper()
	return applyStartFleet(t, hidden, failing, nil)
}

// applyStartFleet is applyStartWith where edit (if set) changes the fleet
// before the server starts; start is the clock's start.
func applyStartFleet(t *testing.T, hidden, failing []int, edit func(f *fleet.Fleet, start time.Time)) *applySetup {
	t.Helper()
	insts := applyFleet()
	f := remFleet(insts, fleet.Knobs{})
	start := time.Now().UTC().Truncate(time.Second)
	if edit != nil {
		edit(f, start)
	}
	for _, n := range failing {
		for i := range f.Accounts[0].Regions[0].Instances {
			if in := &f.Accounts[0].Regions[0].Instances[i]; in.ID == applyID(n) {
				in.StatusCheckFailed = []fleet.Interval{{From: fleet.Abs(start.Add(20 * time.Minute)), To: fleet.Abs(start.Add(48 * time.Hour))}}
			}
		}
	}
	for _, n := range hidden {
		for i := range f.Accounts[0].Regions[0].Instances {
			in := &f.Accounts[0].Regions[0].Instances[i]
			if in.ID == applyID(n) {
				in.HiddenCaller = &fleet.HiddenCaller{Starts: fleet.HiddenAfterEnforcement, After: fleet.Duration(10 * time.Minute), PerHour: 60}
			}
		}
	}
	f.Accounts = append(f.Accounts, fleet.Account{ID: remOther, AccessKeyIDs: []string{otherKey}, Regions: []fleet.Region{{Name: "us-east-1"}}})
	clock := &testClock{Clock: simtest.NewClock(start)}
	gate := simtest.NewGate()
	srv, url := simtest.StartWith(t, f, sim.Options{Seed: 1, Now: clock.Now}, gate.Wrap)
	remEnv(t, url)
	dir := t.TempDir()
	s := &applySetup{remSetup: &remSetup{srv: srv, url: url, dir: dir, report: remReport(t, dir, insts), insts: insts, journal: filepath.Join(dir, "rollout.jsonl"), gate: gate},
		clock: clock, plan: filepath.Join(dir, "plan.json")}
	if r := s.cli(t, context.Background(), "remediate", "--report", s.report, "--plan-out", s.plan); r.code != exitOK {
		t.Fatalf("remediate --plan-out: exit %d\n%s", r.code, r.stderr)
	}
	return s
}

// cli runs imdsfleet in-process on the test clock.
func (s *applySetup) cli(t *testing.T, ctx context.Context, args ...string) remRun {
	t.Helper()
	var out, errb strings.Builder
	st := &streams{In: strings.NewReader(""), Out: &out, Err: &errb}
	if args[0] != "status" {
		args = append(args, remFast...)
	}
	code := runClock(ctx, args, st, s.clock)
	t.Logf("imdsfleet %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return remRun{code: code, stdout: out.String(), stderr: errb.String()}
}

func (s *applySetup) apply(t *testing.T, ctx context.Context, extra ...string) remRun {
	t.Helper()
	return s.cli(t, ctx, append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--waves", "1,50%,100%"}, extra...)...)
}

// tokens reads an instance's HttpTokens with DescribeInstances, as a user
// would check it.
func (s *applySetup) tokens(t *testing.T, n int) string {
	t.Helper()
	c := ec2.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1"))
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{applyID(n)}})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Reservations[0].Instances[0].MetadataOptions.HttpTokens)
}

// journalState reads the rollout journal.
func (s *applySetup) journalState(t *testing.T) *remediate.JournalState {
	t.Helper()
	st, warns, err := remediate.ReadJournal(s.journal)
	if err != nil || len(warns) > 0 {
		t.Fatalf("journal: %v %v", err, warns)
	}
	return st
}

// journalKinds counts the journal's lines by kind and wave.
func (s *applySetup) journalLines(t *testing.T) []remediate.Record {
	t.Helper()
	data, err := os.ReadFile(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	var out []remediate.Record
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r remediate.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (s *applySetup) status(t *testing.T) remediate.RolloutStatus {
	t.Helper()
	r := s.cli(t, context.Background(), "status", "--journal", s.journal, "--format", "json")
	if r.code != exitOK {
		t.Fatalf("status: exit %d", r.code)
	}
	var st remediate.RolloutStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status JSON: %v", err)
	}
	return st
}

// calls counts the live modify calls per instance number, by the
// HttpTokens they set.
func (s *applySetup) calls() map[int][]string {
	out := map[int][]string{}
	for _, c := range s.srv.ModifyCalls() {
		if c.DryRun || c.Outcome != "ok" {
			continue
		}
		for n := 1; n <= 7; n++ {
			if c.InstanceID == applyID(n) {
				out[n] = append(out[n], c.Params["HttpTokens"])
			}
		}
	}
	return out
}

func TestApplyWavesStopAndRollBackOnHiddenCaller(t *testing.T) {
	s := applyStart(t, 2)
	r := s.apply(t, context.Background())
	if r.code != exitBreakage {
		t.Fatalf("exit %d, want %d (breakage)", r.code, exitBreakage)
	}
	calls := s.calls()
	for n, want := range map[int]string{1: "[required]", 4: "[required]", 2: "[required optional]", 3: "[]", 5: "[]", 6: "[]", 7: "[]"} {
		if got := strings.Join(calls[n], " "); "["+got+"]" != want {
			t.Errorf("instance %d: calls %v, want %s", n, calls[n], want)
		}
	}
	// What DescribeInstances shows: wave 1 enforced, wave 2 rolled back,
	// wave 3 untouched.
	for n, want := range map[int]string{1: "required", 4: "required", 2: "optional", 3: "optional", 5: "optional", 6: "optional"} {
		if got := s.tokens(t, n); got != want {
			t.Errorf("instance %d: HttpTokens %s, want %s", n, got, want)
		}
	}
	st := s.journalState(t)
	w := st.Rollout.Stopped()
	if w == nil || w.N != 2 || w.Outcome != remediate.OutcomeBreakage || w.Stop != remediate.OutcomeRolledBack {
		t.Fatalf("journal: stopped wave %+v, want wave 2 broken and rolled back", w)
	}
	if len(w.Breaking) != 1 || w.Breaking[0].InstanceID != applyID(2) || w.Breaking[0].RejectedCalls < 1 {
		t.Fatalf("journal: breaking %+v, want instance 2 with rejected calls", w.Breaking)
	}
	if st.Rollout.Get(3) != nil {
		t.Errorf("journal: wave 3 started")
	}
	rb, _, err := remediate.ReadJournal(remediate.RollbackJournalPath(s.journal))
	if err != nil {
		t.Fatal(err)
	}
	if e := rb.Get(remediate.Key{Op: remediate.OpRollback, Account: remAcct, Region: "us-east-1", InstanceID: applyID(2)}); e == nil || e.StateOf() != remediate.StateVerified {
		t.Errorf("rollback journal: instance 2 %+v, want its rollback verified", e)
	}
	for _, want := range []string{"BREAKAGE in wave 2", applyID(2), "HTTP 401", "rolled back"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The status says the same.
	status := s.status(t)
	if status.State != remediate.StatusStopped || status.Wave != 2 || status.StoppedHow != remediate.OutcomeRolledBack ||
		len(status.Breaking) != 1 || status.Breaking[0].InstanceID != applyID(2) || status.WavesPassed != 1 || status.NextWave != 0 {
		t.Errorf("status %+v", status)
	}
	if status.WaveList[1].Changes[remediate.StateRolledBack] != 1 || status.WaveList[0].Changes[remediate.StateVerified] != 2 {
		t.Errorf("status wave changes: %+v", status.WaveList)
	}
	// Running it again changes nothing and says it stopped.
	before := len(s.srv.ModifyCalls())
	if r := s.apply(t, context.Background()); r.code != exitBreakage {
		t.Errorf("rerun: exit %d, want %d", r.code, exitBreakage)
	}
	if after := len(s.srv.ModifyCalls()); after != before {
		t.Errorf("rerun made %d calls", after-before)
	}
}

func TestApplyWavesAllPass(t *testing.T) {
	s := applyStart(t)
	r := s.apply(t, context.Background())
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0", r.code)
	}
	for n := 1; n <= 6; n++ {
		if got := s.tokens(t, n); got != "required" {
			t.Errorf("instance %d: HttpTokens %s", n, got)
		}
	}
	if got := s.tokens(t, 7); got != "optional" {
		t.Errorf("instance 7 (not in the plan) changed: %s", got)
	}
	st := s.journalState(t)
	if len(st.Rollout.Wave) != 3 {
		t.Fatalf("journal: %d waves", len(st.Rollout.Wave))
	}
	for _, w := range st.Rollout.Wave {
		if w.Outcome != remediate.OutcomePassed || w.BakeUntil == nil || w.BakeUntil.Sub(*w.BakeStart) != time.Hour {
			t.Errorf("wave %d: %+v", w.N, w)
		}
	}
	if status := s.status(t); status.State != remediate.StatusCompleted || status.WavesPassed != 3 || status.Changes[remediate.StateVerified] != 6 || status.NextWave != 0 {
		t.Errorf("status %+v", status)
	}
}

func TestApplyResumesInTheSameBake(t *testing.T) {
	s := applyStart(t)
	ctx, cancel := context.WithCancel(context.Background())
	// Killed 15 minutes into wave 1's bake.
	s.clock.onSleep = func(n int) {
		if n == 3 {
			cancel()
		}
	}
	if r := s.apply(t, ctx); r.code != exitError || !strings.Contains(r.stderr, "resume") {
		t.Fatalf("interrupted run: exit %d, want 1 with the resume command", r.code)
	}
	if status := s.status(t); status.State != remediate.StatusBaking || status.Wave != 1 || status.NextWave != 1 {
		t.Fatalf("status after the stop: %+v", status)
	}
	s.clock.onSleep = nil
	wave1 := s.calls()
	if r := s.apply(t, context.Background()); r.code != exitOK {
		t.Fatalf("resumed run: exit %d", r.code)
	}
	for _, n := range []int{1, 4} {
		if got := s.calls()[n]; len(got) != len(wave1[n]) || len(got) != 1 {
			t.Errorf("instance %d: calls %v after resume, want the one call of the first run", n, got)
		}
	}
	var bakes, baked []remediate.Record
	for _, l := range s.journalLines(t) {
		switch {
		case l.Kind == remediate.KindBake && l.Wave == 1:
			bakes = append(bakes, l)
		case l.Kind == remediate.KindBaked && l.Wave == 1:
			baked = append(baked, l)
		}
	}
	if len(bakes) != 1 || len(baked) != 1 {
		t.Fatalf("wave 1: %d bake and %d baked lines, want 1 and 1", len(bakes), len(baked))
	}
	// The bake ended when the first run said it would, not an hour after the resume.
	if !baked[0].Time.Equal(*bakes[0].BakeUntil) {
		t.Errorf("wave 1's bake ended at %s, its bake line said %s", baked[0].Time, bakes[0].BakeUntil)
	}
	if status := s.status(t); status.State != remediate.StatusCompleted {
		t.Errorf("status %+v", status)
	}
}

func TestApplyUntilWaveAdvancesOneWavePerRun(t *testing.T) {
	s := applyStart(t)
	for wave := 1; wave <= 3; wave++ {
		r := s.apply(t, context.Background(), "--until-wave", string(rune('0'+wave)))
		if r.code != exitOK {
			t.Fatalf("--until-wave %d: exit %d", wave, r.code)
		}
		st := s.journalState(t)
		if len(st.Rollout.Wave) != wave {
			t.Fatalf("--until-wave %d: %d waves in the journal", wave, len(st.Rollout.Wave))
		}
		status := s.status(t)
		want := remediate.StatusPaused
		if wave == 3 {
			want = remediate.StatusCompleted
		}
		if status.State != want || status.WavesPassed != wave || (wave < 3 && status.NextWave != wave+1) {
			t.Errorf("--until-wave %d: status %+v", wave, status)
		}
	}
	for n := 1; n <= 6; n++ {
		if got := s.calls()[n]; len(got) != 1 {
			t.Errorf("instance %d: %d calls, want exactly one over the three runs", n, len(got))
		}
	}
}

func TestApplyPlanADayLater(t *testing.T) {
	s := applyStart(t)
	// Someone changes instance 3 meanwhile (hop limit 3), and a day passes.
	c := ec2.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1"))
	if _, err := c.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(applyID(3)), HttpPutResponseHopLimit: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(24 * time.Hour)
	before := s.snapshot(t)
	results := filepath.Join(s.dir, "results.json")
	r := s.cli(t, context.Background(), "apply", s.plan, "--live", "--yes", "--journal", s.journal, "--output", results)
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	res := resultsByID(readResults(t, results))
	if got := res[applyID(3)]; got.Status != remediate.StatusSkipped || got.Reason != remediate.SkipDrift {
		t.Errorf("drifted instance 3: %s/%s, want skipped %s", got.Status, got.Reason, remediate.SkipDrift)
	}
	after := s.snapshot(t)
	for _, in := range s.insts {
		n := 0
		for k := 1; k <= 7; k++ {
			if in.id == applyID(k) {
				n = k
			}
		}
		changed := before[in.id] != after[in.id]
		inPlan := n >= 1 && n <= 6 && n != 3
		if changed != inPlan {
			t.Errorf("instance %d: changed %v, in the plan and undrifted %v", n, changed, inPlan)
		}
		if inPlan && after[in.id].HttpTokens != string(types.HttpTokensStateRequired) {
			t.Errorf("instance %d: %+v", n, after[in.id])
		}
	}
	// No waves: one call per planned instance, nothing else.
	if got := len(liveCalls(s.srv)); got != 1+5 {
		t.Errorf("%d instances changed, want 6 (the drift and 5 changes)", got)
	}
}

func TestApplyRefusals(t *testing.T) {
	s := applyStart(t)
	data, err := os.ReadFile(s.plan)
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(s.dir, "edited.json")
	os.WriteFile(edited, []byte(strings.Replace(string(data), `"httpTokens": "required"`, `"httpTokens": "optional"`, 1)), 0o600)
	// A plan sealed as made two days after apply's clock (the clock of the
	// machine that made it was fast): its age cannot be judged.
	future := filepath.Join(s.dir, "future.json")
	fp, err := remediate.ReadPlanFile(s.plan)
	if err != nil {
		t.Fatal(err)
	}
	fp.GeneratedAt = fp.GeneratedAt.Add(50 * time.Hour)
	if err := fp.Seal(); err != nil {
		t.Fatal(err)
	}
	fdata, err := json.Marshal(fp)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(future, fdata, 0o600)
	truncated := filepath.Join(s.dir, "truncated.json")
	os.WriteFile(truncated, data[:len(data)/2], 0o600)
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"edited plan", "", []string{"apply", edited}, "checksum mismatch"},
		{"damaged plan", "", []string{"apply", truncated}, "not a plan file"},
		{"report as plan", "", []string{"apply", s.report}, "not an imdsfleet plan"},
		{"plan too old", "", []string{"apply", s.plan, "--max-plan-age", "1h"}, "more than --max-plan-age"},
		{"plan from the future", "", []string{"apply", future}, "after this machine's clock"},
		{"another account", otherKey, []string{"apply", s.plan}, "these credentials are account " + remOther},
		{"bad waves", "", []string{"apply", s.plan, "--waves", "1,50%"}, "the last step must be 100%"},
		{"bad wave-by", "", []string{"apply", s.plan, "--wave-by", "env=dev"}, "want tag:KEY=VALUE"},
		{"wave-by no instance has", "", []string{"apply", s.plan, "--wave-by", "tag:nosuch=x,nosuch=y"}, "no planned change has tag nosuch"},
		{"max-rejected inf", "", []string{"apply", s.plan, "--max-rejected", "inf"}, "--max-rejected +Inf"},
		{"bad on-breakage", "", []string{"apply", s.plan, "--on-breakage", "ignore"}, "want rollback or stop"},
		{"until beyond", "", []string{"apply", s.plan, "--waves", "1,100%", "--until-wave", "5"}, "the rollout has 2 wave(s)"},
	}
	s.clock.Advance(2 * time.Hour)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("AWS_ACCESS_KEY_ID", tc.env)
			}
			r := s.cli(t, context.Background(), tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if n := len(liveCalls(s.srv)); n != 0 {
		t.Errorf("%d instances changed after refusals", n)
	}
}

func TestApplyStatusCheckFailureWithOnBreakageStop(t *testing.T) {
	// Instance 4 (a canary) fails its status check 20 minutes in: wave 1
	// breaks, and with --on-breakage stop it is left enforced.
	s := applyStartWith(t, nil, []int{4})
	r := s.apply(t, context.Background(), "--on-breakage", "stop")
	if r.code != exitBreakage || !strings.Contains(r.stderr, "left as it is") {
		t.Fatalf("exit %d, want %d saying the wave was left as it is", r.code, exitBreakage)
	}
	for n, want := range map[int]string{1: "required", 4: "required", 2: "optional", 3: "optional"} {
		if got := s.tokens(t, n); got != want {
			t.Errorf("instance %d: HttpTokens %s, want %s", n, got, want)
		}
	}
	w := s.journalState(t).Rollout.Stopped()
	if w == nil || w.N != 1 || w.Stop != remediate.OutcomeStopped || len(w.Breaking) != 1 ||
		w.Breaking[0].InstanceID != applyID(4) || w.Breaking[0].StatusCheckFailed == 0 || w.Breaking[0].RejectedCalls != 0 {
		t.Fatalf("journal: %+v", w)
	}
	if _, err := os.Stat(remediate.RollbackJournalPath(s.journal)); !os.IsNotExist(err) {
		t.Errorf("a rollback journal was written with --on-breakage stop: %v", err)
	}
	if status := s.status(t); status.State != remediate.StatusStopped || status.StoppedHow != remediate.OutcomeStopped {
		t.Errorf("status %+v", status)
	}
}

func TestApplyHoldsOnABakeWithoutData(t *testing.T) {
	// Instance 4 (a canary) publishes no metrics from before the rollout
	// until 3 hours in (it is stopped): wave 1's bake sees nothing of it.
	// Nothing seen is not clean: the rollout is held (exit 7), nothing is
	// rolled back, later waves are not started; once it publishes, the
	// same command re-reads the bake and goes on.
	s := applyStartFleet(t, nil, nil, func(f *fleet.Fleet, start time.Time) {
		for i := range f.Accounts[0].Regions[0].Instances {
			if in := &f.Accounts[0].Regions[0].Instances[i]; in.ID == applyID(4) {
				in.Running = []fleet.Interval{
					{From: fleet.Abs(start.Add(-30 * 24 * time.Hour)), To: fleet.Abs(start.Add(-time.Hour))},
					{From: fleet.Abs(start.Add(3 * time.Hour)), To: fleet.Abs(start.Add(48 * time.Hour))},
				}
			}
		}
	})
	r := s.apply(t, context.Background())
	if r.code != exitNoBakeData {
		t.Fatalf("exit %d, want %d (held: no bake data)", r.code, exitNoBakeData)
	}
	for _, want := range []string{"NO BAKE DATA in wave 1: 1 instance(s)", applyID(4), "rollout held at wave 1"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "BREAKAGE") {
		t.Errorf("no data reported as breakage")
	}
	// Wave 1 stays enforced (nothing says it broke), the rest untouched.
	for n, want := range map[int]string{1: "required", 4: "required", 2: "optional", 3: "optional", 5: "optional", 6: "optional"} {
		if got := s.tokens(t, n); got != want {
			t.Errorf("instance %d: HttpTokens %s, want %s", n, got, want)
		}
	}
	st := s.journalState(t)
	w := st.Rollout.Get(1)
	if w == nil || w.Outcome != remediate.OutcomeNoData || len(w.NoData) != 1 || w.NoData[0].InstanceID != applyID(4) || w.Stop != "" {
		t.Fatalf("journal: wave 1 %+v, want held on no data for instance 4", w)
	}
	if st.Rollout.Get(2) != nil || st.Rollout.Stopped() != nil {
		t.Errorf("journal: wave 2 started or the rollout stopped")
	}
	if _, err := os.Stat(remediate.RollbackJournalPath(s.journal)); !os.IsNotExist(err) {
		t.Errorf("a rollback journal was written: %v", err)
	}
	status := s.status(t)
	if status.State != remediate.StatusHeld || status.Wave != 1 || status.NextWave != 1 || len(status.NoData) != 1 || status.NoData[0].InstanceID != applyID(4) {
		t.Errorf("status %+v", status)
	}
	// Held again while it still publishes nothing, without a call.
	before := len(s.srv.ModifyCalls())
	if r := s.apply(t, context.Background()); r.code != exitNoBakeData {
		t.Errorf("rerun without data: exit %d, want %d", r.code, exitNoBakeData)
	}
	if after := len(s.srv.ModifyCalls()); after != before {
		t.Errorf("rerun made %d calls", after-before)
	}
	// It starts and publishes: the rerun reads the bake again, passes it
	// and goes on, each instance changed once.
	s.clock.Advance(4 * time.Hour)
	if r := s.apply(t, context.Background()); r.code != exitOK {
		t.Fatalf("rerun with data: exit %d, want 0", r.code)
	}
	for n := 1; n <= 6; n++ {
		if got := s.calls()[n]; len(got) != 1 || got[0] != "required" {
			t.Errorf("instance %d: calls %v, want one", n, got)
		}
	}
	if status := s.status(t); status.State != remediate.StatusCompleted || status.WavesPassed != 3 {
		t.Errorf("status %+v", status)
	}
}

func TestApplySimClockFromEnvironment(t *testing.T) {
	// IMDSFLEET_SIM_CLOCK, as 'imdsfleet sim --time-scale' prints it and a
	// shell that sources its output exports it, puts remediate, apply and
	// status on the simulated AWS's clock, as --sim-clock does for apply.
	// Here that clock reads 30 days after the test clock.
	s := applyStart(t)
	ahead := simclock.New(s.clock.Now().Add(30*24*time.Hour), 1).String()
	dry := []string{"apply", s.plan, "--journal", s.journal, "--waves", "1,50%,100%"}

	t.Setenv(envSimClock, ahead)
	r := s.cli(t, context.Background(), dry...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "more than --max-plan-age") || !strings.Contains(r.stderr, "clock: the simulated AWS's (IMDSFLEET_SIM_CLOCK)") {
		t.Errorf("apply with the plan 30 days old on the sim clock: exit %d, want 2 naming the plan's age and the clock", r.code)
	}
	// The flag wins over the environment.
	if r := s.cli(t, context.Background(), append(dry, "--sim-clock", simclock.New(s.clock.Now(), 1).String())...); r.code != exitOK || !strings.Contains(r.stderr, "(--sim-clock)") {
		t.Errorf("apply --sim-clock: exit %d, want 0 on the flag's clock", r.code)
	}
	// remediate stamps the plan on the same clock: apply finds it fresh.
	plan2 := filepath.Join(s.dir, "plan2.json")
	if r := s.cli(t, context.Background(), "remediate", "--report", s.report, "--plan-out", plan2); r.code != exitOK {
		t.Fatalf("remediate --plan-out: exit %d", r.code)
	}
	p, err := remediate.ReadPlanFile(plan2)
	if err != nil {
		t.Fatal(err)
	}
	if p.GeneratedAt.Before(s.clock.Now().Add(30 * 24 * time.Hour)) {
		t.Errorf("plan stamped %s, not on the sim clock (30 days after %s)", p.GeneratedAt, s.clock.Now())
	}
	if r := s.cli(t, context.Background(), "apply", plan2, "--journal", filepath.Join(s.dir, "j2.jsonl")); r.code != exitOK {
		t.Errorf("apply of the plan remediate stamped on the sim clock: exit %d, want 0", r.code)
	}
	// status: a bake that the test clock says is running is over on the
	// sim clock.
	t.Setenv(envSimClock, "")
	ctx, cancel := context.WithCancel(context.Background())
	s.clock.onSleep = func(int) { cancel() }
	if r := s.apply(t, ctx); r.code != exitError {
		t.Fatalf("interrupted run: exit %d", r.code)
	}
	s.clock.onSleep = nil
	if st := s.status(t); st.State != remediate.StatusBaking {
		t.Fatalf("status on the test clock: %s, want baking", st.State)
	}
	t.Setenv(envSimClock, ahead)
	if st := s.status(t); st.State != remediate.StatusBakeOver {
		t.Errorf("status on the sim clock: %s, want bake-over", st.State)
	}
	// A bad value, or a sim clock without the sim's endpoint, is refused
	// before any AWS call.
	t.Setenv(envSimClock, "scale=fast")
	if r := s.cli(t, context.Background(), dry...); r.code != exitUsage || !strings.Contains(r.stderr, "IMDSFLEET_SIM_CLOCK") {
		t.Errorf("bad IMDSFLEET_SIM_CLOCK: exit %d, want 2 naming it", r.code)
	}
	t.Setenv(envSimClock, simclock.New(s.clock.Now(), 1).String())
	t.Setenv("AWS_ENDPOINT_URL", "")
	if r := s.cli(t, context.Background(), dry...); r.code != exitUsage || !strings.Contains(r.stderr, "no --endpoint-url or AWS_ENDPOINT_URL") {
		t.Errorf("sim clock against AWS: exit %d, want 2", r.code)
	}
	if n := len(liveCalls(s.srv)); n != 2 {
		t.Errorf("%d instances changed, want the 2 canaries of the interrupted run", n)
	}
}

func TestApplyWaveByStages(t *testing.T) {
	// Stage api first, then the rest (web), each canaried: api's first
	// instance, the rest of api, web's first, the rest of web.
	s := applyStart(t)
	r := s.cli(t, context.Background(), "apply", s.plan, "--live", "--yes", "--journal", s.journal,
		"--wave-by", "tag:"+remediate.ASGTag+"=api", "--waves", "1,100%")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	ref := func(ns ...int) string {
		var out []string
		for _, n := range ns {
			out = append(out, remediate.InstanceRef(remAcct, "us-east-1", applyID(n)))
		}
		return strings.Join(out, " ")
	}
	want := []struct{ stage, instances string }{
		{remediate.ASGTag + "=api", ref(4)}, {remediate.ASGTag + "=api", ref(5, 6)}, {"other", ref(1)}, {"other", ref(2, 3)},
	}
	st := s.journalState(t)
	if len(st.Rollout.Wave) != len(want) {
		t.Fatalf("journal: %d waves, want %d", len(st.Rollout.Wave), len(want))
	}
	for i, w := range st.Rollout.Wave {
		if w.Stage != want[i].stage || strings.Join(w.Instances, " ") != want[i].instances || w.Outcome != remediate.OutcomePassed {
			t.Errorf("wave %d: stage %q, instances %v, outcome %s; want %q, %s, passed", w.N, w.Stage, w.Instances, w.Outcome, want[i].stage, want[i].instances)
		}
	}
	for n := 1; n <= 6; n++ {
		if got := s.calls()[n]; len(got) != 1 {
			t.Errorf("instance %d: calls %v, want one", n, got)
		}
	}
	if status := s.status(t); status.State != remediate.StatusCompleted || status.WavesPassed != 4 {
		t.Errorf("status %+v", status)
	}
}
