package guardrails

import "time"

// Evidence is what a scan report says, in the terms the guardrails need.
// Package report fills it from a report (report.GuardrailEvidence); a
// field the report does not carry is left empty and its Has* flag false,
// so that readiness says "unknown" instead of reading absence as "none".
type Evidence struct {
	GeneratedAt time.Time
	WindowStart time.Time
	WindowEnd   time.Time
	// OldestEnd, for a report merged from several scans, is the end of
	// the oldest one's window (zero otherwise): the report is as old as
	// its oldest part, whatever the window it spans.
	OldestEnd time.Time
	Targets   []Target
	Instances []Instance

	// HasLaunchSources says whether the report read launch sources (launch
	// templates, launch configurations, Auto Scaling groups) at all;
	// LaunchSources lists those whose next launch is known.
	HasLaunchSources bool
	LaunchSources    []LaunchSource

	// HasAccountDefaults says whether the report read the account-level
	// instance metadata defaults of each Region.
	HasAccountDefaults bool
	AccountDefaults    []AccountDefault

	// SkippedAccounts are accounts the scan found or was given but did not
	// scan (not ACTIVE, or excluded): they cannot be judged.
	SkippedAccounts []SkippedAccount

	// Partial names what makes the report a partial view of its
	// targets (a scan that listed only the instances matching
	// --filter-tag): each is a gap of every guardrail in every scope.
	Partial []string

	// HasSelection says whether the report records what the scan was
	// asked to cover. Then RegionsNotScanned lists, per account, the
	// enabled Regions it was not scanned in (RegionsLimit says how the
	// scan was limited, e.g. "--regions us-east-1"), and NotSelected says
	// why an account the organization lists is not in the report (another
	// shard's). Without it, a Region scanned in some account but missing
	// in another is taken as a gap, and account and OU scopes are never
	// safe unless Params.ExpectRegions names the Regions to expect.
	HasSelection      bool
	RegionsNotScanned map[string][]string
	RegionsLimit      string
	NotSelected       map[string]string

	// HasOUs says whether the report knows the organizational units;
	// OUs lists each unit with the accounts directly in it.
	HasOUs bool
	OUs    []OU
	// UnplacedAccounts are accounts of the organization that no unit
	// held when the scan walked it (they moved during the walk): which
	// unit holds each is not known, so every unit's membership, the
	// roots' included, is uncertain.
	UnplacedAccounts []UnplacedAccount
}

// UnplacedAccount is an account no unit of the report's organization
// holds, and why.
type UnplacedAccount struct {
	Account, Reason string
}

// Target status values (see [Target]).
const (
	TargetOK      = "ok"
	TargetFailed  = "error"
	TargetSkipped = "skipped"
)

// Target is one (account, Region) the scan tried.
type Target struct {
	Account, Region string
	Status          string // TargetOK, TargetFailed or TargetSkipped
	Error           string // why it failed or was skipped
	// LaunchErrors are launch-source reads that failed there (each one
	// line naming the read and the permission it needs): the launch
	// guardrails cannot be safe there.
	LaunchErrors []string
}

// Instance is one live instance with what the guardrails need to know of
// it.
type Instance struct {
	Account, Region, ID, Name string
	// TokensOptional: the endpoint is enabled and HttpTokens is optional.
	TokensOptional bool
	// V1InUse: IMDSv1 calls were seen in the window (classification
	// v1-in-use); NoData: tokens optional without enough evidence either
	// way (no-data).
	V1InUse, NoData bool
	// V1Calls is the number of IMDSv1 calls in the window.
	V1Calls float64
	// V1Rejected: IMDSv1 calls are being rejected (risk v1-rejected).
	V1Rejected bool
	// InstanceProfile: a role is attached, so its credentials can be read
	// over IMDS.
	InstanceProfile bool
	Tags            map[string]string
	// UsageUnread, when set, says why the instance's IMDSv1 usage over
	// the window was not (fully) read from CloudWatch: calls that are
	// not counted cannot be told from no calls, so the guardrails that
	// rest on them cannot be safe here.
	UsageUnread string
	// UnknownLauncher, when set, names the launcher of an instance that
	// allows IMDSv1 whose next launch is not known (Karpenter, EKS Auto
	// Mode, launched by hand, a source that cannot be resolved): what it
	// launches next cannot be told.
	UnknownLauncher string
}

// Launch source kinds (see [LaunchSource]).
const (
	SourceLaunchTemplate      = "launch-template"
	SourceLaunchConfiguration = "launch-configuration"
	SourceAutoScalingGroup    = "auto-scaling-group"
)

// Token layers: which layer of the launch precedence decided HttpTokens
// for a source's next launch (docs/next-launch.md).
const (
	LayerSource         = "source"          // the launch template or configuration sets it
	LayerAccountDefault = "account-default" // the Region's account default
	LayerAMI            = "ami"             // the AMI's ImdsSupport v2.0
	LayerBuiltIn        = "built-in"        // EC2's own default (optional)
)

// LaunchSource is a launch template version, launch configuration or Auto
// Scaling group and what its next instance would get.
type LaunchSource struct {
	Kind            string // one of the Source* kinds
	ID, Name        string
	Account, Region string
	// Unresolved: the next launch cannot be told (a missing version or
	// AMI); Reason says why.
	Unresolved bool
	Reason     string
	// AllowsV1: the next instance would have HttpTokens optional (the
	// SCP's condition sees that whether or not the endpoint is enabled).
	AllowsV1 bool
	// Fails: the next launch already fails (HttpTokensEnforced in the
	// Region and tokens optional).
	Fails bool
	// TokensLayer is the layer that decided HttpTokens (Layer*).
	TokensLayer string
	// HopLimit is the next instance's hop limit (0 when unknown).
	HopLimit int
	// Instances counts the live instances launched from it.
	Instances int
}

// AccountDefault is one Region's account-level instance metadata defaults.
type AccountDefault struct {
	Account, Region string
	HttpTokens      string // optional, required, or "" for no preference
	TokensEnforced  bool   // HttpTokensEnforced=enabled
	ManagedBy       string // account or declarative-policy
}

// SkippedAccount is an account that was not scanned, and why.
type SkippedAccount struct {
	Account, Reason string
}

// OU is one organizational unit: its id, name, parent and the accounts
// directly in it. Readiness for an OU covers its accounts and those of
// every unit below it.
type OU struct {
	ID, Name, Parent string
	Accounts         []string
	// Skipped, when set, says why the unit was not fully read (deleted
	// or changed while the scan walked the organization): the unit and
	// every unit above it are unknown.
	Skipped string
}
