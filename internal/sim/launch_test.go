package sim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

const (
	amiV2    = "ami-0aaaaaaaaaaaaaaa1" // ImdsSupport v2.0
	amiPlain = "ami-0aaaaaaaaaaaaaaa2"
	amiDereg = "ami-0aaaaaaaaaaaaaaa3" // deregistered, a live instance still uses it
	amiGone  = "ami-0aaaaaaaaaaaaaaa4" // deregistered, nothing uses it
	amiNever = "ami-0aaaaaaaaaaaaaaa5" // never existed
)

func ltID(n int) string { return fmt.Sprintf("lt-%017x", n) }

// launchFleet: account A's us-east-1 holds nTemplates templates (every
// other one with $Latest ahead of $Default, versions 1, 2, 4: 3 was
// deleted), nGroups groups and nConfigs launch configurations; eu-west-1
// holds nothing but account defaults set by a declarative policy.
func launchFleet(nTemplates, nGroups, nConfigs int) *fleet.Fleet {
	f := testFleet(0)
	r := &f.Accounts[0].Regions[0]
	r.Images = []fleet.Image{
		{ID: amiV2, ImdsSupport: "v2.0", Name: "al2023"},
		{ID: amiPlain, Name: "al2", OwnerID: "137112412989"},
		{ID: amiDereg, State: fleet.ImageDeregistered},
		{ID: amiGone, State: fleet.ImageDeregistered},
	}
	for i := range nTemplates {
		lt := fleet.LaunchTemplate{ID: ltID(i + 1), Name: fmt.Sprintf("tmpl-%03d", i+1), Versions: []fleet.LaunchTemplateVersion{
			{Number: 1, ImageID: amiPlain},
			{Number: 2, ImageID: amiV2, MetadataOptions: &fleet.LaunchMetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: 1}},
			{Number: 4, ImageID: amiV2, MetadataOptions: &fleet.LaunchMetadataOptions{HttpTokens: "required"}},
		}}
		if i%2 == 0 {
			lt.DefaultVersion = 2
		} else {
			lt.DefaultVersion = 4
		}
		r.LaunchTemplates = append(r.LaunchTemplates, lt)
	}
	for i := range nConfigs {
		r.LaunchConfigurations = append(r.LaunchConfigurations, fleet.LaunchConfiguration{
			Name: fmt.Sprintf("lc-%03d", i+1), ImageID: amiPlain,
			MetadataOptions: &fleet.LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}})
	}
	for i := range nGroups {
		g := fleet.AutoScalingGroup{Name: fmt.Sprintf("group-%03d", i+1)}
		switch i % 3 {
		case 0:
			g.LaunchTemplate = &fleet.LaunchTemplateRef{Name: "tmpl-001", Version: fleet.VersionLatest}
		case 1:
			g.LaunchConfigurationName = "lc-001"
		default:
			g.MixedInstancesPolicy = &fleet.MixedInstancesPolicy{
				LaunchTemplate: fleet.LaunchTemplateRef{ID: ltID(1)},
				Overrides: []fleet.Override{{InstanceType: "m5.large"},
					{InstanceType: "m7g.large", LaunchTemplate: &fleet.LaunchTemplateRef{ID: ltID(2), Version: "3"}}},
			}
		}
		r.AutoScalingGroups = append(r.AutoScalingGroups, g)
	}
	r.Instances = append(r.Instances, fleet.Instance{ID: id(1), State: "running", ImageID: amiDereg},
		fleet.Instance{ID: id(3), State: "terminated", ImageID: amiGone})
	if nGroups > 0 {
		r.Instances[0].AutoScalingGroup = "group-001"
		r.Instances[1].AutoScalingGroup = "group-001"
	}
	if nTemplates > 0 {
		r.Instances = append(r.Instances, fleet.Instance{ID: id(2), State: "running", ImageID: amiPlain, LaunchTemplate: &fleet.LaunchTemplateRef{ID: ltID(1), Version: "1"}})
	}
	f.Accounts[0].Regions[1].Defaults = &fleet.MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpTokensEnforced: "enabled",
		ManagedBy: "declarative-policy", ManagedExceptionMessage: "ask security"}
	return f
}

func asgClient(url, key, region string) *autoscaling.Client {
	return autoscaling.NewFromConfig(simtest.Config(url, key, region))
}

func TestDescribeLaunchTemplateVersionsListing(t *testing.T) {
	s, url := simtest.Start(t, launchFleet(150, 0, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(c, &ec2.DescribeLaunchTemplateVersionsInput{
		Versions: []string{"$Latest", "$Default"}, MaxResults: aws.Int32(200)})
	got := map[string]bool{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range out.LaunchTemplateVersions {
			key := fmt.Sprintf("%s/%d", aws.ToString(v.LaunchTemplateId), aws.ToInt64(v.VersionNumber))
			if got[key] {
				t.Errorf("%s listed twice", key)
			}
			got[key] = aws.ToBool(v.DefaultVersion)
			if n := aws.ToInt64(v.VersionNumber); n == 2 && v.LaunchTemplateData.MetadataOptions.HttpTokens != types.LaunchTemplateHttpTokensStateOptional {
				t.Errorf("%s: metadata options %+v", key, v.LaunchTemplateData.MetadataOptions)
			}
		}
	}
	// 75 templates with $Default 2 and $Latest 4, 75 with both 4: 225 versions.
	if len(got) != 225 || pages != 2 {
		t.Errorf("%d versions in %d pages, want 225 in 2", len(got), pages)
	}
	if !got[ltID(1)+"/2"] || got[ltID(1)+"/4"] || !got[ltID(2)+"/4"] {
		t.Errorf("default flags wrong: %v %v %v", got[ltID(1)+"/2"], got[ltID(1)+"/4"], got[ltID(2)+"/4"])
	}
	if n := s.Stats().Calls["DescribeLaunchTemplateVersions"]["us-east-1"]; n != 2 {
		t.Errorf("%d calls counted, want 2", n)
	}

	for _, tt := range []struct {
		name string
		in   ec2.DescribeLaunchTemplateVersionsInput
		want string
	}{
		{"MaxResults 0", ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}, MaxResults: aws.Int32(0)}, "InvalidParameterValue"},
		{"MaxResults 201", ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}, MaxResults: aws.Int32(201)}, "InvalidParameterValue"},
		{"all templates, a number", ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"1"}}, "MissingParameter"},
		{"all templates, no versions", ec2.DescribeLaunchTemplateVersionsInput{}, "MissingParameter"},
		{"deleted version", ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(ltID(1)), Versions: []string{"1", "3"}}, "InvalidLaunchTemplateId.VersionNotFound"},
		{"unknown id", ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(ltID(999))}, "InvalidLaunchTemplateId.NotFound"},
		{"unknown name", ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("nope")}, "InvalidLaunchTemplateName.NotFoundException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.DescribeLaunchTemplateVersions(ctx, &tt.in)
			if code := apiCode(t, err); code != tt.want {
				t.Errorf("code %s, want %s (%v)", code, tt.want, err)
			}
		})
	}

	t.Run("numbered versions by name", func(t *testing.T) {
		out, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("tmpl-001"), Versions: []string{"1", "$Latest"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LaunchTemplateVersions) != 2 || aws.ToInt64(out.LaunchTemplateVersions[0].VersionNumber) != 1 || aws.ToInt64(out.LaunchTemplateVersions[1].VersionNumber) != 4 {
			t.Errorf("versions %+v", out.LaunchTemplateVersions)
		}
		if out.LaunchTemplateVersions[0].LaunchTemplateData.MetadataOptions != nil {
			t.Errorf("version 1 sets no metadata options, got %+v", out.LaunchTemplateVersions[0].LaunchTemplateData.MetadataOptions)
		}
	})
	t.Run("a range skips the deleted version", func(t *testing.T) {
		out, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(ltID(1)), MinVersion: aws.String("2"), MaxVersion: aws.String("4")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LaunchTemplateVersions) != 2 {
			t.Errorf("%d versions in 2..4, want 2 (3 was deleted)", len(out.LaunchTemplateVersions))
		}
	})
	t.Run("filter http-tokens", func(t *testing.T) {
		out, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Default"},
			Filters: []types.Filter{{Name: aws.String("http-tokens"), Values: []string{"optional"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LaunchTemplateVersions) != 75 {
			t.Errorf("%d $Default versions with tokens optional, want 75", len(out.LaunchTemplateVersions))
		}
	})
}

func TestDescribeLaunchTemplates(t *testing.T) {
	_, url := simtest.Start(t, launchFleet(250, 0, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	p := ec2.NewDescribeLaunchTemplatesPaginator(c, &ec2.DescribeLaunchTemplatesInput{MaxResults: aws.Int32(200)})
	n, pages := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, lt := range out.LaunchTemplates {
			n++
			if aws.ToString(lt.LaunchTemplateId) == ltID(1) && (aws.ToInt64(lt.DefaultVersionNumber) != 2 || aws.ToInt64(lt.LatestVersionNumber) != 4) {
				t.Errorf("template 1: default %d latest %d, want 2 and 4", aws.ToInt64(lt.DefaultVersionNumber), aws.ToInt64(lt.LatestVersionNumber))
			}
		}
	}
	if n != 250 || pages != 2 {
		t.Errorf("%d templates in %d pages, want 250 in 2", n, pages)
	}
	if _, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{MaxResults: aws.Int32(201)}); apiCode(t, err) != "InvalidParameterValue" {
		t.Errorf("MaxResults 201: %v", err)
	}
	if _, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{ltID(999)}}); apiCode(t, err) != "InvalidLaunchTemplateId.NotFound" {
		t.Errorf("unknown id: %v", err)
	}
}

func TestDescribeImagesByID(t *testing.T) {
	_, url := simtest.Start(t, launchFleet(1, 0, 0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiV2, amiPlain, amiDereg}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, im := range out.Images {
		got[aws.ToString(im.ImageId)] = string(im.ImdsSupport)
	}
	if len(got) != 2 || got[amiV2] != "v2.0" || got[amiPlain] != "" {
		t.Errorf("images %v, want the two available ones (the deregistered one a live instance uses is left out)", got)
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiV2, amiGone, amiNever}})
	if code := apiCode(t, err); code != "InvalidAMIID.NotFound" || !strings.Contains(err.Error(), amiGone) || !strings.Contains(err.Error(), amiNever) {
		t.Errorf("missing AMIs: %v", err)
	}
	out, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("image-id"), Values: []string{amiV2, amiGone, amiNever}}}})
	if err != nil || len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId) != amiV2 {
		t.Errorf("by filter: %v, %+v; want only %s", err, out, amiV2)
	}

	t.Run("a fleet that lists no AMIs serves the ones in use", func(t *testing.T) {
		_, url := simtest.Start(t, testFleet(0), sim.Options{})
		out, err := ec2Client(t, url, keyA, "eu-west-1").DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-1"}})
		if err != nil || len(out.Images) != 1 || out.Images[0].ImdsSupport != "" {
			t.Errorf("implicit AMI: %v %+v", err, out)
		}
	})
}

func TestGetInstanceMetadataDefaultsDeclarativePolicy(t *testing.T) {
	_, url := simtest.Start(t, launchFleet(0, 0, 0), sim.Options{})
	out, err := ec2Client(t, url, keyA, "eu-west-1").GetInstanceMetadataDefaults(context.Background(), &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		t.Fatal(err)
	}
	a := out.AccountLevel
	if a.HttpTokens != "required" || aws.ToInt32(a.HttpPutResponseHopLimit) != 2 || a.HttpTokensEnforced != "enabled" ||
		a.ManagedBy != types.ManagedByDeclarativePolicy || aws.ToString(a.ManagedExceptionMessage) != "ask security" {
		t.Errorf("defaults %+v", a)
	}
}

func TestAutoScalingGroupsAndLaunchConfigurations(t *testing.T) {
	s, url := simtest.Start(t, launchFleet(2, 250, 120), sim.Options{})
	c := asgClient(url, keyA, "us-east-1")
	ctx := context.Background()

	pages := func(max *int32) (int, int, map[string]astypes.AutoScalingGroup) {
		t.Helper()
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: max})
		n, groups := 0, map[string]astypes.AutoScalingGroup{}
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, g := range out.AutoScalingGroups {
				groups[aws.ToString(g.AutoScalingGroupName)] = g
			}
		}
		return n, len(groups), groups
	}
	if n, total, _ := pages(nil); n != 5 || total != 250 {
		t.Errorf("default page: %d groups in %d pages, want 250 in 5 (50 a page)", total, n)
	}
	n, total, groups := pages(aws.Int32(100))
	if n != 3 || total != 250 {
		t.Errorf("MaxRecords 100: %d groups in %d pages, want 250 in 3", total, n)
	}
	g1 := groups["group-001"]
	if lt := g1.LaunchTemplate; lt == nil || aws.ToString(lt.LaunchTemplateId) != ltID(1) || aws.ToString(lt.LaunchTemplateName) != "tmpl-001" || aws.ToString(lt.Version) != "$Latest" {
		t.Errorf("group-001 template %+v", g1.LaunchTemplate)
	}
	if len(g1.Instances) != 1 || aws.ToString(g1.Instances[0].InstanceId) != id(1) || aws.ToInt32(g1.DesiredCapacity) != 1 {
		t.Errorf("group-001 instances %+v", g1.Instances)
	}
	if g := groups["group-002"]; aws.ToString(g.LaunchConfigurationName) != "lc-001" {
		t.Errorf("group-002 configuration %q", aws.ToString(g.LaunchConfigurationName))
	}
	m := groups["group-003"].MixedInstancesPolicy
	if m == nil || aws.ToString(m.LaunchTemplate.LaunchTemplateSpecification.Version) != "$Default" || len(m.LaunchTemplate.Overrides) != 2 ||
		aws.ToString(m.LaunchTemplate.Overrides[1].LaunchTemplateSpecification.Version) != "3" {
		t.Errorf("group-003 mixed instances policy %+v", m)
	}
	if _, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(101)}); apiCode(t, err) != "ValidationError" {
		t.Errorf("MaxRecords 101: %v", err)
	}
	out, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"group-007", "nope"}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Errorf("by name: %v, %d groups; want 1", err, len(out.AutoScalingGroups))
	}

	lp := autoscaling.NewDescribeLaunchConfigurationsPaginator(c, &autoscaling.DescribeLaunchConfigurationsInput{MaxRecords: aws.Int32(100)})
	lcs, lpages := 0, 0
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lpages++
		for _, lc := range out.LaunchConfigurations {
			lcs++
			if mo := lc.MetadataOptions; mo == nil || mo.HttpTokens != "required" || aws.ToInt32(mo.HttpPutResponseHopLimit) != 2 || mo.HttpEndpoint != "" {
				t.Errorf("%s: metadata options %+v", aws.ToString(lc.LaunchConfigurationName), lc.MetadataOptions)
			}
		}
	}
	if lcs != 120 || lpages != 2 {
		t.Errorf("%d configurations in %d pages, want 120 in 2", lcs, lpages)
	}
	if _, err := c.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{MaxRecords: aws.Int32(101)}); apiCode(t, err) != "ValidationError" {
		t.Errorf("MaxRecords 101: %v", err)
	}
	// Pages the server answered: a call it throttled (its bucket is
	// wall-clock and a loaded machine bunches the calls) was retried by the
	// SDK and is not a page.
	st := s.Stats()
	api, r := "DescribeAutoScalingGroups", "us-east-1"
	if n := st.Calls[api][r] - st.Throttled[api][r] - st.Faults[api][r]; n != 10 {
		t.Errorf("%d DescribeAutoScalingGroups calls answered (%d counted, %d throttled, %d faults), want 10",
			n, st.Calls[api][r], st.Throttled[api][r], st.Faults[api][r])
	}
}

// TestLaunchReadDenials: the knobs that deny the launch-source reads
// answer each service's own error.
func TestLaunchReadDenials(t *testing.T) {
	f := launchFleet(1, 1, 1)
	f.Accounts[0].Regions[0].Knobs = &fleet.Knobs{AutoScalingDenied: true, DenyAPIs: []string{"DescribeImages"}}
	f.Accounts[0].Regions[1].Knobs = &fleet.Knobs{DenyAPIs: []string{"ec2:*"}}
	_, url := simtest.Start(t, f, sim.Options{})
	ctx := context.Background()
	if _, err := asgClient(url, keyA, "us-east-1").DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); apiCode(t, err) != "AccessDenied" ||
		!strings.Contains(err.Error(), "autoscaling:DescribeAutoScalingGroups") {
		t.Errorf("autoScalingDenied: %v", err)
	}
	ec2c := ec2Client(t, url, keyA, "us-east-1")
	if _, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiV2}}); apiCode(t, err) != "UnauthorizedOperation" {
		t.Errorf("denyApis DescribeImages: %v", err)
	}
	if _, err := ec2c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}}); err != nil {
		t.Errorf("DescribeLaunchTemplateVersions is not denied: %v", err)
	}
	if _, err := ec2Client(t, url, keyA, "eu-west-1").GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{}); apiCode(t, err) != "UnauthorizedOperation" {
		t.Errorf("denyApis ec2:*: %v", err)
	}
	if _, err := asgClient(url, keyA, "eu-west-1").DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{}); err != nil {
		t.Errorf("eu-west-1 Auto Scaling is not denied: %v", err)
	}
}
