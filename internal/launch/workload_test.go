package launch

import (
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

func judged(id, class string, tags map[string]string) report.Instance {
	in := inst(id, tags)
	in.Classification = class
	return in
}

// TestWorkloads: grouping order (group, node group, node pool, template,
// --group-by tags, unmanaged), counts, owner, next launch and the plan
// step of each.
func TestWorkloads(t *testing.T) {
	instances := []report.Instance{
		judged("i-1", report.ClassReady, map[string]string{TagAutoScalingGroup: "legacy", TagEKSNodegroup: "ng", "owner": "payments"}),
		judged("i-2", report.ClassV1InUse, map[string]string{TagAutoScalingGroup: "legacy", "team": "web"}),
		judged("i-3", report.ClassReady, map[string]string{TagAutoScalingGroup: "legacy", "owner": "payments"}),
		judged("i-4", report.ClassEnforced, map[string]string{TagAutoScalingGroup: "web-latest"}),
		judged("i-5", report.ClassReady, map[string]string{TagEKSNodegroup: "ng-2", TagEKSCluster: "prod"}),
		judged("i-6", report.ClassNoData, map[string]string{TagKarpenterNodePool: "default"}),
		judged("i-7", report.ClassV1InUse, map[string]string{TagTemplateID: "lt-web", TagTemplateVersion: "3", "app": "shop"}),
		judged("i-8", report.ClassV1InUse, map[string]string{"app": "shop", "team": "shop-team"}),
		judged("i-9", report.ClassReady, map[string]string{"team": "x"}),
		judged("i-10", report.ClassEnforced, map[string]string{"app": ""}),
	}
	res := Resolve(fleetInventory(), instances)
	for i := range instances {
		instances[i].Risks = nil
		for _, k := range policy.RisksOf(&instances[i], false) {
			instances[i].Risks = append(instances[i].Risks, string(k))
		}
	}
	r := &report.Report{Instances: instances, LaunchSources: res.Sources}
	ws := Workloads(r, WorkloadOptions{GroupBy: []string{"app", "team"}})
	got := map[string]report.Workload{}
	var ids []string
	for _, w := range ws {
		got[w.ID] = w
		ids = append(ids, w.ID)
	}
	wantIDs := []string{
		"auto-scaling-group/111122223333/eu-west-1/legacy",
		"auto-scaling-group/111122223333/eu-west-1/web-latest",
		"eks-nodegroup/111122223333/eu-west-1/prod/ng-2",
		"karpenter-nodepool/111122223333/eu-west-1/default",
		"launch-template/111122223333/eu-west-1/lt-web",
		"tag/111122223333/eu-west-1/app=shop",
		"tag/111122223333/eu-west-1/team=x",
		"unmanaged/111122223333/eu-west-1/unmanaged",
	}
	if strings.Join(ids, "\n") != strings.Join(wantIDs, "\n") {
		t.Fatalf("workloads:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(wantIDs, "\n"))
	}
	legacy := got[wantIDs[0]]
	if legacy.Instances != 3 || legacy.ByClassification[report.ClassReady] != 2 || legacy.ByClassification[report.ClassV1InUse] != 1 ||
		legacy.ByRisk[report.RiskNextLaunchV1] != 3 || legacy.ByClassification[report.ClassDisabled] != 0 {
		t.Errorf("legacy counts: %+v", legacy)
	}
	if legacy.Owner != "payments" || legacy.OwnerTag != "owner" {
		t.Errorf("legacy owner = %s=%s, want owner=payments (2 of 3 instances)", legacy.OwnerTag, legacy.Owner)
	}
	if strings.Join(legacy.SourceIDs, ",") != "auto-scaling-group/legacy" || !legacy.NextLaunch.AllowsV1() {
		t.Errorf("legacy sources %v, next %+v", legacy.SourceIDs, legacy.NextLaunch)
	}
	for id, step := range map[string]string{
		wantIDs[0]: report.StepFixSource,      // the launch configuration allows v1
		wantIDs[1]: report.StepDone,           // enforced, source requires v2
		wantIDs[2]: report.StepEnforceReady,   // no source read (no group tag): ready instance
		wantIDs[3]: report.StepGatherEvidence, // Karpenter: unresolved
		wantIDs[4]: report.StepFindCallers,    // lt-web/3 requires IMDSv2; its instance makes v1 calls
		wantIDs[5]: report.StepFindCallers,
		wantIDs[6]: report.StepEnforceReady,
		wantIDs[7]: report.StepCheckSource, // enforced, launched by hand: its next launch is unresolved
	} {
		if got[id].Step != step {
			t.Errorf("%s: step %s (%s), want %s", id, got[id].Step, got[id].Recommendation, step)
		}
	}
	// The group launches through a launch configuration that sets no
	// metadata options: it cannot be edited, so the fix is a template.
	for _, want := range []string{"Fix its launch source auto-scaling-group/legacy first", "from EC2's built-in default", "1 instance still makes IMDSv1 calls",
		"move the group to a launch template with HttpTokens=required (a launch configuration cannot be modified)"} {
		if !strings.Contains(legacy.Recommendation, want) {
			t.Errorf("legacy recommendation %q lacks %q", legacy.Recommendation, want)
		}
	}
	if strings.Contains(legacy.Recommendation, "in the source") {
		t.Errorf("legacy recommendation %q asks to edit a launch configuration", legacy.Recommendation)
	}
	if k := got[wantIDs[3]]; k.NextLaunch == nil || k.NextLaunch.Status != report.NextLaunchUnresolved || !strings.Contains(k.Recommendation, "could not be worked out") {
		t.Errorf("karpenter workload: %+v", k)
	}
	// Without launch sources the workloads still form, with no next launch.
	for i := range instances {
		instances[i].LaunchSource, instances[i].NextLaunch = nil, nil
	}
	ws = Workloads(&report.Report{Instances: instances}, WorkloadOptions{})
	if len(ws) != 6 || ws[0].NextLaunch != nil || ws[0].Step != report.StepEnforceReady {
		t.Errorf("without launch sources: %d workloads, first %+v", len(ws), ws[0])
	}
}
