package scanner

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// LaunchEC2API is the part of EC2 the launch-source collectors call.
type LaunchEC2API interface {
	ec2.DescribeLaunchTemplateVersionsAPIClient
	ec2.DescribeImagesAPIClient
	GetInstanceMetadataDefaults(ctx context.Context, in *ec2.GetInstanceMetadataDefaultsInput, optFns ...func(*ec2.Options)) (*ec2.GetInstanceMetadataDefaultsOutput, error)
}

// AutoScalingAPI is the part of Auto Scaling the launch-source collectors
// call.
type AutoScalingAPI interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
	autoscaling.DescribeLaunchConfigurationsAPIClient
}

var (
	_ LaunchEC2API   = (*ec2.Client)(nil)
	_ AutoScalingAPI = (*autoscaling.Client)(nil)
)
