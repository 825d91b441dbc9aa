package report

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Normalize puts r in the canonical form every writer expects: it calls
// [Sort] and [Summarize], replaces nil slices and maps with empty ones (so
// the JSON report has [] and {} rather than null) and converts every time
// to UTC (so two scans of the same fleet differ only in the times
// themselves). The scanner calls it once before writing; calling it again
// changes nothing.
func Normalize(r *Report) {
	if r.Targets == nil {
		r.Targets = []Target{}
	}
	if r.Instances == nil {
		r.Instances = []Instance{}
	}
	fillLaunchEmpty(r)
	r.GeneratedAt = utc(r.GeneratedAt)
	r.Window.Start = utc(r.Window.Start)
	r.Window.End = utc(r.Window.End)
	for i := range r.Instances {
		in := &r.Instances[i]
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		if in.Risks == nil {
			in.Risks = []string{}
		}
		in.LaunchTime = utc(in.LaunchTime)
		if in.Usage.LastCallAt != nil {
			t := utc(*in.Usage.LastCallAt)
			in.Usage.LastCallAt = &t
		}
	}
	Sort(r)
	Summarize(r)
}

// utc returns t in UTC without its monotonic clock reading; the zero time
// stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Summarize recomputes r.Summary and each target's Instances count from
// r.Instances. Every classification in [Classifications] and every risk in
// [Risks] gets a key, even when its count is 0, so that consumers of the
// JSON need not guess whether a missing key means zero. Values outside
// those lists (which [Read] rejects) are counted under their own key.
//
// A packed report's figures are those its parts counted when packed.
func Summarize(r *Report) {
	if p := r.packed; p != nil {
		r.Summary = summarize(nil) // every key, for a report of no part
		r.Summary.Instances = p.summary.Instances
		maps.Copy(r.Summary.ByClassification, p.summary.ByClassification)
		maps.Copy(r.Summary.ByRisk, p.summary.ByRisk)
		for i := range r.Targets {
			t := &r.Targets[i]
			t.Instances = p.counts[targetKey{t.Account, t.Region}]
		}
		return
	}
	s := summarize(r.Instances)
	r.Summary = s
	counts := make(map[targetKey]int, len(r.Targets))
	for i := range r.Instances {
		counts[targetKey{r.Instances[i].Account, r.Instances[i].Region}]++
	}
	for i := range r.Targets {
		t := &r.Targets[i]
		t.Instances = counts[targetKey{t.Account, t.Region}]
	}
}

// summarize counts instances without touching the report, for the writers
// that must not modify what they are given.
func summarize(instances []Instance) Summary {
	s := Summary{
		Instances:        len(instances),
		ByClassification: make(map[string]int, len(Classifications)),
		ByRisk:           make(map[string]int, len(Risks)),
	}
	for _, c := range Classifications {
		s.ByClassification[c] = 0
	}
	for _, k := range Risks {
		s.ByRisk[k] = 0
	}
	for i := range instances {
		s.ByClassification[instances[i].Classification]++
		for _, k := range instances[i].Risks {
			s.ByRisk[k]++
		}
	}
	return s
}

type targetKey struct{ account, region string }

// Sort orders r.Instances by account, Region and instance ID, r.Targets
// by account and Region, and the account defaults, launch sources and
// workloads by account, Region and ID, so that two scans of the same
// fleet produce reports that differ only in their times and figures.
func Sort(r *Report) {
	sortLaunch(r)
	slices.SortStableFunc(r.Instances, compareInstances)
	slices.SortStableFunc(r.Targets, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
}

func compareInstances(a, b Instance) int {
	return cmp.Or(
		cmp.Compare(a.Account, b.Account),
		cmp.Compare(a.Region, b.Region),
		cmp.Compare(a.InstanceID, b.InstanceID),
	)
}

// NeedsAttention reports whether the instance belongs in the human reports'
// attention lists: it still uses IMDSv1 (v1-in-use), there is not enough
// evidence to enforce it (no-data), it carries a risk, or its usage could
// not be read.
func (in *Instance) NeedsAttention() bool {
	return in.Classification == ClassV1InUse || in.Classification == ClassNoData ||
		len(in.Risks) > 0 || in.Usage.Status == UsageError
}

// DescribeClassification says in one sentence what a classification means
// for the reader of a report. It returns "" for unknown values.
func DescribeClassification(c string) string {
	switch c {
	case ClassV1InUse:
		return "Tokens optional and IMDSv1 calls seen in the window: find and fix the callers before enforcing."
	case ClassNoData:
		return "Tokens optional but too few observed days (stopped, new, or metrics unreadable): gather evidence first."
	case ClassReady:
		return "Tokens optional and no IMDSv1 calls over enough observed days: safe to enforce IMDSv2 now."
	case ClassEnforced:
		return "IMDSv2 already required: nothing to do."
	case ClassDisabled:
		return "Metadata endpoint disabled: leave it (disabling is never the fix, it also removes role credentials)."
	}
	return ""
}

// DescribeRisk says in one sentence what a risk means. It returns "" for
// unknown values.
func DescribeRisk(risk string) string {
	switch risk {
	case RiskContainerHopLimit:
		return "Container host allowing v1 with hop limit 1: its containers cannot get a v2 token, so enforcing would break those that use IMDS."
	case RiskRoleExposed:
		return "An instance profile is attached and IMDSv1 is allowed: its role credentials are reachable through v1 (SSRF)."
	case RiskV1Rejected:
		return "IMDSv1 calls are being rejected: something on the instance is failing right now."
	case RiskNextLaunchV1:
		return "Its launch source would launch its replacement with IMDSv1 allowed: fix the source too, or the fix is undone at the next replacement."
	}
	return ""
}

func isClassification(c string) bool { return slices.Contains(Classifications, c) }
func isRisk(k string) bool           { return slices.Contains(Risks, k) }
