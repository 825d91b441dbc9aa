package scanner

import (
	"context"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// collector reads one kind of launch source of a target into the
// inventory (see [launchCollection] for its contract).
type collector struct {
	read    launch.Read
	collect func(ctx context.Context, lc *launchCollection) error
}

// launchStages is the registry of launch-source collectors. The
// collectors of a stage run concurrently; a stage starts when the one
// before it is done, and the second also waits for the target's
// instances, whose tags and AMIs it needs:
//
//  1. account defaults, every template's $Latest and $Default, the Auto
//     Scaling groups and the launch configurations: each one paged
//     listing, started with DescribeInstances;
//  2. the numbered template versions that a group or an instance's
//     aws:ec2launchtemplate:version tag names and the listing did not
//     return;
//  3. the AMIs of every template version, configuration and instance,
//     batched by id.
//
// Each collector lives in its own file (collect_*.go).
func launchStages() [][]collector {
	return [][]collector{
		{
			{launch.ReadDefaults, collectDefaults},
			{launch.ReadTemplateVersions, collectTemplates},
			{launch.ReadGroups, collectGroups},
			{launch.ReadLaunchConfigs, collectLaunchConfigs},
		},
		{
			{launch.ReadTemplateVersions, collectNumberedVersions},
		},
		{
			{launch.ReadImages, collectImages},
		},
	}
}
