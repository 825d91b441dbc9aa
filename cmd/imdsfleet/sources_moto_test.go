package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestRemediateSourcesMoto runs --scope sources live against moto, an AWS
// emulator nobody here wrote: a template whose only version allows IMDSv1,
// a group on its $Default and one pinned to version 1 (both empty, so no
// live instance holds the gate). The run creates version 2 with version
// 1's metadata options and HttpTokens=required, makes it the default and
// moves the pinned group. moto lacks the account defaults (the scan exits
// 4 naming ec2:GetInstanceMetadataDefaults), so no defaults step is
// planned.
func TestRemediateSourcesMoto(t *testing.T) {
	url := startMoto(t, "the launch-source remediation against moto")
	const key, region = "AKIAMOTOSOURCES00001", "us-east-1"
	for _, kv := range simtest.Env(url, key, region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	ctx := context.Background()
	cfg := simtest.Config(url, key, region)
	ec := awsconfig.EC2(cfg, region)
	asg := autoscaling.NewFromConfig(cfg)
	const ami = "ami-12c6146b" // an AMI moto ships
	lt, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("app"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami), InstanceType: ec2types.InstanceTypeT3Micro,
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
				HttpTokens: ec2types.LaunchTemplateHttpTokensStateOptional, HttpPutResponseHopLimit: aws.Int32(1),
				HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled}},
	})
	if err != nil {
		t.Fatalf("moto CreateLaunchTemplate: %v", err)
	}
	ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	for name, version := range map[string]string{"app": "$Default", "pinned": "1"} {
		if _, err := asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String(version)},
			MinSize:        aws.Int32(0), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(0), AvailabilityZones: []string{"us-east-1a"}}); err != nil {
			t.Fatalf("moto CreateAutoScalingGroup %s: %v", name, err)
		}
	}
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "scan.json")
	res := scanCLI(t, false, "scan", "--regions", region, "--endpoint-url", url, "--cloudwatch-protocol", "json", "--output", reportPath, "--retry-max-backoff", "20ms")
	if res.code != exitIncomplete {
		t.Fatalf("scan: exit %d, want %d (moto lacks GetInstanceMetadataDefaults)\n%s", res.code, exitIncomplete, res.err)
	}
	r := remCLI(t, ctx, "", false, remArgs("remediate", "--report", reportPath, "--scope", "sources", "--endpoint-url", url,
		"--live", "--yes", "--journal", filepath.Join(dir, "fix.jsonl"))...)
	if r.code != exitOK {
		t.Fatalf("remediate: exit %d\n%s", r.code, r.stdout)
	}
	tpl, err := ec.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{ltID}})
	if err != nil || len(tpl.LaunchTemplates) != 1 {
		t.Fatalf("DescribeLaunchTemplates: %v", err)
	}
	if d, l := aws.ToInt64(tpl.LaunchTemplates[0].DefaultVersionNumber), aws.ToInt64(tpl.LaunchTemplates[0].LatestVersionNumber); d != 2 || l != 2 {
		t.Errorf("template default %d, latest %d: want one new version, the default", d, l)
	}
	vs, err := ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(ltID), Versions: []string{"2"}})
	if err != nil || len(vs.LaunchTemplateVersions) != 1 {
		t.Fatalf("DescribeLaunchTemplateVersions 2: %v", err)
	}
	// moto ignores SourceVersion (the new version holds only what the call
	// sends: docs/aws-facts.md#moto-deviations-the-tests-depend-on), so
	// only the metadata options, which imdsfleet sends whole, are compared.
	data := vs.LaunchTemplateVersions[0].LaunchTemplateData
	if mo := data.MetadataOptions; mo == nil || mo.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired || aws.ToInt32(mo.HttpPutResponseHopLimit) != 1 ||
		mo.HttpEndpoint != ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled {
		t.Errorf("version 2: metadata %+v; want version 1's with HttpTokens=required", data.MetadataOptions)
	}
	groups, err := asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"pinned", "app"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.AutoScalingGroups {
		want := "$Default"
		if aws.ToString(g.AutoScalingGroupName) == "pinned" {
			want = "2"
		}
		if g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.Version) != want {
			t.Errorf("group %s launches from %+v, want version %s", aws.ToString(g.AutoScalingGroupName), g.LaunchTemplate, want)
		}
	}
}
