// Package imdsopts converts the instance metadata options the EC2 API
// returns into the report's [report.MetadataOptions]. It lives apart from
// report so that the report schema (and the policy that reads it) does not
// depend on the AWS SDK; the scanner and remediate's drift check both use
// it, so they read the options the same way.
package imdsopts

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/report"
)

// FromEC2 converts the options DescribeInstances returns; nil (an instance
// EC2 reports without options) gives the zero value.
func FromEC2(mo *ec2types.InstanceMetadataOptionsResponse) report.MetadataOptions {
	if mo == nil {
		return report.MetadataOptions{}
	}
	return report.MetadataOptions{
		HttpTokens:              string(mo.HttpTokens),
		HttpEndpoint:            string(mo.HttpEndpoint),
		HttpPutResponseHopLimit: aws.ToInt32(mo.HttpPutResponseHopLimit),
		HttpProtocolIpv6:        string(mo.HttpProtocolIpv6),
		InstanceMetadataTags:    string(mo.InstanceMetadataTags),
		State:                   string(mo.State),
	}
}
