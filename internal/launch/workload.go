package launch

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/report"
)

// DefaultOwnerTags are the tags --owner-tag reads when not given.
var DefaultOwnerTags = []string{"owner", "team"}

// WorkloadOptions shape [Workloads].
type WorkloadOptions struct {
	// GroupBy are the --group-by tag keys, tried in order for instances
	// that no launcher groups.
	GroupBy []string
	// OwnerTags are the --owner-tag keys, tried in order (nil:
	// DefaultOwnerTags).
	OwnerTags []string
}

// Workloads groups r's instances (judged: after policy.Apply) into
// workloads, within each (account, Region), and sets each instance's
// Workload to its workload's ID. An instance belongs to the
// first that applies: its Auto Scaling group; else its EKS node group or
// Karpenter (or EKS Auto Mode) node pool; else its launch template; else
// the first --group-by tag it carries, as KEY=VALUE; else "unmanaged".
// Groups are read from the instance's tags, so they exist even when the
// scan did not read launch sources.
//
// Per workload: counts by classification and risk, the launch sources its
// instances came from and their next launch (the worst one when they
// differ), the owner, and the next step of its plan with a
// recommendation (see policy.PlanWorkload). The result is sorted by
// account, Region and ID.
func Workloads(r *report.Report, o WorkloadOptions) []report.Workload {
	owners := o.OwnerTags
	if owners == nil {
		owners = DefaultOwnerTags
	}
	sources := make(map[[3]string]*report.LaunchSource, len(r.LaunchSources))
	for i := range r.LaunchSources {
		s := &r.LaunchSources[i]
		sources[[3]string{s.Account, s.Region, s.ID}] = s
	}
	type acc struct {
		w      *report.Workload
		owners map[[2]string]int // (tag, value) → instances
		nexts  []report.NextLaunch
		// viaConfig: one of its sources is, or launches through, a
		// launch configuration (which cannot be modified).
		viaConfig bool
	}
	byID := map[string]*acc{}
	var order []string
	var key []byte
	for i := range r.Instances {
		in := &r.Instances[i]
		kind, name := workloadOf(in.Tags, o.GroupBy)
		// The ID is built in a reused buffer and looked up without a copy:
		// instances of one workload share its one ID string.
		key = append(append(append(append(append(append(append(key[:0], kind...), '/'), in.Account...), '/'), in.Region...), '/'), name...)
		a := byID[string(key)]
		if a == nil {
			id := string(key)
			a = &acc{
				w: &report.Workload{Account: in.Account, Region: in.Region, ID: id, Kind: kind, Name: name,
					ByClassification: map[string]int{}, ByRisk: map[string]int{}, SourceIDs: []string{}},
				owners: map[[2]string]int{},
			}
			byID[id] = a
			order = append(order, id)
		}
		in.Workload = a.w.ID
		w := a.w
		w.Instances++
		w.ByClassification[in.Classification]++
		for _, k := range in.Risks {
			w.ByRisk[k]++
		}
		for _, k := range owners {
			if v := in.Tags[k]; v != "" {
				a.owners[[2]string{k, v}]++
				break
			}
		}
		if ls := in.LaunchSource; ls != nil && ls.SourceID != "" && !slices.Contains(w.SourceIDs, ls.SourceID) {
			w.SourceIDs = append(w.SourceIDs, ls.SourceID)
			if s := sources[[3]string{in.Account, in.Region, ls.SourceID}]; s != nil {
				a.viaConfig = a.viaConfig || s.Kind == report.SourceLaunchConfiguration ||
					slices.ContainsFunc(s.Uses, func(u string) bool { return strings.HasPrefix(u, report.SourceLaunchConfiguration+"/") })
				a.nexts = append(a.nexts, s.NextLaunch)
				continue
			}
		}
		if in.NextLaunch != nil && (in.LaunchSource == nil || in.LaunchSource.SourceID == "") && !slices.Contains(a.nexts, *in.NextLaunch) {
			a.nexts = append(a.nexts, *in.NextLaunch)
		}
	}
	out := make([]report.Workload, 0, len(order))
	for _, id := range order {
		a := byID[id]
		w := a.w
		for _, c := range report.Classifications {
			w.ByClassification[c] += 0
		}
		for _, k := range report.Risks {
			w.ByRisk[k] += 0
		}
		slices.Sort(w.SourceIDs)
		if len(a.nexts) > 0 {
			n := workloadNext(a.nexts)
			w.NextLaunch = &n
		}
		w.OwnerTag, w.Owner = topOwner(a.owners)
		w.Step, w.Recommendation = policy.PlanWorkload(w, a.viaConfig)
		out = append(out, *w)
	}
	slices.SortFunc(out, func(a, b report.Workload) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// workloadOf is the kind and name of the workload an instance with these
// tags belongs to.
func workloadOf(tags map[string]string, groupBy []string) (kind, name string) {
	src := SourceOf(tags)
	switch {
	case src.AutoScalingGroup != "":
		return report.WorkloadAutoScalingGroup, src.AutoScalingGroup
	case src.EKSNodegroup != "":
		if src.EKSCluster != "" {
			return report.WorkloadEKSNodegroup, src.EKSCluster + "/" + src.EKSNodegroup
		}
		return report.WorkloadEKSNodegroup, src.EKSNodegroup
	case src.KarpenterPool != "":
		if src.EKSCluster != "" {
			return report.WorkloadKarpenter, src.EKSCluster + "/" + src.KarpenterPool
		}
		return report.WorkloadKarpenter, src.KarpenterPool
	case src.TemplateID != "":
		return report.WorkloadLaunchTemplate, src.TemplateID
	}
	for _, k := range groupBy {
		if v := tags[k]; v != "" {
			return report.WorkloadTag, k + "=" + v
		}
	}
	return report.WorkloadUnmanaged, report.WorkloadUnmanaged
}

// workloadNext is the next launch that matters most among a workload's:
// one that fails, else one that allows v1, else one that cannot be
// resolved, else the first. When they differ the reason says how many.
func workloadNext(nexts []report.NextLaunch) report.NextLaunch {
	// The instances, and so nexts, come in the order their listing gave
	// them (a large Region is listed in parts at once): of the next
	// launches that matter most, the least in a fixed order is the one,
	// so that two scans of one fleet agree.
	slices.SortFunc(nexts, compareNext)
	pick := 0
	for i, n := range nexts {
		if rank(n) > rank(nexts[pick]) {
			pick = i
		}
	}
	n := nexts[pick]
	if d := distinct(nexts); d > 1 {
		n.Reason = joinReasons(n.Reason, fmt.Sprintf("its instances come from sources with %d different next launches; this is the one that matters most", d))
	}
	return n
}

// compareNext orders next launches field by field.
func compareNext(a, b report.NextLaunch) int {
	return cmp.Or(cmp.Compare(a.Status, b.Status),
		cmp.Compare(a.HttpTokens, b.HttpTokens), cmp.Compare(a.HttpTokensFrom, b.HttpTokensFrom),
		cmp.Compare(a.HttpPutResponseHopLimit, b.HttpPutResponseHopLimit), cmp.Compare(a.HttpPutResponseHopLimitFrom, b.HttpPutResponseHopLimitFrom),
		cmp.Compare(a.HttpEndpoint, b.HttpEndpoint), cmp.Compare(a.HttpEndpointFrom, b.HttpEndpointFrom),
		cmp.Compare(a.Reason, b.Reason))
}

func rank(n report.NextLaunch) int {
	switch {
	case n.Fails():
		return 3
	case n.AllowsV1():
		return 2
	case n.Status == report.NextLaunchUnresolved:
		return 1
	}
	return 0
}

func distinct(nexts []report.NextLaunch) int {
	var seen []report.NextLaunch
	for _, n := range nexts {
		if !slices.Contains(seen, n) {
			seen = append(seen, n)
		}
	}
	return len(seen)
}

// topOwner is the (tag, value) most instances carry; ties go to the
// smaller tag key and value, so the result does not depend on order.
func topOwner(owners map[[2]string]int) (tag, value string) {
	var best [2]string
	n := 0
	for k, c := range owners {
		if c > n || c == n && strings.Compare(k[0]+"\x00"+k[1], best[0]+"\x00"+best[1]) < 0 {
			best, n = k, c
		}
	}
	return best[0], best[1]
}
