package policy

import (
	"fmt"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// PlanWorkload returns the next step of a workload's migration plan (a
// report.Step* value) and one sentence saying what to do, from its counts
// and its launch source's next launch. Steps come in plan order, and the
// first that applies is the one named:
//
//  1. fix-source: the source would launch instances that allow IMDSv1
//     (or cannot launch at all): fix it first, or every instance fixed
//     is undone at its replacement;
//  2. enforce-ready: enforce IMDSv2 on the instances ready for it;
//  3. find-v1-callers: find and update the software still making v1
//     calls;
//  4. gather-evidence: too few observed days to decide;
//  5. check-source: the instances need nothing, but the source's next
//     launch could not be worked out, so a replacement may still allow
//     IMDSv1: look at the source by hand;
//  6. done.
//
// viaLaunchConfig says that one of its sources is, or launches through, a
// launch configuration: "set HttpTokens=required in the source" cannot be
// done there.
func PlanWorkload(w *report.Workload, viaLaunchConfig bool) (step, recommendation string) {
	c := w.ByClassification
	n := w.NextLaunch
	src := "its launch source"
	if len(w.SourceIDs) == 1 {
		src = "its launch source " + w.SourceIDs[0]
	} else if len(w.SourceIDs) > 1 {
		src = fmt.Sprintf("its launch sources (%s)", strings.Join(w.SourceIDs, ", "))
	}
	if w.Kind == report.WorkloadKarpenter && len(w.SourceIDs) == 0 && (n.Fails() || n.AllowsV1()) {
		// Its next launch is the evidence of the templates Karpenter
		// wrote (see launch.karpenterNext): the fix is the EC2NodeClass.
		what := "it would launch replacements with IMDSv1 allowed"
		if n.Fails() {
			what = "it cannot launch nodes (HttpTokensEnforced refuses its tokens-optional launch)"
		}
		return report.StepFixSource, fmt.Sprintf("Fix its Karpenter EC2NodeClass first: by the launch template Karpenter wrote for its nodes, %s; %s.", what, karpenterFix)
	}
	switch {
	case n.Fails():
		return report.StepFixSource, fmt.Sprintf("Fix %s first: it cannot launch instances (HttpTokensEnforced refuses its tokens-optional launch); %s.", src, fixText(n, viaLaunchConfig))
	case n.AllowsV1():
		s := fmt.Sprintf("Fix %s first: it would launch replacements with IMDSv1 allowed (httpTokens optional, from %s); %s.", src, LayerText(n.HttpTokensFrom), fixText(n, viaLaunchConfig))
		switch v1 := c[report.ClassV1InUse]; v1 {
		case 0:
		case 1:
			s += " 1 instance still makes IMDSv1 calls: update that software before new instances get the setting."
		default:
			s += fmt.Sprintf(" %d instances still make IMDSv1 calls: update that software before new instances get the setting.", v1)
		}
		return report.StepFixSource, s
	}
	note := ""
	if n != nil && n.Status == report.NextLaunchUnresolved {
		note = " Its next launch could not be worked out (" + n.Reason + "): check the source by hand."
	}
	switch {
	case c[report.ClassReady] > 0:
		return report.StepEnforceReady, fmt.Sprintf("Enforce IMDSv2 on the %s: no IMDSv1 calls over enough observed days.%s", plural(c[report.ClassReady], "ready instance"), note)
	case c[report.ClassV1InUse] > 0:
		return report.StepFindCallers, fmt.Sprintf("Find and update the software making IMDSv1 calls on %s, then enforce IMDSv2.%s", plural(c[report.ClassV1InUse], "instance"), note)
	case c[report.ClassNoData] > 0:
		return report.StepGatherEvidence, fmt.Sprintf("Gather evidence: %s without enough observed days; re-scan later.%s", plural(c[report.ClassNoData], "instance"), note)
	}
	if n != nil && n.Status == report.NextLaunchUnresolved {
		return report.StepCheckSource, "Check its launch source by hand: IMDSv2 is enforced (or IMDS is off) on every instance, but the next launch could not be worked out (" + n.Reason + "), so a replacement may still allow IMDSv1."
	}
	if n == nil {
		return report.StepDone, "Nothing to do on its instances: IMDSv2 is enforced (or IMDS is off) on every one (launch sources not read: their replacements are not checked)."
	}
	return report.StepDone, "Nothing to do: IMDSv2 is enforced (or IMDS is off) on every instance, and its next launch keeps IMDSv1 off."
}

// karpenterFix says where a Karpenter node's metadata options are fixed.
const karpenterFix = "set spec.metadataOptions.httpTokens: required in the EC2NodeClass (Karpenter writes its launch templates from it, so a template edited by hand is rewritten)"

// LayerText names a next-launch layer for people: "the launch template"
// (see [report.DescribeLayer]).
func LayerText(layer string) string { return report.DescribeLayer(layer) }

// fixText says where to set HttpTokens=required for a next launch that
// allows v1 or fails, from the layer that decided its tokens.
func fixText(n *report.NextLaunch, viaLaunchConfig bool) string {
	switch {
	case !viaLaunchConfig:
	case n.HttpTokensFrom == report.LayerDeclarativePolicy:
		return "the Organizations declarative policy sets the account default to optional: change it there, or move the group to a launch template with HttpTokens=required (a launch configuration cannot be modified)"
	case n.HttpTokensFrom != report.LayerLaunchTemplate && n.HttpTokensFrom != report.LayerLaunchConfiguration:
		// Set nowhere in the configuration, which cannot be changed.
		return "move the group to a launch template with HttpTokens=required (a launch configuration cannot be modified), or make it the account default (ModifyInstanceMetadataDefaults)"
	}
	switch n.HttpTokensFrom {
	case report.LayerLaunchTemplate:
		return "create a template version with MetadataOptions HttpTokens=required and make it the one the launcher uses ($Default, $Latest or the version it names)"
	case report.LayerLaunchConfiguration:
		return "move the group to a launch template with HttpTokens=required (a launch configuration cannot be modified)"
	case report.LayerDeclarativePolicy:
		return "the Organizations declarative policy sets the account default to optional: change it there, or set HttpTokens=required in the source itself"
	case report.LayerAccountDefault:
		return "set HttpTokens=required in the source, or make it the account default (ModifyInstanceMetadataDefaults)"
	}
	return "set HttpTokens=required in the source, or make it the account default (ModifyInstanceMetadataDefaults)"
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
