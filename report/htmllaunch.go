package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// This file builds the launch-source parts of the HTML page: the
// workloads (the plan's first table), the launch sources to fix, and the
// classification-by-workload chart. Like the rest of the page, it reads
// the report and never modifies it; text goes through [htmlText].

// htmlNext is a next launch as the page shows it: a tag that says what it
// means for the plan, the settings with the layer that decided each, and
// a sort key (most urgent first).
type htmlNext struct {
	Tag, CSS, Text string
	V              int
}

// Sort keys of next launches: the ones to act on first come first.
const (
	nextKeyFails = iota
	nextKeyV1
	nextKeyUnresolved
	nextKeyUnknown
	nextKeyV2
)

// nextLaunchView describes n; read says whether the scan read launch
// sources at all (without them every next launch is unknown).
func nextLaunchView(n *NextLaunch, read bool) htmlNext {
	switch {
	case n == nil && !read:
		return htmlNext{Tag: "not read", V: nextKeyUnknown}
	case n == nil:
		return htmlNext{Tag: "unknown", Text: "no launch source known", V: nextKeyUnknown}
	}
	v := htmlNext{Text: htmlText(nextLaunchText(n), htmlTextWidth)}
	switch {
	case n.Fails():
		v.Tag, v.CSS, v.V = "launch fails", "v1-in-use", nextKeyFails
	case n.AllowsV1():
		v.Tag, v.CSS, v.V = "allows v1", "v1-in-use", nextKeyV1
	case n.Status != NextLaunchResolved:
		v.Tag, v.CSS, v.V = "unresolved", "no-data", nextKeyUnresolved
	case n.HttpEndpoint == "disabled":
		v.Tag, v.CSS, v.V = "IMDS off", "disabled", nextKeyV2
	default:
		v.Tag, v.CSS, v.V = "v2 only", "enforced", nextKeyV2
	}
	return v
}

// nextLaunchText is "tokens optional (launch-template) · hop 1
// (built-in)", the endpoint too when disabled, with the reason when there
// is one.
func nextLaunchText(n *NextLaunch) string {
	var parts []string
	if n.HttpTokens != "" {
		parts = append(parts, fmt.Sprintf("tokens %s (%s)", n.HttpTokens, n.HttpTokensFrom))
	}
	if n.HttpPutResponseHopLimit != 0 {
		parts = append(parts, fmt.Sprintf("hop %d (%s)", n.HttpPutResponseHopLimit, n.HttpPutResponseHopLimitFrom))
	}
	if n.HttpEndpoint == "disabled" {
		// Enabled is the rule and says nothing to act on.
		parts = append(parts, fmt.Sprintf("endpoint disabled (%s)", n.HttpEndpointFrom))
	}
	s := strings.Join(parts, " · ")
	if n.Reason != "" {
		if s != "" {
			s += ". "
		}
		s += n.Reason
	}
	return s
}

// htmlWorkload is one row of the workloads table.
type htmlWorkload struct {
	Name, Kind, Account, Region, Owner string
	Instances                          int
	Counts                             []int // by Classifications
	Next                               htmlNext
	Step, StepCSS                      string
	StepV                              int
	Recommendation                     string
}

// stepIndex is a plan step's place in [PlanSteps]; unknown steps last.
func stepIndex(step string) int {
	if i := slices.Index(PlanSteps, step); i >= 0 {
		return i
	}
	return len(PlanSteps)
}

// stepCSS colours a plan step like the classification it deals with.
func stepCSS(step string) string {
	switch step {
	case StepFixSource, StepFindCallers:
		return ClassV1InUse
	case StepEnforceReady:
		return ClassReady
	case StepGatherEvidence, StepCheckSource:
		return ClassNoData
	case StepDone:
		return ClassEnforced
	}
	return ""
}

// launchRead reports whether the report's scan read launch sources.
func launchRead(r *Report) bool { return r.ScanOptions != nil && r.ScanOptions.LaunchSources }

// riskCount is a risk's count as the human formats print it. next-launch-v1
// is "not read" when the scan did not read the launch sources
// (--no-launch-sources, or a report from before they were read): 0 would
// say that no source launches v1, which nobody checked.
func riskCount(r *Report, sum Summary, k string) string {
	if k == RiskNextLaunchV1 && !launchRead(r) {
		return "not read"
	}
	return fmt.Sprint(sum.ByRisk[k])
}

func htmlWorkloads(r *Report) (rows []htmlWorkload, more int) {
	ws := workloadsInPlanOrder(r)
	read := launchRead(r)
	for i, w := range ws {
		if i == htmlMaxRows {
			return rows, len(ws) - htmlMaxRows
		}
		row := htmlWorkload{
			Name: htmlText(w.Name, htmlCellWidth), Kind: htmlText(w.Kind, htmlCellWidth),
			Account: htmlText(w.Account, htmlCellWidth), Region: htmlText(w.Region, htmlCellWidth),
			Owner: htmlText(htmlOwner(w), htmlCellWidth), Instances: w.Instances,
			Next: nextLaunchView(w.NextLaunch, read),
			Step: htmlText(w.Step, htmlCellWidth), StepCSS: stepCSS(w.Step), StepV: stepIndex(w.Step),
			Recommendation: htmlText(w.Recommendation, htmlTextWidth),
		}
		if row.Step != "" {
			row.Step = fmt.Sprintf("%d · %s", row.StepV+1, row.Step)
		}
		for _, c := range Classifications {
			row.Counts = append(row.Counts, w.ByClassification[c])
		}
		rows = append(rows, row)
	}
	return rows, 0
}

// workloadChart is the classification of each workload's instances, the
// workloads with the most v1-in-use instances first.
func workloadChart(r *Report) svgChart {
	targets := map[targetKey]bool{}
	for _, w := range r.Workloads {
		targets[targetKey{w.Account, w.Region}] = true
	}
	rows := make([]stackRow, 0, len(r.Workloads))
	for _, w := range r.Workloads {
		label := w.Name
		if len(targets) > 1 {
			// The same group name can exist in several Regions.
			label += " · " + w.Region
		}
		title := fmt.Sprintf("%s %s in %s %s", w.Kind, w.Name, w.Account, w.Region)
		if w.Owner != "" {
			title += ", owner " + w.Owner
		}
		rows = append(rows, stackRow{Label: label, Title: title, ByClass: chartCounts(w.ByClassification), Total: w.Instances})
	}
	sortStackRows(rows)
	return stackedChart("chart-workload", "Classification by workload",
		"One bar per workload, split by classification; the workloads with the most v1-in-use instances come first. The Workloads table below has every figure.",
		"workloads", "see the table below.", rows)
}

// htmlLaunchSource is one row of the sources-to-fix table.
type htmlLaunchSource struct {
	Name, Kind, Account, Region string
	Next                        htmlNext
	Groups                      string
	GroupsN, InstancesN         int
	InstancesText               string // InstancesN, or "unknown" when its users are not all known
	Fix                         string
}

// htmlSources lists the launch sources to fix in the order the other
// formats give them (see [sourcesToFix]); and apart, those whose next
// launch could not be worked out, the most used first.
func htmlSources(r *Report) (fix, unresolved []htmlLaunchSource) {
	toFix := sourcesToFix(r)
	set := fixSet(toFix)
	for _, s := range toFix {
		fix = append(fix, htmlSourceOf(s, sourceFixText(s, set)))
	}
	var unknown []*LaunchSource
	for i := range r.LaunchSources {
		if s := &r.LaunchSources[i]; !s.ToFix() && s.NextLaunch.Status == NextLaunchUnresolved {
			unknown = append(unknown, s)
		}
	}
	slices.SortStableFunc(unknown, func(a, b *LaunchSource) int {
		return cmp.Or(cmp.Compare(len(b.Instances), len(a.Instances)), cmp.Compare(len(b.Groups), len(a.Groups)))
	})
	for _, s := range unknown {
		unresolved = append(unresolved, htmlSourceOf(s, "Check it by hand: what it would launch could not be worked out."))
	}
	return fix, unresolved
}

func htmlSourceOf(s *LaunchSource, fix string) htmlLaunchSource {
	name := s.Name
	switch s.Kind {
	case SourceLaunchTemplate:
		name = fmt.Sprintf("%s (%s) version %d", s.Name, s.TemplateID, s.Version)
		var marks []string
		if s.IsDefault {
			marks = append(marks, "$Default")
		}
		if s.IsLatest {
			marks = append(marks, "$Latest")
		}
		if len(marks) > 0 {
			name += ", " + strings.Join(marks, " and ")
		}
	case SourceAccountDefault:
		name = "account defaults"
	}
	groups := strings.Join(s.Groups, ", ")
	switch {
	case s.UsersUnknown == "":
	case groups == "":
		groups = "unknown"
	default:
		groups += " (more unknown)"
	}
	return htmlLaunchSource{
		Name: htmlText(name, htmlCellWidth), Kind: htmlText(s.Kind, htmlCellWidth),
		Account: htmlText(s.Account, htmlCellWidth), Region: htmlText(s.Region, htmlCellWidth),
		Next: nextLaunchView(&s.NextLaunch, true), Groups: htmlText(groups, htmlTextWidth),
		GroupsN: len(s.Groups), InstancesN: len(s.Instances), InstancesText: instancesText(s),
		Fix: htmlText(fix, htmlTextWidth),
	}
}

// htmlOwner is the workload's owner as "team=web", or "".
func htmlOwner(w *Workload) string {
	if w.Owner == "" {
		return ""
	}
	return w.OwnerTag + "=" + w.Owner
}
