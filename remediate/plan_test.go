package remediate

import (
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// inst is an instance whose evidence gives class under testRules (so
// that BuildPlan's check accepts it), changed by mods.
func inst(id, class string, hop int32, mods ...func(*report.Instance)) report.Instance {
	in := report.Instance{
		Account: "111111111111", Region: "us-east-1", InstanceID: id, State: "running", Classification: class,
		MetadataOptions: report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: hop, State: "applied"},
		Usage:           report.Usage{Status: report.UsageComplete, Datapoints: 14},
		Risks:           []string{},
	}
	switch class {
	case report.ClassEnforced:
		in.MetadataOptions.HttpTokens = "required"
	case report.ClassDisabled:
		in.MetadataOptions.HttpEndpoint = "disabled"
		in.Usage = report.Usage{Status: report.UsageNone}
	case report.ClassV1InUse:
		in.Usage.NoTokenCalls, in.Usage.DaysWithCalls = 42, 3
	case report.ClassNoData:
		in.Usage.Datapoints = 2
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

// testReport holds instances and records the default scan rules.
func testReport(instances ...report.Instance) *report.Report {
	return &report.Report{SchemaVersion: 1, Instances: instances,
		ScanOptions: policy.Rules{MinObservedDays: 7, ContainerTags: policy.DefaultContainerTags()}.ScanOptions()}
}

// container makes the instance a container host by its tags, with the risk
// that gives at hop limit 1.
func container(in *report.Instance) {
	tagged("eks:cluster-name", "prod")(in)
	in.Risks = append(in.Risks, report.RiskContainerHopLimit)
}
func tagged(k, v string) func(*report.Instance) {
	return func(in *report.Instance) {
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		in.Tags[k] = v
	}
}
func region(r string) func(*report.Instance) { return func(in *report.Instance) { in.Region = r } }
func state(s string) func(*report.Instance)  { return func(in *report.Instance) { in.State = s } }

func TestBuildPlan(t *testing.T) {
	exempt := []TagMatch{{Key: DefaultExemptTag}}
	tests := []struct {
		name   string
		in     report.Instance
		opts   PlanOptions
		action string
		change Change
		reason string
	}{
		{"ready enforced", inst("i-1", report.ClassReady, 1), PlanOptions{}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"ready container host keeps hop 1", inst("i-1", report.ClassReady, 1, container), PlanOptions{}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"ready container host --container-hop-limit 2", inst("i-1", report.ClassReady, 1, container), PlanOptions{ContainerHopLimit: 2}, ActionEnforce, Change{HttpTokens: "required", HttpPutResponseHopLimit: 2}, ""},
		{"ready non-container --container-hop-limit 2 untouched", inst("i-1", report.ClassReady, 1), PlanOptions{ContainerHopLimit: 2}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"v1-in-use container host raises hop", inst("i-1", report.ClassV1InUse, 1, container), PlanOptions{}, ActionRaiseHopLimit, Change{HttpPutResponseHopLimit: 2}, ""},
		{"v1-in-use container host hop fix off", inst("i-1", report.ClassV1InUse, 1, container), PlanOptions{NoHopLimitFix: true}, "", Change{}, SkipHopFixOff},
		{"v1-in-use skipped", inst("i-1", report.ClassV1InUse, 1), PlanOptions{}, "", Change{}, SkipV1InUse},
		{"v1-in-use forced", inst("i-1", report.ClassV1InUse, 1), PlanOptions{Include: []string{IncludeV1InUse}, Force: true}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"v1-in-use container forced gets hop 2 in same call", inst("i-1", report.ClassV1InUse, 1, container), PlanOptions{Include: []string{IncludeV1InUse}, Force: true}, ActionEnforce, Change{HttpTokens: "required", HttpPutResponseHopLimit: 2}, ""},
		{"no-data skipped", inst("i-1", report.ClassNoData, 1), PlanOptions{}, "", Change{}, SkipNoData},
		{"no-data included", inst("i-1", report.ClassNoData, 1), PlanOptions{Include: []string{IncludeNoData}}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"enforced skipped", inst("i-1", report.ClassEnforced, 1), PlanOptions{}, "", Change{}, SkipAlreadyEnforced},
		{"disabled never touched", inst("i-1", report.ClassDisabled, 1), PlanOptions{Include: []string{IncludeNoData, IncludeV1InUse}, Force: true}, "", Change{}, SkipEndpointDisabled},
		{"terminated", inst("i-1", report.ClassReady, 1, state("terminated")), PlanOptions{}, "", Change{}, SkipNotRunnable},
		{"exempt tag", inst("i-1", report.ClassReady, 1, tagged(DefaultExemptTag, "")), PlanOptions{ExcludeTags: exempt}, "", Change{}, SkipExcludedTag},
		{"exclude tag value match", inst("i-1", report.ClassReady, 1, tagged("team", "db")), PlanOptions{ExcludeTags: []TagMatch{{Key: "team", Value: "db", HasValue: true}}}, "", Change{}, SkipExcludedTag},
		{"exclude tag value mismatch", inst("i-1", report.ClassReady, 1, tagged("team", "web")), PlanOptions{ExcludeTags: []TagMatch{{Key: "team", Value: "db", HasValue: true}}}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"not in instance ids", inst("i-1", report.ClassReady, 1), PlanOptions{InstanceIDs: []string{"i-2"}}, "", Change{}, SkipNotSelectedID},
		{"in instance ids", inst("i-1", report.ClassReady, 1), PlanOptions{InstanceIDs: []string{"i-1"}}, ActionEnforce, Change{HttpTokens: "required"}, ""},
		{"not in regions", inst("i-1", report.ClassReady, 1, region("eu-west-1")), PlanOptions{Regions: []string{"us-east-1"}}, "", Change{}, SkipNotSelectedReg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// i-2 (already enforced, us-east-1) gives --instance-ids and
			// --regions something in the report to select.
			r := testReport(tc.in, inst("i-2", report.ClassEnforced, 1))
			p, err := BuildPlan(r, tc.opts, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			var found []Item
			for _, it := range append(append([]Item{}, p.Changes...), p.Skipped...) {
				if it.InstanceID == tc.in.InstanceID {
					found = append(found, it)
				}
			}
			if len(found) != 1 || len(p.Changes)+len(p.Skipped) != 2 {
				t.Fatalf("plan has %d changes and %d skipped, want each instance once", len(p.Changes), len(p.Skipped))
			}
			it := found[0]
			if it.Action != tc.action || it.Change != tc.change || it.Reason != tc.reason {
				t.Errorf("got action %q change %+v reason %q (%s), want %q %+v %q", it.Action, it.Change, it.Reason, it.Detail, tc.action, tc.change, tc.reason)
			}
			if it.Reason != "" && it.Detail == "" {
				t.Error("skip without a detail sentence")
			}
		})
	}
}

func TestBuildPlanMaxChanges(t *testing.T) {
	r := testReport(inst("i-1", report.ClassReady, 1), inst("i-2", report.ClassEnforced, 1), inst("i-3", report.ClassReady, 1), inst("i-4", report.ClassReady, 1))
	p, err := BuildPlan(r, PlanOptions{MaxChanges: 2}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 || p.Changes[0].InstanceID != "i-1" || p.Changes[1].InstanceID != "i-3" {
		t.Fatalf("changes = %+v, want i-1 and i-3", p.Changes)
	}
	got := p.SkipCounts()
	if got[SkipMaxChanges] != 1 || got[SkipAlreadyEnforced] != 1 {
		t.Errorf("skip counts = %v", got)
	}
}

func TestPlanOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    PlanOptions
		want string
	}{
		{"v1-in-use without force", PlanOptions{Include: []string{IncludeV1InUse}}, "--force"},
		{"unknown include", PlanOptions{Include: []string{"ready"}}, "want no-data or v1-in-use"},
		{"bad hop", PlanOptions{ContainerHopLimit: 3}, "--container-hop-limit"},
		{"negative max", PlanOptions{MaxChanges: -1}, "--max-changes"},
		{"force alone", PlanOptions{Force: true}, "--force only confirms --include v1-in-use"},
		{"force with no-data only", PlanOptions{Include: []string{IncludeNoData}, Force: true}, "--force only confirms"},
		{"ok", PlanOptions{Include: []string{IncludeV1InUse, IncludeNoData}, Force: true, ContainerHopLimit: 2}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestParseTagMatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want TagMatch
		err  bool
	}{
		{"imdsfleet:exempt", TagMatch{Key: "imdsfleet:exempt"}, false},
		{"team=db", TagMatch{Key: "team", Value: "db", HasValue: true}, false},
		{"team=", TagMatch{Key: "team", Value: "", HasValue: true}, false},
		{"=x", TagMatch{}, true},
		{"", TagMatch{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTagMatch(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseTagMatch(%q) = %+v, %v", tc.in, got, err)
			}
		})
	}
}

func TestBuildPlanUnknownSelection(t *testing.T) {
	r := testReport(inst("i-1", report.ClassReady, 1), inst("i-2", report.ClassReady, 1, region("eu-west-1")))
	r.Targets = []report.Target{{Account: "111111111111", Region: "ap-south-1"}}
	tests := []struct {
		name string
		o    PlanOptions
		want string
	}{
		{"typo in an instance id", PlanOptions{InstanceIDs: []string{"i-1", "i-l"}}, "--instance-ids i-l: not in the report"},
		{"Region not scanned", PlanOptions{Regions: []string{"eu-west-1", "eu-west-2"}}, "--regions eu-west-2: not scanned in the report (it covers ap-south-1,eu-west-1,us-east-1)"},
		{"scanned Region without instances", PlanOptions{Regions: []string{"ap-south-1"}}, ""},
		{"known ids", PlanOptions{InstanceIDs: []string{"i-2"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildPlan(r, tc.o, time.Unix(0, 0))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBuildPlanRefusesUntrustedReport: a report whose verdicts its own
// evidence does not support, or that lacks what the verdicts rest on, is
// refused as a whole, whatever the selection: nothing is planned from it.
func TestBuildPlanRefusesUntrustedReport(t *testing.T) {
	v1Ready := inst("i-0abc", report.ClassReady, 1, func(in *report.Instance) { in.Usage.NoTokenCalls, in.Usage.DaysWithCalls = 1201, 4 })
	noOptions := inst("i-0def", report.ClassReady, 1, func(in *report.Instance) { in.MetadataOptions = report.MetadataOptions{} })
	noDays := inst("i-0nil", report.ClassReady, 1, func(in *report.Instance) { in.Usage.Datapoints = 0 })
	fewDays := inst("i-0few", report.ClassReady, 1, func(in *report.Instance) { in.Usage.Datapoints = 6 })
	partial := inst("i-0par", report.ClassReady, 1, func(in *report.Instance) { in.Usage.Status = report.UsagePartial })
	fakeHost := inst("i-0hop", report.ClassV1InUse, 1, func(in *report.Instance) { in.Risks = []string{report.RiskContainerHopLimit} })
	hiddenHost := inst("i-0hid", report.ClassReady, 1, tagged("karpenter.sh/nodepool", "default"))
	tests := []struct {
		name string
		r    *report.Report
		want string
	}{
		{"ready with v1 calls", testReport(v1Ready), "i-0abc: report says ready but its evidence (1201 v1 calls) makes it v1-in-use"},
		{"empty metadataOptions", testReport(noOptions), "i-0def: metadataOptions has no httpTokens"},
		{"ready on no observed day", testReport(noDays), "i-0nil: report says ready but its evidence (no v1 calls on 0 observed days, 7 needed) makes it no-data"},
		{"ready one day short", testReport(fewDays), "(no v1 calls on 6 observed days, 7 needed) makes it no-data"},
		{"ready on partial data", testReport(partial), "(httpTokens optional, usage partial) makes it no-data"},
		{"container risk without container tags", testReport(fakeHost), "i-0hop: report says risks container-hop-limit but its evidence (not a container host"},
		{"container risk left out", testReport(hiddenHost), "i-0hid: report says risks none but its evidence (container host"},
		{"unknown tokens value", testReport(inst("i-0tok", report.ClassReady, 1, func(in *report.Instance) { in.MetadataOptions.HttpTokens = "sometimes" })), `httpTokens "sometimes" is neither optional nor required`},
		{"crafted id is quoted", testReport(inst("i-1\nSUMMARY", report.ClassReady, 1, func(in *report.Instance) { in.Usage.NoTokenCalls = 1 })), `"i-1\nSUMMARY": report says ready`},
		{"no scanOptions", &report.Report{SchemaVersion: 1, Instances: []report.Instance{inst("i-1", report.ClassReady, 1)}}, "does not record the scan options"},
		{"counts the rest", testReport(v1Ready, noOptions, noDays, fewDays, partial), "5 of 6 instances disagree"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Selecting only another instance does not make the report
			// trustworthy.
			tc.r.Instances = append(tc.r.Instances, inst("i-ok", report.ClassReady, 1))
			_, err := BuildPlan(tc.r, PlanOptions{InstanceIDs: []string{"i-ok"}}, time.Unix(0, 0))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}
