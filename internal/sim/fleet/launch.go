package fleet

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// Launch sources of a Region: what the next instance of a workload is
// launched from. The simulated AWS serves them through
// DescribeLaunchTemplates, DescribeLaunchTemplateVersions, DescribeImages,
// DescribeAutoScalingGroups and DescribeLaunchConfigurations; the rules a
// launch follows are in docs/next-launch.md.

// EC2's auto tags: EC2 and Auto Scaling put them on the instances they
// launch, and no one else may set aws: tags (docs/aws-facts.md#launch-sources).
const (
	TagAutoScalingGroup      = "aws:autoscaling:groupName"
	TagLaunchTemplateID      = "aws:ec2launchtemplate:id"
	TagLaunchTemplateVersion = "aws:ec2launchtemplate:version"
	TagFleetID               = "aws:ec2:fleet-id"
)

// Image is an AMI. AMIs that instances or launch templates use but no
// Image lists are served as available AMIs without ImdsSupport, so fleets
// written before images existed keep working.
type Image struct {
	ID   string `json:"id"` // ami- + 8 or 17 hex digits
	Name string `json:"name,omitempty"`
	// ImdsSupport "v2.0" makes instances launched from the AMI default to
	// tokens required and hop limit 2; empty: EC2's built-in defaults.
	ImdsSupport string `json:"imdsSupport,omitempty"`
	// State is "available" (default) or "deregistered": a deregistered AMI
	// still used by a live instance is left out of DescribeImages answers;
	// one no live instance uses is not found (InvalidAMIID.NotFound), as on
	// AWS.
	State        string  `json:"state,omitempty"`
	OwnerID      string  `json:"ownerId,omitempty"` // default: the account
	CreationDate RelTime `json:"creationDate"`
}

// Deregistered reports whether the AMI was deleted.
func (im *Image) Deregistered() bool { return im.State == ImageDeregistered }

// Image states.
const (
	ImageAvailable    = "available"
	ImageDeregistered = "deregistered"
)

// LaunchMetadataOptions are the metadata options a launch template version
// or a launch configuration sets. A field left empty (0 for the hop limit)
// is not set: the launch takes it from the account defaults, the AMI or
// EC2's built-in default, in that order.
type LaunchMetadataOptions struct {
	HttpTokens              string `json:"httpTokens,omitempty"`
	HttpPutResponseHopLimit int32  `json:"httpPutResponseHopLimit,omitempty"`
	HttpEndpoint            string `json:"httpEndpoint,omitempty"`
	HttpProtocolIpv6        string `json:"httpProtocolIpv6,omitempty"`
	InstanceMetadataTags    string `json:"instanceMetadataTags,omitempty"`
}

// LaunchTemplate is an EC2 launch template and its versions.
type LaunchTemplate struct {
	ID   string `json:"id"`   // lt- + 17 hex digits
	Name string `json:"name"` // 3..128 of [a-zA-Z0-9().-/_]
	// DefaultVersion is the $Default version's number (default: the
	// lowest). $Latest is the highest number.
	DefaultVersion int64                   `json:"defaultVersion,omitempty"`
	Versions       []LaunchTemplateVersion `json:"versions"`
	CreateTime     RelTime                 `json:"createTime"`
	Tags           map[string]string       `json:"tags,omitempty"`
}

// LaunchTemplateVersion is one version of a launch template. Deleted
// versions leave gaps in the numbers.
type LaunchTemplateVersion struct {
	// Number is the version number (default: the previous version's + 1,
	// starting at 1).
	Number       int64  `json:"number,omitempty"`
	Description  string `json:"description,omitempty"`
	ImageID      string `json:"imageId,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
	// MetadataOptions nil: the version sets no metadata options at all.
	MetadataOptions *LaunchMetadataOptions `json:"metadataOptions,omitempty"`
	CreateTime      RelTime                `json:"createTime"`
}

// LaunchConfiguration is an Auto Scaling launch configuration: immutable,
// one per group, with its own metadata options (tokens, hop limit,
// endpoint only).
type LaunchConfiguration struct {
	Name            string                 `json:"name"`
	ImageID         string                 `json:"imageId"`
	InstanceType    string                 `json:"instanceType,omitempty"`
	MetadataOptions *LaunchMetadataOptions `json:"metadataOptions,omitempty"`
	CreatedTime     RelTime                `json:"createdTime"`
}

// LaunchTemplateRef names a launch template by id or name (one is enough;
// both must agree) and a version: "$Latest", "$Default" or a number.
// An empty version means "$Default", as in Auto Scaling.
type LaunchTemplateRef struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// Template version specifiers.
const (
	VersionLatest  = "$Latest"
	VersionDefault = "$Default"
)

// AutoScalingGroup launches from exactly one of LaunchTemplate,
// LaunchConfigurationName or MixedInstancesPolicy. A reference to a
// template or configuration the Region does not hold is kept (deleted
// since): the scan reports such a group's next launch as unresolvable.
type AutoScalingGroup struct {
	Name                    string                `json:"name"`
	LaunchTemplate          *LaunchTemplateRef    `json:"launchTemplate,omitempty"`
	LaunchConfigurationName string                `json:"launchConfigurationName,omitempty"`
	MixedInstancesPolicy    *MixedInstancesPolicy `json:"mixedInstancesPolicy,omitempty"`
	// MinSize and MaxSize default to 0 and the group's live instances.
	MinSize     int32             `json:"minSize,omitempty"`
	MaxSize     int32             `json:"maxSize,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	CreatedTime RelTime           `json:"createdTime"`
}

// MixedInstancesPolicy is a group's launch template with per instance
// type overrides; an override may name a template (and version) of its own.
type MixedInstancesPolicy struct {
	LaunchTemplate LaunchTemplateRef `json:"launchTemplate"`
	Overrides      []Override        `json:"overrides,omitempty"`
}

// Override is one entry of a mixed instances policy.
type Override struct {
	InstanceType   string             `json:"instanceType"`
	LaunchTemplate *LaunchTemplateRef `json:"launchTemplate,omitempty"`
}

// LaunchTemplateByRef returns the Region's template ref names (by id,
// else by name).
func (r *Region) LaunchTemplateByRef(ref LaunchTemplateRef) (*LaunchTemplate, bool) {
	for i := range r.LaunchTemplates {
		lt := &r.LaunchTemplates[i]
		if ref.ID != "" && lt.ID == ref.ID || ref.ID == "" && ref.Name != "" && lt.Name == ref.Name {
			return lt, true
		}
	}
	return nil, false
}

// Group returns the Region's Auto Scaling group of that name.
func (r *Region) Group(name string) (*AutoScalingGroup, bool) {
	for i := range r.AutoScalingGroups {
		if r.AutoScalingGroups[i].Name == name {
			return &r.AutoScalingGroups[i], true
		}
	}
	return nil, false
}

// Latest returns the template's highest version number.
func (lt *LaunchTemplate) Latest() int64 {
	var n int64
	for _, v := range lt.Versions {
		n = max(n, v.Number)
	}
	return n
}

// Default returns the $Default version's number.
func (lt *LaunchTemplate) Default() int64 {
	if lt.DefaultVersion != 0 {
		return lt.DefaultVersion
	}
	n := int64(0)
	for _, v := range lt.Versions {
		if n == 0 || v.Number < n {
			n = v.Number
		}
	}
	return n
}

// Version resolves a version specifier ("$Latest", "$Default", "" or a
// number) to the version it names; false if there is none.
func (lt *LaunchTemplate) Version(spec string) (*LaunchTemplateVersion, bool) {
	var n int64
	switch spec {
	case VersionLatest:
		n = lt.Latest()
	case VersionDefault, "":
		n = lt.Default()
	default:
		v, err := strconv.ParseInt(spec, 10, 64)
		if err != nil {
			return nil, false
		}
		n = v
	}
	for i := range lt.Versions {
		if lt.Versions[i].Number == n {
			return &lt.Versions[i], true
		}
	}
	return nil, false
}

// numberVersions gives versions without a number the previous one's + 1.
func (lt *LaunchTemplate) numberVersions() {
	var prev int64
	for i := range lt.Versions {
		if lt.Versions[i].Number == 0 {
			lt.Versions[i].Number = prev + 1
		}
		prev = lt.Versions[i].Number
	}
}

// applyLaunchDefaults numbers template versions and turns every instance's
// AutoScalingGroup and LaunchTemplate into EC2's auto tags. Tags the fleet
// sets itself win (they describe sources deleted since).
func (r *Region) applyLaunchDefaults() {
	for i := range r.LaunchTemplates {
		r.LaunchTemplates[i].numberVersions()
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		if in.AutoScalingGroup == "" && in.LaunchTemplate == nil {
			continue
		}
		tags := map[string]string{}
		ref := in.LaunchTemplate
		if in.AutoScalingGroup != "" {
			tags[TagAutoScalingGroup] = in.AutoScalingGroup
			if g, ok := r.Group(in.AutoScalingGroup); ok && ref == nil {
				switch {
				case g.LaunchTemplate != nil:
					ref = g.LaunchTemplate
				case g.MixedInstancesPolicy != nil:
					ref = &g.MixedInstancesPolicy.LaunchTemplate
				}
			}
		}
		if ref != nil {
			if lt, ok := r.LaunchTemplateByRef(*ref); ok {
				tags[TagLaunchTemplateID] = lt.ID
				if v, ok := lt.Version(ref.Version); ok {
					tags[TagLaunchTemplateVersion] = strconv.FormatInt(v.Number, 10)
				}
			}
		}
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		for k, v := range tags {
			if _, set := in.Tags[k]; !set {
				in.Tags[k] = v
			}
		}
	}
}

var (
	imageIDRe          = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	launchTemplateIDRe = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
	launchTemplateName = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
	versionNumberRe    = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// ValidImageID reports whether id has EC2's AMI id form.
func ValidImageID(id string) bool { return imageIDRe.MatchString(id) }

func validateLaunch(p *problems, rwhere string, r *Region) {
	seenImage := map[string]bool{}
	for i := range r.Images {
		im := &r.Images[i]
		where := fmt.Sprintf("%s, image %s", rwhere, im.ID)
		if !imageIDRe.MatchString(im.ID) {
			p.add("%s: id %q: want ami- followed by 8 or 17 hex digits", where, im.ID)
		}
		if seenImage[im.ID] {
			p.add("%s: id appears twice in the Region", where)
		}
		seenImage[im.ID] = true
		if !oneOf(im.ImdsSupport, "", "v2.0") {
			p.add("%s: imdsSupport %q: want v2.0 or nothing", where, im.ImdsSupport)
		}
		if !oneOf(im.State, "", ImageAvailable, ImageDeregistered) {
			p.add("%s: state %q: want available or deregistered", where, im.State)
		}
		if im.OwnerID != "" && !accountIDRe.MatchString(im.OwnerID) {
			p.add("%s: ownerId %q: want 12 digits", where, im.OwnerID)
		}
	}
	seenLT, seenLTName := map[string]bool{}, map[string]bool{}
	for i := range r.LaunchTemplates {
		lt := &r.LaunchTemplates[i]
		where := fmt.Sprintf("%s, launch template %s", rwhere, lt.ID)
		if !launchTemplateIDRe.MatchString(lt.ID) {
			p.add("%s: id %q: want lt- followed by 17 hex digits", where, lt.ID)
		}
		if !launchTemplateName.MatchString(lt.Name) {
			p.add("%s: name %q: want 3 to 128 of a-z A-Z 0-9 ( ) . - / _", where, lt.Name)
		}
		if seenLT[lt.ID] || seenLTName[lt.Name] {
			p.add("%s: id or name %q appears twice in the Region", where, lt.Name)
		}
		seenLT[lt.ID], seenLTName[lt.Name] = true, true
		if len(lt.Versions) == 0 {
			p.add("%s: versions: a template has at least one version", where)
		}
		var prev int64
		for vi := range lt.Versions {
			v := &lt.Versions[vi]
			n := v.Number
			if n == 0 {
				n = prev + 1
			}
			if n <= prev {
				p.add("%s: versions[%d]: number %d: want numbers that increase", where, vi, n)
			}
			prev = n
			if v.ImageID != "" && !imageIDRe.MatchString(v.ImageID) {
				p.add("%s, version %d: imageId %q: want ami- followed by 8 or 17 hex digits", where, n, v.ImageID)
			}
			if v.MetadataOptions != nil {
				validateLaunchOptions(p, fmt.Sprintf("%s, version %d: metadataOptions", where, n), v.MetadataOptions)
			}
		}
		if lt.DefaultVersion != 0 && !slices.ContainsFunc(lt.Versions, func(v LaunchTemplateVersion) bool { return v.Number == lt.DefaultVersion }) {
			p.add("%s: defaultVersion %d: no such version", where, lt.DefaultVersion)
		}
	}
	seenLC := map[string]bool{}
	for i := range r.LaunchConfigurations {
		lc := &r.LaunchConfigurations[i]
		where := fmt.Sprintf("%s, launch configuration %q", rwhere, lc.Name)
		if lc.Name == "" || len(lc.Name) > 255 {
			p.add("%s: name: want 1 to 255 characters", where)
		}
		if seenLC[lc.Name] {
			p.add("%s: name appears twice in the Region", where)
		}
		seenLC[lc.Name] = true
		if !imageIDRe.MatchString(lc.ImageID) {
			p.add("%s: imageId %q: want ami- followed by 8 or 17 hex digits", where, lc.ImageID)
		}
		if m := lc.MetadataOptions; m != nil {
			if m.HttpProtocolIpv6 != "" || m.InstanceMetadataTags != "" {
				p.add("%s: metadataOptions: a launch configuration sets only httpTokens, httpPutResponseHopLimit and httpEndpoint", where)
			}
			validateLaunchOptions(p, where+": metadataOptions", m)
		}
	}
	seenGroup := map[string]bool{}
	for i := range r.AutoScalingGroups {
		g := &r.AutoScalingGroups[i]
		where := fmt.Sprintf("%s, Auto Scaling group %q", rwhere, g.Name)
		if g.Name == "" || len(g.Name) > 255 {
			p.add("%s: name: want 1 to 255 characters", where)
		}
		if seenGroup[g.Name] {
			p.add("%s: name appears twice in the Region", where)
		}
		seenGroup[g.Name] = true
		sources := 0
		if g.LaunchTemplate != nil {
			sources++
			validateRef(p, where+": launchTemplate", *g.LaunchTemplate, r)
		}
		if g.LaunchConfigurationName != "" {
			sources++
		}
		if m := g.MixedInstancesPolicy; m != nil {
			sources++
			validateRef(p, where+": mixedInstancesPolicy.launchTemplate", m.LaunchTemplate, r)
			for oi, o := range m.Overrides {
				if o.InstanceType == "" {
					p.add("%s: mixedInstancesPolicy.overrides[%d]: instanceType is required", where, oi)
				}
				if o.LaunchTemplate != nil {
					validateRef(p, fmt.Sprintf("%s: mixedInstancesPolicy.overrides[%d].launchTemplate", where, oi), *o.LaunchTemplate, r)
				}
			}
		}
		if sources != 1 {
			p.add("%s: want exactly one of launchTemplate, launchConfigurationName and mixedInstancesPolicy", where)
		}
		if g.MaxSize != 0 && g.MinSize > g.MaxSize {
			p.add("%s: minSize %d is above maxSize %d", where, g.MinSize, g.MaxSize)
		}
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		where := fmt.Sprintf("%s, instance %s", rwhere, in.ID)
		if in.AutoScalingGroup != "" {
			if _, ok := r.Group(in.AutoScalingGroup); !ok {
				p.add("%s: autoScalingGroup %q: the Region has no such group (to describe a deleted one, set the %s tag instead)", where, in.AutoScalingGroup, TagAutoScalingGroup)
			}
		}
		if ref := in.LaunchTemplate; ref != nil {
			lt, ok := r.LaunchTemplateByRef(*ref)
			switch {
			case !ok:
				p.add("%s: launchTemplate: the Region has no template %s (to describe a deleted one, set the %s and %s tags instead)", where, refName(*ref), TagLaunchTemplateID, TagLaunchTemplateVersion)
			case !versionNumberRe.MatchString(ref.Version):
				p.add("%s: launchTemplate: version %q: want the number of the version the instance was launched from", where, ref.Version)
			default:
				if _, ok := lt.Version(ref.Version); !ok {
					p.add("%s: launchTemplate: template %s has no version %s", where, lt.ID, ref.Version)
				}
			}
		}
	}
}

func refName(ref LaunchTemplateRef) string {
	if ref.ID != "" {
		return ref.ID
	}
	return strconv.Quote(ref.Name)
}

// validateRef checks a template reference's form. It may name a template
// or version the Region does not hold (deleted since); when the template
// is there, an id and a name must agree.
func validateRef(p *problems, where string, ref LaunchTemplateRef, r *Region) {
	if ref.ID == "" && ref.Name == "" {
		p.add("%s: want an id or a name", where)
		return
	}
	if ref.ID != "" && !launchTemplateIDRe.MatchString(ref.ID) {
		p.add("%s: id %q: want lt- followed by 17 hex digits", where, ref.ID)
	}
	if ref.Version != "" && ref.Version != VersionLatest && ref.Version != VersionDefault && !versionNumberRe.MatchString(ref.Version) {
		p.add("%s: version %q: want $Latest, $Default or a version number", where, ref.Version)
	}
	if ref.ID != "" && ref.Name != "" {
		if lt, ok := r.LaunchTemplateByRef(LaunchTemplateRef{ID: ref.ID}); ok && lt.Name != ref.Name {
			p.add("%s: id %s names template %q, not %q", where, ref.ID, lt.Name, ref.Name)
		}
	}
}

func validateLaunchOptions(p *problems, where string, m *LaunchMetadataOptions) {
	validateOptions(p, where, MetadataOptions{
		HttpTokens: m.HttpTokens, HttpEndpoint: m.HttpEndpoint, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
		HttpProtocolIpv6: m.HttpProtocolIpv6, InstanceMetadataTags: m.InstanceMetadataTags,
	})
}
