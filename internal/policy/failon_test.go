package policy

import (
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestFailOn(t *testing.T) {
	v1 := report.Instance{MetadataOptions: mo("optional", "enabled", 1), Classification: report.ClassV1InUse, Risks: []string{report.RiskRoleExposed}}
	ready := report.Instance{MetadataOptions: mo("optional", "enabled", 2), Classification: report.ClassReady, Risks: []string{}}
	noTokens := report.Instance{MetadataOptions: mo("", "", 2), Classification: report.ClassReady}
	enforced := report.Instance{MetadataOptions: mo("required", "enabled", 2), Classification: report.ClassEnforced, Risks: []string{report.RiskV1Rejected}}
	disabled := report.Instance{MetadataOptions: mo("optional", "disabled", 1), Classification: report.ClassDisabled}
	tests := []struct {
		f    FailOn
		want map[string]bool
	}{
		{FailOnNone, map[string]bool{}},
		// v1-allowed is the classifier's own test: EC2's defaults (unset
		// tokens, unset endpoint) allow v1.
		{FailOnV1Allowed, map[string]bool{"v1": true, "ready": true, "noTokens": true}},
		{FailOnV1InUse, map[string]bool{"v1": true}},
		{FailOnRisk, map[string]bool{"v1": true, "enforced": true}},
	}
	for _, tt := range tests {
		for name, in := range map[string]report.Instance{"v1": v1, "ready": ready, "noTokens": noTokens, "enforced": enforced, "disabled": disabled} {
			if got := tt.f.Match(&in); got != tt.want[name] {
				t.Errorf("--fail-on %s matches %s: %v, want %v", tt.f, name, got, tt.want[name])
			}
		}
	}
	for _, s := range FailOnValues {
		if f, err := ParseFailOn(s); err != nil || string(f) != s {
			t.Errorf("ParseFailOn(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFailOn("always"); err == nil {
		t.Error(`ParseFailOn("always") accepted`)
	}
}
