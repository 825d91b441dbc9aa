// Package report owns the scan report: its schema and the readers and
// writers of every report format (JSON, CSV, Markdown, a terminal table,
// HTML).
//
// The scanner fills a [Report]; remediate reads one back with [Read]. This
// package performs no AWS calls, does not import the AWS SDK (package
// internal/imdsopts converts what EC2 returns) and prints nothing on its
// own: writers take an io.Writer.
package report

import (
	"time"
)

// SchemaVersion is the version of the JSON report this package writes.
// Bump it on any change an older reader would misread: [Read] refuses
// versions it does not know.
//
// Version 2 added the launch sources (accountDefaults, launchSources,
// workloads, each instance's launchSource and nextLaunch, the risk
// next-launch-v1, each target's launchErrors). A version 1 reader would
// have read a version 2 report without them and with a risk it rejects.
const SchemaVersion = 2

// SchemaVersionsRead lists every schema version [Read] accepts: version 1
// reports (no launch sources) still read, with those fields empty.
var SchemaVersionsRead = []int{1, 2}

// Classification values, in the order the classification rules are applied.
const (
	ClassDisabled = "disabled"  // HttpEndpoint=disabled
	ClassEnforced = "enforced"  // HttpTokens=required
	ClassV1InUse  = "v1-in-use" // tokens optional and MetadataNoToken > 0
	ClassReady    = "ready"     // tokens optional, no v1 calls, enough observed days
	ClassNoData   = "no-data"   // tokens optional, not enough evidence
)

// Classifications lists every classification in display order.
var Classifications = []string{ClassV1InUse, ClassNoData, ClassReady, ClassEnforced, ClassDisabled}

// Risk values.
const (
	RiskContainerHopLimit = "container-hop-limit"
	RiskRoleExposed       = "role-exposed"
	RiskV1Rejected        = "v1-rejected"
	// RiskNextLaunchV1: the instance's launch source would launch its
	// replacement with IMDSv1 allowed (its nextLaunch allows v1), so
	// fixing the instance alone does not last. Schema version 2.
	RiskNextLaunchV1 = "next-launch-v1"
)

// Risks lists every risk in display order.
var Risks = []string{RiskContainerHopLimit, RiskRoleExposed, RiskV1Rejected, RiskNextLaunchV1}

// Usage status values.
const (
	UsageComplete = "complete" // every bucket of the window was read
	UsagePartial  = "partial"  // CloudWatch answered PartialData for part of the window
	UsageNone     = "none"     // no query was made (endpoint disabled)
	UsageError    = "error"    // the metric could not be read; see Usage.Error
)

// Target status values.
const (
	TargetOK    = "ok"
	TargetError = "error"
	// TargetSkipped is a Region not enabled for the account: nothing was
	// scanned there and nothing is missing (Error says why it was skipped).
	TargetSkipped = "skipped"
)

// Report is one scan of one or more (account, Region) targets.
type Report struct {
	SchemaVersion int       `json:"schemaVersion"`
	Tool          Tool      `json:"tool"`
	GeneratedAt   time.Time `json:"generatedAt"`
	Window        Window    `json:"window"`
	// ScanOptions are the options the classifications depend on, so that
	// a reader (remediate) can recompute every verdict from the report's
	// own evidence. Reports written before imdsfleet recorded them lack it
	// (nil); remediate refuses those.
	ScanOptions *ScanOptions `json:"scanOptions,omitempty"`
	// Shard is the part of the accounts this scan covered (scan --shard
	// I/N); nil when it covered every account, and on a merged report
	// (MergedFrom lists the shards it joined).
	Shard *Shard `json:"shard,omitempty"`
	// MergedFrom lists the reports `imdsfleet report merge` joined into
	// this one (see [Merge]); empty for a report a scan wrote.
	MergedFrom []MergeSource `json:"mergedFrom,omitempty"`
	// SkippedAccounts are accounts the scan found (--org, --ou) or was
	// given but did not scan: not ACTIVE in the organization, or excluded
	// with --exclude-accounts. Sorted by account id.
	SkippedAccounts []SkippedAccount `json:"skippedAccounts,omitempty"`
	// Partition is the caller's ARN partition (aws, aws-us-gov, aws-cn);
	// "" in reports written before imdsfleet recorded it.
	Partition string `json:"partition,omitempty"`
	// Organization is the organization's structure as scan --org or --ou
	// walked it; nil for other scans and older reports.
	Organization *Organization `json:"organization,omitempty"`
	Targets      []Target      `json:"targets"`
	Summary      Summary       `json:"summary"`
	// AccountDefaults, LaunchSources and Workloads (schema version 2) are
	// sorted by account, Region and ID; see [LaunchSource] and [Workload].
	// A scan that did not read launch sources (or a version 1 report)
	// has no account defaults or launch sources, and still has workloads.
	AccountDefaults []AccountDefaults `json:"accountDefaults"`
	LaunchSources   []LaunchSource    `json:"launchSources"`
	Workloads       []Workload        `json:"workloads"`
	// Instances must stay the last field: WriteJSON streams it.
	Instances []Instance `json:"instances"`

	// packed holds the four lists above instead of their slices when the
	// scanner packed them (see [Packed]); nil otherwise.
	packed *Packed
}

// Organization is the part of an AWS Organization a scan walked: with
// --org every root and organizational unit, with --ou each given unit and
// every unit below it.
type Organization struct {
	// ID is the organization's id (o-…) and ManagementAccount its
	// management account's id, both read from the ARNs of the roots, OUs
	// and accounts the walk listed (an Organizations ARN is
	// arn:PARTITION:organizations::MANAGEMENT-ACCOUNT:TYPE/ORG-ID/…); ""
	// in reports written before imdsfleet recorded them. Merge refuses
	// reports of two organizations.
	ID                string `json:"id,omitempty"`
	ManagementAccount string `json:"managementAccount,omitempty"`
	// Units are the roots and OUs, sorted by id.
	Units []OrgUnit `json:"units"`
	// Unplaced (--org only) are accounts that ListAccounts, called after
	// the walk, listed but that no unit of the walk held: they moved
	// during the walk from a unit not yet read into one already read. They
	// are scanned like the others, but which unit holds them is not known,
	// so no unit's membership is complete. Sorted by id.
	Unplaced []UnplacedAccount `json:"unplaced,omitempty"`
	// Notes say what else the cross-check with ListAccounts found: an
	// account the walk listed that ListAccounts did not (it left the
	// organization during the scan; it is kept in the report).
	Notes []string `json:"notes,omitempty"`
}

// UnplacedAccount is an account of the organization that the walk found
// in no unit, and why.
type UnplacedAccount struct {
	ID string `json:"id"`
	// Name is the account's name as ListAccounts gave it ("" when not
	// known, and in reports written before imdsfleet recorded it).
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// UnplacedReason is the reason recorded for an account ListAccounts lists
// but no unit of the walk held.
const UnplacedReason = "moved during the walk: its unit is not known (ListAccounts lists it, but no unit held it when read); re-scan"

// OrgUnit is a root or an organizational unit and the accounts directly
// in it (every state, scanned or not), as ListAccountsForParent lists
// them. A unit covers its accounts and those of every unit below it.
type OrgUnit struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// ParentID is the id of the root or OU it sits in: "" for a root and
	// for a unit given with --ou (whose parent the scan did not read).
	ParentID string   `json:"parentId,omitempty"`
	Accounts []string `json:"accounts"`
	// Skipped, when set, says why the unit was not (fully) read: it was
	// deleted while the organization was walked (ParentNotFoundException),
	// or an account was listed both here and in another unit (it moved
	// during the walk). Its accounts and the units below it may be
	// missing, so nothing about it is complete.
	Skipped string `json:"skipped,omitempty"`
}

// Shard is one of Count disjoint parts of the accounts (1 <= Index <=
// Count): the accounts whose id hashes to Index (see scanner.ShardOf).
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// SkippedAccount is an account that was not scanned, and why.
type SkippedAccount struct {
	Account string `json:"account"`
	// Name is the account's name in the organization ("" when not known).
	Name string `json:"name"`
	// State is the account's Organizations state (ACTIVE, SUSPENDED,
	// PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION; "" when not known).
	State string `json:"state"`
	// Reason says why it was skipped, in words.
	Reason string `json:"reason"`
}

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Window is the CloudWatch lookback window the usage figures cover.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// ScanOptions record the scan options an instance's classification and
// risks were drawn from.
type ScanOptions struct {
	// MinObservedDays is the number of observed days "ready" needed in
	// this scan: --min-observed-days capped at the lookback's days, at
	// least 1.
	MinObservedDays int `json:"minObservedDays"`
	// ContainerTags are every tag matcher that marked a container host
	// (the built-in ones and each --container-tag), in --container-tag
	// form: KEY, KEY=VALUE, or a KEY ending in "*" for a prefix.
	ContainerTags []string `json:"containerTags"`
	// LaunchSources is true when the scan read the launch sources (no
	// --no-launch-sources): only then do instances carry a nextLaunch.
	LaunchSources bool `json:"launchSources,omitempty"`
	// GroupBy are the --group-by tag keys and OwnerTags the --owner-tag
	// keys the workloads were drawn with, in flag order.
	GroupBy   []string `json:"groupBy,omitempty"`
	OwnerTags []string `json:"ownerTags,omitempty"`
	// FilterTags are the --filter-tag filters the scan listed instances
	// with (sorted by key, values sorted): an instance they do not match
	// was never listed, so its absence says nothing. Empty: every
	// instance was listed.
	FilterTags []TagFilter `json:"filterTags,omitempty"`
	// Selection is what the scan was asked to cover (Regions and
	// accounts), so that a reader can tell a Region or an account that
	// was never asked for from one that has nothing in it. Nil in reports
	// written before imdsfleet recorded it.
	Selection *Selection `json:"selection,omitempty"`
}

// Selection records the targets a scan was asked for: --regions, and the
// accounts (--org, --ou, --accounts and --assume-role, --exclude-accounts,
// --shard). See [Merge] for how merged reports combine them.
type Selection struct {
	// Regions are the --regions names, sorted; empty: every Region
	// enabled for each account.
	Regions []string `json:"regions,omitempty"`
	// RegionsNotScanned lists, per account scanned, the Regions enabled
	// for it (DescribeRegions) that the scan did not cover because
	// --regions left them out. Sorted by account; empty when every
	// enabled Region was scanned.
	RegionsNotScanned []AccountRegions `json:"regionsNotScanned,omitempty"`
	// Org is true for scan --org; OUs are the --ou ids, sorted.
	Org bool     `json:"org,omitempty"`
	OUs []string `json:"ous,omitempty"`
	// Accounts are the accounts named on the command line besides the
	// caller's (--accounts, and the accounts of --assume-role ARNs), sorted.
	Accounts []string `json:"accounts,omitempty"`
	// ExcludeAccounts are the --exclude-accounts ids, sorted.
	ExcludeAccounts []string `json:"excludeAccounts,omitempty"`
	// Shards are the parts of the accounts covered: the one of scan
	// --shard I/N, or the shards a merged report joined when some of the
	// N are missing (merge --allow-missing-shards). Empty: every account.
	Shards []Shard `json:"shards,omitempty"`
}

// AccountRegions is a set of Regions of one account.
type AccountRegions struct {
	Account string   `json:"account"`
	Regions []string `json:"regions"`
}

// Target is one (account, Region) pair that was scanned.
type Target struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Status  string `json:"status"` // TargetOK, TargetError or TargetSkipped
	// Error says why the target failed, or why it was skipped.
	Error string `json:"error"`
	// Instances counts the instances reported for this target.
	Instances int `json:"instances"`
	// Terminated counts terminated and shutting-down instances seen but not reported.
	Terminated int `json:"terminated,omitempty"`
	// LaunchErrors are the launch-source reads that failed for this
	// target (the instances were read; the report is incomplete).
	LaunchErrors []LaunchReadError `json:"launchErrors,omitempty"`
}

// Summary counts instances by classification and by risk.
type Summary struct {
	Instances        int            `json:"instances"`
	ByClassification map[string]int `json:"byClassification"`
	ByRisk           map[string]int `json:"byRisk"`
}

// Instance is one EC2 instance with its metadata options, its IMDSv1 usage
// and the verdict drawn from them.
type Instance struct {
	Account            string            `json:"account"`
	Region             string            `json:"region"`
	InstanceID         string            `json:"instanceId"`
	Name               string            `json:"name"`
	State              string            `json:"state"`
	LaunchTime         time.Time         `json:"launchTime"`
	ImageID            string            `json:"imageId"`
	InstanceProfileArn string            `json:"instanceProfileArn"`
	Tags               map[string]string `json:"tags"`
	MetadataOptions    MetadataOptions   `json:"metadataOptions"`
	Usage              Usage             `json:"usage"`
	Classification     string            `json:"classification"`
	Risks              []string          `json:"risks"`
	Recommendation     string            `json:"recommendation"`
	// LaunchSource and NextLaunch (schema version 2): where the instance
	// came from and what its replacement would get. Nil when the scan
	// did not read launch sources.
	LaunchSource *InstanceLaunchSource `json:"launchSource,omitempty"`
	NextLaunch   *NextLaunch           `json:"nextLaunch,omitempty"`
	// Workload is the ID of the workload the instance belongs to
	// (schema version 2; see [Workload]).
	Workload string `json:"workload,omitempty"`
}

// MetadataOptions mirrors EC2's InstanceMetadataOptionsResponse.
type MetadataOptions struct {
	HttpTokens              string `json:"httpTokens"`
	HttpEndpoint            string `json:"httpEndpoint"`
	HttpPutResponseHopLimit int32  `json:"httpPutResponseHopLimit"`
	HttpProtocolIpv6        string `json:"httpProtocolIpv6"`
	InstanceMetadataTags    string `json:"instanceMetadataTags"`
	State                   string `json:"state"`
}

// Usage is what CloudWatch says about IMDSv1 calls over the window.
type Usage struct {
	Status string `json:"status"`
	// NoTokenCalls is the sum of MetadataNoToken over the window (v1 calls answered).
	NoTokenCalls float64 `json:"noTokenCalls"`
	// NoTokenRejected is the sum of MetadataNoTokenRejected (v1 calls refused).
	NoTokenRejected float64 `json:"noTokenRejected"`
	// DaysWithCalls counts daily buckets with a non-zero sum.
	DaysWithCalls int `json:"daysWithCalls"`
	// LastCallAt is the start of the last bucket with calls, if any.
	LastCallAt *time.Time `json:"lastCallAt"`
	// Datapoints counts the daily buckets CloudWatch returned data for:
	// the number of days the instance was observed.
	Datapoints int    `json:"datapoints"`
	Error      string `json:"error"`
}

// HasRisk reports whether the instance carries the named risk.
func (in *Instance) HasRisk(risk string) bool {
	for _, r := range in.Risks {
		if r == risk {
			return true
		}
	}
	return false
}
