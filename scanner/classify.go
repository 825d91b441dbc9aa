package scanner

import (
	"fmt"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// TagMatcher recognises a container host by one tag: Key is matched exactly,
// or as a prefix when it ends in "*"; Value, when HasValue, must match
// exactly.
type TagMatcher struct {
	Key      string
	Value    string
	HasValue bool
}

// DefaultContainerTags are the tags that mark EKS, Kubernetes, Karpenter
// and ECS container hosts.
func DefaultContainerTags() []TagMatcher {
	return []TagMatcher{
		{Key: "eks:cluster-name"},
		{Key: "aws:eks:cluster-name"},
		{Key: "eks:eks-cluster-name"},
		{Key: "kubernetes.io/cluster/*"},
		{Key: "karpenter.sh/nodepool"},
		{Key: "AmazonECSManaged"},
	}
}

// ParseTagMatcher parses a --container-tag value: KEY or KEY=VALUE; KEY may
// end in "*" to match a prefix.
func ParseTagMatcher(s string) (TagMatcher, error) {
	key, value, hasValue := strings.Cut(s, "=")
	if key == "" || key == "*" {
		return TagMatcher{}, fmt.Errorf("container tag %q: want KEY or KEY=VALUE (KEY may end in *), e.g. team:k8s-node or nodegroup=gpu", s)
	}
	return TagMatcher{Key: key, Value: value, HasValue: hasValue}, nil
}

// String renders m in the form ParseTagMatcher reads.
func (m TagMatcher) String() string {
	if m.HasValue {
		return m.Key + "=" + m.Value
	}
	return m.Key
}

// Match reports whether tags carry a tag m recognises.
func (m TagMatcher) Match(tags map[string]string) bool {
	if prefix, ok := strings.CutSuffix(m.Key, "*"); ok {
		for k, v := range tags {
			if strings.HasPrefix(k, prefix) && (!m.HasValue || v == m.Value) {
				return true
			}
		}
		return false
	}
	v, ok := tags[m.Key]
	return ok && (!m.HasValue || v == m.Value)
}

// IsContainerHost reports whether any matcher recognises tags.
func IsContainerHost(tags map[string]string, matchers []TagMatcher) bool {
	for _, m := range matchers {
		if m.Match(tags) {
			return true
		}
	}
	return false
}

// endpointEnabled reports whether IMDS answers at all. Anything but an
// explicit "disabled" is treated as enabled: that is EC2's default.
func endpointEnabled(mo report.MetadataOptions) bool { return mo.HttpEndpoint != "disabled" }

// tokensRequired reports whether IMDSv2 is enforced.
func tokensRequired(mo report.MetadataOptions) bool { return mo.HttpTokens == "required" }

// v1Allowed reports whether an IMDSv1 GET would be answered.
func v1Allowed(mo report.MetadataOptions) bool { return endpointEnabled(mo) && !tokensRequired(mo) }

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
//	ready      tokens optional, no v1 calls, data on ≥ minObservedDays days,
//	           and every bucket was read (usage complete)
//	no-data    otherwise: too few observed days, or the metric unreadable
//
// A partial read with calls is v1-in-use (the calls are certain); a partial
// read without calls is no-data, because the missing points could hold
// calls and "ready" invites enforcement.
func Classify(mo report.MetadataOptions, u report.Usage, minObservedDays int) string {
	switch {
	case !endpointEnabled(mo):
		return report.ClassDisabled
	case tokensRequired(mo):
		return report.ClassEnforced
	case usageReadable(u) && u.NoTokenCalls > 0:
		return report.ClassV1InUse
	case u.Status == report.UsageComplete && u.Datapoints >= minObservedDays:
		return report.ClassReady
	default:
		return report.ClassNoData
	}
}

// Risks returns the instance's risks in report.Risks order (never nil).
func Risks(in *report.Instance, containerHost bool) []string {
	mo := in.MetadataOptions
	risks := []string{}
	if containerHost && v1Allowed(mo) && mo.HttpPutResponseHopLimit <= 1 {
		risks = append(risks, report.RiskContainerHopLimit)
	}
	if in.InstanceProfileArn != "" && v1Allowed(mo) {
		risks = append(risks, report.RiskRoleExposed)
	}
	if in.Usage.NoTokenRejected > 0 {
		risks = append(risks, report.RiskV1Rejected)
	}
	return risks
}

// Evidence is what Recommend needs to know beyond the instance itself.
type Evidence struct {
	ContainerHost   bool
	MinObservedDays int
	WindowStart     time.Time
}

// Recommend returns one sentence a planner can act on, from the instance's
// classification, risks and usage. It is deterministic: no times.
func Recommend(in *report.Instance, ev Evidence) string {
	mo := in.MetadataOptions
	u := in.Usage
	hop1 := mo.HttpPutResponseHopLimit <= 1
	switch in.Classification {
	case report.ClassDisabled:
		return "Leave it: the metadata endpoint is off; never disable IMDS as the fix, because that also removes the instance role's credentials."
	case report.ClassEnforced:
		switch {
		case in.HasRisk(report.RiskV1Rejected):
			return fmt.Sprintf("Something is failing now: %s IMDSv1 calls were rejected; find the caller and move it to IMDSv2 (an SDK update), do not relax the setting.", num(u.NoTokenRejected))
		case ev.ContainerHost && hop1:
			return "Nothing to do: IMDSv2 is enforced with hop limit 1, the hardened posture that keeps pods away from the node's credentials."
		default:
			return "Nothing to do: IMDSv2 is enforced."
		}
	case report.ClassV1InUse:
		if in.HasRisk(report.RiskContainerHopLimit) {
			return fmt.Sprintf("Raise the hop limit to 2 first (containers cannot get an IMDSv2 token at hop limit 1, so these %s v1 calls may be SDK fallback), then re-measure before enforcing.", num(u.NoTokenCalls))
		}
		s := fmt.Sprintf("Find and update the software making IMDSv1 calls (%s calls on %d days), then enforce IMDSv2", num(u.NoTokenCalls), u.DaysWithCalls)
		if in.HasRisk(report.RiskRoleExposed) {
			s += "; until then its role credentials are readable over v1"
		}
		return s + "."
	case report.ClassReady:
		switch {
		case ev.ContainerHost && hop1:
			return fmt.Sprintf("Enforce IMDSv2 (no v1 calls on %d observed days) and keep hop limit 1 unless its pods need the node's credentials (then hop limit 2).", u.Datapoints)
		case ev.ContainerHost:
			return fmt.Sprintf("Enforce IMDSv2 (no v1 calls on %d observed days); its hop limit %d lets pods reach the node's credentials, so lower it to 1 unless they need them.", u.Datapoints, mo.HttpPutResponseHopLimit)
		}
		return fmt.Sprintf("Enforce IMDSv2: no v1 calls on %d observed days.", u.Datapoints)
	default: // no-data
		prefix := ""
		if in.HasRisk(report.RiskContainerHopLimit) {
			prefix = "Raise the hop limit to 2 first; then "
		}
		var s string
		switch {
		case u.Status == report.UsageError:
			s = "re-run the scan once CloudWatch can be read (grant cloudwatch:GetMetricData): v1 use is unknown."
		case u.Status == report.UsagePartial:
			s = "re-run the scan: CloudWatch returned partial data, so v1 use is not proven absent."
		case !in.LaunchTime.IsZero() && !ev.WindowStart.IsZero() && in.LaunchTime.After(ev.WindowStart):
			s = fmt.Sprintf("launched recently (%d of %d days observed): re-scan once it has run %d days, or enforce after testing its workload.", u.Datapoints, ev.MinObservedDays, ev.MinObservedDays)
		case in.State != "running":
			s = fmt.Sprintf("%s for most of the window (%d of %d days observed): start it to measure, or enforce and test at next start.", in.State, u.Datapoints, ev.MinObservedDays)
		default:
			s = fmt.Sprintf("too few observed days (%d of %d): re-scan later before enforcing.", u.Datapoints, ev.MinObservedDays)
		}
		if prefix == "" {
			return upperFirst(s)
		}
		return prefix + s
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// num renders a call count as the human report formats do.
func num(f float64) string { return report.FormatCount(f) }
