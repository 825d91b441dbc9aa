package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file checks, fills and sorts the schema version 2 parts of a
// report (see launch.go).

var (
	layers              = []string{LayerLaunchTemplate, LayerLaunchConfiguration, LayerDeclarativePolicy, LayerAccountDefault, LayerAMI, LayerBuiltIn}
	sourceKinds         = []string{SourceAutoScalingGroup, SourceLaunchTemplate, SourceLaunchConfiguration, SourceAccountDefault}
	instanceSourceKinds = []string{SourceAutoScalingGroup, SourceLaunchTemplate, SourceLaunchConfiguration, SourceKarpenter, SourceEKSAutoMode, SourceManual}
	workloadKinds       = []string{WorkloadAutoScalingGroup, WorkloadEKSNodegroup, WorkloadKarpenter, WorkloadLaunchTemplate, WorkloadTag, WorkloadUnmanaged}
	nextLaunchStatuses  = []string{NextLaunchResolved, NextLaunchUnresolved, NextLaunchFails}
)

func isInstanceSourceKind(k string) bool { return slices.Contains(instanceSourceKinds, k) }

// versionList is "1, 2".
func versionList() string {
	s := make([]string, len(SchemaVersionsRead))
	for i, v := range SchemaVersionsRead {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}

// risksOf lists the risks a report of the given schema version may hold.
func risksOf(version int) []string {
	if version < 2 {
		return slices.DeleteFunc(slices.Clone(Risks), func(k string) bool { return k == RiskNextLaunchV1 })
	}
	return Risks
}

// nextLaunchProblems lists what is wrong with n: an unknown status or
// layer, a value a layer cannot give, a resolved launch with a field
// missing.
func nextLaunchProblems(n *NextLaunch) []string {
	var out []string
	if !slices.Contains(nextLaunchStatuses, n.Status) {
		out = append(out, fmt.Sprintf("has status %s (expected one of %s)", quoted(n.Status), strings.Join(nextLaunchStatuses, ", ")))
	}
	check := func(field, value, from string, values ...string) {
		switch {
		case value == "" && from == "":
			if n.Status == NextLaunchResolved {
				out = append(out, fmt.Sprintf("is resolved but has no %s", field))
			}
		case !slices.Contains(values, value):
			out = append(out, fmt.Sprintf("has %s %s (expected one of %s)", field, quoted(value), strings.Join(values, ", ")))
		case !slices.Contains(layers, from):
			out = append(out, fmt.Sprintf("has %sFrom %s (expected one of %s)", field, quoted(from), strings.Join(layers, ", ")))
		}
	}
	check("httpTokens", n.HttpTokens, n.HttpTokensFrom, "optional", "required")
	hop := ""
	if n.HttpPutResponseHopLimit != 0 {
		hop = "ok"
		if n.HttpPutResponseHopLimit < 1 || n.HttpPutResponseHopLimit > 64 {
			hop = strconv.Itoa(int(n.HttpPutResponseHopLimit))
		}
	}
	check("httpPutResponseHopLimit", hop, n.HttpPutResponseHopLimitFrom, "ok")
	check("httpEndpoint", n.HttpEndpoint, n.HttpEndpointFrom, "enabled", "disabled")
	if n.Status == NextLaunchFails && n.HttpTokens != "optional" {
		out = append(out, "fails but its httpTokens is not optional (only a launch with tokens optional fails)")
	}
	return out
}

// validateLaunch checks the schema version 2 lists: known kinds, unique
// IDs within a target, instances pointing at sources that exist.
func validateLaunch(rep *Report, version int) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if version < 2 {
		if len(rep.AccountDefaults)+len(rep.LaunchSources)+len(rep.Workloads) > 0 {
			add("accountDefaults, launchSources or workloads are set, which schema version %d does not have", version)
		}
		return problems
	}
	type key struct{ account, region, id string }
	sources := make(map[key]bool, len(rep.LaunchSources))
	for i := range rep.LaunchSources {
		s := &rep.LaunchSources[i]
		where := fmt.Sprintf("launchSources[%d]", i)
		if s.Account == "" || s.Region == "" || s.ID == "" {
			add("%s has no account, region or id", where)
			continue
		}
		where += " (" + SanitizeCell(s.ID, 60) + ")"
		if !slices.Contains(sourceKinds, s.Kind) {
			add("%s has kind %s (expected one of %s)", where, quoted(s.Kind), strings.Join(sourceKinds, ", "))
		}
		k := key{s.Account, s.Region, s.ID}
		if sources[k] {
			add("%s appears twice", where)
		}
		sources[k] = true
		for _, p := range nextLaunchProblems(&s.NextLaunch) {
			add("%s nextLaunch %s", where, p)
		}
	}
	for i := range rep.Instances {
		in := &rep.Instances[i]
		if in.LaunchSource == nil || in.LaunchSource.SourceID == "" {
			continue
		}
		if !sources[key{in.Account, in.Region, in.LaunchSource.SourceID}] {
			add("instances[%d] (%s) has launchSource.sourceId %s, which is not among the launchSources of its account and Region",
				i, SanitizeCell(in.InstanceID, 40), quoted(in.LaunchSource.SourceID))
		}
	}
	workloads := make(map[string]bool, len(rep.Workloads))
	for i := range rep.Workloads {
		w := &rep.Workloads[i]
		where := fmt.Sprintf("workloads[%d]", i)
		if w.ID == "" {
			add("%s has no id", where)
			continue
		}
		where += " (" + SanitizeCell(w.ID, 60) + ")"
		if workloads[w.ID] {
			add("%s appears twice", where)
		}
		workloads[w.ID] = true
		if !slices.Contains(workloadKinds, w.Kind) {
			add("%s has kind %s (expected one of %s)", where, quoted(w.Kind), strings.Join(workloadKinds, ", "))
		}
		if !slices.Contains(PlanSteps, w.Step) {
			add("%s has step %s (expected one of %s)", where, quoted(w.Step), strings.Join(PlanSteps, ", "))
		}
		if w.NextLaunch != nil {
			for _, p := range nextLaunchProblems(w.NextLaunch) {
				add("%s nextLaunch %s", where, p)
			}
		}
	}
	for i := range rep.Instances {
		if w := rep.Instances[i].Workload; w != "" && !workloads[w] {
			add("instances[%d] (%s) has workload %s, which is not among the report's workloads", i, SanitizeCell(rep.Instances[i].InstanceID, 40), quoted(w))
		}
	}
	return problems
}

// fillLaunchEmpty replaces the nil lists and maps of the schema version 2
// parts with empty ones, so that the JSON has [] and {} rather than null.
// It never writes into a list r shares with a caller: a list whose
// elements need filling is copied first.
func fillLaunchEmpty(r *Report) {
	if r.AccountDefaults == nil {
		r.AccountDefaults = []AccountDefaults{}
	}
	if r.LaunchSources == nil {
		r.LaunchSources = []LaunchSource{}
	}
	if r.Workloads == nil {
		r.Workloads = []Workload{}
	}
	if slices.ContainsFunc(r.LaunchSources, func(s LaunchSource) bool { return s.Groups == nil || s.Instances == nil }) {
		r.LaunchSources = slices.Clone(r.LaunchSources)
		for i := range r.LaunchSources {
			fillSourceEmpty(&r.LaunchSources[i])
		}
	}
	if slices.ContainsFunc(r.Workloads, func(w Workload) bool {
		return w.ByClassification == nil || w.ByRisk == nil || w.SourceIDs == nil
	}) {
		r.Workloads = slices.Clone(r.Workloads)
		for i := range r.Workloads {
			fillWorkloadEmpty(&r.Workloads[i])
		}
	}
}

// fillSourceEmpty gives s empty lists for nil ones.
func fillSourceEmpty(s *LaunchSource) {
	if s.Groups == nil {
		s.Groups = []string{}
	}
	if s.Instances == nil {
		s.Instances = []string{}
	}
}

// fillWorkloadEmpty gives w empty maps and lists for nil ones.
func fillWorkloadEmpty(w *Workload) {
	if w.ByClassification == nil {
		w.ByClassification = map[string]int{}
	}
	if w.ByRisk == nil {
		w.ByRisk = map[string]int{}
	}
	if w.SourceIDs == nil {
		w.SourceIDs = []string{}
	}
}

// sortLaunch orders the schema version 2 lists by account, Region and ID.
func sortLaunch(r *Report) {
	slices.SortStableFunc(r.AccountDefaults, func(a, b AccountDefaults) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	slices.SortStableFunc(r.LaunchSources, func(a, b LaunchSource) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(r.Workloads, func(a, b Workload) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
	})
}
