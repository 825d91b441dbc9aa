// Package fleet describes the simulated AWS estate: accounts, their Regions,
// the EC2 instances in each, and every instance's CloudWatch metric history
// as a handful of segments relative to the server's clock (never as stored
// datapoints, so 100,000 instances over 455 days stay cheap).
//
// The JSON format is documented in docs/fleet-format.md; an example lives in
// testdata/fleets/. This package holds data and pure functions only: no
// HTTP, no goroutines, no mutation behind the caller's back.
package fleet

import (
	"time"
)

// Fleet is the whole simulated estate.
type Fleet struct {
	// Clock fixes the server's notion of "now" for reproducible tests.
	// Nil means the wall clock.
	Clock *time.Time `json:"clock,omitempty"`
	// Knobs are the realism settings every account and Region starts from.
	Knobs Knobs `json:"knobs"`
	// EnabledRegions says which Regions each account may use:
	// EnabledListed ("listed", the default when empty) or EnabledAWS
	// ("aws"); see [Account.RegionStatus].
	EnabledRegions string `json:"enabledRegions,omitempty"`
	// Accounts are the AWS accounts; the first one is the caller's unless
	// an access key or an assumed role picks another.
	Accounts []Account `json:"accounts"`
	// Partition is the AWS partition of every account: "aws" (default),
	// "aws-us-gov" or "aws-cn". It shows in the ARNs STS answers, and
	// AssumeRole refuses a role ARN of another partition.
	Partition string `json:"partition,omitempty"`
	// Organization, if set, makes the accounts one AWS Organization (see
	// org.go); without it Organizations answers every account
	// AWSOrganizationsNotInUseException.
	Organization *Organization `json:"organization,omitempty"`
}

// Account is one AWS account.
type Account struct {
	ID string `json:"id"` // 12 digits
	// AccessKeyIDs select this account when a request is signed with one of
	// them. A request signed with an unknown key gets the first account.
	AccessKeyIDs []string `json:"accessKeyIds,omitempty"`
	// Roles lists role names that AssumeRole accepts for this account
	// (arn:aws:iam::<ID>:role/<name>). Empty means any role name.
	Roles   []string `json:"roles,omitempty"`
	Regions []Region `json:"regions"`
	// Organization membership (used when the fleet has an Organization):
	// the account's name, its State (ACTIVE when empty; SUSPENDED,
	// PENDING_CLOSURE, CLOSED or PENDING_ACTIVATION) and its parent OU id
	// ("" for the root).
	Name   string `json:"name,omitempty"`
	State  string `json:"state,omitempty"`
	Parent string `json:"parent,omitempty"`
	// MovingTo is a fault knob: an OU id (or the root's) the account is
	// being moved to while the organization is read, so that
	// ListAccountsForParent lists it under both Parent and MovingTo, as a
	// walk that reads the two units either side of the move sees it.
	MovingTo string `json:"movingTo,omitempty"`
	// MovesDuringWalkTo is a fault knob: an OU id (or the root's) the
	// account moves to once ListAccountsForParent of that unit has served
	// its last page. Until then it is listed under Parent only, from then
	// on under MovesDuringWalkTo only (ListChildren alike). A walk that
	// reads MovesDuringWalkTo before Parent finds it in neither, while
	// ListAccounts still lists it.
	MovesDuringWalkTo string `json:"movesDuringWalkTo,omitempty"`
	// DenyAssumeRole makes AssumeRole into this account answer
	// AccessDenied whatever the role (a role missing or not trusting the
	// caller).
	DenyAssumeRole bool `json:"denyAssumeRole,omitempty"`
}

// Region is one Region of one account.
type Region struct {
	Name string `json:"name"`
	// OptInStatus as DescribeRegions reports it: "opt-in-not-required"
	// (the default for a Region that needs no opt-in), "opted-in" (the
	// default for an opt-in Region) or "not-opted-in". A not-opted-in
	// Region is listed only with AllRegions=true and holds no instances.
	OptInStatus string `json:"optInStatus,omitempty"`
	// AvailabilityZones are the Region's zone names (nil: the Region's name
	// with a, b and c).
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
	// Knobs override the fleet's knobs field by field for this Region.
	Knobs *Knobs `json:"knobs,omitempty"`
	// Defaults are the account-level IMDS defaults GetInstanceMetadataDefaults
	// reports for this Region (nil: no preference set).
	Defaults *MetadataDefaults `json:"defaults,omitempty"`
	// Launch sources (see launch.go): what the next instance of a workload
	// is launched from.
	Images               []Image               `json:"images,omitempty"`
	LaunchTemplates      []LaunchTemplate      `json:"launchTemplates,omitempty"`
	LaunchConfigurations []LaunchConfiguration `json:"launchConfigurations,omitempty"`
	AutoScalingGroups    []AutoScalingGroup    `json:"autoScalingGroups,omitempty"`
	Instances            []Instance            `json:"instances"`
}

// Instance is one EC2 instance and its metric history.
type Instance struct {
	ID string `json:"id"`
	// State is an EC2 instance state name: pending, running, shutting-down,
	// terminated, stopping, stopped.
	State              string  `json:"state"`
	LaunchTime         RelTime `json:"launchTime"`
	ImageID            string  `json:"imageId,omitempty"`
	InstanceType       string  `json:"instanceType,omitempty"`
	Platform           string  `json:"platform,omitempty"` // "windows" or empty
	InstanceProfileArn string  `json:"instanceProfileArn,omitempty"`
	// AvailabilityZone is one of the Region's zones (empty: one chosen
	// from the id, see [Region.ZoneOf]).
	AvailabilityZone string            `json:"availabilityZone,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	// AutoScalingGroup and LaunchTemplate say what launched the instance;
	// Load turns them into the tags EC2 puts on such an instance
	// (aws:autoscaling:groupName, aws:ec2launchtemplate:id and :version).
	// A group that launches from a template implies that template.
	AutoScalingGroup string             `json:"autoScalingGroup,omitempty"`
	LaunchTemplate   *LaunchTemplateRef `json:"launchTemplate,omitempty"`
	MetadataOptions  MetadataOptions    `json:"metadataOptions"`
	// ReservationID groups instances launched together: DescribeInstances
	// puts the instances of one page that share it in one reservation.
	// Empty means a reservation of its own ("r-" + the id's hex digits).
	ReservationID string `json:"reservationId,omitempty"`
	// Running lists the intervals in which the instance ran and so published
	// metrics. Nil means: from LaunchTime until now if State is running (or
	// pending/stopping), never otherwise.
	Running []Interval `json:"running,omitempty"`
	// Usage lists IMDS call rates over intervals. Calls are only published
	// while the instance runs; outside every Usage segment a running
	// instance publishes 0.
	Usage []UsageSegment `json:"usage,omitempty"`
	// HiddenCaller is v1 software the scan cannot see (see [HiddenCaller]).
	HiddenCaller *HiddenCaller `json:"hiddenCaller,omitempty"`
	// StatusCheckFailed lists the intervals in which the instance's status
	// check fails (StatusCheckFailed_Instance is 1; 0 otherwise while it runs).
	StatusCheckFailed []Interval `json:"statusCheckFailed,omitempty"`
}

// MetadataOptions are an instance's IMDS settings, as EC2 names them.
type MetadataOptions struct {
	HttpTokens              string `json:"httpTokens"`              // optional | required
	HttpEndpoint            string `json:"httpEndpoint"`            // enabled | disabled
	HttpPutResponseHopLimit int32  `json:"httpPutResponseHopLimit"` // 1..64
	HttpProtocolIpv6        string `json:"httpProtocolIpv6"`        // enabled | disabled
	InstanceMetadataTags    string `json:"instanceMetadataTags"`    // enabled | disabled
}

// MetadataDefaults are the account-level defaults of one Region.
type MetadataDefaults struct {
	HttpTokens              string `json:"httpTokens,omitempty"`
	HttpPutResponseHopLimit int32  `json:"httpPutResponseHopLimit,omitempty"`
	HttpEndpoint            string `json:"httpEndpoint,omitempty"`
	InstanceMetadataTags    string `json:"instanceMetadataTags,omitempty"`
	HttpTokensEnforced      string `json:"httpTokensEnforced,omitempty"`
	// ManagedBy is "account" or "declarative-policy" (an Organizations
	// declarative policy sets these defaults; the account cannot change
	// them), and ManagedExceptionMessage the policy's message to users.
	ManagedBy               string `json:"managedBy,omitempty"`
	ManagedExceptionMessage string `json:"managedExceptionMessage,omitempty"`
}

// Metric names the simulated CloudWatch publishes per instance.
const (
	MetricNoToken         = "MetadataNoToken"
	MetricNoTokenRejected = "MetadataNoTokenRejected"
)

// UsageSegment says that, between From and To, the instance made PerHour
// IMDS calls of kind Metric every hour it was running.
type UsageSegment struct {
	Metric  string  `json:"metric"` // MetricNoToken or MetricNoTokenRejected
	From    RelTime `json:"from"`
	To      RelTime `json:"to"`
	PerHour float64 `json:"perHour"`
}

// Interval is a half-open time interval [From, To).
type Interval struct {
	From RelTime `json:"from"`
	To   RelTime `json:"to"`
}

// Knobs are the realism settings of the simulated AWS. Pointer and zero
// fields mean "inherit" when a Region's knobs override the fleet's.
type Knobs struct {
	// Latency added to every answer.
	Latency *Latency `json:"latency,omitempty"`
	// Throttle turns AWS's token buckets on (the table in
	// docs/aws-facts.md#ec2-request-limits).
	Throttle *bool `json:"throttle,omitempty"`
	// TimeScale speeds bucket refill up: 10 means a 5/s bucket refills at 50/s.
	TimeScale float64 `json:"timeScale,omitempty"`
	// ApplyDelay is how long a ModifyInstanceMetadataOptions change stays
	// "pending" before DescribeInstances shows it "applied".
	ApplyDelay *Duration `json:"applyDelay,omitempty"`
	// Faults injected per API.
	Faults []Fault `json:"faults,omitempty"`
	// AuthFailure makes every EC2 call in the Region answer AuthFailure.
	AuthFailure bool `json:"authFailure,omitempty"`
	// UnauthorizedOperation makes every EC2 call in the Region answer
	// UnauthorizedOperation (HTTP 403).
	UnauthorizedOperation bool `json:"unauthorizedOperation,omitempty"`
	// CloudWatchDenied makes every CloudWatch call in the Region answer
	// AccessDenied.
	CloudWatchDenied bool `json:"cloudWatchDenied,omitempty"`
	// DenyModify makes ModifyInstanceMetadataOptions answer
	// UnauthorizedOperation (HTTP 403), DryRun or not.
	DenyModify bool `json:"denyModify,omitempty"`
	// AutoScalingDenied makes every Auto Scaling call in the Region answer
	// AccessDenied (HTTP 403).
	AutoScalingDenied bool `json:"autoScalingDenied,omitempty"`
	// DenyAPIs lists operations the caller is not allowed (an operation
	// name such as "DescribeImages", or "ec2:*" / "autoscaling:*"): they
	// answer their service's access-denied error, UnauthorizedOperation
	// for EC2 and AccessDenied for Auto Scaling (HTTP 403).
	DenyAPIs []string `json:"denyApis,omitempty"`
}

// Latency is fixed + perKiB × (answer size in KiB) + uniform jitter in [0, jitter).
type Latency struct {
	Fixed  Duration `json:"fixed"`
	PerKiB Duration `json:"perKiB"`
	Jitter Duration `json:"jitter"`
}

// Fault injects errors into one API ("*" for all).
type Fault struct {
	API string `json:"api"` // e.g. "DescribeInstances", "GetMetricData", "*"
	// Rate is the probability in [0,1] that a call gets the fault.
	Rate float64 `json:"rate"`
	// Code and Status of the AWS error to answer (e.g. "InternalError", 500).
	Code   string `json:"code,omitempty"`
	Status int    `json:"status,omitempty"`
	// Reset closes the connection without an answer instead.
	Reset bool `json:"reset,omitempty"`
	// ResetAfterApply lets the call through (a ModifyInstanceMetadataOptions
	// change is made) and then resets the connection instead of sending
	// the answer: the client never learns that its call took effect, as
	// when a connection drops on the way back from AWS. Only calls that
	// succeed are affected; errors are answered as usual.
	ResetAfterApply bool `json:"resetAfterApply,omitempty"`
}
