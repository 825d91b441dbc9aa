package launch

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// Result is what [Resolve] makes of one target's inventory.
type Result struct {
	// Defaults are the account defaults in the report's form; nil when
	// their read failed.
	Defaults *report.AccountDefaults
	// Sources are every launch source of the target (template versions,
	// configurations, groups and the account defaults), sorted by ID,
	// each with its next launch and the groups and instances that use it.
	Sources []report.LaunchSource
	// Errors are the inventory's failed reads in the report's form.
	Errors []report.LaunchReadError
}

// Source IDs (report.LaunchSource.ID).
const accountDefaultID = "account-default"

func templateID(id string, v int64) string {
	return "launch-template/" + id + "/" + strconv.FormatInt(v, 10)
}
func configID(name string) string { return "launch-configuration/" + name }
func groupID(name string) string  { return "auto-scaling-group/" + name }

// Resolve works out the next launch of every launch source in inv and of
// every instance in instances (the target's own: same account and
// Region), and sets each instance's LaunchSource and NextLaunch. Call it
// before policy.Apply: the risk next-launch-v1 reads NextLaunch.
//
// Per field, the first layer that sets it decides: the launch template
// version or launch configuration, then the account defaults (set in the
// account or by a declarative policy), then the AMI's ImdsSupport v2.0
// (tokens required, hop limit 2), then EC2's built-in defaults (tokens
// optional, hop limit 1, endpoint enabled). With HttpTokensEnforced
// enabled a launch that would end with tokens optional fails. Whatever
// cannot be known (a deleted template version or AMI, a failed read, an
// instance launched by hand) is left unresolved with the reason.
func Resolve(inv *Inventory, instances []report.Instance) Result {
	x := newIndex(inv)
	var res Result
	for _, f := range inv.Failures {
		res.Errors = append(res.Errors, report.LaunchReadError{Read: string(f.Read), Permission: f.permission(), Error: f.Err})
	}
	if d := inv.Defaults; d != nil {
		res.Defaults = &report.AccountDefaults{
			Account: inv.Account, Region: inv.Region,
			HttpTokens: noPref(d.HttpTokens), HttpPutResponseHopLimit: noPrefHop(d.HttpPutResponseHopLimit),
			HttpEndpoint: noPref(d.HttpEndpoint), InstanceMetadataTags: noPref(d.InstanceMetadataTags),
			HttpTokensEnforced: noPref(d.HttpTokensEnforced), ManagedBy: d.ManagedBy,
			ManagedExceptionMessage: d.ManagedExceptionMessage,
		}
	}

	sources := map[string]*report.LaunchSource{}
	add := func(s report.LaunchSource) *report.LaunchSource {
		s.Account, s.Region = inv.Account, inv.Region
		p := &s
		sources[s.ID] = p
		return p
	}
	for _, v := range inv.Templates {
		// The same version may be listed twice (as $Default or $Latest,
		// and again by number): one source, with every flag it was given.
		if s := sources[templateID(v.TemplateID, v.Version)]; s != nil {
			s.IsDefault = s.IsDefault || v.Default
			s.IsLatest = s.IsLatest || v.Latest
			continue
		}
		add(report.LaunchSource{
			ID: templateID(v.TemplateID, v.Version), Kind: report.SourceLaunchTemplate, Name: v.TemplateName,
			TemplateID: v.TemplateID, Version: v.Version, IsDefault: v.Default, IsLatest: v.Latest, ImageID: v.ImageID,
			NextLaunch: x.resolve(v.MetadataOptions, report.LayerLaunchTemplate, v.ImageID),
		})
	}
	for _, lc := range inv.LaunchConfigs {
		add(report.LaunchSource{
			ID: configID(lc.Name), Kind: report.SourceLaunchConfiguration, Name: lc.Name, ImageID: lc.ImageID,
			NextLaunch: x.resolve(lc.MetadataOptions, report.LayerLaunchConfiguration, lc.ImageID),
		})
	}
	// The account defaults as a source: what a launch that sets no
	// metadata options gets, for an AMI without ImdsSupport.
	add(report.LaunchSource{ID: accountDefaultID, Kind: report.SourceAccountDefault, Name: "account defaults", NextLaunch: x.resolveDefaults()})
	groupNext := map[string]report.NextLaunch{}
	for _, g := range inv.Groups {
		uses, next := x.resolveGroup(g)
		groupNext[g.Name] = next
		add(report.LaunchSource{ID: groupID(g.Name), Kind: report.SourceAutoScalingGroup, Name: g.Name, Uses: uses, NextLaunch: next,
			TemplateRefs: x.groupRefs(g)})
		for _, u := range uses {
			if s := sources[u]; s != nil {
				s.Groups = append(s.Groups, g.Name)
			}
		}
		if defersToDefaults(next) {
			sources[accountDefaultID].Groups = append(sources[accountDefaultID].Groups, g.Name)
		}
	}

	// Instances with equal launch sources, or equal next launches, share
	// one pointer: a large Region holds thousands of instances per group,
	// and the scan keeps every instance until the report is written.
	// Nothing writes through these pointers (the report is read-only once
	// resolved).
	srcs := map[report.InstanceLaunchSource]*report.InstanceLaunchSource{}
	nexts := map[report.NextLaunch]*report.NextLaunch{}
	for i := range instances {
		in := &instances[i]
		if in.Account != inv.Account || in.Region != inv.Region {
			continue
		}
		src := SourceOf(in.Tags)
		next := x.instanceNext(&src, groupNext)
		if srcs[src] == nil {
			srcs[src] = &src
		}
		if nexts[next] == nil {
			nexts[next] = &next
		}
		in.LaunchSource = srcs[src]
		in.NextLaunch = nexts[next]
		if src.Kind == report.SourceKarpenter && src.TemplateID != "" {
			// The node came from the template Karpenter wrote (its
			// source is the EC2NodeClass): the template lists it, so
			// that whoever would fix the template sees Karpenter's node.
			if _, id, _ := x.version(TemplateRef{ID: src.TemplateID, Version: src.TemplateVersion}); sources[id] != nil {
				sources[id].Instances = append(sources[id].Instances, in.InstanceID)
			}
		}
		if s := sources[src.SourceID]; s != nil {
			s.Instances = append(s.Instances, in.InstanceID)
			for _, u := range s.Uses {
				if us := sources[u]; us != nil {
					us.Instances = append(us.Instances, in.InstanceID)
				}
			}
		}
		if defersToDefaults(next) {
			sources[accountDefaultID].Instances = append(sources[accountDefaultID].Instances, in.InstanceID)
		}
	}

	markUsersUnknown(x, sources)
	for _, s := range sources {
		slices.Sort(s.Groups)
		s.Groups = slices.Compact(s.Groups)
		slices.Sort(s.Instances)
		s.Instances = slices.Compact(s.Instances)
		if s.Groups == nil {
			s.Groups = []string{}
		}
		if s.Instances == nil {
			s.Instances = []string{}
		}
		res.Sources = append(res.Sources, *s)
	}
	slices.SortFunc(res.Sources, func(a, b report.LaunchSource) int { return cmp.Compare(a.ID, b.ID) })
	return res
}

// markUsersUnknown sets UsersUnknown on the sources whose groups and
// instances cannot all be known because a read failed: without the Auto
// Scaling groups, no template version or configuration knows the groups
// that launch from it (nor their instances); the account defaults' users
// are the groups and instances whose template or configuration leaves
// tokens unset, which needs the groups, the template versions and the
// configurations, and the defaults and AMIs (without them such a next
// launch is unresolved, its user not counted). A denied read makes these
// facts unknown, never zero.
func markUsersUnknown(x *index, sources map[string]*report.LaunchSource) {
	groups, groupsFailed := x.notRead("Auto Scaling groups", ReadGroups)
	for _, s := range sources {
		switch s.Kind {
		case report.SourceLaunchTemplate, report.SourceLaunchConfiguration:
			if groupsFailed {
				s.UsersUnknown = groups + ": the groups that launch from it, and their instances, are not known"
			}
		case report.SourceAccountDefault:
			why, failed := groups, groupsFailed
			if !failed {
				why, failed = x.notRead("launch templates", ReadTemplateVersions, ReadTemplates)
			}
			if !failed {
				why, failed = x.notRead("launch configurations", ReadLaunchConfigs)
			}
			// A group whose template leaves tokens unset takes them from
			// the defaults, then the AMI: with either not read its next
			// launch is unresolved and it is not counted above, though
			// it uses the defaults.
			if !failed {
				why, failed = x.notRead("account defaults", ReadDefaults)
			}
			if !failed {
				why, failed = x.notRead("AMIs", ReadImages)
			}
			if failed {
				s.UsersUnknown = why + ": which groups and instances take their settings from the account defaults is not known"
			}
		}
	}
}

// defersToDefaults reports whether a resolved next launch took its tokens
// setting from below the template or configuration: changing the
// account defaults would change it.
func defersToDefaults(n report.NextLaunch) bool {
	switch n.HttpTokensFrom {
	case report.LayerAccountDefault, report.LayerDeclarativePolicy, report.LayerAMI, report.LayerBuiltIn:
		return true
	}
	return false
}

// noPref maps AWS's "no-preference" to unset.
func noPref(s string) string {
	if s == "no-preference" {
		return ""
	}
	return s
}

func noPrefHop(h int32) int32 { return max(h, 0) }

// index is the inventory arranged for lookups.
type index struct {
	inv      *Inventory
	versions map[string]map[int64]*TemplateVersion // template ID → version → it
	defaults map[string]int64                      // template ID → $Default
	latest   map[string]int64                      // template ID → $Latest
	byName   map[string]string                     // template name → ID
	configs  map[string]*LaunchConfig
	groups   map[string]*Group
	images   map[string]*Image
	failed   map[Read]ReadFailure
}

func newIndex(inv *Inventory) *index {
	x := &index{
		inv: inv, versions: map[string]map[int64]*TemplateVersion{}, defaults: map[string]int64{}, latest: map[string]int64{},
		byName: map[string]string{}, configs: map[string]*LaunchConfig{}, groups: map[string]*Group{},
		images: map[string]*Image{}, failed: map[Read]ReadFailure{},
	}
	for i := range inv.Templates {
		v := &inv.Templates[i]
		if x.versions[v.TemplateID] == nil {
			x.versions[v.TemplateID] = map[int64]*TemplateVersion{}
		}
		x.versions[v.TemplateID][v.Version] = v
		if v.Default {
			x.defaults[v.TemplateID] = v.Version
		}
		if v.Latest {
			x.latest[v.TemplateID] = v.Version
		}
		if v.TemplateName != "" {
			x.byName[v.TemplateName] = v.TemplateID
		}
	}
	for i := range inv.LaunchConfigs {
		x.configs[inv.LaunchConfigs[i].Name] = &inv.LaunchConfigs[i]
	}
	for i := range inv.Groups {
		x.groups[inv.Groups[i].Name] = &inv.Groups[i]
	}
	for i := range inv.Images {
		x.images[inv.Images[i].ID] = &inv.Images[i]
	}
	for _, f := range inv.Failures {
		if _, dup := x.failed[f.Read]; !dup {
			x.failed[f.Read] = f
		}
	}
	return x
}

// notRead says that a read failed, for a reason: "launch template
// versions not read (ec2:DescribeLaunchTemplateVersions: AccessDenied)".
func (x *index) notRead(what string, reads ...Read) (string, bool) {
	for _, r := range reads {
		if f, ok := x.failed[r]; ok {
			return fmt.Sprintf("%s not read (%s: %s)", what, f.permission(), f.Err), true
		}
	}
	return "", false
}

// field is one resolved setting, or a reason it is unknown.
type field struct {
	value  string
	hop    int32
	from   string
	reason string // set when unknown
}

// resolve applies the layers below a template version or launch
// configuration whose options are opts (layer names it) and whose AMI is
// imageID.
func (x *index) resolve(opts Options, layer, imageID string) report.NextLaunch {
	return x.resolveWith(opts, layer, func() (bool, string) { return x.amiSupport(imageID) })
}

// resolveWith is resolve with the AMI layer given: whether the AMI has
// ImdsSupport v2.0, or why that is not known.
func (x *index) resolveWith(opts Options, layer string, ami func() (v2 bool, reason string)) report.NextLaunch {
	d := x.inv.Defaults
	defLayer := report.LayerAccountDefault
	if d != nil && d.ManagedBy == "declarative-policy" {
		defLayer = report.LayerDeclarativePolicy
	}
	defaultsUnread, _ := x.notRead("account defaults", ReadDefaults)

	var tokens, hop, endpoint field
	switch {
	case opts.HttpTokens != "":
		tokens = field{value: opts.HttpTokens, from: layer}
	case d == nil:
		tokens = field{reason: unread(defaultsUnread)}
	case noPref(d.HttpTokens) != "":
		tokens = field{value: d.HttpTokens, from: defLayer}
	default:
		if v2, why := ami(); why != "" {
			tokens = field{reason: why}
		} else if v2 {
			tokens = field{value: "required", from: report.LayerAMI}
		} else {
			tokens = field{value: "optional", from: report.LayerBuiltIn}
		}
	}
	switch {
	case opts.HttpPutResponseHopLimit > 0:
		hop = field{hop: opts.HttpPutResponseHopLimit, from: layer}
	case d == nil:
		hop = field{reason: unread(defaultsUnread)}
	case d.HttpPutResponseHopLimit > 0:
		hop = field{hop: d.HttpPutResponseHopLimit, from: defLayer}
	default:
		if v2, why := ami(); why != "" {
			hop = field{reason: why}
		} else if v2 {
			hop = field{hop: 2, from: report.LayerAMI}
		} else {
			hop = field{hop: 1, from: report.LayerBuiltIn}
		}
	}
	switch {
	case opts.HttpEndpoint != "":
		endpoint = field{value: opts.HttpEndpoint, from: layer}
	case d == nil:
		endpoint = field{reason: unread(defaultsUnread)}
	case noPref(d.HttpEndpoint) != "":
		endpoint = field{value: d.HttpEndpoint, from: defLayer}
	default: // the AMI has no say on the endpoint
		endpoint = field{value: "enabled", from: report.LayerBuiltIn}
	}
	return x.assemble(tokens, hop, endpoint)
}

func unread(reason string) string {
	if reason == "" {
		return "account defaults not read"
	}
	return reason
}

// resolveDefaults is the account defaults as a source: a launch that sets
// no options, from an AMI without ImdsSupport.
func (x *index) resolveDefaults() report.NextLaunch {
	n := x.resolveWith(Options{}, "", func() (bool, string) { return false, "" })
	if n.HttpTokensFrom == report.LayerBuiltIn || n.HttpPutResponseHopLimitFrom == report.LayerBuiltIn {
		n.Reason = joinReasons(n.Reason, "for an AMI without ImdsSupport; from one with ImdsSupport v2.0 the settings the defaults leave unset come from the AMI (tokens required, hop limit 2)")
	}
	return n
}

// amiSupport says whether imageID has ImdsSupport v2.0, or why that is
// not known.
func (x *index) amiSupport(imageID string) (v2 bool, reason string) {
	switch {
	case imageID == "":
		return false, "it names no AMI, so the AMI's ImdsSupport is not known (the launch request's own AMI decides)"
	case strings.HasPrefix(imageID, "resolve:ssm:"):
		return false, fmt.Sprintf("its AMI comes from the SSM parameter %s, which imdsfleet does not resolve, so the AMI's ImdsSupport is not known", strings.TrimPrefix(imageID, "resolve:ssm:"))
	}
	img := x.images[imageID]
	if img == nil {
		if why, ok := x.notRead("AMI "+imageID, ReadImages); ok {
			return false, why
		}
		return false, fmt.Sprintf("AMI %s was not read", imageID)
	}
	if img.Missing {
		return false, fmt.Sprintf("AMI %s no longer exists (deregistered or no longer shared), so a launch from it fails", imageID)
	}
	return img.ImdsSupport == "v2.0", ""
}

// assemble makes the NextLaunch of three fields, and applies
// HttpTokensEnforced.
func (x *index) assemble(tokens, hop, endpoint field) report.NextLaunch {
	n := report.NextLaunch{
		Status:     report.NextLaunchResolved,
		HttpTokens: tokens.value, HttpTokensFrom: tokens.from,
		HttpPutResponseHopLimit: hop.hop, HttpPutResponseHopLimitFrom: hop.from,
		HttpEndpoint: endpoint.value, HttpEndpointFrom: endpoint.from,
	}
	var reasons []string
	for _, f := range []field{tokens, hop, endpoint} {
		if f.reason != "" && !slices.Contains(reasons, f.reason) {
			reasons = append(reasons, f.reason)
		}
	}
	if len(reasons) > 0 {
		n.Status = report.NextLaunchUnresolved
		n.Reason = strings.Join(reasons, "; ")
	}
	if d := x.inv.Defaults; d != nil && d.HttpTokensEnforced == "enabled" && n.HttpTokens == "optional" {
		n.Status = report.NextLaunchFails
		n.Reason = joinReasons(n.Reason, fmt.Sprintf("HttpTokensEnforced is enabled in %s, so EC2 refuses this launch: its tokens would be optional (from %s); set HttpTokens=required in the source",
			x.inv.Region, report.DescribeLayer(tokens.from)))
	}
	return n
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// unresolved is a next launch that could not be worked out at all.
func unresolved(reason string) report.NextLaunch {
	return report.NextLaunch{Status: report.NextLaunchUnresolved, Reason: reason}
}

// version finds the template version ref names, or says why it cannot.
// It returns the version and its source ID.
func (x *index) version(ref TemplateRef) (*TemplateVersion, string, string) {
	if why, ok := x.notRead("launch template versions", ReadTemplateVersions, ReadTemplates); ok {
		return nil, "", why
	}
	id := ref.ID
	name := ref.ID
	if id == "" {
		name = ref.Name
		id = x.byName[ref.Name]
	}
	if id == "" || x.versions[id] == nil {
		if name == "" {
			return nil, "", "it names no launch template"
		}
		return nil, "", fmt.Sprintf("launch template %s does not exist (deleted?)", name)
	}
	var v int64
	switch ref.Version {
	case "", "$Default":
		d, ok := x.defaults[id]
		if !ok {
			return nil, "", fmt.Sprintf("the $Default version of launch template %s was not read", name)
		}
		v = d
	case "$Latest":
		l, ok := x.latest[id]
		if !ok {
			return nil, "", fmt.Sprintf("the $Latest version of launch template %s was not read", name)
		}
		v = l
	default:
		n, err := strconv.ParseInt(ref.Version, 10, 64)
		if err != nil || n < 1 {
			return nil, "", fmt.Sprintf("launch template %s version %q is not $Latest, $Default or a version number", name, ref.Version)
		}
		v = n
	}
	tv := x.versions[id][v]
	if tv == nil {
		return nil, "", fmt.Sprintf("launch template %s has no version %d (deleted?)", name, v)
	}
	return tv, templateID(id, v), ""
}

// resolveGroup returns the sources a group launches from and its next
// launch. A mixed instances policy may launch from several template
// versions (overrides naming their own): its next launch is the worst of
// theirs: one that fails, else one that allows v1, else one that cannot
// be resolved, else the first.
func (x *index) resolveGroup(g Group) ([]string, report.NextLaunch) {
	var refs []TemplateRef
	switch {
	case g.MixedInstancesPolicy != nil:
		p := g.MixedInstancesPolicy
		base := len(p.Overrides) == 0
		for _, o := range p.Overrides {
			if o.LaunchTemplate != nil {
				refs = append(refs, *o.LaunchTemplate)
			} else {
				base = true
			}
		}
		if base {
			refs = append([]TemplateRef{p.LaunchTemplate}, refs...)
		}
	case g.LaunchTemplate != nil:
		refs = []TemplateRef{*g.LaunchTemplate}
	case g.LaunchConfigurationName != "":
		lc := x.configs[g.LaunchConfigurationName]
		if lc == nil {
			if why, ok := x.notRead("launch configurations", ReadLaunchConfigs); ok {
				return nil, unresolved(why)
			}
			return nil, unresolved(fmt.Sprintf("its launch configuration %s does not exist", g.LaunchConfigurationName))
		}
		return []string{configID(lc.Name)}, x.resolve(lc.MetadataOptions, report.LayerLaunchConfiguration, lc.ImageID)
	default:
		return nil, unresolved("the group names no launch template, mixed instances policy or launch configuration")
	}
	var uses, paths []string // paths: every launch path, resolved or not, once each
	var nexts []report.NextLaunch
	for _, ref := range refs {
		v, id, why := x.version(ref)
		if v == nil {
			if p := refLabel(ref); !slices.Contains(paths, p) {
				paths = append(paths, p)
				nexts = append(nexts, unresolved(why))
			}
			continue
		}
		if slices.Contains(uses, id) {
			continue
		}
		uses = append(uses, id)
		paths = append(paths, id)
		nexts = append(nexts, x.resolve(v.MetadataOptions, report.LayerLaunchTemplate, v.ImageID))
	}
	return uses, worst(nexts, paths)
}

// groupRefs lists the template references of a group as it names them,
// each with the version it resolved to.
func (x *index) groupRefs(g Group) []report.TemplateRef {
	var out []report.TemplateRef
	add := func(via string, ref TemplateRef) {
		r := report.TemplateRef{Via: via, TemplateID: ref.ID, TemplateName: ref.Name, Version: ref.Version}
		if v, id, _ := x.version(ref); v != nil {
			r.SourceID = id
			if r.TemplateID == "" {
				r.TemplateID = v.TemplateID
			}
		}
		out = append(out, r)
	}
	switch {
	case g.MixedInstancesPolicy != nil:
		add(report.ViaMixedPolicy, g.MixedInstancesPolicy.LaunchTemplate)
		for _, o := range g.MixedInstancesPolicy.Overrides {
			if o.LaunchTemplate != nil {
				add(report.ViaOverride, *o.LaunchTemplate)
			}
		}
	case g.LaunchTemplate != nil:
		add(report.ViaLaunchTemplate, *g.LaunchTemplate)
	}
	return out
}

// refLabel names a template reference that could not be resolved, as the
// group gives it: "launch template lt-… version 4".
func refLabel(ref TemplateRef) string {
	name := ref.ID
	if name == "" {
		name = ref.Name
	}
	version := ref.Version
	if version == "" {
		version = "$Default"
	}
	return fmt.Sprintf("launch template %s version %s", name, version)
}

// worst picks the next launch that matters most among a group's launch
// paths (see resolveGroup), noting when they differ.
func worst(nexts []report.NextLaunch, paths []string) report.NextLaunch {
	if len(nexts) == 1 {
		return nexts[0]
	}
	pick := 0
	differ := false
	for i, n := range nexts {
		if n != nexts[0] {
			differ = true
		}
		if rank(n) > rank(nexts[pick]) {
			pick = i
		}
	}
	n := nexts[pick]
	if differ {
		n.Reason = joinReasons(n.Reason, fmt.Sprintf("the group launches from %d template versions (%s) that differ; this is the one that matters most", len(nexts), strings.Join(paths, ", ")))
	}
	return n
}

// instanceNext finds the source of an instance and its next launch, and
// sets src.SourceID when the source is one of the inventory's.
func (x *index) instanceNext(src *report.InstanceLaunchSource, groupNext map[string]report.NextLaunch) report.NextLaunch {
	switch src.Kind {
	case report.SourceAutoScalingGroup:
		if next, ok := groupNext[src.AutoScalingGroup]; ok {
			src.SourceID = groupID(src.AutoScalingGroup)
			return next
		}
		if why, ok := x.notRead("Auto Scaling groups", ReadGroups); ok {
			return unresolved(why)
		}
		return unresolved(fmt.Sprintf("its Auto Scaling group %s no longer exists", src.AutoScalingGroup))
	case report.SourceLaunchTemplate:
		v, id, why := x.version(TemplateRef{ID: src.TemplateID, Version: src.TemplateVersion})
		if v == nil {
			return unresolved(why)
		}
		src.SourceID = id
		return x.resolve(v.MetadataOptions, report.LayerLaunchTemplate, v.ImageID)
	case report.SourceKarpenter:
		return x.karpenterNext(src)
	case report.SourceEKSAutoMode:
		return unresolved(fmt.Sprintf("launched by EKS Auto Mode (node pool %s): its NodeClass decides the metadata options, which the EC2 API does not show", src.KarpenterPool))
	}
	return unresolved("launched without a launch template, group or fleet (by hand, or by a tool that leaves no tag): its replacement gets whatever its launch asks for; a launch that sets nothing gets the account defaults (source account-default)")
}

// karpenterNext is the next launch of a Karpenter node. Its EC2NodeClass
// (spec.metadataOptions) decides, and the EC2 API does not show it, so
// the next launch stays unresolved. When the node carries the template
// tags, the launch template Karpenter wrote from the EC2NodeClass for it
// is evidence of those options: its settings are given (so a template
// that allows v1 still gives the risk next-launch-v1), and the reason
// says where they come from and that the fix is the EC2NodeClass, which
// Karpenter rewrites its templates from.
func (x *index) karpenterNext(src *report.InstanceLaunchSource) report.NextLaunch {
	owner := fmt.Sprintf("launched by Karpenter (node pool %s): its EC2NodeClass %s sets the metadata options (spec.metadataOptions; Karpenter's default: tokens required, hop limit 1), which the EC2 API does not show",
		src.KarpenterPool, orUnknown(src.KarpenterClass))
	if src.TemplateID == "" {
		return unresolved(owner + "; it carries no launch template tag to read them from")
	}
	v, id, why := x.version(TemplateRef{ID: src.TemplateID, Version: src.TemplateVersion})
	if v == nil {
		return unresolved(owner + "; the launch template Karpenter wrote for it cannot be read as evidence: " + why + " (Karpenter replaces its templates when the EC2NodeClass changes)")
	}
	n := x.resolve(v.MetadataOptions, report.LayerLaunchTemplate, v.ImageID)
	if n.Status == report.NextLaunchResolved {
		n.Status = report.NextLaunchUnresolved
	}
	n.Reason = joinReasons(owner+"; these settings are those of "+id+", the launch template Karpenter wrote from it for this node: evidence of the EC2NodeClass when the node launched, to fix in the EC2NodeClass, not in the template (Karpenter rewrites it)", n.Reason)
	return n
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
