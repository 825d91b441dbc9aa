package remediate

import (
	"math"
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

// testWindow is the usage window of testReport: 15 daily buckets.
var testWindow = report.Window{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)}

// testReport holds instances, a target (scanned ok) for each of their
// accounts and Regions, a 15-day window, and records the default scan
// rules.
func testReport(instances ...report.Instance) *report.Report {
	r := &report.Report{SchemaVersion: 1, Window: testWindow, Instances: instances,
		ScanOptions: policy.Rules{MinObservedDays: 7, ContainerTags: policy.DefaultContainerTags()}.ScanOptions()}
	seen := map[[2]string]bool{}
	for _, in := range instances {
		if k := [2]string{in.Account, in.Region}; !seen[k] {
			seen[k] = true
			r.Targets = append(r.Targets, report.Target{Account: in.Account, Region: in.Region, Status: report.TargetOK})
		}
	}
	return r
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
		action Action
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
	r.Targets = append(r.Targets, report.Target{Account: "111111111111", Region: "ap-south-1", Status: report.TargetOK})
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
		{"ready on partial data", testReport(partial), "report says ready but its usage is partial (CloudWatch answered PartialData: the days it did not return could hold IMDSv1 calls), which makes it no-data, never ready"},
		{"container risk without container tags", testReport(fakeHost), "i-0hop: report says risks container-hop-limit but its evidence (not a container host"},
		{"container risk left out", testReport(hiddenHost), "i-0hid: report says risks none but its evidence (container host"},
		{"unknown tokens value", testReport(inst("i-0tok", report.ClassReady, 1, func(in *report.Instance) { in.MetadataOptions.HttpTokens = "sometimes" })), `httpTokens "sometimes" is neither optional nor required`},
		{"crafted id is quoted", testReport(inst("i-1\nSUMMARY", report.ClassReady, 1, func(in *report.Instance) { in.Usage.NoTokenCalls, in.Usage.DaysWithCalls = 1, 1 })), `"i-1\nSUMMARY": report says ready`},
		{"no scanOptions", func() *report.Report {
			r := testReport(inst("i-1", report.ClassReady, 1))
			r.ScanOptions = nil
			return r
		}(), "does not record the scan options"},
		{"counts the rest", testReport(v1Ready, noOptions, noDays, fewDays, partial), "5 of 6 instances disagree"},
		// Evidence no scan writes, edited so that the verdict agrees with it.
		{"negative v1 calls", testReport(inst("i-0neg", report.ClassReady, 1, func(in *report.Instance) { in.Usage.NoTokenCalls = -5 })), "i-0neg: usage has a count no scan writes (noTokenCalls -5"},
		{"NaN v1 calls", testReport(inst("i-0nan", report.ClassReady, 1, func(in *report.Instance) { in.Usage.NoTokenCalls = math.NaN() })), "i-0nan: usage has a count no scan writes"},
		{"more observed days than the window", testReport(inst("i-0big", report.ClassReady, 1, func(in *report.Instance) { in.Usage.Datapoints = 1000 })), "i-0big: usage has 1000 observed days in a window of 15 days"},
		{"days with calls but no calls", testReport(inst("i-0day", report.ClassReady, 1, func(in *report.Instance) { in.Usage.DaysWithCalls = 14 })), "i-0day: usage has 0 calls (0 v1, 0 rejected) on 14 days with calls"},
		{"more days with calls than observed", testReport(inst("i-0dwc", report.ClassV1InUse, 1, func(in *report.Instance) { in.Usage.Datapoints, in.Usage.DaysWithCalls = 2, 3 })), "i-0dwc: usage has 3 days with calls but only 2 observed days"},
		{"a last call but no calls", testReport(inst("i-0last", report.ClassReady, 1, func(in *report.Instance) { in.Usage.LastCallAt = &testWindow.Start })), "i-0last: usage has a last call (lastCallAt 2026-01-01T00:00:00Z) but no days with calls"},
		{"figures on an unread metric", testReport(inst("i-0err", report.ClassNoData, 1, func(in *report.Instance) {
			in.Usage = report.Usage{Status: report.UsageError, NoTokenCalls: 1201, DaysWithCalls: 4, Datapoints: 14}
		})), "i-0err: usage status error (not read) carries figures (1201 v1 calls"},
		{"instance in a Region not scanned", func() *report.Report {
			r := testReport(inst("i-1", report.ClassReady, 1))
			r.Instances = append(r.Instances, inst("i-0reg", report.ClassV1InUse, 1, region("ap-south-1")))
			return r
		}(), "i-0reg: its account and Region 111111111111/ap-south-1 are not among the report's targets"},
		{"instance in a failed target", func() *report.Report {
			r := testReport(inst("i-0fail", report.ClassReady, 1, region("sa-east-1")))
			r.Targets[0].Status, r.Targets[0].Error = report.TargetError, "AuthFailure"
			return r
		}(), "i-0fail: the report's scan of 111111111111/sa-east-1 failed"},
		// The report's rules.
		{"window under a day", func() *report.Report {
			r := testReport(inst("i-1", report.ClassReady, 1))
			r.Window.Start = r.Window.End.Add(-23 * time.Hour)
			return r
		}(), "its usage window (2026-01-14T13:00:00Z to 2026-01-15T12:00:00Z) is not at least one day long"},
		{"window ending before it starts", func() *report.Report {
			r := testReport(inst("i-1", report.ClassReady, 1))
			r.Window.Start, r.Window.End = r.Window.End, r.Window.Start
			return r
		}(), "is not at least one day long"},
		{"no window", func() *report.Report {
			r := testReport(inst("i-1", report.ClassReady, 1))
			r.Window = report.Window{}
			return r
		}(), "is not at least one day long"},
		{"minObservedDays 0", func() *report.Report {
			r := testReport(inst("i-1", report.ClassReady, 1))
			r.ScanOptions.MinObservedDays = 0
			return r
		}(), "scanOptions.minObservedDays is 0, but a scan of its 15-day window uses 1 to 15"},
		{"minObservedDays beyond the window", func() *report.Report {
			r := testReport(inst("i-1", report.ClassNoData, 1))
			r.ScanOptions.MinObservedDays = 1 << 40
			return r
		}(), "scanOptions.minObservedDays is 1099511627776"},
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
