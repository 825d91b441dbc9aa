package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// orgFixture is an organization of 47 accounts: the management account
// (acctA, the caller), 45 members spread over the root and three OUs (one
// nested), 5 of them not ACTIVE (one PENDING_ACTIVATION, whose retired
// Status says ACTIVE), one whose role cannot be assumed, and every second
// List page empty with a NextToken.
type orgFixture struct {
	f        *fleet.Fleet
	e        *scantest.Expect
	active   []string // ACTIVE accounts, sorted (the denied one included)
	inactive map[string]string
	denied   string
	underOU1 []string // ACTIVE accounts under ou1 and its child ou2
}

const (
	ou1 = "ou-sim0-00000001" // Prod
	ou2 = "ou-sim0-00000002" // Prod/EU, under ou1
	ou3 = "ou-sim0-00000003" // Dev
)

func newOrgFixture() *orgFixture {
	e := scantest.New(clock)
	x := &orgFixture{e: e, inactive: map[string]string{}}
	f := &fleet.Fleet{Organization: &fleet.Organization{
		OUs: []fleet.OU{
			{ID: ou1, Name: "Prod"}, {ID: ou2, Name: "Prod-EU", Parent: ou1}, {ID: ou3, Name: "Dev"},
		},
		EmptyPageEvery: 1,
	}}
	f.Accounts = append(f.Accounts, fleet.Account{ID: acctA, Name: "management",
		Regions: []fleet.Region{{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 3)}}})
	x.active = append(x.active, acctA)
	states := map[int]string{3: fleet.AccountSuspended, 11: fleet.AccountClosed, 17: fleet.AccountPendingActivation,
		29: fleet.AccountPendingClosure, 40: fleet.AccountSuspended}
	for i := range 45 {
		id := fmt.Sprintf("3000000000%02d", i)
		parent := []string{"", ou1, ou2, ou3}[i%4]
		a := fleet.Account{ID: id, Name: "member " + id, Parent: parent, State: states[i], Roles: []string{"Audit"}}
		if st := states[i]; st != "" {
			x.inactive[id] = st
		} else {
			a.Regions = []fleet.Region{{Name: "us-east-1", Instances: e.Instances(id, "us-east-1", 2)}}
			x.active = append(x.active, id)
			if parent == ou1 || parent == ou2 {
				x.underOU1 = append(x.underOU1, id)
			}
		}
		if i == 22 {
			a.DenyAssumeRole = true
			x.denied = id
		}
		f.Accounts = append(f.Accounts, a)
	}
	slices.Sort(x.active)
	x.f = f
	return x
}

// nameOf is the name f gives account id.
func nameOf(f *fleet.Fleet, id string) string {
	for _, a := range f.Accounts {
		if a.ID == id {
			return a.Name
		}
	}
	return ""
}

func scannedAccounts(r *report.Report) []string {
	set := map[string]bool{}
	for _, t := range r.Targets {
		set[t.Account] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// TestOrgScanFindsActiveAccounts: --org lists the organization through
// pages of 20 with empty pages between them, scans exactly the ACTIVE
// accounts (State, not the retired Status: the PENDING_ACTIVATION account
// says Status ACTIVE), lists the others as skipped with their state,
// reaches the caller's own account with its own credentials, and a role
// that cannot be assumed fails its account alone.
func TestOrgScanFindsActiveAccounts(t *testing.T) {
	x := newOrgFixture()
	env := start(t, x.f, x.e)
	r := env.scan(t, scanner.Options{Org: &scanner.OrgOptions{}, RoleName: "Audit"})

	if got := scannedAccounts(r); !slices.Equal(got, x.active) {
		t.Errorf("scanned accounts %v,\nwant the %d ACTIVE ones %v", got, len(x.active), x.active)
	}
	var skipped []string
	for _, s := range r.SkippedAccounts {
		skipped = append(skipped, s.Account)
		if x.inactive[s.Account] != s.State || !strings.Contains(s.Reason, s.State) || s.Name == "" {
			t.Errorf("skipped %+v, want state %s named in the reason, and the account's name", s, x.inactive[s.Account])
		}
	}
	if want := slices.Sorted(maps.Keys(x.inactive)); !slices.Equal(skipped, want) {
		t.Errorf("skipped accounts %v, want %v", skipped, want)
	}
	stats := env.srv.Stats()
	// The walk from the root: one ListRoots, and per unit (the root and
	// three OUs, each under 20 accounts) a page of accounts, an empty page
	// carrying a NextToken, and the final empty page; the OU lists of the
	// root and of Prod likewise, those of Prod-EU and Dev one empty page
	// without a token. Then the cross-check: ListAccounts pages the 46
	// accounts as 20, empty, 20, empty, 6, empty and a final empty page.
	for api, want := range map[string]int{"ListAccounts": 7, "ListRoots": 1, "ListAccountsForParent": 4 * 3, "ListOrganizationalUnitsForParent": 2*3 + 2} {
		if got := sumCalls(stats.Calls[api]); got != want {
			t.Errorf("%s calls = %d, want %d", api, got, want)
		}
	}
	checkOrgTree(t, x, r, []string{x.f.Organization.Root(), ou1, ou2, ou3}, map[string]string{ou1: x.f.Organization.Root(), ou2: ou1, ou3: x.f.Organization.Root()})
	if r.Partition != "aws" {
		t.Errorf("report partition %q, want aws (the caller's)", r.Partition)
	}
	// The organization's id and management account, from the ARNs the
	// walk listed: merge tells organizations apart by them.
	if o := r.Organization; o.ID != x.f.Organization.OrgID() || o.ManagementAccount != x.f.Management() {
		t.Errorf("organization id %q managed by %q, want %s managed by %s", o.ID, o.ManagementAccount, x.f.Organization.OrgID(), x.f.Management())
	}
	// One AssumeRole per ACTIVE member; none for the caller's account.
	if got, want := sumCalls(stats.Calls["AssumeRole"]), len(x.active)-1; got != want {
		t.Errorf("AssumeRole calls = %d, want %d", got, want)
	}
	for _, tg := range r.Targets {
		switch {
		case tg.Account == x.denied:
			if tg.Status != report.TargetError || !strings.Contains(tg.Error, "assume") {
				t.Errorf("denied account's target %+v, want an error about assuming the role", tg)
			}
		case tg.Status != report.TargetOK:
			t.Errorf("target %+v failed", tg)
		}
	}
	if !scanner.Incomplete(r) {
		t.Error("a failed account did not make the scan incomplete")
	}
	x.e.Require(t, r, func(a, _ string) bool { return a != x.denied && x.inactive[a] == "" }, nil)
}

// TestOrgScanOU: --ou finds the accounts under an OU and its children,
// through empty pages of ListAccountsForParent and ListChildren.
func TestOrgScanOU(t *testing.T) {
	x := newOrgFixture()
	env := start(t, x.f, x.e)
	r := env.scan(t, scanner.Options{Org: &scanner.OrgOptions{OUs: []string{ou1}}, RoleName: "Audit"})
	want := slices.Clone(x.underOU1)
	slices.Sort(want)
	if got := scannedAccounts(r); !slices.Equal(got, want) {
		t.Errorf("--ou %s scanned %v, want %v", ou1, got, want)
	}
	for _, s := range r.SkippedAccounts {
		if x.inactive[s.Account] == "" {
			t.Errorf("skipped %+v is ACTIVE", s)
		}
	}
	if n := sumCalls(env.srv.Stats().Calls["ListAccounts"]); n != 0 {
		t.Errorf("--ou called ListAccounts %d times", n)
	}
	// The given OU's parent is not read; its child's is.
	checkOrgTree(t, x, r, []string{ou1, ou2}, map[string]string{ou2: ou1})
	if o := r.Organization; o.ID != x.f.Organization.OrgID() || o.ManagementAccount != x.f.Management() {
		t.Errorf("--ou: organization id %q managed by %q, want %s managed by %s", o.ID, o.ManagementAccount, x.f.Organization.OrgID(), x.f.Management())
	}

	// The same OU given twice, and its child with it: each account once.
	r = env.scan(t, scanner.Options{Org: &scanner.OrgOptions{OUs: []string{ou1, ou2, ou1}}, RoleName: "Audit"})
	if got := scannedAccounts(r); !slices.Equal(got, want) {
		t.Errorf("--ou %s --ou %s scanned %v, want %v", ou1, ou2, got, want)
	}

	// An OU the organization does not have is named.
	_, err := scanner.Scan(context.Background(), env.clients, scanner.Options{Now: env.srv.Now,
		Org: &scanner.OrgOptions{OUs: []string{"ou-sim0-99999999"}}, RoleName: "Audit"})
	var oe *scanner.OrgError
	if !errors.As(err, &oe) || !oe.IsUsage() || !strings.Contains(err.Error(), "ou-sim0-99999999") {
		t.Errorf("unknown OU: %v, want a usage OrgError naming it", err)
	}
}

// TestOrgScanShards: --shard 1/4 … 4/4 together scan every account of
// the unsharded scan exactly once, instance for instance, and list every
// skipped account once; each report records its shard.
func TestOrgScanShards(t *testing.T) {
	x := newOrgFixture()
	env := start(t, x.f, x.e)
	all := env.scan(t, scanner.Options{Org: &scanner.OrgOptions{}, RoleName: "Audit"})
	seenTarget := map[string]int{}
	seenInstance := map[string]int{}
	seenSkipped := map[string]int{}
	for i := 1; i <= 4; i++ {
		r := env.scan(t, scanner.Options{Org: &scanner.OrgOptions{}, RoleName: "Audit", Shard: report.Shard{Index: i, Count: 4}})
		if r.Shard == nil || *r.Shard != (report.Shard{Index: i, Count: 4}) {
			t.Errorf("shard %d/4 report records %+v", i, r.Shard)
		}
		for _, tg := range r.Targets {
			seenTarget[tg.Account+"/"+tg.Region]++
		}
		for _, in := range r.Instances {
			seenInstance[in.Account+"/"+in.Region+"/"+in.InstanceID]++
		}
		for _, s := range r.SkippedAccounts {
			seenSkipped[s.Account]++
		}
	}
	for _, tg := range all.Targets {
		if n := seenTarget[tg.Account+"/"+tg.Region]; n != 1 {
			t.Errorf("target %s/%s is in %d shards", tg.Account, tg.Region, n)
		}
	}
	if len(seenTarget) != len(all.Targets) {
		t.Errorf("shards hold %d targets, the whole scan %d", len(seenTarget), len(all.Targets))
	}
	for _, in := range all.Instances {
		if n := seenInstance[in.Account+"/"+in.Region+"/"+in.InstanceID]; n != 1 {
			t.Errorf("instance %s is in %d shards", in.InstanceID, n)
		}
	}
	if len(seenInstance) != len(all.Instances) {
		t.Errorf("shards hold %d instances, the whole scan %d", len(seenInstance), len(all.Instances))
	}
	for id := range x.inactive {
		if seenSkipped[id] != 1 {
			t.Errorf("skipped account %s is listed by %d shards", id, seenSkipped[id])
		}
	}
}

// TestOrgScanExclude: --exclude-accounts leaves accounts out, listed as
// skipped with the reason, the caller's own account too.
func TestOrgScanExclude(t *testing.T) {
	x := newOrgFixture()
	env := start(t, x.f, x.e)
	excl := []string{acctA, x.active[5]}
	r := env.scan(t, scanner.Options{Org: &scanner.OrgOptions{}, RoleName: "Audit", ExcludeAccounts: excl})
	got := scannedAccounts(r)
	for _, id := range excl {
		if slices.Contains(got, id) {
			t.Errorf("excluded account %s was scanned", id)
		}
		i := slices.IndexFunc(r.SkippedAccounts, func(s report.SkippedAccount) bool { return s.Account == id })
		if i < 0 || !strings.Contains(r.SkippedAccounts[i].Reason, "--exclude-accounts") {
			t.Errorf("excluded account %s not listed as skipped by --exclude-accounts: %+v", id, r.SkippedAccounts)
		}
	}
	if len(got) != len(x.active)-2 {
		t.Errorf("scanned %d accounts, want %d", len(got), len(x.active)-2)
	}
}

// TestOrgScanRefused: ListAccounts from a member account that is not a
// delegated administrator, or from an account outside any organization,
// stops the scan with the reason and the fix; a delegated administrator
// may list.
func TestOrgScanRefused(t *testing.T) {
	x := newOrgFixture()
	member := x.active[3]
	x.f.Organization.DelegatedAdministrators = []string{x.active[4]}
	c := clock
	x.f.Clock = &c
	_, url := simtest.Start(t, x.f, sim.Options{Seed: 1})
	scanAs := func(acct string) (*report.Report, error) {
		cl := scanner.NewAWSClients(awsconfig.NewClients(simtest.Config(url, fleet.DefaultAccessKeyID(acct), "us-east-1"), "", ""))
		return scanner.Scan(context.Background(), cl, scanner.Options{Now: func() time.Time { return clock }, Org: &scanner.OrgOptions{}, RoleName: "Audit"})
	}
	_, err := scanAs(member)
	var oe *scanner.OrgError
	if !errors.As(err, &oe) || oe.IsUsage() || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "delegated administrator") {
		t.Errorf("member account: %v, want AccessDeniedException naming the management account or a delegated administrator", err)
	}
	r, err := scanAs(x.active[4])
	if err != nil {
		t.Fatalf("delegated administrator: %v", err)
	}
	if got := scannedAccounts(r); len(got) != len(x.active) {
		t.Errorf("delegated administrator scanned %d accounts, want %d", len(got), len(x.active))
	}

	e := scantest.New(clock)
	noOrg := &fleet.Fleet{Clock: &c, Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: e.Instances(acctA, "us-east-1", 1)}}}}}
	_, url = simtest.Start(t, noOrg, sim.Options{Seed: 1})
	cl := scanner.NewAWSClients(awsconfig.NewClients(simtest.Config(url, fleet.DefaultAccessKeyID(acctA), "us-east-1"), "", ""))
	_, err = scanner.Scan(context.Background(), cl, scanner.Options{Now: func() time.Time { return clock }, Org: &scanner.OrgOptions{}, RoleName: "Audit"})
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "not in an organization") {
		t.Errorf("no organization: %v, want AWSOrganizationsNotInUseException explained", err)
	}
}

// TestScanGovCloudPartition: a caller in AWS GovCloud (US) reaches other
// accounts through arn:aws-us-gov: roles (the simulated STS refuses a role
// ARN of another partition, as AWS cannot assume across partitions).
func TestScanGovCloudPartition(t *testing.T) {
	e := scantest.New(clock)
	c := clock
	f := &fleet.Fleet{Clock: &c, Partition: fleet.PartitionGov, Accounts: []fleet.Account{
		{ID: acctA, Regions: []fleet.Region{{Name: "us-gov-west-1", Instances: e.Instances(acctA, "us-gov-west-1", 4)}}},
		{ID: acctB, Roles: []string{"Audit"}, Regions: []fleet.Region{{Name: "us-gov-east-1", Instances: e.Instances(acctB, "us-gov-east-1", 5)}}},
	}}
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cl := scanner.NewAWSClients(awsconfig.NewClients(simtest.Config(url, fleet.DefaultAccessKeyID(acctA), "us-gov-west-1"), "", ""))
	r, err := scanner.Scan(context.Background(), cl, scanner.Options{Now: srv.Now, Accounts: []string{acctB}, RoleName: "Audit"})
	if err != nil {
		t.Fatal(err)
	}
	if scanner.Incomplete(r) {
		t.Fatalf("targets failed (a role ARN outside aws-us-gov is refused): %+v", r.Targets)
	}
	if got := scannedAccounts(r); !slices.Equal(got, []string{acctA, acctB}) {
		t.Errorf("scanned %v", got)
	}
	e.Require(t, r, func(string, string) bool { return true }, nil)
	// An explicit role ARN in the wrong partition fails its account alone.
	r, err = scanner.Scan(context.Background(), cl, scanner.Options{Now: srv.Now, Roles: []scanner.Role{{ARN: "arn:aws:iam::" + acctB + ":role/Audit"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tg := target(t, r, acctB, scanner.RegionsAll); tg.Status != report.TargetError || !strings.Contains(tg.Error, "partition aws but the caller") {
		t.Errorf("arn:aws: role from GovCloud: %+v, want a failed target naming the partitions", tg)
	}
}

// checkOrgTree checks the organization r records: exactly the units ids,
// each with its name and parent from the fleet (parents as given: "" for
// a root and for a unit given with --ou) and every account the fleet puts
// directly in it, whatever its state.
func checkOrgTree(t *testing.T, x *orgFixture, r *report.Report, ids []string, parents map[string]string) {
	t.Helper()
	if r.Organization == nil {
		t.Fatal("the report records no organization")
	}
	root := x.f.Organization.Root()
	names := map[string]string{root: "Root"}
	for _, ou := range x.f.Organization.OUs {
		names[ou.ID] = ou.Name
	}
	direct := map[string][]string{}
	for _, a := range x.f.Accounts {
		p := a.Parent
		if p == "" {
			p = root
		}
		direct[p] = append(direct[p], a.ID)
	}
	var got []string
	for _, u := range r.Organization.Units {
		got = append(got, u.ID)
		want := slices.Sorted(slices.Values(direct[u.ID]))
		if u.Name != names[u.ID] || u.ParentID != parents[u.ID] || !slices.Equal(u.Accounts, want) {
			t.Errorf("unit %+v,\nwant name %q, parent %q, accounts %v", u, names[u.ID], parents[u.ID], want)
		}
	}
	if slices.Sort(ids); !slices.Equal(got, ids) {
		t.Errorf("units %v, want %v", got, ids)
	}
}

// TestOrgScanUnitDeletedDuringWalk: an OU deleted after its parent listed
// it (Organizations then answers ParentNotFoundException for it) is a
// skipped branch with the reason, not an abort: the scan goes on, the
// other units' accounts are scanned, and the unit is in the report's tree
// with why it was not read. An account listed in two units (moved while
// the walk read them) is scanned once, kept in the first, and both units
// say so. Both through --org and through --ou above the deleted unit.
func TestOrgScanUnitDeletedDuringWalk(t *testing.T) {
	x := newOrgFixture()
	for i := range x.f.Organization.OUs {
		if x.f.Organization.OUs[i].ID == ou2 {
			x.f.Organization.OUs[i].DeletedDuringWalk = true
		}
	}
	// An ACTIVE account of Dev, being moved to the root.
	var moved string
	for i := range x.f.Accounts {
		a := &x.f.Accounts[i]
		if a.Parent == ou3 && a.State == "" && !a.DenyAssumeRole {
			a.MovingTo = x.f.Organization.Root()
			moved = a.ID
			break
		}
	}
	env := start(t, x.f, x.e)
	var lostToOU2 []string
	for _, a := range x.f.Accounts {
		if a.Parent == ou2 && a.State == "" {
			lostToOU2 = append(lostToOU2, a.ID)
		}
	}
	for _, tc := range []struct {
		name string
		org  scanner.OrgOptions
	}{{"org", scanner.OrgOptions{}}, {"ou", scanner.OrgOptions{OUs: []string{ou1}}}} {
		t.Run(tc.name, func(t *testing.T) {
			org := tc.org
			r := env.scan(t, scanner.Options{Org: &org, RoleName: "Audit"})
			got := scannedAccounts(r)
			unplaced := map[string]bool{}
			for _, ua := range r.Organization.Unplaced {
				unplaced[ua.ID] = true
				// ListAccounts names it: the report shows the name.
				if want := nameOf(x.f, ua.ID); ua.Name != want || want == "" {
					t.Errorf("unplaced %+v, want the name %q ListAccounts gave", ua, want)
				}
			}
			for _, id := range lostToOU2 {
				// An OU is deleted only once empty: its accounts went
				// elsewhere. With --org, ListAccounts after the walk
				// finds them, in no unit read; with --ou they are lost
				// with the branch (its unit says so).
				if tc.name == "org" && (!slices.Contains(got, id) || !unplaced[id]) {
					t.Errorf("account %s of the deleted OU: scanned %v, unplaced %v; want both (ListAccounts lists it)", id, slices.Contains(got, id), unplaced[id])
				}
				if tc.name == "ou" && slices.Contains(got, id) {
					t.Errorf("account %s of the deleted OU was scanned with --ou", id)
				}
			}
			if len(got) == 0 {
				t.Fatal("nothing was scanned: the walk aborted")
			}
			units := map[string]report.OrgUnit{}
			for _, u := range r.Organization.Units {
				units[u.ID] = u
			}
			u, ok := units[ou2]
			if !ok || !strings.Contains(u.Skipped, "ParentNotFoundException") || u.ParentID != ou1 {
				t.Errorf("deleted OU in the report: %+v (present %v), want it under %s with a reason naming ParentNotFoundException", u, ok, ou1)
			}
			if tc.name != "org" {
				return
			}
			if n := strings.Count(strings.Join(got, ","), moved); n != 1 {
				t.Errorf("moved account %s scanned %d times, want once", moved, n)
			}
			for _, id := range []string{ou3, x.f.Organization.Root()} {
				if !strings.Contains(units[id].Skipped, "account "+moved+" was listed both in") {
					t.Errorf("unit %s: skipped %q, want it to name the moved account %s", id, units[id].Skipped, moved)
				}
			}
		})
	}
}
