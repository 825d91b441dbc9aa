package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// diffInst is one instance of a crafted fleet: its settings and the v1
// calls it makes per hour over the four whole days before today (0: none).
type diffInst struct {
	id      string
	tokens  string // optional | required
	v1      float64
	name    string
	tags    map[string]string
	profile string
}

// diffFleet builds a one-account fleet of two Regions on the wall clock
// (day0 is today's UTC midnight), every instance running for 30 days.
func diffFleet(day0 time.Time, regions map[string][]diffInst) *fleet.Fleet {
	at := func(days int) fleet.RelTime { return fleet.Abs(day0.Add(time.Duration(days) * 24 * time.Hour)) }
	acct := fleet.Account{ID: scanAcctA}
	names := make([]string, 0, len(regions))
	for r := range regions {
		names = append(names, r)
	}
	slices.Sort(names)
	for _, r := range names {
		reg := fleet.Region{Name: r}
		for _, d := range regions[r] {
			in := fleet.Instance{ID: d.id, State: "running", LaunchTime: at(-30), InstanceProfileArn: d.profile,
				Tags:            map[string]string{"Name": d.name},
				MetadataOptions: fleet.MetadataOptions{HttpTokens: d.tokens, HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2}}
			for k, v := range d.tags {
				in.Tags[k] = v
			}
			if d.v1 > 0 {
				in.Usage = []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: at(-5), To: at(-1), PerHour: d.v1}}
			}
			reg.Instances = append(reg.Instances, in)
		}
		acct.Regions = append(acct.Regions, reg)
	}
	return &fleet.Fleet{Accounts: []fleet.Account{acct}}
}

func diffID(n int) string { return fmt.Sprintf("i-0000000000000%04x", n) }

// runDiff runs `report diff` and decodes its JSON.
func runDiff(t *testing.T, wantCode int, args ...string) *report.Diff {
	t.Helper()
	res := scanCLI(t, false, append([]string{"report", "diff", "--format", "json"}, args...)...)
	if res.code != wantCode {
		t.Fatalf("report diff %v: exit %d, want %d\n%s", args, res.code, wantCode, res.err)
	}
	var d report.Diff
	if err := json.Unmarshal([]byte(res.out), &d); err != nil {
		t.Fatalf("diff JSON: %v\n%s", err, res.out)
	}
	return &d
}

func changesByID(d *report.Diff) map[string][]string {
	m := map[string][]string{}
	for _, in := range d.Instances {
		m[in.InstanceID] = in.Changes
	}
	return m
}

// TestReportDiffAfterChange: the same simulated AWS scanned twice, with
// changes made between through the API a user would use
// (ModifyInstanceMetadataOptions) and the sim's knobs (a Region that starts
// failing): diff finds the enforced instance, the regression and the
// unscanned Region; --fail-on regression exits 3, --fail-on new-v1 does
// not; the Markdown and table formats say the same.
func TestReportDiffAfterChange(t *testing.T) {
	day0 := dayStable(t).UTC().Truncate(24 * time.Hour)
	f := diffFleet(day0, map[string][]diffInst{
		"us-east-1": {
			{id: diffID(1), tokens: "optional", name: "to-enforce"},
			{id: diffID(2), tokens: "required", name: "to-relax"},
			{id: diffID(3), tokens: "required", name: "unchanged"},
			{id: diffID(4), tokens: "optional", v1: 3, name: "v1-user"},
		},
		"eu-west-1": {{id: diffID(5), tokens: "optional", name: "eu"}},
	})
	srv, url := simtest.Start(t, f, sim.Options{Seed: 7})
	scanEnv(t, url, scanAcctA)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	scanTo(t, url, scanAcctA, p("old.json"), "--regions", "us-east-1,eu-west-1")

	ctx := context.Background()
	ec2c := awsconfig.EC2(simtest.Config(url, fleet.DefaultAccessKeyID(scanAcctA), "us-east-1"), "us-east-1")
	for id, tokens := range map[string]ec2types.HttpTokensState{diffID(1): ec2types.HttpTokensStateRequired, diffID(2): ec2types.HttpTokensStateOptional} {
		if _, err := ec2c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpTokens: tokens}); err != nil {
			t.Fatalf("modify %s: %v", id, err)
		}
	}
	srv.SetKnobs(scanAcctA, "eu-west-1", fleet.Knobs{AuthFailure: true})
	scanTo(t, url, scanAcctA, p("new.json"), "--regions", "us-east-1,eu-west-1")

	d := runDiff(t, exitOK, p("old.json"), p("new.json"))
	want := map[string][]string{
		diffID(1): {report.ChangeEnforced},
		diffID(2): {report.ChangeRegression},
		diffID(5): {report.ChangeUnscanned},
	}
	if got := changesByID(d); !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v\nwant    %v", got, want)
	}
	var eu *report.DiffGroup
	for i := range d.Regions {
		if d.Regions[i].Region == "eu-west-1" {
			eu = &d.Regions[i]
		}
	}
	if eu == nil || *eu.Status != (report.StringPair{Old: report.TargetOK, New: report.TargetError}) {
		t.Errorf("eu-west-1 group %+v: want status ok → error", eu)
	}

	// --fail-on: exit 3 for the regression, with the same output; 0 for
	// new-v1, which did not happen.
	d3 := runDiff(t, exitFailOn, "--fail-on", "regression", p("old.json"), p("new.json"))
	if !reflect.DeepEqual(d3, d) {
		t.Error("--fail-on changed the diff")
	}
	res := scanCLI(t, false, "report", "diff", "--fail-on", "regression,new-v1", p("old.json"), p("new.json"))
	if res.code != exitFailOn || !strings.Contains(res.err, "--fail-on regression,new-v1 matched (regression: 1 instance)") {
		t.Errorf("--fail-on regression,new-v1: exit %d, stderr %q", res.code, res.err)
	}
	runDiff(t, exitOK, "--fail-on", "new-v1", p("old.json"), p("new.json"))

	// Markdown for a step summary, table on a terminal, and -o files.
	res = scanCLI(t, false, "report", "diff", "--format", "markdown", "-o", p("diff.json"), "-o", p("diff.md"), "-o", p("diff.txt"), p("old.json"), p("new.json"))
	if res.code != exitOK || !strings.Contains(res.out, "# IMDS migration progress") || !strings.Contains(res.out, "> [!CAUTION]") {
		t.Errorf("markdown: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	if md, _ := os.ReadFile(p("diff.md")); string(md) != res.out {
		t.Error("diff.md differs from the Markdown on stdout")
	}
	var fromFile report.Diff
	if data, err := os.ReadFile(p("diff.json")); err != nil || json.Unmarshal(data, &fromFile) != nil || !reflect.DeepEqual(&fromFile, d) {
		t.Errorf("diff.json is not the JSON diff: %v", err)
	}
	if txt, _ := os.ReadFile(p("diff.txt")); !bytes.Contains(txt, []byte("regression  ")) || !bytes.Contains(txt, []byte("to-relax")) {
		t.Errorf("diff.txt:\n%s", txt)
	}
}

// TestReportDiffCraftedScans: two crafted fleets, each scanned over HTTP,
// whose differences cover every kind of change the diff reports: newly
// enforced, newly v1-in-use (an existing and a new instance), regression,
// new, gone, v1 calls up and down, reclassified, and an account/Region
// only the new scan covered (unscanned). Hostile names stay inert in the
// human formats.
func TestReportDiffCraftedScans(t *testing.T) {
	day0 := dayStable(t).UTC().Truncate(24 * time.Hour)
	asgWeb := map[string]string{"aws:autoscaling:groupName": "web"}
	hostile := "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\n| forged | row |\u202e"
	old := diffFleet(day0, map[string][]diffInst{
		"us-east-1": {
			{id: diffID(1), tokens: "optional", name: "enforced-since", tags: asgWeb},
			{id: diffID(2), tokens: "required", name: "regressed", tags: asgWeb},
			{id: diffID(3), tokens: "optional", name: "starts-v1", tags: asgWeb},
			{id: diffID(4), tokens: "optional", v1: 10, name: "more-v1"},
			{id: diffID(5), tokens: "optional", v1: 10, name: "less-v1"},
			{id: diffID(6), tokens: "optional", v1: 10, name: "stops-v1"},
			{id: diffID(7), tokens: "optional", name: "gone"},
			{id: diffID(8), tokens: "required", name: "steady"},
		},
	})
	new := diffFleet(day0, map[string][]diffInst{
		"us-east-1": {
			{id: diffID(1), tokens: "required", name: "enforced-since", tags: asgWeb},
			{id: diffID(2), tokens: "optional", name: "regressed", tags: asgWeb},
			{id: diffID(3), tokens: "optional", v1: 2, name: "starts-v1", tags: asgWeb},
			{id: diffID(4), tokens: "optional", v1: 20, name: "more-v1"},
			{id: diffID(5), tokens: "optional", v1: 5, name: "less-v1"},
			{id: diffID(6), tokens: "optional", name: "stops-v1"},
			{id: diffID(8), tokens: "required", name: "steady"},
			{id: diffID(9), tokens: "optional", name: hostile},
			{id: diffID(10), tokens: "optional", v1: 1, name: "new-v1-user"},
		},
		"eu-west-1": {{id: diffID(11), tokens: "optional", name: "eu-first-scan"}},
	})
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	_, oldURL := simtest.Start(t, old, sim.Options{Seed: 7})
	scanTo(t, oldURL, scanAcctA, p("old.json"), "--regions", "us-east-1")
	_, newURL := simtest.Start(t, new, sim.Options{Seed: 7})
	scanTo(t, newURL, scanAcctA, p("new.json"), "--regions", "us-east-1,eu-west-1")

	d := runDiff(t, exitFailOn, "--fail-on", "new-v1", p("old.json"), p("new.json"))
	want := map[string][]string{
		diffID(1):  {report.ChangeEnforced},
		diffID(2):  {report.ChangeRegression},
		diffID(3):  {report.ChangeNewV1, report.ChangeV1CallsUp},
		diffID(4):  {report.ChangeV1CallsUp},
		diffID(5):  {report.ChangeV1CallsDown},
		diffID(6):  {report.ChangeV1CallsDown, report.ChangeReclassified},
		diffID(7):  {report.ChangeGone},
		diffID(9):  {report.ChangeNew},
		diffID(10): {report.ChangeNewV1, report.ChangeNew},
		diffID(11): {report.ChangeUnscanned},
	}
	if got := changesByID(d); !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v\nwant    %v", got, want)
	}
	for _, k := range report.ChangeKinds {
		if k == report.ChangeNextLaunchRegression {
			continue // schema 1 has no next launch: see NotCompared
		}
		if d.Totals.Changes.Count(k) == 0 {
			t.Errorf("no %s change found: the crafted scans must cover every kind", k)
		}
	}
	// Per workload: the Auto Scaling group holds instances 1-3 in both
	// scans; the rest are unmanaged.
	var web, unmanaged *report.DiffGroup
	for i := range d.Workloads {
		switch d.Workloads[i].Workload {
		case "auto-scaling-group/" + scanAcctA + "/us-east-1/web":
			web = &d.Workloads[i]
		case "unmanaged/" + scanAcctA + "/us-east-1/unmanaged":
			unmanaged = &d.Workloads[i]
		}
	}
	if web == nil || unmanaged == nil {
		t.Fatalf("workloads %+v: want the web group and the unmanaged instances", d.Workloads)
	}
	if want := (report.DiffCounts{Enforced: 1, Regression: 1, NewV1: 1, V1CallsUp: 1}); web.Changes != want || web.Instances != (report.IntPair{Old: 3, New: 3}) {
		t.Errorf("web workload: instances %+v changes %+v, want 3 → 3 and %+v", web.Instances, web.Changes, want)
	}
	if unmanaged.Changes.New != 2 || unmanaged.Changes.Gone != 1 || unmanaged.Instances != (report.IntPair{Old: 5, New: 6}) {
		t.Errorf("unmanaged: instances %+v changes %+v", unmanaged.Instances, unmanaged.Changes)
	}
	// Both scans read the launch sources (scan's default) and listed
	// every instance: everything was compared.
	if len(d.NotCompared) != 0 {
		t.Errorf("notCompared %q: want nothing left uncompared", d.NotCompared)
	}
	// 4 days of 10/h before, 20/h now.
	for _, in := range d.Instances {
		if in.InstanceID == diffID(4) && (in.V1Calls.Old == nil || in.V1Calls.New == nil || *in.V1Calls.Old != 960 || *in.V1Calls.New != 1920) {
			t.Errorf("%s v1 calls %v → %v, want 960 → 1920", in.InstanceID, in.V1Calls.Old, in.V1Calls.New)
		}
	}

	for _, format := range []string{"table", "markdown"} {
		res := scanCLI(t, false, "report", "diff", "--format", format, p("old.json"), p("new.json"))
		if res.code != exitOK {
			t.Fatalf("%s: exit %d\n%s", format, res.code, res.err)
		}
		for _, bad := range []string{"\x1b", "\u202e", "\n| forged"} {
			if strings.Contains(res.out, bad) {
				t.Errorf("%s output carries %q", format, bad)
			}
		}
		if !strings.Contains(res.out, diffID(9)) {
			t.Errorf("%s output does not list the new instance with the hostile name", format)
		}
	}
}

// TestReportDiffUsage: bad flags and files are exit 2 before anything is
// written.
func TestReportDiffUsage(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	r := &report.Report{SchemaVersion: report.SchemaVersion}
	report.Normalize(r)
	for _, name := range []string{"a.json", "b.json"} {
		if err := report.WriteFile(p(name), report.FormatJSON, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{p("a.json")}, "accepts 2 arg(s)"},
		{[]string{p("a.json"), p("b.json"), "--format", "csv"}, `--format "csv": want table, markdown or json`},
		{[]string{p("a.json"), p("b.json"), "--fail-on", "risk"}, `--fail-on "risk": want regression or new-v1`},
		{[]string{p("a.json"), p("b.json"), "-o", p("a.json")}, "is the old report"},
		{[]string{p("a.json"), p("b.json"), "-o", p("d.html")}, "a diff is written as .json, .md or .txt"},
		{[]string{p("a.json"), p("nope.json")}, "nope.json does not exist"},
	}
	for _, tt := range tests {
		res := scanCLI(t, false, append([]string{"report", "diff"}, tt.args...)...)
		if res.code != exitUsage || !strings.Contains(res.err, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", tt.args, res.code, res.err, tt.want)
		}
	}
	if res := scanCLI(t, false, "report", "diff", p("a.json"), p("b.json")); res.code != exitOK || !strings.Contains(res.out, "No instance changed") {
		t.Errorf("empty reports: exit %d\n%s%s", res.code, res.out, res.err)
	}
}

// TestReportDiffHostileNames: names holding terminal escapes, a forged
// line, a right-to-left override, 64 KiB, Japanese, emoji and bare links,
// scanned from the simulated AWS, reach the diff's table and Markdown
// inert (the same checks as the scan's outputs); a GitHub-flavoured
// renderer makes no link of them. Every instance regressed, so every name
// is listed.
func TestReportDiffHostileNames(t *testing.T) {
	day0 := dayStable(t).UTC().Truncate(24 * time.Hour)
	names := hostileNames()
	// 64 KiB is as long as any cell cap; the 10 MB of the scan's hostile
	// test would only slow this one down (the scan's test covers it).
	names["huge"] = strings.Repeat("A", 64<<10)
	var before, after []diffInst
	n := 0
	for _, key := range []string{"ansi", "forged", "rlo", "formula", "huge", "japanese", "emoji", "links", "plain"} {
		n++
		before = append(before, diffInst{id: diffID(n), tokens: "required", name: names[key]})
		after = append(after, diffInst{id: diffID(n), tokens: "optional", name: names[key]})
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	_, oldURL := simtest.Start(t, diffFleet(day0, map[string][]diffInst{"us-east-1": before}), sim.Options{Seed: 7})
	scanTo(t, oldURL, scanAcctA, p("old.json"), "--regions", "us-east-1")
	_, newURL := simtest.Start(t, diffFleet(day0, map[string][]diffInst{"us-east-1": after}), sim.Options{Seed: 7})
	scanTo(t, newURL, scanAcctA, p("new.json"), "--regions", "us-east-1")

	// XML 1.0 cannot carry ESC: the scan delivers U+FFFD in its place.
	const scanANSI = "\uFFFD[31mRED"
	const humanMax = 64 << 10
	table := scanCLI(t, false, "report", "diff", p("old.json"), p("new.json"))
	if table.code != exitOK || !strings.Contains(table.out, "CHANGED: 9 instances") {
		t.Fatalf("table: exit %d\n%s%s", table.code, table.out, table.err)
	}
	checkHuman(t, "diff table", table.out, humanMax, scanANSI, nil)
	md := scanCLI(t, false, "report", "diff", "--format", "markdown", p("old.json"), p("new.json"))
	if md.code != exitOK {
		t.Fatalf("markdown: exit %d\n%s", md.code, md.err)
	}
	checkHuman(t, "diff markdown", md.out, humanMax, scanANSI, strings.NewReplacer(`\`, `\\`, "[", `\[`).Replace)
	for _, want := range []string{`http\://evil.example`, `www\.evil.example`, "me`@`evil.example"} {
		if !strings.Contains(md.out, want) {
			t.Errorf("the Markdown diff lacks %q: a link would be made", want)
		}
	}
	if bin, err := exec.LookPath("cmark-gfm"); err == nil {
		cmd := exec.Command(bin, "-e", "table", "-e", "autolink")
		cmd.Stdin = strings.NewReader(md.out)
		html, err := cmd.Output()
		if err != nil {
			t.Fatalf("cmark-gfm: %v", err)
		}
		if bytes.Contains(html, []byte("<a ")) || bytes.Contains(html, []byte("<script")) {
			t.Errorf("cmark-gfm made a link or markup of a name:\n%s", html)
		}
	} else {
		t.Log("cmark-gfm not on PATH: the rendering check is skipped (apt-get install cmark-gfm)")
	}
	// The JSON keeps the exact names.
	d := runDiff(t, exitOK, p("old.json"), p("new.json"))
	for _, in := range d.Instances {
		if in.InstanceID == diffID(7) && in.Name != names["emoji"] {
			t.Errorf("JSON name %q, want %q", in.Name, names["emoji"])
		}
	}
}

// TestReportDiffFilterTag: a scan narrowed with --filter-tag, diffed
// against an unfiltered scan of the same unchanged fleet, reports no
// instance gone or new: those its filter left out are unscanned, and the
// diff says why. Merging shards listed with different --filter-tag is
// refused, naming the difference.
func TestReportDiffFilterTag(t *testing.T) {
	day0 := dayStable(t).UTC().Truncate(24 * time.Hour)
	f := diffFleet(day0, map[string][]diffInst{
		"us-east-1": {
			{id: diffID(1), tokens: "optional", name: "prod-a", tags: map[string]string{"env": "prod"}},
			{id: diffID(2), tokens: "required", name: "dev-b", tags: map[string]string{"env": "dev"}},
			{id: diffID(3), tokens: "optional", name: "untagged"},
		},
	})
	_, url := simtest.Start(t, f, sim.Options{Seed: 7})
	scanEnv(t, url, scanAcctA)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	scanTo(t, url, scanAcctA, p("all.json"), "--regions", "us-east-1")
	scanTo(t, url, scanAcctA, p("prod.json"), "--regions", "us-east-1", "--filter-tag", "env=prod")

	for _, pair := range [][2]string{{"all.json", "prod.json"}, {"prod.json", "all.json"}} {
		d := runDiff(t, exitOK, p(pair[0]), p(pair[1]))
		want := map[string][]string{diffID(2): {report.ChangeUnscanned}, diffID(3): {report.ChangeUnscanned}}
		if got := changesByID(d); !reflect.DeepEqual(got, want) {
			t.Errorf("%s → %s: changes %v, want %v", pair[0], pair[1], got, want)
		}
		if d.Totals.Changes.New != 0 || d.Totals.Changes.Gone != 0 {
			t.Errorf("%s → %s: %d new, %d gone; want none", pair[0], pair[1], d.Totals.Changes.New, d.Totals.Changes.Gone)
		}
		if !slices.ContainsFunc(d.NotCompared, func(s string) bool { return strings.Contains(s, "--filter-tag env=prod") }) {
			t.Errorf("%s → %s: notCompared %q does not name the filter", pair[0], pair[1], d.NotCompared)
		}
	}
	// The same filter on both sides: nothing unscanned, nothing noted.
	scanTo(t, url, scanAcctA, p("prod2.json"), "--regions", "us-east-1", "--filter-tag", "env=prod")
	if d := runDiff(t, exitOK, p("prod.json"), p("prod2.json")); len(d.Instances) != 0 || slices.ContainsFunc(d.NotCompared, func(s string) bool { return strings.Contains(s, "filter-tag") }) {
		t.Errorf("same filter: instances %+v, notCompared %q", d.Instances, d.NotCompared)
	}

	scanTo(t, url, scanAcctA, p("s1.json"), "--regions", "us-east-1", "--shard", "1/2", "--filter-tag", "env=prod")
	scanTo(t, url, scanAcctA, p("s2.json"), "--regions", "us-east-1", "--shard", "2/2")
	res := scanCLI(t, false, "report", "merge", "-o", p("m.json"), p("s1.json"), p("s2.json"))
	if res.code != exitUsage || !strings.Contains(res.err, "scanOptions.filterTags") {
		t.Errorf("merge of shards with different --filter-tag: exit %d, stderr %q", res.code, res.err)
	}
}

// TestReportDiffRefusesOtherFleets: report diff refuses (exit 2, one line
// naming both reports and both sides, no -o written) scans of two
// organizations and scans of two partitions; two scans of one
// organization are compared. Each report is a real scan of its own
// simulated AWS, over HTTP.
func TestReportDiffRefusesOtherFleets(t *testing.T) {
	e := scantest.New(dayStable(t))
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	inRegion := func(id, region string, n int) []fleet.Region {
		return []fleet.Region{{Name: region, Instances: e.Instances(id, region, n)}}
	}
	org := func(orgID, root, mgmt, member string) *fleet.Fleet {
		return &fleet.Fleet{
			Organization: &fleet.Organization{ID: orgID, RootID: root},
			Accounts: []fleet.Account{
				{ID: mgmt, Name: "management", Regions: inRegion(mgmt, "us-east-1", 2)},
				{ID: member, Name: "member", Roles: []string{"Audit"}, Regions: inRegion(member, "us-east-1", 2)},
			},
		}
	}
	_, urlX := simtest.Start(t, org("o-xxxxxxxxxx", "r-xxxx", scanAcctA, "333333333333"), sim.Options{Seed: 7})
	scanTo(t, urlX, scanAcctA, p("org-x.json"), "--org", "--role-name", "Audit", "--regions", "us-east-1")
	scanTo(t, urlX, scanAcctA, p("org-x-again.json"), "--org", "--role-name", "Audit", "--regions", "us-east-1")
	_, urlY := simtest.Start(t, org("o-yyyyyyyyyy", "r-yyyy", scanAcctB, "444444444444"), sim.Options{Seed: 7})
	scanTo(t, urlY, scanAcctB, p("org-y.json"), "--org", "--role-name", "Audit", "--regions", "us-east-1")
	plain := &fleet.Fleet{Accounts: []fleet.Account{{ID: "555555555555", Regions: inRegion("555555555555", "us-east-1", 2)}}}
	_, urlP := simtest.Start(t, plain, sim.Options{Seed: 7})
	scanTo(t, urlP, "555555555555", p("plain.json"), "--regions", "us-east-1")
	gov := &fleet.Fleet{Partition: fleet.PartitionGov, Accounts: []fleet.Account{
		{ID: "555555555555", Regions: inRegion("555555555555", "us-gov-west-1", 2)},
	}}
	_, urlG := simtest.Start(t, gov, sim.Options{Seed: 7})
	for _, kv := range simtest.Env(urlG, fleet.DefaultAccessKeyID("555555555555"), "us-gov-west-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	res := scanCLI(t, false, "scan", "-q", "--format", "json", "--container-tag", scantest.ContainerTag, "--regions", "us-gov-west-1", "-o", p("gov.json"))
	if res.code != exitOK {
		t.Fatalf("GovCloud scan: exit %d: %s", res.code, res.err)
	}

	for _, tt := range []struct {
		name     string
		old, new string
		want     string
	}{
		{"two organizations", "org-x.json", "org-y.json",
			"reports cannot be compared: the old report " + p("org-x.json") + " is a scan of organization o-xxxxxxxxxx (management account " + scanAcctA + ") and the new report " +
				p("org-y.json") + " of organization o-yyyyyyyyyy (management account " + scanAcctB + "): a diff follows one organization's migration: compare scans of one organization (accounts moved to another organization start a new baseline with its first scan)"},
		{"two partitions", "gov.json", "plain.json",
			"reports cannot be compared: the old report " + p("gov.json") + " was scanned in partition aws-us-gov and the new report " + p("plain.json") + " in partition aws: their accounts are different ones; compare two scans of one partition"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := scanCLI(t, false, "report", "diff", p(tt.old), p(tt.new), "--fail-on", "regression", "-o", p("diff.json"))
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d (refused)\nstdout %s\nstderr %s", res.code, exitUsage, res.out, res.err)
			}
			if !strings.Contains(res.err, tt.want) || strings.Count(strings.TrimSpace(res.err), "\n") != 0 {
				t.Errorf("stderr %q\nis not one line saying %q", res.err, tt.want)
			}
			if res.out != "" {
				t.Errorf("a diff was printed:\n%s", res.out)
			}
			if _, err := os.Stat(p("diff.json")); err == nil {
				t.Error("diff.json was written")
			}
		})
	}
	// Two scans of one organization are compared (nothing changed).
	res = scanCLI(t, false, "report", "diff", p("org-x.json"), p("org-x-again.json"), "--format", "json")
	if res.code != exitOK {
		t.Fatalf("diff of two scans of one organization: exit %d: %s", res.code, res.err)
	}
	var d report.Diff
	if err := json.Unmarshal([]byte(res.out), &d); err != nil {
		t.Fatal(err)
	}
	if d.New.Instances != 4 || d.Old.Instances != 4 {
		t.Errorf("diff of one organization: old %d new %d instances, want 4 and 4", d.Old.Instances, d.New.Instances)
	}
}
