package guardrails

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON that `imdsfleet guardrails
// --format json` writes ([Assessment]). Bump it on any incompatible change.
const SchemaVersion = 1

// Status is a guardrail's readiness in one scope.
type Status string

const (
	// Safe: the evidence is complete and nothing in the scope would be
	// denied or broken.
	Safe Status = "safe"
	// Blocked: something in the scope would be denied or broken; the
	// blockers name it.
	Blocked Status = "blocked"
	// Unknown: nothing found would be denied, but the evidence has gaps
	// (a failed target, a missing Region, a short or old window, no
	// launch sources in the report). Never read as safe.
	Unknown Status = "unknown"
)

// BlockerKind says what a blocker is.
type BlockerKind string

// Blocker kinds, in display order.
const (
	KindInstanceV1InUse     BlockerKind = "instance-v1-in-use"
	KindInstanceNoData      BlockerKind = "instance-no-data"
	KindInstanceV1Rejected  BlockerKind = "instance-v1-rejected"
	KindLaunchTemplate      BlockerKind = "launch-template"
	KindLaunchConfiguration BlockerKind = "launch-configuration"
	KindAutoScalingGroup    BlockerKind = "auto-scaling-group"
	KindAccountDefault      BlockerKind = "account-default"
)

// BlockerKinds lists every kind in display order.
var BlockerKinds = []BlockerKind{KindInstanceV1InUse, KindInstanceNoData, KindInstanceV1Rejected,
	KindLaunchTemplate, KindLaunchConfiguration, KindAutoScalingGroup, KindAccountDefault}

// Scope kinds.
const (
	ScopeOU      = "ou"
	ScopeAccount = "account"
	ScopeRegion  = "region"
)

// Assessment is the whole answer: the guardrails with their documents,
// and the readiness of each in every scope. It is what `--format json`
// writes (README "imdsfleet guardrails" documents the fields).
type Assessment struct {
	SchemaVersion int          `json:"schemaVersion"`
	Report        ReportInfo   `json:"report"`
	Parameters    ParamsView   `json:"parameters"`
	Evidence      EvidenceView `json:"evidence"`
	Guardrails    []Guardrail  `json:"guardrails"`
	Documents     []Document   `json:"documents"`
	// Scopes: organizational units (when the report knows them), then
	// accounts, then (account, Region) pairs, each sorted by id.
	Scopes []Scope `json:"scopes"`
}

// ReportInfo is when the evidence was gathered.
type ReportInfo struct {
	GeneratedAt time.Time `json:"generatedAt"`
	WindowStart time.Time `json:"windowStart"`
	WindowEnd   time.Time `json:"windowEnd"`
	WindowDays  int       `json:"windowDays"`
	// AgeDays is how long before the assessment the window ended.
	AgeDays int `json:"ageDays"`
}

// ParamsView is the parameters in the JSON output.
type ParamsView struct {
	Partition           string   `json:"partition"`
	BreakGlassRoles     []string `json:"breakGlassRoles"`
	ExemptTag           string   `json:"exemptTag"`
	MaxHopLimit         int      `json:"maxHopLimit"`
	DeclarativeHopLimit int      `json:"declarativeHopLimit"`
	TokensEnforced      bool     `json:"tokensEnforced"`
	MinWindowDays       int      `json:"minWindowDays"`
	MaxAgeDays          int      `json:"maxAgeDays"`
	ExpectRegions       []string `json:"expectRegions"`
}

// EvidenceView says which kinds of evidence the report carried.
type EvidenceView struct {
	Instances       int  `json:"instances"`
	Targets         int  `json:"targets"`
	FailedTargets   int  `json:"failedTargets"`
	SkippedTargets  int  `json:"skippedTargets"`
	SkippedAccounts int  `json:"skippedAccounts"`
	LaunchSources   bool `json:"launchSources"`
	AccountDefaults bool `json:"accountDefaults"`
	OUs             bool `json:"organizationalUnits"`
}

// Scope is one OU, account or (account, Region) with each guardrail's
// readiness there.
type Scope struct {
	Kind string `json:"kind"` // ScopeOU, ScopeAccount or ScopeRegion
	// ID is the OU id, the account id, or ACCOUNT/REGION.
	ID      string `json:"id"`
	Name    string `json:"name"` // the OU's name; "" otherwise
	Account string `json:"account"`
	Region  string `json:"region"`
	// Accounts and Regions covered (OU and account scopes).
	Accounts  []string    `json:"accounts"`
	Regions   []string    `json:"regions"`
	Instances int         `json:"instances"`
	Readiness []Readiness `json:"readiness"`
}

// Readiness is one guardrail in one scope.
type Readiness struct {
	Guardrail ID     `json:"guardrail"`
	Status    Status `json:"status"`
	// Blockers counts everything that would be denied or broken, ByKind
	// by kind; Items names them: all of them in a Region scope, the
	// first [MaxItems] in OU and account scopes (ItemsOmitted counts the
	// rest, named in the Region scopes).
	Blockers     int                 `json:"blockers"`
	ByKind       map[BlockerKind]int `json:"byKind"`
	Items        []Blocker           `json:"items"`
	ItemsOmitted int                 `json:"itemsOmitted"`
	// Exempt counts instances left out because they carry the exempt tag.
	Exempt int `json:"exempt"`
	// Unknown says why the evidence is not enough (empty when it is).
	Unknown []string `json:"unknown"`
	// Evidence says what the verdict rests on.
	Evidence []string `json:"evidence"`
}

// MaxItems caps the named blockers of OU and account scopes.
const MaxItems = 50

// Blocker is one thing that a guardrail would deny or break.
type Blocker struct {
	Kind    BlockerKind `json:"kind"`
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Account string      `json:"account"`
	Region  string      `json:"region"`
	Detail  string      `json:"detail"`
}

type key struct{ account, region string }

// cell is the evidence of one (account, Region): its blockers and gaps
// per guardrail.
type cell struct {
	key
	instances        int
	blockers         map[ID][]Blocker
	exempt           map[ID]int
	unknown          []string // gaps that make every guardrail unknown here
	launchGap        []string // gaps of the launch guardrails only
	unknownLaunchers []string
	// usageUnread are, per guardrail, the instances whose IMDSv1 usage
	// the verdict needs but the report could not (fully) read.
	usageUnread map[ID][]unreadUsage
	skipped     string
}

// unreadUsage is an instance whose IMDSv1 usage was not (fully) read, and
// why.
type unreadUsage struct{ id, why string }

// Assess judges every guardrail in every scope of ev with the parameters
// p, as of now (which only the report's age depends on). It fails only
// when p is invalid.
func Assess(ev Evidence, p Params, now time.Time) (*Assessment, error) {
	docs, err := Documents(p)
	if err != nil {
		return nil, err
	}
	guardrails := All(p)
	a := &Assessment{
		SchemaVersion: SchemaVersion,
		Report: ReportInfo{GeneratedAt: ev.GeneratedAt, WindowStart: ev.WindowStart, WindowEnd: ev.WindowEnd,
			WindowDays: windowDays(ev.WindowStart, ev.WindowEnd), AgeDays: int(max(now.Sub(ev.oldestEnd()), 0) / (24 * time.Hour))},
		Parameters: p.view(),
		Evidence: EvidenceView{Instances: len(ev.Instances), Targets: len(ev.Targets), LaunchSources: ev.HasLaunchSources,
			AccountDefaults: ev.HasAccountDefaults, OUs: ev.HasOUs, SkippedAccounts: len(ev.SkippedAccounts)},
		Guardrails: guardrails,
		Documents:  docs,
	}
	for _, t := range ev.Targets {
		switch t.Status {
		case TargetFailed:
			a.Evidence.FailedTargets++
		case TargetSkipped:
			a.Evidence.SkippedTargets++
		}
	}

	cells := map[key]*cell{}
	get := func(account, region string) *cell {
		k := key{account, region}
		c := cells[k]
		if c == nil {
			c = &cell{key: k, blockers: map[ID][]Blocker{}, exempt: map[ID]int{}, usageUnread: map[ID][]unreadUsage{}}
			cells[k] = c
		}
		return c
	}
	for _, t := range ev.Targets {
		c := get(t.Account, t.Region)
		switch t.Status {
		case TargetFailed:
			c.unknown = append(c.unknown, fmt.Sprintf("%s/%s failed to scan: %s", t.Account, t.Region, oneLine(t.Error)))
		case TargetSkipped:
			c.skipped = oneLine(t.Error)
		}
		for _, e := range t.LaunchErrors {
			c.launchGap = append(c.launchGap, fmt.Sprintf("%s/%s: launch sources not fully read: %s", t.Account, t.Region, oneLine(e)))
		}
	}
	for i := range ev.Instances {
		in := &ev.Instances[i]
		c := get(in.Account, in.Region)
		c.instances++
		p.instanceBlockers(c, in)
		if in.UnknownLauncher != "" && in.TokensOptional {
			c.unknownLaunchers = append(c.unknownLaunchers, in.ID+" ("+oneLine(in.UnknownLauncher)+")")
		}
	}
	for i := range ev.LaunchSources {
		s := &ev.LaunchSources[i]
		p.sourceBlockers(get(s.Account, s.Region), s)
	}
	for i := range ev.AccountDefaults {
		d := &ev.AccountDefaults[i]
		p.defaultBlockers(get(d.Account, d.Region), d)
	}

	global := p.globalGaps(ev, now, a.Report)

	// Regions every account should have: those scanned anywhere, and the
	// expected ones.
	allRegions := map[string]bool{}
	if !ev.HasSelection {
		// No record of what was asked for: a Region scanned in one
		// account and missing in another may be one never asked for.
		for k := range cells {
			allRegions[k.region] = true
		}
	}
	for _, r := range p.ExpectRegions {
		allRegions[r] = true
	}
	byAccount := map[string][]*cell{}
	for _, c := range cells {
		byAccount[c.account] = append(byAccount[c.account], c)
	}
	skipped := map[string]string{}
	for _, sa := range ev.SkippedAccounts {
		if len(byAccount[sa.Account]) == 0 {
			skipped[sa.Account] = fmt.Sprintf("account %s was not scanned: %s", sa.Account, oneLine(sa.Reason))
		}
	}
	// regionGaps are an account's gaps from its Regions: those the scan
	// was not asked for, and (without a recorded selection, or with
	// --expect-regions) those scanned elsewhere but not there.
	regionGaps := func(acct string) []string {
		gaps := missingRegions(acct, byAccount[acct], allRegions)
		if !ev.HasSelection && len(p.ExpectRegions) == 0 {
			// A report written before imdsfleet recorded its selection
			// (or with it removed) cannot tell a Region the scan never
			// read from one with nothing in it: a scan with --regions
			// us-east-1 of every account would otherwise read complete.
			gaps = append(gaps, fmt.Sprintf("the report does not record which Regions the scan was asked for (no scanOptions.selection: an older imdsfleet wrote it), so Regions of account %s that were never read cannot be told from empty ones: re-scan with this imdsfleet, or pass --expect-regions with every Region the accounts use", acct))
		}
		if left := ev.RegionsNotScanned[acct]; len(left) > 0 {
			limit := ""
			if ev.RegionsLimit != "" {
				limit = " (the scan was limited with " + oneLine(ev.RegionsLimit) + ")"
			}
			gaps = append(gaps, fmt.Sprintf("Regions not scanned in account %s: %s%s; they are enabled for the account and were never read: scan them too (or every Region)", acct, strings.Join(left, ", "), limit))
		}
		return gaps
	}

	// OUs first, then accounts, then Regions.
	if ev.HasOUs {
		for _, ou := range sortedOUs(ev.OUs) {
			accounts := ouAccounts(ev.OUs, ou.ID)
			var cs []*cell
			var gaps []string
			for _, acct := range accounts {
				if len(byAccount[acct]) == 0 {
					gap := skipped[acct]
					if gap == "" && ev.NotSelected[acct] != "" {
						gap = fmt.Sprintf("account %s (in this OU) was not scanned: %s", acct, oneLine(ev.NotSelected[acct]))
					}
					if gap == "" {
						gap = fmt.Sprintf("account %s (in this OU) is not in the report", acct)
					}
					gaps = append(gaps, gap)
					continue
				}
				cs = append(cs, byAccount[acct]...)
				gaps = append(gaps, regionGaps(acct)...)
			}
			for _, u := range ouUnits(ev.OUs, ou.ID) {
				if u.Skipped != "" {
					gaps = append(gaps, fmt.Sprintf("OU %s was not fully read when the scan walked the organization: %s", u.ID, oneLine(u.Skipped)))
				}
			}
			// An account no unit held may sit in this one (or below):
			// its membership is not known.
			for _, ua := range ev.UnplacedAccounts {
				gaps = append(gaps, fmt.Sprintf("account %s of the organization is in no unit of the report, so it may be in this one: %s", ua.Account, oneLine(ua.Reason)))
			}
			s := Scope{Kind: ScopeOU, ID: ou.ID, Name: ou.Name, Accounts: accounts}
			a.Scopes = append(a.Scopes, p.scope(s, guardrails, cs, global, gaps, true))
		}
	}
	accounts := make([]string, 0, len(byAccount)+len(skipped))
	for acct := range byAccount {
		accounts = append(accounts, acct)
	}
	for acct := range skipped {
		accounts = append(accounts, acct)
	}
	slices.Sort(accounts)
	for _, acct := range accounts {
		s := Scope{Kind: ScopeAccount, ID: acct, Account: acct, Accounts: []string{acct}}
		gaps := regionGaps(acct)
		if gap, ok := skipped[acct]; ok {
			// Nothing of it was read: unknown, whatever its state.
			gaps = []string{gap}
		}
		a.Scopes = append(a.Scopes, p.scope(s, guardrails, byAccount[acct], global, gaps, true))
	}
	keys := make([]key, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y key) int { return cmp.Or(cmp.Compare(x.account, y.account), cmp.Compare(x.region, y.region)) })
	for _, k := range keys {
		s := Scope{Kind: ScopeRegion, ID: k.account + "/" + k.region, Account: k.account, Region: k.region, Accounts: []string{k.account}}
		a.Scopes = append(a.Scopes, p.scope(s, guardrails, []*cell{cells[k]}, global, nil, false))
	}
	return a, nil
}

// scope fills s with each guardrail's readiness over the cells cs, the
// gaps of the whole report (global, per guardrail) and those of the scope
// itself (gaps). capItems caps the named blockers (OU and account scopes).
func (p Params) scope(s Scope, guardrails []Guardrail, cs []*cell, global map[ID][]string, gaps []string, capItems bool) Scope {
	slices.SortFunc(cs, func(x, y *cell) int {
		return cmp.Or(cmp.Compare(x.account, y.account), cmp.Compare(x.region, y.region))
	})
	regions := map[string]bool{}
	var scanned []string
	skipped := 0
	for _, c := range cs {
		regions[c.region] = true
		s.Instances += c.instances
		if c.skipped != "" {
			skipped++
		} else {
			scanned = append(scanned, c.account+"/"+c.region)
		}
	}
	for r := range regions {
		s.Regions = append(s.Regions, r)
	}
	slices.Sort(s.Regions)
	if s.Accounts == nil {
		s.Accounts = []string{}
	}
	for _, g := range guardrails {
		rd := Readiness{Guardrail: g.ID, ByKind: map[BlockerKind]int{}, Items: []Blocker{}, Unknown: []string{}}
		var items []Blocker
		launchGuardrail := g.ID == RequireV2AtLaunch || g.ID == DeclarativeDefaults
		var unknownLaunchers []string
		var usageUnread []unreadUsage
		for _, c := range cs {
			usageUnread = append(usageUnread, c.usageUnread[g.ID]...)
			items = append(items, c.blockers[g.ID]...)
			rd.Exempt += c.exempt[g.ID]
			rd.Unknown = append(rd.Unknown, c.unknown...)
			if launchGuardrail {
				rd.Unknown = append(rd.Unknown, c.launchGap...)
				unknownLaunchers = append(unknownLaunchers, c.unknownLaunchers...)
			}
		}
		if n := len(unknownLaunchers); n > 0 {
			shown := unknownLaunchers[:min(n, 3)]
			more := ""
			if n > 3 {
				more = fmt.Sprintf(" and %d more", n-3)
			}
			rd.Unknown = append(rd.Unknown, fmt.Sprintf("%d instances allow IMDSv1 and came from a launcher whose next launch is not known (%s%s)", n, strings.Join(shown, ", "), more))
		}
		if n := len(usageUnread); n > 0 {
			var shown []string
			for _, u := range usageUnread[:min(n, 3)] {
				shown = append(shown, u.id)
			}
			more := ""
			if n > 3 {
				more = fmt.Sprintf(" and %d more", n-3)
			}
			rd.Unknown = append(rd.Unknown, fmt.Sprintf("the IMDSv1 usage of %d instances was not fully read from CloudWatch (%s%s; %s: %s): calls not counted cannot be told from no calls; re-scan once CloudWatch can be read", n, strings.Join(shown, ", "), more, usageUnread[0].id, usageUnread[0].why))
		}
		rd.Unknown = slices.Concat(global[g.ID], rd.Unknown, gaps)
		if len(cs) == 0 && len(gaps) == 0 {
			rd.Unknown = append(rd.Unknown, "no target of the report is in this scope")
		}
		rd.Unknown = dedupe(rd.Unknown)
		slices.SortStableFunc(items, compareBlockers)
		rd.Blockers = len(items)
		for _, b := range items {
			rd.ByKind[b.Kind]++
		}
		if capItems && len(items) > MaxItems {
			rd.ItemsOmitted = len(items) - MaxItems
			items = items[:MaxItems]
		}
		if items != nil {
			rd.Items = items
		}
		switch {
		case rd.Blockers > 0:
			rd.Status = Blocked
		case len(rd.Unknown) > 0:
			rd.Status = Unknown
		default:
			rd.Status = Safe
		}
		rd.Evidence = p.evidenceOf(g, s, scanned, skipped)
		s.Readiness = append(s.Readiness, rd)
	}
	return s
}

// instanceBlockers adds what an instance blocks, per guardrail.
func (p Params) instanceBlockers(c *cell, in *Instance) {
	exempt := p.ExemptTagKey != "" && hasTag(in.Tags, p.ExemptTagKey, p.ExemptTagValue)
	add := func(g ID, kind BlockerKind, detail string, exemptible bool) {
		if exemptible && exempt {
			c.exempt[g]++
			return
		}
		c.blockers[g] = append(c.blockers[g], Blocker{Kind: kind, ID: in.ID, Name: in.Name, Account: in.Account, Region: in.Region, Detail: detail})
	}
	switch {
	case in.V1InUse && in.TokensOptional:
		detail := fmt.Sprintf("uses IMDSv1 (%s calls in the window)", countText(in.V1Calls))
		add(RequireV2AtLaunch, KindInstanceV1InUse, detail, true)
		add(DeclarativeDefaults, KindInstanceV1InUse, detail, false)
		if in.InstanceProfile {
			add(DenyV1Credentials, KindInstanceV1InUse, detail+" with an instance profile", false)
		}
	case in.NoData && in.TokensOptional:
		detail := "allows IMDSv1; too little evidence of its use (no-data)"
		add(RequireV2AtLaunch, KindInstanceNoData, detail, true)
		add(DeclarativeDefaults, KindInstanceNoData, detail, false)
		if in.InstanceProfile {
			add(DenyV1Credentials, KindInstanceNoData, detail+", with an instance profile", false)
		}
	}
	if in.V1Rejected && !in.TokensOptional {
		add(DenyV1Reenable, KindInstanceV1Rejected, "IMDSv2 required while IMDSv1 calls are rejected: putting it back to optional would be denied", true)
	}
	if in.UsageUnread == "" {
		return
	}
	// What the usage would have shown is not known: a verdict that rests
	// on it is unknown where the instance is not already a blocker (nor
	// exempt from it by tag).
	unread := func(g ID, exemptible bool) {
		if !(exemptible && exempt) {
			c.usageUnread[g] = append(c.usageUnread[g], unreadUsage{in.ID, oneLine(in.UsageUnread)})
		}
	}
	if !in.TokensOptional && !in.V1Rejected {
		// Rejected IMDSv1 calls (MetadataNoTokenRejected) not read. An
		// instance that allows IMDSv1 needs no more: its classification
		// (no-data when the usage is unreadable) already weighed it.
		unread(DenyV1Reenable, true)
	}
}

// sourceBlockers adds what a launch source blocks: under
// require-imdsv2-at-launch every launch that does not itself ask for
// HttpTokens=required (AWS documents the condition key as what the launch
// specifies, not what the account default or the AMI would give); under
// the declarative policy every launch that would allow IMDSv1 (enforced)
// or whose tokens come from a layer the policy replaces (not enforced).
func (p Params) sourceBlockers(c *cell, s *LaunchSource) {
	kind := KindLaunchTemplate
	switch s.Kind {
	case SourceLaunchConfiguration:
		kind = KindLaunchConfiguration
	case SourceAutoScalingGroup:
		kind = KindAutoScalingGroup
	}
	add := func(g ID, detail string) {
		c.blockers[g] = append(c.blockers[g], Blocker{Kind: kind, ID: s.ID, Name: s.Name, Account: s.Account, Region: s.Region, Detail: detail})
	}
	used := ""
	if s.Instances > 0 {
		used = fmt.Sprintf(" (%d live instances)", s.Instances)
	}
	if s.Unresolved {
		why := "its next launch cannot be resolved"
		if s.Reason != "" {
			why += ": " + oneLine(s.Reason)
		}
		add(RequireV2AtLaunch, why+used)
		add(DeclarativeDefaults, why+used)
		return
	}
	if s.Fails {
		used += "; it already fails today (HttpTokensEnforced)"
	}
	switch {
	case s.AllowsV1:
		add(RequireV2AtLaunch, "its next launch allows IMDSv1 (HttpTokens from "+layerText(s.TokensLayer)+"): denied"+used)
	case s.TokensLayer != LayerSource:
		add(RequireV2AtLaunch, "its next launch gets HttpTokens=required from "+layerText(s.TokensLayer)+", not from the launch itself: set it in the launch template, or the launch is denied"+used)
	case p.MaxHopLimit > 0 && s.HopLimit > p.MaxHopLimit:
		add(RequireV2AtLaunch, fmt.Sprintf("its next launch has hop limit %d, above the ceiling %d: denied%s", s.HopLimit, p.MaxHopLimit, used))
	}
	if s.AllowsV1 {
		switch {
		case p.TokensEnforced:
			add(DeclarativeDefaults, "its next launch allows IMDSv1 (HttpTokens from "+layerText(s.TokensLayer)+"): http_tokens_enforced makes it fail"+used)
		case s.TokensLayer != LayerSource:
			add(DeclarativeDefaults, "its next launch takes HttpTokens from "+layerText(s.TokensLayer)+", which the policy turns to required"+used)
		}
	}
}

// defaultBlockers adds an account default that allows IMDSv1: launches
// that leave HttpTokens unset get optional from it (denied by
// require-imdsv2-at-launch), and the declarative policy replaces it.
func (p Params) defaultBlockers(c *cell, d *AccountDefault) {
	if d.HttpTokens != "optional" || d.ManagedBy == "declarative-policy" {
		return
	}
	b := Blocker{Kind: KindAccountDefault, ID: d.Account + "/" + d.Region, Account: d.Account, Region: d.Region,
		Detail: "the account default is HttpTokens=optional: launches that leave HttpTokens unset allow IMDSv1"}
	c.blockers[RequireV2AtLaunch] = append(c.blockers[RequireV2AtLaunch], b)
	b.Detail = "the account default is HttpTokens=optional, set on purpose by the account: the policy replaces it with required"
	c.blockers[DeclarativeDefaults] = append(c.blockers[DeclarativeDefaults], b)
}

// globalGaps are the gaps of the whole report, per guardrail: a short or
// old window weakens every verdict that rests on usage; no launch sources
// leaves the launch guardrails unknown.
func (p Params) globalGaps(ev Evidence, now time.Time, info ReportInfo) map[ID][]string {
	gaps := map[ID][]string{}
	all := []ID{RequireV2AtLaunch, DenyV1Reenable, DenyV1Credentials, DeclarativeDefaults}
	for _, why := range ev.Partial {
		for _, g := range all {
			gaps[g] = append(gaps[g], oneLine(why))
		}
	}
	if info.WindowDays < p.MinWindowDays {
		for _, g := range all {
			gaps[g] = append(gaps[g], fmt.Sprintf("the usage window is %d days, shorter than the %d the evidence needs (a weekly or monthly IMDSv1 caller could be missed): re-scan with a longer --lookback", info.WindowDays, p.MinWindowDays))
		}
	}
	if ahead := ev.WindowEnd.Sub(now); ahead > time.Hour {
		// A window that ends after now: the scanning machine's clock was
		// ahead, and CloudWatch was asked about time that had not come,
		// where nothing is counted (no IMDSv1 calls, none rejected).
		for _, g := range all {
			gaps[g] = append(gaps[g], fmt.Sprintf("the scan's window ends %s after now (%s): the clock of the machine that scanned (or this one) is wrong, and usage read for time that had not come counts nothing; re-scan with a correct clock", durationText(ahead), now.UTC().Format(time.RFC3339)))
		}
	}
	if age := now.Sub(ev.oldestEnd()); age > p.MaxAge {
		what := "the scan"
		if ev.oldestEnd().Before(ev.WindowEnd) {
			what = "the oldest of the scans merged into the report"
		}
		for _, g := range all {
			gaps[g] = append(gaps[g], fmt.Sprintf("%s ended %s ago, more than the %s allowed: re-scan", what, durationText(age), durationText(p.MaxAge)))
		}
	}
	if !ev.HasLaunchSources {
		for _, g := range []ID{RequireV2AtLaunch, DeclarativeDefaults} {
			gaps[g] = append(gaps[g], "the report has no launch sources (launch templates, launch configurations, Auto Scaling groups), so what the next launches would be is not known: scan with launch sources")
		}
	}
	return gaps
}

// oldestEnd is when the oldest evidence of the report was gathered.
func (ev Evidence) oldestEnd() time.Time {
	if !ev.OldestEnd.IsZero() && ev.OldestEnd.Before(ev.WindowEnd) {
		return ev.OldestEnd
	}
	return ev.WindowEnd
}

// evidenceOf says what a verdict rests on.
func (p Params) evidenceOf(g Guardrail, s Scope, scanned []string, skipped int) []string {
	var out []string
	where := fmt.Sprintf("%d instances in %d scanned account/Region pairs", s.Instances, len(scanned))
	if skipped > 0 {
		where += fmt.Sprintf(" (%d skipped)", skipped)
	}
	out = append(out, where)
	switch g.ID {
	case RequireV2AtLaunch, DeclarativeDefaults:
		out = append(out, "IMDSv1 usage of the instances over the window", "launch sources' next launch", "account defaults")
	case DenyV1Reenable:
		out = append(out, "IMDSv1 calls rejected on enforced instances (MetadataNoTokenRejected)")
	case DenyV1Credentials:
		out = append(out, "IMDSv1 usage of instances with an instance profile over the window")
	}
	return out
}

// sortedOUs returns the OUs sorted by id.
func sortedOUs(ous []OU) []OU {
	out := slices.Clone(ous)
	slices.SortFunc(out, func(a, b OU) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ouUnits lists an OU and every OU below it, in walk order.
func ouUnits(ous []OU, id string) []OU {
	children := map[string][]string{}
	byID := map[string]OU{}
	for _, o := range ous {
		children[o.Parent] = append(children[o.Parent], o.ID)
		byID[o.ID] = o
	}
	seen := map[string]bool{}
	var out []OU
	var walk func(string)
	walk = func(id string) {
		if seen[id] {
			return // a cycle in a damaged report
		}
		seen[id] = true
		out = append(out, byID[id])
		for _, c := range children[id] {
			walk(c)
		}
	}
	walk(id)
	return out
}

// ouAccounts lists the accounts in an OU and every OU below it, sorted.
func ouAccounts(ous []OU, id string) []string {
	children := map[string][]string{}
	byID := map[string]OU{}
	for _, o := range ous {
		children[o.Parent] = append(children[o.Parent], o.ID)
		byID[o.ID] = o
	}
	seen := map[string]bool{}
	var accounts []string
	var walk func(string)
	walk = func(id string) {
		if seen[id] {
			return // a cycle in a damaged report
		}
		seen[id] = true
		accounts = append(accounts, byID[id].Accounts...)
		for _, c := range children[id] {
			walk(c)
		}
	}
	walk(id)
	slices.Sort(accounts)
	return slices.Compact(accounts)
}

// missingRegions names the Regions an account was not scanned in.
func missingRegions(account string, cs []*cell, all map[string]bool) []string {
	have := map[string]bool{}
	for _, c := range cs {
		have[c.region] = true
	}
	var out []string
	for r := range all {
		if !have[r] {
			out = append(out, fmt.Sprintf("Region %s was not scanned in account %s", r, account))
		}
	}
	slices.Sort(out)
	return out
}

func compareBlockers(a, b Blocker) int {
	return cmp.Or(cmp.Compare(slices.Index(BlockerKinds, a.Kind), slices.Index(BlockerKinds, b.Kind)),
		cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
}

func hasTag(tags map[string]string, k, v string) bool {
	got, ok := tags[k]
	return ok && (v == "" || got == v)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func layerText(l string) string {
	switch l {
	case LayerSource:
		return "the launch template or configuration"
	case LayerAccountDefault:
		return "the account default"
	case LayerAMI:
		return "the AMI (ImdsSupport v2.0)"
	case LayerBuiltIn:
		return "EC2's built-in default"
	}
	return "an unknown layer"
}

func countText(v float64) string {
	if v >= 1e15 || v != math.Trunc(v) {
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%d", int64(v))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func windowDays(start, end time.Time) int {
	if !end.After(start) {
		return 0
	}
	return int(math.Ceil(end.Sub(start).Hours() / 24))
}

func durationText(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}

func (p Params) view() ParamsView {
	v := ParamsView{Partition: p.Partition, BreakGlassRoles: append([]string{}, p.BreakGlassRoles...),
		MaxHopLimit: p.MaxHopLimit, DeclarativeHopLimit: p.DeclarativeHopLimit, TokensEnforced: p.TokensEnforced,
		MinWindowDays: p.MinWindowDays, MaxAgeDays: int(p.MaxAge / (24 * time.Hour)), ExpectRegions: append([]string{}, p.ExpectRegions...)}
	slices.Sort(v.BreakGlassRoles)
	slices.Sort(v.ExpectRegions)
	if p.ExemptTagKey != "" {
		v.ExemptTag = p.ExemptTagKey
		if p.ExemptTagValue != "" {
			v.ExemptTag += "=" + p.ExemptTagValue
		}
	}
	return v
}
