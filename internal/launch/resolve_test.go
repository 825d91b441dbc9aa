package launch

import (
	"slices"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

const (
	acct   = "111122223333"
	region = "eu-west-1"
)

// want is the expected next launch: tokens/from, hop/from, endpoint/from,
// status, and substrings of the reason.
type want struct {
	tokens, tokensFrom     string
	hop                    int32
	hopFrom                string
	endpoint, endpointFrom string
	status                 string
	reason                 []string
}

func check(t *testing.T, what string, got report.NextLaunch, w want) {
	t.Helper()
	if w.status == "" {
		w.status = report.NextLaunchResolved
	}
	if got.Status != w.status || got.HttpTokens != w.tokens || got.HttpTokensFrom != w.tokensFrom ||
		got.HttpPutResponseHopLimit != w.hop || got.HttpPutResponseHopLimitFrom != w.hopFrom ||
		got.HttpEndpoint != w.endpoint || got.HttpEndpointFrom != w.endpointFrom {
		t.Errorf("%s: next launch = %+v\nwant %+v", what, got, w)
	}
	for _, r := range w.reason {
		if !strings.Contains(got.Reason, r) {
			t.Errorf("%s: reason %q lacks %q", what, got.Reason, r)
		}
	}
	if len(w.reason) == 0 && got.Status != report.NextLaunchResolved && got.Reason == "" {
		t.Errorf("%s: status %s without a reason", what, got.Status)
	}
}

func sourceByID(t *testing.T, res Result, id string) report.LaunchSource {
	t.Helper()
	for _, s := range res.Sources {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no source %s among %d", id, len(res.Sources))
	return report.LaunchSource{}
}

// TestPrecedence: one template version resolved against every layer
// below it, field by field.
func TestPrecedence(t *testing.T) {
	plainAMI := Image{ID: "ami-plain"}
	v2AMI := Image{ID: "ami-v2", ImdsSupport: "v2.0"}
	gone := Image{ID: "ami-gone", Missing: true}
	all := []Image{plainAMI, v2AMI, gone}
	none := &AccountDefaults{}
	tests := []struct {
		name     string
		opts     Options
		image    string
		defaults *AccountDefaults
		images   []Image
		failures []ReadFailure
		want     want
	}{
		{"template sets every field", Options{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}, "ami-plain", none, all, nil,
			want{tokens: "required", tokensFrom: "launch-template", hop: 1, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "launch-template"}},
		{"template wins over account defaults and AMI", Options{HttpTokens: "optional", HttpPutResponseHopLimit: 3, HttpEndpoint: "enabled"}, "ami-v2",
			&AccountDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2}, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", hop: 3, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "launch-template"}},
		{"account defaults fill unset fields", Options{}, "ami-plain", &AccountDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled", ManagedBy: "account"}, all, nil,
			want{tokens: "required", tokensFrom: "account-default", hop: 2, hopFrom: "account-default", endpoint: "enabled", endpointFrom: "account-default"}},
		{"declarative policy is named as the layer", Options{}, "ami-plain", &AccountDefaults{HttpTokens: "required", ManagedBy: "declarative-policy", ManagedExceptionMessage: "ask secops"}, all, nil,
			want{tokens: "required", tokensFrom: "declarative-policy", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"account default optional wins over an ImdsSupport AMI", Options{}, "ami-v2", &AccountDefaults{HttpTokens: "optional"}, all, nil,
			want{tokens: "optional", tokensFrom: "account-default", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"AMI ImdsSupport v2.0 when nothing above sets it", Options{}, "ami-v2", none, all, nil,
			want{tokens: "required", tokensFrom: "ami", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"template tokens with AMI hop limit", Options{HttpTokens: "optional"}, "ami-v2", none, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"built-in defaults", Options{}, "ami-plain", none, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"no-preference is unset", Options{}, "ami-plain", &AccountDefaults{HttpTokens: "no-preference", HttpPutResponseHopLimit: -1, HttpEndpoint: "no-preference"}, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"endpoint disabled by the account", Options{}, "ami-plain", &AccountDefaults{HttpEndpoint: "disabled"}, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "disabled", endpointFrom: "account-default"}},
		{"HttpTokensEnforced: an optional launch fails", Options{}, "ami-plain", &AccountDefaults{HttpTokensEnforced: "enabled"}, all, nil,
			want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in",
				status: report.NextLaunchFails, reason: []string{"HttpTokensEnforced is enabled in eu-west-1", "refuses"}}},
		{"HttpTokensEnforced: an explicit optional fails too", Options{HttpTokens: "optional"}, "ami-v2", &AccountDefaults{HttpTokensEnforced: "enabled"}, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in",
				status: report.NextLaunchFails, reason: []string{"the launch template"}}},
		{"HttpTokensEnforced: a required launch succeeds", Options{}, "ami-v2", &AccountDefaults{HttpTokensEnforced: "enabled"}, all, nil,
			want{tokens: "required", tokensFrom: "ami", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}},
		{"deleted AMI", Options{}, "ami-gone", none, all, nil,
			want{endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved, reason: []string{"AMI ami-gone no longer exists"}}},
		{"deleted AMI does not matter when the template decides", Options{HttpTokens: "required", HttpPutResponseHopLimit: 1}, "ami-gone", none, all, nil,
			want{tokens: "required", tokensFrom: "launch-template", hop: 1, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in"}},
		{"AMI not read", Options{HttpTokens: "required"}, "ami-x", none, nil, []ReadFailure{{Read: ReadImages, Err: "UnauthorizedOperation"}},
			want{tokens: "required", tokensFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved,
				reason: []string{"AMI ami-x not read", "ec2:DescribeImages", "UnauthorizedOperation"}}},
		{"AMI from SSM", Options{}, "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64", none, all, nil,
			want{endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved, reason: []string{"SSM parameter /aws/service/ami-amazon-linux-latest"}}},
		{"template without an AMI", Options{HttpTokens: "optional"}, "", none, all, nil,
			want{tokens: "optional", tokensFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in", status: report.NextLaunchUnresolved, reason: []string{"names no AMI"}}},
		{"account defaults not read", Options{HttpTokens: "optional"}, "ami-plain", nil, all, []ReadFailure{{Read: ReadDefaults, Err: "AccessDenied"}},
			want{tokens: "optional", tokensFrom: "launch-template", status: report.NextLaunchUnresolved, reason: []string{"account defaults not read (ec2:GetInstanceMetadataDefaults: AccessDenied)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &Inventory{Account: acct, Region: region, Defaults: tt.defaults, Images: tt.images, Failures: tt.failures,
				Templates: []TemplateVersion{{TemplateID: "lt-1", TemplateName: "web", Version: 1, Default: true, Latest: true, MetadataOptions: tt.opts, ImageID: tt.image}}}
			res := Resolve(inv, nil)
			check(t, "template", sourceByID(t, res, "launch-template/lt-1/1").NextLaunch, tt.want)
			// A launch configuration with the same options resolves the
			// same way, naming its own layer.
			inv.Templates = nil
			inv.LaunchConfigs = []LaunchConfig{{Name: "lc", MetadataOptions: tt.opts, ImageID: tt.image}}
			w := tt.want
			for _, f := range []*string{&w.tokensFrom, &w.hopFrom, &w.endpointFrom} {
				if *f == "launch-template" {
					*f = "launch-configuration"
				}
			}
			w.reason = slices.Clone(w.reason)
			for i, r := range w.reason {
				if r == "the launch template" {
					w.reason[i] = "the launch configuration"
				}
			}
			check(t, "configuration", sourceByID(t, Resolve(inv, nil), "launch-configuration/lc").NextLaunch, w)
		})
	}
}

// fleetInventory is one target with a template of three versions ($Default
// 2, $Latest 3; version 1 requested by a group), a second template, a
// launch configuration and groups launching from each.
func fleetInventory() *Inventory {
	req := Options{HttpTokens: "required", HttpPutResponseHopLimit: 2}
	opt := Options{HttpTokens: "optional"}
	return &Inventory{
		Account: acct, Region: region, Defaults: &AccountDefaults{ManagedBy: "account"},
		Templates: []TemplateVersion{
			{TemplateID: "lt-web", TemplateName: "web", Version: 1, MetadataOptions: opt, ImageID: "ami-plain"},
			{TemplateID: "lt-web", TemplateName: "web", Version: 2, Default: true, MetadataOptions: Options{}, ImageID: "ami-v2"},
			{TemplateID: "lt-web", TemplateName: "web", Version: 3, Latest: true, MetadataOptions: req, ImageID: "ami-plain"},
			{TemplateID: "lt-gpu", TemplateName: "gpu", Version: 7, Default: true, Latest: true, MetadataOptions: opt, ImageID: "ami-plain"},
			// Listed again by number (a group names it): still $Default.
			{TemplateID: "lt-web", TemplateName: "web", Version: 2, MetadataOptions: Options{}, ImageID: "ami-v2"},
		},
		LaunchConfigs: []LaunchConfig{{Name: "legacy-lc", ImageID: "ami-plain"}},
		Images:        []Image{{ID: "ami-plain"}, {ID: "ami-v2", ImdsSupport: "v2.0"}},
		Groups: []Group{
			{Name: "web-latest", LaunchTemplate: &TemplateRef{ID: "lt-web", Version: "$Latest"}},
			{Name: "web-default", LaunchTemplate: &TemplateRef{Name: "web", Version: "$Default"}},
			{Name: "web-unset", LaunchTemplate: &TemplateRef{ID: "lt-web"}},
			{Name: "web-v1", LaunchTemplate: &TemplateRef{ID: "lt-web", Version: "1"}},
			{Name: "web-v9", LaunchTemplate: &TemplateRef{ID: "lt-web", Version: "9"}},
			{Name: "gone-template", LaunchTemplate: &TemplateRef{ID: "lt-deleted", Version: "$Default"}},
			{Name: "legacy", LaunchConfigurationName: "legacy-lc"},
			{Name: "legacy-gone", LaunchConfigurationName: "deleted-lc"},
			{Name: "nothing"},
			{Name: "mixed-same", MixedInstancesPolicy: &MixedInstancesPolicy{
				LaunchTemplate: TemplateRef{ID: "lt-web", Version: "$Latest"},
				Overrides:      []Override{{InstanceType: "m5.large"}, {InstanceType: "m6i.large"}}}},
			{Name: "mixed-override", MixedInstancesPolicy: &MixedInstancesPolicy{
				LaunchTemplate: TemplateRef{ID: "lt-web", Version: "$Latest"},
				Overrides: []Override{{InstanceType: "m5.large"},
					{InstanceType: "g5.xlarge", LaunchTemplate: &TemplateRef{Name: "gpu", Version: "$Latest"}}}}},
			{Name: "mixed-missing", MixedInstancesPolicy: &MixedInstancesPolicy{
				LaunchTemplate: TemplateRef{ID: "lt-web", Version: "$Latest"},
				Overrides: []Override{{InstanceType: "m5.large"},
					{InstanceType: "g5.xlarge", LaunchTemplate: &TemplateRef{ID: "lt-gpu", Version: "4"}}}}},
			{Name: "mixed-all-own", MixedInstancesPolicy: &MixedInstancesPolicy{
				LaunchTemplate: TemplateRef{ID: "lt-gpu"},
				Overrides:      []Override{{InstanceType: "m5.large", LaunchTemplate: &TemplateRef{ID: "lt-web", Version: "3"}}}}},
		},
	}
}

var (
	required2LT = want{tokens: "required", tokensFrom: "launch-template", hop: 2, hopFrom: "launch-template", endpoint: "enabled", endpointFrom: "built-in"}
	optionalLT  = want{tokens: "optional", tokensFrom: "launch-template", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}
	fromAMI     = want{tokens: "required", tokensFrom: "ami", hop: 2, hopFrom: "ami", endpoint: "enabled", endpointFrom: "built-in"}
	builtIn     = want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}
)

func unresolvedBecause(reason ...string) want {
	return want{status: report.NextLaunchUnresolved, reason: reason}
}

// TestGroups: $Latest, $Default, unset and numbered versions, names and
// ids, launch configurations, mixed instances policies and the cases that
// cannot be resolved.
func TestGroups(t *testing.T) {
	res := Resolve(fleetInventory(), nil)
	tests := []struct {
		group string
		uses  []string
		want  want
	}{
		{"web-latest", []string{"launch-template/lt-web/3"}, required2LT},
		{"web-default", []string{"launch-template/lt-web/2"}, fromAMI},
		{"web-unset", []string{"launch-template/lt-web/2"}, fromAMI},
		{"web-v1", []string{"launch-template/lt-web/1"}, optionalLT},
		{"web-v9", nil, unresolvedBecause("launch template lt-web has no version 9")},
		{"gone-template", nil, unresolvedBecause("launch template lt-deleted does not exist")},
		{"legacy", []string{"launch-configuration/legacy-lc"}, builtIn},
		{"legacy-gone", nil, unresolvedBecause("launch configuration deleted-lc does not exist")},
		{"nothing", nil, unresolvedBecause("names no launch template")},
		{"mixed-same", []string{"launch-template/lt-web/3"}, required2LT},
		// The override naming the gpu template allows v1: that is the
		// group's next launch for those instance types.
		{"mixed-override", []string{"launch-template/lt-web/3", "launch-template/lt-gpu/7"},
			want{tokens: "optional", tokensFrom: "launch-template", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in",
				reason: []string{"launches from 2 template versions", "launch-template/lt-gpu/7"}}},
		// The reason names both paths, the one that cannot be resolved too.
		{"mixed-missing", []string{"launch-template/lt-web/3"}, unresolvedBecause("launch template lt-gpu has no version 4",
			"launches from 2 template versions (launch-template/lt-web/3, launch template lt-gpu version 4) that differ")},
		// Every override names its own template: the policy's is not used.
		{"mixed-all-own", []string{"launch-template/lt-web/3"}, required2LT},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			s := sourceByID(t, res, "auto-scaling-group/"+tt.group)
			check(t, tt.group, s.NextLaunch, tt.want)
			if strings.Join(s.Uses, ",") != strings.Join(tt.uses, ",") {
				t.Errorf("uses = %v, want %v", s.Uses, tt.uses)
			}
			for _, u := range tt.uses {
				if us := sourceByID(t, res, u); !slicesContains(us.Groups, tt.group) {
					t.Errorf("source %s lists groups %v, without %s", u, us.Groups, tt.group)
				}
			}
		})
	}
	// Every template version read is a source, with its flags.
	v2 := sourceByID(t, res, "launch-template/lt-web/2")
	if !v2.IsDefault || v2.IsLatest || v2.Name != "web" || v2.TemplateID != "lt-web" || v2.Version != 2 {
		t.Errorf("version 2 = %+v", v2)
	}
	check(t, "account defaults", sourceByID(t, res, "account-default").NextLaunch,
		want{tokens: "optional", tokensFrom: "built-in", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in", reason: []string{"for an AMI without ImdsSupport"}})
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func inst(id string, tags map[string]string) report.Instance {
	return report.Instance{Account: acct, Region: region, InstanceID: id, Tags: tags}
}

// TestInstances: each instance's source from its tags, its next launch
// and the sources listing it.
func TestInstances(t *testing.T) {
	instances := []report.Instance{
		inst("i-asg", map[string]string{TagAutoScalingGroup: "mixed-override", TagTemplateID: "lt-web", TagTemplateVersion: "3"}),
		inst("i-eks", map[string]string{TagAutoScalingGroup: "web-latest", TagEKSNodegroup: "ng-1", TagEKSCluster: "prod"}),
		inst("i-lt", map[string]string{TagTemplateID: "lt-web", TagTemplateVersion: "1", TagFleetID: "fleet-1"}),
		inst("i-lt-gone", map[string]string{TagTemplateID: "lt-web", TagTemplateVersion: "8"}),
		inst("i-asg-gone", map[string]string{TagAutoScalingGroup: "deleted-asg"}),
		inst("i-karpenter", map[string]string{TagKarpenterNodePool: "default", TagKarpenterNodeClass: "al2023"}),
		inst("i-karpenter-lt", map[string]string{TagKarpenterNodePool: "default", TagTemplateID: "lt-gpu", TagTemplateVersion: "7"}),
		inst("i-auto", map[string]string{TagEKSAutoNodePool: "general-purpose", TagEKSAutoCluster: "prod"}),
		inst("i-manual", map[string]string{"Name": "pet"}),
		inst("i-legacy", map[string]string{TagAutoScalingGroup: "legacy"}),
		{Account: acct, Region: "us-east-1", InstanceID: "i-other-region", Tags: map[string]string{TagAutoScalingGroup: "web-v1"}},
	}
	res := Resolve(fleetInventory(), instances)
	tests := []struct {
		id       string
		kind     string
		sourceID string
		want     want
	}{
		{"i-asg", report.SourceAutoScalingGroup, "auto-scaling-group/mixed-override", want{tokens: "optional", tokensFrom: "launch-template", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in"}},
		{"i-eks", report.SourceAutoScalingGroup, "auto-scaling-group/web-latest", required2LT},
		{"i-lt", report.SourceLaunchTemplate, "launch-template/lt-web/1", optionalLT},
		{"i-lt-gone", report.SourceLaunchTemplate, "", unresolvedBecause("lt-web has no version 8")},
		{"i-asg-gone", report.SourceAutoScalingGroup, "", unresolvedBecause("Auto Scaling group deleted-asg no longer exists")},
		{"i-karpenter", report.SourceKarpenter, "", unresolvedBecause("Karpenter (node pool default)", "EC2NodeClass al2023")},
		// Karpenter wrote lt-gpu from its EC2NodeClass: the template's
		// settings are given as evidence, the next launch stays
		// unresolved, and the reason says the EC2NodeClass is the fix.
		{"i-karpenter-lt", report.SourceKarpenter, "", want{tokens: "optional", tokensFrom: "launch-template", hop: 1, hopFrom: "built-in", endpoint: "enabled", endpointFrom: "built-in",
			status: report.NextLaunchUnresolved, reason: []string{"launched by Karpenter (node pool default)", "EC2NodeClass", "launch-template/lt-gpu/7", "evidence", "not in the template"}}},
		{"i-auto", report.SourceEKSAutoMode, "", unresolvedBecause("EKS Auto Mode (node pool general-purpose)")},
		{"i-manual", report.SourceManual, "", unresolvedBecause("launched without a launch template, group or fleet")},
	}
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			in := instances[i]
			if in.LaunchSource == nil || in.NextLaunch == nil {
				t.Fatalf("%s: no launch source or next launch", tt.id)
			}
			if in.LaunchSource.Kind != tt.kind || in.LaunchSource.SourceID != tt.sourceID {
				t.Errorf("launch source = %+v, want kind %s, source %q", *in.LaunchSource, tt.kind, tt.sourceID)
			}
			check(t, tt.id, *in.NextLaunch, tt.want)
		})
	}
	if instances[10].LaunchSource != nil {
		t.Error("an instance of another Region was given a launch source")
	}
	if ls := instances[1].LaunchSource; ls.EKSNodegroup != "ng-1" || ls.EKSCluster != "prod" {
		t.Errorf("EKS tags not kept: %+v", *ls)
	}
	// Sources list the instances that use them, through groups too.
	for id, wantInstances := range map[string]string{
		"auto-scaling-group/mixed-override": "i-asg",
		"launch-template/lt-gpu/7":          "i-asg,i-karpenter-lt", // Karpenter's node came from it (its source is the EC2NodeClass)
		"launch-template/lt-web/3":          "i-asg,i-eks",
		"launch-template/lt-web/1":          "i-lt",
		"launch-configuration/legacy-lc":    "i-legacy",
		// Only sources whose tokens setting comes from below the
		// template defer to the account defaults.
		"account-default": "i-legacy",
	} {
		if got := strings.Join(sourceByID(t, res, id).Instances, ","); got != wantInstances {
			t.Errorf("%s instances = %s, want %s", id, got, wantInstances)
		}
	}
	if got := strings.Join(sourceByID(t, res, "account-default").Groups, ","); got != "legacy,web-default,web-unset" {
		t.Errorf("account-default groups = %s", got)
	}
}

// TestFailedReads: a denied read leaves what depends on it unresolved,
// naming the permission; it is never read as "nothing there".
func TestFailedReads(t *testing.T) {
	inv := fleetInventory()
	inv.Groups, inv.Templates = nil, nil
	inv.Failures = []ReadFailure{
		{Read: ReadGroups, Err: "AccessDenied: not authorized"},
		{Read: ReadTemplateVersions, Err: "UnauthorizedOperation"},
	}
	instances := []report.Instance{
		inst("i-asg", map[string]string{TagAutoScalingGroup: "web"}),
		inst("i-lt", map[string]string{TagTemplateID: "lt-web", TagTemplateVersion: "1"}),
	}
	res := Resolve(inv, instances)
	check(t, "i-asg", *instances[0].NextLaunch, unresolvedBecause("Auto Scaling groups not read (autoscaling:DescribeAutoScalingGroups: AccessDenied"))
	check(t, "i-lt", *instances[1].NextLaunch, unresolvedBecause("launch template versions not read (ec2:DescribeLaunchTemplateVersions: UnauthorizedOperation)"))
	if len(res.Errors) != 2 || res.Errors[0].Permission != "autoscaling:DescribeAutoScalingGroups" || res.Errors[1].Read != "DescribeLaunchTemplateVersions" {
		t.Errorf("errors = %+v", res.Errors)
	}
	if res.Defaults == nil || res.Defaults.ManagedBy != "account" {
		t.Errorf("defaults = %+v", res.Defaults)
	}
}
