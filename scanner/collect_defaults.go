package scanner

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// collectDefaults reads the account's instance metadata defaults in the
// Region (one GetInstanceMetadataDefaults call). "No preference" (the
// string, or a hop limit of -1) is left unset, as the inventory wants.
func collectDefaults(ctx context.Context, lc *launchCollection) error {
	out, err := lc.ec2.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
	lc.progress.call()
	if err != nil {
		return fmt.Errorf("get instance metadata defaults: %w", err)
	}
	d := &launch.AccountDefaults{}
	if a := out.AccountLevel; a != nil {
		d.HttpTokens = preference(string(a.HttpTokens))
		d.HttpEndpoint = preference(string(a.HttpEndpoint))
		d.InstanceMetadataTags = preference(string(a.InstanceMetadataTags))
		d.HttpTokensEnforced = preference(string(a.HttpTokensEnforced))
		d.ManagedBy = string(a.ManagedBy)
		d.ManagedExceptionMessage = aws.ToString(a.ManagedExceptionMessage)
		if hop := aws.ToInt32(a.HttpPutResponseHopLimit); hop > 0 {
			d.HttpPutResponseHopLimit = hop
		}
	}
	lc.inv.Defaults = d
	return nil
}

// preference maps EC2's "no-preference" to unset.
func preference(v string) string {
	if v == "no-preference" {
		return ""
	}
	return v
}
