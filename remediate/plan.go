// Package remediate turns a scan report into a plan of IMDSv2 changes and
// carries it out safely: a drift check before every change, dry run by
// default, a steady per-Region call rate with adaptive retry, a JSON Lines
// journal written before and after every live call (so an interrupted run
// resumes without changing anything twice), verification that each change
// is applied, and rollback from the journal.
//
// It never disables the metadata endpoint and never prints: results come
// back as values, and writers take an io.Writer.
package remediate

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// Actions a plan item can carry.
const (
	// ActionEnforce sets HttpTokens=required (and, for container hosts when
	// asked, the hop limit to 2 in the same call).
	ActionEnforce Action = "enforce"
	// ActionRaiseHopLimit sets the hop limit to 2 and leaves the tokens
	// setting alone (v1-in-use container hosts with hop limit 1).
	ActionRaiseHopLimit Action = "raise-hop-limit"
	// ActionRollback restores the options an earlier change replaced.
	ActionRollback Action = "rollback"
)

// Skip reasons. They are stable strings: they appear in the plan, the
// results and the summary.
const (
	SkipAlreadyEnforced  = "already-enforced"  // HttpTokens=required already
	SkipEndpointDisabled = "endpoint-disabled" // never touched: disabling is not a fix
	SkipV1InUse          = "v1-in-use"         // needs --include v1-in-use --force
	SkipHopFixOff        = "hop-limit-fix-off" // v1-in-use container host, --no-hop-limit-fix
	SkipNoData           = "no-data"           // needs --include no-data
	SkipUnknownClass     = "unknown-classification"
	SkipNotRunnable      = "terminated"           // terminated or shutting down
	SkipExcludedTag      = "excluded-tag"         // --exclude-tag matched
	SkipNotSelectedID    = "not-in-instance-ids"  // --instance-ids given and this one not in it
	SkipNotSelectedReg   = "not-in-regions"       // --regions given and this one not in it
	SkipMaxChanges       = "max-changes"          // --max-changes reached
	SkipDrift            = "changed-since-scan"   // current options differ from the report's
	SkipGone             = "gone"                 // not found or terminated at drift check
	SkipDoneEarlier      = "done-earlier"         // the journal shows this change done
	SkipChangedSince     = "changed-since-change" // rollback: no longer has imdsfleet's values
	SkipInterrupted      = "interrupted"          // not started: the run was stopped
	SkipAccount          = "account-unreachable"  // no credentials for the instance's account
	SkipNothingToRestore = "nothing-to-restore"   // rollback: the change touched no field
)

// Include values for [PlanOptions.Include].
const (
	IncludeNoData  = report.ClassNoData
	IncludeV1InUse = report.ClassV1InUse
)

// DefaultExemptTag is the tag key that exempts an instance by default.
const DefaultExemptTag = "imdsfleet:exempt"

// Change is what one ModifyInstanceMetadataOptions call sets. Zero fields
// are not sent, so AWS keeps their current value.
type Change struct {
	HttpTokens              string `json:"httpTokens,omitempty"`
	HttpPutResponseHopLimit int32  `json:"httpPutResponseHopLimit,omitempty"`
}

// IsZero reports whether the change sets nothing.
func (c Change) IsZero() bool { return c.HttpTokens == "" && c.HttpPutResponseHopLimit == 0 }

// String renders the change as "HttpTokens=required,HopLimit=2".
func (c Change) String() string {
	var parts []string
	if c.HttpTokens != "" {
		parts = append(parts, "HttpTokens="+c.HttpTokens)
	}
	if c.HttpPutResponseHopLimit != 0 {
		parts = append(parts, fmt.Sprintf("HopLimit=%d", c.HttpPutResponseHopLimit))
	}
	return strings.Join(parts, ",")
}

// SatisfiedBy reports whether o already carries every value c sets.
func (c Change) SatisfiedBy(o report.MetadataOptions) bool {
	if c.HttpTokens != "" && o.HttpTokens != c.HttpTokens {
		return false
	}
	if c.HttpPutResponseHopLimit != 0 && o.HttpPutResponseHopLimit != c.HttpPutResponseHopLimit {
		return false
	}
	return true
}

// TagMatch is one --exclude-tag KEY[=VALUE].
type TagMatch struct {
	Key      string `json:"key"`
	Value    string `json:"value,omitempty"`
	HasValue bool   `json:"hasValue,omitempty"`
}

// ParseTagMatch parses KEY or KEY=VALUE.
func ParseTagMatch(s string) (TagMatch, error) {
	k, v, ok := strings.Cut(s, "=")
	if strings.TrimSpace(k) == "" {
		return TagMatch{}, fmt.Errorf("tag %q: want KEY or KEY=VALUE with a non-empty KEY", s)
	}
	return TagMatch{Key: k, Value: v, HasValue: ok}, nil
}

// Matches reports whether tags carry the key (and value, when given).
func (m TagMatch) Matches(tags map[string]string) bool {
	v, ok := tags[m.Key]
	return ok && (!m.HasValue || v == m.Value)
}

func (m TagMatch) String() string {
	if m.HasValue {
		return m.Key + "=" + m.Value
	}
	return m.Key
}

// PlanOptions select and shape the changes [BuildPlan] plans.
type PlanOptions struct {
	// Include widens the enforce set: IncludeNoData, IncludeV1InUse.
	Include []string `json:"include,omitempty"`
	// Force is required with IncludeV1InUse.
	Force bool `json:"force,omitempty"`
	// NoHopLimitFix turns off raise-hop-limit for v1-in-use container hosts.
	NoHopLimitFix bool `json:"noHopLimitFix,omitempty"`
	// ContainerHopLimit is 1 (default, also 0): enforce keeps a container
	// host's hop limit; 2: enforce raises it to 2 in the same call.
	ContainerHopLimit int32 `json:"containerHopLimit,omitempty"`
	// ExcludeTags skip instances carrying any of these tags.
	ExcludeTags []TagMatch `json:"excludeTags,omitempty"`
	// InstanceIDs, when non-empty, restrict the plan to these instances.
	InstanceIDs []string `json:"instanceIds,omitempty"`
	// Regions, when non-empty, restrict the plan to these Regions.
	Regions []string `json:"regions,omitempty"`
	// MaxChanges caps the planned changes (0: no cap); the rest are skipped.
	MaxChanges int `json:"maxChanges,omitempty"`
	// Scope is what the plan changes: ScopeInstances (the default, also
	// when empty), ScopeSources, or both.
	Scope []string `json:"scope,omitempty"`
	// EnforceAccountDefaults also sets HttpTokensEnforced=enabled in the
	// account defaults, where nothing would then fail to launch.
	EnforceAccountDefaults bool `json:"enforceAccountDefaults,omitempty"`
}

// Validate reports option combinations that can never be right.
func (o PlanOptions) Validate() error {
	for _, inc := range o.Include {
		switch inc {
		case IncludeNoData:
		case IncludeV1InUse:
			if !o.Force {
				return errors.New("--include v1-in-use enforces IMDSv2 on instances that still make IMDSv1 calls and can break them: add --force to confirm")
			}
		default:
			return fmt.Errorf("--include %q: want no-data or v1-in-use", inc)
		}
	}
	switch o.ContainerHopLimit {
	case 0, 1, 2:
	default:
		return fmt.Errorf("--container-hop-limit %d: want 1 (keep) or 2", o.ContainerHopLimit)
	}
	if o.MaxChanges < 0 {
		return fmt.Errorf("--max-changes %d: want 0 (no cap) or more", o.MaxChanges)
	}
	if err := checkScope(o.Scope); err != nil {
		return err
	}
	if o.Force && !slices.Contains(o.Include, IncludeV1InUse) && !o.HasScope(ScopeSources) {
		return errors.New("--force only confirms --include v1-in-use (or, with --scope sources, changes sources whose workloads are not ready) and does nothing on its own: drop it, or add --include v1-in-use")
	}
	if o.EnforceAccountDefaults && !o.HasScope(ScopeSources) {
		return errors.New("--enforce-account-defaults sets the account defaults, a launch source: add --scope sources (or instances,sources)")
	}
	return nil
}

// checkSelection reports --instance-ids and --regions values that name
// nothing in r: a typo there would otherwise plan nothing and succeed.
func (o PlanOptions) checkSelection(r *report.Report) error {
	ids := map[string]bool{}
	regions := map[string]bool{}
	for i := range r.Instances {
		ids[r.Instances[i].InstanceID] = true
		regions[r.Instances[i].Region] = true
	}
	for _, t := range r.Targets {
		regions[t.Region] = true
	}
	var unknownIDs, unknownRegions []string
	for _, id := range o.InstanceIDs {
		if !ids[id] {
			unknownIDs = append(unknownIDs, id)
		}
	}
	for _, reg := range o.Regions {
		if !regions[reg] {
			unknownRegions = append(unknownRegions, reg)
		}
	}
	if len(unknownIDs) > 0 {
		return fmt.Errorf("--instance-ids %s: not in the report (ids must match exactly; re-scan if they are new)", strings.Join(unknownIDs, ","))
	}
	if len(unknownRegions) > 0 {
		return fmt.Errorf("--regions %s: not scanned in the report (it covers %s)", strings.Join(unknownRegions, ","), strings.Join(slices.Sorted(maps.Keys(regions)), ","))
	}
	return nil
}

// Item is one instance of the plan: a change to make, or a skip with its
// reason.
type Item struct {
	Account        string `json:"account"`
	Region         string `json:"region"`
	InstanceID     string `json:"instanceId"`
	Name           string `json:"name,omitempty"`
	Classification string `json:"classification"`
	// ContainerHost is true when the instance has the container-hop-limit
	// risk (a container host allowing v1 with hop limit 1), as recomputed
	// from the report's evidence and found equal to the report's.
	ContainerHost bool `json:"containerHost,omitempty"`
	// Action is empty for a skipped instance.
	Action Action `json:"action,omitempty"`
	Change Change `json:"change,omitzero"`
	// Scanned are the options the report saw: the drift check compares the
	// instance's current options with them.
	Scanned report.MetadataOptions `json:"scanned"`
	// Reason is the skip reason (Skip* constant) and Detail a sentence.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Tags are the instance's tags in the report (apply's --wave-by).
	Tags map[string]string `json:"tags,omitempty"`
	// Workload is the workload the report puts the instance in, if any:
	// the first wave of a rollout canaries one instance of each.
	Workload string `json:"workload,omitempty"`
	// State is the instance state the scan saw (running, stopped, …): a
	// rollout's canaries are running instances where a workload has one,
	// since a stopped instance publishes no metric a bake could read.
	State string `json:"state,omitempty"`
	// Warnings (--scope with sources) say what the change does not settle,
	// e.g. next-launch-v1: the instance's launch source is not fixed.
	Warnings []string `json:"warnings,omitempty"`
}

// Plan is the outcome of [BuildPlan], and, with its provenance filled in
// ([Plan.Describe]) and sealed ([Plan.Seal]), a plan file (see
// [ReadPlanFile]).
type Plan struct {
	// Format and Version identify a plan file (PlanFormat, PlanVersion).
	Format      string    `json:"format,omitempty"`
	Version     int       `json:"planVersion,omitempty"`
	GeneratedAt time.Time `json:"generatedAt"`
	ReportAt    time.Time `json:"reportGeneratedAt"`
	// Source is the scan report the plan came from.
	Source *PlanSource `json:"source,omitempty"`
	// Accounts are the accounts of the plan's instances.
	Accounts []string `json:"accounts,omitempty"`
	// Flags are the command-line flags that shaped the plan.
	Flags   []string    `json:"flags,omitempty"`
	Options PlanOptions `json:"options"`
	Changes []Item      `json:"changes"`
	Skipped []Item      `json:"skipped"`
	// Sources are the launch source steps (--scope sources), in the order
	// they run; SourcesSkipped the sources left alone, with the reason
	// and the change to make instead.
	Sources        []SourceItem `json:"sources,omitempty"`
	SourcesSkipped []SourceItem `json:"sourcesSkipped,omitempty"`
	// Checksum is the hex SHA-256 of the plan's JSON without it.
	Checksum string `json:"checksum,omitempty"`
}

// BuildPlan decides, for every instance of r, the change to make or the
// reason to skip it. It is a pure function of its inputs (now stamps the
// plan). Instances keep the report's order (account, Region, id), so
// --max-changes takes the first ones in that order.
func BuildPlan(r *report.Report, o PlanOptions, now time.Time) (*Plan, error) {
	if r == nil {
		return nil, errors.New("build plan: no report")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := o.checkSelection(r); err != nil {
		return nil, err
	}
	// Act only on verdicts the report's own evidence supports: an edited
	// report (an instance marked ready that made v1 calls, or with its
	// options removed) must not be enforced as written.
	verdicts, err := policy.Check(r)
	if err != nil {
		return nil, err
	}
	p := &Plan{GeneratedAt: now.UTC(), ReportAt: r.GeneratedAt, Options: o, Changes: []Item{}, Skipped: []Item{}}
	if o.HasScope(ScopeSources) {
		if r.SchemaVersion < 2 || r.ScanOptions == nil || !r.ScanOptions.LaunchSources {
			return nil, errors.New("--scope sources needs a report with launch sources: scan again with this release, without --no-launch-sources")
		}
		var fixed map[string]bool
		p.Sources, p.SourcesSkipped, fixed = planSources(r, verdicts, o)
		defer sourceWarnings(p, r, fixed)
		// Once the changes are known: which wave each step goes in.
		defer assignSourceWaves(p)
	}
	if !o.HasScope(ScopeInstances) {
		return p, nil
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		it := planOne(in, verdicts[i], o)
		if it.Action != "" && o.MaxChanges > 0 && len(p.Changes) >= o.MaxChanges {
			it.Reason = SkipMaxChanges
			it.Detail = fmt.Sprintf("--max-changes %d reached; would %s (%s)", o.MaxChanges, it.Action, it.Change)
			it.Action, it.Change = "", Change{}
		}
		if it.Action != "" {
			p.Changes = append(p.Changes, it)
		} else {
			p.Skipped = append(p.Skipped, it)
		}
	}
	return p, nil
}

// planOne plans one instance from the verdict its evidence gives (which
// [policy.Check] has found equal to the report's).
func planOne(in *report.Instance, v policy.Verdict, o PlanOptions) Item {
	it := Item{
		Account: in.Account, Region: in.Region, InstanceID: in.InstanceID, Name: in.Name,
		Classification: string(v.Class), Scanned: in.MetadataOptions,
		ContainerHost: slices.Contains(v.Risks, policy.ContainerHopLimit),
		Tags:          in.Tags,
		Workload:      workloadOf(in),
		State:         in.State,
	}
	skip := func(reason, format string, args ...any) Item {
		it.Reason, it.Detail = reason, fmt.Sprintf(format, args...)
		return it
	}
	if len(o.Regions) > 0 && !slices.Contains(o.Regions, in.Region) {
		return skip(SkipNotSelectedReg, "Region %s is not in --regions", in.Region)
	}
	if len(o.InstanceIDs) > 0 && !slices.Contains(o.InstanceIDs, in.InstanceID) {
		return skip(SkipNotSelectedID, "not listed in --instance-ids")
	}
	for _, m := range o.ExcludeTags {
		if m.Matches(in.Tags) {
			return skip(SkipExcludedTag, "tagged %s (--exclude-tag)", m)
		}
	}
	if in.State == "terminated" || in.State == "shutting-down" {
		return skip(SkipNotRunnable, "instance is %s", in.State)
	}
	include := func(class string) bool { return slices.Contains(o.Include, class) }
	enforce := func() Item {
		it.Action = ActionEnforce
		it.Change = Change{HttpTokens: "required"}
		if it.ContainerHost && o.ContainerHopLimit == 2 && in.MetadataOptions.HttpPutResponseHopLimit < 2 {
			it.Change.HttpPutResponseHopLimit = 2
		}
		return it
	}
	switch v.Class {
	case policy.Disabled:
		return skip(SkipEndpointDisabled, "metadata endpoint is disabled; imdsfleet never changes it")
	case policy.Enforced:
		return skip(SkipAlreadyEnforced, "HttpTokens is already required")
	case policy.Ready:
		return enforce()
	case policy.NoData:
		if include(IncludeNoData) {
			return enforce()
		}
		return skip(SkipNoData, "not enough CloudWatch evidence to call it ready (add --include no-data to enforce anyway)")
	case policy.V1InUse:
		if include(IncludeV1InUse) && o.Force {
			enforce()
			// Its containers do use IMDS: keep them working under v2.
			if it.ContainerHost && in.MetadataOptions.HttpPutResponseHopLimit < 2 {
				it.Change.HttpPutResponseHopLimit = 2
			}
			return it
		}
		if it.ContainerHost {
			if o.NoHopLimitFix {
				return skip(SkipHopFixOff, "v1-in-use container host with hop limit 1; raise-hop-limit is off (--no-hop-limit-fix)")
			}
			it.Action = ActionRaiseHopLimit
			it.Change = Change{HttpPutResponseHopLimit: 2}
			return it
		}
		return skip(SkipV1InUse, "IMDSv1 calls seen in the window (%.0f); fix the callers, or --include v1-in-use --force", in.Usage.NoTokenCalls)
	default:
		return skip(SkipUnknownClass, "classification %q is not one imdsfleet acts on", v.Class)
	}
}

// workloadOf is the workload the report puts the instance in (its
// workload ID, KIND/ACCOUNT/REGION/NAME). A report that names none but
// read the instance's launch source gets the same ID from it: its Auto
// Scaling group, EKS node group, Karpenter node pool or launch template, in
// that order. "" otherwise (a rollout then canaries per Auto Scaling group
// tag, else per Region).
func workloadOf(in *report.Instance) string {
	if in.Workload != "" {
		return in.Workload
	}
	ls := in.LaunchSource
	if ls == nil {
		return ""
	}
	id := func(kind, name string) string { return kind + "/" + in.Account + "/" + in.Region + "/" + name }
	switch {
	case ls.AutoScalingGroup != "":
		return id(report.WorkloadAutoScalingGroup, ls.AutoScalingGroup)
	case ls.EKSNodegroup != "":
		return id(report.WorkloadEKSNodegroup, ls.EKSNodegroup)
	case ls.KarpenterPool != "":
		return id(report.WorkloadKarpenter, ls.KarpenterPool)
	case ls.TemplateID != "":
		return id(report.WorkloadLaunchTemplate, ls.TemplateID)
	}
	return ""
}

// CountsByTarget counts the plan's changes per "account/Region".
func (p *Plan) CountsByTarget() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, it := range p.Changes {
		k := it.Account + "/" + it.Region
		if out[k] == nil {
			out[k] = map[string]int{}
		}
		out[k][string(it.Action)]++
	}
	return out
}

// SkipCounts counts the plan's skipped instances by reason.
func (p *Plan) SkipCounts() map[string]int {
	out := map[string]int{}
	for _, it := range p.Skipped {
		out[it.Reason]++
	}
	return out
}
