package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// TestNextLaunchRisk: next-launch-v1 comes from the instance's own
// nextLaunch, only when it is known to allow v1.
func TestNextLaunchRisk(t *testing.T) {
	allows := &report.NextLaunch{Status: report.NextLaunchResolved, HttpTokens: "optional", HttpTokensFrom: report.LayerLaunchTemplate,
		HttpPutResponseHopLimit: 1, HttpPutResponseHopLimitFrom: report.LayerBuiltIn, HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn}
	fails := *allows
	fails.Status = report.NextLaunchFails
	required := *allows
	required.HttpTokens = "required"
	disabled := *allows
	disabled.HttpEndpoint = "disabled"
	partial := *allows // tokens known optional, hop limit unknown: still allows v1
	partial.Status, partial.HttpPutResponseHopLimit, partial.HttpPutResponseHopLimitFrom = report.NextLaunchUnresolved, 0, ""
	unknown := &report.NextLaunch{Status: report.NextLaunchUnresolved, Reason: "launched by hand"}
	for _, tt := range []struct {
		name string
		next *report.NextLaunch
		want bool
	}{
		{"allows v1", allows, true}, {"launch fails", &fails, false}, {"required", &required, false},
		{"endpoint disabled", &disabled, false}, {"tokens known, hop unknown", &partial, true},
		{"unresolved", unknown, false}, {"not read", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &report.Instance{MetadataOptions: mo("required", "enabled", 2), NextLaunch: tt.next}
			if got := slices.Contains(RisksOf(in, false), NextLaunchV1); got != tt.want {
				t.Errorf("next-launch-v1 = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCheckNextLaunch: remediate's trust check recomputes next-launch-v1
// from the report's own nextLaunch: a report whose risk and evidence
// agree is accepted, one edited to hide the risk is refused.
func TestCheckNextLaunch(t *testing.T) {
	start := time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
	rules := Rules{MinObservedDays: 7, WindowStart: start}
	in := report.Instance{
		Account: "1", Region: "r", InstanceID: "i-1", State: "running",
		MetadataOptions: mo("optional", "enabled", 2),
		Usage:           report.Usage{Status: report.UsageComplete, Datapoints: 14},
		LaunchSource:    &report.InstanceLaunchSource{Kind: report.SourceAutoScalingGroup, Name: "web", SourceID: "auto-scaling-group/web"},
		NextLaunch: &report.NextLaunch{Status: report.NextLaunchResolved, HttpTokens: "optional", HttpTokensFrom: report.LayerBuiltIn,
			HttpPutResponseHopLimit: 1, HttpPutResponseHopLimitFrom: report.LayerBuiltIn, HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn},
	}
	Apply(&in, rules)
	if !in.HasRisk(report.RiskNextLaunchV1) || !strings.Contains(in.Recommendation, "Fix its launch source auto-scaling-group/web too") {
		t.Fatalf("Apply: risks %v, recommendation %q", in.Risks, in.Recommendation)
	}
	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		LaunchSources: []report.LaunchSource{{Account: "1", Region: "r", ID: "auto-scaling-group/web", Kind: report.SourceAutoScalingGroup,
			Name: "web", NextLaunch: *in.NextLaunch}},
		Window:      report.Window{Start: start, End: start.Add(14 * day)},
		ScanOptions: rules.ScanOptions(),
		Targets:     []report.Target{{Account: "1", Region: "r", Status: report.TargetOK}},
		Instances:   []report.Instance{in},
	}
	if _, err := Check(r); err != nil {
		t.Fatalf("Check refused a consistent report: %v", err)
	}
	r.Instances[0].Risks = slices.DeleteFunc(slices.Clone(in.Risks), func(k string) bool { return k == report.RiskNextLaunchV1 })
	_, err := Check(r)
	if err == nil || !strings.Contains(err.Error(), "next launch resolved with httpTokens optional") {
		t.Fatalf("Check of a report hiding next-launch-v1: %v", err)
	}
	// Hiding it by editing the instance's nextLaunch (and risks) is found
	// too: the instance's next launch is its source's.
	edited := *in.NextLaunch
	edited.HttpTokens = "required"
	r.Instances[0].NextLaunch = &edited
	_, err = Check(r)
	if err == nil || !strings.Contains(err.Error(), "its nextLaunch differs from that of its launch source auto-scaling-group/web") {
		t.Fatalf("Check of a report with an edited nextLaunch: %v", err)
	}
}
