// Package policy is imdsfleet's judgement of an instance: the
// classification rules, the risks, the recommendation, the container-host
// tags and the scan's --fail-on predicates. The scanner applies it to what
// it read from AWS; remediate applies it again to a report's own evidence
// before acting on the report, so the two can never judge by different
// rules.
//
// It works on [report] values only: it makes no AWS call, does not import
// the SDK, and prints nothing. The report keeps its values as plain strings
// (the JSON schema); this package gives them types.
package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// Class is an instance's classification.
type Class string

// Classifications, in the order the rules are applied (see [Classify]).
const (
	Disabled Class = report.ClassDisabled
	Enforced Class = report.ClassEnforced
	V1InUse  Class = report.ClassV1InUse
	Ready    Class = report.ClassReady
	NoData   Class = report.ClassNoData
)

// Risk is one thing about an instance's settings that needs attention.
type Risk string

// Risks.
const (
	// ContainerHopLimit: a container host allows v1 with hop limit 1, so
	// its containers cannot get a v2 token (and drive raise-hop-limit).
	ContainerHopLimit Risk = report.RiskContainerHopLimit
	// RoleExposed: an instance role's credentials are readable over v1.
	RoleExposed Risk = report.RiskRoleExposed
	// V1Rejected: v1 calls were refused, so something is failing now.
	V1Rejected Risk = report.RiskV1Rejected
	// NextLaunchV1: the instance's launch source would launch its
	// replacement with IMDSv1 allowed (see [report.NextLaunch.AllowsV1]),
	// so fixing the instance alone does not last.
	NextLaunchV1 Risk = report.RiskNextLaunchV1
)

// DefaultMinObservedDays is the evidence "ready" needs by default.
const DefaultMinObservedDays = 7

// day is the metric period: usage is read in daily buckets.
const day = 24 * time.Hour

// MinObservedDays is the number of observed days "ready" needs for a
// --min-observed-days of requested over a window of lookback: capped at
// the lookback's days (rounded up), so that an instance that ran through a
// short window can still be "ready", and never below 1, so that "ready"
// always rests on at least one observed day.
func MinObservedDays(requested int, lookback time.Duration) int {
	days := int((lookback + day - 1) / day)
	n := min(requested, days)
	return max(n, 1)
}

// ErrUntrusted is wrapped by the errors of [RulesOf] and [Check]: the
// report cannot be acted on, because its verdicts cannot be checked or
// disagree with its own evidence.
var ErrUntrusted = errors.New("report not trusted")

// Rules are the scan options a verdict depends on.
type Rules struct {
	// MinObservedDays is the observed days "ready" needs; below 1 counts
	// as 1.
	MinObservedDays int
	// ContainerTags recognise container hosts (the built-in ones
	// included: see [DefaultContainerTags]).
	ContainerTags []TagMatcher
	// WindowStart is the start of the usage window; recommendations use
	// it to tell a recently launched instance from one with gaps.
	WindowStart time.Time
}

// minDays is r.MinObservedDays with the floor of 1.
func (r Rules) minDays() int { return max(r.MinObservedDays, 1) }

// ScanOptions records r in the report's form.
func (r Rules) ScanOptions() *report.ScanOptions {
	tags := make([]string, len(r.ContainerTags))
	for i, m := range r.ContainerTags {
		tags[i] = m.String()
	}
	return &report.ScanOptions{MinObservedDays: r.minDays(), ContainerTags: tags}
}

// RulesOf returns the rules the report's classifications were drawn from,
// as its scanOptions record them. It is an error when the verdicts cannot
// be checked: a report without scanOptions (written before imdsfleet
// recorded them), container tags that do not parse, a usage window that
// is not at least one day long (the scan never reads less), or a
// minObservedDays a scan of that window could not have used (below 1, or
// beyond the window's days).
func RulesOf(r *report.Report) (Rules, error) {
	if r.ScanOptions == nil {
		return Rules{}, fmt.Errorf("%w: it does not record the scan options its classifications depend on (no scanOptions: it was written by an older imdsfleet); re-run the scan with this imdsfleet", ErrUntrusted)
	}
	w := r.Window
	if w.End.Sub(w.Start) < day {
		return Rules{}, fmt.Errorf("%w: its usage window (%s to %s) is not at least one day long, the least a scan reads, so it cannot show any instance ready; re-run the scan instead of editing the report",
			ErrUntrusted, w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
	if n, days := r.ScanOptions.MinObservedDays, WindowDays(w); n < 1 || n > days {
		return Rules{}, fmt.Errorf("%w: scanOptions.minObservedDays is %d, but a scan of its %d-day window uses 1 to %d; re-run the scan instead of editing the report",
			ErrUntrusted, n, days, days)
	}
	rules := Rules{MinObservedDays: r.ScanOptions.MinObservedDays, WindowStart: w.Start}
	for _, s := range r.ScanOptions.ContainerTags {
		m, err := ParseTagMatcher(s)
		if err != nil {
			return Rules{}, fmt.Errorf("%w: scanOptions.containerTags: %w", ErrUntrusted, err)
		}
		rules.ContainerTags = append(rules.ContainerTags, m)
	}
	return rules, nil
}

// WindowDays is the number of daily buckets in the usage window w: the
// most observed days any instance can have in it.
func WindowDays(w report.Window) int {
	if !w.End.After(w.Start) {
		return 0
	}
	d := w.End.Sub(w.Start) // saturates rather than overflows
	days := d / day
	if d%day != 0 {
		days++
	}
	return int(days)
}

// Verdict is what the rules make of one instance.
type Verdict struct {
	Class         Class
	Risks         []Risk // in report.Risks order, never nil
	ContainerHost bool
}

// Judge applies the rules to the instance's evidence: its metadata
// options, usage, tags, instance profile and next launch. The instance's own
// classification and risks are not read.
func Judge(in *report.Instance, r Rules) Verdict {
	host := IsContainerHost(in.Tags, r.ContainerTags)
	return Verdict{
		Class:         Classify(in.MetadataOptions, in.Usage, r.MinObservedDays),
		Risks:         RisksOf(in, host),
		ContainerHost: host,
	}
}

// Apply judges in and writes the verdict, its risks and the
// recommendation into it.
func Apply(in *report.Instance, r Rules) {
	v := Judge(in, r)
	in.Classification = string(v.Class)
	in.Risks = make([]string, len(v.Risks))
	for i, k := range v.Risks {
		in.Risks[i] = string(k)
	}
	in.Recommendation = Recommend(in, v.ContainerHost, r)
}

// EndpointEnabled reports whether IMDS answers at all. Anything but an
// explicit "disabled" is treated as enabled: that is EC2's default.
func EndpointEnabled(mo report.MetadataOptions) bool { return mo.HttpEndpoint != "disabled" }

// TokensRequired reports whether IMDSv2 is enforced.
func TokensRequired(mo report.MetadataOptions) bool { return mo.HttpTokens == "required" }

// V1Allowed reports whether an IMDSv1 GET would be answered: the endpoint
// is on and tokens are not required.
func V1Allowed(mo report.MetadataOptions) bool { return EndpointEnabled(mo) && !TokensRequired(mo) }

// usageReadable reports whether the usage figures are evidence at all.
func usageReadable(u report.Usage) bool {
	return u.Status == report.UsageComplete || u.Status == report.UsagePartial
}

// Classify applies the classification rules in order; the first that
// matches wins:
//
//	disabled   HttpEndpoint=disabled
//	enforced   HttpTokens=required
//	v1-in-use  tokens optional and MetadataNoToken > 0 in the window
//	ready      tokens optional, no v1 calls, data on ≥ minObservedDays days
//	           (at least 1, whatever minObservedDays says), and every
//	           bucket was read (usage complete)
//	no-data    otherwise: too few observed days, or the metric unreadable
//
// A partial read with calls is v1-in-use (the calls are certain); a partial
// read without calls is no-data, because the missing points could hold
// calls and "ready" invites enforcement.
func Classify(mo report.MetadataOptions, u report.Usage, minObservedDays int) Class {
	switch {
	case !EndpointEnabled(mo):
		return Disabled
	case TokensRequired(mo):
		return Enforced
	case usageReadable(u) && u.NoTokenCalls > 0:
		return V1InUse
	case u.Status == report.UsageComplete && u.Datapoints >= max(minObservedDays, 1):
		return Ready
	default:
		return NoData
	}
}

// RisksOf returns the instance's risks in report.Risks order (never nil).
func RisksOf(in *report.Instance, containerHost bool) []Risk {
	mo := in.MetadataOptions
	risks := []Risk{}
	if containerHost && V1Allowed(mo) && mo.HttpPutResponseHopLimit <= 1 {
		risks = append(risks, ContainerHopLimit)
	}
	if in.InstanceProfileArn != "" && V1Allowed(mo) {
		risks = append(risks, RoleExposed)
	}
	if in.Usage.NoTokenRejected > 0 {
		risks = append(risks, V1Rejected)
	}
	if in.NextLaunch.AllowsV1() {
		risks = append(risks, NextLaunchV1)
	}
	return risks
}
