package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// This file holds what the human formats share about launch sources and
// workloads (schema version 2). Like view.go, it never modifies the
// report.

// workloadsInPlanOrder lists the workloads by plan step (fix the source
// first), then most instances using IMDSv1, then most instances, then ID.
func workloadsInPlanOrder(r *Report) []*Workload {
	out := make([]*Workload, len(r.Workloads))
	for i := range r.Workloads {
		out[i] = &r.Workloads[i]
	}
	step := func(s string) int {
		if i := slices.Index(PlanSteps, s); i >= 0 {
			return i
		}
		return len(PlanSteps)
	}
	slices.SortStableFunc(out, func(a, b *Workload) int {
		return cmp.Or(
			cmp.Compare(step(a.Step), step(b.Step)),
			cmp.Compare(b.ByClassification[ClassV1InUse], a.ByClassification[ClassV1InUse]),
			cmp.Compare(b.Instances, a.Instances),
			cmp.Compare(a.ID, b.ID),
		)
	})
	return out
}

// sourcesToFix lists the launch sources whose next launch would allow
// IMDSv1 or fail: failing ones first, then those used by the most
// instances, then by account, Region and ID.
func sourcesToFix(r *Report) []*LaunchSource {
	var out []*LaunchSource
	for i := range r.LaunchSources {
		if s := &r.LaunchSources[i]; s.ToFix() {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b *LaunchSource) int {
		fa, fb := 0, 0
		if a.NextLaunch.Fails() {
			fa = 1
		}
		if b.NextLaunch.Fails() {
			fb = 1
		}
		return cmp.Or(cmp.Compare(fb, fa), cmp.Compare(len(b.Instances), len(a.Instances)),
			cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// fixSet is the keys (ACCOUNT/REGION/ID) of the sources to fix.
func fixSet(fix []*LaunchSource) map[string]bool {
	m := make(map[string]bool, len(fix))
	for _, s := range fix {
		m[s.Account+"/"+s.Region+"/"+s.ID] = true
	}
	return m
}

// launchErrors lists every target's failed launch-source reads as
// "ACCOUNT/REGION: READ needs PERMISSION: ERROR".
func launchErrors(r *Report) []string {
	var out []string
	for _, t := range r.Targets {
		for _, e := range t.LaunchErrors {
			out = append(out, fmt.Sprintf("%s/%s: %s (needs %s): %s", t.Account, t.Region, e.Read, e.Permission, e.Error))
		}
	}
	return out
}

// NextLaunchText describes a next launch in a few words: "tokens optional
// (built-in), hop 1", "launch fails (tokens optional, IMDSv2 enforced at
// launch)", "unresolved". It is "-" for nil (launch sources not read).
func NextLaunchText(n *NextLaunch) string {
	if n == nil {
		return "-"
	}
	if n.Fails() {
		return "launch fails (tokens optional, IMDSv2 enforced at launch)"
	}
	if n.HttpEndpoint == "disabled" {
		return "IMDS disabled (" + n.HttpEndpointFrom + ")"
	}
	if n.HttpTokens == "" {
		return "unresolved"
	}
	s := fmt.Sprintf("tokens %s (%s)", n.HttpTokens, n.HttpTokensFrom)
	if n.HttpPutResponseHopLimit != 0 {
		s += fmt.Sprintf(", hop %d", n.HttpPutResponseHopLimit)
	}
	if n.Status == NextLaunchUnresolved {
		s += ", partly unresolved"
	}
	return s
}

// DescribeLayer names a next-launch layer for people: "the launch
// template", "EC2's built-in default".
func DescribeLayer(layer string) string {
	switch layer {
	case LayerLaunchTemplate:
		return "the launch template"
	case LayerLaunchConfiguration:
		return "the launch configuration"
	case LayerDeclarativePolicy:
		return "the account default a declarative policy sets"
	case LayerAccountDefault:
		return "the account default"
	case LayerAMI:
		return "the AMI's ImdsSupport"
	case LayerBuiltIn:
		return "EC2's built-in default"
	}
	return "an unknown layer"
}

// sourceFixText says what to change in a source to fix, in one sentence;
// toFix holds the IDs of the sources to fix, so that a group names only
// the ones it uses that need it.
func sourceFixText(s *LaunchSource, toFix map[string]bool) string {
	n := &s.NextLaunch
	var fix string
	switch s.Kind {
	case SourceLaunchTemplate:
		fix = "Create a version with MetadataOptions HttpTokens=required and point its users at it (make it $Default/$Latest)."
		if strings.HasPrefix(s.Name, KarpenterTemplatePrefix) {
			fix = "Karpenter wrote this template from an EC2NodeClass (its name says so) and rewrites it: set spec.metadataOptions.httpTokens: required in that EC2NodeClass instead."
		}
	case SourceLaunchConfiguration:
		fix = "Move its groups to a launch template with HttpTokens=required (launch configurations cannot be modified)."
	case SourceAutoScalingGroup:
		fix = "Point the group at a template version with HttpTokens=required."
		var bad []string
		for _, u := range s.Uses {
			if toFix[s.Account+"/"+s.Region+"/"+u] {
				bad = append(bad, u)
			}
		}
		if len(bad) > 0 {
			fix = "Fix " + strings.Join(bad, ", ") + ", or point the group at a template version with HttpTokens=required."
		}
	case SourceAccountDefault:
		fix = "Set the account default HttpTokens=required (ModifyInstanceMetadataDefaults)."
		if n.HttpTokensFrom == LayerDeclarativePolicy {
			fix = "A declarative policy sets these defaults: change it in AWS Organizations."
		}
	}
	if n.Fails() {
		fix = "Cannot launch now: " + n.Reason + ". " + fix
	}
	if s.UsersUnknown != "" {
		fix += " Its users are not all known: " + s.UsersUnknown + "."
	}
	return fix
}

// groupsText is "web, api (+3 more)" or "-"; with users unknown,
// "unknown" or "web, api (more unknown)".
func groupsText(s *LaunchSource, show int) string {
	t := listText(s.Groups, show)
	switch {
	case s.UsersUnknown == "":
		return t
	case len(s.Groups) == 0:
		return "unknown"
	}
	return t + " (more unknown)"
}

// instancesText is the number of instances using a source: "3", or
// "unknown" / "3 or more" when its users are not all known.
func instancesText(s *LaunchSource) string {
	switch {
	case s.UsersUnknown == "":
		return fmt.Sprint(len(s.Instances))
	case len(s.Instances) == 0:
		return "unknown"
	}
	return fmt.Sprintf("%d or more", len(s.Instances))
}

// listText is "web, api (+3 more)" or "-".
func listText(groups []string, show int) string {
	if len(groups) == 0 {
		return "-"
	}
	s := strings.Join(groups[:min(show, len(groups))], ", ")
	if n := len(groups) - show; n > 0 {
		s += fmt.Sprintf(" (+%d more)", n)
	}
	return s
}

// ownerText is the workload's owner as "team=web", or "-".
func ownerText(w *Workload) string {
	if w.Owner == "" {
		return "-"
	}
	return w.OwnerTag + "=" + w.Owner
}
