package scanner

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// autoScalingPage is DescribeAutoScalingGroups' and
// DescribeLaunchConfigurations' largest MaxRecords
// (docs/aws-facts.md#launch-sources).
const autoScalingPage = 100

// collectGroups reads every Auto Scaling group of the Region
// (DescribeAutoScalingGroups, 100 a page): what each launches from.
func collectGroups(ctx context.Context, lc *launchCollection) error {
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(lc.asg, &autoscaling.DescribeAutoScalingGroupsInput{
		MaxRecords: aws.Int32(autoScalingPage),
	})
	var groups []launch.Group
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		lc.progress.call()
		if err != nil {
			return fmt.Errorf("describe Auto Scaling groups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			groups = append(groups, group(g))
		}
	}
	lc.inv.Groups = groups
	return nil
}

func group(g astypes.AutoScalingGroup) launch.Group {
	out := launch.Group{
		Name:                    aws.ToString(g.AutoScalingGroupName),
		LaunchTemplate:          templateRef(g.LaunchTemplate),
		LaunchConfigurationName: aws.ToString(g.LaunchConfigurationName),
	}
	if m := g.MixedInstancesPolicy; m != nil && m.LaunchTemplate != nil {
		mip := &launch.MixedInstancesPolicy{}
		if r := templateRef(m.LaunchTemplate.LaunchTemplateSpecification); r != nil {
			mip.LaunchTemplate = *r
		}
		for _, o := range m.LaunchTemplate.Overrides {
			mip.Overrides = append(mip.Overrides, launch.Override{
				InstanceType:   aws.ToString(o.InstanceType),
				LaunchTemplate: templateRef(o.LaunchTemplateSpecification),
			})
		}
		out.MixedInstancesPolicy = mip
	}
	return out
}

func templateRef(s *astypes.LaunchTemplateSpecification) *launch.TemplateRef {
	if s == nil {
		return nil
	}
	return &launch.TemplateRef{ID: aws.ToString(s.LaunchTemplateId), Name: aws.ToString(s.LaunchTemplateName), Version: aws.ToString(s.Version)}
}
