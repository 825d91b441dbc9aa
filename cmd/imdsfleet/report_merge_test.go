package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// The report command's end-to-end tests scan the simulated AWS over HTTP
// with the real command (as the scan tests do), then run `imdsfleet
// report` on the files the scans wrote.

// mergeFleet is two accounts (B reached from A through the role Auditor)
// with three Regions each, one of them failing (AuthFailure), so that the
// merged report must carry a failed target too.
func mergeFleet(e *scantest.Expect) *fleet.Fleet {
	return &fleet.Fleet{Accounts: []fleet.Account{
		{ID: scanAcctA, Regions: []fleet.Region{
			{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 40)},
			{Name: "eu-west-1", Instances: e.Instances(scanAcctA, "eu-west-1", 25)},
			{Name: "ap-southeast-2", Knobs: &fleet.Knobs{AuthFailure: true}, Instances: e.Instances(scanAcctA, "ap-southeast-2", 5)},
		}},
		{ID: scanAcctB, Roles: []string{"Auditor"}, Regions: []fleet.Region{
			{Name: "us-east-1", Instances: e.Instances(scanAcctB, "us-east-1", 30)},
			{Name: "eu-west-1", Instances: e.Instances(scanAcctB, "eu-west-1", 20)},
			{Name: "ap-southeast-2", Instances: e.Instances(scanAcctB, "ap-southeast-2", 10)},
		}},
	}}
}

// scanTo runs a scan with args as account's default key and writes the
// JSON report to path; it fails the test unless the exit code is ok or 4
// (a failed target).
func scanTo(t *testing.T, url, account, path string, args ...string) {
	t.Helper()
	scanEnv(t, url, account)
	res := scanCLI(t, false, append([]string{"scan", "-q", "--format", "json", "--container-tag", scantest.ContainerTag, "-o", path}, args...)...)
	if res.code != exitOK && res.code != exitIncomplete {
		t.Fatalf("scan %v: exit %d\n%s", args, res.code, res.err)
	}
}

// sameInstances reports how two reports' instances differ, times aside
// (the window's end moves between scans, and the fleet's launch times
// are relative to the clock).
func sameInstances(t *testing.T, got, want *report.Report) {
	t.Helper()
	strip := func(r *report.Report) []report.Instance {
		out := make([]report.Instance, len(r.Instances))
		for i, in := range r.Instances {
			in.LaunchTime = in.LaunchTime.Truncate(24 * 60 * 60 * 1e9)
			out[i] = in
		}
		return out
	}
	g, w := strip(got), strip(want)
	if len(g) != len(w) {
		t.Fatalf("%d instances, want %d", len(g), len(w))
	}
	bad := 0
	for i := range g {
		if !reflect.DeepEqual(g[i], w[i]) {
			if bad < 5 {
				t.Errorf("instance %d differs:\n got %+v\nwant %+v", i, g[i], w[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d instances differ", bad, len(g))
	}
	targets := func(r *report.Report) []report.Target { return r.Targets }
	if !reflect.DeepEqual(targets(got), targets(want)) {
		t.Errorf("targets differ:\n got %+v\nwant %+v", got.Targets, want.Targets)
	}
}

func readReportPath(t *testing.T, path string) *report.Report {
	t.Helper()
	r, err := report.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReportMergeEqualsUnsharded: scans of account subsets (each account
// with its own credentials) and of Region subsets, merged, equal the one
// scan of everything instance for instance, targets (the failed one
// included) and summary too, and pass remediate's trust check with the
// same verdicts. Every output format is written by extension.
func TestReportMergeEqualsUnsharded(t *testing.T) {
	e := scantest.New(dayStable(t))
	srv := scanStart(t, mergeFleet(e))
	_ = srv
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	scanTo(t, url, scanAcctA, p("all.json"), "--accounts", scanAcctB, "--role-name", "Auditor")
	scanTo(t, url, scanAcctA, p("a.json"))
	scanTo(t, url, scanAcctB, p("b-us.json"), "--regions", "us-east-1")
	scanTo(t, url, scanAcctB, p("b-rest.json"), "--regions", "eu-west-1,ap-southeast-2")

	outs := []string{"merged.json", "merged.html", "merged.md", "merged.csv", "merged.txt"}
	args := []string{"report", "merge"}
	for _, o := range outs {
		args = append(args, "-o", p(o))
	}
	res := scanCLI(t, false, append(args, p("b-rest.json"), p("a.json"), p("b-us.json"))...)
	if res.code != exitOK {
		t.Fatalf("merge: exit %d\n%s", res.code, res.err)
	}
	for _, o := range outs {
		if fi, err := os.Stat(p(o)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", o, err)
		}
	}
	all, merged := readReportPath(t, p("all.json")), readReportPath(t, p("merged.json"))
	sameInstances(t, merged, all)
	if !reflect.DeepEqual(merged.Summary, all.Summary) {
		t.Errorf("summary %+v, want %+v", merged.Summary, all.Summary)
	}
	if len(merged.MergedFrom) != 3 {
		t.Errorf("mergedFrom lists %d sources, want 3", len(merged.MergedFrom))
	}
	wantV, err := policy.Check(all)
	if err != nil {
		t.Fatalf("the unsharded scan is not trusted: %v", err)
	}
	gotV, err := policy.Check(merged)
	if err != nil {
		t.Fatalf("the merged report is not trusted: %v", err)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		t.Error("the trust check's verdicts on the merged report differ from the unsharded scan's")
	}
	// remediate plans from it (dry run against the same simulated AWS).
	scanEnv(t, url, scanAcctA)
	res = scanCLI(t, false, "remediate", "--report", p("merged.json"), "--role-name", "Auditor", "--plan-out", p("plan.json"))
	if res.code != exitOK {
		t.Errorf("remediate --report merged.json: exit %d\n%s", res.code, res.err)
	}

	// The rendered formats carry every instance: the CSV one row each.
	if rows := readCSV(t, p("merged.csv")); len(rows)-1 != len(all.Instances) {
		t.Errorf("merged.csv has %d rows, want %d", len(rows)-1, len(all.Instances))
	}
}

// TestReportMergeRefusals: scans that cannot be joined are refused with
// exit 2, one line naming the files and the difference, and nothing
// written.
func TestReportMergeRefusals(t *testing.T) {
	e := scantest.New(dayStable(t))
	scanStart(t, mergeFleet(e))
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	scanTo(t, url, scanAcctA, p("a.json"), "--regions", "us-east-1,eu-west-1")
	scanTo(t, url, scanAcctA, p("a-eu.json"), "--regions", "eu-west-1")
	scanTo(t, url, scanAcctB, p("b-3d.json"), "--min-observed-days", "3")
	scanTo(t, url, scanAcctB, p("b-30d.json"), "--lookback", "30d")
	if err := os.WriteFile(p("keep.json"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"overlapping Regions", []string{"-o", p("keep.json"), p("a.json"), p("a-eu.json")},
			p("a.json") + " and " + p("a-eu.json") + " both scanned 111111111111/eu-west-1"},
		{"min observed days", []string{"-o", p("keep.json"), p("a.json"), p("b-3d.json")},
			"scanOptions.minObservedDays is 7 in " + p("a.json") + " and 3 in " + p("b-3d.json")},
		{"lookback", []string{"-o", p("keep.json"), p("a.json"), p("b-30d.json")},
			"with a 14-day lookback"},
		{"no output", []string{p("a.json"), p("b-3d.json")}, "merge needs -o FILE"},
		{"output is an input", []string{"-o", p("a.json"), p("a.json"), p("b-3d.json")}, "--output " + p("a.json") + " is the input report"},
		{"same report twice", []string{"-o", p("keep.json"), p("a.json"), p("a.json")}, "is given twice"},
		{"not a report", []string{"-o", p("out.json"), p("a.json"), p("keep.json")}, "keep.json is truncated or not JSON"},
		{"missing report", []string{"-o", p("out.json"), p("a.json"), p("nope.json")}, "nope.json does not exist"},
		{"bad extension", []string{"-o", p("out.pdf"), p("a.json")}, `unknown extension ".pdf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := scanCLI(t, false, append([]string{"report", "merge"}, tt.args...)...)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s", res.code, exitUsage, res.err)
			}
			if !strings.Contains(res.err, tt.want) || strings.Count(strings.TrimSpace(res.err), "\n") != 0 {
				t.Errorf("stderr %q\nis not one line saying %q", res.err, tt.want)
			}
			if data, _ := os.ReadFile(p("keep.json")); string(data) != "precious" {
				t.Error("keep.json was written")
			}
			if _, err := os.Stat(p("out.json")); err == nil {
				t.Error("out.json was written")
			}
		})
	}
}

// TestReportRender: any report renders to every format by extension; the
// JSON comes back byte for byte; stdout gets --format; an output that is
// the input (by name or through a link) is refused and left as it was.
func TestReportRender(t *testing.T) {
	e := scantest.New(dayStable(t))
	scanStart(t, mergeFleet(e))
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	scanTo(t, url, scanAcctA, p("scan.json"), "--accounts", scanAcctB, "--role-name", "Auditor",
		"-o", p("scan.html"), "-o", p("scan.md"), "-o", p("scan.csv"), "-o", p("scan.txt"))

	res := scanCLI(t, false, "report", "render", p("scan.json"), "-o", p("r.json"), "-o", p("r.html"), "-o", p("r.md"), "-o", p("r.csv"), "-o", p("r.txt"))
	if res.code != exitOK {
		t.Fatalf("render: exit %d\n%s", res.code, res.err)
	}
	for _, ext := range []string{"json", "html", "md", "csv", "txt"} {
		got, err := os.ReadFile(p("r." + ext))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(p("scan." + ext))
		if !bytes.Equal(got, want) {
			t.Errorf("render to .%s differs from what the scan wrote", ext)
		}
	}
	res = scanCLI(t, false, "report", "render", p("scan.json"), "--format", "markdown")
	if want, _ := os.ReadFile(p("scan.md")); res.code != exitOK || res.out != string(want) {
		t.Errorf("render --format markdown: exit %d, stdout differs from scan.md\n%s", res.code, res.err)
	}

	orig, _ := os.ReadFile(p("scan.json"))
	if err := os.Symlink(p("scan.json"), p("link.json")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{p("scan.json"), p("link.json")} {
		res := scanCLI(t, false, "report", "render", p("scan.json"), "-o", out)
		if res.code != exitUsage || !strings.Contains(res.err, "is the input report") {
			t.Errorf("render -o %s: exit %d, %q; want exit 2 naming the input", out, res.code, res.err)
		}
	}
	if now, _ := os.ReadFile(p("scan.json")); !bytes.Equal(now, orig) {
		t.Error("the input report was changed")
	}
	for _, args := range [][]string{
		{"report", "render"},
		{"report", "render", p("scan.json"), p("r.json")},
		{"report", "render", p("scan.json"), "--format", "html"},
	} {
		if res := scanCLI(t, false, args...); res.code != exitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", args, res.code, res.err)
		}
	}
}

// TestReportMergeShards: the four shards of an --org scan merge into a
// report remediate's trust check accepts with the unsharded scan's
// verdicts, recording the shards in order; three of them are refused
// naming the missing one (unless --allow-missing-shards), and a shard
// given twice (a copy) is refused naming both files.
func TestReportMergeShards(t *testing.T) {
	e := scantest.New(dayStable(t))
	f, _, _ := orgTestFleet(e)
	scanStart(t, f)
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	scanTo(t, url, scanAcctA, p("all.json"), "--org", "--role-name", "Audit")
	var shards []string
	for i := 1; i <= 4; i++ {
		name := p(fmt.Sprintf("shard-%d.json", i))
		scanTo(t, url, scanAcctA, name, "--org", "--role-name", "Audit", "--shard", fmt.Sprintf("%d/4", i))
		shards = append(shards, name)
	}

	// In reverse order: the result does not depend on it.
	res := scanCLI(t, false, "report", "merge", "-o", p("merged.json"), shards[3], shards[2], shards[1], shards[0])
	if res.code != exitOK {
		t.Fatalf("merge: exit %d\n%s", res.code, res.err)
	}
	all, merged := readReportPath(t, p("all.json")), readReportPath(t, p("merged.json"))
	sameInstances(t, merged, all)
	if merged.Shard != nil {
		t.Errorf("merged report has shard %v", merged.Shard)
	}
	var got []string
	for _, s := range merged.MergedFrom {
		if s.Shard != nil {
			got = append(got, s.Shard.String())
		}
	}
	if strings.Join(got, " ") != "1/4 2/4 3/4 4/4" {
		t.Errorf("mergedFrom shards %v", got)
	}
	wantV, err := policy.Check(all)
	if err != nil {
		t.Fatalf("the unsharded scan is not trusted: %v", err)
	}
	if gotV, err := policy.Check(merged); err != nil || !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("trust check of the merged shards: %v (verdicts equal: %v)", err, reflect.DeepEqual(gotV, wantV))
	}

	res = scanCLI(t, false, "report", "merge", "-o", p("partial.json"), shards[0], shards[1], shards[3])
	if res.code != exitUsage || !strings.Contains(res.err, "shard 3/4 of the sharded scan is missing") {
		t.Errorf("three of four shards: exit %d, %q", res.code, res.err)
	}
	if _, err := os.Stat(p("partial.json")); err == nil {
		t.Error("a refused merge wrote its output")
	}
	res = scanCLI(t, false, "report", "merge", "--allow-missing-shards", "-o", p("partial.json"), shards[0], shards[1], shards[3])
	if res.code != exitOK {
		t.Errorf("--allow-missing-shards: exit %d\n%s", res.code, res.err)
	}
	data, err := os.ReadFile(shards[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("copy.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	res = scanCLI(t, false, "report", "merge", "-o", p("dup.json"), shards[0], shards[1], p("copy.json"), shards[2], shards[3])
	if res.code != exitUsage || !strings.Contains(res.err, shards[1]+" and "+p("copy.json")+" both hold shard 2/4") {
		t.Errorf("a shard twice: exit %d, %q", res.code, res.err)
	}
}

// TestReportMergeRefusesOtherFleets: report merge refuses, in one line
// naming both files and both sides, reports of two organizations (their
// ids and management accounts), a scan of an organization with one of
// plain accounts, and scans of two partitions; plain-account scans of one
// partition still merge. Each report is a real scan of its own simulated
// AWS, over HTTP.
func TestReportMergeRefusesOtherFleets(t *testing.T) {
	e := scantest.New(dayStable(t))
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	inRegion := func(id, region string, n int) []fleet.Region {
		return []fleet.Region{{Name: region, Instances: e.Instances(id, region, n)}}
	}
	// Two organizations, each its management account and one member.
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
	_, urlY := simtest.Start(t, org("o-yyyyyyyyyy", "r-yyyy", scanAcctB, "444444444444"), sim.Options{Seed: 7})
	scanTo(t, urlY, scanAcctB, p("org-y.json"), "--org", "--role-name", "Audit", "--regions", "us-east-1")
	// Plain accounts, outside any organization walk: two in aws, one in
	// aws-us-gov.
	plain := &fleet.Fleet{Accounts: []fleet.Account{
		{ID: "555555555555", Regions: inRegion("555555555555", "us-east-1", 2)},
		{ID: "666666666666", Regions: inRegion("666666666666", "us-east-1", 2)},
	}}
	_, urlP := simtest.Start(t, plain, sim.Options{Seed: 7})
	scanTo(t, urlP, "555555555555", p("plain-5.json"), "--regions", "us-east-1")
	scanTo(t, urlP, "666666666666", p("plain-6.json"), "--regions", "us-east-1")
	gov := &fleet.Fleet{Partition: fleet.PartitionGov, Accounts: []fleet.Account{
		{ID: "777777777777", Regions: inRegion("777777777777", "us-gov-west-1", 2)},
	}}
	_, urlG := simtest.Start(t, gov, sim.Options{Seed: 7})
	for _, kv := range simtest.Env(urlG, fleet.DefaultAccessKeyID("777777777777"), "us-gov-west-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	res := scanCLI(t, false, "scan", "-q", "--format", "json", "--container-tag", scantest.ContainerTag, "--regions", "us-gov-west-1", "-o", p("gov.json"))
	if res.code != exitOK {
		t.Fatalf("GovCloud scan: exit %d: %s", res.code, res.err)
	}
	if r := readReportPath(t, p("org-x.json")); r.Organization == nil || r.Organization.ID != "o-xxxxxxxxxx" || r.Organization.ManagementAccount != scanAcctA {
		t.Fatalf("org-x.json records organization %+v, want o-xxxxxxxxxx managed by %s", r.Organization, scanAcctA)
	}

	for _, tt := range []struct {
		name   string
		inputs []string
		want   string
	}{
		{"two organizations", []string{"org-x.json", "org-y.json"},
			p("org-x.json") + " is a scan of organization o-xxxxxxxxxx (management account " + scanAcctA + ") and " +
				p("org-y.json") + " of organization o-yyyyyyyyyy (management account " + scanAcctB + "): merge only the shards of one organization's scan"},
		{"organization and plain accounts", []string{"plain-5.json", "org-x.json"},
			p("org-x.json") + " is a scan of organization o-xxxxxxxxxx (management account " + scanAcctA + "), made with --org or --ou, and " +
				p("plain-5.json") + " a scan of plain accounts"},
		{"two partitions", []string{"plain-5.json", "gov.json"},
			p("plain-5.json") + " was scanned in partition aws and " + p("gov.json") + " in partition aws-us-gov: merge only reports of one partition"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"report", "merge", "-o", p("out.json")}
			for _, in := range tt.inputs {
				args = append(args, p(in))
			}
			res := scanCLI(t, false, args...)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d (refused)\n%s", res.code, exitUsage, res.err)
			}
			if !strings.Contains(res.err, tt.want) || strings.Count(strings.TrimSpace(res.err), "\n") != 0 {
				t.Errorf("stderr %q\nis not one line saying %q", res.err, tt.want)
			}
			if _, err := os.Stat(p("out.json")); err == nil {
				t.Error("out.json was written")
			}
		})
	}
	// Plain-account scans of one partition merge as before.
	res = scanCLI(t, false, "report", "merge", "-o", p("plain.json"), p("plain-5.json"), p("plain-6.json"))
	if res.code != exitOK {
		t.Fatalf("merge of two plain-account scans: exit %d: %s", res.code, res.err)
	}
	if r := readReportPath(t, p("plain.json")); r.Organization != nil || len(r.Targets) != 2 {
		t.Errorf("merged plain scans: organization %+v, %d targets; want none and 2", r.Organization, len(r.Targets))
	}
}
