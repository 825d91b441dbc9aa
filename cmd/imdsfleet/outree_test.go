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

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// The organization of the OU view's tests: the management account at the
// root with enforced instances; Prod (two accounts) holding one v1-in-use
// instance in Prod/EU below it; Dev (two accounts) with every instance
// enforced.
const (
	otProd   = "ou-sim0-0000000a"
	otProdEU = "ou-sim0-0000000b"
	otDev    = "ou-sim0-0000000c"
	otProdA  = "510000000001" // Prod, enforced
	otEUA    = "510000000002" // Prod/EU, one v1-in-use instance
	otDevA   = "510000000003" // Dev, enforced
	otDevB   = "510000000004" // Dev, enforced
)

// profileInstances builds n instances of the scantest profile named name.
func profileInstances(t *testing.T, e *scantest.Expect, account, name string, n int) []fleet.Instance {
	t.Helper()
	i := slices.IndexFunc(scantest.Profiles(), func(p scantest.Profile) bool { return p.Name == name })
	if i < 0 {
		t.Fatalf("no scantest profile %q", name)
	}
	var out []fleet.Instance
	for k := range n {
		in := scantest.Profiles()[i].Build(e.Day0)
		in.ID = fmt.Sprintf("i-%s%05x", account, k)
		if name == "v1" {
			// A role on it: the credentials guardrail would break it.
			in.InstanceProfileArn = scantest.InstanceProfileArn
		}
		out = append(out, in)
	}
	return out
}

func ouTreeFleet(t *testing.T, e *scantest.Expect) *fleet.Fleet {
	f := &fleet.Fleet{Organization: &fleet.Organization{
		OUs: []fleet.OU{
			{ID: otProd, Name: "Prod"}, {ID: otProdEU, Name: "Prod-EU", Parent: otProd}, {ID: otDev, Name: "Dev"},
		},
		EmptyPageEvery: 2,
	}}
	acct := func(id, parent, profile string) fleet.Account {
		return fleet.Account{ID: id, Name: "member-" + id, Parent: parent, Roles: []string{"Audit"},
			Regions: []fleet.Region{{Name: "us-east-1", Instances: profileInstances(t, e, id, profile, 2)}}}
	}
	f.Accounts = []fleet.Account{
		{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: profileInstances(t, e, scanAcctA, "enforced", 2)}}},
		acct(otProdA, otProd, "enforced"), acct(otEUA, otProdEU, "v1"),
		acct(otDevA, otDev, "enforced"), acct(otDevB, otDev, "enforced"),
	}
	return f
}

// TestScanOrgTreeGuardrailsPerOU: scan --org against the simulated
// Organizations in two shards records the organization's tree (roots,
// nested OUs, their names, parents and accounts) and the caller's
// partition in each report; report merge keeps the tree; guardrails on the
// merged report gives one verdict per OU, recursive (Prod is blocked by
// the v1-in-use instance in Prod/EU below it, Dev is safe), and the same
// per-OU view in Markdown and HTML.
func TestScanOrgTreeGuardrailsPerOU(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := ouTreeFleet(t, e)
	scanStart(t, f)
	dir := t.TempDir()
	root := f.Organization.Root()
	wantUnits := []report.OrgUnit{
		{ID: root, Name: "Root", Accounts: []string{scanAcctA}},
		{ID: otProd, Name: "Prod", ParentID: root, Accounts: []string{otProdA}},
		{ID: otProdEU, Name: "Prod-EU", ParentID: otProd, Accounts: []string{otEUA}},
		{ID: otDev, Name: "Dev", ParentID: root, Accounts: []string{otDevA, otDevB}},
	}
	slices.SortFunc(wantUnits, func(a, b report.OrgUnit) int { return strings.Compare(a.ID, b.ID) })
	var shards []string
	for i := 1; i <= 2; i++ {
		out := filepath.Join(dir, fmt.Sprintf("shard%d.json", i))
		res := scanCLI(t, false, "scan", "--org", "--role-name", "Audit", "--shard", fmt.Sprintf("%d/2", i), "--output", out, "--format", "json")
		if res.code != exitOK {
			t.Fatalf("--shard %d/2: exit %d: %s", i, res.code, res.err)
		}
		r := readReportPath(t, out)
		// Each shard walks the whole tree: a shard's guardrails see the
		// accounts of other shards as missing, never as absent.
		if r.Organization == nil || !unitsEqual(r.Organization.Units, wantUnits) {
			t.Errorf("--shard %d/2 organization %+v,\nwant units %+v", i, r.Organization, wantUnits)
		}
		if r.Partition != "aws" {
			t.Errorf("--shard %d/2 partition %q, want aws", i, r.Partition)
		}
		shards = append(shards, out)
	}
	merged := filepath.Join(dir, "merged.json")
	if res := scanCLI(t, false, "report", "merge", "-o", merged, shards[0], shards[1]); res.code != exitOK {
		t.Fatalf("report merge: exit %d: %s", res.code, res.err)
	}
	m := readReportPath(t, merged)
	if m.Organization == nil || !unitsEqual(m.Organization.Units, wantUnits) || m.Partition != "aws" {
		t.Fatalf("merged organization %+v partition %q,\nwant units %+v", m.Organization, m.Partition, wantUnits)
	}

	res := guardrailsCLI(t, "--report", merged, "--format", "json", "--min-window-days", "1")
	if res.code != exitOK {
		t.Fatalf("guardrails: exit %d: %s", res.code, res.err)
	}
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("guardrails JSON: %v\n%s", err, res.out)
	}
	status := map[string]map[guardrails.ID]guardrails.Status{}
	for _, s := range a.Scopes {
		if s.Kind != guardrails.ScopeOU {
			continue
		}
		status[s.ID] = map[guardrails.ID]guardrails.Status{}
		for _, rd := range s.Readiness {
			status[s.ID][rd.Guardrail] = rd.Status
		}
	}
	const creds = guardrails.ID("deny-imdsv1-role-credentials")
	for ou, want := range map[string]guardrails.Status{
		otProdEU: guardrails.Blocked, // the v1-in-use instance with a role
		otProd:   guardrails.Blocked, // covers Prod-EU below it
		root:     guardrails.Blocked, // covers everything
		otDev:    guardrails.Safe,    // every instance enforced
	} {
		if got := status[ou][creds]; got != want {
			t.Errorf("OU %s: %s is %q, want %q (all: %v)", ou, creds, got, want, status[ou])
		}
	}
	// Dev: nothing there would be denied. The launch guardrails rest on
	// launch sources too; a scan that did not read them leaves those
	// unknown, never safe.
	launchRead := m.ScanOptions != nil && m.ScanOptions.LaunchSources
	for g, want := range map[guardrails.ID]guardrails.Status{
		"deny-imdsv1-reenable": guardrails.Safe, creds: guardrails.Safe,
		"require-imdsv2-at-launch": guardrails.Unknown, "declarative-imds-defaults": guardrails.Unknown,
	} {
		if launchRead && want == guardrails.Unknown {
			want = guardrails.Safe
		}
		if got := status[otDev][g]; got != want {
			t.Errorf("enforced OU Dev: %s is %q, want %q", g, got, want)
		}
	}
	for _, format := range []string{"markdown", "table"} {
		res := guardrailsCLI(t, "--report", merged, "--format", format, "--min-window-days", "1")
		if res.code != exitOK || !strings.Contains(res.out, otProdEU) || !strings.Contains(res.out, "Prod-EU") {
			t.Errorf("guardrails --format %s: exit %d, no OU Prod-EU in:\n%s%s", format, res.code, res.out, res.err)
		}
	}
}

// TestReportMergeRefusesOtherTree: two reports that place one OU under
// different parents do not merge; the error names the OU.
func TestReportMergeRefusesOtherTree(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := ouTreeFleet(t, e)
	scanStart(t, f)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	if res := scanCLI(t, false, "scan", "--org", "--role-name", "Audit", "--shard", "1/2", "--output", a, "--format", "json"); res.code != exitOK {
		t.Fatalf("scan: exit %d: %s", res.code, res.err)
	}
	r := readReportPath(t, a)
	r.Shard = &report.Shard{Index: 2, Count: 2}
	r.Targets, r.Instances, r.SkippedAccounts, r.Workloads, r.LaunchSources, r.AccountDefaults = nil, nil, nil, nil, nil, nil
	for i := range r.Organization.Units {
		if r.Organization.Units[i].ID == otProdEU {
			r.Organization.Units[i].ParentID = otDev
		}
	}
	report.Normalize(r)
	b := filepath.Join(dir, "b.json")
	if err := report.WriteOutput(b, func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
		t.Fatal(err)
	}
	res := scanCLI(t, false, "report", "merge", "-o", filepath.Join(dir, "m.json"), a, b)
	if res.code == exitOK || !strings.Contains(res.err, otProdEU) || !strings.Contains(res.err, "parent") {
		t.Errorf("merge of two trees: exit %d, want a refusal naming %s's parent: %s", res.code, otProdEU, res.err)
	}
}

func unitsEqual(a, b []report.OrgUnit) bool {
	return slices.EqualFunc(a, b, func(x, y report.OrgUnit) bool {
		return x.ID == y.ID && x.Name == y.Name && x.ParentID == y.ParentID && slices.Equal(x.Accounts, y.Accounts)
	})
}

// TestScanOrgAccountMovedDuringWalk: an account moves, during the walk,
// from a unit not yet read (Prod-EU, read last) into one already read
// (Dev): no ListAccountsForParent lists it. scan --org finds it with
// ListAccounts after the walk, scans it (its v1-in-use instance is in the
// report) and records it as not placed; guardrails then reads the root
// and every OU as unknown with that reason, never safe (before, the
// account was never scanned and the root and Dev read safe).
func TestScanOrgAccountMovedDuringWalk(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := ouTreeFleet(t, e)
	// The moved account's name is its owner's choice: hostile.
	const hostile = "evil\x1b[31m\u202e<script>alert(1)</script>\n| forged |=cmd"
	for i := range f.Accounts {
		if f.Accounts[i].ID == otEUA {
			f.Accounts[i].MovesDuringWalkTo = otDev
			f.Accounts[i].Name = hostile
		}
	}
	scanStart(t, f)
	dir := t.TempDir()
	out := filepath.Join(dir, "org.json")
	res := scanCLI(t, false, "scan", "--org", "--role-name", "Audit", "--output", out, "--format", "json",
		"-o", filepath.Join(dir, "org.txt"), "-o", filepath.Join(dir, "org.md"), "-o", filepath.Join(dir, "org.html"))
	if res.code != exitOK {
		t.Fatalf("scan --org: exit %d: %s", res.code, res.err)
	}
	// The table, Markdown and HTML the scan wrote, and those `report
	// render` writes from its JSON, name the moved account, say it was
	// scanned and that the advice per OU is unknown, with its name made
	// harmless.
	res = scanCLI(t, false, "report", "render", out, "-o", filepath.Join(dir, "render.txt"), "-o", filepath.Join(dir, "render.md"), "-o", filepath.Join(dir, "render.html"))
	if res.code != exitOK {
		t.Fatalf("report render: exit %d: %s", res.code, res.err)
	}
	for _, name := range []string{"org.txt", "org.md", "org.html", "render.txt", "render.md", "render.html"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		wants := []string{otEUA + ": scanned", "evil", "guardrail advice per OU (and for the root) is unknown for this scan"}
		if strings.HasSuffix(name, ".md") {
			wants[0] = "| " + otEUA + " | evil" // then its name and "| scanned |"
			wants = append(wants, " | scanned |")
		}
		for _, want := range wants {
			if !strings.Contains(s, want) {
				t.Errorf("%s does not say %q", name, want)
			}
		}
		if strings.ContainsAny(s, "\x1b\u202e") {
			t.Errorf("%s carries the hostile name's control or bidi characters", name)
		}
		if !strings.HasSuffix(name, ".txt") && strings.Contains(s, "<script>alert(1)") {
			t.Errorf("%s carries the hostile name's markup unescaped", name)
		}
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "| forged") {
				t.Errorf("%s: the hostile name forged a line: %q", name, line)
			}
		}
	}
	r := readReportPath(t, out)
	if ua := r.Organization.Unplaced; len(ua) != 1 || ua[0].Name != hostile {
		t.Errorf("organization.unplaced %+v, want %s with its name as ListAccounts gave it", ua, otEUA)
	}
	scanned := false
	for _, tg := range r.Targets {
		scanned = scanned || (tg.Account == otEUA && tg.Status == report.TargetOK)
	}
	if !scanned {
		t.Errorf("the account moved during the walk (%s) was not scanned: targets %+v", otEUA, r.Targets)
	}
	if r.Organization == nil || len(r.Organization.Unplaced) != 1 || r.Organization.Unplaced[0].ID != otEUA ||
		!strings.Contains(r.Organization.Unplaced[0].Reason, "moved during the walk") {
		t.Fatalf("organization %+v: want %s recorded as not placed, moved during the walk", r.Organization, otEUA)
	}
	for _, u := range r.Organization.Units {
		if slices.Contains(u.Accounts, otEUA) {
			t.Errorf("unit %s lists %s, which no ListAccountsForParent listed", u.ID, otEUA)
		}
	}
	res = guardrailsCLI(t, "--report", out, "--format", "json", "--min-window-days", "1")
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("guardrails: exit %d, JSON: %v\n%s%s", res.code, err, res.out, res.err)
	}
	const creds = guardrails.ID("deny-imdsv1-role-credentials")
	seen := map[string]bool{}
	for _, s := range a.Scopes {
		if s.Kind != guardrails.ScopeOU {
			continue
		}
		seen[s.ID] = true
		for _, rd := range s.Readiness {
			if rd.Guardrail != creds {
				continue
			}
			if rd.Status == guardrails.Safe || (rd.Status == guardrails.Unknown && !strings.Contains(strings.Join(rd.Unknown, " "), "account "+otEUA+" of the organization is in no unit")) {
				t.Errorf("OU %s: %s is %q (unknown: %q), want unknown naming the moved account %s", s.ID, creds, rd.Status, rd.Unknown, otEUA)
			}
		}
	}
	for _, id := range []string{f.Organization.Root(), otDev, otProd, otProdEU} {
		if !seen[id] {
			t.Errorf("no OU scope for %s in the assessment", id)
		}
	}
}

// TestReportMergeShardsPlaceMovedAccount: the shards of one scan --org
// walk the organization one after another. An account that moved while
// shard 1 walked is in no unit of shard 1's report, and in its new unit in
// shard 2's (walked after the move). The merged report places it there:
// it is not "in no organizational unit", and guardrails does not read
// every OU as unknown because of it. Real scans against the simulated
// AWS, over HTTP.
func TestReportMergeShardsPlaceMovedAccount(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := ouTreeFleet(t, e)
	for i := range f.Accounts {
		if f.Accounts[i].ID == otEUA {
			f.Accounts[i].MovesDuringWalkTo = otDev
		}
	}
	scanStart(t, f)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, i := range []string{"1", "2"} {
		res := scanCLI(t, false, "scan", "-q", "--org", "--role-name", "Audit", "--shard", i+"/2", "--format", "json", "-o", p("shard"+i+".json"))
		if res.code != exitOK {
			t.Fatalf("scan --shard %s/2: exit %d: %s", i, res.code, res.err)
		}
	}
	if r := readReportPath(t, p("shard1.json")); len(r.Organization.Unplaced) != 1 || r.Organization.Unplaced[0].ID != otEUA {
		t.Fatalf("shard 1 (walked during the move): unplaced %+v, want %s", r.Organization.Unplaced, otEUA)
	}
	res := scanCLI(t, false, "report", "merge", "-q", "-o", p("all.json"), "-o", p("all.txt"), p("shard1.json"), p("shard2.json"))
	if res.code != exitOK {
		t.Fatalf("report merge: exit %d: %s", res.code, res.err)
	}
	m := readReportPath(t, p("all.json"))
	if len(m.Organization.Unplaced) != 0 {
		t.Errorf("merged unplaced %+v, want none: shard 2's walk placed %s in %s", m.Organization.Unplaced, otEUA, otDev)
	}
	placed := false
	for _, u := range m.Organization.Units {
		placed = placed || (u.ID == otDev && slices.Contains(u.Accounts, otEUA))
	}
	if !placed {
		t.Errorf("merged units %+v: %s not in %s", m.Organization.Units, otEUA, otDev)
	}
	if txt, err := os.ReadFile(p("all.txt")); err != nil || strings.Contains(string(txt), "IN NO ORGANIZATIONAL UNIT") {
		t.Errorf("merged table still lists an account in no unit (%v)", err)
	}
	res = guardrailsCLI(t, "--report", p("all.json"), "--format", "json", "--min-window-days", "1")
	if strings.Contains(res.out, "is in no unit") {
		t.Errorf("guardrails on the merged report still reads units unknown for an account in no unit")
	}
	if !strings.Contains(res.out, `"scopes"`) {
		t.Fatalf("guardrails: exit %d, no assessment:\n%s", res.code, res.err)
	}
}
