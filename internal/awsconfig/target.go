package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Target is one account and Region, and the role that reaches it (the
// zero Role: the caller's own credentials). Scan, remediate and rollback
// all address AWS through Targets and one [Clients] factory, so that role
// ARNs and partitions are decided in one place.
type Target struct {
	Account string
	Region  string
	Role    Role
}

// Partitions imdsfleet knows by name. The partition of every ARN the tool
// builds is the caller's, read from GetCallerIdentity's ARN
// (docs/aws-facts.md#partitions).
const (
	PartitionAWS   = "aws"
	PartitionGov   = "aws-us-gov"
	PartitionChina = "aws-cn"
)

// PartitionOfRegion returns the partition a Region name belongs to, from
// its prefix (as the SDK's endpoint rules do): us-gov-* is aws-us-gov,
// cn-* is aws-cn, the ISO prefixes their own partitions, anything else aws.
func PartitionOfRegion(region string) string {
	for _, p := range []struct{ prefix, partition string }{
		{"us-gov-", PartitionGov},
		{"cn-", PartitionChina},
		{"us-isob-", "aws-iso-b"},
		{"us-isof-", "aws-iso-f"},
		{"eu-isoe-", "aws-iso-e"},
		{"us-iso-", "aws-iso"},
		{"eusc-", "aws-eusc"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.partition
		}
	}
	return PartitionAWS
}

// HomeRegion is the Region global calls (STS, DescribeRegions,
// Organizations) are sent to in a partition when none is configured.
func HomeRegion(partition string) string {
	switch partition {
	case PartitionGov:
		return "us-gov-west-1"
	case PartitionChina:
		return "cn-north-1"
	}
	return DefaultRegion
}

// Caller is who the configured credentials belong to.
type Caller struct {
	Account string
	// ARN is the caller's ARN (a user, or an assumed-role session); its
	// Partition is the partition every role ARN is built in.
	ARN arn.ARN
}

// Partition is the caller's partition (aws, aws-us-gov, aws-cn, …).
func (c Caller) Partition() string { return c.ARN.Partition }

// CallerIdentityAPI is the STS call [Identify] makes.
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var _ CallerIdentityAPI = (*sts.Client)(nil)

// Identify asks STS who the caller is (one GetCallerIdentity call, which
// needs no permission). Its error is the SDK's, unwrapped, for
// [Explain]; an answer without a parseable ARN is an error too, since no
// role ARN could be built from it.
func Identify(ctx context.Context, c CallerIdentityAPI) (Caller, error) {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Caller{}, err
	}
	a, err := arn.Parse(aws.ToString(out.Arn))
	if err != nil || a.Partition == "" {
		return Caller{}, fmt.Errorf("sts:GetCallerIdentity answered the ARN %q, which is not an ARN: cannot tell the partition", aws.ToString(out.Arn))
	}
	return Caller{Account: aws.ToString(out.Account), ARN: a}, nil
}

var (
	accountPattern  = regexp.MustCompile(`^[0-9]{12}$`)
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	rolePathPattern = regexp.MustCompile(`^role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
)

// ValidAccountID reports whether s is a 12-digit AWS account id.
func ValidAccountID(s string) bool { return accountPattern.MatchString(s) }

// CheckRoleName checks an IAM role name (--role-name): 1–64 of the
// characters IAM allows, no path.
func CheckRoleName(name string) error {
	if !roleNamePattern.MatchString(name) {
		return fmt.Errorf("role name %q: want an IAM role name such as OrganizationAccountAccessRole (1-64 letters, digits and +=,.@_-)", name)
	}
	return nil
}

// RoleARN builds the ARN of role name in account, in partition.
func RoleARN(partition, account, name string) (string, error) {
	if !ValidAccountID(account) {
		return "", fmt.Errorf("account %q: want a 12-digit AWS account id", account)
	}
	if err := CheckRoleName(name); err != nil {
		return "", err
	}
	return arn.ARN{Partition: partition, Service: "iam", AccountID: account, Resource: "role/" + name}.String(), nil
}

// ParseRoleARN reads an IAM role ARN (any partition) and returns its
// account and partition, or an error naming the expected form.
func ParseRoleARN(s string) (account, partition string, err error) {
	a, perr := arn.Parse(s)
	if perr != nil || a.Service != "iam" || a.Region != "" || !strings.HasPrefix(a.Partition, "aws") ||
		!ValidAccountID(a.AccountID) || !rolePathPattern.MatchString(a.Resource) {
		return "", "", fmt.Errorf("role ARN %q: want arn:PARTITION:iam::123456789012:role/NAME (PARTITION aws, aws-us-gov or aws-cn)", s)
	}
	return a.AccountID, a.Partition, nil
}

// ErrNoRole marks an account other than the caller's when no role name
// was given to reach it.
var ErrNoRole = errors.New("no role to assume in this account")

// RoleFor returns how to reach account: the caller's own credentials for
// the caller's account, otherwise roleName in account, in the caller's
// partition, with externalID. Without a roleName another account is an
// error wrapping [ErrNoRole].
func (c Caller) RoleFor(account, roleName, externalID string) (Role, error) {
	if account == c.Account {
		return Role{}, nil
	}
	if roleName == "" {
		return Role{}, fmt.Errorf("account %s is not the caller's (%s): %w", account, c.Account, ErrNoRole)
	}
	a, err := RoleARN(c.Partition(), account, roleName)
	if err != nil {
		return Role{}, err
	}
	return Role{ARN: a, ExternalID: externalID}, nil
}

// Clients is the one client factory scan, remediate and rollback share: a
// [Pool] (one credentials cache per role, one retryer per role and Region)
// and the CloudWatch protocol. It makes no AWS call until a client is used
// and is safe for concurrent use.
type Clients struct {
	Pool *Pool
	// CloudWatchProtocol is ProtocolCBOR (default), ProtocolJSON or ProtocolQuery.
	CloudWatchProtocol string
}

// NewClients returns the factory over base; sessionName names assumed-role
// sessions (see [NewPool]).
func NewClients(base aws.Config, sessionName, cloudWatchProtocol string) *Clients {
	return &Clients{Pool: NewPool(base, sessionName), CloudWatchProtocol: cloudWatchProtocol}
}

// HomeRegion is the Region global calls go to: the configured one.
func (c *Clients) HomeRegion() string { return c.Pool.Base().Region }

// STS returns an STS client in the home Region with role's credentials.
func (c *Clients) STS(role Role) *sts.Client {
	return STS(c.Pool.Config(role, ""))
}

// EC2 returns an EC2 client for t (t.Region "" is the home Region).
func (c *Clients) EC2(t Target) *ec2.Client {
	return EC2(c.Pool.Config(t.Role, t.Region), t.Region)
}

// CloudWatch returns a CloudWatch client for t.
func (c *Clients) CloudWatch(t Target) *cloudwatch.Client {
	return CloudWatch(c.Pool.Config(t.Role, t.Region), t.Region, c.CloudWatchProtocol)
}

// AutoScaling returns an Auto Scaling client for t.
func (c *Clients) AutoScaling(t Target) *autoscaling.Client {
	return AutoScaling(c.Pool.Config(t.Role, t.Region), t.Region)
}

// Release says t's clients will not be asked for again (see
// [Pool.Release]).
func (c *Clients) Release(t Target) { c.Pool.Release(t.Role, t.Region) }

// Organizations returns an Organizations client with the caller's
// credentials. Organizations is global: the SDK sends it to the
// partition's one endpoint from the home Region.
func (c *Clients) Organizations() *organizations.Client {
	return organizations.NewFromConfig(c.Pool.Config(Role{}, ""))
}
