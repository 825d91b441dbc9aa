package main

// End-to-end tests of launch source steps inside the waves of `imdsfleet
// apply`: each workload's source steps run in the wave that first holds
// one of its instances, once they are applied (before the bake); the
// account defaults after the last wave's bake; a broken wave's rollback
// undoes its source steps too. The CLI runs against the simulated AWS
// over HTTP on a simulated clock; what the tests check is read back from
// the server (its call records, DescribeLaunchTemplates,
// DescribeAutoScalingGroups, DescribeInstances) and from the journal.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/internal/simclock"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// Three workloads, one per env (the --wave-by stages, so one wave each):
// group a follows lt-a's $Default, group b pins lt-b's version 1 (also its
// default), group c follows lt-c's $Default; two ready instances each;
// the Region's account defaults are the account's to set.
const (
	wsTplA = "lt-00000000000000e01"
	wsTplB = "lt-00000000000000e02"
	wsTplC = "lt-00000000000000e03"
)

var wsWaveBy = []string{"--wave-by", "tag:env=a,env=b,env=c"}

func wsTemplates() map[string]string { return map[string]string{"a": wsTplA, "b": wsTplB, "c": wsTplC} }

func wsInstanceID(env string, n int) string {
	return fmt.Sprintf("i-000000000000%s%03d", map[string]string{"a": "0a", "b": "0b", "c": "0c"}[env], n)
}

// wsFleet builds the fleet; hidden names instances that hide a caller
// starting 10 minutes after IMDSv2 is enforced on them.
func wsFleet(hidden ...string) *fleet.Fleet {
	use1 := fleet.Region{Name: "us-east-1", Defaults: &fleet.MetadataDefaults{ManagedBy: "account"}}
	for _, env := range []string{"a", "b", "c"} {
		id := wsTemplates()[env]
		use1.LaunchTemplates = append(use1.LaunchTemplates, fleet.LaunchTemplate{ID: id, Name: "tpl-" + env, DefaultVersion: 1, CreateTime: fleet.Rel(-100 * 24 * time.Hour),
			Versions: []fleet.LaunchTemplateVersion{{ImageID: srcAMI, InstanceType: "t3.micro", MetadataOptions: srcOptional(), CreateTime: fleet.Rel(-90 * 24 * time.Hour)}}})
		ref := &fleet.LaunchTemplateRef{ID: id, Version: fleet.VersionDefault}
		if env == "b" {
			ref.Version = "1"
		}
		use1.AutoScalingGroups = append(use1.AutoScalingGroups, fleet.AutoScalingGroup{Name: "grp-" + env, LaunchTemplate: ref})
		for n := 1; n <= 2; n++ {
			in := srcInstance(wsInstanceID(env, n), "grp-"+env, false, map[string]string{"env": env})
			if slices.Contains(hidden, in.ID) {
				in.HiddenCaller = &fleet.HiddenCaller{Starts: fleet.HiddenAfterEnforcement, After: fleet.Duration(10 * time.Minute), PerHour: 60}
			}
			use1.Instances = append(use1.Instances, in)
		}
	}
	return &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, Regions: []fleet.Region{use1}}}}
}

// wsStart serves wsFleet on a test clock, scans it and writes a plan of
// instances and sources.
func wsStart(t *testing.T, hidden ...string) *applySetup {
	t.Helper()
	s := wsStartFleet(t, wsFleet(hidden...))
	wsCheckPlan(t, s.plan)
	return s
}

// wsStartFleet serves f on a test clock, scans it and writes a plan of
// instances and sources.
func wsStartFleet(t *testing.T, f *fleet.Fleet) *applySetup {
	t.Helper()
	dayStable(t)
	clock := &testClock{Clock: simtest.NewClock(time.Now().UTC().Truncate(time.Second))}
	gate := simtest.NewGate()
	srv, url := simtest.StartWith(t, f, sim.Options{Seed: 3, Now: clock.Now}, gate.Wrap)
	remEnv(t, url)
	dir := t.TempDir()
	s := &applySetup{remSetup: &remSetup{srv: srv, url: url, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "rollout.jsonl"), gate: gate},
		clock: clock, plan: filepath.Join(dir, "plan.json")}
	var out, errb strings.Builder
	if code := runClock(context.Background(), []string{"scan", "--regions", "us-east-1", "--output", s.report},
		&streams{In: strings.NewReader(""), Out: &out, Err: &errb}, clock); code != exitOK {
		t.Fatalf("scan: exit %d\n%s", code, errb.String())
	}
	if r := s.cli(t, context.Background(), "remediate", "--report", s.report, "--scope", "instances,sources", "--plan-out", s.plan); r.code != exitOK {
		t.Fatalf("remediate --plan-out: exit %d", r.code)
	}
	return s
}

// wsCheckPlan checks the plan's source steps and their wave rules: each
// template's steps with its workload, the account defaults last.
func wsCheckPlan(t *testing.T, path string) {
	t.Helper()
	p := readPlan(t, path)
	got := map[string]string{}
	for _, it := range p.Sources {
		got[it.ID] = it.Wave
	}
	want := map[string]string{"account-defaults": remediate.SourceWaveLast}
	for env, id := range wsTemplates() {
		want["create-version/"+id+"/1"] = remediate.SourceWaveWorkloads
		want["set-default/"+id] = remediate.SourceWaveWorkloads
		if env == "b" {
			want["update-group/grp-b"] = remediate.SourceWaveWorkloads
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan source steps and waves:\n got %v\nwant %v", got, want)
	}
}

// wsWrites counts the server's accepted live launch source writes by
// what they name: a template id, a group name, or "defaults".
func wsWrites(srv *sim.Server) map[string]int {
	out := map[string]int{}
	for _, c := range srv.SourceCalls() {
		if c.DryRun || c.Outcome != "ok" {
			continue
		}
		switch {
		case c.API == "ModifyInstanceMetadataDefaults":
			out["defaults"]++
		case c.Params["AutoScalingGroupName"] != "":
			out[c.Params["AutoScalingGroupName"]]++
		default:
			out[c.Params["LaunchTemplateId"]]++
		}
	}
	return out
}

// wsState is what a user reads back: each template's default and latest
// version (DescribeLaunchTemplates), each group's template version
// (DescribeAutoScalingGroups), each instance's HttpTokens
// (DescribeInstances) and the account defaults.
func wsState(t *testing.T, s *applySetup) map[string]string {
	t.Helper()
	ctx := context.Background()
	cfg := simtest.Config(s.url, remKey, "us-east-1")
	e := ec2.NewFromConfig(cfg)
	out := map[string]string{}
	lts, err := e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range lts.LaunchTemplates {
		out[aws.ToString(lt.LaunchTemplateId)] = fmt.Sprintf("default %d latest %d", aws.ToInt64(lt.DefaultVersionNumber), aws.ToInt64(lt.LatestVersionNumber))
	}
	gs, err := autoscaling.NewFromConfig(cfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"grp-a", "grp-b", "grp-c"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs.AutoScalingGroups {
		out[aws.ToString(g.AutoScalingGroupName)] = aws.ToString(g.LaunchTemplate.Version)
	}
	ins, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ins.Reservations {
		for _, in := range r.Instances {
			out[aws.ToString(in.InstanceId)] = string(in.MetadataOptions.HttpTokens)
		}
	}
	d, err := e.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		t.Fatal(err)
	}
	out["defaults"] = "none"
	if d.AccountLevel != nil && d.AccountLevel.HttpTokens != "" {
		out["defaults"] = string(d.AccountLevel.HttpTokens)
	}
	return out
}

// wsWant is the expected wsState: envs fixed (a new default version 2,
// instances required), the others as they were, and the defaults.
func wsWant(fixed []string, defaults string) map[string]string {
	out := map[string]string{"defaults": defaults}
	for env, id := range wsTemplates() {
		on := slices.Contains(fixed, env)
		out[id] = "default 1 latest 1"
		if on {
			out[id] = "default 2 latest 2"
		}
		out["grp-"+env] = "$Default"
		if env == "b" {
			out["grp-b"] = "1"
			if on {
				out["grp-b"] = "2"
			}
		}
		for n := 1; n <= 2; n++ {
			out[wsInstanceID(env, n)] = "optional"
			if on {
				out[wsInstanceID(env, n)] = "required"
			}
		}
	}
	return out
}

func wsCheckState(t *testing.T, s *applySetup, want map[string]string) {
	t.Helper()
	got := wsState(t, s)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		if got[k] != want[k] {
			t.Errorf("%s: %q, want %q", k, got[k], want[k])
		}
	}
}

// wsSourceLines maps each source step to the waves of its journal lines
// (in order, one per line) in path.
func wsSourceLines(t *testing.T, path, op string) map[string][]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r remediate.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Op == op {
			out[r.InstanceID] = append(out[r.InstanceID], r.Wave)
		}
	}
	return out
}

// wsAllIn reports whether every wave in ws is w.
func wsAllIn(ws []int, w int) bool {
	return len(ws) > 0 && !slices.ContainsFunc(ws, func(n int) bool { return n != w })
}

// TestApplyWaveSourcesRollBackWithTheirWave: wave 2's workload (env=b)
// hides a caller. Wave 1's source steps and instances stay fixed; wave
// 2's instances AND its launch source steps are rolled back (group b on
// version 1 again, lt-b's default 1 again; the version created stays);
// wave 3's sources and instances and the account defaults see no write.
func TestApplyWaveSourcesRollBackWithTheirWave(t *testing.T) {
	s := wsStart(t, wsInstanceID("b", 1))
	args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "1h"}, wsWaveBy...)
	r := s.cli(t, context.Background(), args...)
	if r.code != exitBreakage {
		t.Fatalf("exit %d, want %d (breakage)", r.code, exitBreakage)
	}
	want := wsWant([]string{"a"}, "none")
	want[wsTplB] = "default 1 latest 2" // the version created stays; its users point back
	wsCheckState(t, s, want)

	writes := wsWrites(s.srv)
	if writes[wsTplC] != 0 || writes["grp-c"] != 0 || writes["defaults"] != 0 {
		t.Errorf("writes %v: wave 3's sources (lt-c, grp-c) and the account defaults must see none", writes)
	}
	// lt-a: create + set-default; lt-b: create, set-default, its rollback;
	// grp-b: update, its rollback.
	if writes[wsTplA] != 2 || writes[wsTplB] != 3 || writes["grp-b"] != 2 {
		t.Errorf("writes %v: want lt-a 2, lt-b 3 (create, default, default back), grp-b 2 (update, back)", writes)
	}
	for _, id := range []string{wsInstanceID("c", 1), wsInstanceID("c", 2)} {
		for _, c := range s.srv.ModifyCalls() {
			if c.InstanceID == id && !c.DryRun {
				t.Errorf("wave 3's instance %s was changed", id)
			}
		}
	}

	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	for id, w := range map[string]int{"create-version/" + wsTplA + "/1": 1, "set-default/" + wsTplA: 1,
		"create-version/" + wsTplB + "/1": 2, "set-default/" + wsTplB: 2, "update-group/grp-b": 2} {
		if !wsAllIn(lines[id], w) {
			t.Errorf("journal: %s lines in waves %v, want wave %d", id, lines[id], w)
		}
	}
	if len(lines) != 5 {
		t.Errorf("journal: source steps %v, want only waves 1 and 2's five", lines)
	}
	rb := wsSourceLines(t, remediate.RollbackJournalPath(s.journal), remediate.OpRollbackSource)
	for _, id := range []string{"set-default/" + wsTplB, "update-group/grp-b"} {
		if !wsAllIn(rb[id], 2) {
			t.Errorf("rollback journal: %s lines in waves %v, want restored in wave 2's rollback", id, rb[id])
		}
	}
	if len(rb["set-default/"+wsTplA]) != 0 {
		t.Errorf("rollback journal: wave 1's step restored: %v", rb)
	}
	for _, w := range []string{"rolled back", "set-default/" + wsTplB, "update-group/grp-b"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q", w)
		}
	}

	st := s.status(t)
	got := map[string]string{}
	for _, ss := range st.Sources {
		got[ss.ID] = fmt.Sprintf("%d %s", ss.Wave, ss.State)
	}
	wantSt := map[string]string{
		"create-version/" + wsTplA + "/1": "1 done", "set-default/" + wsTplA: "1 done",
		"create-version/" + wsTplB + "/1": "2 done", "set-default/" + wsTplB: "2 rolled-back", "update-group/grp-b": "2 rolled-back"}
	if fmt.Sprint(got) != fmt.Sprint(wantSt) {
		t.Errorf("status sources:\n got %v\nwant %v", got, wantSt)
	}
	// A rerun changes nothing.
	before := len(s.srv.SourceCalls())
	if r := s.cli(t, context.Background(), args...); r.code != exitBreakage {
		t.Errorf("rerun: exit %d", r.code)
	}
	if after := len(s.srv.SourceCalls()); after != before {
		t.Errorf("rerun made %d source calls", after-before)
	}
}

// TestApplyWaveSourcesUntilWave: --until-wave 1 runs wave 1's source
// steps only; --until-wave 2 then wave 2's; the last run the rest and,
// after wave 3's bake, the account defaults.
func TestApplyWaveSourcesUntilWave(t *testing.T) {
	s := wsStart(t)
	run := func(n int) {
		t.Helper()
		args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m", "--until-wave", fmt.Sprint(n)}, wsWaveBy...)
		if r := s.cli(t, context.Background(), args...); r.code != exitOK {
			t.Fatalf("--until-wave %d: exit %d", n, r.code)
		}
	}
	run(1)
	if w := wsWrites(s.srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2}) {
		t.Errorf("after --until-wave 1: writes %v, want lt-a's two only", w)
	}
	wsCheckState(t, s, wsWant([]string{"a"}, "none"))
	run(2)
	if w := wsWrites(s.srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2, wsTplB: 2, "grp-b": 1}) {
		t.Errorf("after --until-wave 2: writes %v, want lt-a 2, lt-b 2, grp-b 1", w)
	}
	wsCheckState(t, s, wsWant([]string{"a", "b"}, "none"))
	run(3)
	if w := wsWrites(s.srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2, wsTplB: 2, "grp-b": 1, wsTplC: 2, "defaults": 1}) {
		t.Errorf("after --until-wave 3: writes %v", w)
	}
	wsCheckState(t, s, wsWant([]string{"a", "b", "c"}, "required"))
	// The account defaults were set after wave 3's bake ended.
	st := s.journalState(t)
	w3 := st.Rollout.Get(3)
	e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "account-defaults"})
	if w3 == nil || w3.BakeUntil == nil || e == nil || e.Done == nil || e.Done.Time.Before(*w3.BakeUntil) {
		t.Errorf("account defaults %+v, want done after wave 3's bake (%+v)", e, w3)
	}
}

// TestApplyWaveSourcesStatusAgreesWithJournal: after a rollout that
// passes, status gives every source step the wave its journal lines
// carry: a's 1, b's 2, c's and the account defaults 3; the table too.
func TestApplyWaveSourcesStatusAgreesWithJournal(t *testing.T) {
	s := wsStart(t)
	args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m"}, wsWaveBy...)
	if r := s.cli(t, context.Background(), args...); r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	wsCheckState(t, s, wsWant([]string{"a", "b", "c"}, "required"))
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	want := map[string]int{"account-defaults": 3, "update-group/grp-b": 2}
	for env, id := range wsTemplates() {
		n := int(env[0]-'a') + 1
		want["create-version/"+id+"/1"], want["set-default/"+id] = n, n
	}
	st := s.status(t)
	if len(st.Sources) != len(want) || len(lines) != len(want) {
		t.Fatalf("status %d source steps, journal %d, want %d", len(st.Sources), len(lines), len(want))
	}
	table := s.cli(t, context.Background(), "status", "--journal", s.journal)
	for _, ss := range st.Sources {
		if !wsAllIn(lines[ss.ID], ss.Wave) || ss.Wave != want[ss.ID] || ss.State != remediate.SourceDone {
			t.Errorf("%s: status wave %d (%s), journal lines %v, want wave %d done", ss.ID, ss.Wave, ss.State, lines[ss.ID], want[ss.ID])
		}
		if !slices.ContainsFunc(strings.Split(table.stdout, "\n"), func(l string) bool {
			f := strings.Fields(l)
			return len(f) > 3 && f[0] == fmt.Sprint(want[ss.ID]) && f[3] == ss.ID
		}) {
			t.Errorf("status table has no row of %s in wave %d:\n%s", ss.ID, want[ss.ID], table.stdout)
		}
	}
}

// TestApplyWaveSourcesOldPlan: a plan whose source steps name no wave
// (written before they had one) is still applied: a warning, and every
// step in wave 1 (after its instances, as wave 1's own steps).
func TestApplyWaveSourcesOldPlan(t *testing.T) {
	s := wsStart(t)
	p := readPlan(t, s.plan)
	for i := range p.Sources {
		p.Sources[i].Wave = ""
	}
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.plan, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m", "--until-wave", "1"}, wsWaveBy...)
	r := s.cli(t, context.Background(), args...)
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	if !strings.Contains(r.stderr, "written by an older imdsfleet") {
		t.Errorf("no warning about the plan's source steps without waves:\n%s", r.stderr)
	}
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	if len(lines) != 8 {
		t.Errorf("journal source steps %v, want all 8 in wave 1", lines)
	}
	for id, ws := range lines {
		if !wsAllIn(ws, 1) {
			t.Errorf("%s in waves %v, want 1", id, ws)
		}
	}
	want := wsWant([]string{"a"}, "required")
	for _, env := range []string{"b", "c"} {
		want[wsTemplates()[env]] = "default 2 latest 2"
	}
	want["grp-b"] = "2"
	wsCheckState(t, s, want)
}

// TestApplyWaveSourcesKilledMidWaveResumes: apply, a real process on the
// fast simulated clock, is killed with SIGKILL after wave 2's source
// steps (which run once its instances are applied), in wave 3 after one
// of its instances and before its source steps; the same command then
// finishes without a second write of any source step nor a second change
// of any instance (both counted on the server).
func TestApplyWaveSourcesKilledMidWaveResumes(t *testing.T) {
	dayStable(t)
	clock := simclock.New(time.Now().UTC(), killScale)
	gate := simtest.NewGate()
	srv, url := simtest.StartWith(t, wsFleet(), sim.Options{Seed: 3, Now: clock.Now}, gate.Wrap)
	remEnv(t, url)
	dir := t.TempDir()
	s := &killSetup{remSetup: &remSetup{srv: srv, url: url, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "rollout.jsonl"), gate: gate},
		clock: clock, plan: filepath.Join(dir, "plan.json")}
	if r := s.cli(t, "scan", "--regions", "us-east-1", "--output", s.report); r.code != exitOK {
		t.Fatalf("scan: exit %d", r.code)
	}
	if r := s.cli(t, "remediate", "--report", s.report, "--scope", "instances,sources", "--plan-out", s.plan); r.code != exitOK {
		t.Fatalf("remediate: exit %d", r.code)
	}
	s.args = append(remArgs("apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m"), wsWaveBy...)
	// Wave 1: a's two instances, then lt-a's steps; wave 2: b's, then
	// lt-b's and grp-b's; the fifth change is wave 3's first, after wave
	// 2's source steps; the sixth is held: wave 3's steps cannot have run.
	s.killAfter(t, 5)
	if w := wsWrites(srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2, wsTplB: 2, "grp-b": 1}) {
		t.Fatalf("killed with source writes %v, want waves 1 and 2's (lt-a 2, lt-b 2, grp-b 1) and none of wave 3's", w)
	}
	if r := s.cli(t, s.args...); r.code != exitOK {
		t.Fatalf("resumed run: exit %d", r.code)
	}
	if w := wsWrites(srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2, wsTplB: 2, "grp-b": 1, wsTplC: 2, "defaults": 1}) {
		t.Errorf("source writes %v, want each step once (lt-a 2, lt-b 2, grp-b 1, lt-c 2, defaults 1)", w)
	}
	for _, c := range srv.SourceCalls() {
		if c.Replayed {
			t.Errorf("a source call was replayed: %+v", c)
		}
	}
	calls := s.calls()
	for _, env := range []string{"a", "b", "c"} {
		for n := 1; n <= 2; n++ {
			if got := calls[wsInstanceID(env, n)]; len(got) != 1 {
				t.Errorf("%s: accepted calls %v, want one", wsInstanceID(env, n), got)
			}
		}
	}
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	if !wsAllIn(lines["create-version/"+wsTplB+"/1"], 2) || !wsAllIn(lines["account-defaults"], 3) {
		t.Errorf("journal source lines %v", lines)
	}
}

// wsSharedFleet is wsFleet with one launch template, lt-a, for the three
// groups (a and c on its $Default, b pinned to version 1): its steps run
// in wave 1 (env=a), the first wave holding one of its workloads.
func wsSharedFleet(hidden ...string) *fleet.Fleet {
	f := wsFleet(hidden...)
	r := &f.Accounts[0].Regions[0]
	r.LaunchTemplates = r.LaunchTemplates[:1]
	for i := range r.AutoScalingGroups {
		r.AutoScalingGroups[i].LaunchTemplate.ID = wsTplA
	}
	return f
}

// TestApplyWaveSourcesSharedTemplateRollsBack: one template launches the
// workloads of all three waves; its steps run in wave 1. Wave 3's
// workload (env=c, on $Default) hides a caller: wave 3's rollback must
// point lt-a's $Default and group b back too (where imdsfleet's value is
// still in place), or group c's next launches get the very change that
// broke it while the output says wave 3 was rolled back.
func TestApplyWaveSourcesSharedTemplateRollsBack(t *testing.T) {
	s := wsStartFleet(t, wsSharedFleet(wsInstanceID("c", 1)))
	waves := map[string]string{}
	for _, it := range readPlan(t, s.plan).Sources {
		waves[it.ID] = it.Wave
	}
	if fmt.Sprint(waves) != fmt.Sprint(map[string]string{"account-defaults": remediate.SourceWaveLast, "create-version/" + wsTplA + "/1": remediate.SourceWaveWorkloads,
		"set-default/" + wsTplA: remediate.SourceWaveWorkloads, "update-group/grp-b": remediate.SourceWaveWorkloads}) {
		t.Fatalf("plan source steps %v", waves)
	}
	args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "1h"}, wsWaveBy...)
	r := s.cli(t, context.Background(), args...)
	if r.code != exitBreakage {
		t.Fatalf("exit %d, want %d (breakage)", r.code, exitBreakage)
	}
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	for _, id := range []string{"create-version/" + wsTplA + "/1", "set-default/" + wsTplA, "update-group/grp-b"} {
		if !wsAllIn(lines[id], 1) {
			t.Errorf("journal: %s lines in waves %v, want wave 1", id, lines[id])
		}
	}
	got := wsState(t, s)
	want := map[string]string{wsTplA: "default 1 latest 2", "grp-a": "$Default", "grp-b": "1", "grp-c": "$Default", "defaults": "none",
		wsInstanceID("a", 1): "required", wsInstanceID("a", 2): "required", wsInstanceID("b", 1): "required", wsInstanceID("b", 2): "required",
		wsInstanceID("c", 1): "optional", wsInstanceID("c", 2): "optional"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	rb := wsSourceLines(t, remediate.RollbackJournalPath(s.journal), remediate.OpRollbackSource)
	for _, id := range []string{"set-default/" + wsTplA, "update-group/grp-b"} {
		if !wsAllIn(rb[id], 3) {
			t.Errorf("rollback journal: %s lines in waves %v, want restored in wave 3's rollback", id, rb[id])
		}
	}
	st := s.status(t)
	states := map[string]string{}
	for _, ss := range st.Sources {
		states[ss.ID] = fmt.Sprintf("%d %s", ss.Wave, ss.State)
	}
	if fmt.Sprint(states) != fmt.Sprint(map[string]string{"create-version/" + wsTplA + "/1": "1 done", "set-default/" + wsTplA: "1 rolled-back", "update-group/grp-b": "1 rolled-back"}) {
		t.Errorf("status sources %v", states)
	}
	if writes := wsWrites(s.srv); writes["defaults"] != 0 {
		t.Errorf("writes %v: the account defaults must see none", writes)
	}
}

// srcCallHold holds the n-th live ModifyLaunchTemplate call (counting
// from 1): before it reaches the simulated AWS (lost false: the killed
// client's call never happens), or after the server carried it out,
// keeping its answer from the client (lost true: the change is made, the
// client never learns it). reached is closed once the call is held; the
// call is dropped when its client goes away.
type srcCallHold struct {
	mu      sync.Mutex
	n, seen int
	lost    bool
	reached chan struct{}
}

func (h *srcCallHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if err != nil || form.Get("Action") != "ModifyLaunchTemplate" || form.Get("DryRun") == "true" {
			next.ServeHTTP(w, r)
			return
		}
		h.mu.Lock()
		h.seen++
		hold := h.seen == h.n
		h.mu.Unlock()
		if !hold {
			next.ServeHTTP(w, r)
			return
		}
		if h.lost {
			next.ServeHTTP(httptest.NewRecorder(), r)
		}
		close(h.reached)
		<-r.Context().Done()
	})
}

// TestApplyWaveSourcesKilledDuringRollbackFinishesIt: wave 2 (env=b)
// breaks; its rollback points group b back (UpdateAutoScalingGroup), then
// apply, a real process, is killed with SIGKILL while the call pointing
// lt-b's $Default back is held: never sent, or carried out with its
// answer lost. The same command then finishes the rollback: lt-b's
// default and group b back to version 1 (version 2 kept), each source
// restored once on the server (no second UpdateAutoScalingGroup, no
// second ModifyLaunchTemplate when the first took effect), wave 2's
// instances restored once, wave 3 and the account defaults untouched; the
// journal records the stop once; status says rolled back; a third run
// calls nothing.
func TestApplyWaveSourcesKilledDuringRollbackFinishesIt(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("answer lost %v", lost), func(t *testing.T) {
			dayStable(t)
			clock := simclock.New(time.Now().UTC(), killScale)
			gate := simtest.NewGate()
			// ModifyLaunchTemplate: lt-a's default (wave 1), lt-b's (wave
			// 2), lt-b's back (wave 2's rollback, after group b's).
			hold := &srcCallHold{n: 3, lost: lost, reached: make(chan struct{})}
			srv, url := simtest.StartWith(t, wsFleet(wsInstanceID("b", 1)), sim.Options{Seed: 3, Now: clock.Now},
				func(next http.Handler) http.Handler { return gate.Wrap(hold.wrap(next)) })
			remEnv(t, url)
			dir := t.TempDir()
			s := &killSetup{remSetup: &remSetup{srv: srv, url: url, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "rollout.jsonl"), gate: gate},
				clock: clock, plan: filepath.Join(dir, "plan.json")}
			if r := s.cli(t, "scan", "--regions", "us-east-1", "--output", s.report); r.code != exitOK {
				t.Fatalf("scan: exit %d", r.code)
			}
			if r := s.cli(t, "remediate", "--report", s.report, "--scope", "instances,sources", "--plan-out", s.plan); r.code != exitOK {
				t.Fatalf("remediate: exit %d", r.code)
			}
			wsCheckPlan(t, s.plan)
			s.args = append(remArgs("apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "1h"), wsWaveBy...)
			s.killAt(t, hold.reached, "wave 2's rollback sent lt-b's default back")
			// Nothing was restored on the instances yet: the sources go first.
			calls := s.calls()
			for _, id := range []string{wsInstanceID("b", 1), wsInstanceID("b", 2)} {
				if got := fmt.Sprint(calls[id]); got != "[required]" {
					t.Fatalf("%s: accepted calls %s at the kill, want [required] (sources roll back first)", id, got)
				}
			}
			if lines := rolloutLines(t, s.journal); lines["baked 2"] != 1 || lines["stop 2"] != 0 {
				t.Fatalf("journal %v: want wave 2's breakage and no stop line yet", lines)
			}
			rbPath := remediate.RollbackJournalPath(s.journal)
			rb, _, err := remediate.ReadJournal(rbPath)
			if err != nil {
				t.Fatal(err)
			}
			key := func(id string) remediate.Key {
				return remediate.Key{Op: remediate.OpRollbackSource, Account: remAcct, Region: "us-east-1", InstanceID: id}
			}
			if e := rb.Get(key("update-group/grp-b")); e == nil || e.Done == nil {
				t.Fatalf("rollback journal at the kill: group b's restore %+v, want done", e)
			}
			if e := rb.Get(key("set-default/" + wsTplB)); e == nil || e.Done != nil || e.Unsettled == nil {
				t.Fatalf("rollback journal at the kill: lt-b's restore %+v, want sent, no result", e)
			}

			r := s.cli(t, s.args...)
			if r.code != exitBreakage || !strings.Contains(r.stderr, "wave 2 rolled back") {
				t.Fatalf("rerun: exit %d, want %d with wave 2 rolled back", r.code, exitBreakage)
			}
			as := &applySetup{remSetup: s.remSetup}
			want := wsWant([]string{"a"}, "none")
			want[wsTplB] = "default 1 latest 2"
			wsCheckState(t, as, want)
			// Each source step written once forward and restored at most
			// once: group b twice (update, back), lt-b three times
			// (create, default, default back), lt-a twice.
			if w := wsWrites(srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2, wsTplB: 3, "grp-b": 2}) {
				t.Errorf("source writes %v, want lt-a 2, lt-b 3 (create, default, default back once), grp-b 2 (update, back once)", w)
			}
			calls = s.calls()
			for _, env := range []string{"a", "b", "c"} {
				for n := 1; n <= 2; n++ {
					want := map[string]string{"a": "[required]", "b": "[required optional]", "c": "[]"}[env]
					if got := "[" + strings.Join(calls[wsInstanceID(env, n)], " ") + "]"; got != want {
						t.Errorf("%s: accepted calls %s, want %s", wsInstanceID(env, n), got, want)
					}
				}
			}
			if lines := rolloutLines(t, s.journal); lines["stop 2"] != 1 || lines["wave 3"] != 0 {
				t.Errorf("journal %v: want one stop line for wave 2 and no wave 3", lines)
			}
			st := s.statusJSON(t)
			got := map[string]string{}
			for _, ss := range st.Sources {
				got[ss.ID] = fmt.Sprintf("%d %s", ss.Wave, ss.State)
			}
			wantSt := map[string]string{
				"create-version/" + wsTplA + "/1": "1 done", "set-default/" + wsTplA: "1 done",
				"create-version/" + wsTplB + "/1": "2 done", "set-default/" + wsTplB: "2 rolled-back", "update-group/grp-b": "2 rolled-back"}
			if fmt.Sprint(got) != fmt.Sprint(wantSt) {
				t.Errorf("status sources:\n got %v\nwant %v", got, wantSt)
			}
			if st.State != remediate.StatusStopped || st.StoppedHow != remediate.OutcomeRolledBack {
				t.Errorf("status %s, stopped %q: want stopped, rolled back", st.State, st.StoppedHow)
			}
			// Once more: nothing to do, nothing called.
			before, beforeI := len(srv.SourceCalls()), s.liveCount()
			if r := s.cli(t, s.args...); r.code != exitBreakage {
				t.Errorf("third run: exit %d", r.code)
			}
			if n, m := len(srv.SourceCalls())-before, s.liveCount()-beforeI; n != 0 || m != 0 {
				t.Errorf("third run made %d source and %d instance calls", n, m)
			}
		})
	}
}

// TestApplyWaveSourcesCanaryThenWaveBreaks: with --waves 1,100% every
// template's steps run in the canary wave (it holds one instance of each
// workload). The canaries pass; wave 2, which holds the other instance of
// each workload, breaks on b's second instance. Its rollback restores
// wave 2's instances and points the users of its workloads' templates
// back (version 2 kept), so that no workload of the broken wave goes on
// launching with IMDSv2 required; the canaries stay fixed.
func TestApplyWaveSourcesCanaryThenWaveBreaks(t *testing.T) {
	s := wsStart(t, wsInstanceID("b", 2))
	args := []string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "1h", "--waves", "1,100%"}
	r := s.cli(t, context.Background(), args...)
	if r.code != exitBreakage {
		t.Fatalf("exit %d, want %d (breakage)", r.code, exitBreakage)
	}
	waves := waveIDs(t, s.journal)
	if fmt.Sprint(waves) != fmt.Sprint(map[int][]string{1: {wsInstanceID("a", 1), wsInstanceID("b", 1), wsInstanceID("c", 1)}, 2: {wsInstanceID("a", 2), wsInstanceID("b", 2), wsInstanceID("c", 2)}}) {
		t.Fatalf("waves %v, want the canaries a1 b1 c1, then a2 b2 c2", waves)
	}
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	if len(lines) != 7 || !wsAllIn(lines["update-group/grp-b"], 1) || !wsAllIn(lines["set-default/"+wsTplC], 1) {
		t.Errorf("journal source lines %v, want the 7 template steps in the canary wave", lines)
	}
	want := wsWant([]string{"a", "b", "c"}, "none")
	for _, env := range []string{"a", "b", "c"} {
		want[wsTemplates()[env]] = "default 1 latest 2"
		want[wsInstanceID(env, 2)] = "optional"
	}
	want["grp-b"] = "1"
	wsCheckState(t, s, want)
	if writes := wsWrites(s.srv); writes["defaults"] != 0 {
		t.Errorf("writes %v: the account defaults must see none", writes)
	}
}

// TestApplyWaveSourcesWaitForTheirInstances: a wave's launch source steps
// run only once its instance changes applied. With
// ModifyInstanceMetadataOptions denied in the Region, wave 1's two
// changes are denied: no launch source write reaches the server (lt-a's
// default is not moved to the IMDSv2 version without its canary), the
// output says why in one line, apply exits 5. Once the deny is lifted,
// the same command (same journal) applies the instances and runs every
// step once.
func TestApplyWaveSourcesWaitForTheirInstances(t *testing.T) {
	s := wsStart(t)
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{DenyModify: true})
	args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m"}, wsWaveBy...)
	r := s.cli(t, context.Background(), args...)
	if r.code != exitFailed {
		t.Fatalf("denied run: exit %d, want %d\n%s", r.code, exitFailed, r.stderr)
	}
	if w := wsWrites(s.srv); len(w) != 0 {
		t.Errorf("denied run: launch source writes %v, want none", w)
	}
	const line = "wave 1: launch source steps not run (2): its instance changes did not all apply; re-run apply once they can"
	if !strings.Contains(r.stdout+r.stderr, line) {
		t.Errorf("output lacks %q:\n%s\n%s", line, r.stdout, r.stderr)
	}
	if lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource); len(lines) != 0 {
		t.Errorf("journal: source steps %v, want none", lines)
	}
	wsCheckState(t, s, wsWant(nil, "none"))

	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{})
	if r := s.cli(t, context.Background(), args...); r.code != exitOK {
		t.Fatalf("rerun after the deny is lifted: exit %d\n%s", r.code, r.stderr)
	}
	if w := wsWrites(s.srv); fmt.Sprint(w) != fmt.Sprint(map[string]int{wsTplA: 2, wsTplB: 2, "grp-b": 1, wsTplC: 2, "defaults": 1}) {
		t.Errorf("rerun: source writes %v, want each step once (lt-a 2, lt-b 2, grp-b 1, lt-c 2, defaults 1)", w)
	}
	got := wsState(t, s)
	for env := range wsTemplates() {
		for n := 1; n <= 2; n++ {
			if id := wsInstanceID(env, n); got[id] != "required" {
				t.Errorf("%s: %q after the rerun, want required", id, got[id])
			}
		}
	}
	if lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource); !wsAllIn(lines["set-default/"+wsTplA], 1) {
		t.Errorf("journal: lt-a's default in waves %v, want wave 1", lines["set-default/"+wsTplA])
	}
}

// TestApplyWaveSourcesFailedStepsSaySo: every CreateLaunchTemplateVersion
// fails (InternalError, one attempt): the waves pass, but the rollout does
// not say COMPLETED: the table, the exit code (5) and status (table and
// JSON) say the launch source steps failed. Once the fault is gone, a
// rerun retries them and the rollout is completed.
func TestApplyWaveSourcesFailedStepsSaySo(t *testing.T) {
	s := wsStart(t)
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "CreateLaunchTemplateVersion", Rate: 1, Code: "InternalError", Status: 500}}})
	args := append([]string{"apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m", "--max-attempts", "1"}, wsWaveBy...)
	r := s.cli(t, context.Background(), args...)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitFailed, r.stderr)
	}
	const head = "COMPLETED-WITH-FAILURES: 3 launch source step(s) failed; re-run apply to retry them"
	if !strings.Contains(r.stdout, head) {
		t.Errorf("rollout table lacks %q:\n%s", head, r.stdout)
	}
	var raw map[string]any
	js := s.cli(t, context.Background(), "status", "--journal", s.journal, "--format", "json")
	if err := json.Unmarshal([]byte(js.stdout), &raw); err != nil {
		t.Fatalf("status JSON: %v", err)
	}
	if raw["state"] != "completed-with-failures" || raw["sourceStepsFailed"] != float64(3) {
		t.Errorf("status JSON: state %v, sourceStepsFailed %v; want completed-with-failures, 3", raw["state"], raw["sourceStepsFailed"])
	}
	table := s.cli(t, context.Background(), "status", "--journal", s.journal)
	if !strings.Contains(table.stdout, "COMPLETED-WITH-FAILURES") || !strings.Contains(table.stdout, "3 launch source step(s) failed") {
		t.Errorf("status table:\n%s", table.stdout)
	}

	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{}})
	if r := s.cli(t, context.Background(), args...); r.code != exitOK {
		t.Fatalf("rerun without the fault: exit %d\n%s", r.code, r.stderr)
	}
	if st := s.status(t); st.State != remediate.StatusCompleted {
		t.Errorf("status after the rerun: %s, want completed", st.State)
	}
}
