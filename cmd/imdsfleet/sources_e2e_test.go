package main

// End-to-end tests of `imdsfleet remediate --scope sources`: a real scan
// of the simulated AWS writes the report, remediate plans and carries out
// the launch source changes through the real SDK over HTTP, and the tests
// check the plan, the journal, and the simulated AWS's templates, groups
// and account defaults.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
)

const (
	srcTplWeb   = "lt-00000000000000a01"
	srcTplAPI   = "lt-00000000000000a02"
	srcTplBatch = "lt-00000000000000a03"
	srcTplEKS   = "lt-00000000000000a04"
	srcTplEU    = "lt-00000000000000a05"
	srcAMI      = "ami-0000000000000000a"
)

func srcOptional() *fleet.LaunchMetadataOptions {
	return &fleet.LaunchMetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}
}

// srcInstance is a running instance launched 20 days ago: ready unless
// v1 says it makes IMDSv1 calls.
func srcInstance(id, group string, v1 bool, tags map[string]string) fleet.Instance {
	in := fleet.Instance{ID: id, State: "running", ImageID: srcAMI, LaunchTime: fleet.Rel(-20 * 24 * time.Hour), AutoScalingGroup: group,
		Tags: tags, MetadataOptions: optional(1)}
	if v1 {
		in.Usage = []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: fleet.Rel(-10 * 24 * time.Hour), To: fleet.Rel(0), PerHour: 5}}
	}
	return in
}

// srcFleet: in us-east-1, group web follows lt-web's $Default (ready),
// group api is pinned to lt-api version 1 while the default is version 2
// (ready), group batch follows lt-batch's $Default and one of its
// instances is v1-in-use (the gate), an EKS managed node group's group and
// a Karpenter node pool; the defaults there are held by the batch
// instance. In eu-west-1 one ready group on $Default and defaults to set.
// In ap-southeast-2 the defaults are managed by a declarative policy.
func srcFleet() *fleet.Fleet {
	tpl := func(id, name string, def int64, versions ...*fleet.LaunchMetadataOptions) fleet.LaunchTemplate {
		lt := fleet.LaunchTemplate{ID: id, Name: name, DefaultVersion: def, CreateTime: fleet.Rel(-100 * 24 * time.Hour)}
		for _, o := range versions {
			lt.Versions = append(lt.Versions, fleet.LaunchTemplateVersion{ImageID: srcAMI, InstanceType: "t3.micro", MetadataOptions: o, CreateTime: fleet.Rel(-90 * 24 * time.Hour)})
		}
		return lt
	}
	required := &fleet.LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}
	eks := map[string]string{"eks:cluster-name": "prod", "eks:nodegroup-name": "ng-1"}
	use1 := fleet.Region{Name: "us-east-1",
		Defaults: &fleet.MetadataDefaults{ManagedBy: "account"},
		LaunchTemplates: []fleet.LaunchTemplate{
			tpl(srcTplWeb, "web", 1, srcOptional()),
			tpl(srcTplAPI, "api", 2, srcOptional(), required),
			tpl(srcTplBatch, "batch", 1, srcOptional()),
			tpl(srcTplEKS, "eks-ng-1", 1, srcOptional()),
		},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: "web", LaunchTemplate: &fleet.LaunchTemplateRef{ID: srcTplWeb, Version: fleet.VersionDefault}},
			{Name: "api", LaunchTemplate: &fleet.LaunchTemplateRef{ID: srcTplAPI, Version: "1"}},
			{Name: "batch", LaunchTemplate: &fleet.LaunchTemplateRef{ID: srcTplBatch}},
			{Name: "eks-ng-1-abc", LaunchTemplate: &fleet.LaunchTemplateRef{ID: srcTplEKS, Version: "1"}},
		},
		Instances: []fleet.Instance{
			srcInstance("i-00000000000000b01", "web", false, nil),
			srcInstance("i-00000000000000b02", "web", false, nil),
			srcInstance("i-00000000000000b03", "api", false, nil),
			srcInstance("i-00000000000000b04", "batch", false, nil),
			srcInstance("i-00000000000000b05", "batch", true, nil),
			srcInstance("i-00000000000000b06", "eks-ng-1-abc", false, eks),
			srcInstance("i-00000000000000b07", "", false, map[string]string{"karpenter.sh/nodepool": "default", "karpenter.k8s.aws/ec2nodeclass": "default"}),
		},
	}
	euw1 := fleet.Region{Name: "eu-west-1",
		Defaults:          &fleet.MetadataDefaults{ManagedBy: "account"},
		LaunchTemplates:   []fleet.LaunchTemplate{tpl(srcTplEU, "eu-app", 1, srcOptional())},
		AutoScalingGroups: []fleet.AutoScalingGroup{{Name: "eu", LaunchTemplate: &fleet.LaunchTemplateRef{ID: srcTplEU}}},
		Instances:         []fleet.Instance{srcInstance("i-00000000000000b08", "eu", false, nil)},
	}
	apse2 := fleet.Region{Name: "ap-southeast-2",
		Defaults:  &fleet.MetadataDefaults{HttpTokens: "optional", ManagedBy: "declarative-policy", ManagedExceptionMessage: "ask the platform team"},
		Instances: []fleet.Instance{srcInstance("i-00000000000000b09", "", false, nil)},
	}
	return &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, Regions: []fleet.Region{use1, euw1, apse2}}}}
}

type srcSetup struct {
	srv     *sim.Server
	url     string
	dir     string
	report  string
	journal string
}

// srcStart serves f, scans it into a report and returns the setup.
func srcStart(t *testing.T, f *fleet.Fleet) *srcSetup {
	t.Helper()
	dayStable(t)
	srv, url := simtest.Start(t, f, sim.Options{Seed: 3})
	remEnv(t, url)
	dir := t.TempDir()
	s := &srcSetup{srv: srv, url: url, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "fix.jsonl")}
	s.scan(t, s.report)
	return s
}

// scan writes a new report of the simulated AWS to path.
func (s *srcSetup) scan(t *testing.T, path string) {
	t.Helper()
	res := scanCLI(t, false, "scan", "--regions", "us-east-1,eu-west-1,ap-southeast-2", "--output", path)
	if res.code != exitOK {
		t.Fatalf("scan: exit %d\n%s", res.code, res.err)
	}
}

func readPlan(t *testing.T, path string) *remediate.Plan {
	t.Helper()
	p, err := remediate.ReadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sourceIDs(items []remediate.SourceItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Region+" "+it.ID+" "+string(it.Action)+it.Reason)
	}
	return out
}

// TestRemediateSourcesPlan: the plan of --scope sources from a real scan:
// exactly the steps the rules give, in order, and every skip with its
// reason and the change to make instead; the instance plan warns where a
// source stays unfixed; the plan file carries it all.
func TestRemediateSourcesPlan(t *testing.T) {
	s := srcStart(t, srcFleet())
	planPath := filepath.Join(s.dir, "plan.json")
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "instances,sources", "--plan-out", planPath)...)
	if res.code == exitUsage {
		t.Fatalf("exit %d", res.code)
	}
	p := readPlan(t, planPath)
	want := []string{
		"us-east-1 create-version/" + srcTplAPI + "/1 create-template-version",
		"us-east-1 update-group/api update-group",
		"us-east-1 create-version/" + srcTplWeb + "/1 create-template-version",
		"us-east-1 set-default/" + srcTplWeb + " set-default-version",
		"eu-west-1 create-version/" + srcTplEU + "/1 create-template-version",
		"eu-west-1 set-default/" + srcTplEU + " set-default-version",
		"eu-west-1 account-defaults set-account-defaults",
	}
	got := sourceIDs(p.Sources)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("source steps:\n got %q\nwant %q", got, want)
	}
	skips := map[string]remediate.SourceItem{}
	for _, it := range p.SourcesSkipped {
		skips[it.Region+" "+it.ID] = it
	}
	for k, want := range map[string]struct{ reason, says string }{
		"us-east-1 launch-template/" + srcTplBatch + "/1":                {remediate.SkipGate, "i-00000000000000b05 (v1-in-use)"},
		"us-east-1 launch-template/" + srcTplEKS + "/1":                  {remediate.SkipEKSNodegroup, "aws eks update-nodegroup-version --cluster-name prod --nodegroup-name ng-1"},
		"us-east-1 karpenter-nodepool/" + remAcct + "/us-east-1/default": {remediate.SkipKarpenter, "spec.metadataOptions.httpTokens: required in EC2NodeClass default"},
		"us-east-1 account-defaults":                                     {remediate.SkipV1ReliedOn, "i-00000000000000b05 (v1-in-use)"},
		"ap-southeast-2 account-defaults":                                {remediate.SkipDeclarativePolicy, "ask the platform team"},
	} {
		it, ok := skips[k]
		msg := it.Detail + " " + strings.Join(it.Blockers, " ")
		if !ok || it.Reason != want.reason || !strings.Contains(msg, want.says) {
			t.Errorf("skip %s = %+v, want reason %s saying %q", k, it, want.reason, want.says)
		}
	}
	for _, it := range p.Sources {
		switch it.Action {
		case remediate.ActionCreateVersion:
			if it.Change != (remediate.Change{HttpTokens: "required"}) {
				t.Errorf("%s sets %s, want HttpTokens=required only", it.ID, it.Change)
			}
		case remediate.ActionUpdateGroup:
			if !it.NoDryRun || !strings.Contains(it.Detail, "no dry run") {
				t.Errorf("%s: the plan must say UpdateAutoScalingGroup has no dry run: %+v", it.ID, it)
			}
		}
	}
	// api's copy of version 1 (pinned by its group; version 2 is $Latest
	// and $Default) becomes the template's $Latest: the step says so, in
	// the plan file and the table; web copies its $Latest, no warning.
	latestWarn := "WARNING: the new version becomes " + srcTplAPI + "'s $Latest: anything launching it with $Latest (a script, an EC2 Fleet, a Spot Fleet: the scan cannot see them) gets version 1's data with IMDSv2 required instead of version 2's"
	for _, it := range p.Sources {
		if it.Action != remediate.ActionCreateVersion {
			continue
		}
		if got, want := strings.Contains(it.Detail, "WARNING"), it.TemplateID == srcTplAPI; got != want {
			t.Errorf("%s detail %q: $Latest warning %v, want %v", it.ID, it.Detail, got, want)
		}
		if it.TemplateID == srcTplAPI && !strings.Contains(it.Detail, latestWarn) {
			t.Errorf("%s detail %q, want it to contain %q", it.ID, it.Detail, latestWarn)
		}
	}
	if !strings.Contains(res.stdout, "WARNING: the new version becomes "+srcTplAPI+"'s $Latest") {
		t.Errorf("table output lacks the $Latest warning of %s:\n%s", srcTplAPI, res.stdout)
	}
	// The batch instances' source stays unfixed: the instance plan warns.
	warned := map[string]bool{}
	for _, list := range [][]remediate.Item{p.Changes, p.Skipped} {
		for _, it := range list {
			for _, w := range it.Warnings {
				if strings.HasPrefix(w, "next-launch-v1") {
					warned[it.InstanceID] = true
				}
			}
		}
	}
	if !warned["i-00000000000000b04"] || warned["i-00000000000000b01"] {
		t.Errorf("next-launch-v1 warnings on %v: want the batch instances, not web's (its source is fixed)", warned)
	}
	// The change to make instead is shown whole, not cut like other cells.
	for _, w := range []string{"SOURCES: 7 step(s)", "SOURCES SKIPPED", "WARNINGS:", "Karpenter replaces its nodes itself"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("table output lacks %q:\n%s", w, res.stdout)
		}
	}

	// --force overrides the gate, and names what it overrode.
	res = remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--force", "--plan-out", planPath)...)
	p = readPlan(t, planPath)
	var batch *remediate.SourceItem
	for i := range p.Sources {
		if p.Sources[i].ID == "create-version/"+srcTplBatch+"/1" {
			batch = &p.Sources[i]
		}
	}
	if batch == nil || !slices.Contains(batch.Blockers, "i-00000000000000b05 (v1-in-use)") || len(p.Changes)+len(p.Skipped) != 0 {
		t.Errorf("--force --scope sources: batch step %+v; %d instance items (want none: sources only)", batch, len(p.Changes)+len(p.Skipped))
	}
}

// TestRemediateScopeFlag: bad --scope values and flags that need sources
// are one clear line, exit 2.
func TestRemediateScopeFlag(t *testing.T) {
	s := srcStart(t, srcFleet())
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--scope", "templates"}, `--scope "templates": want instances, sources or instances,sources`},
		{[]string{"--scope", ""}, "--scope"},
		{[]string{"--enforce-account-defaults"}, "--enforce-account-defaults sets the account defaults, a launch source: add --scope sources"},
		{[]string{"--force"}, "--force only confirms --include v1-in-use"},
	} {
		res := remCLI(t, t.Context(), "", false, remArgs(append([]string{"remediate", "--report", s.report}, c.args...)...)...)
		if res.code != exitUsage || !strings.Contains(res.stderr, c.says) || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line saying %q", c.args, res.code, res.stderr, c.says)
		}
	}
}

// srcState is what the simulated AWS holds for the fleet's sources.
type srcState struct {
	versions map[string][]int64 // template → version numbers
	defaults map[string]int64   // template → default version
	groups   map[string]string  // group → template version it names
	acct     map[string]fleet.MetadataDefaults
}

func (s *srcSetup) state(t *testing.T) srcState {
	t.Helper()
	st := srcState{versions: map[string][]int64{}, defaults: map[string]int64{}, groups: map[string]string{}, acct: map[string]fleet.MetadataDefaults{}}
	for _, c := range []struct{ region, id string }{{"us-east-1", srcTplWeb}, {"us-east-1", srcTplAPI}, {"us-east-1", srcTplBatch}, {"us-east-1", srcTplEKS}, {"eu-west-1", srcTplEU}} {
		lt, ok := s.srv.LaunchTemplate(remAcct, c.region, c.id)
		if !ok {
			t.Fatalf("template %s missing from the sim", c.id)
		}
		for _, v := range lt.Versions {
			st.versions[c.id] = append(st.versions[c.id], v.Number)
		}
		st.defaults[c.id] = lt.DefaultVersion
	}
	for _, c := range []struct{ region, name string }{{"us-east-1", "web"}, {"us-east-1", "api"}, {"us-east-1", "batch"}, {"us-east-1", "eks-ng-1-abc"}, {"eu-west-1", "eu"}} {
		g, ok := s.srv.AutoScalingGroup(remAcct, c.region, c.name)
		if !ok || g.LaunchTemplate == nil {
			t.Fatalf("group %s missing from the sim", c.name)
		}
		st.groups[c.name] = g.LaunchTemplate.Version
	}
	for _, r := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		d, _ := s.srv.MetadataDefaults(remAcct, r)
		st.acct[r] = d
	}
	return st
}

func (a srcState) String() string {
	b, _ := json.Marshal(map[string]any{"versions": a.versions, "defaults": a.defaults, "groups": a.groups, "acct": a.acct})
	return string(b)
}

// TestRemediateSourcesDryRun: a dry run sends DryRun=true on every EC2
// source call, sends no UpdateAutoScalingGroup at all (it has no dry run),
// and changes nothing (counted and read on the server).
func TestRemediateSourcesDryRun(t *testing.T) {
	s := srcStart(t, srcFleet())
	before := s.state(t)
	out := filepath.Join(s.dir, "results.json")
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--output", out)...)
	if res.code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", res.code, res.stdout)
	}
	calls := map[string]int{}
	for _, c := range s.srv.SourceCalls() {
		if !c.DryRun || c.Outcome != "DryRunOperation" {
			t.Errorf("%s %s/%s sent without DryRun=true (outcome %s)", c.API, c.Account, c.Region, c.Outcome)
		}
		calls[c.API]++
	}
	if calls["CreateLaunchTemplateVersion"] != 3 || calls["ModifyLaunchTemplate"] != 2 || calls["ModifyInstanceMetadataDefaults"] != 1 || calls["UpdateAutoScalingGroup"] != 0 {
		t.Errorf("source calls %v: want 3 CreateLaunchTemplateVersion, 2 ModifyLaunchTemplate, 1 ModifyInstanceMetadataDefaults, no UpdateAutoScalingGroup", calls)
	}
	if after := s.state(t); after.String() != before.String() {
		t.Errorf("a dry run changed the sources:\nbefore %s\n after %s", before, after)
	}
	o := readResults(t, out)
	r := resultsByID(o)
	if g := r["update-group/api"]; g.Status != remediate.StatusWouldChange || !strings.Contains(g.Message, "no dry run") {
		t.Errorf("update-group result %+v: want would-change saying it has no dry run", g)
	}
	if o.Summary.WouldChange != 7 {
		t.Errorf("summary %+v: want 7 would-change", o.Summary)
	}
}

func fmtMap(m map[string]int) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// TestRemediateSourcesNotAllRead: where the scan could not read every
// launch source (Auto Scaling denied), nothing there is changed: a group
// not read may pin the version or follow $Latest.
func TestRemediateSourcesNotAllRead(t *testing.T) {
	f := srcFleet()
	f.Accounts[0].Regions[1].Knobs = &fleet.Knobs{AutoScalingDenied: true} // eu-west-1
	dayStable(t)
	_, url := simtest.Start(t, f, sim.Options{Seed: 3})
	remEnv(t, url)
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "scan.json")
	if res := scanCLI(t, false, "scan", "--regions", "us-east-1,eu-west-1", "--output", reportPath); res.code != exitIncomplete {
		t.Fatalf("scan: exit %d, want %d\n%s", res.code, exitIncomplete, res.err)
	}
	planPath := filepath.Join(dir, "plan.json")
	remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", reportPath, "--scope", "sources", "--plan-out", planPath)...)
	p := readPlan(t, planPath)
	for _, it := range p.Sources {
		if it.Region == "eu-west-1" {
			t.Errorf("a step planned where the launch sources were not all read: %+v", it)
		}
	}
	found := false
	for _, it := range p.SourcesSkipped {
		if it.Region == "eu-west-1" && it.ID == "launch-template/"+srcTplEU+"/1" && it.Reason == remediate.SkipSourcesNotRead &&
			strings.Contains(it.Detail, "autoscaling:DescribeAutoScalingGroups") {
			found = true
		}
	}
	if !found {
		t.Errorf("eu-west-1's template not skipped as launch-sources-not-read naming the permission: %q", sourceIDs(p.SourcesSkipped))
	}
}

// TestRemediateSourcesLeavesKarpenterTemplate: a launch template Karpenter
// wrote from its EC2NodeClass (named karpenter.k8s.aws/..., its node
// tagged with it) is not fixed by creating a version, which Karpenter
// would overwrite: it is skipped as Karpenter's, naming the EC2NodeClass
// change. The scan keeps listing the node among the template's instances
// (it came from it) although its source is the EC2NodeClass, which is
// what lets remediate tell whose template it is.
func TestRemediateSourcesLeavesKarpenterTemplate(t *testing.T) {
	const karp = "lt-00000000000000a09"
	node := srcInstance("i-00000000000000b10", "", false, map[string]string{"karpenter.sh/nodepool": "general", "karpenter.k8s.aws/ec2nodeclass": "al2023",
		fleet.TagLaunchTemplateID: karp, fleet.TagLaunchTemplateVersion: "1"})
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, Regions: []fleet.Region{{Name: "us-east-1",
		Defaults: &fleet.MetadataDefaults{HttpTokens: "required", ManagedBy: "account"},
		LaunchTemplates: []fleet.LaunchTemplate{{ID: karp, Name: "karpenter.k8s.aws/1234567890", CreateTime: fleet.Rel(-10 * 24 * time.Hour),
			Versions: []fleet.LaunchTemplateVersion{{ImageID: srcAMI, MetadataOptions: srcOptional(), CreateTime: fleet.Rel(-10 * 24 * time.Hour)}}}},
		Instances: []fleet.Instance{node}}}}}}
	s := srcStart(t, f)
	planPath := filepath.Join(s.dir, "plan.json")
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--plan-out", planPath)...)
	if res.code == exitUsage {
		t.Fatalf("exit %d", res.code)
	}
	p := readPlan(t, planPath)
	for _, it := range p.Sources {
		if it.TemplateID == karp {
			t.Errorf("plans %s on Karpenter's template: %+v", it.Action, it)
		}
	}
	var skip *remediate.SourceItem
	for i, it := range p.SourcesSkipped {
		if it.TemplateID == karp || strings.Contains(it.ID, "general") {
			skip = &p.SourcesSkipped[i]
		}
	}
	if skip == nil || skip.Reason != remediate.SkipKarpenter || !strings.Contains(skip.Detail, "EC2NodeClass al2023") {
		t.Errorf("Karpenter's template: skip %+v, want %s naming EC2NodeClass al2023 (skipped: %q)", skip, remediate.SkipKarpenter, sourceIDs(p.SourcesSkipped))
	}
}

// TestRemediateSourcesExempt: a workload with an exempt instance
// (imdsfleet:exempt, or --exclude-tag) keeps its source: a new version
// would change that instance's replacements.
func TestRemediateSourcesExempt(t *testing.T) {
	f := srcFleet()
	f.Accounts[0].Regions[0].Instances[2].Tags = map[string]string{"imdsfleet:exempt": "yes"} // group api's instance
	dayStable(t)
	_, url := simtest.Start(t, f, sim.Options{Seed: 3})
	remEnv(t, url)
	dir := t.TempDir()
	s := &srcSetup{dir: dir, report: filepath.Join(dir, "scan.json")}
	s.scan(t, s.report)
	planPath := filepath.Join(dir, "plan.json")
	remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--plan-out", planPath)...)
	p := readPlan(t, planPath)
	for _, it := range p.Sources {
		if it.TemplateID == srcTplAPI {
			t.Errorf("a step planned for the exempt instance's template: %+v", it)
		}
	}
	found := false
	for _, it := range p.SourcesSkipped {
		if it.TemplateID == srcTplAPI && it.Reason == remediate.SkipExcludedTag && slices.Contains(it.Blockers, "i-00000000000000b03 (imdsfleet:exempt)") {
			found = true
		}
	}
	if !found || len(p.Sources) != 5 {
		t.Errorf("want api's template skipped as excluded-tag naming its instance, and the 5 other steps; skipped %q, steps %q", sourceIDs(p.SourcesSkipped), sourceIDs(p.Sources))
	}
}

// TestRemediateSourcesUsersNotOurs: the skips that keep a new version from
// changing what someone else launches: a template whose $Latest a group
// follows while its $Default is fixed (latest-followed), a mixed instances
// policy pinning the version (mixed-instances-policy; the $Default users
// are still fixed), and a numbered version only instances launched from
// (no-known-user).
func TestRemediateSourcesUsersNotOurs(t *testing.T) {
	const tplLat, tplMix, tplDirect = "lt-00000000000000a0a", "lt-00000000000000a0b", "lt-00000000000000a0c"
	req := &fleet.LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}
	tpl := func(id, name string, def int64, versions ...*fleet.LaunchMetadataOptions) fleet.LaunchTemplate {
		lt := fleet.LaunchTemplate{ID: id, Name: name, DefaultVersion: def, CreateTime: fleet.Rel(-100 * 24 * time.Hour)}
		for _, o := range versions {
			lt.Versions = append(lt.Versions, fleet.LaunchTemplateVersion{ImageID: srcAMI, InstanceType: "t3.micro", MetadataOptions: o, CreateTime: fleet.Rel(-90 * 24 * time.Hour)})
		}
		return lt
	}
	direct := srcInstance("i-00000000000000c04", "", false, nil)
	direct.LaunchTemplate = &fleet.LaunchTemplateRef{ID: tplDirect, Version: "1"}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, Regions: []fleet.Region{{Name: "us-east-1",
		Defaults:        &fleet.MetadataDefaults{HttpTokens: "required", ManagedBy: "account"},
		LaunchTemplates: []fleet.LaunchTemplate{tpl(tplLat, "lat", 1, srcOptional(), req), tpl(tplMix, "mix", 1, srcOptional()), tpl(tplDirect, "direct", 2, srcOptional(), req)},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: "followlatest", LaunchTemplate: &fleet.LaunchTemplateRef{ID: tplLat, Version: fleet.VersionLatest}},
			{Name: "followdef", LaunchTemplate: &fleet.LaunchTemplateRef{ID: tplLat, Version: fleet.VersionDefault}},
			{Name: "mixed", MixedInstancesPolicy: &fleet.MixedInstancesPolicy{LaunchTemplate: fleet.LaunchTemplateRef{ID: tplMix, Version: "1"},
				Overrides: []fleet.Override{{InstanceType: "t3.micro"}}}},
		},
		Instances: []fleet.Instance{
			srcInstance("i-00000000000000c01", "followlatest", false, nil),
			srcInstance("i-00000000000000c02", "followdef", false, nil),
			srcInstance("i-00000000000000c03", "mixed", false, nil),
			direct,
		}}}}}}
	s := srcStart(t, f)
	planPath := filepath.Join(s.dir, "plan.json")
	remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--plan-out", planPath)...)
	p := readPlan(t, planPath)
	got := sourceIDs(p.Sources)
	want := []string{"us-east-1 create-version/" + tplMix + "/1 create-template-version", "us-east-1 set-default/" + tplMix + " set-default-version"}
	if !slices.Equal(got, want) {
		t.Errorf("steps %q, want %q", got, want)
	}
	skips := map[string]string{}
	for _, it := range p.SourcesSkipped {
		skips[it.ID] = it.Reason
	}
	for id, reason := range map[string]string{
		"launch-template/" + tplLat + "/1":    remediate.SkipLatestFollowed,
		"update-group/mixed":                  remediate.SkipMixedPolicy,
		"launch-template/" + tplDirect + "/1": remediate.SkipNoKnownUser,
	} {
		if skips[id] != reason {
			t.Errorf("skip of %s: %q, want %s (all: %v)", id, skips[id], reason, skips)
		}
	}
}

// TestRemediateSourcesMissingVersionPinned: a group that names a version
// number its template no longer has (deleted since) would start launching
// from the new version that takes that number, a group the plan never
// named: the template is skipped (missing-version-pinned) naming the group.
func TestRemediateSourcesMissingVersionPinned(t *testing.T) {
	const tplGap = "lt-00000000000000a0d"
	lt := fleet.LaunchTemplate{ID: tplGap, Name: "gap", DefaultVersion: 1, CreateTime: fleet.Rel(-100 * 24 * time.Hour),
		Versions: []fleet.LaunchTemplateVersion{{ImageID: srcAMI, InstanceType: "t3.micro", MetadataOptions: srcOptional(), CreateTime: fleet.Rel(-90 * 24 * time.Hour)}}}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, Regions: []fleet.Region{{Name: "us-east-1",
		Defaults:        &fleet.MetadataDefaults{HttpTokens: "required", ManagedBy: "account"},
		LaunchTemplates: []fleet.LaunchTemplate{lt},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: "def", LaunchTemplate: &fleet.LaunchTemplateRef{ID: tplGap, Version: fleet.VersionDefault}},
			{Name: "mixed", MixedInstancesPolicy: &fleet.MixedInstancesPolicy{LaunchTemplate: fleet.LaunchTemplateRef{ID: tplGap, Version: fleet.VersionDefault},
				Overrides: []fleet.Override{{InstanceType: "t3.micro"}, {InstanceType: "m7g.large", LaunchTemplate: &fleet.LaunchTemplateRef{ID: tplGap, Version: "2"}}}}},
		},
		Instances: []fleet.Instance{srcInstance("i-00000000000000c11", "def", false, nil)}}}}}}
	s := srcStart(t, f)
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", res.code, res.stdout)
	}
	if got, _ := s.srv.LaunchTemplate(remAcct, "us-east-1", tplGap); len(got.Versions) != 1 {
		t.Errorf("template %s has %d versions after the run, want 1: group mixed's override names version 2, which a new version takes", tplGap, len(got.Versions))
	}
	if !strings.Contains(res.stdout, remediate.SkipMissingPinned) || !strings.Contains(res.stdout, "mixed (version 2") {
		t.Errorf("run does not skip %s as %s naming group mixed:\n%s", tplGap, remediate.SkipMissingPinned, res.stdout)
	}
}

// TestRemediateSourcesOldReportWithoutTemplateRefs: a schema-2 report
// written before groups carried templateRefs does not say whether a group
// follows $Default, $Latest or a number, so no template step is planned
// from it: each template in use is skipped, saying to scan again.
func TestRemediateSourcesOldReportWithoutTemplateRefs(t *testing.T) {
	s := srcStart(t, srcFleet())
	b, err := os.ReadFile(s.report)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if v := doc["schemaVersion"]; v != float64(2) {
		t.Fatalf("report schemaVersion %v, want 2", v)
	}
	removed := 0
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["templateRefs"]; ok {
				delete(x, "templateRefs")
				removed++
			}
			for _, c := range x {
				strip(c)
			}
		case []any:
			for _, c := range x {
				strip(c)
			}
		}
	}
	strip(doc)
	if removed == 0 {
		t.Fatal("the scan wrote no templateRefs to remove")
	}
	old := filepath.Join(s.dir, "old.json")
	b, err = json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, b, 0o600); err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(s.dir, "plan.json")
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", old, "--scope", "sources", "--plan-out", planPath)...)
	if res.code != exitOK {
		t.Fatalf("plan from the old report: exit %d\n%s", res.code, res.stderr)
	}
	p := readPlan(t, planPath)
	for _, it := range p.Sources {
		if it.TemplateID != "" {
			t.Errorf("template step planned from a report without templateRefs: %s %s", it.Region, it.ID)
		}
	}
	skipped := map[string]remediate.SourceItem{}
	for _, it := range p.SourcesSkipped {
		if it.Reason == remediate.SkipNoTemplateRefs {
			skipped[it.TemplateID] = it
		}
	}
	for _, tpl := range []string{srcTplWeb, srcTplAPI, srcTplEU} {
		it, ok := skipped[tpl]
		if !ok {
			t.Errorf("template %s not skipped as %s; skipped: %v", tpl, remediate.SkipNoTemplateRefs, sourceIDs(p.SourcesSkipped))
			continue
		}
		if !strings.Contains(it.Detail, "scan again") {
			t.Errorf("template %s skip detail %q does not say to scan again", tpl, it.Detail)
		}
	}
	if !strings.Contains(res.stdout, "scan again") {
		t.Errorf("the plan output does not say to scan again:\n%s", res.stdout)
	}
}

// TestRemediateSourcesForgedKarpenterTag: karpenter.sh/nodepool is a tag
// anyone who may tag an instance can write. One instance of a team's
// template (not named karpenter.k8s.aws/..., so not one Karpenter wrote)
// tagged so made the whole template skipped as Karpenter's, exit 0,
// 'Nothing to change', the team told to patch an EC2NodeClass that does
// not exist. The template is planned as any other; the node pool still
// gets its EC2NodeClass advice.
func TestRemediateSourcesForgedKarpenterTag(t *testing.T) {
	const lt = "lt-00000000000000b09"
	tags := map[string]string{fleet.TagLaunchTemplateID: lt, fleet.TagLaunchTemplateVersion: "1"}
	forged := map[string]string{fleet.TagLaunchTemplateID: lt, fleet.TagLaunchTemplateVersion: "1", "karpenter.sh/nodepool": "forged"}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, Regions: []fleet.Region{{Name: "us-east-1",
		Defaults: &fleet.MetadataDefaults{HttpTokens: "required", ManagedBy: "account"},
		LaunchTemplates: []fleet.LaunchTemplate{{ID: lt, Name: "team-b-web", CreateTime: fleet.Rel(-10 * 24 * time.Hour),
			Versions: []fleet.LaunchTemplateVersion{{ImageID: srcAMI, MetadataOptions: srcOptional(), CreateTime: fleet.Rel(-10 * 24 * time.Hour)}}}},
		Instances: []fleet.Instance{srcInstance("i-00000000000000b11", "", false, tags), srcInstance("i-00000000000000b12", "", false, forged)}}}}}}
	s := srcStart(t, f)
	planPath := filepath.Join(s.dir, "plan.json")
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--plan-out", planPath)...)
	if res.code == exitUsage {
		t.Fatalf("exit %d", res.code)
	}
	p := readPlan(t, planPath)
	planned := false
	for _, it := range p.Sources {
		planned = planned || (it.TemplateID == lt && it.Action == "create-template-version")
	}
	if !planned {
		t.Errorf("no new version planned for %s (skipped: %q)", lt, sourceIDs(p.SourcesSkipped))
	}
	pool := false
	for _, it := range p.SourcesSkipped {
		if it.TemplateID == lt && it.Reason == remediate.SkipKarpenter {
			t.Errorf("%s skipped as Karpenter's for one forged tag: %+v", lt, it)
		}
		pool = pool || (it.Reason == remediate.SkipKarpenter && strings.Contains(it.ID, "forged"))
	}
	if !pool {
		t.Errorf("node pool forged: no EC2NodeClass advice (skipped: %q)", sourceIDs(p.SourcesSkipped))
	}
}
