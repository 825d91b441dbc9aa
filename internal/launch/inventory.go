// Package launch works out what the next instance launched from each
// launch source would get (the "next launch"), where each live instance
// came from, and how instances group into workloads.
//
// It is pure logic over plain values: the scanner's collectors fill an
// [Inventory] per (account, Region) target from what EC2 and Auto Scaling
// answer, and [Resolve] turns it, with the target's instances, into the
// report's account defaults, launch sources and each instance's
// launchSource and nextLaunch; [Workloads] then groups the judged
// instances. It makes no AWS call, does not import the SDK and prints
// nothing. The precedence rules it applies, with their sources, are in
// docs/next-launch.md.
package launch

// The inventory contract, for the collectors that fill it:
//
//   - Strings are EC2's own values ("optional", "required", "enabled",
//     "v2.0", "$Latest"...). An unset field is "" (a hop limit 0): the
//     collector does not invent values, and maps AWS's "no preference"
//     ("no-preference", hop limit -1) to unset too (Resolve also accepts
//     them as given).
//   - A read that failed is recorded in Failures and nothing is made up
//     for it: an empty Groups list with no failure means the target has
//     no groups. Resolve turns every next launch that needed a failed
//     read into "unresolved", naming the read and its permission.
//   - Lists need no order; Resolve sorts what it writes.

// Inventory is what a scan read about the launch sources of one (account,
// Region) target.
type Inventory struct {
	Account string
	Region  string
	// Defaults are the account's instance metadata defaults in the
	// Region (GetInstanceMetadataDefaults); nil when the read failed
	// (see Failures). A Region with no defaults set has a non-nil zero
	// value.
	Defaults *AccountDefaults
	// Templates holds launch template versions: every template's
	// $Default and $Latest (one entry when they are the same version,
	// with both flags set), and every numbered version a group or an
	// instance's aws:ec2launchtemplate:version tag names. A version named
	// that way but absent here is taken as deleted, so the collector must
	// ask for each one (a version that does not exist is simply left
	// out). A template absent altogether is taken as deleted.
	Templates []TemplateVersion
	// Groups are the Auto Scaling groups (DescribeAutoScalingGroups).
	Groups []Group
	// LaunchConfigs are the launch configurations
	// (DescribeLaunchConfigurations).
	LaunchConfigs []LaunchConfig
	// Images are the AMIs the templates, configurations and instances
	// name (DescribeImages by id). An AMI that was asked for and not
	// returned is recorded with Missing set; one not recorded at all was
	// not asked for (or its read failed).
	Images []Image
	// Failures are the reads that failed.
	Failures []ReadFailure
}

// Options are instance metadata options as a launch template version or
// a launch configuration holds them: every field may be unset.
type Options struct {
	HttpTokens              string // "optional", "required" or ""
	HttpPutResponseHopLimit int32  // 1..64, or 0 when unset
	HttpEndpoint            string // "enabled", "disabled" or ""
	HttpProtocolIpv6        string
	InstanceMetadataTags    string
}

// AccountDefaults are GetInstanceMetadataDefaults' accountLevel.
type AccountDefaults struct {
	HttpTokens              string // "optional", "required", or "" (no preference)
	HttpPutResponseHopLimit int32  // 1..64, or 0 (no preference)
	HttpEndpoint            string // "enabled", "disabled", or ""
	InstanceMetadataTags    string // "enabled", "disabled", or ""
	// HttpTokensEnforced "enabled" makes EC2 refuse any launch that would
	// end with tokens optional.
	HttpTokensEnforced string // "enabled", "disabled", or ""
	// ManagedBy is "account" or "declarative-policy" ("" reads as
	// account).
	ManagedBy               string
	ManagedExceptionMessage string
}

// TemplateVersion is one launch template version
// (DescribeLaunchTemplateVersions).
type TemplateVersion struct {
	TemplateID   string // lt-...
	TemplateName string
	Version      int64
	// Default and Latest say whether this is the template's $Default or
	// $Latest version.
	Default bool
	Latest  bool
	// MetadataOptions are LaunchTemplateData.MetadataOptions; the zero
	// value when the version has none.
	MetadataOptions Options
	// ImageID is LaunchTemplateData.ImageId: "" when the version names
	// none, "resolve:ssm:..." when it names an SSM parameter.
	ImageID string
}

// TemplateRef names a launch template the way Auto Scaling does: by ID or
// by name, with a version "$Latest", "$Default", a number, or "" (which
// Auto Scaling reads as $Default).
type TemplateRef struct {
	ID      string
	Name    string
	Version string
}

// Group is an Auto Scaling group. It launches from exactly one of
// LaunchTemplate, MixedInstancesPolicy and LaunchConfigurationName (all
// empty: the group names no source, which Resolve reports).
type Group struct {
	Name                    string
	LaunchTemplate          *TemplateRef
	MixedInstancesPolicy    *MixedInstancesPolicy
	LaunchConfigurationName string
}

// MixedInstancesPolicy is a group's MixedInstancesPolicy.LaunchTemplate.
type MixedInstancesPolicy struct {
	// LaunchTemplate is the LaunchTemplateSpecification.
	LaunchTemplate TemplateRef
	Overrides      []Override
}

// Override is one MixedInstancesPolicy override.
type Override struct {
	InstanceType string
	// LaunchTemplate is the override's own LaunchTemplateSpecification;
	// nil when it uses the policy's.
	LaunchTemplate *TemplateRef
}

// LaunchConfig is a launch configuration.
type LaunchConfig struct {
	Name            string
	MetadataOptions Options
	ImageID         string
}

// Image is an AMI asked for by id.
type Image struct {
	ID string
	// ImdsSupport is "v2.0" or "".
	ImdsSupport string
	// Missing: DescribeImages did not return it (deregistered, or not
	// shared with the account any more).
	Missing bool
}

// Read is one kind of launch-source read.
type Read string

// The launch-source reads of a target.
const (
	ReadDefaults         Read = "GetInstanceMetadataDefaults"
	ReadTemplateVersions Read = "DescribeLaunchTemplateVersions"
	ReadTemplates        Read = "DescribeLaunchTemplates"
	ReadGroups           Read = "DescribeAutoScalingGroups"
	ReadLaunchConfigs    Read = "DescribeLaunchConfigurations"
	ReadImages           Read = "DescribeImages"
)

// Reads lists every launch-source read.
var Reads = []Read{ReadDefaults, ReadTemplateVersions, ReadTemplates, ReadGroups, ReadLaunchConfigs, ReadImages}

// Permission is the IAM action the read needs.
func (r Read) Permission() string {
	switch r {
	case ReadGroups, ReadLaunchConfigs:
		return "autoscaling:" + string(r)
	}
	return "ec2:" + string(r)
}

// ReadFailure is a launch-source read that failed for the target.
type ReadFailure struct {
	Read Read
	// Permission is the IAM action it needs; "" means Read.Permission().
	Permission string
	// Err is the error's message (already explained for a user).
	Err string
}

func (f ReadFailure) permission() string {
	if f.Permission != "" {
		return f.Permission
	}
	return f.Read.Permission()
}
