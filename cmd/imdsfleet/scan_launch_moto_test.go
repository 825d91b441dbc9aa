package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
)

// TestScanLaunchSourcesMoto checks nextLaunch against moto, an AWS
// emulator nobody here wrote, on instances launched from a launch template
// (RunInstances) and by Auto Scaling groups (one on the template's
// $Latest, one on a launch configuration). moto does not apply a
// template's metadata options to the instances it launches, and lacks
// GetInstanceMetadataDefaults (it answers HTTP 500): so the sources set
// all three options themselves, the account defaults read is recorded as
// failed (exit 4, naming ec2:GetInstanceMetadataDefaults), and the next
// launch still resolves from the template and the configuration
// (docs/aws-facts.md#moto-deviations-the-tests-depend-on).
func TestScanLaunchSourcesMoto(t *testing.T) {
	url := startMoto(t, "the launch-sources-against-moto test")
	const key, region = "AKIAMOTOLAUNCH000001", "us-east-1"
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
		LaunchTemplateName: aws.String("web"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami), InstanceType: ec2types.InstanceTypeT3Micro,
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
				HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2),
				HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled}},
	})
	if err != nil {
		t.Fatalf("moto CreateLaunchTemplate: %v", err)
	}
	ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Default")}})
	if err != nil {
		t.Fatalf("moto RunInstances from the template: %v", err)
	}
	fromTemplate := aws.ToString(run.Instances[0].InstanceId)
	if _, err := asg.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("legacy-lc"), ImageId: aws.String(ami), InstanceType: aws.String("t3.micro"),
		MetadataOptions: &astypes.InstanceMetadataOptions{HttpTokens: astypes.InstanceMetadataHttpTokensStateOptional,
			HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: astypes.InstanceMetadataEndpointStateEnabled},
	}); err != nil {
		t.Fatalf("moto CreateLaunchConfiguration: %v", err)
	}
	for _, g := range []autoscaling.CreateAutoScalingGroupInput{
		{AutoScalingGroupName: aws.String("web"), LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")}},
		{AutoScalingGroupName: aws.String("legacy"), LaunchConfigurationName: aws.String("legacy-lc")},
	} {
		g.MinSize, g.MaxSize, g.DesiredCapacity = aws.Int32(2), aws.Int32(2), aws.Int32(2)
		g.AvailabilityZones = []string{"us-east-1a"}
		if _, err := asg.CreateAutoScalingGroup(ctx, &g); err != nil {
			t.Fatalf("moto CreateAutoScalingGroup %s: %v", aws.ToString(g.AutoScalingGroupName), err)
		}
	}

	// A short retry pause: moto's answer to GetInstanceMetadataDefaults is a
	// 500, retried as a server fault.
	res := scanCLI(t, false, "scan", "--regions", region, "--endpoint-url", url, "--cloudwatch-protocol", "json", "--format", "json", "--retry-max-backoff", "20ms")
	if res.code != exitIncomplete || !strings.Contains(res.err, "ec2:GetInstanceMetadataDefaults") {
		t.Fatalf("exit %d, want %d naming ec2:GetInstanceMetadataDefaults (moto lacks it)\nstderr: %s", res.code, exitIncomplete, res.err)
	}
	r := readReport(t, []byte(res.out))
	groups := map[string]int{}
	for _, in := range r.Instances {
		src, next := in.LaunchSource, in.NextLaunch
		if src == nil || next == nil {
			t.Errorf("%s: launch source %+v, next launch %+v", in.InstanceID, src, next)
			continue
		}
		got := [3]string{next.HttpTokens, next.HttpTokensFrom, next.Status}
		switch {
		case in.InstanceID == fromTemplate:
			if src.Kind != report.SourceLaunchTemplate || src.TemplateID != ltID || got != [3]string{"required", report.LayerLaunchTemplate, report.NextLaunchResolved} ||
				next.HttpPutResponseHopLimit != 2 || slices.Contains(in.Risks, report.RiskNextLaunchV1) {
				t.Errorf("instance from the template: source %+v, next launch %+v, risks %v", src, next, in.Risks)
			}
		case src.AutoScalingGroup == "web":
			groups["web"]++
			if got != [3]string{"required", report.LayerLaunchTemplate, report.NextLaunchResolved} {
				t.Errorf("%s (group web, template $Latest): next launch %+v", in.InstanceID, next)
			}
		case src.AutoScalingGroup == "legacy":
			groups["legacy"]++
			if got != [3]string{"optional", report.LayerLaunchConfiguration, report.NextLaunchResolved} || next.HttpPutResponseHopLimit != 1 ||
				!slices.Contains(in.Risks, report.RiskNextLaunchV1) {
				t.Errorf("%s (group legacy, launch configuration): next launch %+v, risks %v", in.InstanceID, next, in.Risks)
			}
		default:
			t.Errorf("%s: unexpected source %+v", in.InstanceID, src)
		}
	}
	if groups["web"] != 2 || groups["legacy"] != 2 {
		t.Errorf("instances per group %v, want 2 each", groups)
	}
}
