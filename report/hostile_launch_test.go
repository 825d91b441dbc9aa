package report_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/launch"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// hostileLaunchReport is a judged report whose Karpenter node pool and
// EC2NodeClass tags, --group-by tag values and owner tags hold names, so
// that they reach the workloads (names, owners, next-launch reasons,
// recommendations), the sources to fix and the per-instance next launch
// and recommendation. TestHostileNamesEveryFormat covers group and
// launch configuration names; these are the other tag values the launch
// sections quote.
func hostileLaunchReport(names []string) *report.Report {
	r := &report.Report{SchemaVersion: report.SchemaVersion, Targets: []report.Target{{Account: "1", Region: "r", Status: report.TargetOK}},
		ScanOptions: &report.ScanOptions{MinObservedDays: 7, LaunchSources: true, GroupBy: []string{"app"}, OwnerTags: launch.DefaultOwnerTags}}
	inv := &launch.Inventory{Account: "1", Region: "r", Defaults: &launch.AccountDefaults{},
		Templates: []launch.TemplateVersion{{TemplateID: "lt-1", TemplateName: report.KarpenterTemplatePrefix + "abc", Version: 1, Default: true, Latest: true,
			MetadataOptions: launch.Options{HttpTokens: "optional"}, ImageID: "ami-1"}},
		Images: []launch.Image{{ID: "ami-1"}}}
	for i, n := range names {
		mo := report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1}
		use := report.Usage{Status: report.UsageComplete, NoTokenCalls: 5, DaysWithCalls: 1, Datapoints: 14}
		r.Instances = append(r.Instances,
			report.Instance{Account: "1", Region: "r", InstanceID: "i-k" + strings.Repeat("0", i+1), Name: "node", MetadataOptions: mo, Usage: use,
				Tags: map[string]string{launch.TagKarpenterNodePool: n, launch.TagKarpenterNodeClass: n, launch.TagTemplateID: "lt-1", launch.TagTemplateVersion: "1", "team": n}},
			report.Instance{Account: "1", Region: "r", InstanceID: "i-g" + strings.Repeat("0", i+1), Name: "app", MetadataOptions: mo, Usage: use,
				Tags: map[string]string{"app": n, "owner": n}},
		)
	}
	res := launch.Resolve(inv, r.Instances)
	r.LaunchSources = res.Sources
	rules := policy.Rules{MinObservedDays: 7}
	for i := range r.Instances {
		policy.Apply(&r.Instances[i], rules)
	}
	r.Workloads = launch.Workloads(r, launch.WorkloadOptions{GroupBy: r.ScanOptions.GroupBy})
	report.Normalize(r)
	return r
}

// TestHostileLaunchTagsEveryFormat: the workloads, the sources to fix and
// the next-launch texts quote tag values an attacker with ec2:CreateTags
// chooses (Karpenter node pool and EC2NodeClass, --group-by and owner
// tags). The human formats show them escaped and bounded, with no raw
// control, bidi or forged line; CSV guards every cell against formulas,
// with the launch columns filled; JSON keeps them exactly.
func TestHostileLaunchTagsEveryFormat(t *testing.T) {
	names := []string{
		"\x1b[31mRED\x1b[0m\x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
		"web\nSUMMARY: forged\r\n| forged | row |",
		"invoice\u202egpj.exe\u2066",
		"=cmd|' /C calc'!A0",
		"@SUM(1+1)*cmd|' /C calc'!A0",
		strings.Repeat("A", 10<<20),
	}
	r := hostileLaunchReport(names)
	// The setup reaches what the test is about.
	if len(r.Workloads) != 2*len(names) {
		t.Fatalf("test setup: %d workloads, want %d", len(r.Workloads), 2*len(names))
	}
	for _, in := range r.Instances {
		if in.LaunchSource.Kind == report.SourceKarpenter && (!strings.Contains(in.NextLaunch.Reason, in.LaunchSource.KarpenterPool) || !in.HasRisk(report.RiskNextLaunchV1)) {
			t.Fatalf("test setup: Karpenter node %s: next launch %+v, risks %v", in.InstanceID, in.NextLaunch, in.Risks)
		}
	}
	for _, c := range []struct {
		format string
		opts   report.TableOptions
	}{
		{report.FormatTable, report.TableOptions{}},
		{report.FormatTable, report.TableOptions{Width: 100, Color: true}},
		{report.FormatMarkdown, report.TableOptions{}},
		{report.FormatHTML, report.TableOptions{}},
	} {
		out := ansiRE.ReplaceAllString(render(t, c.format, r, c.opts), "")
		if len(out) > 512<<10 {
			t.Errorf("%s: %d bytes for %d instances: a 10 MB tag was not bounded", c.format, len(out), len(r.Instances))
		}
		for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e", "\u2066"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s %+v: raw %q in the output", c.format, c.opts, bad)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "SUMMARY") || strings.HasPrefix(line, "| forged") {
				t.Errorf("%s: a tag forged a line: %q", c.format, line)
			}
		}
		if c.format == report.FormatHTML && (strings.Contains(out, "href=") || strings.Contains(out, "<script>alert")) {
			t.Errorf("html: a tag made markup")
		}
	}

	// CSV and JSON without the 10 MB value (seconds under -race; its
	// bound is a human-format matter).
	r = hostileLaunchReport(names[:len(names)-1])
	rows, err := csv.NewReader(strings.NewReader(render(t, report.FormatCSV, r, report.TableOptions{}))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(rows) != len(r.Instances)+1 {
		t.Fatalf("CSV: %d rows for %d instances (a newline split a row?)", len(rows), len(r.Instances))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		if row[col["workload"]] == "" || strings.HasPrefix(row[col["instance_id"]], "i-k") && row[col["launch_source"]] == "" {
			t.Errorf("CSV row %s: empty workload or launch_source: the launch columns are not exercised", row[col["instance_id"]])
		}
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("CSV row %s, column %s: cell %.60q starts with a formula character", row[col["instance_id"]], rows[0][i], cell)
			}
		}
	}
	back, err := report.Read(strings.NewReader(render(t, report.FormatJSON, r, report.TableOptions{})))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range back.Workloads {
		if w.Name != r.Workloads[i].Name || w.Owner != r.Workloads[i].Owner || w.Recommendation != r.Workloads[i].Recommendation {
			t.Errorf("JSON round trip changed workload %d: %.60q owner %.60q", i, w.Name, w.Owner)
		}
	}
	for i, in := range back.Instances {
		if *in.NextLaunch != *r.Instances[i].NextLaunch || in.LaunchSource.KarpenterPool != r.Instances[i].LaunchSource.KarpenterPool {
			t.Errorf("JSON round trip changed %s's launch source or next launch", in.InstanceID)
		}
	}
}
