package fleet

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// Launch source classes of the synthetic generator: what a group's
// launch template says about metadata options.
const (
	classRequired = iota // enforced instances whose source requires tokens (or was left behind)
	classAL2023          // AL2023 AMI (ImdsSupport v2.0), template sets nothing
	classOptional        // everything else: templates that set nothing, optional, or fixed only in $Latest
)

// Shares used by launchSources, in percent.
const (
	synthByHand        = 7  // launched by hand: no source
	synthTemplateOnly  = 6  // RunInstances from a template, no group
	synthLaunchConfig  = 10 // of new groups of optional instances: a launch configuration
	synthMixed         = 15 // of new template groups: a mixed instances policy
	synthOlderVersions = 5  // of templates: older instances still carry an older version's number
	synthKarpenter     = 35 // of EKS container hosts: Karpenter nodes instead of a managed node group
)

// launchSources gives a synthetic Region its launch sources and puts most
// instances into Auto Scaling groups (EKS managed node groups are groups
// too), some into Karpenter node pools, a few launched from a template
// without a group or by hand. It draws from its own random source, so the
// instances' mix (kinds, options, usage) is the same as without it.
func launchSources(reg *Region, kinds []int, account string, regionIndex int, seed int64) {
	l := &launcher{
		rng:     rand.New(rand.NewSource(seed ^ int64(regionIndex+1)*0x5deece66d)),
		seed:    uint64(seed)<<8 ^ uint64(regionIndex),
		reg:     reg,
		account: account,
		open:    map[string]*openGroup{},
		images:  map[string]bool{},
	}
	reg.Defaults = syntheticDefaults(regionIndex)
	for i := range reg.Instances {
		l.place(&reg.Instances[i], kinds[i])
	}
	l.addImages()
}

// syntheticDefaults: some Regions have account defaults, one of them set
// by an Organizations declarative policy.
func syntheticDefaults(regionIndex int) *MetadataDefaults {
	switch regionIndex {
	case 1:
		return &MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, ManagedBy: "account"}
	case 3:
		return &MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpTokensEnforced: "disabled",
			ManagedBy: "declarative-policy", ManagedExceptionMessage: "IMDSv2 is required by the security baseline; ask platform-security for an exception"}
	case 5:
		return &MetadataDefaults{HttpEndpoint: "enabled", InstanceMetadataTags: "enabled", ManagedBy: "account"}
	}
	return nil
}

type launcher struct {
	rng     *rand.Rand
	seed    uint64
	n       uint64
	reg     *Region
	account string
	open    map[string]*openGroup // by class and AMI: the group new instances join
	images  map[string]bool
}

type openGroup struct {
	group   int // index into reg.AutoScalingGroups, -1 for a template without group
	lt      int // index into reg.LaunchTemplates, -1 for a launch configuration
	version string
	left    int
	older   bool // old instances carry an older version number
	tags    map[string]string
}

func (l *launcher) hex() string {
	l.n++
	return fmt.Sprintf("%016x", splitmix64(l.seed*0x9e3779b97f4a7c15^l.n))
}

func (l *launcher) pct(p int) bool { return l.rng.Intn(100) < p }

func (l *launcher) place(in *Instance, kind int) {
	l.images[in.ImageID] = true
	if in.Tags["eks:cluster-name"] != "" {
		if l.pct(synthKarpenter) {
			l.karpenter(in)
		} else {
			l.join(in, "eks|"+in.Tags["eks:nodegroup-name"]+"|"+in.Tags["eks:cluster-name"], classOptional, 30+l.rng.Intn(60))
		}
		return
	}
	if _, ecs := in.Tags["AmazonECSManaged"]; ecs {
		l.join(in, "ecs|"+in.Tags["aws:ecs:clusterName"], classOptional, 20+l.rng.Intn(40))
		return
	}
	roll := l.rng.Intn(100)
	if roll < synthByHand {
		return
	}
	class := classOptional
	switch {
	case kind == kindEnforced && in.MetadataOptions.HttpPutResponseHopLimit == 2:
		class = classAL2023
	case kind == kindEnforced:
		class = classRequired
	}
	key := strconv.Itoa(class) + "|" + in.ImageID
	if roll < synthByHand+synthTemplateOnly {
		l.join(in, "lt|"+key, class, -10-l.rng.Intn(30))
		return
	}
	l.join(in, "asg|"+key, class, 10+l.rng.Intn(70))
}

// join adds in to the open group of key, starting a new one when it is
// full. A negative size starts a template without group of -size instances.
func (l *launcher) join(in *Instance, key string, class, size int) {
	g := l.open[key]
	if g == nil || g.left == 0 {
		g = l.newGroup(in, key, class, size)
		l.open[key] = g
	}
	g.left--
	if g.group >= 0 {
		in.Tags[TagAutoScalingGroup] = l.reg.AutoScalingGroups[g.group].Name
	}
	for k, v := range g.tags {
		in.Tags[k] = v
	}
	if g.lt >= 0 {
		lt := &l.reg.LaunchTemplates[g.lt]
		v, _ := lt.Version(g.version)
		n := v.Number
		if g.older && n > 1 && in.LaunchTime.rel < -60*synthDay {
			n-- // launched before the current version existed
		}
		in.Tags[TagLaunchTemplateID] = lt.ID
		in.Tags[TagLaunchTemplateVersion] = strconv.FormatInt(n, 10)
	}
}

func (l *launcher) newGroup(in *Instance, key string, class, size int) *openGroup {
	kind, _, _ := strings.Cut(key, "|")
	base := strings.TrimRight(strings.TrimRight(in.Tags["Name"], "0123456789"), "-")
	if base == "" {
		base = "app"
	}
	g := &openGroup{group: -1, lt: -1, left: size, tags: map[string]string{}}
	if size < 0 {
		g.left = -size
	}
	h := l.hex()
	created := Rel(-time.Duration(400+l.rng.Intn(300)) * synthDay)
	switch kind {
	case "eks":
		ng := in.Tags["eks:nodegroup-name"]
		cluster := in.Tags["eks:cluster-name"]
		g.lt = l.template("eks-"+h[:8]+"-"+h[8:12]+"-"+h[12:], in, classOptional, false)
		g.version = l.versionSpec(&l.reg.LaunchTemplates[g.lt])
		l.group("eks-"+ng+"-"+h[:8]+"-"+h[8:12], created, &LaunchTemplateRef{ID: l.reg.LaunchTemplates[g.lt].ID, Version: g.version}, "", nil,
			map[string]string{"eks:cluster-name": cluster, "eks:nodegroup-name": ng, "k8s.io/cluster-autoscaler/enabled": "true"})
		g.group = len(l.reg.AutoScalingGroups) - 1
	case "ecs":
		g.lt = l.template("ecs-"+in.Tags["aws:ecs:clusterName"]+"-"+h[:6], in, classOptional, false)
		g.version = l.versionSpec(&l.reg.LaunchTemplates[g.lt])
		l.group("ecs-"+in.Tags["aws:ecs:clusterName"]+"-asg-"+h[:6], created, &LaunchTemplateRef{ID: l.reg.LaunchTemplates[g.lt].ID, Version: g.version}, "", nil,
			map[string]string{"AmazonECSManaged": ""})
		g.group = len(l.reg.AutoScalingGroups) - 1
	case "lt":
		g.lt = l.template(base+"-"+h[:6], in, class, false)
		g.version = VersionDefault // RunInstances without a version launches $Default
	default: // asg
		name := base + "-asg-" + h[:6]
		if class == classOptional && l.pct(synthLaunchConfig) {
			l.launchConfig(name+"-lc", in)
			l.group(name, created, nil, name+"-lc", nil, nil)
			g.group = len(l.reg.AutoScalingGroups) - 1
			return g
		}
		g.older = l.pct(synthOlderVersions)
		g.lt = l.template(base+"-"+h[:6], in, class, g.older)
		lt := &l.reg.LaunchTemplates[g.lt]
		g.version = l.versionSpec(lt)
		ref := LaunchTemplateRef{ID: lt.ID, Version: g.version}
		if l.pct(synthMixed) {
			mip := &MixedInstancesPolicy{LaunchTemplate: ref}
			for _, t := range []string{in.InstanceType, "m5.large", "m6i.large"}[:2+l.rng.Intn(2)] {
				mip.Overrides = append(mip.Overrides, Override{InstanceType: t})
			}
			if l.pct(20) { // Graviton instances launch from an arm64 template of their own
				arm := l.template(base+"-arm64-"+h[:6], in, class, false)
				mip.Overrides = append(mip.Overrides, Override{InstanceType: "m7g.large",
					LaunchTemplate: &LaunchTemplateRef{ID: l.reg.LaunchTemplates[arm].ID, Version: VersionLatest}})
			}
			l.group(name, created, nil, "", mip, nil)
		} else {
			l.group(name, created, &ref, "", nil, nil)
		}
		g.group = len(l.reg.AutoScalingGroups) - 1
	}
	return g
}

// versionSpec picks how a group names its template's version: mostly
// $Default, some $Latest, a few pinned numbers.
func (l *launcher) versionSpec(lt *LaunchTemplate) string {
	switch r := l.rng.Intn(10); {
	case r < 7:
		return VersionDefault
	case r < 9:
		return VersionLatest
	default:
		return strconv.FormatInt(lt.Default(), 10)
	}
}

func (l *launcher) group(name string, created RelTime, lt *LaunchTemplateRef, lc string, mip *MixedInstancesPolicy, tags map[string]string) {
	l.reg.AutoScalingGroups = append(l.reg.AutoScalingGroups, AutoScalingGroup{
		Name: name, LaunchTemplate: lt, LaunchConfigurationName: lc, MixedInstancesPolicy: mip,
		MaxSize: 100, Tags: tags, CreatedTime: created,
	})
}

// template adds a launch template of 1..4 versions. Its $Default version's
// metadata options follow the class: required (most enforced sources;
// some enforced instances were fixed by hand and their source still sets
// nothing), nothing (AL2023: the AMI decides), or for the rest nothing,
// optional, or a fix made in $Latest only.
func (l *launcher) template(name string, in *Instance, class int, older bool) int {
	h := l.hex()
	lt := LaunchTemplate{ID: "lt-0" + h, Name: name, CreateTime: Rel(-time.Duration(300+l.rng.Intn(400)) * synthDay)}
	n := 1 + l.rng.Intn(4)
	if older && n == 1 {
		n = 2
	}
	var opts, latest *LaunchMetadataOptions
	switch class {
	case classRequired:
		if l.pct(75) {
			opts = &LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}
		}
	case classAL2023:
	default:
		switch r := l.rng.Intn(100); {
		case r < 55:
		case r < 80:
			opts = &LaunchMetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: in.MetadataOptions.HttpPutResponseHopLimit, HttpEndpoint: "enabled"}
		default: // v2 made the new version, not yet the default
			latest = &LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}
			if n == 1 {
				n = 2
			}
		}
	}
	def := int64(n)
	if latest != nil {
		def = int64(n - 1)
	}
	for v := 1; v <= n; v++ {
		ver := LaunchTemplateVersion{Number: int64(v), ImageID: in.ImageID, InstanceType: in.InstanceType,
			CreateTime: Rel(-time.Duration(n-v+1) * 45 * synthDay)}
		switch {
		case int64(v) == def:
			ver.MetadataOptions = opts
		case latest != nil && v == n:
			ver.MetadataOptions = latest
			ver.Description = "require IMDSv2"
		}
		lt.Versions = append(lt.Versions, ver)
	}
	lt.DefaultVersion = def
	l.reg.LaunchTemplates = append(l.reg.LaunchTemplates, lt)
	return len(l.reg.LaunchTemplates) - 1
}

func (l *launcher) launchConfig(name string, in *Instance) {
	lc := LaunchConfiguration{Name: name, ImageID: in.ImageID, InstanceType: in.InstanceType,
		CreatedTime: Rel(-time.Duration(500+l.rng.Intn(500)) * synthDay)}
	switch r := l.rng.Intn(10); {
	case r < 6:
	case r < 8:
		lc.MetadataOptions = &LaunchMetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled"}
	default:
		lc.MetadataOptions = &LaunchMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled"}
	}
	l.reg.LaunchConfigurations = append(l.reg.LaunchConfigurations, lc)
}

// karpenter makes an EKS container host a Karpenter node: Karpenter
// launches through CreateFleet from launch templates it writes from the
// EC2NodeClass (whose metadata options default to required with hop
// limit 1; these clusters set optional).
func (l *launcher) karpenter(in *Instance) {
	cluster := in.Tags["eks:cluster-name"]
	pool := strings.TrimPrefix(in.Tags["eks:nodegroup-name"], "ng-")
	delete(in.Tags, "eks:nodegroup-name")
	in.Tags["karpenter.sh/nodepool"] = pool
	in.Tags["karpenter.k8s.aws/ec2nodeclass"] = "default"
	key := "karpenter|" + cluster + "|" + pool + "|" + in.ImageID
	g := l.open[key]
	if g == nil || g.left == 0 {
		h := l.hex()
		lt := LaunchTemplate{ID: "lt-0" + h, Name: "karpenter.k8s.aws/" + h, CreateTime: Rel(-time.Duration(1+l.rng.Intn(30)) * synthDay),
			Tags: map[string]string{"karpenter.k8s.aws/cluster": cluster, "karpenter.k8s.aws/ec2nodeclass": "default"},
			Versions: []LaunchTemplateVersion{{Number: 1, ImageID: in.ImageID, InstanceType: in.InstanceType,
				MetadataOptions: &LaunchMetadataOptions{HttpTokens: in.MetadataOptions.HttpTokens, HttpPutResponseHopLimit: in.MetadataOptions.HttpPutResponseHopLimit,
					HttpEndpoint: "enabled", HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}}}}
		l.reg.LaunchTemplates = append(l.reg.LaunchTemplates, lt)
		g = &openGroup{group: -1, lt: len(l.reg.LaunchTemplates) - 1, version: "1", left: 20 + l.rng.Intn(40),
			tags: map[string]string{TagFleetID: "fleet-" + l.hex()[:8] + "-" + h[:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + l.hex()[:12]}}
		l.open[key] = g
	}
	g.left--
	lt := &l.reg.LaunchTemplates[g.lt]
	in.Tags[TagLaunchTemplateID] = lt.ID
	in.Tags[TagLaunchTemplateVersion] = "1"
	in.Tags[TagFleetID] = g.tags[TagFleetID]
}

// addImages lists every AMI the Region's instances and templates use:
// AL2023 with ImdsSupport v2.0, and one old Amazon Linux 2 AMI
// deregistered while instances still run from it.
func (l *launcher) addImages() {
	for _, lt := range l.reg.LaunchTemplates {
		for _, v := range lt.Versions {
			l.images[v.ImageID] = true
		}
	}
	for _, lc := range l.reg.LaunchConfigurations {
		l.images[lc.ImageID] = true
	}
	for _, list := range [][]string{amazonLinux2, al2023, ubuntu, windows, eksOptimized, ecsOptimized} {
		for _, id := range list {
			if !l.images[id] {
				continue
			}
			im := Image{ID: id, Name: imageName(id), OwnerID: "137112412989", CreationDate: Rel(-400 * synthDay)}
			if contains(al2023, id) {
				im.ImdsSupport = "v2.0"
			}
			if id == deregisteredAMI {
				im.State = ImageDeregistered
			}
			l.reg.Images = append(l.reg.Images, im)
		}
	}
}

// deregisteredAMI is the synthetic fleet's deleted AMI.
var deregisteredAMI = amazonLinux2[2]

func imageName(id string) string {
	switch {
	case contains(al2023, id):
		return "al2023-ami-2023.6.20250115.0-kernel-6.1-x86_64"
	case contains(amazonLinux2, id):
		return "amzn2-ami-kernel-5.10-hvm-2.0.20240109.0-x86_64-gp2"
	case contains(ubuntu, id):
		return "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240207"
	case contains(windows, id):
		return "Windows_Server-2022-English-Full-Base-2024.02.14"
	case contains(eksOptimized, id):
		return "amazon-eks-node-1.29-v20240213"
	default:
		return "amzn2-ami-ecs-hvm-2.0.20240207-x86_64-ebs"
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
