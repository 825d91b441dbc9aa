package scanner

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// Launch template version specifiers and DescribeLaunchTemplateVersions'
// page limit (MaxResults 1..200; docs/aws-facts.md#launch-sources).
const (
	versionLatest         = "$Latest"
	versionDefault        = "$Default"
	templateVersionsPage  = 200
	templateVersionsBatch = 200 // numbered versions asked for in one call
)

// collectTemplates reads every launch template's $Latest and $Default
// versions in one paged listing: DescribeLaunchTemplateVersions with no id
// or name and Versions=[$Latest, $Default]. A version is its template's
// $Default when EC2 flags it so, and its $Latest when it has the
// template's highest number among the two (one entry, or the same entry
// twice, when they are the same version).
func collectTemplates(ctx context.Context, lc *launchCollection) error {
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(lc.ec2, &ec2.DescribeLaunchTemplateVersionsInput{
		Versions:   []string{versionLatest, versionDefault},
		MaxResults: aws.Int32(templateVersionsPage),
	})
	var versions []launch.TemplateVersion
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		lc.progress.call()
		if err != nil {
			return fmt.Errorf("describe launch template versions ($Latest, $Default): %w", err)
		}
		for _, v := range page.LaunchTemplateVersions {
			versions = addVersion(versions, templateVersion(v))
		}
	}
	latest := map[string]int64{}
	for _, v := range versions {
		latest[v.TemplateID] = max(latest[v.TemplateID], v.Version)
	}
	for i := range versions {
		versions[i].Latest = versions[i].Version == latest[versions[i].TemplateID]
	}
	lc.inv.Templates = versions
	lc.templatesListed = true
	return nil
}

// addVersion adds v unless the list has it already (an emulator may list a
// version that is both $Latest and $Default twice), keeping its flags.
func addVersion(list []launch.TemplateVersion, v launch.TemplateVersion) []launch.TemplateVersion {
	for i := range list {
		if list[i].TemplateID == v.TemplateID && list[i].Version == v.Version {
			list[i].Default = list[i].Default || v.Default
			return list
		}
	}
	return append(list, v)
}

// templateVersion maps one EC2 launch template version to the inventory.
func templateVersion(v ec2types.LaunchTemplateVersion) launch.TemplateVersion {
	tv := launch.TemplateVersion{
		TemplateID:   aws.ToString(v.LaunchTemplateId),
		TemplateName: aws.ToString(v.LaunchTemplateName),
		Version:      aws.ToInt64(v.VersionNumber),
		Default:      aws.ToBool(v.DefaultVersion),
	}
	if d := v.LaunchTemplateData; d != nil {
		tv.ImageID = aws.ToString(d.ImageId)
		if m := d.MetadataOptions; m != nil {
			tv.MetadataOptions = launch.Options{
				HttpTokens:              string(m.HttpTokens),
				HttpPutResponseHopLimit: aws.ToInt32(m.HttpPutResponseHopLimit),
				HttpEndpoint:            string(m.HttpEndpoint),
				HttpProtocolIpv6:        string(m.HttpProtocolIpv6),
				InstanceMetadataTags:    string(m.InstanceMetadataTags),
			}
		}
	}
	return tv
}
