package scanner

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
)

// EC2API is the part of EC2 the scanner calls. Errors are the SDK's
// (smithy.APIError codes such as AuthFailure, UnauthorizedOperation).
type EC2API interface {
	ec2.DescribeInstancesAPIClient
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

var (
	_ EC2API        = (*ec2.Client)(nil)
	_ CloudWatchAPI = (*cloudwatch.Client)(nil)
	_ STSAPI        = (*sts.Client)(nil)
)

// Role is how the scanner reaches an account other than the caller's.
// The zero Role means the caller's own credentials.
type Role struct {
	ARN        string
	ExternalID string
}

// Clients hands out clients per (role, Region). Implementations must be
// safe for concurrent use; they make no AWS call until a client is used.
type Clients interface {
	// STS returns an STS client in the home Region using role's credentials.
	STS(role Role) STSAPI
	// EC2 returns an EC2 client for region.
	EC2(role Role, region string) EC2API
	// CloudWatch returns a CloudWatch client for region.
	CloudWatch(role Role, region string) CloudWatchAPI
}

// AWSClients adapts an awsconfig.Pool (shared credentials per role, one
// adaptive retryer per Region) to [Clients].
type AWSClients struct {
	Pool *awsconfig.Pool
	// CloudWatchProtocol is awsconfig.ProtocolCBOR (default), ProtocolJSON or ProtocolQuery.
	CloudWatchProtocol string
}

var _ Clients = AWSClients{}

func poolRole(r Role) awsconfig.Role { return awsconfig.Role{ARN: r.ARN, ExternalID: r.ExternalID} }

// STS implements [Clients].
func (c AWSClients) STS(role Role) STSAPI {
	return awsconfig.STS(c.Pool.Config(poolRole(role), ""))
}

// EC2 implements [Clients].
func (c AWSClients) EC2(role Role, region string) EC2API {
	return awsconfig.EC2(c.Pool.Config(poolRole(role), region), region)
}

// CloudWatch implements [Clients].
func (c AWSClients) CloudWatch(role Role, region string) CloudWatchAPI {
	return awsconfig.CloudWatch(c.Pool.Config(poolRole(role), region), region, c.CloudWatchProtocol)
}
