package sim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// govLaunchFleet: account A in GovCloud (us-gov-west-1) with a template,
// a launch configuration, a group on each, and an instance with a
// GovCloud instance profile.
func govLaunchFleet(knobs *fleet.Knobs) *fleet.Fleet {
	f := testFleet(0)
	f.Partition = fleet.PartitionGov
	f.Accounts = f.Accounts[:1]
	f.Accounts[0].Regions = []fleet.Region{{Name: "us-gov-west-1", Knobs: knobs,
		LaunchTemplates:      []fleet.LaunchTemplate{{ID: ltID(1), Name: "web", Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain}}}},
		LaunchConfigurations: []fleet.LaunchConfiguration{{Name: "lc-old", ImageID: amiPlain}},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: "web", LaunchTemplate: &fleet.LaunchTemplateRef{ID: ltID(1)}},
			{Name: "old", LaunchConfigurationName: "lc-old"},
		},
		Instances: []fleet.Instance{{ID: "i-0aaaaaaaaaaaaaaa1", State: "running", ImageID: amiPlain, AutoScalingGroup: "web",
			InstanceProfileArn: "arn:aws-us-gov:iam::" + acctA + ":instance-profile/web"}},
	}}
	return f
}

// TestLaunchSourcesFollowPartition: every ARN the simulated AWS writes in
// its launch-source answers and access-denied errors is in the fleet's
// partition (GovCloud here), as the rest of the sim's ARNs are; it once
// wrote arn:aws: into LaunchConfigurationARN, AutoScalingGroupARN, the
// service-linked role, createdBy and every denial message. A GovCloud
// fleet's instance profile is an arn:aws-us-gov: ARN.
func TestLaunchSourcesFollowPartition(t *testing.T) {
	ctx := context.Background()
	const want, wrong = "arn:aws-us-gov:", "arn:aws:"
	check := func(what, arn string) {
		t.Helper()
		if !strings.HasPrefix(arn, want) {
			t.Errorf("%s = %q, want an %s ARN", what, arn, want)
		}
	}
	t.Run("answers", func(t *testing.T) {
		_, url := simtest.Start(t, govLaunchFleet(nil), sim.Options{})
		asg := asgClient(url, keyA, "us-gov-west-1")
		groups, err := asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		if err != nil || len(groups.AutoScalingGroups) != 2 {
			t.Fatalf("DescribeAutoScalingGroups: %v", err)
		}
		for _, g := range groups.AutoScalingGroups {
			check("AutoScalingGroupARN of "+aws.ToString(g.AutoScalingGroupName), aws.ToString(g.AutoScalingGroupARN))
			check("ServiceLinkedRoleARN of "+aws.ToString(g.AutoScalingGroupName), aws.ToString(g.ServiceLinkedRoleARN))
		}
		lcs, err := asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{})
		if err != nil || len(lcs.LaunchConfigurations) != 1 {
			t.Fatalf("DescribeLaunchConfigurations: %v", err)
		}
		check("LaunchConfigurationARN", aws.ToString(lcs.LaunchConfigurations[0].LaunchConfigurationARN))
		ec2c := ec2Client(t, url, keyA, "us-gov-west-1")
		lts, err := ec2c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
		if err != nil || len(lts.LaunchTemplates) != 1 {
			t.Fatalf("DescribeLaunchTemplates: %v", err)
		}
		check("launch template createdBy", aws.ToString(lts.LaunchTemplates[0].CreatedBy))
		vs, err := ec2c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}})
		if err != nil || len(vs.LaunchTemplateVersions) != 1 {
			t.Fatalf("DescribeLaunchTemplateVersions: %v", err)
		}
		check("launch template version createdBy", aws.ToString(vs.LaunchTemplateVersions[0].CreatedBy))
	})
	t.Run("denials", func(t *testing.T) {
		_, url := simtest.Start(t, govLaunchFleet(&fleet.Knobs{AutoScalingDenied: true, CloudWatchDenied: true,
			DenyAPIs: []string{"DescribeImages", "GetInstanceMetadataDefaults"}}), sim.Options{})
		denied := func(what string, err error) {
			t.Helper()
			switch {
			case err == nil:
				t.Errorf("%s: not denied", what)
			case !strings.Contains(err.Error(), "User: "+want) || strings.Contains(err.Error(), wrong):
				t.Errorf("%s: %v, want the caller named by an %s ARN", what, err, want)
			}
		}
		_, err := asgClient(url, keyA, "us-gov-west-1").DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		denied("DescribeAutoScalingGroups", err)
		ec2c := ec2Client(t, url, keyA, "us-gov-west-1")
		_, err = ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiPlain}})
		denied("DescribeImages", err)
		_, err = ec2c.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
		denied("GetInstanceMetadataDefaults", err)
		_, err = cloudwatch.NewFromConfig(simtest.Config(url, keyA, "us-gov-west-1")).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
		denied("cloudwatch ListMetrics", err)
	})
	t.Run("instance profile", func(t *testing.T) {
		f := govLaunchFleet(nil)
		f.Accounts[0].Regions[0].Instances[0].InstanceProfileArn = "arn:aws:iam::" + acctA + ":instance-profile/web"
		if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "arn:aws-us-gov:iam::") {
			t.Errorf("a GovCloud fleet with a commercial instance profile ARN: %v, want it refused naming arn:aws-us-gov:iam::", err)
		}
	})
}
