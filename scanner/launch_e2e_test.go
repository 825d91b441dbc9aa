package scanner_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// AMIs of the launch-source tests.
const (
	amiV2    = "ami-0aaaaaaaaaaaaaaa1" // ImdsSupport v2.0
	amiPlain = "ami-0aaaaaaaaaaaaaaa2" // no ImdsSupport
	amiDereg = "ami-0aaaaaaaaaaaaaaa3" // deregistered; a live instance still runs from it
)

func lt(n int) string { return fmt.Sprintf("lt-0%016x", n) }

func iid(n int) string { return fmt.Sprintf("i-0%016x", n) }

func running(n int, ami string) fleet.Instance {
	return fleet.Instance{ID: iid(n), State: "running", ImageID: ami, LaunchTime: fleet.Rel(-30 * 24 * 3600e9)}
}

func required(hop int32) *fleet.LaunchMetadataOptions {
	return &fleet.LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: hop, HttpEndpoint: "enabled"}
}

func optional(hop int32) *fleet.LaunchMetadataOptions {
	return &fleet.LaunchMetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: hop}
}

// precedenceFleet has one workload for every layer of the next-launch
// precedence and every way a group names its template, in three Regions:
// us-east-1 without account defaults, eu-west-1 with defaults set in the
// account, ap-northeast-1 with defaults set by a declarative policy that
// enforces IMDSv2 at launch.
func precedenceFleet() *fleet.Fleet {
	images := []fleet.Image{{ID: amiV2, ImdsSupport: "v2.0"}, {ID: amiPlain}, {ID: amiDereg, State: fleet.ImageDeregistered}}
	use1 := fleet.Region{Name: "us-east-1", Images: images,
		LaunchTemplates: []fleet.LaunchTemplate{
			{ID: lt(1), Name: "web", DefaultVersion: 2, Versions: []fleet.LaunchTemplateVersion{
				{ImageID: amiV2}, // 1: sets nothing, AMI v2.0
				{ImageID: amiPlain, MetadataOptions: optional(1)},   // 2: $Default
				{ImageID: amiPlain, MetadataOptions: required(2)}}}, // 3: $Latest
			{ID: lt(2), Name: "web-arm64", Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain, MetadataOptions: required(1)}}},
			{ID: lt(3), Name: "old", Versions: []fleet.LaunchTemplateVersion{{ImageID: amiDereg}}},
		},
		LaunchConfigurations: []fleet.LaunchConfiguration{
			{Name: "lc-none", ImageID: amiPlain},
			{Name: "lc-required", ImageID: amiPlain, MetadataOptions: &fleet.LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}},
		},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: "g-latest", LaunchTemplate: &fleet.LaunchTemplateRef{Name: "web", Version: fleet.VersionLatest}},
			{Name: "g-default", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(1)}},
			{Name: "g-numbered", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(1), Version: "1"}},
			{Name: "g-lc-none", LaunchConfigurationName: "lc-none"},
			{Name: "g-lc-required", LaunchConfigurationName: "lc-required"},
			{Name: "g-mixed", MixedInstancesPolicy: &fleet.MixedInstancesPolicy{LaunchTemplate: fleet.LaunchTemplateRef{ID: lt(1), Version: fleet.VersionLatest},
				Overrides: []fleet.Override{{InstanceType: "m5.large"}, {InstanceType: "m7g.large", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(2), Version: "1"}}}}},
			{Name: "g-mixed-missing", MixedInstancesPolicy: &fleet.MixedInstancesPolicy{LaunchTemplate: fleet.LaunchTemplateRef{ID: lt(1), Version: fleet.VersionLatest},
				Overrides: []fleet.Override{{InstanceType: "m5.large"}, {InstanceType: "m7g.large", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(2), Version: "5"}}}}},
			{Name: "g-old-ami", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(3), Version: fleet.VersionDefault}},
		},
	}
	for i, g := range []string{"g-latest", "g-default", "g-numbered", "g-lc-none", "g-lc-required", "g-mixed", "g-mixed-missing", "g-old-ami"} {
		in := running(i+1, amiPlain)
		in.AutoScalingGroup = g
		use1.Instances = append(use1.Instances, in)
	}
	direct := running(20, amiV2) // launched from version 1 of web, no group
	direct.LaunchTemplate = &fleet.LaunchTemplateRef{ID: lt(1), Version: "1"}
	hand := running(21, amiDereg) // by hand, from the AMI deregistered since
	karpenter := running(22, amiPlain)
	karpenter.Tags = map[string]string{"karpenter.sh/nodepool": "default", fleet.TagLaunchTemplateID: lt(9), fleet.TagLaunchTemplateVersion: "1"} // its template was deleted
	use1.Instances = append(use1.Instances, direct, hand, karpenter)

	euw1 := fleet.Region{Name: "eu-west-1", Images: images,
		Defaults:          &fleet.MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, ManagedBy: "account"},
		LaunchTemplates:   []fleet.LaunchTemplate{{ID: lt(11), Name: "app", Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain}}}},
		AutoScalingGroups: []fleet.AutoScalingGroup{{Name: "g-account-default", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(11)}}},
	}
	in := running(31, amiPlain)
	in.AutoScalingGroup = "g-account-default"
	euw1.Instances = []fleet.Instance{in}

	apne1 := fleet.Region{Name: "ap-northeast-1", Images: images,
		Defaults: &fleet.MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpTokensEnforced: "enabled",
			ManagedBy: "declarative-policy", ManagedExceptionMessage: "ask security"},
		LaunchTemplates: []fleet.LaunchTemplate{
			{ID: lt(21), Name: "legacy", Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain, MetadataOptions: optional(1)}}},
			{ID: lt(22), Name: "plain", Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain}}},
		},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: "g-enforced-fails", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(21)}},
			{Name: "g-policy", LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt(22)}},
		},
	}
	for i, g := range []string{"g-enforced-fails", "g-policy"} {
		in := running(41+i, amiPlain)
		in.AutoScalingGroup = g
		apne1.Instances = append(apne1.Instances, in)
	}
	return &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{use1, euw1, apne1}}}}
}

// TestScanLaunchSourcesPrecedence scans over HTTP a fleet with one workload
// per precedence layer and checks every instance's next launch, the
// layer that decided it, and that each read took the fewest calls.
func TestScanLaunchSourcesPrecedence(t *testing.T) {
	env := start(t, precedenceFleet(), scantest.New(clock))
	r := env.scan(t, scanner.Options{})
	if scanner.Incomplete(r) {
		t.Fatalf("incomplete: %+v", r.Targets)
	}
	byID := map[string]report.Instance{}
	for _, in := range r.Instances {
		byID[in.InstanceID] = in
	}
	type want struct {
		status, tokens, tokensFrom string
		hop                        int32
		hopFrom, reason            string
	}
	resolved := report.NextLaunchResolved
	for _, tt := range []struct {
		id   string
		name string
		want want
	}{
		{iid(1), "group on $Latest: the template's version 3", want{resolved, "required", report.LayerLaunchTemplate, 2, report.LayerLaunchTemplate, ""}},
		{iid(2), "group without a version: $Default (2)", want{resolved, "optional", report.LayerLaunchTemplate, 1, report.LayerLaunchTemplate, ""}},
		{iid(3), "group on version 1, which sets nothing: the AMI's ImdsSupport", want{resolved, "required", report.LayerAMI, 2, report.LayerAMI, ""}},
		{iid(4), "launch configuration that sets nothing: EC2's built-in defaults", want{resolved, "optional", report.LayerBuiltIn, 1, report.LayerBuiltIn, ""}},
		{iid(5), "launch configuration that requires v2", want{resolved, "required", report.LayerLaunchConfiguration, 2, report.LayerLaunchConfiguration, ""}},
		{iid(7), "mixed instances override naming a version that does not exist", want{report.NextLaunchUnresolved, "", "", 0, "", "no version 5"}},
		{iid(8), "template whose AMI was deregistered", want{report.NextLaunchUnresolved, "", "", 0, "", amiDereg}},
		{iid(20), "instance launched from version 1 without a group", want{resolved, "required", report.LayerAMI, 2, report.LayerAMI, ""}},
		{iid(31), "account defaults set in the account", want{resolved, "required", report.LayerAccountDefault, 2, report.LayerAccountDefault, ""}},
		{iid(41), "HttpTokensEnforced refuses a template that allows v1", want{report.NextLaunchFails, "optional", report.LayerLaunchTemplate, 1, report.LayerLaunchTemplate, "HttpTokensEnforced"}},
		{iid(42), "account defaults set by a declarative policy", want{resolved, "required", report.LayerDeclarativePolicy, 2, report.LayerDeclarativePolicy, ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, ok := byID[tt.id]
			if !ok || in.NextLaunch == nil {
				t.Fatalf("%s: not reported, or no next launch: %+v", tt.id, in)
			}
			n := in.NextLaunch
			got := want{n.Status, n.HttpTokens, n.HttpTokensFrom, n.HttpPutResponseHopLimit, n.HttpPutResponseHopLimitFrom, ""}
			w := tt.want
			w.reason = ""
			if got != w {
				t.Errorf("%s: next launch %+v, want %+v", tt.id, *n, tt.want)
			}
			if tt.want.reason != "" && !strings.Contains(n.Reason, tt.want.reason) {
				t.Errorf("%s: reason %q, want it to mention %q", tt.id, n.Reason, tt.want.reason)
			}
		})
	}
	// A mixed instances policy whose override names a version that exists
	// is resolved from its templates.
	if n := byID[iid(6)].NextLaunch; n == nil || n.Status == report.NextLaunchUnresolved {
		t.Errorf("g-mixed: next launch %+v, want it resolved from its templates", n)
	}
	if s := byID[iid(21)].LaunchSource; s == nil || s.Kind != report.SourceManual {
		t.Errorf("instance launched by hand: source %+v, want manual", s)
	}
	if n := byID[iid(22)].NextLaunch; n == nil || n.Status != report.NextLaunchUnresolved {
		t.Errorf("Karpenter node whose template was deleted: next launch %+v, want unresolved", n)
	}

	var policy *report.AccountDefaults
	for i := range r.AccountDefaults {
		if r.AccountDefaults[i].Region == "ap-northeast-1" {
			policy = &r.AccountDefaults[i]
		}
	}
	if policy == nil || policy.ManagedBy != "declarative-policy" || policy.HttpTokensEnforced != "enabled" || policy.ManagedExceptionMessage != "ask security" {
		t.Errorf("ap-northeast-1 account defaults %+v", policy)
	}
	if len(r.AccountDefaults) != 3 {
		t.Errorf("%d account defaults, want one per target", len(r.AccountDefaults))
	}
	if !slices.ContainsFunc(r.LaunchSources, func(s report.LaunchSource) bool {
		return s.ID == "launch-template/"+lt(1)+"/1" && !s.IsDefault && !s.IsLatest
	}) {
		t.Errorf("numbered version 1 of web not among the launch sources")
	}

	// Fewest calls: one listing each; numbered versions only for the
	// templates whose named version the listing did not return (web 1;
	// web-arm64 5, which does not exist: one call, refused); the AMIs in
	// one call per Region.
	stats := env.srv.Stats()
	wantCalls := map[string]map[string]int{
		"GetInstanceMetadataDefaults":    {"us-east-1": 1, "eu-west-1": 1, "ap-northeast-1": 1},
		"DescribeLaunchTemplateVersions": {"us-east-1": 3, "eu-west-1": 1, "ap-northeast-1": 1},
		"DescribeAutoScalingGroups":      {"us-east-1": 1, "eu-west-1": 1, "ap-northeast-1": 1},
		"DescribeLaunchConfigurations":   {"us-east-1": 1, "eu-west-1": 1, "ap-northeast-1": 1},
		"DescribeImages":                 {"us-east-1": 1, "eu-west-1": 1, "ap-northeast-1": 1},
		"DescribeLaunchTemplates":        {},
	}
	for api, regions := range wantCalls {
		for region, n := range regions {
			if got := stats.Calls[api][region]; got != n {
				t.Errorf("%s in %s: %d calls, want %d", api, region, got, n)
			}
		}
		if api == "DescribeLaunchTemplates" && len(stats.Calls[api]) != 0 {
			t.Errorf("DescribeLaunchTemplates called: %v (the versions listing has every template)", stats.Calls[api])
		}
	}
}

// TestScanLaunchSourcesPaging pages past every page limit: 300 template
// versions (200 a page), 101 groups and 101 configurations (100 a page),
// 201 AMIs (200 ids a call) and 6 templates whose instances name an older
// version (one call each, 4 at a time); the calls are exactly the minimum.
func TestScanLaunchSourcesPaging(t *testing.T) {
	r := fleet.Region{Name: "us-east-1"}
	for i := range 150 {
		r.LaunchTemplates = append(r.LaunchTemplates, fleet.LaunchTemplate{ID: lt(100 + i), Name: fmt.Sprintf("t-%03d", i), DefaultVersion: 2,
			Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain}, {ImageID: amiPlain, MetadataOptions: optional(1)}, {ImageID: amiV2}}})
	}
	for i := range 101 {
		r.LaunchConfigurations = append(r.LaunchConfigurations, fleet.LaunchConfiguration{Name: fmt.Sprintf("lc-%03d", i), ImageID: amiPlain})
		r.AutoScalingGroups = append(r.AutoScalingGroups, fleet.AutoScalingGroup{Name: fmt.Sprintf("g-%03d", i), LaunchConfigurationName: fmt.Sprintf("lc-%03d", i)})
	}
	r.Images = []fleet.Image{{ID: amiPlain}, {ID: amiV2, ImdsSupport: "v2.0"}}
	for i := range 201 {
		ami := fmt.Sprintf("ami-0b%015x", i)
		r.Images = append(r.Images, fleet.Image{ID: ami})
		in := running(1000+i, ami)
		if i < 6 { // launched from version 1 of a template, no group
			in.LaunchTemplate = &fleet.LaunchTemplateRef{ID: lt(100 + i), Version: "1"}
		} else if i < 107 {
			in.AutoScalingGroup = fmt.Sprintf("g-%03d", i-6)
		}
		r.Instances = append(r.Instances, in)
	}
	env := start(t, &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{r}}}}, scantest.New(clock))
	rep := env.scan(t, scanner.Options{Regions: []string{"us-east-1"}})
	if scanner.Incomplete(rep) {
		t.Fatalf("incomplete: %+v", rep.Targets)
	}
	stats := env.srv.Stats()
	for api, n := range map[string]int{
		"DescribeLaunchTemplateVersions": 2 + 6, // 300 versions at 200 a page, then one call per template
		"DescribeAutoScalingGroups":      2,
		"DescribeLaunchConfigurations":   2,
		"DescribeImages":                 2, // 203 AMIs, 200 ids a call
		"GetInstanceMetadataDefaults":    1,
	} {
		if got := stats.Calls[api]["us-east-1"]; got != n {
			t.Errorf("%s: %d calls, want %d", api, got, n)
		}
	}
	sources := map[string]report.LaunchSource{}
	for _, s := range rep.LaunchSources {
		sources[s.ID] = s
	}
	if n := len(rep.LaunchSources); n != 300+6+101+101+1 {
		t.Errorf("%d launch sources, want 300 template versions, 6 numbered ones, 101 configurations, 101 groups and the account defaults", n)
	}
	if s := sources["launch-template/"+lt(100)+"/1"]; len(s.Instances) != 1 || s.Instances[0] != iid(1000) {
		t.Errorf("version 1 of %s: %+v, want used by %s", lt(100), s, iid(1000))
	}
	for _, in := range rep.Instances {
		if in.NextLaunch == nil || in.NextLaunch.Status == report.NextLaunchUnresolved && in.LaunchSource.Kind != report.SourceManual {
			t.Errorf("%s: next launch %+v (source %+v)", in.InstanceID, in.NextLaunch, in.LaunchSource)
		}
	}
}

// TestScanLaunchSourcesDenied: a denied read is recorded on its target
// with the permission it needs, the scan is incomplete, and what the read
// would have decided is unresolved, never "no groups".
func TestScanLaunchSourcesDenied(t *testing.T) {
	f := precedenceFleet()
	f.Accounts[0].Regions[0].Knobs = &fleet.Knobs{AutoScalingDenied: true}
	f.Accounts[0].Regions[1].Knobs = &fleet.Knobs{DenyAPIs: []string{"DescribeImages", "GetInstanceMetadataDefaults"}}
	env := start(t, f, scantest.New(clock))
	r := env.scan(t, scanner.Options{})
	if !scanner.Incomplete(r) {
		t.Fatal("a scan whose launch-source reads were denied is not incomplete")
	}
	perms := func(region string) []string {
		var out []string
		tg := target(t, r, acctA, region)
		if tg.Status != report.TargetOK {
			t.Errorf("%s: status %s; a denied launch-source read must not fail the target (its instances were read)", region, tg.Status)
		}
		for _, e := range tg.LaunchErrors {
			out = append(out, e.Permission)
			if !strings.Contains(e.Error, "denied") && !strings.Contains(e.Error, "not authorized") && !strings.Contains(e.Error, "AccessDenied") && !strings.Contains(e.Error, "UnauthorizedOperation") {
				t.Errorf("%s: %s error %q does not say it was denied", region, e.Permission, e.Error)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := perms("us-east-1"); !slices.Equal(got, []string{"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLaunchConfigurations"}) {
		t.Errorf("us-east-1 launch errors name %v", got)
	}
	if got := perms("eu-west-1"); !slices.Equal(got, []string{"ec2:DescribeImages", "ec2:GetInstanceMetadataDefaults"}) {
		t.Errorf("eu-west-1 launch errors name %v", got)
	}
	if got := perms("ap-northeast-1"); len(got) != 0 {
		t.Errorf("ap-northeast-1 launch errors %v, want none", got)
	}
	for _, in := range r.Instances {
		if in.Region == "ap-northeast-1" {
			continue
		}
		if in.LaunchSource == nil || in.LaunchSource.Kind == report.SourceManual ||
			in.Region == "us-east-1" && in.LaunchSource.Kind != report.SourceAutoScalingGroup {
			continue // launched by hand, or in us-east-1 without a group (its reads were not denied)
		}
		if n := in.NextLaunch; n == nil || n.Status != report.NextLaunchUnresolved {
			t.Errorf("%s/%s: next launch %+v, want unresolved", in.Region, in.InstanceID, n)
		}
	}
	if n := byInstance(r, iid(1)).NextLaunch; n == nil || !strings.Contains(n.Reason, "autoscaling:DescribeAutoScalingGroups") {
		t.Errorf("a group's instance: reason %+v, want it to name autoscaling:DescribeAutoScalingGroups", n)
	}
}

func byInstance(r *report.Report, id string) report.Instance {
	for _, in := range r.Instances {
		if in.InstanceID == id {
			return in
		}
	}
	return report.Instance{}
}

// TestScanNoLaunchSources: --no-launch-sources makes none of the reads.
func TestScanNoLaunchSources(t *testing.T) {
	env := start(t, precedenceFleet(), scantest.New(clock))
	r := env.scan(t, scanner.Options{NoLaunchSources: true})
	for _, api := range []string{"GetInstanceMetadataDefaults", "DescribeLaunchTemplateVersions", "DescribeAutoScalingGroups", "DescribeLaunchConfigurations", "DescribeImages"} {
		if n := env.srv.Stats().Calls[api]; len(n) != 0 {
			t.Errorf("%s called: %v", api, n)
		}
	}
	if r.ScanOptions.LaunchSources || len(r.LaunchSources) != 0 || len(r.AccountDefaults) != 0 {
		t.Errorf("scanOptions.launchSources %v, %d sources, %d defaults; want none", r.ScanOptions.LaunchSources, len(r.LaunchSources), len(r.AccountDefaults))
	}
	for _, in := range r.Instances {
		if in.NextLaunch != nil || in.LaunchSource != nil {
			t.Errorf("%s: launch source %+v, next launch %+v", in.InstanceID, in.LaunchSource, in.NextLaunch)
		}
	}
}
