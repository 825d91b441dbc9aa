package scanner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// imagesBatch is how many AMI ids one DescribeImages call asks for.
const imagesBatch = 200

// collectImages reads the AMIs that the template versions, launch
// configurations and live instances name: DescribeImages by id, 200 ids a
// call, deprecated AMIs included (they still launch). An AMI that a
// successful call does not return is recorded Missing (deregistered, or no
// longer shared with the account).
//
// Asked for by id, an AMI that no longer exists at all makes EC2 refuse
// the whole call (InvalidAMIID.NotFound; a recently deregistered one is
// just left out): that batch is then asked for again with the image-id
// filter, which returns the ones that exist and never fails for the others
// (docs/aws-facts.md#launch-sources).
func collectImages(ctx context.Context, lc *launchCollection) error {
	ids := lc.imagesNeeded()
	calls, failed := 0, 0
	var first error
	for batch := range slices.Chunk(ids, imagesBatch) {
		calls++
		got, err := lc.describeImages(ctx, &ec2.DescribeImagesInput{ImageIds: batch, IncludeDeprecated: aws.Bool(true)})
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidAMIID.NotFound" || ae.ErrorCode() == "InvalidAMIID.Malformed") {
			got, err = lc.describeImages(ctx, &ec2.DescribeImagesInput{
				Filters:           []ec2types.Filter{{Name: aws.String("image-id"), Values: batch}},
				IncludeDeprecated: aws.Bool(true),
			})
		}
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
			continue
		}
		for _, id := range batch {
			im, ok := got[id]
			if !ok {
				im = launch.Image{ID: id, Missing: true}
			}
			lc.inv.Images = append(lc.inv.Images, im)
		}
	}
	if failed > 0 {
		return fmt.Errorf("describe images (%d of %d calls): %w", failed, calls, first)
	}
	return nil
}

// imagesNeeded lists, sorted and once each, the AMI ids the inventory's
// template versions and configurations and the live instances name. An
// SSM parameter (resolve:ssm:…) is not an AMI id: it is not asked for.
func (lc *launchCollection) imagesNeeded() []string {
	seen := map[string]bool{}
	add := func(id string) {
		if strings.HasPrefix(id, "ami-") {
			seen[id] = true
		}
	}
	for _, v := range lc.inv.Templates {
		add(v.ImageID)
	}
	for _, c := range lc.inv.LaunchConfigs {
		add(c.ImageID)
	}
	for _, in := range lc.instances {
		add(in.ImageID)
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// describeImages runs one DescribeImages request (its pages: by id or
// filter, at most imagesBatch images come back, so one page without
// MaxResults) and returns the images by id.
func (lc *launchCollection) describeImages(ctx context.Context, in *ec2.DescribeImagesInput) (map[string]launch.Image, error) {
	got := map[string]launch.Image{}
	p := ec2.NewDescribeImagesPaginator(lc.ec2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		lc.progress.call()
		if err != nil {
			return nil, err
		}
		for _, im := range page.Images {
			id := aws.ToString(im.ImageId)
			got[id] = launch.Image{ID: id, ImdsSupport: string(im.ImdsSupport)}
		}
	}
	return got, nil
}
