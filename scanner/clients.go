package scanner

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
)

// EC2API is the part of EC2 the scanner calls. Errors are the SDK's
// (smithy.APIError codes such as AuthFailure, UnauthorizedOperation).
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	DescribeAvailabilityZones(ctx context.Context, in *ec2.DescribeAvailabilityZonesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error)
	LaunchEC2API
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// CloudWatchAPI is the part of CloudWatch the scanner calls.
type CloudWatchAPI interface {
	cloudwatch.GetMetricDataAPIClient
}

// STSAPI is the part of STS the scanner calls.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// OrganizationsAPI is the part of Organizations account discovery calls
// (--org, --ou).
type OrganizationsAPI interface {
	organizations.ListRootsAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListAccountsAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
	DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
}

var (
	_ EC2API           = (*ec2.Client)(nil)
	_ CloudWatchAPI    = (*cloudwatch.Client)(nil)
	_ STSAPI           = (*sts.Client)(nil)
	_ OrganizationsAPI = (*organizations.Client)(nil)
)

// Role is how the scanner reaches an account other than the caller's.
// The zero Role means the caller's own credentials.
type Role = awsconfig.Role

// Target is one (account, Region) and the role that reaches it.
type Target = awsconfig.Target

// Clients hands out clients per target. Implementations must be safe for
// concurrent use; they make no AWS call until a client is used.
type Clients interface {
	// STS returns an STS client in the home Region using role's credentials.
	STS(role Role) STSAPI
	// EC2 returns an EC2 client for t (Region "" is the home Region).
	EC2(t Target) EC2API
	// CloudWatch returns a CloudWatch client for t.
	CloudWatch(t Target) CloudWatchAPI
	// Organizations returns an Organizations client with the caller's
	// credentials.
	Organizations() OrganizationsAPI
	// AutoScaling returns an Auto Scaling client for t.
	AutoScaling(t Target) AutoScalingAPI
}

// AWSClients adapts the shared client factory ([awsconfig.Clients]) to
// [Clients].
type AWSClients struct {
	*awsconfig.Clients
}

var _ Clients = AWSClients{}

// NewAWSClients wraps the shared factory.
func NewAWSClients(c *awsconfig.Clients) AWSClients { return AWSClients{c} }

// STS implements [Clients].
func (c AWSClients) STS(role Role) STSAPI { return c.Clients.STS(role) }

// EC2 implements [Clients].
func (c AWSClients) EC2(t Target) EC2API { return c.Clients.EC2(t) }

// CloudWatch implements [Clients].
func (c AWSClients) CloudWatch(t Target) CloudWatchAPI { return c.Clients.CloudWatch(t) }

// Organizations implements [Clients].
func (c AWSClients) Organizations() OrganizationsAPI { return c.Clients.Organizations() }

// AutoScaling implements [Clients].
func (c AWSClients) AutoScaling(t Target) AutoScalingAPI { return c.Clients.AutoScaling(t) }
