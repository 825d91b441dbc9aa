package guardrails_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
)

var (
	windowEnd = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	now       = windowEnd.Add(3 * time.Hour)
)

const (
	acctV1      = "111111111111" // one v1-in-use instance with a role
	acctLT      = "222222222222" // a launch template whose next launch allows v1
	acctDone    = "333333333333" // everything enforced
	acctFailed  = "444444444444" // one target failed
	acctDefault = "555555555555" // account default allows v1
)

func enforced(account, region, id string) guardrails.Instance {
	return guardrails.Instance{Account: account, Region: region, ID: id, Name: "web-" + id, InstanceProfile: true}
}

// crafted is an organization of five OUs, one per case, each account
// scanned in us-east-1 and eu-west-1, with launch sources and account
// defaults read.
func crafted() guardrails.Evidence {
	ev := guardrails.Evidence{
		GeneratedAt: windowEnd, WindowStart: windowEnd.Add(-14 * 24 * time.Hour), WindowEnd: windowEnd,
		HasLaunchSources: true, HasAccountDefaults: true, HasOUs: true,
		// The scan recorded its selection: every enabled Region.
		HasSelection: true,
		OUs: []guardrails.OU{
			{ID: "r-root", Name: "Root"},
			{ID: "ou-v1", Name: "legacy", Parent: "r-root", Accounts: []string{acctV1}},
			{ID: "ou-lt", Name: "batch", Parent: "r-root", Accounts: []string{acctLT}},
			{ID: "ou-done", Name: "platform", Parent: "r-root", Accounts: []string{acctDone}},
			{ID: "ou-failed", Name: "sandbox", Parent: "r-root", Accounts: []string{acctFailed}},
			{ID: "ou-default", Name: "data", Parent: "r-root", Accounts: []string{acctDefault}},
		},
	}
	for _, acct := range []string{acctV1, acctLT, acctDone, acctFailed, acctDefault} {
		for _, region := range []string{"eu-west-1", "us-east-1"} {
			status, msg := guardrails.TargetOK, ""
			if acct == acctFailed && region == "eu-west-1" {
				status, msg = guardrails.TargetFailed, "AccessDenied from ec2:DescribeInstances"
			}
			ev.Targets = append(ev.Targets, guardrails.Target{Account: acct, Region: region, Status: status, Error: msg})
			ev.Instances = append(ev.Instances, enforced(acct, region, "i-"+acct[:3]+region[:2]))
			ev.AccountDefaults = append(ev.AccountDefaults, guardrails.AccountDefault{Account: acct, Region: region, HttpTokens: "required", ManagedBy: "account"})
			ev.LaunchSources = append(ev.LaunchSources, guardrails.LaunchSource{Kind: guardrails.SourceLaunchTemplate,
				ID: "lt-" + acct[:3] + region[:2], Name: "web", Account: acct, Region: region, TokensLayer: guardrails.LayerSource, HopLimit: 2, Instances: 1})
		}
	}
	ev.Instances = append(ev.Instances, guardrails.Instance{Account: acctV1, Region: "us-east-1", ID: "i-0legacy", Name: "legacy-app",
		TokensOptional: true, V1InUse: true, V1Calls: 1201, InstanceProfile: true})
	ev.LaunchSources = append(ev.LaunchSources, guardrails.LaunchSource{Kind: guardrails.SourceLaunchTemplate, ID: "lt-0batch",
		Name: "batch-v1", Account: acctLT, Region: "eu-west-1", AllowsV1: true, TokensLayer: guardrails.LayerSource, HopLimit: 1, Instances: 0})
	for i := range ev.AccountDefaults {
		if ev.AccountDefaults[i].Account == acctDefault && ev.AccountDefaults[i].Region == "us-east-1" {
			ev.AccountDefaults[i].HttpTokens = "optional"
		}
	}
	return ev
}

// statuses is a scope's readiness as "G1 G2 G3 G4".
func statuses(t *testing.T, a *guardrails.Assessment, kind, id string) string {
	t.Helper()
	for _, s := range a.Scopes {
		if s.Kind == kind && s.ID == id {
			var out []string
			for _, rd := range s.Readiness {
				out = append(out, string(rd.Status))
			}
			return strings.Join(out, " ")
		}
	}
	t.Fatalf("no %s scope %s", kind, id)
	return ""
}

func readiness(t *testing.T, a *guardrails.Assessment, kind, id string, g guardrails.ID) guardrails.Readiness {
	t.Helper()
	for _, s := range a.Scopes {
		if s.Kind == kind && s.ID == id {
			for _, rd := range s.Readiness {
				if rd.Guardrail == g {
					return rd
				}
			}
		}
	}
	t.Fatalf("no %s readiness in %s scope %s", g, kind, id)
	return guardrails.Readiness{}
}

// TestAssessCraftedOrganization: each OU, its account and its Regions get
// the verdict their evidence supports, in the order
// launch, re-enable, credentials, declarative.
func TestAssessCraftedOrganization(t *testing.T) {
	a, err := guardrails.Assess(crafted(), guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ kind, id, want string }{
		{guardrails.ScopeOU, "ou-v1", "blocked safe blocked blocked"},
		{guardrails.ScopeAccount, acctV1, "blocked safe blocked blocked"},
		{guardrails.ScopeRegion, acctV1 + "/us-east-1", "blocked safe blocked blocked"},
		{guardrails.ScopeRegion, acctV1 + "/eu-west-1", "safe safe safe safe"},
		{guardrails.ScopeOU, "ou-lt", "blocked safe safe blocked"},
		{guardrails.ScopeRegion, acctLT + "/us-east-1", "safe safe safe safe"},
		{guardrails.ScopeOU, "ou-done", "safe safe safe safe"},
		{guardrails.ScopeAccount, acctDone, "safe safe safe safe"},
		{guardrails.ScopeOU, "ou-failed", "unknown unknown unknown unknown"},
		{guardrails.ScopeRegion, acctFailed + "/us-east-1", "safe safe safe safe"},
		{guardrails.ScopeRegion, acctFailed + "/eu-west-1", "unknown unknown unknown unknown"},
		{guardrails.ScopeOU, "ou-default", "blocked safe safe blocked"},
		// The root covers every case: blocked where anything blocks, and
		// unknown (never safe) where the failed target is the only gap.
		{guardrails.ScopeOU, "r-root", "blocked unknown blocked blocked"},
	}
	for _, c := range cases {
		if got := statuses(t, a, c.kind, c.id); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.kind, c.id, got, c.want)
		}
	}

	// The blockers are counted and named.
	rd := readiness(t, a, guardrails.ScopeOU, "ou-v1", guardrails.RequireV2AtLaunch)
	if rd.Blockers != 1 || rd.ByKind[guardrails.KindInstanceV1InUse] != 1 || rd.Items[0].ID != "i-0legacy" || !strings.Contains(rd.Items[0].Detail, "1201") {
		t.Errorf("ou-v1 launch blockers: %+v", rd)
	}
	rd = readiness(t, a, guardrails.ScopeOU, "ou-lt", guardrails.DeclarativeDefaults)
	if rd.Blockers != 1 || rd.Items[0].Kind != guardrails.KindLaunchTemplate || rd.Items[0].ID != "lt-0batch" {
		t.Errorf("ou-lt declarative blockers: %+v", rd)
	}
	rd = readiness(t, a, guardrails.ScopeOU, "ou-default", guardrails.RequireV2AtLaunch)
	if rd.Blockers != 1 || rd.Items[0].Kind != guardrails.KindAccountDefault || rd.Items[0].Region != "us-east-1" {
		t.Errorf("ou-default launch blockers: %+v", rd)
	}
	rd = readiness(t, a, guardrails.ScopeOU, "ou-failed", guardrails.DenyV1Reenable)
	if rd.Blockers != 0 || len(rd.Unknown) != 1 || !strings.Contains(rd.Unknown[0], acctFailed+"/eu-west-1 failed to scan: AccessDenied") {
		t.Errorf("ou-failed unknown: %+v", rd)
	}
	rd = readiness(t, a, guardrails.ScopeOU, "r-root", guardrails.RequireV2AtLaunch)
	if rd.Blockers != 3 || len(rd.Unknown) != 1 {
		t.Errorf("root: %d blockers, unknown %q; want 3 blockers and the failed target", rd.Blockers, rd.Unknown)
	}
	if len(rd.Evidence) == 0 {
		t.Error("a verdict must say what it rests on")
	}
}

// TestAssessGaps: each gap in the evidence turns safe into unknown, never
// into safe, and says why.
func TestAssessGaps(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*guardrails.Evidence, *guardrails.Params)
		want  string // acctDone's readiness
		cause string
	}{
		{"no launch sources", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			ev.HasLaunchSources, ev.LaunchSources = false, nil
		}, "unknown safe safe unknown", "no launch sources"},
		{"short window", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			ev.WindowStart = ev.WindowEnd.Add(-3 * 24 * time.Hour)
		}, "unknown unknown unknown unknown", "usage window is 3 days"},
		{"scan from the future", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			// The scanning machine's clock was two days ahead.
			ev.WindowStart, ev.WindowEnd = ev.WindowStart.Add(48*time.Hour), ev.WindowEnd.Add(48*time.Hour)
		}, "unknown unknown unknown unknown", "the scan's window ends 1 days after now"},
		{"old scan", func(_ *guardrails.Evidence, p *guardrails.Params) {
			p.MaxAge = time.Hour
		}, "unknown unknown unknown unknown", "the scan ended 3h0m0s ago"},
		{"no selection recorded", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			// An older report, scanned (say) with --regions of two Regions:
			// the other Regions of every account may never have been read.
			ev.HasSelection = false
		}, "unknown unknown unknown unknown", "the report does not record which Regions the scan was asked for"},
		{"missing Region", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			// An older report (no selection): a Region scanned in the
			// other accounts and not in this one.
			ev.HasSelection = false
			var ts []guardrails.Target
			for _, t := range ev.Targets {
				if t.Account != acctDone || t.Region != "eu-west-1" {
					ts = append(ts, t)
				}
			}
			ev.Targets = ts
			var ins []guardrails.Instance
			for _, in := range ev.Instances {
				if in.Account != acctDone || in.Region != "eu-west-1" {
					ins = append(ins, in)
				}
			}
			ev.Instances = ins
			var ss []guardrails.LaunchSource
			for _, s := range ev.LaunchSources {
				if s.Account != acctDone || s.Region != "eu-west-1" {
					ss = append(ss, s)
				}
			}
			ev.LaunchSources = ss
			var ds []guardrails.AccountDefault
			for _, d := range ev.AccountDefaults {
				if d.Account != acctDone || d.Region != "eu-west-1" {
					ds = append(ds, d)
				}
			}
			ev.AccountDefaults = ds
		}, "unknown unknown unknown unknown", "Region eu-west-1 was not scanned in account " + acctDone},
		{"expected Region", func(_ *guardrails.Evidence, p *guardrails.Params) {
			p.ExpectRegions = []string{"ap-south-1"}
		}, "unknown unknown unknown unknown", "Region ap-south-1 was not scanned"},
		{"account of the OU not scanned", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			ev.OUs[3].Accounts = append(ev.OUs[3].Accounts, "999999999999")
		}, "unknown unknown unknown unknown", "account 999999999999 (in this OU) is not in the report"},
		{"launch read failed", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			for i := range ev.Targets {
				if ev.Targets[i].Account == acctDone && ev.Targets[i].Region == "us-east-1" {
					ev.Targets[i].LaunchErrors = []string{"DescribeAutoScalingGroups (needs autoscaling:DescribeAutoScalingGroups): AccessDenied"}
				}
			}
		}, "unknown safe safe unknown", "launch sources not fully read: DescribeAutoScalingGroups"},
		{"launcher not readable", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			ev.Instances = append(ev.Instances, guardrails.Instance{Account: acctDone, Region: "us-east-1", ID: "i-0karpenter",
				TokensOptional: true, UnknownLauncher: "karpenter default"})
		}, "unknown safe safe unknown", "1 instances allow IMDSv1 and came from a launcher whose next launch is not known (i-0karpenter (karpenter default))"},
		{"source resolved from the AMI", func(ev *guardrails.Evidence, _ *guardrails.Params) {
			for i := range ev.LaunchSources {
				if ev.LaunchSources[i].Account == acctDone {
					ev.LaunchSources[i].TokensLayer = guardrails.LayerAMI
				}
			}
		}, "blocked safe safe safe", ""},
		{"hop limit ceiling", func(ev *guardrails.Evidence, p *guardrails.Params) {
			p.MaxHopLimit = 1
		}, "blocked safe safe safe", ""},
		{"no selection, Regions expected and scanned", func(ev *guardrails.Evidence, p *guardrails.Params) {
			// --expect-regions says which Regions every account has: with
			// all of them scanned, an older report can be complete.
			ev.HasSelection = false
			p.ExpectRegions = []string{"eu-west-1", "us-east-1"}
		}, "safe safe safe safe", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, p := crafted(), guardrails.DefaultParams()
			c.edit(&ev, &p)
			a, err := guardrails.Assess(ev, p, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := statuses(t, a, guardrails.ScopeOU, "ou-done"); got != c.want {
				t.Errorf("ou-done: %s, want %s", got, c.want)
			}
			if c.cause != "" {
				rd := readiness(t, a, guardrails.ScopeOU, "ou-done", guardrails.DeclarativeDefaults)
				if !strings.Contains(strings.Join(rd.Unknown, "\n"), c.cause) {
					t.Errorf("unknown %q does not say %q", rd.Unknown, c.cause)
				}
			}
		})
	}
}

// TestAssessExemptTag: an instance with the exempt tag no longer blocks the
// SCPs whose condition sees that tag (launch: aws:RequestTag), and is
// counted; it still blocks the credentials SCP (it reads the role's tag,
// not the instance's) and the declarative policy (no exceptions).
func TestAssessExemptTag(t *testing.T) {
	ev := crafted()
	for i := range ev.Instances {
		if ev.Instances[i].ID == "i-0legacy" {
			ev.Instances[i].Tags = map[string]string{"imdsfleet:exempt": "true"}
		}
	}
	p := guardrails.DefaultParams()
	p.ExemptTagKey, p.ExemptTagValue = "imdsfleet:exempt", "true"
	a, err := guardrails.Assess(ev, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, a, guardrails.ScopeOU, "ou-v1"); got != "safe safe blocked blocked" {
		t.Errorf("ou-v1: %s", got)
	}
	if rd := readiness(t, a, guardrails.ScopeOU, "ou-v1", guardrails.RequireV2AtLaunch); rd.Exempt != 1 {
		t.Errorf("exempt %d, want 1", rd.Exempt)
	}
	p.ExemptTagValue = "false"
	a, _ = guardrails.Assess(ev, p, now)
	if got := statuses(t, a, guardrails.ScopeOU, "ou-v1"); got != "blocked safe blocked blocked" {
		t.Errorf("another value exempts nothing: ou-v1 %s", got)
	}
}

// TestAssessCapsNamedBlockers: an account names its first 50 blockers and
// counts the rest; its Region names them all.
func TestAssessCapsNamedBlockers(t *testing.T) {
	ev := crafted()
	for i := range 120 {
		ev.Instances = append(ev.Instances, guardrails.Instance{Account: acctV1, Region: "eu-west-1", ID: fmt.Sprintf("i-%04d", i),
			TokensOptional: true, NoData: true})
	}
	a, err := guardrails.Assess(ev, guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	acct := readiness(t, a, guardrails.ScopeAccount, acctV1, guardrails.RequireV2AtLaunch)
	if acct.Blockers != 121 || len(acct.Items) != guardrails.MaxItems || acct.ItemsOmitted != 71 {
		t.Errorf("account: %d blockers, %d named, %d omitted", acct.Blockers, len(acct.Items), acct.ItemsOmitted)
	}
	region := readiness(t, a, guardrails.ScopeRegion, acctV1+"/eu-west-1", guardrails.RequireV2AtLaunch)
	if region.Blockers != 120 || len(region.Items) != 120 || region.ItemsOmitted != 0 {
		t.Errorf("Region: %d blockers, %d named", region.Blockers, len(region.Items))
	}
}

// TestAssessSkipped: an account the scan skipped (suspended, excluded) is
// its own unknown scope and makes its OU unknown with the reason; a Region
// skipped as not enabled is no gap.
func TestAssessSkipped(t *testing.T) {
	ev := crafted()
	ev.SkippedAccounts = []guardrails.SkippedAccount{{Account: "666666666666", Reason: "excluded with --exclude-accounts"}}
	ev.OUs[3].Accounts = append(ev.OUs[3].Accounts, "666666666666")
	for i := range ev.Targets {
		if ev.Targets[i].Account == acctV1 && ev.Targets[i].Region == "eu-west-1" {
			ev.Targets[i].Status, ev.Targets[i].Error = guardrails.TargetSkipped, "Region not enabled for the account"
		}
	}
	a, err := guardrails.Assess(ev, guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, a, guardrails.ScopeAccount, "666666666666"); got != "unknown unknown unknown unknown" {
		t.Errorf("skipped account: %s", got)
	}
	rd := readiness(t, a, guardrails.ScopeOU, "ou-done", guardrails.DenyV1Reenable)
	if rd.Status != guardrails.Unknown || len(rd.Unknown) != 1 || !strings.Contains(rd.Unknown[0], "666666666666 was not scanned: excluded") {
		t.Errorf("ou-done: %s %q", rd.Status, rd.Unknown)
	}
	if got := statuses(t, a, guardrails.ScopeRegion, acctV1+"/eu-west-1"); got != "safe safe safe safe" {
		t.Errorf("skipped Region: %s", got)
	}
	if a.Evidence.SkippedAccounts != 1 || a.Evidence.SkippedTargets != 1 {
		t.Errorf("evidence: %+v", a.Evidence)
	}
}

// TestAssessUnitNotFullyRead: an OU the scan could not fully read
// (deleted or changed during the walk) is unknown with the reason, and so
// is every unit above it; its siblings are not affected.
func TestAssessUnitNotFullyRead(t *testing.T) {
	ev := crafted()
	ev.OUs = append(ev.OUs, guardrails.OU{ID: "ou-gone", Name: "gone", Parent: "ou-done",
		Skipped: "organizations:ListAccountsForParent answered ParentNotFoundException for it"})
	a, err := guardrails.Assess(ev, guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ou-gone", "ou-done", "r-root"} {
		rd := readiness(t, a, guardrails.ScopeOU, id, guardrails.DenyV1Reenable)
		if rd.Status != guardrails.Unknown || !strings.Contains(strings.Join(rd.Unknown, "|"), "OU ou-gone was not fully read") {
			t.Errorf("%s: %s %q, want unknown naming ou-gone", id, rd.Status, rd.Unknown)
		}
	}
	if rd := readiness(t, a, guardrails.ScopeOU, "ou-lt", guardrails.DenyV1Reenable); rd.Status != guardrails.Safe {
		t.Errorf("sibling ou-lt: %s %q, want safe", rd.Status, rd.Unknown)
	}
}

// TestAssessUnplacedAccount: an account of the organization that no unit
// held (it moved during the walk) may sit in any unit: the root and every
// OU, ou-lt (safe without it) included, read unknown naming it.
func TestAssessUnplacedAccount(t *testing.T) {
	ev := crafted()
	ev.UnplacedAccounts = []guardrails.UnplacedAccount{{Account: "999999999999", Reason: "moved during the walk: its unit is not known"}}
	a, err := guardrails.Assess(ev, guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, ou := range ev.OUs {
		rd := readiness(t, a, guardrails.ScopeOU, ou.ID, guardrails.DenyV1Reenable)
		if rd.Status == guardrails.Safe || !strings.Contains(strings.Join(rd.Unknown, "|"), "account 999999999999 of the organization is in no unit") {
			t.Errorf("%s: %s %q, want not safe, naming the unplaced account", ou.ID, rd.Status, rd.Unknown)
		}
	}
	if rd := readiness(t, a, guardrails.ScopeOU, "ou-lt", guardrails.DenyV1Reenable); rd.Status != guardrails.Unknown {
		t.Errorf("ou-lt: %s, want unknown", rd.Status)
	}
}

// TestAssessUsageNotRead: an enforced instance whose rejected IMDSv1 calls
// could not be read from CloudWatch leaves deny-imdsv1-reenable unknown
// (not safe) in its Region, account and OU; exempting it by tag drops the
// gap of that SCP only.
func TestAssessUsageNotRead(t *testing.T) {
	ev := crafted()
	for i := range ev.Instances {
		if ev.Instances[i].Account == acctDone && ev.Instances[i].Region == "us-east-1" {
			ev.Instances[i].UsageUnread = "not read: AccessDenied from cloudwatch:GetMetricData"
			ev.Instances[i].Tags = map[string]string{"imds-exempt": "yes"}
		}
	}
	a, err := guardrails.Assess(ev, guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct{ kind, id string }{{guardrails.ScopeOU, "ou-done"}, {guardrails.ScopeAccount, acctDone}, {guardrails.ScopeRegion, acctDone + "/us-east-1"}} {
		if got := statuses(t, a, sc.kind, sc.id); got != "safe unknown safe safe" {
			t.Errorf("%s %s: %s, want safe unknown safe safe", sc.kind, sc.id, got)
		}
	}
	rd := readiness(t, a, guardrails.ScopeOU, "ou-done", guardrails.DenyV1Reenable)
	if !strings.Contains(strings.Join(rd.Unknown, "\n"), "IMDSv1 usage of 1 instances was not fully read from CloudWatch (i-333us; i-333us: not read: AccessDenied") {
		t.Errorf("unknown %q does not name the instance and why", rd.Unknown)
	}
	if got := statuses(t, a, guardrails.ScopeRegion, acctDone+"/eu-west-1"); got != "safe safe safe safe" {
		t.Errorf("the other Region: %s, want safe x4", got)
	}
	p := guardrails.DefaultParams()
	p.ExemptTagKey = "imds-exempt"
	if a, err = guardrails.Assess(ev, p, now); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, a, guardrails.ScopeOU, "ou-done"); got != "safe safe safe safe" {
		t.Errorf("with the instance exempt by tag: %s, want safe x4", got)
	}
}
