package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// checkShown is how many instances a [Check] error names.
const checkShown = 3

// Check recomputes every instance's verdict from the report's own
// evidence (metadata options, usage, tags, instance profile) with the
// rules its scanOptions record, and returns the verdicts (one per
// instance, in the report's order) when every one agrees. It returns an error when the report cannot be trusted to act on:
// it lacks scanOptions or a usable window (see [RulesOf]), an instance lacks
// the metadata options the rules read (httpTokens), its evidence is what
// no scan writes (a negative count, more observed days than the window
// has, days with calls but no calls, figures on an unread metric), it is
// not in a target the report scanned successfully, or its classification
// or risks differ from what its evidence gives. A report edited by hand
// (an instance marked "ready" that made v1 calls) or written by a scanner
// with other rules is refused rather than acted on.
//
// The error is one line naming the first few instances and what
// disagrees, e.g. "i-0abc: report says ready but its evidence (1201 v1
// calls) makes it v1-in-use". Instance ids that are not plain text are
// quoted, so a crafted id cannot forge output lines.
func Check(r *report.Report) ([]Verdict, error) {
	rules, err := RulesOf(r)
	if err != nil {
		return nil, err
	}
	sources := make(map[[3]string]*report.NextLaunch, len(r.LaunchSources))
	for i := range r.LaunchSources {
		s := &r.LaunchSources[i]
		sources[[3]string{s.Account, s.Region, s.ID}] = &s.NextLaunch
	}
	scanned := make(map[[2]string]string, len(r.Targets))
	for _, t := range r.Targets {
		scanned[[2]string{t.Account, t.Region}] = t.Status
	}
	windowDays := WindowDays(r.Window)
	var problems []string
	verdicts := make([]Verdict, len(r.Instances))
	for i := range r.Instances {
		in := &r.Instances[i]
		p := targetProblem(in, scanned)
		if p == "" {
			p = nextLaunchProblem(in, sources)
		}
		if p == "" {
			p = usageProblem(in, windowDays)
		}
		if p == "" {
			verdicts[i], p = checkOne(in, rules)
		}
		if p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) == 0 {
		return verdicts, nil
	}
	msg := strings.Join(problems[:min(checkShown, len(problems))], "; ")
	if n := len(problems) - checkShown; n > 0 {
		msg += fmt.Sprintf("; and %d more instances", n)
	}
	return nil, fmt.Errorf("%w: %d of %d instances disagree with their own evidence: %s; %s",
		ErrUntrusted, len(problems), len(r.Instances), msg, rescanAdvice(r))
}

// rescanAdvice says what to do about a report whose verdicts this
// imdsfleet does not share. A report of an older schema was most likely
// not edited but written by an older imdsfleet, whose rules differed (one
// classified an instance "ready" on a partial CloudWatch read): the fix is
// the same, a new scan, but the reason is not the user's editing.
func rescanAdvice(r *report.Report) string {
	if r.SchemaVersion < report.SchemaVersion {
		return fmt.Sprintf("the report has schema version %d (written by imdsfleet %s, whose rules differ from this release's, or edited since): run imdsfleet scan again with this release and plan from its report",
			r.SchemaVersion, orNone(plain(r.Tool.Version)))
	}
	return "re-run the scan instead of editing the report"
}

// checkOne judges one instance and returns its verdict and what is wrong
// with it, or "".
func checkOne(in *report.Instance, rules Rules) (Verdict, string) {
	mo := in.MetadataOptions
	switch mo.HttpTokens {
	case "optional", "required":
	case "":
		return Verdict{}, fmt.Sprintf("%s: metadataOptions has no httpTokens, which its classification depends on", idOf(in))
	default:
		return Verdict{}, fmt.Sprintf("%s: metadataOptions.httpTokens %q is neither optional nor required", idOf(in), mo.HttpTokens)
	}
	switch mo.HttpEndpoint {
	case "", "enabled", "disabled": // "" is EC2's default, enabled
	default:
		return Verdict{}, fmt.Sprintf("%s: metadataOptions.httpEndpoint %q is neither enabled nor disabled", idOf(in), mo.HttpEndpoint)
	}
	v := Judge(in, rules)
	if Class(in.Classification) != v.Class {
		if Class(in.Classification) == Ready && in.Usage.Status == report.UsagePartial && v.Class == NoData {
			return Verdict{}, fmt.Sprintf("%s: report says ready but its usage is partial (CloudWatch answered PartialData: the days it did not return could hold IMDSv1 calls), which makes it no-data, never ready", idOf(in))
		}
		return Verdict{}, fmt.Sprintf("%s: report says %s but its evidence (%s) makes it %s", idOf(in), in.Classification, evidence(in, rules), v.Class)
	}
	want := make([]string, len(v.Risks))
	for i, k := range v.Risks {
		want[i] = string(k)
	}
	got := slices.Clone(in.Risks)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return Verdict{}, fmt.Sprintf("%s: report says risks %s but its evidence (%s) gives %s", idOf(in), riskList(in.Risks), riskEvidence(in, v), riskList(want))
	}
	return v, ""
}

// targetProblem reports an instance the report cannot have read: one in an
// account and Region it does not list as scanned, or whose scan failed
// (a failed target contributes no instances).
func targetProblem(in *report.Instance, scanned map[[2]string]string) string {
	where := plain(in.Account + "/" + in.Region)
	switch status, ok := scanned[[2]string{in.Account, in.Region}]; {
	case !ok:
		return fmt.Sprintf("%s: its account and Region %s are not among the report's targets, so no scan read it", idOf(in), where)
	case status != report.TargetOK:
		return fmt.Sprintf("%s: the report's scan of %s failed, so none of its instances were read", idOf(in), where)
	}
	return ""
}

// nextLaunchProblem reports an instance whose nextLaunch is not its
// launch source's: the scan copies the source's next launch to each of
// its instances, so a difference is an edit (one that could hide the risk
// next-launch-v1).
func nextLaunchProblem(in *report.Instance, sources map[[3]string]*report.NextLaunch) string {
	if in.LaunchSource == nil || in.LaunchSource.SourceID == "" {
		return ""
	}
	src := sources[[3]string{in.Account, in.Region, in.LaunchSource.SourceID}]
	switch {
	case src == nil:
		return fmt.Sprintf("%s: its launch source %s is not among the report's launch sources", idOf(in), plain(in.LaunchSource.SourceID))
	case in.NextLaunch == nil || *in.NextLaunch != *src:
		return fmt.Sprintf("%s: its nextLaunch differs from that of its launch source %s", idOf(in), plain(in.LaunchSource.SourceID))
	}
	return ""
}

// usageProblem reports usage figures no scan writes: the scanner sums
// non-negative daily values over the window's daily buckets, counts the
// buckets with data (datapoints) and those with calls (daysWithCalls),
// records the last bucket with calls, and writes no figures when the
// metric was not read (status error, none).
func usageProblem(in *report.Instance, windowDays int) string {
	u := in.Usage
	nonNeg := func(f float64) bool { return f >= 0 && !math.IsInf(f, 1) } // false for NaN
	switch {
	case !nonNeg(u.NoTokenCalls) || !nonNeg(u.NoTokenRejected) || u.Datapoints < 0 || u.DaysWithCalls < 0:
		return fmt.Sprintf("%s: usage has a count no scan writes (noTokenCalls %v, noTokenRejected %v, datapoints %d, daysWithCalls %d: each at least 0)",
			idOf(in), u.NoTokenCalls, u.NoTokenRejected, u.Datapoints, u.DaysWithCalls)
	case !usageReadable(u) && (u.NoTokenCalls != 0 || u.NoTokenRejected != 0 || u.Datapoints != 0 || u.DaysWithCalls != 0 || u.LastCallAt != nil):
		return fmt.Sprintf("%s: usage status %s (not read) carries figures (%s v1 calls, %s rejected, %d observed days): a scan writes none for an unread metric",
			idOf(in), orNone(u.Status), num(u.NoTokenCalls), num(u.NoTokenRejected), u.Datapoints)
	case u.Datapoints > windowDays:
		return fmt.Sprintf("%s: usage has %d observed days in a window of %d days", idOf(in), u.Datapoints, windowDays)
	case u.DaysWithCalls > u.Datapoints:
		return fmt.Sprintf("%s: usage has %d days with calls but only %d observed days", idOf(in), u.DaysWithCalls, u.Datapoints)
	case (u.NoTokenCalls+u.NoTokenRejected > 0) != (u.DaysWithCalls > 0):
		return fmt.Sprintf("%s: usage has %s calls (%s v1, %s rejected) on %d days with calls: calls and days with calls are both zero or both not",
			idOf(in), num(u.NoTokenCalls+u.NoTokenRejected), num(u.NoTokenCalls), num(u.NoTokenRejected), u.DaysWithCalls)
	case u.LastCallAt != nil && u.DaysWithCalls == 0:
		return fmt.Sprintf("%s: usage has a last call (lastCallAt %s) but no days with calls", idOf(in), u.LastCallAt.UTC().Format(time.RFC3339))
	}
	return ""
}

// evidence describes the facts the classification rules read, for the
// verdict they give.
func evidence(in *report.Instance, rules Rules) string {
	mo, u := in.MetadataOptions, in.Usage
	switch {
	case !EndpointEnabled(mo):
		return "httpEndpoint disabled"
	case TokensRequired(mo):
		return "httpTokens required"
	case usageReadable(u) && u.NoTokenCalls > 0:
		return fmt.Sprintf("%s v1 calls", num(u.NoTokenCalls))
	case u.Status != report.UsageComplete:
		return fmt.Sprintf("httpTokens optional, usage %s", orNone(u.Status))
	default:
		return fmt.Sprintf("no v1 calls on %d observed days, %d needed", u.Datapoints, rules.minDays())
	}
}

// riskEvidence describes the facts the risk rules read.
func riskEvidence(in *report.Instance, v Verdict) string {
	mo := in.MetadataOptions
	host := "not a container host"
	if v.ContainerHost {
		host = "container host"
	}
	profile := "no instance profile"
	if in.InstanceProfileArn != "" {
		profile = "instance profile"
	}
	next := "no next launch"
	if n := in.NextLaunch; n != nil {
		next = fmt.Sprintf("next launch %s with httpTokens %s, httpEndpoint %s", n.Status, orNone(n.HttpTokens), orNone(n.HttpEndpoint))
	}
	return fmt.Sprintf("%s, httpTokens %s, httpEndpoint %s, hop limit %d, %s, %s v1 calls rejected, %s",
		host, mo.HttpTokens, orNone(mo.HttpEndpoint), mo.HttpPutResponseHopLimit, profile, num(in.Usage.NoTokenRejected), next)
}

func riskList(risks []string) string {
	if len(risks) == 0 {
		return "none"
	}
	return strings.Join(risks, ",")
}

// idOf is the instance id as it can be shown on one line.
func idOf(in *report.Instance) string { return plain(in.InstanceID) }

// plain is a value from the report file as it can be shown on one line:
// escaped and capped like every human output, and quoted when it needed
// escaping.
func plain(s string) string {
	if c := report.SanitizeCell(s, 40); c != s {
		return `"` + c + `"`
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}
