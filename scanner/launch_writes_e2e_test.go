package scanner_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// TestScanSeesLaunchSourceWrites: the changes a remediation of launch
// sources makes through the real SDK clients (a new template version, the
// default moved to it, a group moved to it, the account defaults) are what
// the next scan reads, and its next launches follow them.
func TestScanSeesLaunchSourceWrites(t *testing.T) {
	env := start(t, precedenceFleet(), scantest.New(clock))
	nextLaunch := func(r *report.Report, id string) report.NextLaunch {
		t.Helper()
		for _, in := range r.Instances {
			if in.InstanceID == id && in.NextLaunch != nil {
				return *in.NextLaunch
			}
		}
		t.Fatalf("%s: no next launch in the report", id)
		return report.NextLaunch{}
	}
	before := env.scan(t, scanner.Options{})
	if n := nextLaunch(before, iid(2)); n.HttpTokens != "optional" {
		t.Fatalf("g-default before: %+v", n)
	}
	if n := nextLaunch(before, iid(4)); n.HttpTokens != "optional" || n.HttpTokensFrom != report.LayerBuiltIn {
		t.Fatalf("g-lc-none before: %+v", n)
	}

	ctx := context.Background()
	cfg := simtest.Config(env.url, fleet.DefaultAccessKeyID(acctA), "us-east-1")
	ec := ec2.NewFromConfig(cfg)
	// web's $Default is version 2 (optional, hop 1): a version 4 from it
	// requiring tokens, then the default moved there.
	v, err := ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(lt(1)), SourceVersion: aws.String("2"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens: types.LaunchTemplateHttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1)}}})
	if err != nil || aws.ToInt64(v.LaunchTemplateVersion.VersionNumber) != 4 {
		t.Fatalf("CreateLaunchTemplateVersion: %v %+v", err, v)
	}
	if _, err := ec.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(lt(1)), DefaultVersion: aws.String("4")}); err != nil {
		t.Fatal(err)
	}
	// The group on a launch configuration that sets nothing moves to web's
	// version 4; the group pinned to version 1 (tokens from the AMI) too.
	as := autoscaling.NewFromConfig(cfg)
	for _, g := range []string{"g-lc-none", "g-numbered"} {
		if _, err := as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(g),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("4")}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ec.ModifyInstanceMetadataDefaults(ctx, &ec2.ModifyInstanceMetadataDefaultsInput{HttpTokens: types.MetadataDefaultHttpTokensStateRequired}); err != nil {
		t.Fatal(err)
	}

	after := env.scan(t, scanner.Options{})
	for _, tt := range []struct {
		id, name string
	}{{iid(2), "g-default follows $Default"}, {iid(4), "g-lc-none moved to web 4"}, {iid(3), "g-numbered moved to web 4"}} {
		if n := nextLaunch(after, tt.id); n.Status != report.NextLaunchResolved || n.HttpTokens != "required" || n.HttpTokensFrom != report.LayerLaunchTemplate || n.HttpPutResponseHopLimit != 1 {
			t.Errorf("%s: next launch %+v, want required from the template, hop 1", tt.name, n)
		}
	}
	var defaults *report.AccountDefaults
	for i := range after.AccountDefaults {
		if after.AccountDefaults[i].Region == "us-east-1" {
			defaults = &after.AccountDefaults[i]
		}
	}
	if defaults == nil || defaults.HttpTokens != "required" {
		t.Errorf("us-east-1 account defaults after the change: %+v", defaults)
	}
	found := false
	for _, s := range after.LaunchSources {
		if s.ID == "launch-template/"+lt(1)+"/4" {
			found = s.IsDefault && s.IsLatest
		}
	}
	if !found {
		t.Errorf("web version 4 is not among the launch sources as $Default and $Latest")
	}
}
