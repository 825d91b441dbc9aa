package report_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// split cuts r into one report per group of targets (by account/Region),
// each with the targets and instances of its group, as scans of those
// targets alone would have written them.
func split(r *report.Report, groups ...[]string) []*report.Report {
	var out []*report.Report
	for _, g := range groups {
		part := *r
		part.Targets, part.Instances = nil, nil
		part.AccountDefaults, part.LaunchSources, part.Workloads = nil, nil, nil
		in := func(account, region string) bool {
			for _, k := range g {
				if k == account+"/"+region {
					return true
				}
			}
			return false
		}
		for _, t := range r.Targets {
			if in(t.Account, t.Region) {
				part.Targets = append(part.Targets, t)
			}
		}
		for _, x := range r.Instances {
			if in(x.Account, x.Region) {
				part.Instances = append(part.Instances, x)
			}
		}
		for _, x := range r.AccountDefaults {
			if in(x.Account, x.Region) {
				part.AccountDefaults = append(part.AccountDefaults, x)
			}
		}
		for _, x := range r.LaunchSources {
			if in(x.Account, x.Region) {
				part.LaunchSources = append(part.LaunchSources, x)
			}
		}
		for _, x := range r.Workloads {
			if in(x.Account, x.Region) {
				part.Workloads = append(part.Workloads, x)
			}
		}
		report.Normalize(&part)
		out = append(out, &part)
	}
	return out
}

func inputs(parts ...*report.Report) []report.MergeInput {
	out := make([]report.MergeInput, len(parts))
	for i, p := range parts {
		out[i] = report.MergeInput{Name: []string{"a.json", "b.json", "c.json", "d.json"}[i], Report: p}
	}
	return out
}

// TestMergeEqualsWhole: the fixture cut by targets and merged again, in
// any order, is the fixture (bar the sources it records), and the merged
// JSON reads back.
func TestMergeEqualsWhole(t *testing.T) {
	whole := fixture()
	// Schema version 2's per-target lists go to the part of their target.
	whole.AccountDefaults = []report.AccountDefaults{
		{Account: "222222222222", Region: "us-west-2", HttpTokens: "required", ManagedBy: "account"},
		{Account: "111111111111", Region: "us-east-1", ManagedBy: "declarative-policy"},
	}
	whole.LaunchSources = []report.LaunchSource{{Account: "222222222222", Region: "us-west-2", ID: "auto-scaling-group/web",
		Kind: report.SourceAutoScalingGroup, Name: "web", Instances: []string{"i-0d00000000000ready2"},
		NextLaunch: report.NextLaunch{Status: report.NextLaunchResolved, HttpTokens: "optional", HttpTokensFrom: report.LayerBuiltIn,
			HttpPutResponseHopLimit: 1, HttpPutResponseHopLimitFrom: report.LayerBuiltIn, HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn}}}
	whole.Workloads = []report.Workload{
		{Account: "222222222222", Region: "us-west-2", ID: "auto-scaling-group/222222222222/us-west-2/web", Kind: report.WorkloadAutoScalingGroup, Name: "web", Instances: 1, Step: report.StepFixSource},
		{Account: "111111111111", Region: "ap-southeast-2", ID: "unmanaged/111111111111/ap-southeast-2/unmanaged", Kind: report.WorkloadUnmanaged, Name: "unmanaged", Instances: 3, Step: report.StepDone},
	}
	report.Normalize(whole)
	parts := split(whole,
		[]string{"111111111111/us-east-1", "111111111111/eu-west-1"},
		[]string{"222222222222/us-west-2"},
		[]string{"111111111111/ap-southeast-2"})
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}} {
		var in []*report.Report
		for _, i := range order {
			in = append(in, parts[i])
		}
		got, err := report.Merge(inputs(in...), report.MergeOptions{})
		if err != nil {
			t.Fatalf("order %v: %v", order, err)
		}
		if len(got.MergedFrom) != 3 {
			t.Errorf("order %v: mergedFrom has %d sources, want 3", order, len(got.MergedFrom))
		}
		cmp := *got
		cmp.MergedFrom = nil
		if !reflect.DeepEqual(&cmp, whole) {
			t.Errorf("order %v: merged report differs from the whole:\n got targets %+v\nwant targets %+v", order, cmp.Targets, whole.Targets)
		}
		var buf bytes.Buffer
		if err := report.WriteJSON(&buf, got); err != nil {
			t.Fatal(err)
		}
		back, err := report.Read(&buf)
		if err != nil {
			t.Fatalf("merged report does not read back: %v", err)
		}
		if !reflect.DeepEqual(back, got) {
			t.Errorf("order %v: merged report changes when written and read back", order)
		}
		if order[0] == 0 {
			var first bytes.Buffer
			report.WriteJSON(&first, got)
			golden(t, "merged.json", first.Bytes())
		}
	}
}

// TestMergeShardsAndWindows: shards of one run merge into a report with no
// shard of its own, the shards in order in mergedFrom, the window spanning
// theirs (shards either side of UTC midnight have the same lookback), and
// a merge of merged reports keeps the original shards.
func TestMergeShardsAndWindows(t *testing.T) {
	whole := normalized(t)
	parts := split(whole,
		[]string{"111111111111/us-east-1", "111111111111/eu-west-1"},
		[]string{"222222222222/us-west-2"},
		[]string{"111111111111/ap-southeast-2"})
	for i, p := range parts {
		p.Shard = &report.Shard{Index: i + 1, Count: 3}
	}
	// Shard 3 ran just after midnight: its window starts a day later and
	// ends the next day, with the same 14-day lookback.
	parts[2].Window = report.Window{Start: ts("2026-11-09T00:00:00Z"), End: ts("2026-11-23T00:00:30Z")}
	parts[2].GeneratedAt = ts("2026-11-23T00:00:30Z")
	parts[0].Window.End = ts("2026-11-22T23:59:00Z")

	m12, err := report.Merge(inputs(parts[1], parts[0]), report.MergeOptions{AllowMissingShards: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := report.Merge(inputs(parts[2], m12), report.MergeOptions{Tool: report.Tool{Name: "imdsfleet", Version: "v9"}})
	if err != nil {
		t.Fatalf("merge of a merged report and the last shard: %v", err)
	}
	if all.Shard != nil {
		t.Errorf("merged report has shard %v, want none", all.Shard)
	}
	var shards []string
	for _, s := range all.MergedFrom {
		shards = append(shards, s.Shard.String())
	}
	if strings.Join(shards, " ") != "1/3 2/3 3/3" {
		t.Errorf("mergedFrom shards %v, want 1/3 2/3 3/3", shards)
	}
	if want := (report.Window{Start: ts("2026-11-08T00:00:00Z"), End: ts("2026-11-23T00:00:30Z")}); all.Window != want {
		t.Errorf("window %+v, want %+v", all.Window, want)
	}
	if !all.GeneratedAt.Equal(ts("2026-11-23T00:00:30Z")) || all.Tool.Version != "v9" {
		t.Errorf("generatedAt %s, tool %+v: want the latest source's time and the merging tool", all.GeneratedAt, all.Tool)
	}
	if len(all.Instances) != len(whole.Instances) || len(all.Targets) != len(whole.Targets) {
		t.Errorf("%d instances in %d targets, want %d in %d", len(all.Instances), len(all.Targets), len(whole.Instances), len(whole.Targets))
	}
	if got := report.LookbackDays(all); got != 14 {
		t.Errorf("LookbackDays of the merged report = %d, want 14 (its sources')", got)
	}
}

// TestMergeRefusals: every refusal names the files and the difference.
func TestMergeRefusals(t *testing.T) {
	base := func() []*report.Report {
		return split(normalized(t),
			[]string{"111111111111/us-east-1", "111111111111/eu-west-1"},
			[]string{"222222222222/us-west-2", "111111111111/ap-southeast-2"})
	}
	tests := []struct {
		name   string
		edit   func(p []*report.Report) []*report.Report
		opts   report.MergeOptions
		want   []string
		merges bool
	}{
		{"schema version", func(p []*report.Report) []*report.Report { p[1].SchemaVersion = 1; return p }, report.MergeOptions{},
			[]string{"a.json has schema version 2 and b.json version 1"}, false},
		{"lookback", func(p []*report.Report) []*report.Report {
			p[1].Window.Start = p[1].Window.Start.Add(-16 * 24 * time.Hour)
			return p
		}, report.MergeOptions{}, []string{"a.json was scanned with a 14-day lookback", "b.json with a 30-day one", "--lookback"}, false},
		{"min observed days", func(p []*report.Report) []*report.Report {
			o := *p[1].ScanOptions
			o.MinObservedDays = 3
			p[1].ScanOptions = &o
			return p
		}, report.MergeOptions{}, []string{"scanOptions.minObservedDays is 7 in a.json and 3 in b.json", "--min-observed-days"}, false},
		// One scan read the launch sources, the other ran with
		// --no-launch-sources: the message names that flag.
		{"launch sources read in one only", func(p []*report.Report) []*report.Report {
			o := *p[1].ScanOptions
			o.LaunchSources = !o.LaunchSources
			p[1].ScanOptions = &o
			return p
		}, report.MergeOptions{}, []string{"scanOptions.launchSources", "--no-launch-sources"}, false},
		{"container tag", func(p []*report.Report) []*report.Report {
			o := *p[0].ScanOptions
			o.ContainerTags = append([]string{"role=\x1b[31mci"}, o.ContainerTags...)
			p[0].ScanOptions = &o
			return p
		}, report.MergeOptions{}, []string{`scanOptions.containerTags has "role=\x1b[31mci" in a.json but not in b.json`}, false},
		{"container tags in another order", func(p []*report.Report) []*report.Report {
			o := *p[0].ScanOptions
			o.ContainerTags = append([]string{}, o.ContainerTags...)
			o.ContainerTags[0], o.ContainerTags[1] = o.ContainerTags[1], o.ContainerTags[0]
			p[0].ScanOptions = &o
			return p
		}, report.MergeOptions{}, nil, true},
		{"no scan options", func(p []*report.Report) []*report.Report { p[1].ScanOptions = nil; return p }, report.MergeOptions{},
			[]string{"b.json records no scanOptions", "a.json does"}, false},
		{"overlapping target", func(p []*report.Report) []*report.Report {
			p[1].Targets = append(p[1].Targets, report.Target{Account: "111111111111", Region: "eu-west-1", Status: report.TargetOK})
			return p
		}, report.MergeOptions{}, []string{"a.json and b.json both scanned 111111111111/eu-west-1", "disjoint targets"}, false},
		{"whole account overlaps its Regions", func(p []*report.Report) []*report.Report {
			p[1].Targets = append(p[1].Targets, report.Target{Account: "111111111111", Region: "all", Status: report.TargetError, Error: "x"})
			return p
		}, report.MergeOptions{}, []string{"a.json and b.json both scanned account 111111111111"}, false},
		{"instance twice", func(p []*report.Report) []*report.Report {
			p[1].Instances = append(p[1].Instances, p[0].Instances[0])
			return p
		}, report.MergeOptions{}, []string{"instance i-0a00000000000v1eks (111111111111/us-east-1) is in both a.json and b.json"}, false},
		{"account skipped in one, scanned in the other", func(p []*report.Report) []*report.Report {
			p[1].SkippedAccounts = []report.SkippedAccount{{Account: "111111111111", State: "ACTIVE", Reason: "excluded by --exclude-accounts"}}
			return p
		}, report.MergeOptions{}, []string{"a.json and b.json both scanned account 111111111111 (one skipped it: excluded by --exclude-accounts)"}, false},
		{"account skipped for different reasons", func(p []*report.Report) []*report.Report {
			p[0].SkippedAccounts = []report.SkippedAccount{{Account: "333333333333", State: "SUSPENDED", Reason: "SUSPENDED in the organization"}}
			p[1].SkippedAccounts = []report.SkippedAccount{{Account: "333333333333", State: "CLOSED", Reason: "CLOSED in the organization"}}
			return p
		}, report.MergeOptions{}, []string{"account 333333333333 (skipped by both, for different reasons)"}, false},
		{"account skipped alike by both", func(p []*report.Report) []*report.Report {
			for _, r := range p {
				r.SkippedAccounts = []report.SkippedAccount{{Account: "333333333333", State: "SUSPENDED", Reason: "SUSPENDED in the organization"}}
			}
			return p
		}, report.MergeOptions{}, nil, true},
		{"shards of different counts", func(p []*report.Report) []*report.Report {
			p[0].Shard, p[1].Shard = &report.Shard{Index: 1, Count: 2}, &report.Shard{Index: 2, Count: 3}
			return p
		}, report.MergeOptions{}, []string{"a.json holds shard 1/2 but b.json holds shard 2/3"}, false},
		{"shard twice", func(p []*report.Report) []*report.Report {
			p[0].Shard, p[1].Shard = &report.Shard{Index: 2, Count: 2}, &report.Shard{Index: 2, Count: 2}
			return p
		}, report.MergeOptions{}, []string{"a.json and b.json both hold shard 2/2"}, false},
		{"shard missing", func(p []*report.Report) []*report.Report {
			p[0].Shard, p[1].Shard = &report.Shard{Index: 1, Count: 3}, &report.Shard{Index: 3, Count: 3}
			return p
		}, report.MergeOptions{}, []string{"shard 2/3 of the sharded scan is missing (2 of 3 shards given)", "--allow-missing-shards"}, false},
		// Partitions are different worlds: refused, naming both files
		// and both partitions. A report that records none (an older
		// imdsfleet) is not compared.
		{"different partitions", func(p []*report.Report) []*report.Report {
			p[0].Partition, p[1].Partition = "aws", "aws-us-gov"
			return p
		}, report.MergeOptions{}, []string{"a.json was scanned in partition aws and b.json in partition aws-us-gov", "merge only reports of one partition"}, false},
		{"partition not recorded in one", func(p []*report.Report) []*report.Report {
			p[0].Partition = "aws-us-gov"
			return p
		}, report.MergeOptions{}, nil, true},
		// Shards of two organizations' scans: refused, naming both
		// organizations (id and management account).
		{"two organizations", func(p []*report.Report) []*report.Report {
			p[0].Organization = orgOf("o-aaaaaaaaaa", "111111111111", "r-aaaa", "111111111111")
			p[1].Organization = orgOf("o-bbbbbbbbbb", "222222222222", "r-bbbb", "222222222222")
			return p
		}, report.MergeOptions{}, []string{"a.json is a scan of organization o-aaaaaaaaaa (management account 111111111111) and b.json of organization o-bbbbbbbbbb (management account 222222222222)", "merge only the shards of one organization's scan"}, false},
		{"hostile organization id", func(p []*report.Report) []*report.Report {
			p[0].Organization = orgOf("o-aaaaaaaaaa", "111111111111", "r-aaaa", "111111111111")
			p[1].Organization = orgOf("o-\x1b[31mevil\nline\u202e", "222222222222", "r-aaaa", "222222222222")
			return p
		}, report.MergeOptions{}, []string{"a.json is a scan of organization o-aaaaaaaaaa", "b.json of organization o-"}, false},
		// Reports that do not record the organization's id (an older
		// imdsfleet) are told apart by their root.
		{"two organizations without ids", func(p []*report.Report) []*report.Report {
			p[0].Organization = orgOf("", "", "r-aaaa", "111111111111")
			p[1].Organization = orgOf("", "", "ou-bbbb-00000001", "222222222222")
			return p
		}, report.MergeOptions{}, []string{"a.json is a scan of the organization whose root is r-aaaa and b.json of the one whose root is r-bbbb"}, false},
		{"one organization, id recorded in one only", func(p []*report.Report) []*report.Report {
			p[0].Organization = orgOf("o-aaaaaaaaaa", "111111111111", "r-aaaa", "111111111111")
			p[1].Organization = orgOf("", "", "r-aaaa", "222222222222")
			return p
		}, report.MergeOptions{}, nil, true},
		// One organization has one management account: reports that
		// disagree on it were edited, and the merge would have kept
		// whichever came first.
		{"one organization, two management accounts", func(p []*report.Report) []*report.Report {
			p[0].Organization = orgOf("o-aaaaaaaaaa", "111111111111", "r-aaaa", "111111111111")
			p[1].Organization = orgOf("o-aaaaaaaaaa", "999999999999", "r-aaaa", "222222222222")
			return p
		}, report.MergeOptions{}, []string{"a.json and b.json both name organization o-aaaaaaaaaa, with management account 111111111111 in a.json and 999999999999 in b.json", "edited or damaged"}, false},
		{"organization and plain accounts", func(p []*report.Report) []*report.Report {
			p[1].Organization = orgOf("o-bbbbbbbbbb", "222222222222", "r-bbbb", "222222222222")
			return p
		}, report.MergeOptions{}, []string{"b.json is a scan of organization o-bbbbbbbbbb (management account 222222222222), made with --org or --ou, and a.json a scan of plain accounts", "not both"}, false},
		{"shard missing, allowed", func(p []*report.Report) []*report.Report {
			p[0].Shard, p[1].Shard = &report.Shard{Index: 1, Count: 3}, &report.Shard{Index: 3, Count: 3}
			return p
		}, report.MergeOptions{AllowMissingShards: true}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := report.Merge(inputs(tt.edit(base())...), tt.opts)
			if tt.merges {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("merged, want a refusal")
			}
			if !errors.Is(err, report.ErrMerge) {
				t.Errorf("error %v does not wrap ErrMerge", err)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "\x1b") {
				t.Errorf("error is not one safe line: %q", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
	if _, err := report.Merge(nil, report.MergeOptions{}); !errors.Is(err, report.ErrMerge) {
		t.Errorf("Merge of nothing: %v, want ErrMerge", err)
	}
}

// orgOf is an organization with one unit (a root, or an OU) holding
// accounts.
func orgOf(id, mgmt, unit string, accounts ...string) *report.Organization {
	u := report.OrgUnit{ID: unit, Name: "Root", Accounts: accounts}
	if strings.HasPrefix(unit, "ou-") {
		u.Name = "Prod"
	}
	return &report.Organization{ID: id, ManagementAccount: mgmt, Units: []report.OrgUnit{u}}
}

// TestMergeKeepsOrganizationID: shards of one organization merge, and the
// merged report names the organization.
func TestMergeKeepsOrganizationID(t *testing.T) {
	p := split(normalized(t),
		[]string{"111111111111/us-east-1", "111111111111/eu-west-1", "111111111111/ap-southeast-2"},
		[]string{"222222222222/us-west-2"})
	p[0].Organization = orgOf("", "", "r-aaaa", "111111111111", "222222222222")
	p[1].Organization = orgOf("o-aaaaaaaaaa", "111111111111", "r-aaaa", "111111111111", "222222222222")
	m, err := report.Merge(inputs(p...), report.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o := m.Organization; o == nil || o.ID != "o-aaaaaaaaaa" || o.ManagementAccount != "111111111111" {
		t.Errorf("merged organization %+v, want o-aaaaaaaaaa managed by 111111111111", o)
	}
}

// TestReadShardValidation: a shard outside 1..N is refused by Read.
func TestReadShardValidation(t *testing.T) {
	for _, s := range []string{`{"index":0,"count":2}`, `{"index":3,"count":2}`, `{"index":1,"count":0}`} {
		doc := `{"schemaVersion":1,"shard":` + s + `,"targets":[],"instances":[]}`
		if _, err := report.Read(strings.NewReader(doc)); !errors.Is(err, report.ErrInvalid) {
			t.Errorf("shard %s: %v, want ErrInvalid", s, err)
		}
	}
	doc := `{"schemaVersion":1,"shard":{"index":2,"count":4},"targets":[],"instances":[]}`
	r, err := report.Read(strings.NewReader(doc))
	if err != nil || r.Shard == nil || *r.Shard != (report.Shard{Index: 2, Count: 4}) {
		t.Errorf("shard 2/4: %+v, %v", r, err)
	}
}

// TestMergeSelections: the merged scanOptions.selection joins the
// inputs': a Region one scan left out and another scanned is covered,
// one never scanned stays listed; shards make the selection whole only
// when all are given; shards of different --exclude-accounts, or a shard
// with a scan of every account, are refused naming the difference.
func TestMergeSelections(t *testing.T) {
	withSel := func(p *report.Report, sel report.Selection) *report.Report {
		o := *p.ScanOptions
		o.Selection = &sel
		p.ScanOptions = &o
		return p
	}
	parts := func() []*report.Report {
		return split(normalized(t),
			[]string{"111111111111/us-east-1", "111111111111/eu-west-1"},
			[]string{"222222222222/us-west-2", "111111111111/ap-southeast-2"})
	}

	// --regions subsets of one account: ap-southeast-2 and eu-west-1 are
	// covered by the other input, sa-east-1 by none.
	p := parts()
	withSel(p[0], report.Selection{Regions: []string{"eu-west-1", "us-east-1"},
		RegionsNotScanned: []report.AccountRegions{{Account: "111111111111", Regions: []string{"ap-southeast-2", "sa-east-1"}}}})
	withSel(p[1], report.Selection{Regions: []string{"ap-southeast-2", "us-west-2"},
		RegionsNotScanned: []report.AccountRegions{{Account: "111111111111", Regions: []string{"eu-west-1", "sa-east-1", "us-east-1"}}}})
	m, err := report.Merge(inputs(p[0], p[1]), report.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := m.ScanOptions.Selection
	want := []report.AccountRegions{{Account: "111111111111", Regions: []string{"sa-east-1"}}}
	if !reflect.DeepEqual(got.RegionsNotScanned, want) || len(got.Regions) != 4 {
		t.Errorf("merged selection %+v: want regionsNotScanned %v and the four Regions asked for", got, want)
	}

	// Shards.
	shard := func(i, n int, exclude ...string) report.Selection {
		return report.Selection{Org: true, ExcludeAccounts: exclude, Shards: []report.Shard{{Index: i, Count: n}}}
	}
	setShard := func(r *report.Report, i, n int) *report.Report { r.Shard = &report.Shard{Index: i, Count: n}; return r }
	p = parts()
	m, err = report.Merge(inputs(setShard(withSel(p[0], shard(1, 3)), 1, 3), setShard(withSel(p[1], shard(3, 3)), 3, 3)), report.MergeOptions{AllowMissingShards: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.ScanOptions.Selection.Shards; len(s) != 2 || s[0].Index != 1 || s[1].Index != 3 {
		t.Errorf("shards 1/3 and 3/3 merged: selection shards %v, want [1/3 3/3]", s)
	}
	p = parts()
	m, err = report.Merge(inputs(setShard(withSel(p[0], shard(1, 2)), 1, 2), setShard(withSel(p[1], shard(2, 2)), 2, 2)), report.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.ScanOptions.Selection; len(s.Shards) != 0 || !s.Org {
		t.Errorf("every shard merged: selection %+v, want --org and no shards (every account)", s)
	}
	for _, tc := range []struct {
		name string
		a, b report.Selection
		want string
	}{
		{"exclusions", shard(1, 2, "333333333333"), shard(2, 2), "--exclude-accounts is 333333333333 in a.json and none in b.json"},
		{"shard and whole", shard(1, 2), report.Selection{Org: true}, "a.json is (part of) a sharded scan and b.json covers every account"},
		{"org and ou", report.Selection{Org: true}, report.Selection{OUs: []string{"ou-ab12-cdef3456"}}, "--org is true in a.json and false in b.json"},
	} {
		p = parts()
		_, err := report.Merge(inputs(withSel(p[0], tc.a), withSel(p[1], tc.b)), report.MergeOptions{AllowMissingShards: true})
		if !errors.Is(err, report.ErrMerge) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line saying %q", tc.name, err, tc.want)
		}
	}
}

// TestReadRefusesHugeShardCount: a report (hand-edited or hostile) whose
// shard claims billions of parts is refused on read, naming the field:
// merge would otherwise loop over every missing shard, and guardrails
// over the shards of every account, until memory ran out.
func TestReadRefusesHugeShardCount(t *testing.T) {
	for _, c := range []struct{ field, json string }{
		{"shard is 1/2000000000", `"shard":{"index":1,"count":2000000000}`},
		{"mergedFrom[0].shard is 1/2000000000", `"mergedFrom":[{"tool":{"name":"imdsfleet","version":"x"},"generatedAt":"2026-11-22T00:00:00Z","window":{"start":"2026-11-08T00:00:00Z","end":"2026-11-22T00:00:00Z"},"shard":{"index":1,"count":2000000000},"targets":0,"instances":0}]`},
		{"scanOptions.selection.shards[0] is 1/2000000000", `"scanOptions":{"minObservedDays":7,"containerTags":[],"selection":{"shards":[{"index":1,"count":2000000000}]}}`},
	} {
		doc := `{"schemaVersion":2,"tool":{"name":"imdsfleet","version":"x"},"generatedAt":"2026-11-22T00:00:00Z","window":{"start":"2026-11-08T00:00:00Z","end":"2026-11-22T00:00:00Z"},` +
			c.json + `,"summary":{"instances":0,"byClassification":{},"byRisk":{}},"targets":[],"instances":[]}`
		_, err := report.Read(strings.NewReader(doc))
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "10000") {
			t.Errorf("%s: err %v, want a refusal naming it and the 10000 limit", c.field, err)
		}
	}
}
