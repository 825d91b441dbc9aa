package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// checkNewVersion checks that template id's version nv is version src
// with only HttpTokens=required (and the hop limit, when hop is not 0)
// changed.
func checkNewVersion(t *testing.T, s *srcSetup, region, id string, src, nv int64, hop int32) {
	t.Helper()
	lt, _ := s.srv.LaunchTemplate(remAcct, region, id)
	var from, to *fleet.LaunchTemplateVersion
	for i := range lt.Versions {
		switch lt.Versions[i].Number {
		case src:
			from = &lt.Versions[i]
		case nv:
			to = &lt.Versions[i]
		}
	}
	if from == nil || to == nil || to.MetadataOptions == nil {
		t.Fatalf("%s: versions %d and %d not both there: %+v", id, src, nv, lt.Versions)
	}
	want := *from.MetadataOptions
	want.HttpTokens = "required"
	if hop != 0 {
		want.HttpPutResponseHopLimit = hop
	}
	if *to.MetadataOptions != want || to.ImageID != from.ImageID || to.InstanceType != from.InstanceType {
		t.Errorf("%s version %d = %+v %s %s, want version %d's data with only %+v", id, nv, *to.MetadataOptions, to.ImageID, to.InstanceType, src, want)
	}
}

// liveSourceCalls counts the accepted live calls per API.
func liveSourceCalls(srv *sim.Server) map[string]int {
	out := map[string]int{}
	for _, c := range srv.SourceCalls() {
		if !c.DryRun && c.Outcome == "ok" && !c.Replayed {
			out[c.API]++
		}
	}
	return out
}

// checkFixed checks the sources after the live run of srcFleet: one new
// version per fixed template version, the right defaults and groups
// moved, nothing else touched.
func checkFixed(t *testing.T, s *srcSetup) {
	t.Helper()
	st := s.state(t)
	want := srcState{
		versions: map[string][]int64{srcTplWeb: {1, 2}, srcTplAPI: {1, 2, 3}, srcTplBatch: {1}, srcTplEKS: {1}, srcTplEU: {1, 2}},
		defaults: map[string]int64{srcTplWeb: 2, srcTplAPI: 2, srcTplBatch: 1, srcTplEKS: 1, srcTplEU: 2},
		groups:   map[string]string{"web": "$Default", "api": "3", "batch": "", "eks-ng-1-abc": "1", "eu": ""},
		acct:     st.acct,
	}
	if st.String() != want.String() {
		t.Errorf("sources after the live run:\n got %s\nwant %s", st, want)
	}
	if d := st.acct["eu-west-1"]; d.HttpTokens != "required" || d.HttpTokensEnforced == "enabled" {
		t.Errorf("eu-west-1 defaults %+v: want HttpTokens required, not enforced", d)
	}
	if d := st.acct["us-east-1"]; d.HttpTokens != "" {
		t.Errorf("us-east-1 defaults %+v: want untouched (a v1-in-use instance relies on v1)", d)
	}
	checkNewVersion(t, s, "us-east-1", srcTplWeb, 1, 2, 0)
	checkNewVersion(t, s, "us-east-1", srcTplAPI, 1, 3, 0)
	checkNewVersion(t, s, "eu-west-1", srcTplEU, 1, 2, 0)
}

// TestRemediateSourcesLive: a live run creates exactly one version per
// fixed template version, differing from its source in HttpTokens only,
// moves exactly the right defaults and groups and the eu-west-1 account
// defaults, and a new scan computes the next launch required for every
// fixed workload; the gated, EKS and Karpenter ones still allow v1.
func TestRemediateSourcesLive(t *testing.T) {
	s := srcStart(t, srcFleet())
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", res.code, res.stdout)
	}
	checkFixed(t, s)
	if calls := liveSourceCalls(s.srv); calls["CreateLaunchTemplateVersion"] != 3 || calls["ModifyLaunchTemplate"] != 2 || calls["UpdateAutoScalingGroup"] != 1 || calls["ModifyInstanceMetadataDefaults"] != 1 {
		t.Errorf("live calls %v", calls)
	}
	// The journal holds each step's previous state, before its call.
	st, warns, err := remediate.ReadJournal(s.journal)
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	for step, check := range map[string]func(r *remediate.SourceRecord) bool{
		"set-default/" + srcTplWeb: func(r *remediate.SourceRecord) bool { return r.Version == 1 && r.NewVersion == 2 },
		"update-group/api":         func(r *remediate.SourceRecord) bool { return r.GroupVersion == "1" && r.NewVersion == 3 },
		"account-defaults": func(r *remediate.SourceRecord) bool {
			return r.PreviousDefaults != nil && r.PreviousDefaults.HttpTokens == ""
		},
	} {
		region := "us-east-1"
		if step == "account-defaults" {
			region = "eu-west-1"
		}
		e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: region, InstanceID: step})
		if e == nil || e.Done == nil || !e.DoneVerified || !check(e.Done.Source) {
			t.Errorf("journal entry of %s: %+v", step, e)
		}
	}

	// A new scan: the fixed workloads' next launch is required.
	again := filepath.Join(s.dir, "again.json")
	s.scan(t, again)
	data, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, data)
	for _, in := range r.Instances {
		want := "optional"
		switch in.InstanceID {
		case "i-00000000000000b01", "i-00000000000000b02", "i-00000000000000b03", "i-00000000000000b08":
			want = "required" // web, api, eu
		case "i-00000000000000b07", "i-00000000000000b09":
			continue // Karpenter: not resolvable; ap-southeast-2: unmanaged
		}
		if in.NextLaunch == nil || in.NextLaunch.HttpTokens != want {
			t.Errorf("%s: next launch %+v, want tokens %s", in.InstanceID, in.NextLaunch, want)
		}
	}
	// Run again: nothing is changed twice.
	before := liveSourceCalls(s.srv)
	res = remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if after := liveSourceCalls(s.srv); res.code != exitOK || fmtMap(after) != fmtMap(before) {
		t.Errorf("second run: exit %d, live calls %v → %v", res.code, before, after)
	}
}

// TestRemediateSourcesKilledResumes: a run whose CreateLaunchTemplateVersion
// took effect but whose answer never came back (the process killed, or
// the connection lost with no retry left) leaves an unsettled intent;
// the resumed run finds the version made (its VersionDescription) and
// reuses it, and never creates a second one.
func TestRemediateSourcesKilledResumes(t *testing.T) {
	s := srcStart(t, srcFleet())
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "CreateLaunchTemplateVersion", Rate: 1, ResetAfterApply: true}}})
	res := remCLI(t, t.Context(), "", false, append(remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal), "--max-attempts", "1")...)
	if res.code == exitOK {
		t.Fatalf("the run with lost answers succeeded:\n%s", res.stdout)
	}
	st, _, err := remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "create-version/" + srcTplWeb + "/1"})
	if e == nil || e.Unsettled == nil || e.Done != nil {
		t.Fatalf("journal entry of the lost create: %+v, want an unsettled call", e)
	}
	if lt, _ := s.srv.LaunchTemplate(remAcct, "us-east-1", srcTplWeb); len(lt.Versions) != 2 {
		t.Fatalf("the lost call did not take effect: %+v", lt.Versions)
	}
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{}})
	res = remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stdout)
	}
	checkFixed(t, s)
	replayed := 0
	for _, c := range s.srv.SourceCalls() {
		if c.API == "CreateLaunchTemplateVersion" && c.Replayed {
			replayed++
		}
	}
	if replayed != 0 {
		t.Errorf("%d replayed creates, want 0 (web's and api's versions, whose answers were lost, found and reused)", replayed)
	}
	st, _, err = remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	for id, nv := range map[string]int64{srcTplWeb: 2, srcTplAPI: 3} {
		e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "create-version/" + id + "/1"})
		if e == nil || e.Done == nil || e.Done.Source.NewVersion != nv || !strings.Contains(e.Done.Message, "reused version") {
			t.Errorf("journal of %s's create after the resume: %+v, want version %d reused", id, e, nv)
		}
	}
}

// TestRemediateSourcesRollback: rollback points the default versions and
// the group back and restores the account defaults; a group changed by
// someone since is skipped with the reason (then restored with --force);
// the versions created stay.
func TestRemediateSourcesRollback(t *testing.T) {
	s := srcStart(t, srcFleet())
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", res.code, res.stdout)
	}
	// Someone moves group api to version 2 since.
	asg := autoscaling.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1"))
	if _, err := asg.UpdateAutoScalingGroup(t.Context(), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("api"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(srcTplAPI), Version: aws.String("2")}}); err != nil {
		t.Fatal(err)
	}
	// A dry run of the rollback changes nothing.
	before := s.state(t)
	res = remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal)...)
	if after := s.state(t); res.code != exitOK || after.String() != before.String() {
		t.Fatalf("rollback dry run: exit %d; sources %s → %s\n%s", res.code, before, after, res.stdout)
	}
	out := filepath.Join(s.dir, "rollback.json")
	res = remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--output", out)...)
	if res.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stdout)
	}
	st := s.state(t)
	want := srcState{
		versions: map[string][]int64{srcTplWeb: {1, 2}, srcTplAPI: {1, 2, 3}, srcTplBatch: {1}, srcTplEKS: {1}, srcTplEU: {1, 2}},
		defaults: map[string]int64{srcTplWeb: 1, srcTplAPI: 2, srcTplBatch: 1, srcTplEKS: 1, srcTplEU: 1},
		groups:   map[string]string{"web": "$Default", "api": "2", "batch": "", "eks-ng-1-abc": "1", "eu": ""},
		acct:     st.acct,
	}
	if st.String() != want.String() {
		t.Errorf("sources after rollback:\n got %s\nwant %s", st, want)
	}
	if d := st.acct["eu-west-1"]; d.HttpTokens != "" {
		t.Errorf("eu-west-1 defaults %+v: want HttpTokens back to no preference", d)
	}
	r := resultsByID(readResults(t, out))
	if g := r["update-group/api"]; g.Status != remediate.StatusSkipped || g.Reason != remediate.SkipChangedSince || !strings.Contains(g.Message, "launches from version 2, not 3") {
		t.Errorf("group api: %+v, want skipped as changed since", g)
	}
	if c := r["create-version/"+srcTplWeb+"/1"]; c.Reason != remediate.SkipVersionKept {
		t.Errorf("created version: %+v, want kept", c)
	}
	// --force restores the group too; what was restored is not touched again.
	calls := liveSourceCalls(s.srv)
	res = remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--force")...)
	if g, _ := s.srv.AutoScalingGroup(remAcct, "us-east-1", "api"); res.code != exitOK || g.LaunchTemplate.Version != "1" {
		t.Errorf("rollback --force: exit %d, group api on version %s, want 1", res.code, g.LaunchTemplate.Version)
	}
	after := liveSourceCalls(s.srv)
	if after["ModifyLaunchTemplate"] != calls["ModifyLaunchTemplate"] || after["ModifyInstanceMetadataDefaults"] != calls["ModifyInstanceMetadataDefaults"] {
		t.Errorf("rollback --force repeated restores: %v → %v", calls, after)
	}
}

// TestApplySourcesPlan: a plan file with source steps, applied, makes
// exactly those changes (and a dry-run apply none).
func TestApplySourcesPlan(t *testing.T) {
	s := srcStart(t, srcFleet())
	planPath := filepath.Join(s.dir, "plan.json")
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--plan-out", planPath)...)
	if res.code != exitOK {
		t.Fatalf("plan: exit %d\n%s", res.code, res.stdout)
	}
	before := s.state(t)
	res = remCLI(t, t.Context(), "", false, remArgs("apply", planPath)...)
	if after := s.state(t); res.code != exitOK || after.String() != before.String() {
		t.Fatalf("apply dry run: exit %d, sources %s → %s\n%s", res.code, before, after, res.stdout)
	}
	if !strings.Contains(res.stdout, "SOURCES: 7 step(s), 5 skipped") {
		t.Errorf("apply does not show the plan's source steps:\n%s", res.stdout)
	}
	res = remCLI(t, t.Context(), "", false, remArgs("apply", planPath, "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("apply: exit %d\n%s", res.code, res.stdout)
	}
	checkFixed(t, s)
}

// TestRemediateSourcesEnforceAndHopLimit: --enforce-account-defaults sets
// HttpTokensEnforced=enabled where nothing would then fail to launch, and
// names what would where something would; --container-hop-limit 2 gives a
// container workload's new version hop limit 2 (and nothing else more).
func TestRemediateSourcesEnforceAndHopLimit(t *testing.T) {
	const tplCtr, tplOld = "lt-00000000000000a06", "lt-00000000000000a07"
	f := srcFleet()
	tpl := func(id, name string) fleet.LaunchTemplate {
		return fleet.LaunchTemplate{ID: id, Name: name, DefaultVersion: 1, CreateTime: fleet.Rel(-100 * 24 * time.Hour),
			Versions: []fleet.LaunchTemplateVersion{{ImageID: srcAMI, InstanceType: "t3.micro", MetadataOptions: srcOptional(), CreateTime: fleet.Rel(-90 * 24 * time.Hour)}}}
	}
	f.Accounts[0].Regions = append(f.Accounts[0].Regions,
		fleet.Region{Name: "us-west-2", Defaults: &fleet.MetadataDefaults{ManagedBy: "account"},
			LaunchTemplates:   []fleet.LaunchTemplate{tpl(tplCtr, "ctr")},
			AutoScalingGroups: []fleet.AutoScalingGroup{{Name: "ctr", LaunchTemplate: &fleet.LaunchTemplateRef{ID: tplCtr}}},
			Instances:         []fleet.Instance{srcInstance("i-00000000000000b10", "ctr", false, map[string]string{"eks:cluster-name": "prod"})},
		},
		fleet.Region{Name: "ap-northeast-1", Defaults: &fleet.MetadataDefaults{HttpTokens: "required", ManagedBy: "account"},
			LaunchTemplates:   []fleet.LaunchTemplate{tpl(tplOld, "old")},
			AutoScalingGroups: []fleet.AutoScalingGroup{{Name: "old", LaunchTemplate: &fleet.LaunchTemplateRef{ID: tplOld}}},
			Instances:         []fleet.Instance{srcInstance("i-00000000000000b11", "old", true, nil)},
		})
	dayStable(t)
	srv, url := simtest.Start(t, f, sim.Options{Seed: 3})
	remEnv(t, url)
	dir := t.TempDir()
	s := &srcSetup{srv: srv, url: url, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "fix.jsonl")}
	res := scanCLI(t, false, "scan", "--regions", "us-east-1,eu-west-1,ap-southeast-2,us-west-2,ap-northeast-1", "--output", s.report)
	if res.code != exitOK {
		t.Fatalf("scan: exit %d\n%s", res.code, res.err)
	}
	planPath := filepath.Join(dir, "plan.json")
	r := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--enforce-account-defaults",
		"--container-hop-limit", "2", "--live", "--yes", "--journal", s.journal, "--plan-out", planPath)...)
	if r.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", r.code, r.stdout)
	}
	for region, want := range map[string]fleet.MetadataDefaults{
		"us-west-2":      {HttpTokens: "required", HttpTokensEnforced: "enabled", ManagedBy: "account"},
		"eu-west-1":      {HttpTokens: "required", HttpTokensEnforced: "enabled", ManagedBy: "account"},
		"ap-northeast-1": {HttpTokens: "required", ManagedBy: "account"},
		"us-east-1":      {ManagedBy: "account"},
	} {
		if got, _ := srv.MetadataDefaults(remAcct, region); got != want {
			t.Errorf("%s defaults %+v, want %+v", region, got, want)
		}
	}
	p := readPlan(t, planPath)
	var fail *remediate.SourceItem
	for i := range p.SourcesSkipped {
		if it := &p.SourcesSkipped[i]; it.Region == "ap-northeast-1" && it.Reason == remediate.SkipWouldFailLaunch {
			fail = it
		}
	}
	if fail == nil || !strings.Contains(fail.Detail, "launch-template/"+tplOld+"/1") || !strings.Contains(fail.Detail, "auto-scaling-group/old") {
		t.Errorf("ap-northeast-1 enforcement skip %+v: want would-fail-launch naming the template version and the group", fail)
	}
	// The container workload's version gets hop limit 2; the others keep theirs.
	checkNewVersion(t, s, "us-west-2", tplCtr, 1, 2, 2)
	checkNewVersion(t, s, "eu-west-1", srcTplEU, 1, 2, 0)
}

// TestRemediateSourcesSIGKILLResumes: a run killed between a
// CreateLaunchTemplateVersion that took effect and its result line (the
// journal ends at the intent) is resumed without a second version.
func TestRemediateSourcesSIGKILLResumes(t *testing.T) {
	s := srcStart(t, srcFleet())
	// The first run, in us-east-1 only, gets as far as web's create (its
	// set-default is denied, so nothing after the create changes)...
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{DenyAPIs: []string{"ModifyLaunchTemplate"}})
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--regions", "us-east-1", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitFailed {
		t.Fatalf("first run: exit %d, want %d (set-default denied)\n%s", res.code, exitFailed, res.stdout)
	}
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{})
	// ... and its journal is cut right after the intent of web's create:
	// what a SIGKILL with that call in flight leaves (every line is
	// written and fsynced before the next step, so the file is a prefix of
	// the full one, and the sim holds what the calls up to there did).
	data, err := os.ReadFile(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	cut := -1
	for i, l := range lines {
		if strings.Contains(l, `"instanceId":"create-version/`+srcTplWeb+`/1"`) && strings.Contains(l, `"kind":"intent"`) {
			cut = i + 1
			break
		}
	}
	if cut < 0 {
		t.Fatalf("no intent of web's create in the journal:\n%s", data)
	}
	if err := os.WriteFile(s.journal, []byte(strings.Join(lines[:cut], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	res = remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stdout)
	}
	checkFixed(t, s)
	st, _, err := remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "create-version/" + srcTplWeb + "/1"})
	if e == nil || e.Done == nil || e.Done.Source.NewVersion != 2 || !e.DoneVerified {
		t.Errorf("journal of web's create after the resume: %+v", e)
	}
}

// TestRemediateSourcesThrottled: with half of every source write answered
// as throttled, the run still makes every change exactly once: throttling
// only slows it down (retried, the create with its same ClientToken).
func TestRemediateSourcesThrottled(t *testing.T) {
	s := srcStart(t, srcFleet())
	faults := []fleet.Fault{
		{API: "CreateLaunchTemplateVersion", Rate: 0.5, Code: "RequestLimitExceeded", Status: 503},
		{API: "ModifyLaunchTemplate", Rate: 0.5, Code: "RequestLimitExceeded", Status: 503},
		{API: "ModifyInstanceMetadataDefaults", Rate: 0.5, Code: "RequestLimitExceeded", Status: 503},
		{API: "UpdateAutoScalingGroup", Rate: 0.5, Code: "Throttling", Status: 400},
	}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		s.srv.SetKnobs(remAcct, r, fleet.Knobs{Faults: faults})
	}
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("throttled run: exit %d\n%s", res.code, res.stdout)
	}
	throttled := 0
	for _, c := range s.srv.SourceCalls() {
		if c.Outcome == "RequestLimitExceeded" || c.Outcome == "Throttling" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no call was throttled: the test checks nothing")
	}
	checkFixed(t, s)
	if calls := liveSourceCalls(s.srv); calls["CreateLaunchTemplateVersion"] != 3 || calls["UpdateAutoScalingGroup"] != 1 {
		t.Errorf("accepted calls %v after %d throttled", calls, throttled)
	}
}

// TestRemediateSourcesRollbackGroupOnOtherTemplate: a group that someone
// moved since to another template, at a version with the same number as
// the one imdsfleet set, is not imdsfleet's change: rollback skips it
// (changed since) instead of moving the group back to the old template.
func TestRemediateSourcesRollbackGroupOnOtherTemplate(t *testing.T) {
	s := srcStart(t, srcFleet())
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", res.code, res.stdout)
	}
	// imdsfleet pinned group api to version 3 of its template. Someone
	// gives template web a version 3 and moves group api onto it.
	cfg := simtest.Config(s.url, remKey, "us-east-1")
	ec := ec2.NewFromConfig(cfg)
	if _, err := ec.CreateLaunchTemplateVersion(t.Context(), &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(srcTplWeb),
		SourceVersion: aws.String("2"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{}}); err != nil {
		t.Fatal(err)
	}
	asg := autoscaling.NewFromConfig(cfg)
	if _, err := asg.UpdateAutoScalingGroup(t.Context(), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("api"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(srcTplWeb), Version: aws.String("3")}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(s.dir, "rollback.json")
	res = remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--output", out)...)
	if res.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stdout)
	}
	if g, _ := s.srv.AutoScalingGroup(remAcct, "us-east-1", "api"); g.LaunchTemplate.ID != srcTplWeb || g.LaunchTemplate.Version != "3" {
		t.Errorf("group api launches from %s version %s after rollback, want %s version 3 as its owner set it", g.LaunchTemplate.ID, g.LaunchTemplate.Version, srcTplWeb)
	}
	r := resultsByID(readResults(t, out))
	if g := r["update-group/api"]; g.Status != remediate.StatusSkipped || g.Reason != remediate.SkipChangedSince || !strings.Contains(g.Message, srcTplWeb) {
		t.Errorf("group api: %+v, want skipped as changed since, naming %s", g, srcTplWeb)
	}
}

// TestRemediateSourcesRollbackDefaultsEnforcedSince: imdsfleet required
// tokens in eu-west-1's account defaults; someone enforced them since
// (HttpTokensEnforced=enabled). Rollback leaves the defaults alone
// (changed-since): putting HttpTokens back to no preference under the
// enforcement would make every launch that relies on the defaults fail.
func TestRemediateSourcesRollbackDefaultsEnforcedSince(t *testing.T) {
	s := srcStart(t, srcFleet())
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", res.code, res.stdout)
	}
	ec := ec2.NewFromConfig(simtest.Config(s.url, remKey, "eu-west-1"))
	if _, err := ec.ModifyInstanceMetadataDefaults(t.Context(), &ec2.ModifyInstanceMetadataDefaultsInput{HttpTokensEnforced: ec2types.DefaultHttpTokensEnforcedStateEnabled}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(s.dir, "rollback.json")
	res = remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--output", out)...)
	if res.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stdout)
	}
	if d, _ := s.srv.MetadataDefaults(remAcct, "eu-west-1"); d.HttpTokens != "required" || d.HttpTokensEnforced != "enabled" {
		t.Errorf("eu-west-1 defaults after rollback %+v, want HttpTokens required and enforced as their owner left them", d)
	}
	for _, r := range readResults(t, out).Results {
		if r.Region == "eu-west-1" && r.Source != nil && r.Source.Action == remediate.ActionSetAccountDefaults &&
			(r.Status != remediate.StatusSkipped || r.Reason != remediate.SkipChangedSince) {
			t.Errorf("eu-west-1 defaults: %+v, want skipped as changed since", r)
		}
	}
}

// TestRemediateSourcesDefaultsWaitForDrift: between the scan and the run,
// someone points eu-west-1's template default at a new version that still
// allows v1. The set-default step is skipped (changed since the scan), so
// group eu still launches v1: --enforce-account-defaults must not enforce
// tokens in that Region, or the group's next launch fails.
func TestRemediateSourcesDefaultsWaitForDrift(t *testing.T) {
	s := srcStart(t, srcFleet())
	ec := ec2.NewFromConfig(simtest.Config(s.url, remKey, "eu-west-1"))
	if _, err := ec.CreateLaunchTemplateVersion(t.Context(), &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(srcTplEU),
		SourceVersion: aws.String("1"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.ModifyLaunchTemplate(t.Context(), &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(srcTplEU), DefaultVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(s.dir, "results.json")
	remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--enforce-account-defaults",
		"--live", "--yes", "--journal", s.journal, "--output", out)...)
	if d, _ := s.srv.MetadataDefaults(remAcct, "eu-west-1"); d.HttpTokensEnforced == "enabled" || d.HttpTokens == "required" {
		t.Errorf("eu-west-1 defaults %+v: want untouched while group eu launches version 2, which allows v1", d)
	}
	seen := false
	for _, d := range readResults(t, out).Results {
		if d.Region == "eu-west-1" && d.InstanceID == "account-defaults" {
			seen = true
			if d.Status != remediate.StatusSkipped || d.Reason != remediate.SkipDependsOn {
				t.Errorf("eu-west-1 defaults step %+v: want skipped as depends-on", d)
			}
		}
	}
	if !seen {
		t.Error("no eu-west-1 account-defaults result")
	}
}

// TestRemediateSourcesReusesEarlierVersion: a run again after a partial
// live run, with a fresh journal and once EC2 has forgotten the client
// tokens, makes no second version of a source version: it finds the
// version the first run made (its VersionDescription, HttpTokens
// required), journals it reused, and points the default and the group at
// it.
func TestRemediateSourcesReusesEarlierVersion(t *testing.T) {
	s := srcStart(t, srcFleet())
	// The first run, in us-east-1 only, creates web's and api's versions
	// and moves api's group; web's set-default is denied.
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{DenyAPIs: []string{"ModifyLaunchTemplate"}})
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--regions", "us-east-1", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitFailed {
		t.Fatalf("first run: exit %d, want %d (set-default denied)\n%s", res.code, exitFailed, res.stdout)
	}
	if lt, _ := s.srv.LaunchTemplate(remAcct, "us-east-1", srcTplWeb); len(lt.Versions) != 2 || lt.DefaultVersion != 1 {
		t.Fatalf("web after the first run: default %d, versions %+v; want version 2 made, default still 1", lt.DefaultVersion, lt.Versions)
	}
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{})
	s.srv.ExpireClientTokens(remAcct, "us-east-1")
	creates := func() int {
		n := 0
		for _, c := range s.srv.SourceCalls() {
			if c.API == "CreateLaunchTemplateVersion" && c.Region == "us-east-1" && !c.DryRun {
				n++
			}
		}
		return n
	}
	before := creates()
	fresh := filepath.Join(s.dir, "fresh.jsonl")
	res = remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", fresh)...)
	if res.code != exitOK {
		t.Fatalf("second run: exit %d\n%s", res.code, res.stdout)
	}
	if n := creates() - before; n != 0 {
		t.Errorf("second run sent %d CreateLaunchTemplateVersion calls in us-east-1, want 0 (versions reused)", n)
	}
	checkFixed(t, s)
	st, _, err := remediate.ReadJournal(fresh)
	if err != nil {
		t.Fatal(err)
	}
	for id, nv := range map[string]int64{srcTplWeb: 2, srcTplAPI: 3} {
		e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "create-version/" + id + "/1"})
		if e == nil || e.Done == nil || e.Done.Source.NewVersion != nv || !strings.Contains(e.Done.Message, "reused version") {
			t.Errorf("journal of %s's create: %+v, want version %d reused", id, e, nv)
		}
	}
	e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "set-default/" + srcTplWeb})
	if e == nil || e.Done == nil || e.Done.Source.NewVersion != 2 {
		t.Errorf("journal of web's set-default: %+v, want it pointed at version 2", e)
	}
}
