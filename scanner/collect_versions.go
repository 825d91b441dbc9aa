package scanner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/launch"
)

// versionsInFlight bounds the numbered-version calls in flight per target.
const versionsInFlight = 4

// collectNumberedVersions reads the numbered template versions that an
// Auto Scaling group (its template, mixed instances policy or an override)
// or a live instance's aws:ec2launchtemplate:version tag names, and that
// the $Latest/$Default listing did not return: one call per template,
// naming every version it needs. A template the listing did not return
// does not exist any more, so it is not asked for; without the listing
// (its read failed) nothing is asked, and the failure already recorded
// covers these versions.
//
// A version that does not exist makes EC2 refuse the whole call
// (InvalidLaunchTemplateId.VersionNotFound); the template's versions in
// the range asked for are then listed instead (MinVersion..MaxVersion,
// which skips the missing ones), so the versions that do exist are still
// read and the missing ones are simply absent, as the inventory wants
// (with one version asked for, the error says it all).
func collectNumberedVersions(ctx context.Context, lc *launchCollection) error {
	if !lc.templatesListed {
		return nil
	}
	need := lc.numberedVersionsNeeded()
	ids := make([]string, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	found := make([][]launch.TemplateVersion, len(ids))
	errs := make([]error, len(ids))
	g := new(errgroup.Group)
	g.SetLimit(versionsInFlight)
	for i, id := range ids {
		g.Go(func() error {
			found[i], errs[i] = lc.describeVersions(ctx, id, need[id])
			return nil
		})
	}
	_ = g.Wait()
	failed := 0
	var first error
	for i := range ids {
		if errs[i] != nil {
			failed++
			if first == nil {
				first = errs[i]
			}
			continue
		}
		for _, v := range found[i] {
			lc.inv.Templates = addVersion(lc.inv.Templates, v)
		}
	}
	if failed > 0 {
		return fmt.Errorf("numbered versions of %d of %d launch templates: %w", failed, len(ids), first)
	}
	return nil
}

// numberedVersionsNeeded returns, per template id, the version numbers
// groups and instances name that the listing did not return.
func (lc *launchCollection) numberedVersionsNeeded() map[string][]int64 {
	listed := map[string]bool{}   // template id → in the listing
	byName := map[string]string{} // template name → id
	have := map[string]bool{}     // "id/version"
	for _, v := range lc.inv.Templates {
		listed[v.TemplateID] = true
		byName[v.TemplateName] = v.TemplateID
		have[v.TemplateID+"/"+strconv.FormatInt(v.Version, 10)] = true
	}
	need := map[string][]int64{}
	add := func(id, name, version string) {
		n, err := strconv.ParseInt(version, 10, 64)
		if err != nil || n < 1 {
			return // $Latest, $Default, unset, or not a version
		}
		if id == "" {
			id = byName[name]
		}
		if !listed[id] || have[id+"/"+version] || slices.Contains(need[id], n) {
			return
		}
		need[id] = append(need[id], n)
	}
	ref := func(r *launch.TemplateRef) {
		if r != nil {
			add(r.ID, r.Name, r.Version)
		}
	}
	for _, g := range lc.inv.Groups {
		ref(g.LaunchTemplate)
		if m := g.MixedInstancesPolicy; m != nil {
			ref(&m.LaunchTemplate)
			for _, o := range m.Overrides {
				ref(o.LaunchTemplate)
			}
		}
	}
	for _, in := range lc.instances {
		if id := in.Tags[launch.TagTemplateID]; id != "" {
			add(id, "", in.Tags[launch.TagTemplateVersion])
		}
	}
	for id := range need {
		slices.Sort(need[id])
	}
	return need
}

// describeVersions reads the given versions of one template, in calls of
// at most templateVersionsBatch versions.
func (lc *launchCollection) describeVersions(ctx context.Context, id string, versions []int64) ([]launch.TemplateVersion, error) {
	var out []launch.TemplateVersion
	for batch := range slices.Chunk(versions, templateVersionsBatch) {
		names := make([]string, len(batch))
		for i, n := range batch {
			names[i] = strconv.FormatInt(n, 10)
		}
		got, err := lc.versionPages(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: names})
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "InvalidLaunchTemplateId.VersionNotFound":
				if len(batch) == 1 {
					got, err = nil, nil // the one version asked for does not exist
					break
				}
				got, err = lc.versionPages(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id),
					MinVersion: aws.String(names[0]), MaxVersion: aws.String(names[len(names)-1])})
				got = slices.DeleteFunc(got, func(v launch.TemplateVersion) bool { return !slices.Contains(batch, v.Version) })
			case "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException":
				continue // deleted since the listing: absent, as the inventory wants
			}
		}
		if err != nil {
			return nil, fmt.Errorf("describe launch template versions of %s: %w", id, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (lc *launchCollection) versionPages(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput) ([]launch.TemplateVersion, error) {
	in.MaxResults = aws.Int32(templateVersionsPage)
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(lc.ec2, in)
	var out []launch.TemplateVersion
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		lc.progress.call()
		if err != nil {
			return nil, err
		}
		for _, v := range page.LaunchTemplateVersions {
			out = append(out, templateVersion(v))
		}
	}
	return out, nil
}
