package report

// This file holds the schema of the launch sources (schema version 2): the
// account defaults of each target, every launch source the scan read with
// the setting the next instance from it would get, the workloads, and the
// launch source and next launch of each instance. Package
// internal/launch computes these values from what the scanner collected;
// this package only holds, reads, checks and writes them.

// Layers that can decide a next-launch setting, from the highest
// precedence down (see docs/next-launch.md). A field a layer leaves unset
// is decided by the next one.
const (
	LayerLaunchTemplate      = "launch-template"      // the launch template version's MetadataOptions
	LayerLaunchConfiguration = "launch-configuration" // the launch configuration's MetadataOptions
	LayerDeclarativePolicy   = "declarative-policy"   // account defaults set by an Organizations declarative policy
	LayerAccountDefault      = "account-default"      // account defaults set in the account (ModifyInstanceMetadataDefaults)
	LayerAMI                 = "ami"                  // the AMI's ImdsSupport v2.0: tokens required, hop limit 2
	LayerBuiltIn             = "built-in"             // EC2's own defaults: tokens optional, hop limit 1, endpoint enabled
)

// NextLaunch status values.
const (
	// NextLaunchResolved: every field is known.
	NextLaunchResolved = "resolved"
	// NextLaunchUnresolved: at least one field could not be resolved
	// (see Reason); the known fields are still given.
	NextLaunchUnresolved = "unresolved"
	// NextLaunchFails: the Region enforces IMDSv2 at launch
	// (HttpTokensEnforced=enabled) and the launch would end with tokens
	// optional, so EC2 refuses it: the source cannot launch at all.
	NextLaunchFails = "launch-fails"
)

// NextLaunch is what the next instance launched from a source would get:
// each of the three settings that decide IMDSv1 exposure, with the layer
// that decided it.
//
// A field that could not be resolved is empty ("" or 0) with an empty
// From; Status is then NextLaunchUnresolved and Reason says why (a
// template version that does not exist, a deleted AMI, a read that
// failed...). imdsfleet never guesses a value.
type NextLaunch struct {
	Status string `json:"status"`
	// HttpTokens is "optional" or "required".
	HttpTokens     string `json:"httpTokens"`
	HttpTokensFrom string `json:"httpTokensFrom"`
	// HttpPutResponseHopLimit is 1 to 64.
	HttpPutResponseHopLimit     int32  `json:"httpPutResponseHopLimit"`
	HttpPutResponseHopLimitFrom string `json:"httpPutResponseHopLimitFrom"`
	// HttpEndpoint is "enabled" or "disabled".
	HttpEndpoint     string `json:"httpEndpoint"`
	HttpEndpointFrom string `json:"httpEndpointFrom"`
	// Reason explains an unresolved or failing launch, and notes what a
	// reader needs to act (for example that the account defaults are
	// managed by a declarative policy). Plain text from imdsfleet, but it
	// quotes names from the fleet: sanitize it for display.
	Reason string `json:"reason,omitempty"`
}

// AllowsV1 reports whether the next launch is known to allow IMDSv1: it
// succeeds, its endpoint is enabled and its tokens are optional.
func (n *NextLaunch) AllowsV1() bool {
	return n != nil && n.Status != NextLaunchFails && n.HttpTokens == "optional" && n.HttpEndpoint == "enabled"
}

// Fails reports whether the next launch is refused by EC2 (see
// [NextLaunchFails]).
func (n *NextLaunch) Fails() bool { return n != nil && n.Status == NextLaunchFails }

// Launch source kinds: what [LaunchSource.Kind] and
// [InstanceLaunchSource.Kind] hold.
const (
	SourceAutoScalingGroup    = "auto-scaling-group"
	SourceLaunchTemplate      = "launch-template"
	SourceLaunchConfiguration = "launch-configuration"
	SourceAccountDefault      = "account-default"
	// The kinds below occur on instances only: launchers imdsfleet
	// cannot read the settings of through the EC2 and Auto Scaling APIs.
	SourceKarpenter   = "karpenter"     // karpenter.sh/nodepool (its EC2NodeClass decides; a template tag is evidence)
	SourceEKSAutoMode = "eks-auto-mode" // eks:kubernetes-node-pool-name
	SourceManual      = "manual"        // no tag of any launcher: launched by hand or by a tool that leaves none
)

// KarpenterTemplatePrefix begins the name of every launch template
// Karpenter writes from an EC2NodeClass ("karpenter.k8s.aws/<hash>", see
// docs/next-launch.md).
const KarpenterTemplatePrefix = "karpenter.k8s.aws/"

// AccountDefaults are the instance metadata defaults of one (account,
// Region), as GetInstanceMetadataDefaults answers them. An empty string
// (or a zero hop limit) is "no preference": the field is left to the
// layers below.
type AccountDefaults struct {
	Account                 string `json:"account"`
	Region                  string `json:"region"`
	HttpTokens              string `json:"httpTokens"`
	HttpPutResponseHopLimit int32  `json:"httpPutResponseHopLimit"`
	HttpEndpoint            string `json:"httpEndpoint"`
	InstanceMetadataTags    string `json:"instanceMetadataTags"`
	// HttpTokensEnforced "enabled" makes EC2 refuse every launch that
	// would end with tokens optional.
	HttpTokensEnforced string `json:"httpTokensEnforced"`
	// ManagedBy is "account" or "declarative-policy" (then the account
	// cannot change the defaults; the policy's owner must).
	ManagedBy               string `json:"managedBy"`
	ManagedExceptionMessage string `json:"managedExceptionMessage"`
}

// LaunchSource is one thing that launches instances in one (account,
// Region) target: a launch template version, a launch configuration, an
// Auto Scaling group or the account defaults, with the setting its next
// instance would get and who uses it.
type LaunchSource struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// ID identifies the source within its target; instances point at it
	// (InstanceLaunchSource.SourceID). Forms: "launch-template/lt-0abc/3",
	// "launch-configuration/NAME", "auto-scaling-group/NAME",
	// "account-default".
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Name is the template's name, the configuration's or the group's.
	Name string `json:"name"`
	// Template fields (kind launch-template).
	TemplateID string `json:"templateId,omitempty"`
	Version    int64  `json:"version,omitempty"`
	IsDefault  bool   `json:"isDefault,omitempty"`
	IsLatest   bool   `json:"isLatest,omitempty"`
	// ImageID is the AMI the template version or configuration names
	// ("" if none; "resolve:ssm:..." when it names an SSM parameter).
	ImageID string `json:"imageId,omitempty"`
	// Uses lists the sources this one launches through (a group: the
	// template versions or the configuration it launches from), by ID.
	Uses []string `json:"uses,omitempty"`
	// TemplateRefs are the launch templates a group names, as it names
	// them (kind auto-scaling-group): remediation needs to know whether a
	// group follows $Default, $Latest or a version number. Reports
	// written before imdsfleet recorded them lack it.
	TemplateRefs []TemplateRef `json:"templateRefs,omitempty"`
	NextLaunch   NextLaunch    `json:"nextLaunch"`
	// Groups are the Auto Scaling groups that launch from this source,
	// by name (template versions and configurations).
	Groups []string `json:"groups"`
	// Instances are the live instances that came from this source
	// (directly, or through a group that uses it), by ID, sorted.
	Instances []string `json:"instances"`
	// UsersUnknown, when set, says why Groups and Instances may be
	// incomplete: a read they depend on failed (Auto Scaling groups
	// denied, say), so they list only the users that are known, and "0"
	// would be a guess. Empty: the lists are complete.
	UsersUnknown string `json:"usersUnknown,omitempty"`
}

// How a group names a launch template ([TemplateRef.Via]).
const (
	ViaLaunchTemplate = "launch-template"        // the group's LaunchTemplate
	ViaMixedPolicy    = "mixed-instances-policy" // its MixedInstancesPolicy's LaunchTemplateSpecification
	ViaOverride       = "override"               // an override's own LaunchTemplateSpecification
)

// TemplateRef is one launch template reference of an Auto Scaling group.
type TemplateRef struct {
	Via          string `json:"via"`
	TemplateID   string `json:"templateId,omitempty"`
	TemplateName string `json:"templateName,omitempty"`
	// Version is as the group gives it: "$Default", "$Latest", a number,
	// or "" (which Auto Scaling reads as $Default).
	Version string `json:"version"`
	// SourceID is the template version it resolved to ("" when it did
	// not resolve).
	SourceID string `json:"sourceId,omitempty"`
}

// FollowsDefault reports whether the reference follows the template's
// default version.
func (t TemplateRef) FollowsDefault() bool { return t.Version == "" || t.Version == "$Default" }

// ToFix reports whether the source is one to fix: its next launch would
// allow IMDSv1, or would fail.
func (s *LaunchSource) ToFix() bool { return s.NextLaunch.AllowsV1() || s.NextLaunch.Fails() }

// InstanceLaunchSource is where a live instance came from, read from the
// tags EC2, Auto Scaling, EKS and Karpenter put on it.
type InstanceLaunchSource struct {
	// Kind is one of the Source* values.
	Kind string `json:"kind"`
	// SourceID is the ID of the [LaunchSource] (same account and Region)
	// that decides the next launch; "" when there is none (manual,
	// Karpenter without a template, a group the scan did not find).
	SourceID string `json:"sourceId,omitempty"`
	// Name is the group's name, "lt-0abc:3" for a template, the node
	// pool for Karpenter and EKS Auto Mode.
	Name string `json:"name"`
	// The tags that name a higher-level owner, when present.
	AutoScalingGroup string `json:"autoScalingGroup,omitempty"` // aws:autoscaling:groupName
	TemplateID       string `json:"launchTemplateId,omitempty"` // aws:ec2launchtemplate:id
	TemplateVersion  string `json:"launchTemplateVersion,omitempty"`
	EKSCluster       string `json:"eksCluster,omitempty"`                  // eks:cluster-name or eks:eks-cluster-name
	EKSNodegroup     string `json:"eksNodegroup,omitempty"`                // eks:nodegroup-name
	KarpenterPool    string `json:"karpenterNodePool,omitempty"`           // karpenter.sh/nodepool, or eks:kubernetes-node-pool-name
	KarpenterClass   string `json:"karpenterNodeClass,omitempty"`          // karpenter.k8s.aws/ec2nodeclass
	Beanstalk        string `json:"elasticBeanstalkEnvironment,omitempty"` // elasticbeanstalk:environment-name
	FleetID          string `json:"fleetId,omitempty"`                     // aws:ec2:fleet-id
}

// Workload kinds, in the order instances are grouped: an instance belongs
// to the first that applies.
const (
	WorkloadAutoScalingGroup = "auto-scaling-group"
	WorkloadEKSNodegroup     = "eks-nodegroup"
	WorkloadKarpenter        = "karpenter-nodepool"
	WorkloadLaunchTemplate   = "launch-template"
	WorkloadTag              = "tag"       // the value of a --group-by tag
	WorkloadUnmanaged        = "unmanaged" // none of the above
)

// Plan steps: the one next step a workload's recommendation names, in the
// order a migration takes them.
const (
	// StepFixSource: the launch source would launch instances that allow
	// IMDSv1 (or cannot launch): fix it first, or every fix of an
	// instance is undone at its replacement.
	StepFixSource = "fix-source"
	// StepEnforceReady: instances with no v1 calls over enough observed
	// days can be enforced now.
	StepEnforceReady = "enforce-ready"
	// StepFindCallers: instances still make v1 calls: find and update the
	// software first.
	StepFindCallers = "find-v1-callers"
	// StepGatherEvidence: too few observed days to decide.
	StepGatherEvidence = "gather-evidence"
	// StepCheckSource: every instance is done, but the next launch of
	// the workload's source could not be worked out: a replacement may
	// still allow IMDSv1, so the source needs a look by hand.
	StepCheckSource = "check-source"
	// StepDone: nothing to do.
	StepDone = "done"
)

// PlanSteps lists every plan step in plan order.
var PlanSteps = []string{StepFixSource, StepEnforceReady, StepFindCallers, StepGatherEvidence, StepCheckSource, StepDone}

// Workload is a group of instances that are managed together, within one
// (account, Region): see the Workload* kinds for how instances are
// grouped.
type Workload struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// ID is unique within the report: KIND/ACCOUNT/REGION/NAME.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Name is the group, node group, node pool or template ID; for kind
	// tag "KEY=VALUE"; for kind unmanaged "unmanaged".
	Name             string         `json:"name"`
	Instances        int            `json:"instances"`
	ByClassification map[string]int `json:"byClassification"`
	ByRisk           map[string]int `json:"byRisk"`
	// SourceIDs are the launch sources its instances came from (IDs of
	// LaunchSources, sorted); NextLaunch is theirs when they are one, the
	// worst of them otherwise (see internal/launch), nil when none is
	// known.
	SourceIDs  []string    `json:"sourceIds"`
	NextLaunch *NextLaunch `json:"nextLaunch"`
	// Owner is the most common value among its instances of the first
	// --owner-tag each carries; OwnerTag is that tag's key.
	Owner    string `json:"owner"`
	OwnerTag string `json:"ownerTag"`
	// Step is the next step of its plan (a Step* value) and
	// Recommendation says it in one sentence.
	Step           string `json:"step"`
	Recommendation string `json:"recommendation"`
}

// LaunchReadError is a launch-source read that failed for a target: the
// scan is incomplete, and every next launch that needed what it would
// have read is unresolved.
type LaunchReadError struct {
	// Read is the API call, e.g. "DescribeAutoScalingGroups".
	Read string `json:"read"`
	// Permission is the IAM action it needs, e.g.
	// "autoscaling:DescribeAutoScalingGroups".
	Permission string `json:"permission"`
	Error      string `json:"error"`
}
