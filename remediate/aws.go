package remediate

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/imdsfleet/imdsfleet/internal/imdsopts"
	"github.com/imdsfleet/imdsfleet/report"
)

// EC2API is the part of the EC2 client remediate uses.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	ModifyInstanceMetadataOptions(ctx context.Context, in *ec2.ModifyInstanceMetadataOptionsInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataOptionsOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// Clients hands out an EC2 client per account and Region. It returns an
// error wrapping [ErrNoAccess] for an account it has no credentials for;
// the instances there are then skipped with [SkipAccount].
type Clients interface {
	EC2(account, region string) (EC2API, error)
}

// ErrNoAccess marks an account the caller cannot act in.
var ErrNoAccess = errors.New("no credentials for this account")

// ClientsFunc adapts a function to [Clients].
type ClientsFunc func(account, region string) (EC2API, error)

// EC2 implements [Clients].
func (f ClientsFunc) EC2(account, region string) (EC2API, error) { return f(account, region) }

// DescribeInstances limits (docs/aws-facts.md#ec2-query-protocol-what-the-go-sdk-sends-and-parses):
// InstanceId.N takes up to 1000 ids and cannot be combined with MaxResults;
// filter value lists are kept at 200, a conservative choice (AWS documents
// no limit).
const (
	describeBatch       = 1000
	describeFilterBatch = 200
)

// View is what DescribeInstances says about one instance now.
type View struct {
	// State is the instance state name (running, stopped, terminated, ...).
	State   string
	Options report.MetadataOptions
}

// gone reports whether the instance can no longer be changed.
func (v View) gone() bool { return v.State == "terminated" || v.State == "shutting-down" }

// describe reads the current state of ids (any number) with batched
// DescribeInstances calls. Ids missing from the answer are missing from the
// map. When a batch fails with InvalidInstanceID.NotFound (one id in it is
// gone), the batch is read again through the instance-id filter, which
// ignores unknown ids, instead of failing.
func describe(ctx context.Context, c EC2API, ids []string) (map[string]View, error) {
	out := make(map[string]View, len(ids))
	for start := 0; start < len(ids); start += describeBatch {
		batch := ids[start:min(start+describeBatch, len(ids))]
		err := describePages(ctx, c, &ec2.DescribeInstancesInput{InstanceIds: batch}, out)
		if isCode(err, "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed") {
			err = nil
			for fs := 0; fs < len(batch); fs += describeFilterBatch {
				chunk := batch[fs:min(fs+describeFilterBatch, len(batch))]
				err = describePages(ctx, c, &ec2.DescribeInstancesInput{
					Filters:    []types.Filter{{Name: aws.String("instance-id"), Values: chunk}},
					MaxResults: aws.Int32(1000),
				}, out)
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("describe instances: %w", err)
		}
	}
	return out, nil
}

func describePages(ctx context.Context, c EC2API, in *ec2.DescribeInstancesInput, out map[string]View) error {
	p := ec2.NewDescribeInstancesPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, res := range page.Reservations {
			for _, in := range res.Instances {
				id := aws.ToString(in.InstanceId)
				v := View{}
				if in.State != nil {
					v.State = string(in.State.Name)
				}
				v.Options = imdsopts.FromEC2(in.MetadataOptions)
				out[id] = v
			}
		}
	}
	return nil
}

// modify sends one ModifyInstanceMetadataOptions with only the fields of ch.
func modify(ctx context.Context, c EC2API, id string, ch Change, dryRun bool) error {
	in := &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id)}
	if dryRun {
		in.DryRun = aws.Bool(true)
	}
	if ch.HttpTokens != "" {
		in.HttpTokens = types.HttpTokensState(ch.HttpTokens)
	}
	if ch.HttpPutResponseHopLimit != 0 {
		in.HttpPutResponseHopLimit = aws.Int32(ch.HttpPutResponseHopLimit)
	}
	_, err := c.ModifyInstanceMetadataOptions(ctx, in)
	return err
}

// isCode reports whether err is an AWS API error with one of codes.
func isCode(err error, codes ...string) bool {
	code, _ := errorCode(err)
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// errorCode returns the AWS error code and message of err ("" when err is
// not an API error).
func errorCode(err error) (code, message string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}
