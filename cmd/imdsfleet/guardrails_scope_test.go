package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
)

// These tests scan the simulated AWS with the real command, limited to
// some Regions or some shards, and run `imdsfleet guardrails` on what the
// scans wrote: a scope whose Regions or accounts were never read is
// "unknown" (never "safe"), and the merge of the parts that cover
// everything is "safe" again.

// cleanFleet is accounts whose instances all require IMDSv2 and see no
// rejected IMDSv1 call, in three Regions each: nothing would be denied
// by deny-imdsv1-reenable anywhere.
func cleanFleet(accounts ...string) *fleet.Fleet {
	f := &fleet.Fleet{}
	n := 0
	for i, acct := range accounts {
		a := fleet.Account{ID: acct}
		if i > 0 {
			a.Roles = []string{"Auditor"}
		}
		for _, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
			var ins []fleet.Instance
			for range 3 {
				n++
				ins = append(ins, fleet.Instance{ID: fmt.Sprintf("i-%017x", n), State: "running", LaunchTime: fleet.Rel(-40 * 24 * time.Hour),
					MetadataOptions: fleet.MetadataOptions{HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2,
						HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}})
			}
			a.Regions = append(a.Regions, fleet.Region{Name: region, Instances: ins})
		}
		f.Accounts = append(f.Accounts, a)
	}
	return f
}

// readiness runs `imdsfleet guardrails --format json` on path and returns
// the readiness of guardrail g in the scope of that kind and id.
func readiness(t *testing.T, path, kind, id string, g guardrails.ID) guardrails.Readiness {
	t.Helper()
	res := guardrailsCLI(t, "--report", path, "--format", "json")
	if res.code != 0 {
		t.Fatalf("guardrails --report %s: exit %d\n%s", path, res.code, res.err)
	}
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("guardrails JSON: %v", err)
	}
	for _, s := range a.Scopes {
		if s.Kind != kind || s.ID != id {
			continue
		}
		for _, rd := range s.Readiness {
			if rd.Guardrail == g {
				return rd
			}
		}
	}
	t.Fatalf("no %s scope %s with guardrail %s in\n%s", kind, id, g, res.out)
	return guardrails.Readiness{}
}

// TestGuardrailsRegionsLimitedScan: a scan limited with --regions makes
// every guardrail of the account "unknown", naming the enabled Regions
// never read; the Region it scanned is judged on its own; the merge of
// the limited scans that together cover every Region is "safe".
func TestGuardrailsRegionsLimitedScan(t *testing.T) {
	dayStable(t)
	scanStart(t, cleanFleet(scanAcctA))
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	scanTo(t, url, scanAcctA, p("us.json"), "--regions", "us-east-1")
	scanTo(t, url, scanAcctA, p("rest.json"), "--regions", "eu-west-1,ap-southeast-2")

	sel := readReportPath(t, p("us.json")).ScanOptions.Selection
	if sel == nil || !slices.Equal(sel.Regions, []string{"us-east-1"}) {
		t.Fatalf("scanOptions.selection = %+v, want the requested Regions [us-east-1]", sel)
	}
	rd := readiness(t, p("us.json"), guardrails.ScopeAccount, scanAcctA, guardrails.DenyV1Reenable)
	if rd.Status != guardrails.Unknown {
		t.Errorf("account after a --regions us-east-1 scan: %s, want unknown (%v)", rd.Status, rd.Unknown)
	}
	want := "Regions not scanned in account " + scanAcctA + ": ap-southeast-2, eu-west-1"
	if !slices.ContainsFunc(rd.Unknown, func(s string) bool { return strings.Contains(s, want) && strings.Contains(s, "--regions us-east-1") }) {
		t.Errorf("unknown %q does not say %q (limited with --regions us-east-1)", rd.Unknown, want)
	}
	if rd := readiness(t, p("us.json"), guardrails.ScopeRegion, scanAcctA+"/us-east-1", guardrails.DenyV1Reenable); rd.Status != guardrails.Safe {
		t.Errorf("the scanned Region: %s, want safe (%v)", rd.Status, rd.Unknown)
	}

	// The same report as an older imdsfleet wrote it (no
	// scanOptions.selection): nothing says the other Regions were left
	// out, so the account must not read safe either.
	old := readReportPath(t, p("us.json"))
	old.ScanOptions.Selection = nil
	writeReportPath(t, p("old.json"), old)
	rd = readiness(t, p("old.json"), guardrails.ScopeAccount, scanAcctA, guardrails.DenyV1Reenable)
	if rd.Status != guardrails.Unknown || !slices.ContainsFunc(rd.Unknown, func(s string) bool { return strings.Contains(s, "does not record which Regions") }) {
		t.Errorf("account of a --regions us-east-1 report without its selection: %s %q, want unknown saying the Regions asked for are not recorded", rd.Status, rd.Unknown)
	}
	if res := guardrailsCLI(t, "--report", p("old.json"), "--format", "json", "--expect-regions", "us-east-1,eu-west-1,ap-southeast-2"); !strings.Contains(res.out, "Region eu-west-1 was not scanned in account "+scanAcctA) {
		t.Errorf("--expect-regions on the older report does not name the missing Region:\n%s%s", res.out, res.err)
	}

	res := scanCLI(t, false, "report", "merge", "-o", p("all.json"), p("us.json"), p("rest.json"))
	if res.code != exitOK {
		t.Fatalf("merge: exit %d\n%s", res.code, res.err)
	}
	if s := readReportPath(t, p("all.json")).ScanOptions.Selection; s == nil || len(s.RegionsNotScanned) != 0 {
		t.Errorf("merged selection %+v: want no Region left unscanned", s)
	}
	if rd := readiness(t, p("all.json"), guardrails.ScopeAccount, scanAcctA, guardrails.DenyV1Reenable); rd.Status != guardrails.Safe {
		t.Errorf("account after merging every Region: %s, want safe (%v)", rd.Status, rd.Unknown)
	}
}

// TestGuardrailsShardedScan: in the report of one shard of an
// organization scan, the root (whose other accounts another shard holds)
// is unknown and says which shard holds them; the merge of every shard is
// safe; shards of different --regions are refused, naming the difference.
func TestGuardrailsShardedScan(t *testing.T) {
	dayStable(t)
	accounts := []string{scanAcctA, "222222222201", "222222222202", "222222222203", "222222222204"}
	f := cleanFleet(accounts...)
	f.Organization = &fleet.Organization{}
	scanStart(t, f)
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	scanTo(t, url, scanAcctA, p("s1.json"), "--org", "--role-name", "Auditor", "--shard", "1/2")
	scanTo(t, url, scanAcctA, p("s2.json"), "--org", "--role-name", "Auditor", "--shard", "2/2")
	scanTo(t, url, scanAcctA, p("s2-us.json"), "--org", "--role-name", "Auditor", "--shard", "2/2", "--regions", "us-east-1")

	root := fleet.DefaultRootID
	rd := readiness(t, p("s1.json"), guardrails.ScopeOU, root, guardrails.DenyV1Reenable)
	if rd.Status != guardrails.Unknown {
		t.Errorf("the root in shard 1/2's report: %s, want unknown (%v)", rd.Status, rd.Unknown)
	}
	if !slices.ContainsFunc(rd.Unknown, func(s string) bool {
		return strings.Contains(s, "is in shard 2/2, which this report (shard 1/2) does not hold")
	}) {
		t.Errorf("unknown %q does not name the shard holding the other accounts", rd.Unknown)
	}

	res := scanCLI(t, false, "report", "merge", "-o", p("bad.json"), p("s1.json"), p("s2-us.json"))
	if res.code != exitUsage || !strings.Contains(res.err, "different selections: --regions is all (every enabled Region) in "+p("s1.json")+" and us-east-1 in "+p("s2-us.json")) {
		t.Errorf("merging shards of different --regions: exit %d\n%s", res.code, res.err)
	}
	res = scanCLI(t, false, "report", "merge", "-o", p("all.json"), p("s1.json"), p("s2.json"))
	if res.code != exitOK {
		t.Fatalf("merge: exit %d\n%s", res.code, res.err)
	}
	merged := readReportPath(t, p("all.json"))
	if s := merged.ScanOptions.Selection; s == nil || !s.Org || len(s.Shards) != 0 {
		t.Errorf("merged selection %+v: want --org with every shard (no shards listed)", s)
	}
	if rd := readiness(t, p("all.json"), guardrails.ScopeOU, root, guardrails.DenyV1Reenable); rd.Status != guardrails.Safe {
		t.Errorf("the root after merging every shard: %s, want safe (%v)", rd.Status, rd.Unknown)
	}
}

func writeReportPath(t *testing.T, path string, r *report.Report) {
	t.Helper()
	if err := report.WriteOutput(path, func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
		t.Fatal(err)
	}
}
