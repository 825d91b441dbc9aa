package report_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(s string) *time.Time {
	t := ts(s)
	return &t
}

// fixture is a hand-made report that covers every classification and
// risk, a failed target, a usage error, instances with and without a last
// call, and hostile or unusual text: commas, quotes, newlines, formula
// characters, Markdown and HTML, unicode. Its slices are deliberately out
// of order and some are nil, so that Normalize has work to do.
func fixture() *report.Report {
	optional := func(hop int32) report.MetadataOptions {
		return report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: hop,
			HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled", State: "applied"}
	}
	required := optional(2)
	required.HttpTokens = "required"
	disabled := optional(1)
	disabled.HttpEndpoint = "disabled"
	const profile = "arn:aws:iam::111111111111:instance-profile/app-role"
	return &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "imdsfleet", Version: "v0.1.0-test"},
		GeneratedAt:   ts("2026-11-22T13:05:09Z"),
		Window:        report.Window{Start: ts("2026-11-08T00:00:00Z"), End: ts("2026-11-22T00:00:00Z")},
		ScanOptions: &report.ScanOptions{MinObservedDays: 7, ContainerTags: []string{"eks:cluster-name", "aws:eks:cluster-name",
			"eks:eks-cluster-name", "kubernetes.io/cluster/*", "karpenter.sh/nodepool", "AmazonECSManaged", "platform=nomad"}},
		Targets: []report.Target{
			{Account: "222222222222", Region: "us-west-2", Status: report.TargetOK, Terminated: 3},
			{Account: "111111111111", Region: "us-east-1", Status: report.TargetOK},
			{Account: "111111111111", Region: "eu-west-1", Status: report.TargetError,
				Error: "describe instances in eu-west-1: operation error EC2: DescribeInstances, https response error StatusCode: 503, api error Unavailable: Service Unavailable"},
			{Account: "111111111111", Region: "ap-southeast-2", Status: report.TargetOK},
		},
		Instances: []report.Instance{
			{
				Account: "111111111111", Region: "us-east-1", InstanceID: "i-0a00000000000v1eks",
				Name: "eks-node-a", State: "running", LaunchTime: ts("2026-10-01T08:00:00Z"), ImageID: "ami-0eks",
				InstanceProfileArn: profile,
				Tags:               map[string]string{"Name": "eks-node-a", "eks:cluster-name": "prod", "kubernetes.io/cluster/prod": "owned"},
				MetadataOptions:    optional(1),
				Usage: report.Usage{Status: report.UsageComplete, NoTokenCalls: 1234567, DaysWithCalls: 14,
					LastCallAt: tp("2026-11-21T00:00:00Z"), Datapoints: 14},
				Classification: report.ClassV1InUse,
				Risks:          []string{report.RiskContainerHopLimit, report.RiskRoleExposed},
				Recommendation: "Raise the hop limit to 2 first (its pods cannot get a v2 token), then re-measure.",
			},
			{
				Account: "111111111111", Region: "us-east-1", InstanceID: "i-0b00000000000formula",
				Name: `=HYPERLINK("http://evil.example","click")`, State: "running", LaunchTime: ts("2026-09-15T10:30:00Z"),
				ImageID: "ami-0legacy", InstanceProfileArn: profile,
				Tags:            map[string]string{"Name": `=HYPERLINK("http://evil.example","click")`, "team": "pay,ments"},
				MetadataOptions: optional(2),
				Usage: report.Usage{Status: report.UsageComplete, NoTokenCalls: 42, DaysWithCalls: 3,
					LastCallAt: tp("2026-11-12T00:00:00Z"), Datapoints: 14},
				Classification: report.ClassV1InUse,
				Risks:          []string{report.RiskRoleExposed},
				Recommendation: "Find and update the software that calls IMDSv1, then re-measure before enforcing.",
			},
			{
				Account: "111111111111", Region: "us-east-1", InstanceID: "i-0c00000000000ready",
				Name: `web, "primary"`, State: "running", LaunchTime: ts("2026-08-01T00:00:00Z"), ImageID: "ami-0web",
				Tags:            map[string]string{"Name": `web, "primary"`, "note": "line one\nline two", "cost": "-15%"},
				MetadataOptions: optional(2),
				Usage:           report.Usage{Status: report.UsageComplete, Datapoints: 14},
				Classification:  report.ClassReady,
				Recommendation:  "Enforce IMDSv2 now.",
			},
			{
				Account: "222222222222", Region: "us-west-2", InstanceID: "i-0d00000000000ready2",
				Name: "データベース-ü | <b>bold</b> **x**", State: "running", LaunchTime: ts("2026-07-07T07:07:07Z"),
				ImageID: "ami-0k8s", InstanceProfileArn: "arn:aws:iam::222222222222:instance-profile/node",
				Tags:            map[string]string{"Name": "データベース-ü | <b>bold</b> **x**", "karpenter.sh/nodepool": "default"},
				MetadataOptions: optional(1),
				Usage:           report.Usage{Status: report.UsagePartial, Datapoints: 9},
				Classification:  report.ClassReady,
				Risks:           []string{report.RiskContainerHopLimit, report.RiskRoleExposed},
				Recommendation:  "Enforce IMDSv2 and keep hop limit 1 unless its pods need the node's credentials.",
			},
			{
				Account: "111111111111", Region: "us-east-1", InstanceID: "i-0e00000000000stopped",
				Name: "+cmd|' /C calc'!A0", State: "stopped", LaunchTime: ts("2026-11-20T12:00:00Z"), ImageID: "ami-0batch",
				Tags:            map[string]string{"Name": "+cmd|' /C calc'!A0"},
				MetadataOptions: optional(1),
				Usage:           report.Usage{Status: report.UsageComplete, Datapoints: 2},
				Classification:  report.ClassNoData,
				Recommendation:  "Not enough evidence (2 of 7 days observed): run it and re-scan.",
			},
			{
				Account: "222222222222", Region: "us-west-2", InstanceID: "i-0f00000000000uerr",
				Name: "-2+3\nsecond line\ttab", State: "running", ImageID: "ami-0err",
				Tags:            map[string]string{"Name": "-2+3\nsecond line\ttab"},
				MetadataOptions: optional(2),
				Usage: report.Usage{Status: report.UsageError,
					Error: "AccessDenied: not authorized to perform cloudwatch:GetMetricData"},
				Classification: report.ClassNoData,
				Recommendation: "Usage could not be read: grant cloudwatch:GetMetricData and re-scan.",
			},
			{
				Account: "111111111111", Region: "ap-southeast-2", InstanceID: "i-1000000000000enf",
				Name: "@SUM(1+1)*cmd|' /C calc'!A0", State: "running", LaunchTime: ts("2026-06-01T00:00:00Z"), ImageID: "ami-0new",
				Tags:            map[string]string{"Name": "@SUM(1+1)*cmd|' /C calc'!A0"},
				MetadataOptions: required,
				Usage: report.Usage{Status: report.UsageComplete, NoTokenRejected: 17, DaysWithCalls: 2,
					LastCallAt: tp("2026-11-20T00:00:00Z"), Datapoints: 14},
				Classification: report.ClassEnforced,
				Risks:          []string{report.RiskV1Rejected},
				Recommendation: "Something is failing: find the v1 caller that IMDS now rejects.",
			},
			{
				Account: "111111111111", Region: "ap-southeast-2", InstanceID: "i-1100000000000dis",
				Name: "\tTabbed\r", State: "pending", LaunchTime: ts("2026-11-22T12:59:59Z"), ImageID: "ami-0off",
				MetadataOptions: disabled,
				Usage:           report.Usage{Status: report.UsageNone},
				Classification:  report.ClassDisabled,
				Recommendation:  "Leave it: the endpoint is off; disabling is never the fix.",
			},
			{
				Account: "111111111111", Region: "ap-southeast-2", InstanceID: "i-1200000000000html",
				Name: `<script>alert("x")</script> & 'q'`, State: "running", LaunchTime: ts("2026-05-05T05:05:05Z"), ImageID: "ami-0html",
				Tags:            map[string]string{"Name": `<script>alert("x")</script> & 'q'`},
				MetadataOptions: required,
				Usage:           report.Usage{Status: report.UsageComplete, Datapoints: 14},
				Classification:  report.ClassEnforced,
				Recommendation:  "Nothing to do.",
			},
		},
	}
}

// normalized is the fixture after report.Normalize.
func normalized(t *testing.T) *report.Report {
	t.Helper()
	r := fixture()
	report.Normalize(r)
	return r
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it; review the diff):\n%s",
			name, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n want: %q\n  got: %q", i+1, w, g)
		}
	}
	return "(no line differs: line endings?)"
}
