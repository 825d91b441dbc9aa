package scanner

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// collectLaunchConfigs reads every launch configuration of the Region
// (DescribeLaunchConfigurations, 100 a page) with its own metadata
// options.
func collectLaunchConfigs(ctx context.Context, lc *launchCollection) error {
	p := autoscaling.NewDescribeLaunchConfigurationsPaginator(lc.asg, &autoscaling.DescribeLaunchConfigurationsInput{
		MaxRecords: aws.Int32(autoScalingPage),
	})
	var configs []launch.LaunchConfig
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		lc.progress.call()
		if err != nil {
			return fmt.Errorf("describe launch configurations: %w", err)
		}
		for _, c := range page.LaunchConfigurations {
			out := launch.LaunchConfig{Name: aws.ToString(c.LaunchConfigurationName), ImageID: aws.ToString(c.ImageId)}
			if m := c.MetadataOptions; m != nil {
				out.MetadataOptions = launch.Options{
					HttpTokens:              string(m.HttpTokens),
					HttpPutResponseHopLimit: aws.ToInt32(m.HttpPutResponseHopLimit),
					HttpEndpoint:            string(m.HttpEndpoint),
				}
			}
			configs = append(configs, out)
		}
	}
	lc.inv.LaunchConfigs = configs
	return nil
}
