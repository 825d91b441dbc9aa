package report_test

import (
	"bytes"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/launch"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// launchFixture is the fixture with launch sources (schema version 2),
// resolved by internal/launch from hand-made inventories and judged by
// internal/policy, as a scan would: every kind of source and workload,
// every next-launch status, a failed read, a declarative policy,
// HttpTokensEnforced, and hostile group, template and tag names. Other
// human formats (HTML) can render it too.
func launchFixture(t *testing.T) *report.Report {
	t.Helper()
	r := fixture()
	tags := map[string]map[string]string{
		// us-east-1: a mixed instances group, a group on a launch
		// configuration with a hostile name, a template, a manual instance.
		"i-0a00000000000v1eks":   {launch.TagAutoScalingGroup: "eks-prod-ng-1a2b", launch.TagEKSNodegroup: "ng-1", "team": "platform"},
		"i-0b00000000000formula": {launch.TagAutoScalingGroup: `=cmd|' /C calc'!A0`, "owner": "@payments"},
		"i-0c00000000000ready":   {launch.TagTemplateID: "lt-0web", launch.TagTemplateVersion: "3", "team": "web"},
		"i-0e00000000000stopped": {"app": "batch <b>x</b>"},
		// us-west-2: Karpenter without a template; a group under a
		// declarative policy.
		"i-0d00000000000ready2": {},
		"i-0f00000000000uerr":   {launch.TagAutoScalingGroup: "batch", "owner": "data"},
		// ap-southeast-2: HttpTokensEnforced; a group whose AMI is gone, a
		// deleted template version, a manual instance.
		"i-1000000000000enf":  {launch.TagAutoScalingGroup: "api"},
		"i-1100000000000dis":  {},
		"i-1200000000000html": {launch.TagTemplateID: "lt-0old", launch.TagTemplateVersion: "2"},
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		for k, v := range tags[in.InstanceID] {
			if in.Tags == nil {
				in.Tags = map[string]string{}
			}
			in.Tags[k] = v
		}
	}
	inventories := []*launch.Inventory{
		{
			Account: "111111111111", Region: "us-east-1", Defaults: &launch.AccountDefaults{ManagedBy: "account"},
			Templates: []launch.TemplateVersion{
				{TemplateID: "lt-0web", TemplateName: "web **bold**", Version: 3, Default: true, Latest: true,
					MetadataOptions: launch.Options{HttpTokens: "required", HttpPutResponseHopLimit: 2}, ImageID: "ami-0web"},
				{TemplateID: "lt-0eks", TemplateName: "eks-prod", Version: 5, Default: true, Latest: true, ImageID: "ami-0eks"},
				{TemplateID: "lt-0gpu", TemplateName: "gpu", Version: 1, Default: true, Latest: true,
					MetadataOptions: launch.Options{HttpTokens: "optional"}, ImageID: "ami-0eks"},
			},
			LaunchConfigs: []launch.LaunchConfig{{Name: "legacy-lc", ImageID: "ami-0legacy"}},
			Groups: []launch.Group{
				{Name: "eks-prod-ng-1a2b", MixedInstancesPolicy: &launch.MixedInstancesPolicy{
					LaunchTemplate: launch.TemplateRef{ID: "lt-0eks", Version: "$Default"},
					Overrides: []launch.Override{{InstanceType: "m6i.large"},
						{InstanceType: "g5.xlarge", LaunchTemplate: &launch.TemplateRef{Name: "gpu", Version: "$Latest"}}}}},
				{Name: `=cmd|' /C calc'!A0`, LaunchConfigurationName: "legacy-lc"},
			},
			Images: []launch.Image{{ID: "ami-0web"}, {ID: "ami-0eks", ImdsSupport: "v2.0"}, {ID: "ami-0legacy"}},
		},
		{
			Account: "222222222222", Region: "us-west-2",
			Defaults: &launch.AccountDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, ManagedBy: "declarative-policy",
				ManagedExceptionMessage: "IMDSv2 is mandatory: ask #cloud-platform"},
			Templates: []launch.TemplateVersion{{TemplateID: "lt-0batch", TemplateName: "batch", Version: 1, Default: true, Latest: true, ImageID: "ami-0batch"}},
			Groups:    []launch.Group{{Name: "batch", LaunchTemplate: &launch.TemplateRef{ID: "lt-0batch"}}},
			Failures:  []launch.ReadFailure{{Read: launch.ReadImages, Err: "UnauthorizedOperation: You are not authorized to perform this operation."}},
		},
		{
			Account: "111111111111", Region: "ap-southeast-2", Defaults: &launch.AccountDefaults{HttpTokensEnforced: "enabled", ManagedBy: "account"},
			Templates: []launch.TemplateVersion{
				{TemplateID: "lt-0api", TemplateName: "api", Version: 4, Default: true, Latest: true, ImageID: "ami-0gone"},
				{TemplateID: "lt-0old", TemplateName: "old", Version: 7, Default: true, Latest: true, ImageID: "ami-0plain"},
			},
			Groups: []launch.Group{{Name: "api", LaunchTemplate: &launch.TemplateRef{ID: "lt-0api", Version: "$Latest"}}},
			Images: []launch.Image{{ID: "ami-0gone", Missing: true}, {ID: "ami-0plain"}},
		},
	}
	for _, inv := range inventories {
		res := launch.Resolve(inv, r.Instances)
		if res.Defaults != nil {
			r.AccountDefaults = append(r.AccountDefaults, *res.Defaults)
		}
		r.LaunchSources = append(r.LaunchSources, res.Sources...)
		for i := range r.Targets {
			if r.Targets[i].Account == inv.Account && r.Targets[i].Region == inv.Region {
				r.Targets[i].LaunchErrors = res.Errors
			}
		}
	}
	rules, err := policy.RulesOf(r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Instances {
		policy.Apply(&r.Instances[i], rules)
	}
	wo := launch.WorkloadOptions{GroupBy: []string{"app"}, OwnerTags: launch.DefaultOwnerTags}
	r.ScanOptions.LaunchSources, r.ScanOptions.GroupBy, r.ScanOptions.OwnerTags = true, wo.GroupBy, wo.OwnerTags
	r.Workloads = launch.Workloads(r, wo)
	report.Normalize(r)
	return r
}

// TestLaunchFixtureTrusted: remediate's trust check accepts a report with
// launch sources as the scan writes it, read back from JSON.
func TestLaunchFixtureTrusted(t *testing.T) {
	r, err := report.Read(bytes.NewReader(writeJSON(t, launchFixture(t))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Check(r); err != nil {
		t.Fatalf("policy.Check: %v", err)
	}
}
