package policy

import (
	"fmt"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// Recommend returns one sentence a planner can act on, from the instance's
// classification, risks and usage (as [Apply] sets them), followed by a
// second when its launch source would launch its replacement with IMDSv1
// allowed (risk next-launch-v1) or cannot launch it at all
// (HttpTokensEnforced refuses its tokens-optional launch). It is
// deterministic: no times.
func Recommend(in *report.Instance, containerHost bool, r Rules) string {
	s := recommendInstance(in, containerHost, r)
	adv := launchAdvice(in)
	if adv == "" {
		return s
	}
	// "Nothing to do" is not true when the source needs fixing.
	if rest, ok := strings.CutPrefix(s, "Nothing to do: "); ok {
		s = strings.ToUpper(rest[:1]) + rest[1:]
	}
	return s + " " + adv
}

// launchAdvice says which source to fix for an instance whose replacement
// would allow IMDSv1 or would fail to launch; "" when neither.
func launchAdvice(in *report.Instance) string {
	src := "its launch source"
	if ls := in.LaunchSource; ls != nil && ls.SourceID != "" {
		src = "its launch source " + ls.SourceID
	}
	n := in.NextLaunch
	if ls := in.LaunchSource; ls != nil && ls.Kind == report.SourceKarpenter && (n.Fails() || n.AllowsV1()) {
		what := "its replacement would allow IMDSv1"
		if n.Fails() {
			what = fmt.Sprintf("its next launch will fail (HttpTokensEnforced is enabled in %s)", in.Region)
		}
		class := "its EC2NodeClass"
		if ls.KarpenterClass != "" {
			class += " " + ls.KarpenterClass
		}
		return fmt.Sprintf("Fix %s too: by the launch template Karpenter wrote for this node, %s; %s.", class, what, karpenterFix)
	}
	switch {
	case n.Fails():
		return fmt.Sprintf("Fix %s too: its next launch will fail, because HttpTokensEnforced is enabled in %s and the source leaves httpTokens optional (from %s); set HttpTokens=required in it, or no replacement can launch.",
			src, in.Region, LayerText(n.HttpTokensFrom))
	case in.HasRisk(report.RiskNextLaunchV1):
		return fmt.Sprintf("Fix %s too: it would launch the replacement with IMDSv1 allowed (httpTokens optional, from %s).", src, LayerText(n.HttpTokensFrom))
	}
	return ""
}

func recommendInstance(in *report.Instance, containerHost bool, r Rules) string {
	mo := in.MetadataOptions
	u := in.Usage
	minDays := r.minDays()
	hop1 := mo.HttpPutResponseHopLimit <= 1
	switch Class(in.Classification) {
	case Disabled:
		return "Leave it: the metadata endpoint is off; never disable IMDS as the fix, because that also removes the instance role's credentials."
	case Enforced:
		switch {
		case in.HasRisk(report.RiskV1Rejected):
			return fmt.Sprintf("Something is failing now: %s IMDSv1 calls got HTTP 401 because tokens are required; find the calling process (AWS's IMDS packet analyzer names it) and move it to an SDK version that supports IMDSv2; roll back only if it is critical (docs/troubleshooting.md).", num(u.NoTokenRejected))
		case containerHost && hop1:
			return "Nothing to do: IMDSv2 is enforced with hop limit 1, the hardened posture that keeps pods away from the node's credentials."
		default:
			return "Nothing to do: IMDSv2 is enforced."
		}
	case V1InUse:
		if in.HasRisk(report.RiskContainerHopLimit) {
			return fmt.Sprintf("Raise the hop limit to 2 first (containers cannot get an IMDSv2 token at hop limit 1, so these %s v1 calls may be SDK fallback), then re-measure before enforcing.", num(u.NoTokenCalls))
		}
		s := fmt.Sprintf("Find and update the software making IMDSv1 calls (%s calls on %d days), then enforce IMDSv2", num(u.NoTokenCalls), u.DaysWithCalls)
		if in.HasRisk(report.RiskRoleExposed) {
			s += "; until then its role credentials are readable over v1"
		}
		return s + "."
	case Ready:
		switch {
		case containerHost && hop1:
			return fmt.Sprintf("Enforce IMDSv2 (no v1 calls on %d observed days) and keep hop limit 1 unless its pods need the node's credentials (then hop limit 2).", u.Datapoints)
		case containerHost:
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
		case !in.LaunchTime.IsZero() && !r.WindowStart.IsZero() && in.LaunchTime.After(r.WindowStart):
			s = fmt.Sprintf("launched recently (%d of %d days observed): re-scan once it has run %d days, or enforce after testing its workload.", u.Datapoints, minDays, minDays)
		case in.State != "running":
			s = fmt.Sprintf("%s for most of the window (%d of %d days observed): start it to measure, or enforce and test at next start.", in.State, u.Datapoints, minDays)
		default:
			s = fmt.Sprintf("too few observed days (%d of %d): re-scan later before enforcing.", u.Datapoints, minDays)
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
