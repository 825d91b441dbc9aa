package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// orgTestFleet is an organization managed by scanAcctA with 9 members
// under two OUs: one SUSPENDED, one whose role cannot be assumed.
func orgTestFleet(e *scantest.Expect) (f *fleet.Fleet, suspended, denied string) {
	f = &fleet.Fleet{Organization: &fleet.Organization{
		OUs:            []fleet.OU{{ID: "ou-sim0-00000001", Name: "Prod"}, {ID: "ou-sim0-00000002", Name: "Dev"}},
		EmptyPageEvery: 2,
	}}
	f.Accounts = append(f.Accounts, fleet.Account{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 4)}}})
	for i := range 9 {
		id := fmt.Sprintf("4000000000%02d", i)
		a := fleet.Account{ID: id, Name: "member-" + id, Parent: []string{"ou-sim0-00000001", "ou-sim0-00000002", ""}[i%3], Roles: []string{"Audit"}}
		switch i {
		case 4:
			a.State = fleet.AccountSuspended
			suspended = id
		default:
			a.Regions = []fleet.Region{{Name: "us-east-1", Instances: e.Instances(id, "us-east-1", 3)}}
		}
		if i == 6 {
			a.DenyAssumeRole = true
			denied = id
		}
		f.Accounts = append(f.Accounts, a)
	}
	return f, suspended, denied
}

// TestScanCommandOrg: scan --org through the CLI: every ACTIVE account,
// the SUSPENDED one listed as skipped, the account whose role cannot be
// assumed failed alone (exit 4, named on stderr); --shard 1/2 and 2/2
// cover the same accounts once and record their shard.
func TestScanCommandOrg(t *testing.T) {
	e := scantest.New(dayStable(t))
	f, suspended, denied := orgTestFleet(e)
	srv := scanStart(t, f)
	dir := t.TempDir()
	out := filepath.Join(dir, "org.json")
	res := scanCLI(t, false, "scan", "--org", "--role-name", "Audit", "--container-tag", scantest.ContainerTag, "--output", out, "--format", "csv")
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 4 (one account's role cannot be assumed): %s", res.code, res.err)
	}
	if !strings.Contains(res.err, denied+"/all") {
		t.Errorf("stderr does not name the failed account %s: %s", denied, res.err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, data)
	if len(r.SkippedAccounts) != 1 || r.SkippedAccounts[0].Account != suspended || r.SkippedAccounts[0].State != fleet.AccountSuspended {
		t.Errorf("skippedAccounts %+v, want %s SUSPENDED", r.SkippedAccounts, suspended)
	}
	accounts := map[string]bool{}
	for _, tg := range r.Targets {
		accounts[tg.Account] = true
		if tg.Account != denied && tg.Status != report.TargetOK {
			t.Errorf("target %+v failed", tg)
		}
	}
	if len(accounts) != 9 || accounts[suspended] || !accounts[denied] {
		t.Errorf("scanned %v, want the 8 ACTIVE members with the management account", accounts)
	}
	e.Require(t, r, func(a, _ string) bool { return a != denied && a != suspended }, nil)
	if c := srv.Stats().Calls; c["ListRoots"][""] != 1 || c["ListAccountsForParent"][""] == 0 || c["ListAccounts"][""] != 1 {
		// ListAccounts once (10 accounts, one page): the cross-check
		// after the walk.
		t.Errorf("--org did not walk the organization from its root, then list its accounts once: %v", c)
	}

	var union []string
	for i := 1; i <= 2; i++ {
		res := scanCLI(t, false, "scan", "--org", "--role-name", "Audit", "--shard", fmt.Sprintf("%d/2", i), "--exclude-accounts", denied, "--format", "json")
		if res.code != exitOK {
			t.Fatalf("--shard %d/2: exit %d: %s", i, res.code, res.err)
		}
		r := readReport(t, []byte(res.out))
		if r.Shard == nil || r.Shard.Index != i || r.Shard.Count != 2 {
			t.Errorf("--shard %d/2 report has shard %+v", i, r.Shard)
		}
		for _, tg := range r.Targets {
			union = append(union, tg.Account)
		}
	}
	slices.Sort(union)
	var want []string
	for a := range accounts {
		if a != denied {
			want = append(want, a)
		}
	}
	slices.Sort(want)
	if !slices.Equal(union, want) {
		t.Errorf("shards scanned %v, want each of %v once", union, want)
	}
}

// TestGovCloudScanRemediateRollback: a caller in AWS GovCloud (US) scans,
// remediates and rolls back another account through arn:aws-us-gov: role
// ARNs, built from the partition of its GetCallerIdentity ARN (the
// simulated STS refuses a role ARN of another partition).
func TestGovCloudScanRemediateRollback(t *testing.T) {
	e := scantest.New(dayStable(t))
	const region = "us-gov-west-1"
	// The instance profiles are GovCloud ARNs, as the fleet's partition
	// requires (scantest writes commercial ones).
	gov := func(insts []fleet.Instance) []fleet.Instance {
		for i := range insts {
			insts[i].InstanceProfileArn = strings.Replace(insts[i].InstanceProfileArn, "arn:aws:", "arn:aws-us-gov:", 1)
		}
		return insts
	}
	f := &fleet.Fleet{Partition: fleet.PartitionGov, Accounts: []fleet.Account{
		{ID: scanAcctA, Regions: []fleet.Region{{Name: region, Instances: gov(e.Instances(scanAcctA, region, 20))}}},
		{ID: scanAcctB, Roles: []string{"Audit"}, Regions: []fleet.Region{{Name: region, Instances: gov(e.Instances(scanAcctB, region, 20))}}},
	}}
	srv, url := simtest.Start(t, f, sim.Options{Seed: 7})
	for _, kv := range simtest.Env(url, fleet.DefaultAccessKeyID(scanAcctA), region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	dir := t.TempDir()
	scan := filepath.Join(dir, "scan.json")
	res := scanCLI(t, false, "scan", "--accounts", scanAcctB, "--role-name", "Audit", "--container-tag", scantest.ContainerTag, "--output", scan, "--format", "json")
	if res.code != exitOK {
		t.Fatalf("scan: exit %d: %s", res.code, res.err)
	}
	r := readReport(t, []byte(res.out))
	e.Require(t, r, nil, nil)

	journal := filepath.Join(dir, "fix.jsonl")
	rem := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", scan, "--role-name", "Audit", "--live", "--yes", "--journal", journal)...)
	if rem.code != exitOK {
		t.Fatalf("remediate: exit %d: %s", rem.code, rem.stderr)
	}
	changed := func(account string) int {
		n := 0
		for _, c := range srv.ModifyCalls() {
			if c.Account == account && !c.DryRun && c.Outcome == "ok" {
				n++
			}
		}
		return n
	}
	if changed(scanAcctB) == 0 || changed(scanAcctA) == 0 {
		t.Fatalf("live changes per account: A %d, B %d; want both (B through arn:aws-us-gov:iam::%s:role/Audit)", changed(scanAcctA), changed(scanAcctB), scanAcctB)
	}
	before := changed(scanAcctB)
	rb := remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", journal, "--role-name", "Audit", "--live", "--yes")...)
	if rb.code != exitOK {
		t.Fatalf("rollback: exit %d: %s", rb.code, rb.stderr)
	}
	if changed(scanAcctB) != 2*before {
		t.Errorf("rollback restored %d of account B's %d changes", changed(scanAcctB)-before, before)
	}
}

// TestScanAssumeRoleOtherPartition: a GovCloud caller given an
// --assume-role ARN of the aws partition (a copy-paste from a commercial
// account) gets that account failed with a reason naming both
// partitions, not one blaming the role's trust policy; the rest is
// scanned (exit 4).
func TestScanAssumeRoleOtherPartition(t *testing.T) {
	e := scantest.New(dayStable(t))
	const region = "us-gov-west-1"
	f := &fleet.Fleet{Partition: fleet.PartitionGov, Accounts: []fleet.Account{
		{ID: scanAcctA, Regions: []fleet.Region{{Name: region, Instances: e.Instances(scanAcctA, region, 2)}}},
		{ID: scanAcctB, Roles: []string{"Audit"}, Regions: []fleet.Region{{Name: region, Instances: e.Instances(scanAcctB, region, 2)}}},
	}}
	_, url := simtest.Start(t, f, sim.Options{Seed: 7})
	for _, kv := range simtest.Env(url, fleet.DefaultAccessKeyID(scanAcctA), region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	out := filepath.Join(t.TempDir(), "scan.json")
	res := scanCLI(t, false, "scan", "--assume-role", "arn:aws:iam::"+scanAcctB+":role/Audit", "--output", out)
	if res.code != exitIncomplete {
		t.Fatalf("scan: exit %d, stderr %q; want exit 4", res.code, res.err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, data)
	var failed []report.Target
	for _, tg := range r.Targets {
		if tg.Status == report.TargetError {
			failed = append(failed, tg)
		}
	}
	if len(failed) != 1 || failed[0].Account != scanAcctB || !strings.Contains(failed[0].Error, "is in partition aws but the caller") ||
		!strings.Contains(failed[0].Error, "is in aws-us-gov") || strings.Contains(failed[0].Error, "trust policy") {
		t.Errorf("failed targets %+v: want account B alone, naming both partitions", failed)
	}
	// An --exclude-accounts id that matches no account (a typo) is named
	// on stderr: the account meant is still scanned.
	res = scanCLI(t, false, "scan", "--assume-role", "arn:aws-us-gov:iam::"+scanAcctB+":role/Audit", "--exclude-accounts", "999999999999", "--output", out)
	if res.code != exitOK {
		t.Fatalf("scan with the role in the caller's partition: exit %d: %s", res.code, res.err)
	}
	if !strings.Contains(res.err, "no account found has this id") || !strings.Contains(res.err, "999999999999") {
		t.Errorf("stderr %q does not name the --exclude-accounts id that matched nothing", res.err)
	}
}

// TestScanShardsMergeEqualsUnsharded: scan --org --shard 1/4 … 4/4, then
// report merge, equals one unsharded scan instance for instance (times
// aside), targets and skipped accounts included.
func TestScanShardsMergeEqualsUnsharded(t *testing.T) {
	e := scantest.New(dayStable(t))
	f, _, _ := orgTestFleet(e)
	scanStart(t, f)
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	scanTo(t, url, scanAcctA, p("all.json"), "--org", "--role-name", "Audit")
	args := []string{"report", "merge", "-o", p("merged.json")}
	for i := 1; i <= 4; i++ {
		name := p(fmt.Sprintf("shard-%d.json", i))
		scanTo(t, url, scanAcctA, name, "--org", "--role-name", "Audit", "--shard", fmt.Sprintf("%d/4", i))
		args = append(args, name)
	}
	res := scanCLI(t, false, args...)
	if res.code != exitOK {
		t.Fatalf("merge: exit %d\n%s", res.code, res.err)
	}
	all, merged := readReportPath(t, p("all.json")), readReportPath(t, p("merged.json"))
	sameInstances(t, merged, all)
	if !reflect.DeepEqual(merged.SkippedAccounts, all.SkippedAccounts) || len(all.SkippedAccounts) == 0 {
		t.Errorf("skipped accounts %+v, want %+v", merged.SkippedAccounts, all.SkippedAccounts)
	}
}
