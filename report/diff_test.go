package report_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

// diffPair is two crafted reports with one instance per kind of change
// (see want in TestCompareKinds), a target that failed in the new report,
// a target only the new report scanned, and hostile names.
func diffPair() (old, new *report.Report) {
	mo := func(tokens, endpoint string) report.MetadataOptions {
		return report.MetadataOptions{HttpTokens: tokens, HttpEndpoint: endpoint, HttpPutResponseHopLimit: 2, State: "applied"}
	}
	calls := func(n float64) report.Usage {
		u := report.Usage{Status: report.UsageComplete, Datapoints: 14, NoTokenCalls: n}
		if n > 0 {
			u.DaysWithCalls = 1
		}
		return u
	}
	next := func(tokens string) *report.NextLaunch {
		return &report.NextLaunch{Status: report.NextLaunchResolved, HttpTokens: tokens, HttpTokensFrom: report.LayerLaunchTemplate,
			HttpPutResponseHopLimit: 2, HttpPutResponseHopLimitFrom: report.LayerLaunchTemplate, HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn}
	}
	inst := func(account, region, id, class string, tokens string, u report.Usage) report.Instance {
		endpoint := "enabled"
		if class == report.ClassDisabled {
			endpoint, u = "disabled", report.Usage{Status: report.UsageNone}
		}
		return report.Instance{Account: account, Region: region, InstanceID: id, Name: "name-" + id, State: "running",
			MetadataOptions: mo(tokens, endpoint), Usage: u, Classification: class, NextLaunch: next("required")}
	}
	const a, b = "111111111111", "222222222222"
	const use1, euw1, usw2 = "us-east-1", "eu-west-1", "us-west-2"
	opts := &report.ScanOptions{MinObservedDays: 7, LaunchSources: true}
	old = &report.Report{
		SchemaVersion: 2, Tool: report.Tool{Name: "imdsfleet", Version: "v1.0.0"}, ScanOptions: opts,
		GeneratedAt: ts("2026-11-15T06:00:00Z"),
		Window:      report.Window{Start: ts("2026-11-01T00:00:00Z"), End: ts("2026-11-15T06:00:00Z")},
		Targets: []report.Target{
			{Account: a, Region: use1, Status: report.TargetOK},
			{Account: a, Region: euw1, Status: report.TargetOK},
			{Account: a, Region: "ap-south-1", Status: report.TargetOK},
		},
		Instances: []report.Instance{
			inst(a, use1, "i-01enforced", report.ClassReady, "optional", calls(0)),
			inst(a, use1, "i-02regress", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-03regress-ready", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-04newv1", report.ClassReady, "optional", calls(0)),
			inst(a, use1, "i-05down", report.ClassV1InUse, "optional", calls(500)),
			inst(a, use1, "i-06up", report.ClassV1InUse, "optional", calls(100)),
			inst(a, use1, "i-07stopped-v1", report.ClassV1InUse, "optional", calls(50)),
			inst(a, use1, "i-08same", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-09gone", report.ClassReady, "optional", calls(0)),
			inst(a, use1, "i-12disabled-enforced", report.ClassDisabled, "optional", report.Usage{}),
			inst(a, use1, "i-13enforced-disabled", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-14unread", report.ClassV1InUse, "optional", calls(70)),
			inst(a, use1, "i-15next-launch", report.ClassEnforced, "required", calls(0)),
			inst(a, euw1, "i-20eu", report.ClassV1InUse, "optional", calls(9)),
		},
	}
	new = &report.Report{
		SchemaVersion: 2, Tool: report.Tool{Name: "imdsfleet", Version: "v1.1.0"}, ScanOptions: opts,
		GeneratedAt: ts("2026-11-22T06:00:00Z"),
		Window:      report.Window{Start: ts("2026-11-08T00:00:00Z"), End: ts("2026-11-22T06:00:00Z")},
		Targets: []report.Target{
			{Account: a, Region: use1, Status: report.TargetOK},
			{Account: a, Region: euw1, Status: report.TargetError, Error: "AuthFailure"},
			{Account: b, Region: usw2, Status: report.TargetOK},
			{Account: a, Region: "ap-south-1", Status: report.TargetOK},
		},
		Instances: []report.Instance{
			inst(a, use1, "i-01enforced", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-02regress", report.ClassV1InUse, "optional", calls(100)),
			inst(a, use1, "i-03regress-ready", report.ClassReady, "optional", calls(0)),
			inst(a, use1, "i-04newv1", report.ClassV1InUse, "optional", calls(30)),
			inst(a, use1, "i-05down", report.ClassV1InUse, "optional", calls(100)),
			inst(a, use1, "i-06up", report.ClassV1InUse, "optional", calls(500)),
			inst(a, use1, "i-07stopped-v1", report.ClassReady, "optional", calls(0)),
			inst(a, use1, "i-08same", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-10new", report.ClassReady, "optional", calls(0)),
			inst(a, use1, "i-11new-v1", report.ClassV1InUse, "optional", calls(7)),
			inst(a, use1, "i-12disabled-enforced", report.ClassEnforced, "required", calls(0)),
			inst(a, use1, "i-13enforced-disabled", report.ClassDisabled, "optional", report.Usage{}),
			inst(a, use1, "i-14unread", report.ClassNoData, "optional", report.Usage{Status: report.UsageError, Error: "AccessDenied"}),
			inst(a, use1, "i-15next-launch", report.ClassEnforced, "required", calls(0)),
			inst(b, usw2, "i-30w2", report.ClassV1InUse, "optional", calls(3)),
		},
	}
	// The launch template of i-15 now launches with tokens optional; i-02
	// regressed both ways.
	new.Instances[13].NextLaunch = next("optional")
	new.Instances[1].NextLaunch = next("optional")
	// Workloads: the web group (i-01…i-04, and the new i-10) now launches
	// with tokens optional; i-06 moved to a launch template of its own;
	// everything else in us-east-1 is unmanaged.
	const web, lt, un, eu, w2 = "auto-scaling-group/111111111111/us-east-1/web", "launch-template/111111111111/us-east-1/lt-0abc",
		"unmanaged/111111111111/us-east-1/unmanaged", "unmanaged/111111111111/eu-west-1/unmanaged", "unmanaged/222222222222/us-west-2/unmanaged"
	place := func(r *report.Report, moved bool) {
		for i := range r.Instances {
			in := &r.Instances[i]
			switch {
			case in.Region == euw1:
				in.Workload = eu
			case in.Account == b:
				in.Workload = w2
			case in.InstanceID == "i-06up" && moved:
				in.Workload = lt
			case in.InstanceID <= "i-04~" || in.InstanceID == "i-10new":
				in.Workload = web
			default:
				in.Workload = un
			}
		}
	}
	place(old, false)
	place(new, true)
	wl := func(id, kind, name, account, region, tokens string) report.Workload {
		w := report.Workload{ID: id, Kind: kind, Name: name, Account: account, Region: region, Step: report.StepDone}
		if tokens != "" {
			w.NextLaunch = next(tokens)
		}
		return w
	}
	old.Workloads = []report.Workload{
		wl(web, report.WorkloadAutoScalingGroup, "web", a, use1, "required"),
		wl(un, report.WorkloadUnmanaged, "unmanaged", a, use1, ""),
		wl(eu, report.WorkloadUnmanaged, "unmanaged", a, euw1, ""),
	}
	new.Workloads = []report.Workload{
		wl(web, report.WorkloadAutoScalingGroup, "web", a, use1, "optional"),
		wl(lt, report.WorkloadLaunchTemplate, "lt-0abc", a, use1, "required"),
		wl(un, report.WorkloadUnmanaged, "unmanaged", a, use1, ""),
		wl(w2, report.WorkloadUnmanaged, "unmanaged", b, usw2, ""),
	}
	// Hostile names: a terminal escape, a forged line, Markdown, HTML, a link.
	new.Instances[9].Name = "\x1b[2J\x1b[31mEVIL\nforged | row ![x](http://evil.example) <b>@admin</b>"
	new.Instances[10].Name = "\u202egnp.exe"
	return old, new
}

// TestCompareKinds: every kind of change is found on the instance that
// has it, and nowhere else.
func TestCompareKinds(t *testing.T) {
	old, new := diffPair()
	d := report.Compare(old, new)
	want := map[string][]string{
		"i-01enforced":          {report.ChangeEnforced},
		"i-02regress":           {report.ChangeRegression, report.ChangeNextLaunchRegression, report.ChangeNewV1, report.ChangeV1CallsUp},
		"i-15next-launch":       {report.ChangeNextLaunchRegression},
		"i-03regress-ready":     {report.ChangeRegression},
		"i-04newv1":             {report.ChangeNewV1, report.ChangeV1CallsUp},
		"i-05down":              {report.ChangeV1CallsDown},
		"i-06up":                {report.ChangeV1CallsUp},
		"i-07stopped-v1":        {report.ChangeV1CallsDown, report.ChangeReclassified},
		"i-09gone":              {report.ChangeGone},
		"i-10new":               {report.ChangeNew},
		"i-11new-v1":            {report.ChangeNewV1, report.ChangeNew},
		"i-12disabled-enforced": {report.ChangeEnforced},
		"i-13enforced-disabled": {report.ChangeReclassified},
		"i-14unread":            {report.ChangeReclassified},
		"i-20eu":                {report.ChangeUnscanned},
		"i-30w2":                {report.ChangeUnscanned},
	}
	// Kinds come in ChangeKinds order.
	for id, kinds := range want {
		order := func(k string) int {
			for i, c := range report.ChangeKinds {
				if c == k {
					return i
				}
			}
			return -1
		}
		for i := 1; i < len(kinds); i++ {
			if order(kinds[i-1]) > order(kinds[i]) {
				kinds[i-1], kinds[i] = kinds[i], kinds[i-1]
				i = 0
			}
		}
		want[id] = kinds
	}
	got := map[string][]string{}
	var keys []string
	for _, in := range d.Instances {
		got[in.InstanceID] = in.Changes
		keys = append(keys, in.Account+"/"+in.Region+"/"+in.InstanceID)
	}
	if !reflect.DeepEqual(got, want) {
		for id := range want {
			if !reflect.DeepEqual(got[id], want[id]) {
				t.Errorf("%s: changes %v, want %v", id, got[id], want[id])
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: changes %v, want none", id, got[id])
			}
		}
	}
	if !isSorted(keys) {
		t.Errorf("instances not sorted by account, Region and id: %v", keys)
	}

	// Counts per kind, per Region and in total.
	tot := d.Totals.Changes
	wantTot := report.DiffCounts{Regression: 2, NextLaunchRegression: 2, NewV1: 3, Enforced: 2, New: 2, Gone: 1, V1CallsUp: 3, V1CallsDown: 2, Reclassified: 3, Unscanned: 2}
	if tot != wantTot {
		t.Errorf("totals %+v\nwant   %+v", tot, wantTot)
	}
	var regions []string
	for _, g := range d.Regions {
		regions = append(regions, g.Account+"/"+g.Region+":"+g.Status.Old+">"+g.Status.New)
	}
	if w := "111111111111/ap-south-1:ok>ok 111111111111/eu-west-1:ok>error 111111111111/us-east-1:ok>ok 222222222222/us-west-2:not-scanned>ok"; strings.Join(regions, " ") != w {
		t.Errorf("regions %v, want %s", regions, w)
	}
	use1 := d.Regions[2]
	if use1.Instances != (report.IntPair{Old: 13, New: 14}) || use1.Enforced != (report.IntPair{Old: 5, New: 4}) ||
		use1.V1InUse != (report.IntPair{Old: 4, New: 5}) || use1.V1Calls != (report.FloatPair{Old: 720, New: 737}) {
		t.Errorf("us-east-1 figures: instances %+v enforced %+v v1InUse %+v v1Calls %+v", use1.Instances, use1.Enforced, use1.V1InUse, use1.V1Calls)
	}
	if len(d.Accounts) != 2 || d.Accounts[0].Changes.Unscanned != 1 || d.Accounts[1].Instances != (report.IntPair{Old: 0, New: 1}) {
		t.Errorf("accounts %+v", d.Accounts)
	}
	// Unread usage: null calls, not 0.
	for _, in := range d.Instances {
		if in.InstanceID == "i-14unread" && (in.V1Calls.Old == nil || *in.V1Calls.Old != 70 || in.V1Calls.New != nil) {
			t.Errorf("i-14unread calls %+v, want 70 → null", in.V1Calls)
		}
	}
}

func isSorted(ids []string) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i-1] > ids[i] {
			return false
		}
	}
	return true
}

// TestCompareSchemaVersions: a schema-1 report (no next launches, no
// workloads) against a schema-2 one is compared on what both hold, and
// the diff says what it left out; so is a scan without launch sources.
func TestCompareSchemaVersions(t *testing.T) {
	old, new := diffPair()
	old.SchemaVersion = 1
	for i := range old.Instances {
		old.Instances[i].NextLaunch = nil
	}
	d := report.Compare(old, new)
	if d.Totals.Changes.NextLaunchRegression != 0 || d.Totals.Changes.Regression != 2 || d.Totals.Changes.NewV1 != 3 {
		t.Errorf("v1 → v2 totals %+v: want the v1 changes and no next-launch regression", d.Totals.Changes)
	}
	want := []string{
		"next launches: the old report does not record them (schema version 1), so next-launch regressions are not counted",
		"workloads: the old report does not record them (schema version 1), so there is no progress per workload",
	}
	if !reflect.DeepEqual(d.NotCompared, want) {
		t.Errorf("notCompared %q\nwant %q", d.NotCompared, want)
	}

	old, new = diffPair()
	new.ScanOptions = &report.ScanOptions{MinObservedDays: 7}
	d = report.Compare(old, new)
	if d.Totals.Changes.NextLaunchRegression != 0 || len(d.NotCompared) != 1 || !strings.Contains(d.NotCompared[0], "--no-launch-sources") {
		t.Errorf("new scan without launch sources: next-launch regressions %d, notCompared %q", d.Totals.Changes.NextLaunchRegression, d.NotCompared)
	}
	old, new = diffPair()
	if d := report.Compare(old, new); len(d.NotCompared) != 0 {
		t.Errorf("two schema-2 reports with launch sources: notCompared %q, want none", d.NotCompared)
	}
}

// TestCompareWorkloads: per workload, an instance counts in its workload
// of each report (in both when it moved) and its changes in its new one;
// a workload's next launch is shown old → new.
func TestCompareWorkloads(t *testing.T) {
	old, new := diffPair()
	d := report.Compare(old, new)
	byID := map[string]report.DiffGroup{}
	var ids []string
	for _, g := range d.Workloads {
		byID[g.Workload] = g
		ids = append(ids, g.Workload)
	}
	if want := []string{
		"unmanaged/111111111111/eu-west-1/unmanaged",
		"auto-scaling-group/111111111111/us-east-1/web",
		"launch-template/111111111111/us-east-1/lt-0abc",
		"unmanaged/111111111111/us-east-1/unmanaged",
		"unmanaged/222222222222/us-west-2/unmanaged",
	}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("workloads %v\nwant %v", ids, want)
	}
	web := byID["auto-scaling-group/111111111111/us-east-1/web"]
	if web.Kind != report.WorkloadAutoScalingGroup || web.Name != "web" || web.Account != "111111111111" || web.Region != "us-east-1" {
		t.Errorf("web: %+v", web)
	}
	if want := (report.DiffCounts{Regression: 2, NextLaunchRegression: 1, NewV1: 2, Enforced: 1, New: 1, V1CallsUp: 2}); web.Changes != want {
		t.Errorf("web changes %+v\nwant        %+v", web.Changes, want)
	}
	if web.Instances != (report.IntPair{Old: 4, New: 5}) || *web.NextLaunchTokens != (report.StringPair{Old: "required", New: "optional"}) {
		t.Errorf("web instances %+v, next launch %+v", web.Instances, *web.NextLaunchTokens)
	}
	lt := byID["launch-template/111111111111/us-east-1/lt-0abc"]
	un := byID["unmanaged/111111111111/us-east-1/unmanaged"]
	if lt.Instances != (report.IntPair{Old: 0, New: 1}) || lt.Changes != (report.DiffCounts{V1CallsUp: 1}) {
		t.Errorf("moved instance: launch template %+v %+v", lt.Instances, lt.Changes)
	}
	if un.Instances != (report.IntPair{Old: 9, New: 8}) {
		t.Errorf("unmanaged instances %+v, want 9 → 8 (i-06 moved, i-09 gone, i-11 new)", un.Instances)
	}
	for _, in := range d.Instances {
		if in.InstanceID == "i-06up" && in.Workload != lt.Workload {
			t.Errorf("i-06up workload %q, want its new one", in.Workload)
		}
	}
	// A schema-1 side: no workloads compared.
	old.SchemaVersion = 1
	if d := report.Compare(old, new); len(d.Workloads) != 0 {
		t.Errorf("schema 1 against 2: %d workloads, want none", len(d.Workloads))
	}
}

// TestCompareDeterministic: the order of instances and targets in the
// reports does not change a byte of any output.
func TestCompareDeterministic(t *testing.T) {
	old, new := diffPair()
	render := func(o, n *report.Report) string {
		d := report.Compare(o, n)
		var b bytes.Buffer
		for _, f := range report.DiffFormats {
			if err := report.WriteDiff(&b, f, d, report.TableOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return b.String()
	}
	want := render(old, new)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		o, n := diffPair()
		rng.Shuffle(len(o.Instances), func(i, j int) { o.Instances[i], o.Instances[j] = o.Instances[j], o.Instances[i] })
		rng.Shuffle(len(n.Instances), func(i, j int) { n.Instances[i], n.Instances[j] = n.Instances[j], n.Instances[i] })
		rng.Shuffle(len(n.Targets), func(i, j int) { n.Targets[i], n.Targets[j] = n.Targets[j], n.Targets[i] })
		if got := render(o, n); got != want {
			t.Fatalf("output depends on input order:\n%s", firstDiff(want, got))
		}
	}
}

// TestDiffGolden: the three formats, reviewed as files. The JSON is the
// documented shape (README); the table and Markdown show hostile names
// inert.
func TestDiffGolden(t *testing.T) {
	old, new := diffPair()
	d := report.Compare(old, new)
	for _, tt := range []struct{ file, format string }{
		{"diff.json", report.FormatJSON}, {"diff.md", report.FormatMarkdown}, {"diff.txt", report.FormatTable},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.WriteDiff(&buf, tt.format, d, report.TableOptions{}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			bads := []string{"\x1b", "\u202e", "\nforged"}
			if tt.format == report.FormatMarkdown {
				bads = append(bads, "<b>", "![x](http://evil")
			}
			if tt.format != report.FormatJSON {
				for _, bad := range bads {
					if strings.Contains(out, bad) {
						t.Errorf("%s carries %q unescaped", tt.file, bad)
					}
				}
			} else {
				var back report.Diff
				if err := json.Unmarshal(buf.Bytes(), &back); err != nil || !reflect.DeepEqual(&back, d) {
					t.Errorf("the JSON does not read back to the diff: %v", err)
				}
			}
			golden(t, tt.file, buf.Bytes())
		})
	}
}

// TestCompareEmptyAndSame: a report against itself has no change but the
// figures; empty reports give empty lists (never null in JSON).
func TestCompareEmptyAndSame(t *testing.T) {
	_, new := diffPair()
	d := report.Compare(new, new)
	if len(d.Instances) != 0 {
		t.Errorf("a report against itself: %d changed instances", len(d.Instances))
	}
	empty := &report.Report{SchemaVersion: 1}
	var buf bytes.Buffer
	if err := report.WriteDiffJSON(&buf, report.Compare(empty, empty)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "null") {
		t.Errorf("empty diff JSON has a null:\n%s", buf.String())
	}
}

// TestDiffMarkdownBounded: an organization's diff (3,000 changed Regions,
// 6,000 changed instances, 10,000 workloads) stays far under the 1 MiB a
// GitHub step summary takes: every list is capped and says what it left
// out.
func TestDiffMarkdownBounded(t *testing.T) {
	mk := func(tokens, class string) *report.Report {
		r := &report.Report{SchemaVersion: 2}
		for i := range 3000 {
			acct := fmt.Sprintf("%012d", i)
			r.Targets = append(r.Targets, report.Target{Account: acct, Region: "us-east-1", Status: report.TargetOK})
			for j := range 2 {
				w := fmt.Sprintf("unmanaged/%s/us-east-1/w%d", acct, j)
				r.Instances = append(r.Instances, report.Instance{Account: acct, Region: "us-east-1", InstanceID: fmt.Sprintf("i-%017d", j),
					Name: strings.Repeat("n", 300), Classification: class, Workload: w,
					MetadataOptions: report.MetadataOptions{HttpTokens: tokens, HttpEndpoint: "enabled"}})
				r.Workloads = append(r.Workloads, report.Workload{Account: acct, Region: "us-east-1", ID: w, Kind: report.WorkloadTag, Name: "w"})
			}
		}
		return r
	}
	d := report.Compare(mk("optional", report.ClassReady), mk("required", report.ClassEnforced))
	var buf bytes.Buffer
	if err := report.WriteDiffMarkdown(&buf, d); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 100<<10 {
		t.Errorf("Markdown diff is %d bytes", buf.Len())
	}
	if !strings.Contains(buf.String(), "… 2950 more with changes") {
		t.Error("the Regions table does not say how many it left out")
	}
	// The workloads and the instances: 6,000 each, 50 shown.
	if n := strings.Count(buf.String(), "_… and 5950 more (see the JSON diff)._"); n != 2 {
		t.Errorf("%d lists say they left 5950 out, want 2 (workloads, instances)", n)
	}
}

// TestCheckComparableRefusesOtherFleets: reports of two partitions or two
// organizations (by id, or by root when a report records no id) are
// refused in one line naming both reports and both sides; reports of one
// fleet, a report that records no partition, and an organization's scan
// against a plain-account scan are compared.
func TestCheckComparableRefusesOtherFleets(t *testing.T) {
	org := func(id, mgmt, unit string) *report.Organization {
		return &report.Organization{ID: id, ManagementAccount: mgmt, Units: []report.OrgUnit{{ID: unit, Name: "u", Accounts: []string{"111111111111"}}}}
	}
	for _, tt := range []struct {
		name string
		edit func(old, new *report.Report)
		want []string // nil: compared
	}{
		{"one fleet", func(old, new *report.Report) {
			old.Partition, new.Partition = "aws", "aws"
			old.Organization, new.Organization = org("o-aaaaaaaaaa", "111111111111", "r-aaaa"), org("o-aaaaaaaaaa", "111111111111", "r-aaaa")
		}, nil},
		{"two partitions", func(old, new *report.Report) { old.Partition, new.Partition = "aws", "aws-cn" },
			[]string{"the old report old.json was scanned in partition aws and the new report new.json in partition aws-cn", "compare two scans of one partition"}},
		{"partition not recorded in one", func(old, new *report.Report) { new.Partition = "aws-us-gov" }, nil},
		{"two organizations", func(old, new *report.Report) {
			old.Organization, new.Organization = org("o-aaaaaaaaaa", "111111111111", "r-aaaa"), org("o-bbbbbbbbbb", "222222222222", "r-bbbb")
		}, []string{"the old report old.json is a scan of organization o-aaaaaaaaaa (management account 111111111111) and the new report new.json of organization o-bbbbbbbbbb (management account 222222222222)", "compare scans of one organization (accounts moved to another organization start a new baseline"}},
		{"one organization, two management accounts", func(old, new *report.Report) {
			old.Organization, new.Organization = org("o-aaaaaaaaaa", "111111111111", "r-aaaa"), org("o-aaaaaaaaaa", "999999999999", "r-aaaa")
		}, []string{"with management account 111111111111 in the old report old.json and 999999999999 in the new report new.json", "edited or damaged"}},
		{"hostile organization id", func(old, new *report.Report) {
			old.Organization = org("o-aaaaaaaaaa", "111111111111", "r-aaaa")
			new.Organization = org("o-\x1b[31mevil\nline\u202e"+strings.Repeat("x", 10<<20), "=HYPERLINK(1)", "r-aaaa")
		}, []string{"the old report old.json is a scan of organization o-aaaaaaaaaa", "new.json of organization o-"}},
		{"two organizations without ids", func(old, new *report.Report) {
			old.Organization, new.Organization = org("", "", "r-aaaa"), org("", "", "ou-bbbb-00000001")
		}, []string{"the old report old.json is a scan of the organization whose root is r-aaaa and the new report new.json of the one whose root is r-bbbb"}},
		{"id recorded in one only, other root", func(old, new *report.Report) {
			old.Organization, new.Organization = org("", "", "r-aaaa"), org("o-bbbbbbbbbb", "222222222222", "r-bbbb")
		}, []string{"root is r-aaaa", "root is r-bbbb"}},
		{"id recorded in one only, same root", func(old, new *report.Report) {
			old.Organization, new.Organization = org("", "", "r-aaaa"), org("o-aaaaaaaaaa", "111111111111", "ou-aaaa-00000001")
		}, nil},
		{"organization and plain accounts", func(old, new *report.Report) {
			new.Organization = org("o-aaaaaaaaaa", "111111111111", "r-aaaa")
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, new := diffPair()
			tt.edit(old, new)
			err := report.CheckComparable("old.json", old, "new.json", new)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("compared, want refused")
			}
			msg := err.Error()
			if !errors.Is(err, report.ErrDiff) || strings.ContainsAny(msg, "\n\x1b\u202e") || len(msg) > 1000 {
				t.Errorf("not one clean line wrapping ErrDiff (%d bytes): %q", len(msg), msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q\ndoes not say %q", msg, w)
				}
			}
		})
	}
}
