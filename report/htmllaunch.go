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
	case StepGatherEvidence:
		return ClassNoData
	case StepDone:
		return ClassEnforced
	}
	return ""
}

// planOrder orders workloads as a to-do list: by plan step, then the most
// v1-in-use instances, then the largest; equal ones keep report order.
func planOrder(ws []*Workload) {
	slices.SortStableFunc(ws, func(a, b *Workload) int {
		return cmp.Or(cmp.Compare(stepIndex(a.Step), stepIndex(b.Step)),
			cmp.Compare(b.ByClassification[ClassV1InUse], a.ByClassification[ClassV1InUse]),
			cmp.Compare(b.Instances, a.Instances))
	})
}

// launchRead reports whether the report's scan read launch sources.
func launchRead(r *Report) bool { return r.ScanOptions != nil && r.ScanOptions.LaunchSources }

func htmlWorkloads(r *Report) (rows []htmlWorkload, more int) {
	ws := make([]*Workload, len(r.Workloads))
	for i := range r.Workloads {
		ws[i] = &r.Workloads[i]
	}
	planOrder(ws)
	read := launchRead(r)
	for i, w := range ws {
		if i == htmlMaxRows {
			return rows, len(ws) - htmlMaxRows
		}
		row := htmlWorkload{
			Name: htmlText(w.Name, htmlCellWidth), Kind: htmlText(w.Kind, htmlCellWidth),
			Account: htmlText(w.Account, htmlCellWidth), Region: htmlText(w.Region, htmlCellWidth),
			Owner: htmlText(w.Owner, htmlCellWidth), Instances: w.Instances,
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
	Fix                         string
}

// htmlSources lists the launch sources to fix (their next launch allows
// IMDSv1 or fails), those that fail first, then the most used; and apart,
// the sources whose next launch could not be worked out.
func htmlSources(r *Report) (fix, unresolved []htmlLaunchSource) {
	var toFix, unknown []*LaunchSource
	for i := range r.LaunchSources {
		s := &r.LaunchSources[i]
		switch {
		case s.ToFix():
			toFix = append(toFix, s)
		case s.NextLaunch.Status == NextLaunchUnresolved:
			unknown = append(unknown, s)
		}
	}
	order := func(a, b *LaunchSource) int {
		return cmp.Or(cmp.Compare(nextLaunchView(&a.NextLaunch, true).V, nextLaunchView(&b.NextLaunch, true).V),
			cmp.Compare(len(b.Instances), len(a.Instances)), cmp.Compare(len(b.Groups), len(a.Groups)))
	}
	slices.SortStableFunc(toFix, order)
	slices.SortStableFunc(unknown, order)
	for _, s := range toFix {
		fix = append(fix, htmlSourceOf(r, s))
	}
	for _, s := range unknown {
		unresolved = append(unresolved, htmlSourceOf(r, s))
	}
	return fix, unresolved
}

func htmlSourceOf(r *Report, s *LaunchSource) htmlLaunchSource {
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
	return htmlLaunchSource{
		Name: htmlText(name, htmlCellWidth), Kind: htmlText(s.Kind, htmlCellWidth),
		Account: htmlText(s.Account, htmlCellWidth), Region: htmlText(s.Region, htmlCellWidth),
		Next: nextLaunchView(&s.NextLaunch, true), Groups: htmlText(groups, htmlTextWidth),
		GroupsN: len(s.Groups), InstancesN: len(s.Instances),
		Fix: htmlText(htmlSourceFix(r, s), htmlTextWidth),
	}
}

// htmlSourceFix says where the change goes for a source to fix, from its
// kind and the layer that decided its tokens setting; for a source whose
// next launch is unknown, what to check.
func htmlSourceFix(r *Report, s *LaunchSource) string {
	if !s.ToFix() {
		return "Check it by hand: its next launch could not be worked out."
	}
	managed := false
	for _, d := range r.AccountDefaults {
		if d.Account == s.Account && d.Region == s.Region && d.ManagedBy == LayerDeclarativePolicy {
			managed = true
		}
	}
	var fix string
	switch s.Kind {
	case SourceLaunchTemplate:
		fix = "Create a version with HttpTokens=required and make it the one its launchers use."
	case SourceLaunchConfiguration:
		fix = "A launch configuration cannot be modified: move its groups to a launch template with HttpTokens=required."
	case SourceAutoScalingGroup:
		fix = "Point the group at a launch template version with HttpTokens=required."
	case SourceAccountDefault:
		fix = "Set the Region's account default to HttpTokens=required (ModifyInstanceMetadataDefaults)."
		if managed {
			fix = "Set by an Organizations declarative policy: its owner must require IMDSv2 there."
		}
	default:
		fix = "Require IMDSv2 (HttpTokens=required) in the source."
	}
	switch s.NextLaunch.HttpTokensFrom {
	case LayerAccountDefault, LayerBuiltIn, LayerAMI:
		if s.Kind != SourceAccountDefault {
			fix += " It leaves the setting to the account defaults: requiring IMDSv2 there fixes every such source of the Region."
		}
	case LayerDeclarativePolicy:
		if s.Kind != SourceAccountDefault {
			fix += " Its tokens setting comes from a declarative policy's account default: set HttpTokens=required in the source, or have the policy changed."
		}
	}
	if s.NextLaunch.Fails() {
		fix = "Launches fail now (IMDSv2 is enforced in the Region and this source asks for tokens optional). " + fix
	}
	return fix
}

// htmlLaunchErrors lists the failed launch-source reads of every target, as
// "ACCOUNT / REGION: READ (needs PERMISSION): ERROR".
func htmlLaunchErrors(r *Report) []string {
	var out []string
	for _, t := range r.Targets {
		for _, e := range t.LaunchErrors {
			out = append(out, htmlText(fmt.Sprintf("%s / %s: %s (needs %s): %s", t.Account, t.Region, e.Read, e.Permission, e.Error), htmlTextWidth))
		}
	}
	return out
}
