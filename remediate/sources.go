package remediate

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// This file plans the changes of launch sources (--scope sources): a
// launch template version that would launch instances allowing IMDSv1 gets
// a new version with HttpTokens=required, its users are pointed at it, and
// the account defaults of a Region are set once nothing there relies on
// IMDSv1. What imdsfleet cannot or must not change (launch configurations,
// EKS managed node groups, Karpenter, Elastic Beanstalk, defaults managed
// by a declarative policy) is skipped with the exact change to make there.

// Scopes of a plan ([PlanOptions.Scope]).
const (
	ScopeInstances = "instances"
	ScopeSources   = "sources"
)

// Actions of launch source steps, in the order a template's steps run.
const (
	// ActionCreateVersion: CreateLaunchTemplateVersion from SourceVersion
	// with the same data and MetadataOptions.HttpTokens=required (and the
	// hop limit 2 where the container rule says so).
	ActionCreateVersion Action = "create-template-version"
	// ActionSetDefault: ModifyLaunchTemplate DefaultVersion = the new
	// version, for the users that follow $Default.
	ActionSetDefault Action = "set-default-version"
	// ActionUpdateGroup: UpdateAutoScalingGroup LaunchTemplate Version =
	// the new version, for a group pinned to the version number.
	ActionUpdateGroup Action = "update-group"
	// ActionSetAccountDefaults: ModifyInstanceMetadataDefaults
	// HttpTokens=required (and HttpTokensEnforced=enabled with
	// --enforce-account-defaults).
	ActionSetAccountDefaults Action = "set-account-defaults"
)

// Skip reasons of launch source steps.
const (
	SkipGate                = "workload-not-ready"     // an instance of the workload is v1-in-use or no-data (--force overrides)
	SkipV1ReliedOn          = "v1-relied-on"           // account defaults: something in the Region still relies on v1
	SkipWouldFailLaunch     = "would-fail-launch"      // HttpTokensEnforced: named sources would fail to launch
	SkipDeclarativePolicy   = "declarative-policy"     // account defaults managed by an Organizations declarative policy
	SkipLaunchConfiguration = "launch-configuration"   // cannot be modified: move the group to a launch template
	SkipEKSNodegroup        = "eks-managed-nodegroup"  // its launch template belongs to EKS
	SkipKarpenter           = "karpenter"              // EC2NodeClass decides
	SkipBeanstalk           = "elastic-beanstalk"      // the environment's DisableIMDSv1 option decides
	SkipNoKnownUser         = "no-known-user"          // a numbered version used by instances only: who launches them is unknown
	SkipLatestFollowed      = "latest-followed"        // a new version would change what $Latest followers launch
	SkipMissingPinned       = "missing-version-pinned" // a group names a version number the template lacks, which a new version would take
	SkipMixedPolicy         = "mixed-instances-policy"
	SkipNoTemplateRefs      = "report-without-template-refs"
	SkipDependsOn           = "depends-on-failed" // execution: the step it needs did not succeed
	SkipSourcesNotRead      = "launch-sources-not-read"
)

// DefaultsChange is what one ModifyInstanceMetadataDefaults call sets.
type DefaultsChange struct {
	HttpTokens         string `json:"httpTokens,omitempty"`
	HttpTokensEnforced string `json:"httpTokensEnforced,omitempty"`
}

// String renders the change as "HttpTokens=required,HttpTokensEnforced=enabled".
func (c DefaultsChange) String() string {
	var parts []string
	if c.HttpTokens != "" {
		parts = append(parts, "HttpTokens="+c.HttpTokens)
	}
	if c.HttpTokensEnforced != "" {
		parts = append(parts, "HttpTokensEnforced="+c.HttpTokensEnforced)
	}
	return strings.Join(parts, ",")
}

// SourceItem is one step of a launch source change, or a source skipped
// with its reason. Steps that point users at a new version name the
// create step they follow (After): the new version's number is known only
// once it exists.
type SourceItem struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// ID names the step within its (account, Region):
	// "create-version/lt-0abc/3", "set-default/lt-0abc", "update-group/web",
	// "account-defaults"; skips use the source's ID.
	ID string `json:"id"`
	// Action is empty for a skip.
	Action Action `json:"action,omitempty"`
	// Source is the report's launch source this step fixes
	// ("launch-template/lt-0abc/3", "account-default", ...).
	Source       string `json:"source"`
	TemplateID   string `json:"templateId,omitempty"`
	TemplateName string `json:"templateName,omitempty"`
	// Version is the template version the step starts from: the one
	// copied (create), the default now (set-default), the one the group
	// pins now (update-group). The drift check expects it.
	Version int64 `json:"version,omitempty"`
	// After is the ID of the create step whose new version this step
	// points users at.
	After string `json:"after,omitempty"`
	// Group is the Auto Scaling group an update-group step changes.
	Group string `json:"group,omitempty"`
	// Change is what the new version sets in MetadataOptions (create).
	Change Change `json:"change,omitzero"`
	// Defaults is what set-account-defaults sets, ScannedDefaults what the
	// scan read (the drift check expects it).
	Defaults        *DefaultsChange         `json:"defaults,omitempty"`
	ScannedDefaults *report.AccountDefaults `json:"scannedDefaults,omitempty"`
	// Workloads are the workloads whose next launch the step fixes;
	// Instances counts their live instances.
	Workloads []string `json:"workloads,omitempty"`
	Instances int      `json:"instances,omitempty"`
	// Blockers are the live instances (or sources) that hold the step
	// back (a skip), or that --force overrode (a change).
	Blockers []string `json:"blockers,omitempty"`
	// NoDryRun: the API has no DryRun (UpdateAutoScalingGroup), so a dry
	// run sends nothing for this step.
	NoDryRun bool `json:"noDryRun,omitempty"`
	// Reason is the skip reason (Skip* constant) and Detail a sentence: for
	// a skip, the exact change to make instead.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Wave is the step's place in a rollout (SourceWave* constants): with
	// the first wave holding one of its workloads' planned changes, in
	// wave 1, or after the last wave's bake. Empty in plans written
	// before steps had one (apply then runs them all in wave 1).
	Wave string `json:"wave,omitempty"`
}

// What returns a short description of the step's change.
func (it *SourceItem) What() string {
	switch it.Action {
	case ActionCreateVersion:
		return fmt.Sprintf("new version of %s from version %d with %s", it.TemplateID, it.Version, it.Change)
	case ActionSetDefault:
		return fmt.Sprintf("default version of %s %d → the new version", it.TemplateID, it.Version)
	case ActionUpdateGroup:
		return fmt.Sprintf("group %s: %s version %d → the new version", it.Group, it.TemplateID, it.Version)
	case ActionSetAccountDefaults:
		return "account defaults " + it.Defaults.String()
	}
	return ""
}

// maxBlockers caps the instances a step names as blockers.
const maxBlockers = 20

// sourcePlanner plans the source steps of one report.
type sourcePlanner struct {
	r        *report.Report
	o        PlanOptions
	verdicts map[[3]string]policy.Verdict // account, Region, instance id
	inst     map[[3]string]*report.Instance
	byWork   map[string][]*report.Instance // workload id → its instances
	changes  []SourceItem
	skipped  []SourceItem
	// fixed lists the source IDs ("account/Region/id") a create step fixes.
	fixed map[string]bool
}

func key3(a, r, id string) [3]string { return [3]string{a, r, id} }

// planSources plans the launch source steps of r. verdicts are policy.Check's.
// It returns the steps, the skips, and the set of fixed sources
// (account/Region/source id) for the instance plan's warnings.
func planSources(r *report.Report, verdicts []policy.Verdict, o PlanOptions) (changes, skipped []SourceItem, fixed map[string]bool) {
	sp := &sourcePlanner{r: r, o: o, verdicts: map[[3]string]policy.Verdict{}, inst: map[[3]string]*report.Instance{},
		byWork: map[string][]*report.Instance{}, fixed: map[string]bool{}, changes: []SourceItem{}, skipped: []SourceItem{}}
	for i := range r.Instances {
		in := &r.Instances[i]
		k := key3(in.Account, in.Region, in.InstanceID)
		sp.verdicts[k] = verdicts[i]
		sp.inst[k] = in
		if w := workloadOf(in); w != "" {
			sp.byWork[w] = append(sp.byWork[w], in)
		}
	}
	type target struct{ account, region string }
	bySrc := map[target][]*report.LaunchSource{}
	var order []target
	for i := range r.LaunchSources {
		s := &r.LaunchSources[i]
		t := target{s.Account, s.Region}
		if _, ok := bySrc[t]; !ok {
			order = append(order, t)
		}
		bySrc[t] = append(bySrc[t], s)
	}
	unread := map[target]string{}
	for _, tg := range r.Targets {
		var reads []string
		for _, e := range tg.LaunchErrors {
			// The reads that say who launches from what; a failed read of
			// the account defaults or AMIs leaves those next launches
			// unresolved instead, and so not to fix.
			switch e.Read {
			case "DescribeAutoScalingGroups", "DescribeLaunchTemplateVersions", "DescribeLaunchTemplates":
				reads = append(reads, e.Read+" ("+e.Permission+")")
			}
		}
		if len(reads) > 0 {
			unread[target{tg.Account, tg.Region}] = strings.Join(reads, ", ")
		}
	}
	for _, t := range order {
		if len(o.Regions) > 0 && !slices.Contains(o.Regions, t.region) {
			continue
		}
		if why, ok := unread[t]; ok {
			// Who launches from what is not all known (a group not read may
			// pin a version, or follow $Latest): change nothing there.
			for _, s := range bySrc[t] {
				if s.ToFix() && s.Kind != report.SourceAutoScalingGroup {
					sp.skipped = append(sp.skipped, SourceItem{Account: s.Account, Region: s.Region, ID: s.ID, Source: s.ID, Reason: SkipSourcesNotRead,
						Detail: "the scan could not read every launch source here (" + why + "): grant the read and scan again, so that every user of this source is known"})
				}
			}
			continue
		}
		sp.target(t.account, t.region, bySrc[t])
	}
	sp.karpenter()
	return sp.changes, sp.skipped, sp.fixed
}

func live(in *report.Instance) bool {
	return in.State != "terminated" && in.State != "shutting-down"
}

// users are the live instances of every workload that launches from the
// sources: the source's own instances and the rest of their workloads.
func (sp *sourcePlanner) users(account, region string, ids []string) []*report.Instance {
	seen := map[string]bool{}
	var out []*report.Instance
	add := func(in *report.Instance) {
		if in != nil && !seen[in.InstanceID] && live(in) {
			seen[in.InstanceID] = true
			out = append(out, in)
		}
	}
	for _, id := range ids {
		in := sp.inst[key3(account, region, id)]
		add(in)
		if in == nil {
			continue
		}
		for _, w := range sp.byWork[workloadOf(in)] {
			add(w)
		}
	}
	slices.SortFunc(out, func(a, b *report.Instance) int { return cmp.Compare(a.InstanceID, b.InstanceID) })
	return out
}

// exempt lists the users that carry an --exclude-tag, with the tag.
func (sp *sourcePlanner) exempt(users []*report.Instance) []string {
	var out []string
	for _, in := range users {
		for _, m := range sp.o.ExcludeTags {
			if m.Matches(in.Tags) {
				out = append(out, in.InstanceID+" ("+m.String()+")")
				break
			}
		}
	}
	return out
}

// gate lists the instances that hold a change back: v1-in-use or no-data.
func (sp *sourcePlanner) gate(users []*report.Instance) []string {
	var out []string
	for _, in := range users {
		switch sp.verdicts[key3(in.Account, in.Region, in.InstanceID)].Class {
		case policy.V1InUse, policy.NoData:
			out = append(out, in.InstanceID+" ("+string(sp.verdicts[key3(in.Account, in.Region, in.InstanceID)].Class)+")")
		}
	}
	return out
}

func capList(xs []string) []string {
	if len(xs) <= maxBlockers {
		return xs
	}
	return append(slices.Clip(xs[:maxBlockers]), fmt.Sprintf("… and %d more", len(xs)-maxBlockers))
}

func workloadsOf(users []*report.Instance) []string {
	var out []string
	for _, in := range users {
		if w := workloadOf(in); w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out
}

// needsHop2 applies the instance rule to a source: hop limit 2 when a
// container host among its users has pods that use IMDS (v1-in-use), or
// when --container-hop-limit 2 asks for it.
func (sp *sourcePlanner) needsHop2(users []*report.Instance) bool {
	for _, in := range users {
		v := sp.verdicts[key3(in.Account, in.Region, in.InstanceID)]
		host := v.ContainerHost || slices.Contains(v.Risks, policy.ContainerHopLimit)
		if host && (v.Class == policy.V1InUse || sp.o.ContainerHopLimit == 2) {
			return true
		}
	}
	return false
}

// owner names a launcher that owns the source's instances and is not
// imdsfleet's to change: EKS managed node groups, Karpenter, Elastic
// Beanstalk. It returns the skip reason and the exact change to make.
// Karpenter owns only the templates it writes, all named
// karpenter.k8s.aws/...: a karpenter.sh/nodepool tag (which anyone who
// may tag the instance can write) on an instance of any other template
// does not make that template Karpenter's, or one forged tag would keep
// a team's template from being fixed.
func ownerOf(users []*report.Instance, templateID, templateName string) (reason, detail string) {
	for _, in := range users {
		ls := in.LaunchSource
		if ls == nil {
			continue
		}
		switch {
		case ls.EKSNodegroup != "":
			return SkipEKSNodegroup, fmt.Sprintf("launched by EKS managed node group %s (cluster %s), whose launch template belongs to EKS: create a version of your own launch template with MetadataOptions HttpTokens=required, then run 'aws eks update-nodegroup-version --cluster-name %s --nodegroup-name %s --launch-template id=<your template>,version=<new version>'",
				ls.EKSNodegroup, orNone(ls.EKSCluster), orNone(ls.EKSCluster), ls.EKSNodegroup)
		case ls.KarpenterPool != "" && strings.HasPrefix(templateName, report.KarpenterTemplatePrefix):
			return SkipKarpenter, karpenterChange(ls)
		case ls.Beanstalk != "":
			return SkipBeanstalk, fmt.Sprintf("launched by Elastic Beanstalk environment %s: set its option DisableIMDSv1=true ('aws elasticbeanstalk update-environment --environment-name %s --option-settings Namespace=aws:autoscaling:launchconfiguration,OptionName=DisableIMDSv1,Value=true'); Beanstalk then updates %s itself",
				ls.Beanstalk, ls.Beanstalk, orNone(templateID))
		}
	}
	return "", ""
}

func karpenterChange(ls *report.InstanceLaunchSource) string {
	class := ls.KarpenterClass
	if class == "" {
		class = "<its EC2NodeClass>"
	}
	return fmt.Sprintf("launched by Karpenter node pool %s: set spec.metadataOptions.httpTokens: required in EC2NodeClass %s ('kubectl patch ec2nodeclass %s --type merge -p '{\"spec\":{\"metadataOptions\":{\"httpTokens\":\"required\"}}}''; keep httpPutResponseHopLimit 1 unless pods need the instance's credentials, then 2); Karpenter replaces its nodes itself",
		ls.KarpenterPool, class, class)
}

// target plans one (account, Region).
func (sp *sourcePlanner) target(account, region string, sources []*report.LaunchSource) {
	byTemplate := map[string][]*report.LaunchSource{}
	var templates []string
	var groups []*report.LaunchSource
	var defaults *report.LaunchSource
	for _, s := range sources {
		switch s.Kind {
		case report.SourceLaunchTemplate:
			if _, ok := byTemplate[s.TemplateID]; !ok {
				templates = append(templates, s.TemplateID)
			}
			byTemplate[s.TemplateID] = append(byTemplate[s.TemplateID], s)
		case report.SourceAutoScalingGroup:
			groups = append(groups, s)
		case report.SourceLaunchConfiguration:
			if s.ToFix() && (len(s.Groups) > 0 || len(s.Instances) > 0) {
				sp.launchConfig(s)
			}
		case report.SourceAccountDefault:
			defaults = s
		}
	}
	// Every group reference, per template version it resolves to.
	refs := map[string][]groupRef{}
	latestFollowers := map[string][]string{} // template → groups that follow $Latest
	missingPins := map[string][]groupRef{}   // template → groups naming a version number it does not have
	refsKnown := true
	for _, g := range groups {
		if len(g.TemplateRefs) == 0 && len(g.Uses) > 0 && !slices.ContainsFunc(g.Uses, func(u string) bool { return strings.HasPrefix(u, report.SourceLaunchConfiguration+"/") }) {
			refsKnown = false
		}
		for _, ref := range g.TemplateRefs {
			if ref.SourceID != "" {
				refs[ref.SourceID] = append(refs[ref.SourceID], groupRef{group: g.Name, ref: ref})
			}
			if ref.Version == "$Latest" {
				latestFollowers[ref.TemplateID] = append(latestFollowers[ref.TemplateID], g.Name)
			}
			if ref.SourceID == "" && isNumber(ref.Version) {
				missingPins[ref.TemplateID] = append(missingPins[ref.TemplateID], groupRef{group: g.Name, ref: ref})
			}
		}
	}
	slices.Sort(templates)
	for _, id := range templates {
		sp.template(account, region, id, byTemplate[id], refs, latestFollowers[id], missingPins[id], refsKnown)
	}
	if defaults != nil {
		sp.accountDefaults(account, region, sources, defaults)
	}
}

type groupRef struct {
	group string
	ref   report.TemplateRef
}

func isNumber(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n > 0
}

// template plans the versions of one launch template.
func (sp *sourcePlanner) template(account, region, templateID string, versions []*report.LaunchSource, refs map[string][]groupRef, latestFollowers []string, missingPins []groupRef, refsKnown bool) {
	type fix struct {
		s      *report.LaunchSource
		pinned []groupRef // groups pinned to its number through their LaunchTemplate
	}
	var fixes []fix
	latestFixed := false
	for _, s := range versions {
		if !s.ToFix() {
			continue
		}
		var pinned, mixedPinned []groupRef
		for _, gr := range refs[s.ID] {
			if !isNumber(gr.ref.Version) {
				continue
			}
			if gr.ref.Via == report.ViaLaunchTemplate {
				pinned = append(pinned, gr)
			} else {
				mixedPinned = append(mixedPinned, gr)
			}
		}
		skip := func(reason, detail string, blockers []string) {
			sp.skipped = append(sp.skipped, SourceItem{Account: account, Region: region, ID: s.ID, Source: s.ID,
				TemplateID: s.TemplateID, TemplateName: s.Name, Version: s.Version, Reason: reason, Detail: detail, Blockers: blockers,
				Instances: len(s.Instances)})
		}
		if !s.IsDefault && !s.IsLatest && len(pinned) == 0 && len(mixedPinned) == 0 {
			if len(s.Instances) > 0 && !refsKnown {
				// Without templateRefs no group is known to pin it: that is
				// the report's gap, not the fleet's.
				skip(SkipNoTemplateRefs, "the report does not say how its groups name their launch templates ($Default, $Latest or a number): it was written by an older imdsfleet; scan again", nil)
			} else if len(s.Instances) > 0 {
				skip(SkipNoKnownUser, fmt.Sprintf("version %d is neither $Default nor $Latest and no Auto Scaling group names it, yet instances came from it: whatever launched them (a script, a fleet, RunInstances) names the version number; create a version with MetadataOptions HttpTokens=required and point that launcher at it", s.Version), nil)
			}
			continue
		}
		if !refsKnown {
			skip(SkipNoTemplateRefs, "the report does not say how its groups name their launch templates ($Default, $Latest or a number): it was written by an older imdsfleet; scan again", nil)
			continue
		}
		users := sp.users(account, region, s.Instances)
		if reason, detail := ownerOf(users, s.TemplateID, s.Name); reason != "" {
			skip(reason, detail, nil)
			continue
		}
		// An exempt instance (--exclude-tag, imdsfleet:exempt) keeps its
		// IMDS settings through its replacements too: leave its source.
		if ex := sp.exempt(users); len(ex) > 0 {
			skip(SkipExcludedTag, fmt.Sprintf("%d live instance(s) of its workload(s) are excluded (--exclude-tag): a new version would change their replacements; drop the tag, or change the source by hand", len(ex)), capList(ex))
			continue
		}
		for _, gr := range mixedPinned {
			sp.skipped = append(sp.skipped, SourceItem{Account: account, Region: region, ID: "update-group/" + gr.group, Source: s.ID,
				TemplateID: s.TemplateID, Version: s.Version, Group: gr.group, Reason: SkipMixedPolicy,
				Detail: fmt.Sprintf("group %s names version %d in its mixed instances policy (%s): after the new version exists, update that LaunchTemplateSpecification's Version to it ('aws autoscaling update-auto-scaling-group --auto-scaling-group-name %s --mixed-instances-policy ...' with the whole policy)", gr.group, s.Version, gr.ref.Via, gr.group)})
		}
		if blockers := sp.gate(users); len(blockers) > 0 && !sp.o.Force {
			skip(SkipGate, fmt.Sprintf("%d live instance(s) of its workload(s) are not ready (v1-in-use or no-data): a new version requiring IMDSv2 would break their replacements; fix or wait for them, or --force", len(blockers)), capList(blockers))
			continue
		}
		fixes = append(fixes, fix{s: s, pinned: pinned})
		latestFixed = latestFixed || s.IsLatest
	}
	if len(fixes) == 0 {
		return
	}
	if !latestFixed && len(latestFollowers) > 0 {
		for _, f := range fixes {
			sp.skipped = append(sp.skipped, SourceItem{Account: account, Region: region, ID: f.s.ID, Source: f.s.ID,
				TemplateID: f.s.TemplateID, TemplateName: f.s.Name, Version: f.s.Version, Reason: SkipLatestFollowed,
				Detail: fmt.Sprintf("a new version becomes the template's $Latest, which group(s) %s follow: they would launch version %d's data instead of their own; move them to a version number or $Default first", strings.Join(latestFollowers, ", "), f.s.Version)})
		}
		return
	}
	// A group naming a version number the template does not have (a
	// version deleted since) would launch from a new version that takes
	// that number: a change to a group this plan does not name.
	var highest int64
	for _, v := range versions {
		highest = max(highest, v.Version)
	}
	var taken []string
	for _, gr := range missingPins {
		if n, _ := strconv.ParseInt(gr.ref.Version, 10, 64); n > highest {
			taken = append(taken, fmt.Sprintf("%s (version %d, %s)", gr.group, n, gr.ref.Via))
		}
	}
	if len(taken) > 0 {
		for _, f := range fixes {
			sp.skipped = append(sp.skipped, SourceItem{Account: account, Region: region, ID: f.s.ID, Source: f.s.ID,
				TemplateID: f.s.TemplateID, TemplateName: f.s.Name, Version: f.s.Version, Reason: SkipMissingPinned,
				Detail: fmt.Sprintf("group(s) %s name a version number %s does not have, which a new version could take: they would start launching it; point them at an existing version first", strings.Join(taken, ", "), f.s.TemplateID)})
		}
		return
	}
	// $Latest's copy last, so that it stays the template's $Latest.
	slices.SortStableFunc(fixes, func(a, b fix) int {
		switch {
		case a.s.IsLatest == b.s.IsLatest:
			return cmp.Compare(a.s.Version, b.s.Version)
		case a.s.IsLatest:
			return 1
		}
		return -1
	})
	for _, f := range fixes {
		s := f.s
		users := sp.users(account, region, s.Instances)
		var forced []string
		if sp.o.Force {
			forced = capList(sp.gate(users))
		}
		ch := Change{HttpTokens: "required"}
		if sp.needsHop2(users) && s.NextLaunch.HttpPutResponseHopLimit < 2 {
			ch.HttpPutResponseHopLimit = 2
		}
		create := SourceItem{Account: account, Region: region, ID: fmt.Sprintf("create-version/%s/%d", s.TemplateID, s.Version),
			Action: ActionCreateVersion, Source: s.ID, TemplateID: s.TemplateID, TemplateName: s.Name, Version: s.Version,
			Change: ch, Workloads: workloadsOf(users), Instances: len(users), Blockers: forced}
		var who []string
		if s.IsLatest {
			who = append(who, "$Latest users get it as the template's latest version")
		}
		sp.changes = append(sp.changes, create)
		sp.fixed[account+"/"+region+"/"+s.ID] = true
		if s.IsDefault {
			sp.changes = append(sp.changes, SourceItem{Account: account, Region: region, ID: "set-default/" + s.TemplateID,
				Action: ActionSetDefault, Source: s.ID, TemplateID: s.TemplateID, TemplateName: s.Name, Version: s.Version, After: create.ID,
				Workloads: create.Workloads, Instances: create.Instances})
			who = append(who, "$Default users through the new default version")
		}
		for _, gr := range f.pinned {
			sp.changes = append(sp.changes, SourceItem{Account: account, Region: region, ID: "update-group/" + gr.group,
				Action: ActionUpdateGroup, Source: s.ID, TemplateID: s.TemplateID, TemplateName: s.Name, Version: s.Version, After: create.ID,
				Group: gr.group, Workloads: create.Workloads, Instances: create.Instances, NoDryRun: true,
				Detail: "UpdateAutoScalingGroup has no dry run: a dry run does not send it"})
			who = append(who, "group "+gr.group+" through its version number")
		}
		detail := "reaches " + strings.Join(who, "; ")
		if !s.IsLatest && !latestFixed {
			// No copy of $Latest comes after it: the copy stays the
			// template's $Latest, a change to launchers the scan cannot see.
			instead := ""
			if i := slices.IndexFunc(versions, func(v *report.LaunchSource) bool { return v.IsLatest }); i >= 0 {
				instead = fmt.Sprintf(" instead of version %d's", versions[i].Version)
			}
			detail += fmt.Sprintf(". WARNING: the new version becomes %s's $Latest: anything launching it with $Latest (a script, an EC2 Fleet, a Spot Fleet: the scan cannot see them) gets version %d's data with IMDSv2 required%s", s.TemplateID, s.Version, instead)
		}
		sp.changes[slices.IndexFunc(sp.changes, func(it SourceItem) bool { return it.ID == create.ID && it.Account == account && it.Region == region })].Detail = detail
		// The groups that launch from it fix with it.
		for _, gr := range refs[s.ID] {
			sp.fixed[account+"/"+region+"/auto-scaling-group/"+gr.group] = true
		}
	}
}

// launchConfig skips a launch configuration to fix: it cannot be modified.
func (sp *sourcePlanner) launchConfig(s *report.LaunchSource) {
	data := []string{`"MetadataOptions":{"HttpTokens":"required"}`}
	if s.ImageID != "" {
		data = append([]string{fmt.Sprintf(`"ImageId":%q`, s.ImageID)}, data...)
	}
	groups := strings.Join(s.Groups, ", ")
	if groups == "" {
		groups = "(none found)"
	}
	sp.skipped = append(sp.skipped, SourceItem{Account: s.Account, Region: s.Region, ID: s.ID, Source: s.ID, Reason: SkipLaunchConfiguration,
		Instances: len(s.Instances),
		Detail: fmt.Sprintf("launch configuration %s cannot be modified: move its group(s) %s to a launch template: 'aws ec2 create-launch-template --launch-template-name %s --launch-template-data '{%s, plus the configuration's InstanceType, KeyName, SecurityGroupIds, UserData, IamInstanceProfile and BlockDeviceMappings}'', then 'aws autoscaling update-auto-scaling-group --auto-scaling-group-name <group> --launch-template LaunchTemplateName=%s,Version=$Default'",
			s.Name, groups, s.Name, strings.Join(data, ", "), s.Name)})
}

// karpenter skips each Karpenter (or EKS Auto Mode) node pool whose
// instances allow IMDSv1: its EC2NodeClass decides, not EC2.
func (sp *sourcePlanner) karpenter() {
	type pool struct {
		ls    *report.InstanceLaunchSource
		in    *report.Instance
		count int
	}
	pools := map[string]*pool{}
	var order []string
	for i := range sp.r.Instances {
		in := &sp.r.Instances[i]
		ls := in.LaunchSource
		if ls == nil || (ls.Kind != report.SourceKarpenter && ls.Kind != report.SourceEKSAutoMode) || !live(in) {
			continue
		}
		if len(sp.o.Regions) > 0 && !slices.Contains(sp.o.Regions, in.Region) {
			continue
		}
		c := sp.verdicts[key3(in.Account, in.Region, in.InstanceID)].Class
		if c == policy.Enforced || c == policy.Disabled {
			continue
		}
		id := workloadOf(in)
		if pools[id] == nil {
			pools[id] = &pool{ls: ls, in: in}
			order = append(order, id)
		}
		pools[id].count++
	}
	for _, id := range order {
		p := pools[id]
		detail := karpenterChange(p.ls)
		if p.ls.Kind == report.SourceEKSAutoMode {
			detail = fmt.Sprintf("launched by EKS Auto Mode node pool %s: set spec.metadataOptions.httpTokens: required in its NodeClass; EKS replaces its nodes itself", p.ls.KarpenterPool)
		}
		sp.skipped = append(sp.skipped, SourceItem{Account: p.in.Account, Region: p.in.Region, ID: id, Source: id, Reason: SkipKarpenter,
			Workloads: []string{id}, Instances: p.count, Detail: detail})
	}
}

// accountDefaults plans the Region's account defaults.
func (sp *sourcePlanner) accountDefaults(account, region string, sources []*report.LaunchSource, src *report.LaunchSource) {
	var d *report.AccountDefaults
	for i := range sp.r.AccountDefaults {
		if a := &sp.r.AccountDefaults[i]; a.Account == account && a.Region == region {
			d = a
		}
	}
	if d == nil {
		return
	}
	wantTokens := d.HttpTokens != "required"
	wantEnforce := sp.o.EnforceAccountDefaults && d.HttpTokensEnforced != "enabled"
	if !wantTokens && !wantEnforce {
		return
	}
	base := SourceItem{Account: account, Region: region, ID: "account-defaults", Source: src.ID, ScannedDefaults: d}
	skip := func(reason, detail string, blockers []string) {
		it := base
		it.ScannedDefaults = nil
		it.Reason, it.Detail, it.Blockers = reason, detail, blockers
		sp.skipped = append(sp.skipped, it)
	}
	if d.ManagedBy == "declarative-policy" {
		msg := ""
		if d.ManagedExceptionMessage != "" {
			msg = " (its message: " + d.ManagedExceptionMessage + ")"
		}
		skip(SkipDeclarativePolicy, fmt.Sprintf("the account defaults in %s are managed by an Organizations declarative policy%s: the account cannot change them; the policy's owner sets ec2_attributes.instance_metadata_defaults.http_tokens to required there", region, msg), nil)
		return
	}
	// What still relies on IMDSv1 in the Region: live instances that are
	// not ready, and sources to fix that this plan does not fix.
	var blockers []string
	for i := range sp.r.Instances {
		in := &sp.r.Instances[i]
		if in.Account != account || in.Region != region || !live(in) {
			continue
		}
		switch c := sp.verdicts[key3(account, region, in.InstanceID)].Class; c {
		case policy.V1InUse, policy.NoData:
			blockers = append(blockers, in.InstanceID+" ("+string(c)+")")
		}
	}
	var unfixed []string // sources that would still launch v1 (or fail)
	for _, s := range sources {
		if !s.ToFix() || sp.fixed[account+"/"+region+"/"+s.ID] || s.Kind == report.SourceAccountDefault {
			continue
		}
		if s.Kind == report.SourceLaunchTemplate && !s.IsDefault && !s.IsLatest && len(s.Groups) == 0 && len(s.Instances) == 0 {
			continue // not in use
		}
		if s.Kind == report.SourceAutoScalingGroup && slices.ContainsFunc(s.Uses, func(u string) bool { return sp.fixed[account+"/"+region+"/"+u] }) && allFixed(s.Uses, sp.fixed, account, region) {
			continue
		}
		unfixed = append(unfixed, s.ID)
	}
	slices.Sort(unfixed)
	ch := DefaultsChange{}
	var forced []string
	if wantTokens {
		relied := append(slices.Clip(blockers), unfixed...)
		switch {
		case len(relied) == 0:
			ch.HttpTokens = "required"
		case sp.o.Force:
			ch.HttpTokens = "required"
			forced = capList(relied)
		default:
			skip(SkipV1ReliedOn, fmt.Sprintf("HttpTokens=required is set once nothing in %s relies on IMDSv1: %d live instance(s) are v1-in-use or no-data and %d launch source(s) would still launch v1; fix them first, or --force", region, len(blockers), len(unfixed)), capList(relied))
			wantEnforce = false
		}
	}
	if wantEnforce {
		// With enforcement, a launch that ends with tokens optional fails:
		// a source that sets optional itself and is not fixed here.
		var fail []string
		for _, id := range unfixed {
			s := sourceByID(sources, id)
			if s != nil && (s.NextLaunch.HttpTokensFrom == report.LayerLaunchTemplate || s.NextLaunch.HttpTokensFrom == report.LayerLaunchConfiguration) {
				fail = append(fail, id)
			} else if s != nil && d.HttpTokens != "required" && ch.HttpTokens == "" {
				fail = append(fail, id)
			}
		}
		if len(fail) == 0 {
			ch.HttpTokensEnforced = "enabled"
		} else {
			it := base
			it.ScannedDefaults = nil
			it.ID = "account-defaults-enforce"
			it.Reason, it.Blockers = SkipWouldFailLaunch, capList(fail)
			it.Detail = fmt.Sprintf("HttpTokensEnforced=enabled would make EC2 refuse every launch from %s (tokens optional after this plan): fix them first", strings.Join(capList(fail), ", "))
			sp.skipped = append(sp.skipped, it)
		}
	}
	if ch == (DefaultsChange{}) {
		return
	}
	it := base
	it.Action, it.Defaults, it.Blockers = ActionSetAccountDefaults, &ch, forced
	it.Instances = len(src.Instances)
	it.Detail = fmt.Sprintf("new launches in %s that set no metadata options get %s", region, ch)
	sp.changes = append(sp.changes, it)
}

func allFixed(uses []string, fixed map[string]bool, account, region string) bool {
	for _, u := range uses {
		if !fixed[account+"/"+region+"/"+u] {
			return false
		}
	}
	return true
}

func sourceByID(sources []*report.LaunchSource, id string) *report.LaunchSource {
	for _, s := range sources {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// sourceWarnings marks the instance plan's items whose launch source would
// still launch IMDSv1 after this plan: fixing the instance alone does not
// last (risk next-launch-v1).
func sourceWarnings(p *Plan, r *report.Report, fixed map[string]bool) {
	warn := map[[3]string]string{}
	for i := range r.Instances {
		in := &r.Instances[i]
		if !slices.Contains(in.Risks, report.RiskNextLaunchV1) {
			continue
		}
		src := ""
		if in.LaunchSource != nil {
			src = in.LaunchSource.SourceID
		}
		if src != "" && fixed[in.Account+"/"+in.Region+"/"+src] {
			continue
		}
		warn[key3(in.Account, in.Region, in.InstanceID)] = fmt.Sprintf("%s: its launch source %s is not fixed by this plan, so its replacement will allow IMDSv1 again", report.RiskNextLaunchV1, orNone(src))
	}
	for _, list := range [][]Item{p.Changes, p.Skipped} {
		for i := range list {
			if w, ok := warn[key3(list[i].Account, list[i].Region, list[i].InstanceID)]; ok {
				list[i].Warnings = append(list[i].Warnings, w)
			}
		}
	}
}

// SourceCounts counts the plan's source steps per "account/Region" and action.
func (p *Plan) SourceCounts() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, it := range p.Sources {
		k := it.Account + "/" + it.Region
		if out[k] == nil {
			out[k] = map[string]int{}
		}
		out[k][string(it.Action)]++
	}
	return out
}

// checkScope validates --scope values.
func checkScope(scope []string) error {
	for _, s := range scope {
		switch s {
		case ScopeInstances, ScopeSources:
		default:
			return fmt.Errorf("--scope %q: want instances, sources or instances,sources", s)
		}
	}
	return nil
}

// HasScope reports whether the options' scope includes s (no scope:
// instances only).
func (o PlanOptions) HasScope(s string) bool {
	if len(o.Scope) == 0 {
		return s == ScopeInstances
	}
	return slices.Contains(o.Scope, s)
}

// checkSources refuses a plan file's source steps imdsfleet would never plan.
func (p *Plan) checkSources() error {
	seen := map[string]bool{}
	ids := map[string]bool{}
	for _, it := range p.Sources {
		if it.Account == "" || it.Region == "" || it.ID == "" {
			return fmt.Errorf("a source step without account, Region or id (%s/%s/%s)", report.SanitizeCell(it.Account, 40), report.SanitizeCell(it.Region, 40), report.SanitizeCell(it.ID, 60))
		}
		k := it.Account + "/" + it.Region + "/" + it.ID
		if seen[k] {
			return fmt.Errorf("source step %s listed twice", report.SanitizeCell(it.ID, 60))
		}
		seen[k] = true
		ok := false
		switch it.Action {
		case ActionCreateVersion:
			ok = it.TemplateID != "" && it.Version > 0 && it.Change.HttpTokens == "required" && (it.Change.HttpPutResponseHopLimit == 0 || it.Change.HttpPutResponseHopLimit == 2)
			ids[k] = ok
		case ActionSetDefault:
			ok = it.TemplateID != "" && it.Version > 0 && ids[it.Account+"/"+it.Region+"/"+it.After]
		case ActionUpdateGroup:
			ok = it.Group != "" && it.TemplateID != "" && it.Version > 0 && ids[it.Account+"/"+it.Region+"/"+it.After]
		case ActionSetAccountDefaults:
			ok = it.Defaults != nil && it.ScannedDefaults != nil &&
				(it.Defaults.HttpTokens == "" || it.Defaults.HttpTokens == "required") &&
				(it.Defaults.HttpTokensEnforced == "" || it.Defaults.HttpTokensEnforced == "enabled") && *it.Defaults != (DefaultsChange{})
		}
		if !ok {
			return fmt.Errorf("source step %s: %q is not a change imdsfleet plans", report.SanitizeCell(it.ID, 60), report.SanitizeCell(string(it.Action), 40))
		}
		if err := checkSourceWave(&it); err != nil {
			return err
		}
	}
	return nil
}
