package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MergeSource is one report [Merge] joined, as the merged report records
// it: enough to tell which shard or scan each part came from, and when.
type MergeSource struct {
	Tool        Tool      `json:"tool"`
	GeneratedAt time.Time `json:"generatedAt"`
	Window      Window    `json:"window"`
	Shard       *Shard    `json:"shard,omitempty"`
	// Targets and Instances count what this source contributed.
	Targets   int `json:"targets"`
	Instances int `json:"instances"`
}

// String is the shard as --shard takes it: "2/4".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// MergeInput is one report to merge and the name (its file) that errors
// call it by.
type MergeInput struct {
	Name   string
	Report *Report
}

// MergeOptions tune [Merge].
type MergeOptions struct {
	// Tool is the program writing the merged report (zero: the first
	// input's).
	Tool Tool
	// AllowMissingShards merges shards of a sharded scan even when some of
	// its N parts are not among the inputs; the merged report then covers
	// only the parts given (MergedFrom says which).
	AllowMissingShards bool
}

// ErrMerge is wrapped by every refusal of [Merge]: the reports are not
// parts of one scan that can be joined.
var ErrMerge = errors.New("reports cannot be merged")

// mergeShown is how many overlapping targets a refusal names.
const mergeShown = 3

// Merge joins reports of disjoint targets (the shards of one sharded scan,
// or scans of different accounts or Regions) into one report, as one scan
// of all their targets would have written it: every target (failed ones
// included), instance, account default, launch source and workload kept,
// sorted and counted again ([Normalize]). The
// classifications are taken as the inputs have them; since the inputs
// must share the schema version, the lookback and the classification
// options (scanOptions), the merged report's verdicts check against its
// evidence exactly as each input's did.
//
// The merged window spans the inputs' windows (shards of one run may end
// seconds or hours apart); each input's own window, time, tool and shard
// are kept in MergedFrom (a merged input contributes its own sources, so
// merging merged reports keeps the original shards). GeneratedAt is the
// latest input's. The result depends only on the inputs, not their order.
//
// It refuses, with one line naming the files and the difference (wrapping
// [ErrMerge]): no input; different schema versions, lookbacks or
// scanOptions; different partitions; a scan of an organization (--org,
// --ou) with one of another organization or with a scan of plain accounts; shards of different counts, a shard given twice, a missing
// shard (unless AllowMissingShards); a target (account and Region) or an
// instance in two inputs; an account one input skipped and another scanned
// (or skipped for another reason).
func Merge(inputs []MergeInput, opts MergeOptions) (*Report, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: no reports to merge", ErrMerge)
	}
	// Which fleet first (partition, organization): that difference
	// explains the others (selections, OU trees) that follow from it.
	if err := checkPartitions(inputs); err != nil {
		return nil, err
	}
	if err := checkOrganizations(inputs); err != nil {
		return nil, err
	}
	first := inputs[0]
	for _, in := range inputs[1:] {
		if err := compatible(first, in); err != nil {
			return nil, err
		}
	}
	if err := checkShards(inputs, opts.AllowMissingShards); err != nil {
		return nil, err
	}
	if err := checkDisjoint(inputs); err != nil {
		return nil, err
	}

	org, err := mergeOrganizations(inputs)
	if err != nil {
		return nil, err
	}
	partition := ""
	for _, in := range inputs {
		if partition == "" {
			partition = in.Report.Partition
		}
	}

	out := &Report{
		Partition:     partition,
		Organization:  org,
		SchemaVersion: first.Report.SchemaVersion,
		Tool:          opts.Tool,
		ScanOptions:   cloneScanOptions(first.Report.ScanOptions),
	}
	if out.Tool == (Tool{}) {
		out.Tool = first.Report.Tool
	}
	n := 0
	for _, in := range inputs {
		n += len(in.Report.Instances)
	}
	out.Instances = make([]Instance, 0, n)
	for i, in := range inputs {
		r := in.Report
		if r.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = r.GeneratedAt
		}
		if i == 0 || r.Window.Start.Before(out.Window.Start) {
			out.Window.Start = r.Window.Start
		}
		if i == 0 || r.Window.End.After(out.Window.End) {
			out.Window.End = r.Window.End
		}
		out.MergedFrom = append(out.MergedFrom, sourcesOf(r)...)
		out.Targets = append(out.Targets, r.Targets...)
		out.SkippedAccounts = append(out.SkippedAccounts, r.SkippedAccounts...)
		out.AccountDefaults = append(out.AccountDefaults, r.AccountDefaults...)
		out.LaunchSources = append(out.LaunchSources, r.LaunchSources...)
		out.Workloads = append(out.Workloads, r.Workloads...)
		out.Instances = append(out.Instances, r.Instances...)
	}
	// Instances share their tag maps and risk slices with the inputs:
	// copy them, so that the merged report's can be changed on their own
	// (the launch sources, workloads and next launches stay shared).
	for i := range out.Instances {
		in := &out.Instances[i]
		in.Tags = cloneMap(in.Tags)
		in.Risks = slices.Clone(in.Risks)
		if in.Usage.LastCallAt != nil {
			t := *in.Usage.LastCallAt
			in.Usage.LastCallAt = &t
		}
	}
	out.Targets = slices.Clone(out.Targets)
	if out.ScanOptions != nil {
		out.ScanOptions.Selection = mergeSelections(inputs, out.Targets)
	}
	// Each shard lists its own skipped accounts; shards of one scan never
	// share one, but the same account skipped alike by two inputs is
	// listed once.
	slices.SortFunc(out.SkippedAccounts, func(a, b SkippedAccount) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.Reason, b.Reason), strings.Compare(a.State, b.State), strings.Compare(a.Name, b.Name))
	})
	out.SkippedAccounts = slices.Compact(out.SkippedAccounts)
	slices.SortFunc(out.MergedFrom, compareSources)
	Normalize(out)
	return out, nil
}

// sourcesOf is what r contributes to a merged report's MergedFrom: its
// own sources when it is a merged report, else itself.
func sourcesOf(r *Report) []MergeSource {
	if len(r.MergedFrom) > 0 {
		return slices.Clone(r.MergedFrom)
	}
	s := MergeSource{
		Tool:        r.Tool,
		GeneratedAt: r.GeneratedAt.UTC(),
		Window:      Window{Start: r.Window.Start.UTC(), End: r.Window.End.UTC()},
		Targets:     len(r.Targets),
		Instances:   len(r.Instances),
	}
	if r.Shard != nil {
		sh := *r.Shard
		s.Shard = &sh
	}
	return []MergeSource{s}
}

// compareSources orders MergedFrom: shards by index (unsharded sources
// after them), then by time, then by size, so that the merged report does
// not depend on the order of the inputs.
func compareSources(a, b MergeSource) int {
	ai, bi := 1<<31, 1<<31
	if a.Shard != nil {
		ai = a.Shard.Index
	}
	if b.Shard != nil {
		bi = b.Shard.Index
	}
	return cmp.Or(
		cmp.Compare(ai, bi),
		a.GeneratedAt.Compare(b.GeneratedAt),
		a.Window.Start.Compare(b.Window.Start),
		a.Window.End.Compare(b.Window.End),
		cmp.Compare(a.Targets, b.Targets),
		cmp.Compare(a.Instances, b.Instances),
		cmp.Compare(a.Tool.Name, b.Tool.Name),
		cmp.Compare(a.Tool.Version, b.Tool.Version),
	)
}

// compatible checks that b was scanned like a: the same schema version,
// lookback and classification options.
func compatible(a, b MergeInput) error {
	if av, bv := a.Report.SchemaVersion, b.Report.SchemaVersion; av != bv {
		return fmt.Errorf("%w: %s has schema version %d and %s version %d: re-scan with one imdsfleet release, or render both with this one first",
			ErrMerge, a.Name, av, b.Name, bv)
	}
	if al, bl := LookbackDays(a.Report), LookbackDays(b.Report); al != bl {
		return fmt.Errorf("%w: %s was scanned with a %d-day lookback (window %s) and %s with a %d-day one (window %s): merge scans of the same --lookback",
			ErrMerge, a.Name, al, windowText(sourceWindow(a.Report)), b.Name, bl, windowText(sourceWindow(b.Report)))
	}
	if d := scanOptionsDiff(a, b); d != "" {
		return fmt.Errorf("%w: %s and %s were classified with different options: %s; merge scans run with the same --min-observed-days, --container-tag, --filter-tag, --group-by, --owner-tag and --no-launch-sources (and the same imdsfleet release)",
			ErrMerge, a.Name, b.Name, d)
	}
	if d := selectionDiff(a, b); d != "" {
		return fmt.Errorf("%w: %s and %s were scanned with different selections: %s", ErrMerge, a.Name, b.Name, d)
	}
	return nil
}

// checkPartitions refuses inputs scanned in different partitions (aws,
// aws-us-gov, aws-cn): their accounts are in different worlds, with
// different credentials, and no one scan could have covered both. A
// report that does not record its partition (an older imdsfleet wrote
// it) is not compared.
func checkPartitions(inputs []MergeInput) error {
	var ref *MergeInput
	for i := range inputs {
		in := &inputs[i]
		p := in.Report.Partition
		switch {
		case p == "":
		case ref == nil:
			ref = in
		case p != ref.Report.Partition:
			return fmt.Errorf("%w: %s was scanned in partition %s and %s in partition %s: merge only reports of one partition",
				ErrMerge, ref.Name, SanitizeCell(ref.Report.Partition, 20), in.Name, SanitizeCell(p, 20))
		}
	}
	return nil
}

// checkOrganizations refuses inputs that are not parts of one
// organization's scan: a scan of an organization (--org, --ou) with a
// scan of plain accounts (--accounts, one account), or scans of two
// organizations. Organizations are told apart by their id (o-…); in a
// report that does not record it (an older imdsfleet wrote it), by the
// root the walk found (its id, or the one an OU id embeds: ou-ROOT-…).
// Scans of plain accounts merge with each other as before.
func checkOrganizations(inputs []MergeInput) error {
	var withOrg, withoutOrg, withID, withRoot *MergeInput
	for i := range inputs {
		in := &inputs[i]
		o := in.Report.Organization
		if o == nil {
			if withoutOrg == nil {
				withoutOrg = in
			}
			continue
		}
		if withOrg == nil {
			withOrg = in
		}
		if o.ID != "" {
			if withID == nil {
				withID = in
			} else if ref := withID.Report.Organization; ref.ID != o.ID {
				return fmt.Errorf("%w: %s is a scan of organization %s and %s of organization %s: merge only the shards of one organization's scan",
					ErrMerge, withID.Name, orgText(ref), in.Name, orgText(o))
			} else if msg := managementDiffers(withID.Name, ref, in.Name, o); msg != "" {
				return fmt.Errorf("%w: %s: re-scan, and merge only reports as imdsfleet wrote them", ErrMerge, msg)
			}
		}
		if root := orgRoot(o); root != "" {
			if withRoot == nil {
				withRoot = in
			} else if refRoot := orgRoot(withRoot.Report.Organization); refRoot != root {
				return fmt.Errorf("%w: %s is a scan of the organization whose root is %s and %s of the one whose root is %s: merge only the shards of one organization's scan",
					ErrMerge, withRoot.Name, SanitizeCell(refRoot, 40), in.Name, SanitizeCell(root, 40))
			}
		}
	}
	if withOrg != nil && withoutOrg != nil {
		what := "an organization"
		if o := withOrg.Report.Organization; o.ID != "" {
			what = "organization " + orgText(o)
		}
		return fmt.Errorf("%w: %s is a scan of %s, made with --org or --ou, and %s a scan of plain accounts, with no organization: merge the shards of one organization's scan, or scans of plain accounts, not both",
			ErrMerge, withOrg.Name, what, withoutOrg.Name)
	}
	return nil
}

// managementDiffers says how reports a and b of one organization id
// disagree on its management account, or "" when they do not (or one
// does not record it). An organization has one management account for
// its whole life, so one of the reports was edited or damaged; merging
// (or comparing) them would keep whichever came first.
func managementDiffers(aName string, a *Organization, bName string, b *Organization) string {
	if a.ManagementAccount == "" || b.ManagementAccount == "" || a.ManagementAccount == b.ManagementAccount {
		return ""
	}
	return fmt.Sprintf("%s and %s both name organization %s, with management account %s in %s and %s in %s, but an organization has one management account: one of the reports was edited or damaged",
		aName, bName, SanitizeCell(a.ID, 40), SanitizeCell(a.ManagementAccount, 40), aName, SanitizeCell(b.ManagementAccount, 40), bName)
}

// orgText names o in a refusal: "o-… (management account …)".
func orgText(o *Organization) string {
	s := SanitizeCell(o.ID, 40)
	if o.ManagementAccount != "" {
		s += " (management account " + SanitizeCell(o.ManagementAccount, 40) + ")"
	}
	return s
}

// orgRoot is the id of the root of the organization o was walked in: a
// root among its units (r-…), or the one the first OU id names
// (ou-ROOT-…: an OU id embeds its root's id); "" when neither is there.
func orgRoot(o *Organization) string {
	for _, u := range o.Units {
		if strings.HasPrefix(u.ID, "r-") {
			return u.ID
		}
	}
	for _, u := range o.Units {
		if rest, ok := strings.CutPrefix(u.ID, "ou-"); ok {
			if root, _, ok := strings.Cut(rest, "-"); ok && root != "" {
				return "r-" + root
			}
		}
	}
	return ""
}

// selectionOf is r's recorded selection, or nil.
func selectionOf(r *Report) *Selection {
	if r.ScanOptions == nil {
		return nil
	}
	return r.ScanOptions.Selection
}

// selectionDiff describes why a and b's selections cannot be merged, or
// returns "". Shards of one sharded scan share every choice but the
// shard. Unsharded scans may differ in --regions and in the accounts
// named (scans of disjoint Regions or accounts, joined into one), but not
// in how the accounts were chosen (--org, --ou, --exclude-accounts): the
// merged report could not say which accounts it was meant to cover.
func selectionDiff(a, b MergeInput) string {
	sa, sb := selectionOf(a.Report), selectionOf(b.Report)
	switch {
	case sa == nil && sb == nil:
		return ""
	case sa == nil || sb == nil:
		without, with := a.Name, b.Name
		if sb == nil {
			without, with = b.Name, a.Name
		}
		return fmt.Sprintf("%s records no scanOptions.selection (an older imdsfleet wrote it) and %s does: re-scan with one imdsfleet release", without, with)
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return SanitizeCell(strings.Join(l, ","), 120)
	}
	if sa.Org != sb.Org {
		return fmt.Sprintf("--org is %v in %s and %v in %s; merge scans that chose their accounts alike", sa.Org, a.Name, sb.Org, b.Name)
	}
	if !slices.Equal(sa.OUs, sb.OUs) {
		return fmt.Sprintf("--ou is %s in %s and %s in %s; merge scans of the same --ou", list(sa.OUs), a.Name, list(sb.OUs), b.Name)
	}
	if !slices.Equal(sa.ExcludeAccounts, sb.ExcludeAccounts) {
		return fmt.Sprintf("--exclude-accounts is %s in %s and %s in %s; merge scans of the same --exclude-accounts", list(sa.ExcludeAccounts), a.Name, list(sb.ExcludeAccounts), b.Name)
	}
	if len(sa.Shards) == 0 && len(sb.Shards) == 0 {
		return ""
	}
	if len(sa.Shards) == 0 || len(sb.Shards) == 0 {
		sharded, whole := a.Name, b.Name
		if len(sb.Shards) > 0 {
			sharded, whole = b.Name, a.Name
		}
		return fmt.Sprintf("%s is (part of) a sharded scan and %s covers every account; merge the shards of one --shard I/N", sharded, whole)
	}
	if !slices.Equal(sa.Regions, sb.Regions) {
		return fmt.Sprintf("--regions is %s in %s and %s in %s, so they are not shards of one scan; merge the shards of one scan", regionsText(sa.Regions), a.Name, regionsText(sb.Regions), b.Name)
	}
	if !slices.Equal(sa.Accounts, sb.Accounts) {
		return fmt.Sprintf("--accounts is %s in %s and %s in %s, so they are not shards of one scan; merge the shards of one scan", list(sa.Accounts), a.Name, list(sb.Accounts), b.Name)
	}
	return ""
}

func regionsText(rs []string) string {
	if len(rs) == 0 {
		return "all (every enabled Region)"
	}
	return SanitizeCell(strings.Join(rs, ","), 120)
}

// mergeSelections is the merged report's selection: the inputs' common
// choices, the union of their Regions (empty when one covered every
// Region) and accounts, the shards covered (none when all N are), and
// per account the enabled Regions no input scanned. nil when no input
// records one.
func mergeSelections(inputs []MergeInput, targets []Target) *Selection {
	first := selectionOf(inputs[0].Report)
	if first == nil {
		return nil
	}
	out := &Selection{Org: first.Org, OUs: slices.Clone(first.OUs), ExcludeAccounts: slices.Clone(first.ExcludeAccounts)}
	allLimited, allSharded := true, true
	notScanned := map[string][]string{}
	shards := map[Shard]bool{}
	for _, in := range inputs {
		sel := selectionOf(in.Report)
		allLimited = allLimited && len(sel.Regions) > 0
		out.Regions = append(out.Regions, sel.Regions...)
		out.Accounts = append(out.Accounts, sel.Accounts...)
		allSharded = allSharded && len(sel.Shards) > 0
		for _, sh := range sel.Shards {
			shards[sh] = true
		}
		for _, ar := range sel.RegionsNotScanned {
			notScanned[ar.Account] = append(notScanned[ar.Account], ar.Regions...)
		}
	}
	if allLimited {
		slices.Sort(out.Regions)
		out.Regions = slices.Compact(out.Regions)
	} else {
		out.Regions = nil
	}
	slices.Sort(out.Accounts)
	out.Accounts = slices.Compact(out.Accounts)
	if allSharded {
		count := 0
		for sh := range shards {
			out.Shards = append(out.Shards, sh)
			count = sh.Count
		}
		slices.SortFunc(out.Shards, func(a, b Shard) int { return cmp.Or(cmp.Compare(a.Count, b.Count), cmp.Compare(a.Index, b.Index)) })
		if len(out.Shards) == count {
			out.Shards = nil // every shard: every account
		}
	}
	// A Region one input left out but another scanned is covered.
	scanned := map[[2]string]bool{}
	for _, t := range targets {
		scanned[[2]string{t.Account, t.Region}] = true
	}
	for acct, regions := range notScanned {
		slices.Sort(regions)
		var left []string
		for _, r := range slices.Compact(regions) {
			if !scanned[[2]string{acct, r}] {
				left = append(left, r)
			}
		}
		if len(left) > 0 {
			out.RegionsNotScanned = append(out.RegionsNotScanned, AccountRegions{Account: acct, Regions: left})
		}
	}
	slices.SortFunc(out.RegionsNotScanned, func(a, b AccountRegions) int { return cmp.Compare(a.Account, b.Account) })
	return out
}

// LookbackDays is the lookback, in whole days, of the scan that wrote r:
// the days from the window's start (a UTC midnight) to the last UTC
// midnight at or before its end. Two shards of one --lookback give the
// same number even when one ends just after midnight and the other just
// before. For a merged report it is its sources' lookback.
func LookbackDays(r *Report) int {
	w := sourceWindow(r)
	end := w.End.UTC().Truncate(24 * time.Hour)
	if !end.After(w.Start) {
		return 0
	}
	return int(end.Sub(w.Start.UTC()) / (24 * time.Hour))
}

// sourceWindow is the window of the scan behind r: its own, or for a
// merged report its first source's (all sources share the lookback).
func sourceWindow(r *Report) Window {
	if len(r.MergedFrom) > 0 {
		return r.MergedFrom[0].Window
	}
	return r.Window
}

// scanOptionsDiff describes the first difference between the inputs'
// scanOptions, or returns "". Container tags are compared as sets (the
// order of --container-tag flags does not change a verdict); fields this
// code does not know (a later schema's) are compared as JSON.
func scanOptionsDiff(a, b MergeInput) string {
	ao, bo := a.Report.ScanOptions, b.Report.ScanOptions
	switch {
	case ao == nil && bo == nil:
		return ""
	case ao == nil || bo == nil:
		without, with := a.Name, b.Name
		if bo == nil {
			without, with = b.Name, a.Name
		}
		return fmt.Sprintf("%s records no scanOptions (an older imdsfleet wrote it) and %s does", without, with)
	}
	if ao.MinObservedDays != bo.MinObservedDays {
		return fmt.Sprintf("scanOptions.minObservedDays is %d in %s and %d in %s", ao.MinObservedDays, a.Name, bo.MinObservedDays, b.Name)
	}
	if tag, in, notIn := setDifference(ao.ContainerTags, bo.ContainerTags, a.Name, b.Name); tag != "" {
		return fmt.Sprintf("scanOptions.containerTags has %s in %s but not in %s", quoted(tag), in, notIn)
	}
	am, bm := scanOptionFields(ao), scanOptionFields(bo)
	keys := make([]string, 0, len(am)+len(bm))
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if k == "minObservedDays" || k == "containerTags" || k == "selection" {
			continue
		}
		if !bytes.Equal(am[k], bm[k]) {
			return fmt.Sprintf("scanOptions.%s is %s in %s and %s in %s", SanitizeCell(k, 40), rawText(am[k]), a.Name, rawText(bm[k]), b.Name)
		}
	}
	return ""
}

// setDifference returns the first (sorted) tag in one list but not the
// other, and which input has it.
func setDifference(a, b []string, aName, bName string) (tag, in, notIn string) {
	as, bs := slices.Clone(a), slices.Clone(b)
	slices.Sort(as)
	slices.Sort(bs)
	for _, t := range slices.Compact(as) {
		if _, ok := slices.BinarySearch(bs, t); !ok {
			return t, aName, bName
		}
	}
	for _, t := range slices.Compact(bs) {
		if _, ok := slices.BinarySearch(as, t); !ok {
			return t, bName, aName
		}
	}
	return "", "", ""
}

// scanOptionFields is o's JSON members, each as compact JSON.
func scanOptionFields(o *ScanOptions) map[string]json.RawMessage {
	b, err := json.Marshal(o)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func rawText(b json.RawMessage) string {
	if b == nil {
		return "unset"
	}
	return SanitizeCell(string(b), 60)
}

// checkShards checks the shards among the inputs: one count, no index
// twice, and (unless allowMissing) every index from 1 to the count.
func checkShards(inputs []MergeInput, allowMissing bool) error {
	type got struct {
		shard Shard
		name  string
	}
	var shards []got
	for _, in := range inputs {
		for _, s := range sourcesOf(in.Report) {
			if s.Shard != nil {
				shards = append(shards, got{*s.Shard, in.Name})
			}
		}
	}
	if len(shards) == 0 {
		return nil
	}
	count := shards[0].shard.Count
	byIndex := make(map[int]string, count)
	for _, s := range shards {
		if s.shard.Count != count {
			return fmt.Errorf("%w: %s holds shard %s but %s holds shard %s: merge the shards of one --shard I/N",
				ErrMerge, shards[0].name, shards[0].shard, s.name, s.shard)
		}
		if s.shard.Index < 1 || s.shard.Index > count {
			return fmt.Errorf("%w: %s holds shard %s, which is not a part of %d", ErrMerge, s.name, s.shard, count)
		}
		if prev, dup := byIndex[s.shard.Index]; dup {
			if prev == s.name {
				return fmt.Errorf("%w: %s holds shard %s twice", ErrMerge, s.name, s.shard)
			}
			return fmt.Errorf("%w: %s and %s both hold shard %s: give each shard once", ErrMerge, prev, s.name, s.shard)
		}
		byIndex[s.shard.Index] = s.name
	}
	if allowMissing {
		return nil
	}
	var missing []string
	for i := 1; i <= count; i++ {
		if _, ok := byIndex[i]; !ok {
			missing = append(missing, Shard{i, count}.String())
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return fmt.Errorf("%w: shard %s%s of the sharded scan is missing (%d of %d shards given): merge every shard, or add --allow-missing-shards to merge only these",
			ErrMerge, strings.Join(missing, ", "), more, len(byIndex), count)
	}
	return nil
}

// checkDisjoint refuses a target (account and Region) or an instance that
// two inputs both hold: merging them would count it twice, or pick one of
// two answers. A target of Region "all" (an account whose Region list
// could not be read) overlaps every target of its account.
func checkDisjoint(inputs []MergeInput) error {
	targets := map[[2]string]int{}
	// per account: the inputs that scanned any of its Regions, and the
	// first input whose target is the whole account (Region "all").
	accountInputs := map[string][]int{}
	wholeAccount := map[string]int{}
	var overlaps []string
	a, b := -1, -1
	note := func(i, j int, what string) {
		if a < 0 {
			a, b = i, j
		}
		overlaps = append(overlaps, what)
	}
	for i, in := range inputs {
		for _, t := range in.Report.Targets {
			key := [2]string{t.Account, t.Region}
			if j, ok := targets[key]; ok && j != i {
				note(j, i, quotedTarget(t.Account, t.Region))
				continue
			}
			targets[key] = i
			if l := accountInputs[t.Account]; len(l) == 0 || l[len(l)-1] != i {
				accountInputs[t.Account] = append(l, i)
			}
			if _, ok := wholeAccount[t.Account]; !ok && t.Region == regionsAll {
				wholeAccount[t.Account] = i
			}
		}
	}
	accounts := make([]string, 0, len(wholeAccount))
	for acct := range wholeAccount {
		accounts = append(accounts, acct)
	}
	slices.Sort(accounts)
	for _, acct := range accounts {
		w := wholeAccount[acct]
		for _, j := range accountInputs[acct] {
			if j != w {
				note(min(w, j), max(w, j), "account "+SanitizeCell(acct, 40)+" (one of them as a whole: its Region list could not be read)")
				break
			}
		}
	}
	// An account one input skipped (not ACTIVE, or excluded) and another
	// scanned, or two inputs skipped for different reasons: the inputs
	// disagree on it, and the merged report could say only one thing.
	skipped := map[string]int{}
	for i, in := range inputs {
		for _, sa := range in.Report.SkippedAccounts {
			if l := accountInputs[sa.Account]; len(l) > 0 && l[0] != i {
				note(min(i, l[0]), max(i, l[0]), "account "+SanitizeCell(sa.Account, 40)+" (one skipped it: "+SanitizeCell(sa.Reason, 80)+")")
				continue
			}
			if j, ok := skipped[sa.Account]; ok && j != i && !slices.Contains(inputs[j].Report.SkippedAccounts, sa) {
				note(j, i, "account "+SanitizeCell(sa.Account, 40)+" (skipped by both, for different reasons)")
				continue
			}
			skipped[sa.Account] = i
		}
	}
	if len(overlaps) == 0 {
		seen := map[[3]string]int{}
		for i, in := range inputs {
			for _, x := range in.Report.Instances {
				key := [3]string{x.Account, x.Region, x.InstanceID}
				if j, ok := seen[key]; ok && j != i {
					return fmt.Errorf("%w: instance %s (%s) is in both %s and %s: merge reports of disjoint targets",
						ErrMerge, plainText(x.InstanceID), quotedTarget(x.Account, x.Region), inputs[j].Name, inputs[i].Name)
				}
				seen[key] = i
			}
		}
		return nil
	}
	// Sorted, so that the message does not depend on the order found.
	slices.Sort(overlaps)
	overlaps = slices.Compact(overlaps)
	msg := strings.Join(overlaps[:min(mergeShown, len(overlaps))], ", ")
	if n := len(overlaps) - mergeShown; n > 0 {
		msg += fmt.Sprintf(" and %d more", n)
	}
	return fmt.Errorf("%w: %s and %s both scanned %s: merge reports of disjoint targets (the shards of one --shard I/N, or scans of different --accounts or --regions)",
		ErrMerge, inputs[a].Name, inputs[b].Name, msg)
}

// regionsAll is the Region of a target that stands for a whole account
// whose Region list could not be read (scanner.RegionsAll).
const regionsAll = "all"

// plainText is a value from a report as it can be shown on one line:
// sanitized and capped, and quoted only when that changed it.
func plainText(s string) string {
	if c := SanitizeCell(s, 40); c != s {
		return `"` + c + `"`
	}
	return s
}

// quotedTarget is "account/Region" as it can be shown in an error line.
func quotedTarget(account, region string) string {
	return SanitizeCell(account, 40) + "/" + SanitizeCell(region, 40)
}

func cloneScanOptions(o *ScanOptions) *ScanOptions {
	if o == nil {
		return nil
	}
	c := *o
	c.ContainerTags = slices.Clone(o.ContainerTags)
	c.GroupBy = slices.Clone(o.GroupBy)
	c.OwnerTags = slices.Clone(o.OwnerTags)
	c.FilterTags = slices.Clone(o.FilterTags)
	for i := range c.FilterTags {
		c.FilterTags[i].Values = slices.Clone(c.FilterTags[i].Values)
	}
	c.Selection = nil // filled by mergeSelections
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// mergeOrganizations joins the organization trees of the inputs: each
// unit once, with the union of the accounts the inputs list in it (shards
// of one scan walked the same tree). A unit whose name or parent differs
// between inputs, or an account listed in two units, is refused: the
// inputs saw different organizations, or one moved between the scans.
// nil when no input has a tree.
func mergeOrganizations(inputs []MergeInput) (*Organization, error) {
	type seen struct {
		unit OrgUnit
		from string
	}
	units := map[string]*seen{}
	accountIn := map[string]seen{}
	// Accounts no unit held in some input, and the inputs' notes: kept
	// from every input (one shard's walk missing an account leaves the
	// merged tree as uncertain), unless another input's walk placed the
	// account in a unit.
	unplaced := map[string]UnplacedAccount{}
	var notes []string
	found := false
	var id, mgmt string
	for _, in := range inputs {
		o := in.Report.Organization
		if o == nil {
			continue
		}
		found = true
		// checkOrganizations saw to it that the ids, and the
		// management accounts recorded, agree: the first recorded of
		// each, whatever the order of the inputs.
		if id == "" {
			id = o.ID
		}
		if mgmt == "" {
			mgmt = o.ManagementAccount
		}
		for _, ua := range o.Unplaced {
			// Once, with a name if any input has one (an older
			// imdsfleet recorded none); the least name (then
			// reason), so that the order of the inputs does not
			// matter.
			if have, ok := unplaced[ua.ID]; !ok || have.Name == "" && ua.Name != "" || (ua.Name != "" && ua.Name < have.Name) ||
				(ua.Name == have.Name && ua.Reason < have.Reason) {
				unplaced[ua.ID] = ua
			}
		}
		notes = append(notes, o.Notes...)
		for _, u := range o.Units {
			cur, ok := units[u.ID]
			if !ok {
				cur = &seen{unit: OrgUnit{ID: u.ID, Name: u.Name, ParentID: u.ParentID, Accounts: []string{}}, from: in.Name}
				// Skipped is joined below, from every input.
				units[u.ID] = cur
			}
			switch {
			case cur.unit.ParentID == "" && u.ParentID != "":
				// A unit given with --ou in one scan and walked to from
				// its parent in another: the parent is known.
				cur.unit.ParentID = u.ParentID
			case u.ParentID != "" && u.ParentID != cur.unit.ParentID:
				return nil, fmt.Errorf("%w: organizational unit %s has parent %s in %s and %s in %s: re-scan the shards of one organization at one time",
					ErrMerge, SanitizeCell(u.ID, 60), SanitizeCell(cur.unit.ParentID, 60), cur.from, SanitizeCell(u.ParentID, 60), in.Name)
			}
			if u.Skipped != "" && !strings.Contains(cur.unit.Skipped, u.Skipped) {
				// Not fully read in one input: not complete in the merge.
				if cur.unit.Skipped != "" {
					cur.unit.Skipped += "; "
				}
				cur.unit.Skipped += u.Skipped
			}
			if u.Name != cur.unit.Name {
				return nil, fmt.Errorf("%w: organizational unit %s is named %q in %s and %q in %s: re-scan the shards of one organization at one time",
					ErrMerge, SanitizeCell(u.ID, 60), SanitizeCell(cur.unit.Name, 60), cur.from, SanitizeCell(u.Name, 60), in.Name)
			}
			for _, a := range u.Accounts {
				if prev, ok := accountIn[a]; ok && prev.unit.ID != u.ID {
					return nil, fmt.Errorf("%w: account %s is in organizational unit %s in %s and in %s in %s: re-scan the shards of one organization at one time",
						ErrMerge, SanitizeCell(a, 60), SanitizeCell(prev.unit.ID, 60), prev.from, SanitizeCell(u.ID, 60), in.Name)
				}
				accountIn[a] = seen{unit: OrgUnit{ID: u.ID}, from: in.Name}
				cur.unit.Accounts = append(cur.unit.Accounts, a)
			}
		}
	}
	if !found {
		return nil, nil
	}
	out := &Organization{ID: id, ManagementAccount: mgmt, Units: make([]OrgUnit, 0, len(units))}
	for _, u := range units {
		slices.Sort(u.unit.Accounts)
		u.unit.Accounts = slices.Compact(u.unit.Accounts)
		out.Units = append(out.Units, u.unit)
	}
	slices.SortFunc(out.Units, func(a, b OrgUnit) int { return strings.Compare(a.ID, b.ID) })
	for _, ua := range unplaced {
		// Another input's walk found it in a unit (shards walk the
		// organization one after another, and it had moved by then):
		// the merged tree places it, once (an account in two units is
		// refused above), so its unit is known.
		if _, placed := accountIn[ua.ID]; placed {
			continue
		}
		out.Unplaced = append(out.Unplaced, ua)
	}
	slices.SortFunc(out.Unplaced, func(a, b UnplacedAccount) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(notes)
	out.Notes = slices.Compact(notes)
	return out, nil
}
