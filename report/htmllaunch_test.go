package report_test

import (
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

// htmlLaunchFixture is the fixture with the schema version 2 parts a scan
// that read launch sources adds: account defaults (one set by a
// declarative policy), launch sources of every kind that allow v1, one
// that fails, one unresolved and one fine, workloads in every plan step
// (one named and owned by hostile text), a failed launch-source read.
func htmlLaunchFixture(t *testing.T) *report.Report {
	t.Helper()
	r := normalized(t)
	r.ScanOptions.LaunchSources = true
	const a1, a2 = "111111111111", "222222222222"
	optionalFrom := func(tokens, hop string) report.NextLaunch {
		return report.NextLaunch{Status: report.NextLaunchResolved, HttpTokens: "optional", HttpTokensFrom: tokens,
			HttpPutResponseHopLimit: 1, HttpPutResponseHopLimitFrom: hop, HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn}
	}
	required := report.NextLaunch{Status: report.NextLaunchResolved, HttpTokens: "required", HttpTokensFrom: report.LayerLaunchTemplate,
		HttpPutResponseHopLimit: 2, HttpPutResponseHopLimitFrom: report.LayerLaunchTemplate, HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn}
	webNext := optionalFrom(report.LayerLaunchTemplate, report.LayerBuiltIn)
	lcNext := optionalFrom(report.LayerLaunchConfiguration, report.LayerLaunchConfiguration)
	fails := optionalFrom(report.LayerLaunchTemplate, report.LayerBuiltIn)
	fails.Status, fails.Reason = report.NextLaunchFails, "HttpTokensEnforced is enabled in us-west-2: EC2 refuses a launch with tokens optional"
	gone := report.NextLaunch{Status: report.NextLaunchUnresolved, Reason: "launch template lt-0gone has no version 7"}
	policyNext := optionalFrom(report.LayerDeclarativePolicy, report.LayerBuiltIn)

	r.AccountDefaults = []report.AccountDefaults{
		{Account: a1, Region: "us-east-1", ManagedBy: "account"},
		{Account: a2, Region: "us-west-2", HttpTokens: "optional", HttpTokensEnforced: "enabled", ManagedBy: report.LayerDeclarativePolicy,
			ManagedExceptionMessage: "Ask the platform team"},
	}
	r.LaunchSources = []report.LaunchSource{
		{Account: a1, Region: "us-east-1", ID: "launch-template/lt-0web/3", Kind: report.SourceLaunchTemplate, Name: "web-<b>tmpl</b>",
			TemplateID: "lt-0web", Version: 3, IsDefault: true, NextLaunch: webNext, Groups: []string{"web-asg"},
			Instances: []string{"i-0b00000000000formula", "i-0c00000000000ready"}},
		{Account: a1, Region: "us-east-1", ID: "launch-template/lt-0web/4", Kind: report.SourceLaunchTemplate, Name: "web-<b>tmpl</b>",
			TemplateID: "lt-0web", Version: 4, IsLatest: true, NextLaunch: required, Groups: []string{}, Instances: []string{}},
		{Account: a1, Region: "us-east-1", ID: "auto-scaling-group/web-asg", Kind: report.SourceAutoScalingGroup, Name: "web-asg",
			Uses: []string{"launch-template/lt-0web/3"}, NextLaunch: webNext, Groups: []string{},
			Instances: []string{"i-0b00000000000formula", "i-0c00000000000ready"}},
		{Account: a1, Region: "us-east-1", ID: "launch-configuration/legacy-lc", Kind: report.SourceLaunchConfiguration, Name: "legacy-lc",
			NextLaunch: lcNext, Groups: []string{"legacy-asg"}, Instances: []string{"i-0e00000000000stopped"}},
		{Account: a1, Region: "us-east-1", ID: "launch-template/lt-0gone/7", Kind: report.SourceLaunchTemplate, Name: "gone",
			TemplateID: "lt-0gone", Version: 7, NextLaunch: gone, Groups: []string{"batch-asg"}, Instances: []string{}},
		{Account: a1, Region: "us-east-1", ID: "account-default", Kind: report.SourceAccountDefault,
			NextLaunch: optionalFrom(report.LayerBuiltIn, report.LayerBuiltIn), Groups: []string{}, Instances: []string{}},
		{Account: a2, Region: "us-west-2", ID: "account-default", Kind: report.SourceAccountDefault,
			NextLaunch: policyNext, Groups: []string{}, Instances: []string{}},
		{Account: a2, Region: "us-west-2", ID: "launch-template/lt-0batch/2", Kind: report.SourceLaunchTemplate, Name: "batch",
			TemplateID: "lt-0batch", Version: 2, IsDefault: true, IsLatest: true, NextLaunch: fails, Groups: []string{}, Instances: []string{}},
	}
	counts := func(kv ...int) map[string]int {
		m := map[string]int{}
		for i, c := range report.Classifications {
			m[c] = kv[i]
		}
		return m
	}
	r.Workloads = []report.Workload{
		{Account: a1, Region: "ap-southeast-2", ID: "unmanaged/" + a1 + "/ap-southeast-2/unmanaged", Kind: report.WorkloadUnmanaged, Name: "unmanaged",
			Instances: 3, ByClassification: counts(0, 0, 0, 2, 1), Step: report.StepDone,
			Recommendation: "Nothing to do: IMDSv2 is enforced (or IMDS is off) on every instance."},
		{Account: a1, Region: "us-east-1", ID: "auto-scaling-group/" + a1 + "/us-east-1/legacy-asg", Kind: report.WorkloadAutoScalingGroup, Name: "legacy-asg",
			Instances: 1, ByClassification: counts(0, 1, 0, 0, 0), SourceIDs: []string{"launch-configuration/legacy-lc"}, NextLaunch: &lcNext,
			Step: report.StepFixSource, Recommendation: "Fix its launch source launch-configuration/legacy-lc first."},
		{Account: a1, Region: "us-east-1", ID: "auto-scaling-group/" + a1 + "/us-east-1/web-asg", Kind: report.WorkloadAutoScalingGroup, Name: "web-asg",
			Instances: 2, ByClassification: counts(1, 0, 1, 0, 0), SourceIDs: []string{"auto-scaling-group/web-asg"}, NextLaunch: &webNext,
			Owner: "pay,ments", OwnerTag: "team", Step: report.StepFixSource, Recommendation: "Fix its launch source auto-scaling-group/web-asg first."},
		{Account: a1, Region: "us-east-1", ID: "eks-nodegroup/" + a1 + "/us-east-1/prod/ng-1", Kind: report.WorkloadEKSNodegroup, Name: "prod/ng-1",
			Instances: 1, ByClassification: counts(1, 0, 0, 0, 0), NextLaunch: &required,
			Step: report.StepFindCallers, Recommendation: "Find and update the software making IMDSv1 calls on 1 instance, then enforce IMDSv2."},
		{Account: a2, Region: "us-west-2", ID: "tag/" + a2 + "/us-west-2/app=<script>", Kind: report.WorkloadTag, Name: `app=<script>alert(1)</script>`,
			Instances: 2, ByClassification: counts(0, 1, 1, 0, 0), Owner: "\u202eevil\x1b[31m", OwnerTag: "owner",
			Step: report.StepEnforceReady, Recommendation: "Enforce IMDSv2 on the 1 ready instance: no IMDSv1 calls over enough observed days."},
	}
	workloadOf := map[string]string{
		"i-0b00000000000formula": r.Workloads[2].ID, "i-0c00000000000ready": r.Workloads[2].ID,
		"i-0e00000000000stopped": r.Workloads[1].ID, "i-0a00000000000v1eks": r.Workloads[3].ID,
		"i-0d00000000000ready2": r.Workloads[4].ID, "i-0f00000000000uerr": r.Workloads[4].ID,
		"i-1000000000000enf": r.Workloads[0].ID, "i-1100000000000dis": r.Workloads[0].ID, "i-1200000000000html": r.Workloads[0].ID,
	}
	for i := range r.Instances {
		r.Instances[i].Workload = workloadOf[r.Instances[i].InstanceID]
	}
	for i := range r.Targets {
		if r.Targets[i].Region == "us-west-2" {
			r.Targets[i].LaunchErrors = []report.LaunchReadError{{Read: "DescribeAutoScalingGroups", Permission: "autoscaling:DescribeAutoScalingGroups",
				Error: "api error AccessDenied: User is not authorized to perform autoscaling:DescribeAutoScalingGroups"}}
		}
	}
	report.Normalize(r)
	return r
}

// section is the page from the element with the given id to the next h2.
func section(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no section %s", id)
	}
	rest := page[i:]
	if j := strings.Index(rest[1:], "<h2"); j >= 0 {
		rest = rest[:j+1]
	}
	return rest
}

// rowsOf returns the text of each body row's cells in a piece of page.
func rowsOf(piece string) [][]string {
	var out [][]string
	body := piece[strings.Index(piece, "<tbody>"):]
	body = body[:strings.Index(body, "</tbody>")]
	cell := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tag := regexp.MustCompile(`<[^>]+>`)
	for _, tr := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(body, -1) {
		var cells []string
		for _, c := range cell.FindAllStringSubmatch(tr[1], -1) {
			// Tags become spaces: "web-asg<div class="sub">auto-scaling-group</div>" reads "web-asg auto-scaling-group".
			cells = append(cells, strings.Join(strings.Fields(html.UnescapeString(tag.ReplaceAllString(c[1], " "))), " "))
		}
		out = append(out, cells)
	}
	return out
}

func TestHTMLWorkloads(t *testing.T) {
	r := htmlLaunchFixture(t)
	page := render(t, report.FormatHTML, r, report.TableOptions{})
	golden(t, "report-launch.html", []byte(page))

	t.Run("workloads first, in plan order", func(t *testing.T) {
		if w, s, v := strings.Index(page, `id="workloads"`), strings.Index(page, `id="sources"`), strings.Index(page, `id="waves"`); !(w >= 0 && w < s && s < v) {
			t.Errorf("sections at %d (workloads), %d (sources), %d (waves): want that order", w, s, v)
		}
		rows := rowsOf(section(t, page, "workload-table"))
		var got []string
		for _, row := range rows {
			// Workload, Instances, v1-in-use, Next launch tag, step.
			got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s", row[0], row[4], row[5], strings.Fields(row[10])[0], row[11]))
		}
		want := []string{
			"web-asg auto-scaling-group|2|1|allows|1 · fix-source",
			"legacy-asg auto-scaling-group|1|0|allows|1 · fix-source",
			`app=<script>alert(1)</script> tag|2|0|unknown|2 · enforce-ready`,
			"prod/ng-1 eks-nodegroup|1|1|v2|3 · find-v1-callers",
			"unmanaged unmanaged|3|0|unknown|6 · done",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("workload rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if rows[0][3] != "team=pay,ments" || rows[2][3] != `owner=\u202eevil\x1b[31m` {
			t.Errorf("owners %q, %q: want them shown, sanitized", rows[0][3], rows[2][3])
		}
		if !strings.Contains(rows[0][10], "tokens optional (launch-template) · hop 1 (built-in)") {
			t.Errorf("next launch %q: want each setting with its layer", rows[0][10])
		}
	})

	t.Run("sources to fix", func(t *testing.T) {
		s := section(t, page, "sources")
		fix := s[:strings.Index(s, `id="sources-unresolved"`)]
		var got []string
		for _, row := range rowsOf(fix) {
			got = append(got, row[0]+" | "+row[1]+" "+row[2]+" | "+strings.Fields(row[3])[0]+" | "+row[4]+" | "+row[5])
		}
		want := []string{
			"batch (lt-0batch) version 2, $Default and $Latest launch-template | 222222222222 us-west-2 | launch | " + " | 0",
			"web-asg auto-scaling-group | 111111111111 us-east-1 | allows | " + " | 2",
			"web-<b>tmpl</b> (lt-0web) version 3, $Default launch-template | 111111111111 us-east-1 | allows | web-asg | 2",
			"legacy-lc launch-configuration | 111111111111 us-east-1 | allows | legacy-asg | 1",
			"account defaults account-default | 111111111111 us-east-1 | allows | " + " | 0",
			"account defaults account-default | 222222222222 us-west-2 | allows | " + " | 0",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("sources to fix:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if !strings.Contains(fix, `Launch sources to fix <span class="count">(6)</span>`) {
			t.Error("no count of the sources to fix")
		}
		for _, want := range []string{
			// The same words as the table and Markdown.
			"A declarative policy sets these defaults: change it in AWS Organizations.",
			"launch configurations cannot be modified",
			"Cannot launch now: HttpTokensEnforced is enabled in us-west-2",
			"Fix launch-template/lt-0web/3, or point the group at a template version with HttpTokens=required.",
		} {
			if !strings.Contains(html.UnescapeString(fix), want) {
				t.Errorf("sources to fix lack %q", want)
			}
		}
		unresolved := rowsOf(s[strings.Index(s, `id="sources-unresolved"`):])
		if len(unresolved) != 1 || !strings.HasPrefix(unresolved[0][0], "gone (lt-0gone) version 7") ||
			!strings.Contains(unresolved[0][3], "launch template lt-0gone has no version 7") {
			t.Errorf("unresolved sources %q", unresolved)
		}
		if strings.Contains(s, "lt-0web) version 4") {
			t.Error("a source that launches v2 only is listed")
		}
	})

	t.Run("waves name the workloads", func(t *testing.T) {
		rows := rowsOf(section(t, page, "wave-3"))
		if len(rows) != 1 || rows[0][0] != "i-0b00000000000formula" || rows[0][2] != "web-asg" {
			t.Errorf("wave 3 rows %q: want i-0b00000000000formula in workload web-asg", rows)
		}
		rows = rowsOf(section(t, page, "wave-1"))
		if len(rows) != 2 || rows[1][2] != "app=<script>alert(1)</script>" {
			t.Errorf("wave 1 rows %q: want the hostile workload name as text", rows)
		}
	})

	t.Run("launch read errors", func(t *testing.T) {
		if !strings.Contains(page, "1 launch-source read(s) failed") ||
			!strings.Contains(page, "222222222222/us-west-2: DescribeAutoScalingGroups (needs autoscaling:DescribeAutoScalingGroups): api error AccessDenied") {
			t.Error("the failed launch-source read is not shown")
		}
	})

	t.Run("classification by workload", func(t *testing.T) {
		c, ok := pageCharts(t, page)["chart-workload"]
		if !ok {
			t.Fatal("no workload chart")
		}
		checkSVG(t, "chart-workload", c.SVG)
		want := map[string]map[string]int{}
		for _, w := range r.Workloads {
			m := map[string]int{}
			for k, n := range w.ByClassification {
				if n > 0 {
					m[k] = n
				}
			}
			want[w.Name+" · "+w.Region] = m
		}
		got := map[string]map[string]int{}
		for _, b := range c.Bars {
			got[b.Label] = b.Segs
		}
		// The hostile name is cut to the label width: compare it apart.
		hostile := `app=<script>alert(1)</script> · us-west-2`
		if g := got[`app=<script>alert(1)</scrip…`]; fmt.Sprint(g) != fmt.Sprint(want[hostile]) {
			t.Errorf("hostile workload bar %v, want %v (bars %v)", g, want[hostile], got)
		}
		delete(got, `app=<script>alert(1)</scrip…`)
		delete(want, hostile)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("workload bars %v, want %v", got, want)
		}
		if n := strings.Count(page, "<script"); n != 1 {
			t.Errorf("%d script elements", n)
		}
	})
}

// TestHTMLWithoutLaunchSources: a report without workloads (schema
// version 1) or whose scan skipped the launch sources still renders a
// plan, and says what is missing and how to get it.
func TestHTMLWithoutLaunchSources(t *testing.T) {
	t.Run("schema version 1", func(t *testing.T) {
		r := normalized(t)
		r.SchemaVersion = 1
		page := render(t, report.FormatHTML, r, report.TableOptions{})
		for _, want := range []string{
			"This report has no workloads: it was written before imdsfleet grouped instances into workloads (schema version 1). Scan again to get them.",
			"The scan did not read launch sources (--no-launch-sources, or a report written before imdsfleet read them)",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(page, `id="workload-table"`) || strings.Contains(page, `id="chart-workload"`) {
			t.Error("an empty workload table or chart is drawn")
		}
		if !strings.Contains(page, `id="wave-1"`) || !strings.Contains(page, `id="chart-region"`) {
			t.Error("the waves and the Region chart are missing")
		}
	})
	t.Run("--no-launch-sources", func(t *testing.T) {
		r := htmlLaunchFixture(t)
		r.ScanOptions.LaunchSources = false
		r.LaunchSources, r.AccountDefaults = []report.LaunchSource{}, []report.AccountDefaults{}
		for i := range r.Workloads {
			r.Workloads[i].NextLaunch, r.Workloads[i].SourceIDs = nil, []string{}
		}
		page := render(t, report.FormatHTML, r, report.TableOptions{})
		if !strings.Contains(page, "The scan did not read launch sources") {
			t.Error("no word that the launch sources were not read")
		}
		for _, row := range rowsOf(section(t, page, "workload-table")) {
			if !strings.HasPrefix(row[10], "not read") {
				t.Errorf("workload %s: next launch %q, want not read", row[0], row[10])
			}
		}
	})
	t.Run("nothing to fix", func(t *testing.T) {
		r := htmlLaunchFixture(t)
		r.LaunchSources = slices.DeleteFunc(r.LaunchSources, func(s report.LaunchSource) bool { return s.ID != "launch-template/lt-0web/4" }) // v2 only
		page := render(t, report.FormatHTML, r, report.TableOptions{})
		if !strings.Contains(page, "No launch source would launch an instance that allows IMDSv1.") {
			t.Error("no word that no source needs fixing")
		}
	})
}
