package fleet

import (
	"fmt"
	"strings"
	"testing"
)

// Demo AMIs: AL2023 carries ImdsSupport v2.0; the archive's AMI was
// deregistered while a stopped instance still uses it (DescribeImages
// leaves it out); the reports template's $Latest names an AMI deleted long
// ago (InvalidAMIID.NotFound).
const (
	demoAMIAL2023       = "ami-0e731c8a588258d0d"
	demoAMIAL2          = "ami-0c02fb55956c7d316"
	demoAMIUbuntu       = "ami-0557a15b87f6559cf"
	demoAMIEKS          = "ami-0a1b2c3d4e5f60718"
	demoAMIECS          = "ami-0d5eff06f840b45e9"
	demoAMIKarpenter    = "ami-0f9e8d7c6b5a40312"
	demoAMIGone         = "ami-0aaaaaaaaaaaaaaaa"
	demoAMIDeregistered = "ami-0b5eea76982371e91"
)

// demoLaunchSources gives a demo Region the launch sources its instances
// come from, one workload per demo group (by Name prefix), covering every
// case a next-launch resolution meets:
//
//   - web: a group on $Latest of a template that sets nothing, AL2023 AMI
//     (ImdsSupport v2.0): the AMI decides (required, hop 2);
//   - payments-api: a mixed instances policy whose $Default requires v2;
//     its Graviton override names version 4 of an arm64 template that has
//     only 2 (unresolvable);
//   - app: a group on $Default (sets nothing) while $Latest requires v2:
//     $Latest vs $Default; account defaults decide where a Region has them;
//   - legacy: a group on a launch configuration with no metadata options;
//     old-worker (terminated) came from it too;
//   - reports-cron: launched by RunInstances from version 1 of a template
//     (tokens optional) whose $Default is 3: a numbered version; $Latest (4)
//     names an AMI that no longer exists;
//   - eks-node-legacy: an EKS managed node group (a group with EKS tags) on
//     a template that allows v1 with hop limit 1;
//   - ecs-node: a group pinned to version 2 of a template by name, whose
//     AMI was deregistered since (the archive still runs from it);
//   - karpenter-node: Karpenter nodes from Karpenter's template (required,
//     hop 1); the last one's template was deleted since;
//   - staging: a group on a template with explicit tokens optional;
//   - archive: launched by hand from an AMI deregistered since;
//   - build-agent, locked-down: launched by hand, workloads by tag only.
func demoLaunchSources(reg *Region, regionIndex int) {
	n := uint64(regionIndex+1) << 32
	id := func(prefix string) string {
		n++
		return fmt.Sprintf("%s-0%016x", prefix, splitmix64(n))
	}
	old := func(d float64) RelTime { return Rel(-days(d)) }
	lt := func(name string, versions ...LaunchTemplateVersion) *LaunchTemplate {
		for i := range versions {
			versions[i].Number = int64(i + 1)
			versions[i].CreateTime = old(float64(400 - 60*i))
		}
		reg.LaunchTemplates = append(reg.LaunchTemplates, LaunchTemplate{ID: id("lt"), Name: name, Versions: versions, CreateTime: old(400)})
		return &reg.LaunchTemplates[len(reg.LaunchTemplates)-1]
	}
	required := func(hop int32) *LaunchMetadataOptions {
		return &LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: hop, HttpEndpoint: "enabled"}
	}
	optional := func(hop int32) *LaunchMetadataOptions {
		return &LaunchMetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: hop, HttpEndpoint: "enabled"}
	}
	group := func(g AutoScalingGroup) {
		g.CreatedTime = old(365)
		g.MaxSize = 20
		reg.AutoScalingGroups = append(reg.AutoScalingGroups, g)
	}

	web := lt("web", LaunchTemplateVersion{ImageID: demoAMIAL2023, InstanceType: "t3.small"},
		LaunchTemplateVersion{ImageID: demoAMIAL2023, InstanceType: "t3.medium", Description: "t3.medium"})
	group(AutoScalingGroup{Name: "web", LaunchTemplate: &LaunchTemplateRef{ID: web.ID, Version: VersionLatest}, Tags: map[string]string{"team": "storefront"}})

	pay := lt("payments-api", LaunchTemplateVersion{ImageID: demoAMIAL2, InstanceType: "m5.large", MetadataOptions: required(1)})
	payArm := lt("payments-api-arm64", LaunchTemplateVersion{ImageID: demoAMIAL2, InstanceType: "m6g.large"},
		LaunchTemplateVersion{ImageID: demoAMIAL2, InstanceType: "m7g.large", MetadataOptions: optional(1)})
	group(AutoScalingGroup{Name: "payments-api", MixedInstancesPolicy: &MixedInstancesPolicy{
		LaunchTemplate: LaunchTemplateRef{ID: pay.ID, Version: VersionDefault},
		Overrides: []Override{{InstanceType: "m5.large"}, {InstanceType: "m6i.large"},
			{InstanceType: "m7g.large", LaunchTemplate: &LaunchTemplateRef{ID: payArm.ID, Version: "4"}}},
	}, Tags: map[string]string{"team": "payments"}})

	app := lt("app", LaunchTemplateVersion{ImageID: demoAMIAL2, InstanceType: "m5.large"},
		LaunchTemplateVersion{ImageID: demoAMIAL2, InstanceType: "m5.large", Description: "patch"},
		LaunchTemplateVersion{ImageID: demoAMIAL2023, InstanceType: "m5.large", Description: "require IMDSv2", MetadataOptions: required(2)})
	app.DefaultVersion = 2
	group(AutoScalingGroup{Name: "app", LaunchTemplate: &LaunchTemplateRef{Name: app.Name}, Tags: map[string]string{"team": "core"}})

	reg.LaunchConfigurations = append(reg.LaunchConfigurations, LaunchConfiguration{
		Name: "legacy-lc-2019", ImageID: demoAMIAL2, InstanceType: "m4.large", CreatedTime: old(2000)})
	group(AutoScalingGroup{Name: "legacy", LaunchConfigurationName: "legacy-lc-2019", Tags: map[string]string{"team": "billing"}})

	reports := lt("reports", LaunchTemplateVersion{ImageID: demoAMIUbuntu, InstanceType: "t3.small", MetadataOptions: optional(1)},
		LaunchTemplateVersion{ImageID: demoAMIUbuntu, InstanceType: "t3.small"},
		LaunchTemplateVersion{ImageID: demoAMIUbuntu, InstanceType: "t3.medium", MetadataOptions: required(1)},
		LaunchTemplateVersion{ImageID: demoAMIGone, InstanceType: "t3.medium", Description: "new base image"})
	reports.DefaultVersion = 3

	eks := lt("eks-"+strings.TrimPrefix(id("x"), "x-0")[:8], LaunchTemplateVersion{ImageID: demoAMIEKS, InstanceType: "m6i.xlarge", MetadataOptions: optional(1)})
	eksGroup := "eks-legacy-" + strings.TrimPrefix(id("x"), "x-0")[:8]
	group(AutoScalingGroup{Name: eksGroup, LaunchTemplate: &LaunchTemplateRef{ID: eks.ID, Version: "1"},
		Tags: map[string]string{"eks:cluster-name": "prod", "eks:nodegroup-name": "legacy", "k8s.io/cluster-autoscaler/enabled": "true"}})

	lt("ecs-node", LaunchTemplateVersion{ImageID: demoAMIECS, InstanceType: "c5.xlarge"},
		LaunchTemplateVersion{ImageID: demoAMIDeregistered, InstanceType: "c6i.xlarge", Description: "pinned to an AMI deregistered since"})
	group(AutoScalingGroup{Name: "ecs-node", LaunchTemplate: &LaunchTemplateRef{Name: "ecs-node", Version: "2"}, Tags: map[string]string{"team": "platform"}})

	karp := lt("karpenter.k8s.aws/"+strings.TrimPrefix(id("x"), "x-0"), LaunchTemplateVersion{ImageID: demoAMIKarpenter, InstanceType: "m7g.large",
		MetadataOptions: &LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled", HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}})
	karp.Tags = map[string]string{"karpenter.k8s.aws/cluster": "prod", "karpenter.sh/nodepool": "default"}
	deletedKarpenterLT := id("lt")

	staging := lt("staging", LaunchTemplateVersion{ImageID: demoAMIAL2, InstanceType: "t3.large", MetadataOptions: optional(1)})
	group(AutoScalingGroup{Name: "staging", LaunchTemplate: &LaunchTemplateRef{ID: staging.ID, Name: staging.Name}})

	fleetID := "fleet-" + strings.TrimPrefix(id("x"), "x-0")[:8] + "-aaaa-4bbb-8ccc-" + strings.TrimPrefix(id("x"), "x-0")[:12]
	karpenters := 0
	for i := range reg.Instances {
		if strings.HasPrefix(reg.Instances[i].Tags["Name"], "karpenter-node") {
			karpenters++
		}
	}
	k := 0
	for i := range reg.Instances {
		in := &reg.Instances[i]
		name := in.Tags["Name"]
		prefix := name[:strings.LastIndex(name[:strings.LastIndex(name, "-")], "-")]
		switch prefix {
		case "web", "payments-api", "app", "staging", "ecs-node":
			in.AutoScalingGroup = prefix
		case "legacy", "old-worker":
			in.AutoScalingGroup = "legacy"
			in.ImageID = demoAMIAL2
		case "eks-node-legacy":
			in.AutoScalingGroup = eksGroup
			in.Tags["eks:nodegroup-name"] = "legacy"
		case "reports-cron":
			in.LaunchTemplate = &LaunchTemplateRef{ID: reports.ID, Version: "1"}
			in.Tags["team"] = "analytics"
		case "karpenter-node":
			k++
			in.Tags["karpenter.k8s.aws/ec2nodeclass"] = "default"
			in.Tags[TagFleetID] = fleetID
			if k == karpenters && karpenters > 1 { // launched before Karpenter rotated its template
				in.Tags[TagLaunchTemplateID] = deletedKarpenterLT
				in.Tags[TagLaunchTemplateVersion] = "1"
			} else {
				in.LaunchTemplate = &LaunchTemplateRef{ID: karp.ID, Version: "1"}
			}
		case "archive":
			in.ImageID = demoAMIDeregistered
			in.Tags["team"] = "analytics"
		case "build-agent":
			in.Tags["team"] = "platform"
		case "locked-down":
			in.Tags["team"] = "security"
		}
		if g, ok := reg.Group(in.AutoScalingGroup); ok && g.Tags["team"] != "" {
			in.Tags["team"] = g.Tags["team"]
		}
	}
	reg.Images = []Image{
		{ID: demoAMIAL2023, Name: "al2023-ami-2023.6.20250115.0-kernel-6.1-x86_64", ImdsSupport: "v2.0", OwnerID: "137112412989", CreationDate: old(300)},
		{ID: demoAMIAL2, Name: "amzn2-ami-kernel-5.10-hvm-2.0.20240109.0-x86_64-gp2", OwnerID: "137112412989", CreationDate: old(700)},
		{ID: demoAMIDeregistered, Name: "amzn2-ami-hvm-2.0.20190313-x86_64-gp2", OwnerID: "137112412989", CreationDate: old(2400), State: ImageDeregistered},
		{ID: demoAMIUbuntu, Name: "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240207", OwnerID: "099720109477", CreationDate: old(600)},
		{ID: demoAMIEKS, Name: "amazon-eks-node-1.29-v20240213", OwnerID: "602401143452", CreationDate: old(200)},
		{ID: demoAMIECS, Name: "amzn2-ami-ecs-hvm-2.0.20240207-x86_64-ebs", OwnerID: "591542846629", CreationDate: old(250)},
		{ID: demoAMIKarpenter, Name: "amazon-eks-node-al2023-arm64-standard-1.31-v20250115", ImdsSupport: "v2.0", OwnerID: "602401143452", CreationDate: old(60)},
	}
}

// checkDemoLaunchCoverage asserts that the demo fleet holds every launch
// source case the next-launch resolution distinguishes.
func checkDemoLaunchCoverage(t *testing.T, f *Fleet) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range f.Accounts[0].Regions {
		if d := r.Defaults; d != nil {
			seen["defaults:"+d.ManagedBy]++
			if d.HttpTokensEnforced == "enabled" {
				seen["defaults:enforced"]++
			}
		}
		images := map[string]*Image{}
		for i := range r.Images {
			images[r.Images[i].ID] = &r.Images[i]
			if r.Images[i].ImdsSupport == "v2.0" {
				seen["image:v2.0"]++
			}
		}
		for _, lt := range r.LaunchTemplates {
			if lt.Latest() != lt.Default() {
				seen["template:latest-not-default"]++
			}
			for _, v := range lt.Versions {
				if im, ok := images[v.ImageID]; !ok {
					seen["template:ami-not-found"]++
				} else if im.Deregistered() {
					seen["template:ami-deregistered"]++
				}
			}
		}
		for _, g := range r.AutoScalingGroups {
			switch {
			case g.LaunchConfigurationName != "":
				seen["group:launch-configuration"]++
			case g.MixedInstancesPolicy != nil:
				for _, o := range g.MixedInstancesPolicy.Overrides {
					if o.LaunchTemplate != nil {
						lt, ok := r.LaunchTemplateByRef(*o.LaunchTemplate)
						if _, vok := lt.Version(o.LaunchTemplate.Version); ok && !vok {
							seen["group:override-version-missing"]++
						}
					}
				}
			default:
				ref := g.LaunchTemplate
				switch {
				case ref.Version == VersionLatest:
					seen["group:$Latest"]++
				case ref.Version == "" || ref.Version == VersionDefault:
					seen["group:$Default"]++
				default:
					seen["group:numbered"]++
				}
				if ref.ID == "" {
					seen["group:by-name"]++
				}
			}
			if g.Tags["eks:nodegroup-name"] != "" {
				seen["group:eks"]++
			}
		}
		for _, in := range r.Instances {
			if in.State == "terminated" {
				continue
			}
			if im, ok := images[in.ImageID]; ok && im.Deregistered() {
				seen["instance:ami-deregistered"]++
			}
			id, group := in.Tags[TagLaunchTemplateID], in.Tags[TagAutoScalingGroup]
			switch {
			case in.Tags["karpenter.sh/nodepool"] != "":
				seen["instance:karpenter"]++
				if _, ok := r.LaunchTemplateByRef(LaunchTemplateRef{ID: id}); !ok {
					seen["instance:template-deleted"]++
				}
			case group == "" && id != "":
				seen["instance:template-only"]++
				lt, _ := r.LaunchTemplateByRef(LaunchTemplateRef{ID: id})
				if in.Tags[TagLaunchTemplateVersion] != fmt.Sprint(lt.Default()) {
					seen["instance:older-version"]++
				}
			case group == "" && id == "":
				seen["instance:by-hand"]++
			}
		}
	}
	for _, k := range []string{"defaults:account", "defaults:declarative-policy", "defaults:enforced", "image:v2.0",
		"template:latest-not-default", "template:ami-not-found", "template:ami-deregistered",
		"group:launch-configuration", "group:override-version-missing", "group:$Latest", "group:$Default", "group:numbered", "group:by-name", "group:eks",
		"instance:ami-deregistered", "instance:karpenter", "instance:template-deleted", "instance:template-only", "instance:older-version", "instance:by-hand"} {
		if seen[k] == 0 {
			t.Errorf("demo fleet lacks %s", k)
		}
	}
}
