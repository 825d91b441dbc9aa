package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

func mo(tokens, endpoint string, hop int32) report.MetadataOptions {
	return report.MetadataOptions{HttpTokens: tokens, HttpEndpoint: endpoint, HttpPutResponseHopLimit: hop}
}

func TestClassify(t *testing.T) {
	complete := func(calls float64, points int) report.Usage {
		return report.Usage{Status: report.UsageComplete, NoTokenCalls: calls, Datapoints: points}
	}
	tests := []struct {
		name string
		mo   report.MetadataOptions
		u    report.Usage
		min  int
		want Class
	}{
		{"disabled wins over required", mo("required", "disabled", 1), complete(5, 14), 7, report.ClassDisabled},
		{"disabled wins over v1 calls", mo("optional", "disabled", 1), complete(5, 14), 7, report.ClassDisabled},
		{"disabled with usage none", mo("optional", "disabled", 1), report.Usage{Status: report.UsageNone}, 7, report.ClassDisabled},
		{"enforced", mo("required", "enabled", 2), complete(0, 14), 7, report.ClassEnforced},
		{"enforced even with usage error", mo("required", "enabled", 2), report.Usage{Status: report.UsageError}, 7, report.ClassEnforced},
		{"enforced with rejected calls", mo("required", "enabled", 1), report.Usage{Status: report.UsageComplete, NoTokenRejected: 3, Datapoints: 2}, 7, report.ClassEnforced},
		{"v1 in use, one call", mo("optional", "enabled", 1), complete(1, 1), 7, report.ClassV1InUse},
		{"v1 in use, fractional", mo("optional", "enabled", 1), complete(0.5, 14), 7, report.ClassV1InUse},
		{"v1 in use from partial data", mo("optional", "enabled", 1), report.Usage{Status: report.UsagePartial, NoTokenCalls: 4, Datapoints: 2}, 7, report.ClassV1InUse},
		{"empty tokens means optional", mo("", "", 1), complete(2, 14), 7, report.ClassV1InUse},
		{"ready at exactly min days", mo("optional", "enabled", 1), complete(0, 7), 7, report.ClassReady},
		{"ready above min days", mo("optional", "enabled", 2), complete(0, 15), 7, report.ClassReady},
		{"no-data one day short", mo("optional", "enabled", 1), complete(0, 6), 7, report.ClassNoData},
		{"no-data no points", mo("optional", "enabled", 1), complete(0, 0), 7, report.ClassNoData},
		{"ready with min 1", mo("optional", "enabled", 1), complete(0, 1), 1, report.ClassReady},
		// "ready" always needs an observed day, whatever the caller asks.
		{"no-data with min 0 and no points", mo("optional", "enabled", 1), complete(0, 0), 0, report.ClassNoData},
		{"no-data with negative min and no points", mo("optional", "enabled", 1), complete(0, 0), -3, report.ClassNoData},
		{"no-data when partial without calls", mo("optional", "enabled", 1), report.Usage{Status: report.UsagePartial, Datapoints: 14}, 7, report.ClassNoData},
		{"no-data on usage error", mo("optional", "enabled", 1), report.Usage{Status: report.UsageError, Error: "AccessDenied"}, 7, report.ClassNoData},
		{"usage error never v1-in-use", mo("optional", "enabled", 1), report.Usage{Status: report.UsageError, NoTokenCalls: 9}, 7, report.ClassNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.mo, tt.u, tt.min); got != tt.want {
				t.Errorf("Classify(%+v, %+v, %d) = %q, want %q", tt.mo, tt.u, tt.min, got, tt.want)
			}
		})
	}
}

func TestRisks(t *testing.T) {
	const profile = "arn:aws:iam::111122223333:instance-profile/web"
	tests := []struct {
		name    string
		mo      report.MetadataOptions
		profile string
		host    bool
		reject  float64
		want    []Risk
	}{
		{"clean optional no profile", mo("optional", "enabled", 1), "", false, 0, []Risk{}},
		{"container host optional hop 1", mo("optional", "enabled", 1), "", true, 0, []Risk{report.RiskContainerHopLimit}},
		{"container host optional hop 2", mo("optional", "enabled", 2), "", true, 0, []Risk{}},
		{"container host required hop 1 is hardened", mo("required", "enabled", 1), "", true, 0, []Risk{}},
		{"container host endpoint disabled", mo("optional", "disabled", 1), "", true, 0, []Risk{}},
		{"role exposed", mo("optional", "enabled", 2), profile, false, 0, []Risk{report.RiskRoleExposed}},
		{"role not exposed when required", mo("required", "enabled", 2), profile, false, 0, []Risk{}},
		{"role not exposed when disabled", mo("optional", "disabled", 2), profile, false, 0, []Risk{}},
		{"v1 rejected", mo("required", "enabled", 2), "", false, 1, []Risk{report.RiskV1Rejected}},
		{"all three in display order", mo("optional", "enabled", 1), profile, true, 2, []Risk{report.RiskContainerHopLimit, report.RiskRoleExposed, report.RiskV1Rejected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &report.Instance{MetadataOptions: tt.mo, InstanceProfileArn: tt.profile, Usage: report.Usage{NoTokenRejected: tt.reject}}
			got := RisksOf(in, tt.host)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("Risks = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestContainerHost(t *testing.T) {
	extra, err := ParseTagMatcher("nodegroup=gpu")
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := ParseTagMatcher("k8s.io/*")
	if err != nil {
		t.Fatal(err)
	}
	matchers := append(DefaultContainerTags(), extra, prefix)
	tests := []struct {
		tags map[string]string
		want bool
	}{
		{map[string]string{"eks:cluster-name": "prod"}, true},
		{map[string]string{"aws:eks:cluster-name": "prod"}, true},
		{map[string]string{"eks:eks-cluster-name": "prod"}, true},
		{map[string]string{"kubernetes.io/cluster/prod": "owned"}, true},
		{map[string]string{"kubernetes.io/cluster": "x"}, false},
		{map[string]string{"karpenter.sh/nodepool": "default"}, true},
		{map[string]string{"AmazonECSManaged": ""}, true},
		{map[string]string{"amazonecsmanaged": ""}, false},
		{map[string]string{"nodegroup": "gpu"}, true},
		{map[string]string{"nodegroup": "cpu"}, false},
		{map[string]string{"k8s.io/role": "node"}, true},
		{map[string]string{"Name": "web"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(slices.Collect(mapsKeys(tt.tags)), ","), func(t *testing.T) {
			if got := IsContainerHost(tt.tags, matchers); got != tt.want {
				t.Errorf("IsContainerHost(%v) = %v, want %v", tt.tags, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "=x", "*"} {
		if _, err := ParseTagMatcher(bad); err == nil {
			t.Errorf("ParseTagMatcher(%q) accepted", bad)
		}
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestRecommend(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := Rules{MinObservedDays: 7, WindowStart: start}
	tests := []struct {
		name string
		in   report.Instance
		host bool
		want []string // substrings
	}{
		{"disabled", report.Instance{Classification: report.ClassDisabled}, false, []string{"Leave it", "never disable", "role's credentials"}},
		{"enforced", report.Instance{Classification: report.ClassEnforced, MetadataOptions: mo("required", "enabled", 2)}, false, []string{"Nothing to do"}},
		{"enforced container hop 1", report.Instance{Classification: report.ClassEnforced, MetadataOptions: mo("required", "enabled", 1)}, true, []string{"hardened posture"}},
		{"enforced rejected", report.Instance{Classification: report.ClassEnforced, Risks: []string{report.RiskV1Rejected}, Usage: report.Usage{NoTokenRejected: 12}}, false, []string{"12 IMDSv1 calls got HTTP 401"}},
		{"v1 container hop", report.Instance{Classification: report.ClassV1InUse, Risks: []string{report.RiskContainerHopLimit}, Usage: report.Usage{NoTokenCalls: 40}}, true, []string{"Raise the hop limit to 2 first", "re-measure"}},
		{"v1 plain", report.Instance{Classification: report.ClassV1InUse, Usage: report.Usage{NoTokenCalls: 40, DaysWithCalls: 3}}, false, []string{"40 calls on 3 days", "then enforce"}},
		{"v1 role exposed", report.Instance{Classification: report.ClassV1InUse, Risks: []string{report.RiskRoleExposed}, Usage: report.Usage{NoTokenCalls: 1, DaysWithCalls: 1}}, false, []string{"role credentials are readable"}},
		{"ready", report.Instance{Classification: report.ClassReady, Usage: report.Usage{Datapoints: 15}}, false, []string{"Enforce IMDSv2", "15 observed days"}},
		{"ready container", report.Instance{Classification: report.ClassReady, MetadataOptions: mo("optional", "enabled", 1), Usage: report.Usage{Datapoints: 15}}, true, []string{"keep hop limit 1 unless its pods need the node's credentials"}},
		{"ready container hop 2", report.Instance{Classification: report.ClassReady, MetadataOptions: mo("optional", "enabled", 2), Usage: report.Usage{Datapoints: 15}}, true, []string{"Enforce IMDSv2", "hop limit 2 lets pods reach the node's credentials", "lower it to 1 unless they need them"}},
		{"no-data error", report.Instance{Classification: report.ClassNoData, Usage: report.Usage{Status: report.UsageError}}, false, []string{"Re-run the scan once CloudWatch can be read"}},
		{"no-data partial", report.Instance{Classification: report.ClassNoData, Usage: report.Usage{Status: report.UsagePartial}}, false, []string{"partial data"}},
		{"no-data recent", report.Instance{Classification: report.ClassNoData, State: "running", LaunchTime: start.Add(10 * day), Usage: report.Usage{Status: report.UsageComplete, Datapoints: 3}}, false, []string{"Launched recently (3 of 7 days observed)"}},
		{"no-data stopped", report.Instance{Classification: report.ClassNoData, State: "stopped", LaunchTime: start.Add(-day), Usage: report.Usage{Status: report.UsageComplete, Datapoints: 2}}, false, []string{"Stopped for most of the window (2 of 7"}},
		{"no-data container hop", report.Instance{Classification: report.ClassNoData, State: "stopped", Risks: []string{report.RiskContainerHopLimit}, Usage: report.Usage{Status: report.UsageComplete}}, true, []string{"Raise the hop limit to 2 first; then stopped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Recommend(&tt.in, tt.host, rules)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Recommend = %q, want it to contain %q", got, w)
				}
			}
		})
	}
}

func TestNum(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 12: "12", 2.5: "2.5", 99.94: "99.9", 173321.18: "173321", 100.5: "101"} {
		if got := num(f); got != want {
			t.Errorf("num(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestMinObservedDays(t *testing.T) {
	tests := []struct {
		requested int
		lookback  time.Duration
		want      int
	}{
		{7, 14 * day, 7}, {7, 3 * day, 3}, {7, 36 * time.Hour, 2}, {7, 7 * day, 7}, {7, 6 * day, 6}, {30, 455 * day, 30},
		// Never below one observed day, whatever the window or the flag.
		{7, time.Hour, 1}, {7, time.Nanosecond, 1}, {7, 0, 1}, {0, 14 * day, 1}, {-1, 14 * day, 1},
	}
	for _, tt := range tests {
		if got := MinObservedDays(tt.requested, tt.lookback); got != tt.want {
			t.Errorf("MinObservedDays(%d, %v) = %d, want %d", tt.requested, tt.lookback, got, tt.want)
		}
	}
}
