package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// DiffVersion is the version of the JSON [WriteDiffJSON] writes. Bump it
// on any incompatible change; fields may be added without a bump.
const DiffVersion = 1

// Change kinds: what happened to one instance between two reports. An
// instance can have several (enforced → v1-in-use is a regression and a
// new v1 user).
const (
	// ChangeRegression: IMDSv2 was required (enforced) and is optional
	// again, with the endpoint on.
	ChangeRegression = "regression"
	// ChangeNextLaunchRegression: the instance's next launch resolved to
	// tokens required and now resolves to optional. Needs next-launch data
	// in both reports.
	ChangeNextLaunchRegression = "next-launch-regression"
	// ChangeNewV1: classified v1-in-use now and not before (a new
	// instance that is v1-in-use included).
	ChangeNewV1 = "new-v1"
	// ChangeEnforced: IMDSv2 is required now and was not before.
	ChangeEnforced = "enforced"
	// ChangeNew: in the new report only, in an account and Region both
	// reports scanned.
	ChangeNew = "new"
	// ChangeGone: in the old report only, in an account and Region both
	// reports scanned (terminated, or no longer matching the scan).
	ChangeGone = "gone"
	// ChangeV1CallsUp, ChangeV1CallsDown: the v1 calls over the window
	// went up or down (usage read in both reports).
	ChangeV1CallsUp   = "v1-calls-up"
	ChangeV1CallsDown = "v1-calls-down"
	// ChangeReclassified: the classification changed in another way
	// (ready → no-data, v1-in-use → ready, …).
	ChangeReclassified = "reclassified"
	// ChangeUnscanned: in one report only, because the other did not scan
	// its account and Region (or that target failed): not compared.
	ChangeUnscanned = "unscanned"
)

// ChangeKinds lists every change kind, most urgent first: the order of
// the human outputs and of an instance's kinds.
var ChangeKinds = []string{
	ChangeRegression, ChangeNextLaunchRegression, ChangeNewV1, ChangeEnforced,
	ChangeNew, ChangeGone, ChangeV1CallsUp, ChangeV1CallsDown, ChangeReclassified, ChangeUnscanned,
}

// DescribeChange says in one sentence what a change kind means.
func DescribeChange(kind string) string {
	switch kind {
	case ChangeRegression:
		return "IMDSv2 was required and is optional again: IMDSv1 is back on."
	case ChangeNextLaunchRegression:
		return "The next launch resolved to tokens required and now to optional."
	case ChangeNewV1:
		return "Newly classified v1-in-use (new instances included)."
	case ChangeEnforced:
		return "IMDSv2 is required now and was not before."
	case ChangeNew:
		return "New instance in a target both reports scanned."
	case ChangeGone:
		return "Instance gone from a target both reports scanned."
	case ChangeV1CallsUp:
		return "More IMDSv1 calls in the window than before."
	case ChangeV1CallsDown:
		return "Fewer IMDSv1 calls in the window than before."
	case ChangeReclassified:
		return "Classification changed otherwise (e.g. v1-in-use to ready)."
	case ChangeUnscanned:
		return "In one report only: the other did not scan its account and Region, that target failed, or its --filter-tag left the instance out; not compared."
	}
	return ""
}

// Diff is the migration progress between two reports: per account, per
// (account, Region), per workload where both reports have workloads, and
// per instance. Its JSON form ([WriteDiffJSON]) is documented in the
// README; every list is sorted, so the same two reports always give the
// same bytes.
type Diff struct {
	DiffVersion int        `json:"diffVersion"`
	Old         DiffReport `json:"old"`
	New         DiffReport `json:"new"`
	// NotCompared says what the two reports' data did not allow to
	// compare (workloads, next launch), one sentence each; never null.
	NotCompared []string    `json:"notCompared"`
	Totals      DiffGroup   `json:"totals"`
	Accounts    []DiffGroup `json:"accounts"`
	Regions     []DiffGroup `json:"regions"`
	Workloads   []DiffGroup `json:"workloads"`
	// Instances lists every instance with at least one change, sorted by
	// account, Region and id.
	Instances []DiffInstance `json:"instances"`
}

// CountInstances returns how many instances have at least one of the
// change kinds (an instance with several counts once).
func (d *Diff) CountInstances(kinds ...string) int {
	n := 0
	for i := range d.Instances {
		if slices.ContainsFunc(d.Instances[i].Changes, func(k string) bool { return slices.Contains(kinds, k) }) {
			n++
		}
	}
	return n
}

// DiffReport describes one of the two reports.
type DiffReport struct {
	SchemaVersion int       `json:"schemaVersion"`
	Tool          Tool      `json:"tool"`
	GeneratedAt   time.Time `json:"generatedAt"`
	Window        Window    `json:"window"`
	Targets       int       `json:"targets"`
	FailedTargets int       `json:"failedTargets"`
	Instances     int       `json:"instances"`
}

// DiffGroup is the progress of a set of instances: the totals, one
// account, one (account, Region) or one workload.
type DiffGroup struct {
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// Workload, Kind and Name are the workload's ID, kind and name (see
	// [Workload]); set for workloads only.
	Workload string `json:"workload,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	// Status is the target's status in each report ("ok", "error", or
	// "not-scanned"); set for Regions only.
	Status *StringPair `json:"status,omitempty"`
	// NextLaunchTokens is the httpTokens of the workload's next launch in
	// each report ("" when unknown or absent); set for workloads only.
	NextLaunchTokens *StringPair `json:"nextLaunchTokens,omitempty"`
	// Instances, Enforced and V1InUse count the group's instances, those
	// classified enforced and those classified v1-in-use, in each report.
	Instances IntPair `json:"instances"`
	Enforced  IntPair `json:"enforced"`
	V1InUse   IntPair `json:"v1InUse"`
	// V1Calls sums the v1 calls of the instances whose usage was read.
	V1Calls FloatPair `json:"v1Calls"`
	// Changes counts the group's instances by change kind.
	Changes DiffCounts `json:"changes"`
}

// DiffCounts counts instances by change kind (see [ChangeKinds]); every
// kind is always present.
type DiffCounts struct {
	Regression           int `json:"regression"`
	NextLaunchRegression int `json:"next-launch-regression"`
	NewV1                int `json:"new-v1"`
	Enforced             int `json:"enforced"`
	New                  int `json:"new"`
	Gone                 int `json:"gone"`
	V1CallsUp            int `json:"v1-calls-up"`
	V1CallsDown          int `json:"v1-calls-down"`
	Reclassified         int `json:"reclassified"`
	Unscanned            int `json:"unscanned"`
}

// Count returns the count of one change kind (0 for an unknown kind).
func (c *DiffCounts) Count(kind string) int {
	if p := c.field(kind); p != nil {
		return *p
	}
	return 0
}

func (c *DiffCounts) field(kind string) *int {
	switch kind {
	case ChangeRegression:
		return &c.Regression
	case ChangeNextLaunchRegression:
		return &c.NextLaunchRegression
	case ChangeNewV1:
		return &c.NewV1
	case ChangeEnforced:
		return &c.Enforced
	case ChangeNew:
		return &c.New
	case ChangeGone:
		return &c.Gone
	case ChangeV1CallsUp:
		return &c.V1CallsUp
	case ChangeV1CallsDown:
		return &c.V1CallsDown
	case ChangeReclassified:
		return &c.Reclassified
	case ChangeUnscanned:
		return &c.Unscanned
	}
	return nil
}

// IntPair, FloatPair and StringPair are a value in the old and the new
// report.
type IntPair struct {
	Old int `json:"old"`
	New int `json:"new"`
}

// FloatPair is a figure in the old and the new report.
type FloatPair struct {
	Old float64 `json:"old"`
	New float64 `json:"new"`
}

// StringPair is a text in the old and the new report ("" when absent).
type StringPair struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// DiffInstance is one instance that changed.
type DiffInstance struct {
	Account    string `json:"account"`
	Region     string `json:"region"`
	InstanceID string `json:"instanceId"`
	// Name is the new report's name (the old one's for a gone instance).
	Name string `json:"name"`
	// Workload is the instance's workload ID in the new report (the old
	// one's for a gone instance); "" in a schema-1 report.
	Workload string `json:"workload,omitempty"`
	// Changes are the instance's change kinds, in [ChangeKinds] order.
	Changes []string `json:"changes"`
	// Classification and HttpTokens are "" on the side the instance is
	// not in.
	Classification StringPair `json:"classification"`
	HttpTokens     StringPair `json:"httpTokens"`
	// V1Calls are the v1 calls in each window; null where the instance is
	// absent or its usage was not read.
	V1Calls NullableFloatPair `json:"v1Calls"`
}

// NullableFloatPair is a figure that may be unknown on either side.
type NullableFloatPair struct {
	Old *float64 `json:"old"`
	New *float64 `json:"new"`
}

// Target statuses in [DiffGroup.Status] besides TargetOK and TargetError.
const TargetNotScanned = "not-scanned"

// Compare computes the progress from old to new. Instances are matched by
// account, Region and id. An instance in one report only is new or gone
// when both reports scanned its account and Region successfully, and
// unscanned otherwise: a target that failed or was not scanned, or a
// --filter-tag of the other scan that the instance's tags do not match,
// says nothing about its instances. When both reports have workloads (schema
// 2), each workload gets its figures too: an instance counts in its
// workload of each report, and its changes in its new one. Reports of
// different schema versions are compared on what both hold; NotCompared
// names the rest.
func Compare(old, new *Report) *Diff {
	d := &Diff{
		DiffVersion: DiffVersion,
		Old:         describeForDiff(old),
		New:         describeForDiff(new),
		NotCompared: []string{},
		Accounts:    []DiffGroup{},
		Regions:     []DiffGroup{},
		Workloads:   []DiffGroup{},
		Instances:   []DiffInstance{},
	}
	d.NotCompared = append(d.NotCompared, notCompared(old, new)...)
	nextLaunch := hasNextLaunch(old) && hasNextLaunch(new)

	oldStatus, newStatus := targetStatuses(old), targetStatuses(new)
	regions := map[targetKey]*DiffGroup{}
	group := func(account, region string) *DiffGroup {
		k := targetKey{account, region}
		g := regions[k]
		if g == nil {
			g = &DiffGroup{Account: account, Region: region, Status: &StringPair{
				Old: statusOr(oldStatus, k), New: statusOr(newStatus, k),
			}}
			regions[k] = g
		}
		return g
	}
	for k := range oldStatus {
		group(k.account, k.region)
	}
	for k := range newStatus {
		group(k.account, k.region)
	}

	// Workloads, when both reports have them: an instance counts in its
	// workload of each report (in both when it moved), and its changes in
	// the new one (the old one when it is gone).
	compareWorkloads := hasWorkloads(old) && hasWorkloads(new)
	oldWorkloads, newWorkloads := workloadsByID(old), workloadsByID(new)
	workloads := map[string]*DiffGroup{}
	workload := func(id string) *DiffGroup {
		if id == "" || !compareWorkloads {
			return nil
		}
		g := workloads[id]
		if g == nil {
			g = &DiffGroup{Workload: id, NextLaunchTokens: &StringPair{}}
			for _, w := range []*Workload{oldWorkloads[id], newWorkloads[id]} {
				if w != nil {
					g.Account, g.Region, g.Kind, g.Name = w.Account, w.Region, w.Kind, w.Name
				}
			}
			if w := oldWorkloads[id]; w != nil && w.NextLaunch != nil {
				g.NextLaunchTokens.Old = w.NextLaunch.HttpTokens
			}
			if w := newWorkloads[id]; w != nil && w.NextLaunch != nil {
				g.NextLaunchTokens.New = w.NextLaunch.HttpTokens
			}
			workloads[id] = g
		}
		return g
	}
	compare := func(o, n *Instance, comparable bool) {
		changes := d.add(o, n, comparable, nextLaunch)
		var at *Instance // where the instance is now (or was last)
		if at = n; at == nil {
			at = o
		}
		rg := group(at.Account, at.Region)
		rg.count(o, n)
		rg.tally(changes)
		var wo, wn *DiffGroup
		if o != nil {
			wo = workload(o.Workload)
		}
		if n != nil {
			wn = workload(n.Workload)
		}
		switch {
		case wo != nil && wo == wn:
			wo.count(o, n)
		default:
			if wo != nil {
				wo.count(o, nil)
			}
			if wn != nil {
				wn.count(nil, n)
			}
		}
		if wn != nil {
			wn.tally(changes)
		} else if wo != nil {
			wo.tally(changes)
		}
	}

	oldBy := make(map[[3]string]*Instance, len(old.Instances))
	for i := range old.Instances {
		in := &old.Instances[i]
		oldBy[[3]string{in.Account, in.Region, in.InstanceID}] = in
	}
	matched := make(map[[3]string]bool, len(new.Instances))
	for i := range new.Instances {
		n := &new.Instances[i]
		key := [3]string{n.Account, n.Region, n.InstanceID}
		o := oldBy[key]
		if o != nil {
			matched[key] = true
		}
		compare(o, n, oldStatus[targetKey{n.Account, n.Region}] == TargetOK && Listed(old, n.Tags))
	}
	for i := range old.Instances {
		o := &old.Instances[i]
		if matched[[3]string{o.Account, o.Region, o.InstanceID}] {
			continue
		}
		compare(o, nil, newStatus[targetKey{o.Account, o.Region}] == TargetOK && Listed(new, o.Tags))
	}
	// A workload of no instance (a report edited by hand) still shows.
	if compareWorkloads {
		for id := range oldWorkloads {
			workload(id)
		}
		for id := range newWorkloads {
			workload(id)
		}
	}
	for _, g := range workloads {
		d.Workloads = append(d.Workloads, *g)
	}
	slices.SortFunc(d.Workloads, func(a, b DiffGroup) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Workload, b.Workload))
	})

	accounts := map[string]*DiffGroup{}
	for _, g := range regions {
		d.Regions = append(d.Regions, *g)
		a := accounts[g.Account]
		if a == nil {
			a = &DiffGroup{Account: g.Account}
			accounts[g.Account] = a
		}
		a.addGroup(g)
		d.Totals.addGroup(g)
	}
	for _, a := range accounts {
		d.Accounts = append(d.Accounts, *a)
	}
	slices.SortFunc(d.Regions, func(a, b DiffGroup) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	slices.SortFunc(d.Accounts, func(a, b DiffGroup) int { return cmp.Compare(a.Account, b.Account) })
	slices.SortFunc(d.Instances, func(a, b DiffInstance) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	return d
}

// add compares one instance (o or n nil when absent), records it in
// d.Instances when it changed, and returns its changes. comparable says
// whether the other report scanned its target, so that absence there means
// new or gone rather than unknown; nextLaunch whether both reports record
// next launches.
func (d *Diff) add(o, n *Instance, comparable, nextLaunch bool) []string {
	var changes []string
	switch {
	case o == nil && !comparable, n == nil && !comparable:
		changes = []string{ChangeUnscanned}
	case o == nil:
		changes = append(changes, ChangeNew)
		if n.Classification == ClassV1InUse {
			changes = append(changes, ChangeNewV1)
		}
	case n == nil:
		changes = append(changes, ChangeGone)
	default:
		changes = instanceChanges(o, n, nextLaunch)
	}
	if len(changes) == 0 {
		return nil
	}
	slices.SortFunc(changes, func(a, b string) int {
		return cmp.Compare(slices.Index(ChangeKinds, a), slices.Index(ChangeKinds, b))
	})
	di := DiffInstance{Changes: changes, V1Calls: NullableFloatPair{Old: readCalls(o), New: readCalls(n)}}
	if o != nil {
		di.Account, di.Region, di.InstanceID, di.Name, di.Workload = o.Account, o.Region, o.InstanceID, o.Name, o.Workload
		di.Classification.Old, di.HttpTokens.Old = o.Classification, o.MetadataOptions.HttpTokens
	}
	if n != nil {
		di.Account, di.Region, di.InstanceID, di.Name, di.Workload = n.Account, n.Region, n.InstanceID, n.Name, n.Workload
		di.Classification.New, di.HttpTokens.New = n.Classification, n.MetadataOptions.HttpTokens
	}
	d.Instances = append(d.Instances, di)
	return changes
}

// tally counts one instance's changes in g.
func (g *DiffGroup) tally(changes []string) {
	for _, k := range changes {
		*g.Changes.field(k)++
	}
}

// instanceChanges compares an instance present in both reports;
// nextLaunch says whether both record next launches.
func instanceChanges(o, n *Instance, nextLaunch bool) []string {
	var changes []string
	oc, nc := o.Classification, n.Classification
	optionalNow := nc == ClassV1InUse || nc == ClassReady || nc == ClassNoData
	if oc == ClassEnforced && optionalNow {
		changes = append(changes, ChangeRegression)
	}
	// The replacement of the instance would come back with IMDSv1 on: its
	// launch source (or the account default) changed under it.
	if nextLaunch && o.NextLaunch != nil && o.NextLaunch.HttpTokens == "required" && n.NextLaunch.AllowsV1() {
		changes = append(changes, ChangeNextLaunchRegression)
	}
	if nc == ClassEnforced && oc != ClassEnforced {
		changes = append(changes, ChangeEnforced)
	}
	if nc == ClassV1InUse && oc != ClassV1InUse {
		changes = append(changes, ChangeNewV1)
	}
	if oc != nc && !slices.ContainsFunc(changes, func(k string) bool {
		return k == ChangeRegression || k == ChangeEnforced || k == ChangeNewV1
	}) {
		changes = append(changes, ChangeReclassified)
	}
	if oCalls, nCalls := readCalls(o), readCalls(n); oCalls != nil && nCalls != nil {
		switch {
		case *nCalls > *oCalls:
			changes = append(changes, ChangeV1CallsUp)
		case *nCalls < *oCalls:
			changes = append(changes, ChangeV1CallsDown)
		}
	}
	return changes
}

// readCalls is the instance's v1 calls, nil when absent or not read.
func readCalls(in *Instance) *float64 {
	if in == nil || (in.Usage.Status != UsageComplete && in.Usage.Status != UsagePartial) {
		return nil
	}
	v := in.Usage.NoTokenCalls
	return &v
}

// count adds one instance's figures (o, n: nil when absent) to g.
func (g *DiffGroup) count(o, n *Instance) {
	if o != nil {
		g.Instances.Old++
		g.Enforced.Old += b2i(o.Classification == ClassEnforced)
		g.V1InUse.Old += b2i(o.Classification == ClassV1InUse)
		if c := readCalls(o); c != nil {
			g.V1Calls.Old += *c
		}
	}
	if n != nil {
		g.Instances.New++
		g.Enforced.New += b2i(n.Classification == ClassEnforced)
		g.V1InUse.New += b2i(n.Classification == ClassV1InUse)
		if c := readCalls(n); c != nil {
			g.V1Calls.New += *c
		}
	}
}

// addGroup adds the figures of h to g.
func (g *DiffGroup) addGroup(h *DiffGroup) {
	g.Instances.Old += h.Instances.Old
	g.Instances.New += h.Instances.New
	g.Enforced.Old += h.Enforced.Old
	g.Enforced.New += h.Enforced.New
	g.V1InUse.Old += h.V1InUse.Old
	g.V1InUse.New += h.V1InUse.New
	g.V1Calls.Old += h.V1Calls.Old
	g.V1Calls.New += h.V1Calls.New
	for _, k := range ChangeKinds {
		*g.Changes.field(k) += h.Changes.Count(k)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func describeForDiff(r *Report) DiffReport {
	return DiffReport{
		SchemaVersion: r.SchemaVersion,
		Tool:          r.Tool,
		GeneratedAt:   r.GeneratedAt.UTC(),
		Window:        Window{Start: r.Window.Start.UTC(), End: r.Window.End.UTC()},
		Targets:       len(r.Targets),
		FailedTargets: len(failedTargets(r)),
		Instances:     len(r.Instances),
	}
}

func targetStatuses(r *Report) map[targetKey]string {
	m := make(map[targetKey]string, len(r.Targets))
	for _, t := range r.Targets {
		m[targetKey{t.Account, t.Region}] = t.Status
	}
	return m
}

func statusOr(m map[targetKey]string, k targetKey) string {
	if s, ok := m[k]; ok {
		return s
	}
	return TargetNotScanned
}

// hasNextLaunch reports whether r records each instance's next launch:
// schema version 2 or later, from a scan that read the launch sources.
func hasNextLaunch(r *Report) bool {
	return r.SchemaVersion >= 2 && r.ScanOptions != nil && r.ScanOptions.LaunchSources
}

// hasWorkloads reports whether r records workloads: schema version 2 or
// later, where every instance names its workload.
func hasWorkloads(r *Report) bool { return r.SchemaVersion >= 2 }

func workloadsByID(r *Report) map[string]*Workload {
	m := make(map[string]*Workload, len(r.Workloads))
	for i := range r.Workloads {
		m[r.Workloads[i].ID] = &r.Workloads[i]
	}
	return m
}

// notCompared says, one sentence each, what the two reports' data does
// not allow to compare.
func notCompared(old, new *Report) []string {
	var out []string
	lacks := func(what, consequence string, has func(*Report) bool, why func(*Report) string) {
		switch o, n := has(old), has(new); {
		case !o && !n:
			out = append(out, fmt.Sprintf("%s: neither report records them (old: %s; new: %s), so %s", what, why(old), why(new), consequence))
		case !o:
			out = append(out, fmt.Sprintf("%s: the old report does not record them (%s), so %s", what, why(old), consequence))
		case !n:
			out = append(out, fmt.Sprintf("%s: the new report does not record them (%s), so %s", what, why(new), consequence))
		}
	}
	lacks("next launches", "next-launch regressions are not counted", hasNextLaunch, func(r *Report) string {
		if r.SchemaVersion < 2 {
			return fmt.Sprintf("schema version %d", r.SchemaVersion)
		}
		return "its scan did not read the launch sources: --no-launch-sources"
	})
	lacks("workloads", "there is no progress per workload", hasWorkloads, func(r *Report) string {
		return fmt.Sprintf("schema version %d", r.SchemaVersion)
	})
	for _, side := range []struct {
		name     string
		r, other *Report
	}{{"old", old, new}, {"new", new, old}} {
		var names []string
		for _, sa := range side.r.SkippedAccounts {
			if len(names) == 3 {
				names = append(names, fmt.Sprintf("and %d more", len(side.r.SkippedAccounts)-3))
				break
			}
			names = append(names, skippedAccountText(sa, 40, 120))
		}
		if len(names) > 0 {
			out = append(out, fmt.Sprintf("accounts the %s scan skipped (%s): nothing of them was read, so their instances count as unscanned, not new or gone", side.name, strings.Join(names, "; ")))
		}
	}
	if !sameFilterTags(old, new) {
		out = append(out, fmt.Sprintf("instances outside the other scan's --filter-tag: the reports were listed with different filters (old: %s; new: %s), so an instance one of them could not list counts as unscanned, not new or gone",
			filterTagsText(old), filterTagsText(new)))
	}
	return out
}

// WriteDiffJSON writes d as indented JSON with a trailing newline. HTML
// characters are not escaped: the file is JSON, not a web page.
func WriteDiffJSON(w io.Writer, d *Diff) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("write diff: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write diff: %w", err)
	}
	return nil
}
