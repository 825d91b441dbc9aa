package report

import (
	"bufio"

	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
)

// This file turns a report into the evidence package guardrails judges,
// and writes that judgement (`imdsfleet guardrails`) as a table, Markdown
// or JSON. The report's schema stays here: when it gains launch sources,
// account defaults or organizational units, only GuardrailEvidence
// changes.

// GuardrailEvidence is what r says, in the terms of package guardrails.
// Evidence the report does not carry is marked absent, never empty.
func GuardrailEvidence(r *Report) guardrails.Evidence {
	ev := guardrails.Evidence{GeneratedAt: r.GeneratedAt, WindowStart: r.Window.Start, WindowEnd: r.Window.End}
	for i, s := range r.MergedFrom {
		// A merged report spans its parts' windows; its age is its
		// oldest part's.
		if i == 0 || s.Window.End.Before(ev.OldestEnd) {
			ev.OldestEnd = s.Window.End
		}
	}
	// Launch sources count only when the scan read them (schema version 2
	// without --no-launch-sources): their absence is not "none".
	ev.HasLaunchSources = r.ScanOptions != nil && r.ScanOptions.LaunchSources
	ev.HasAccountDefaults = ev.HasLaunchSources
	if r.ScanOptions != nil && len(r.ScanOptions.FilterTags) > 0 {
		// An instance the filters did not match was never listed: its
		// absence is not "nothing would be denied".
		var fs []string
		for _, f := range r.ScanOptions.FilterTags {
			fs = append(fs, f.Key+"="+strings.Join(f.Values, ","))
		}
		ev.Partial = append(ev.Partial, fmt.Sprintf("the scan listed only the instances matching --filter-tag %s: the others were never read; scan without --filter-tag", strings.Join(fs, " --filter-tag ")))
	}
	for _, t := range r.Targets {
		status := guardrails.TargetOK
		switch t.Status {
		case TargetError:
			status = guardrails.TargetFailed
		case TargetSkipped:
			status = guardrails.TargetSkipped
		}
		gt := guardrails.Target{Account: t.Account, Region: t.Region, Status: status, Error: t.Error}
		for _, e := range t.LaunchErrors {
			gt.LaunchErrors = append(gt.LaunchErrors, fmt.Sprintf("%s (needs %s): %s", e.Read, e.Permission, e.Error))
		}
		ev.Targets = append(ev.Targets, gt)
	}
	for _, sa := range r.SkippedAccounts {
		reason := sa.Reason
		if sa.State != "" {
			reason += " (state " + sa.State + ")"
		}
		ev.SkippedAccounts = append(ev.SkippedAccounts, guardrails.SkippedAccount{Account: sa.Account, Reason: reason})
	}
	if sel := selectionOf(r); sel != nil {
		ev.HasSelection = true
		if len(sel.Regions) > 0 {
			ev.RegionsLimit = "--regions " + strings.Join(sel.Regions, ",")
		}
		ev.RegionsNotScanned = map[string][]string{}
		for _, ar := range sel.RegionsNotScanned {
			ev.RegionsNotScanned[ar.Account] = append(ev.RegionsNotScanned[ar.Account], ar.Regions...)
		}
		if len(sel.Shards) > 0 && r.Organization != nil {
			// The organization's tree lists every account; those of
			// shards this report does not hold were left to other jobs.
			covered := map[int]bool{}
			var names []string
			for _, sh := range sel.Shards {
				covered[sh.Index] = true
				names = append(names, sh.String())
			}
			count := sel.Shards[0].Count
			ev.NotSelected = map[string]string{}
			var all []string
			for _, u := range r.Organization.Units {
				all = append(all, u.Accounts...)
			}
			for _, ua := range r.Organization.Unplaced {
				all = append(all, ua.ID)
			}
			for _, a := range all {
				if i := ShardOf(a, count); !covered[i] {
					ev.NotSelected[a] = fmt.Sprintf("it is in shard %d/%d, which this report (shard %s) does not hold: merge every shard's report first", i, count, strings.Join(names, ", "))
				}
			}
		}
	}
	if r.Organization != nil {
		ev.HasOUs = true
		for _, u := range r.Organization.Units {
			ev.OUs = append(ev.OUs, guardrails.OU{ID: u.ID, Name: u.Name, Parent: u.ParentID, Accounts: slices.Clone(u.Accounts), Skipped: u.Skipped})
		}
		for _, ua := range r.Organization.Unplaced {
			ev.UnplacedAccounts = append(ev.UnplacedAccounts, guardrails.UnplacedAccount{Account: ua.ID, Reason: ua.Reason})
		}
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		optional := in.Classification == ClassV1InUse || in.Classification == ClassNoData || in.Classification == ClassReady
		gi := guardrails.Instance{
			Account: in.Account, Region: in.Region, ID: in.InstanceID, Name: in.Name,
			TokensOptional: optional,
			V1InUse:        in.Classification == ClassV1InUse,
			NoData:         in.Classification == ClassNoData,
			V1Calls:        in.Usage.NoTokenCalls,
			V1Rejected:     in.HasRisk(RiskV1Rejected),
			// The role-exposed risk says a role is attached too: a report
			// that lost instanceProfileArn (edited, trimmed) must not make
			// the credentials guardrail read "no role".
			InstanceProfile: in.InstanceProfileArn != "" || in.HasRisk(RiskRoleExposed),
			Tags:            in.Tags,
		}
		switch in.Usage.Status {
		case UsageError:
			gi.UsageUnread = "not read"
			if in.Usage.Error != "" {
				gi.UsageUnread += ": " + in.Usage.Error
			}
		case UsagePartial:
			gi.UsageUnread = "CloudWatch answered PartialData for part of the window"
		}
		if ev.HasLaunchSources && optional && (in.NextLaunch == nil || in.NextLaunch.HttpTokens == "") {
			gi.UnknownLauncher = "unknown launcher"
			if in.LaunchSource != nil {
				gi.UnknownLauncher = in.LaunchSource.Kind
				if in.LaunchSource.Name != "" {
					gi.UnknownLauncher += " " + in.LaunchSource.Name
				}
			}
		}
		ev.Instances = append(ev.Instances, gi)
	}
	if !ev.HasLaunchSources {
		return ev
	}
	for i := range r.LaunchSources {
		s := &r.LaunchSources[i]
		var kind string
		switch s.Kind {
		case SourceLaunchTemplate:
			kind = guardrails.SourceLaunchTemplate
		case SourceLaunchConfiguration:
			kind = guardrails.SourceLaunchConfiguration
		case SourceAutoScalingGroup:
			kind = guardrails.SourceAutoScalingGroup
		default:
			// The account-default source (launches that name no
			// template) is judged from AccountDefaults below.
			continue
		}
		nl := s.NextLaunch
		gs := guardrails.LaunchSource{Kind: kind, ID: s.ID, Name: s.Name, Account: s.Account, Region: s.Region,
			AllowsV1: nl.HttpTokens == "optional", Fails: nl.Status == NextLaunchFails,
			HopLimit: int(nl.HttpPutResponseHopLimit), Instances: len(s.Instances)}
		switch nl.HttpTokensFrom {
		case LayerLaunchTemplate, LayerLaunchConfiguration:
			gs.TokensLayer = guardrails.LayerSource
		case LayerAccountDefault, LayerDeclarativePolicy:
			gs.TokensLayer = guardrails.LayerAccountDefault
		case LayerAMI:
			gs.TokensLayer = guardrails.LayerAMI
		case LayerBuiltIn:
			gs.TokensLayer = guardrails.LayerBuiltIn
		}
		if nl.HttpTokens == "" || gs.TokensLayer == "" {
			gs.Unresolved, gs.Reason = true, nl.Reason
			if gs.Reason == "" {
				gs.Reason = "HttpTokens of its next launch is not known"
			}
		}
		ev.LaunchSources = append(ev.LaunchSources, gs)
	}
	for _, d := range r.AccountDefaults {
		ev.AccountDefaults = append(ev.AccountDefaults, guardrails.AccountDefault{Account: d.Account, Region: d.Region,
			HttpTokens: d.HttpTokens, TokensEnforced: d.HttpTokensEnforced == "enabled", ManagedBy: d.ManagedBy})
	}
	return ev
}

// Short column names of the guardrails in the readiness tables.
var guardrailShort = map[guardrails.ID]string{
	guardrails.RequireV2AtLaunch:   "LAUNCH (SCP)",
	guardrails.DenyV1Reenable:      "RE-ENABLE (SCP)",
	guardrails.DenyV1Credentials:   "V1 CREDENTIALS (SCP)",
	guardrails.DeclarativeDefaults: "DEFAULTS (DECLARATIVE)",
}

// guardrailNamedBlockers is how many blockers the table and Markdown name
// per scope and guardrail; the JSON names them all.
const guardrailNamedBlockers = 3

func statusText(rd guardrails.Readiness) string {
	if rd.Status == guardrails.Blocked {
		return fmt.Sprintf("blocked (%d)", rd.Blockers)
	}
	return string(rd.Status)
}

func scopeLabel(s guardrails.Scope) string {
	switch s.Kind {
	case guardrails.ScopeOU:
		if s.Name != "" {
			return "OU " + s.Name + " (" + s.ID + ")"
		}
		return "OU " + s.ID
	case guardrails.ScopeAccount:
		return "account " + s.Account
	}
	return "  " + s.Region
}

func byKindText(rd guardrails.Readiness) string {
	var parts []string
	for _, k := range guardrails.BlockerKinds {
		if n := rd.ByKind[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if rd.Exempt > 0 {
		parts = append(parts, fmt.Sprintf("%d exempt by tag", rd.Exempt))
	}
	return strings.Join(parts, ", ")
}

// detailScopes are the scopes whose blockers and gaps are spelled out:
// OUs when the report knows them, else accounts.
func detailScopes(a *guardrails.Assessment) []guardrails.Scope {
	var ous, accounts []guardrails.Scope
	for _, s := range a.Scopes {
		switch s.Kind {
		case guardrails.ScopeOU:
			ous = append(ous, s)
		case guardrails.ScopeAccount:
			accounts = append(accounts, s)
		}
	}
	if len(ous) > 0 {
		return ous
	}
	return accounts
}

// commonGaps are the gaps every guardrail of a scope shares (a failed
// target, a missing Region): shown once, not under each guardrail.
func commonGaps(s guardrails.Scope) []string {
	if len(s.Readiness) == 0 {
		return nil
	}
	var out []string
	for _, u := range s.Readiness[0].Unknown {
		all := true
		for _, rd := range s.Readiness[1:] {
			all = all && slices.Contains(rd.Unknown, u)
		}
		if all {
			out = append(out, u)
		}
	}
	return out
}

// saysNothingMore: a guardrail that is unknown only for the gaps every
// guardrail of its scope shares needs no line of its own.
func saysNothingMore(rd guardrails.Readiness, common []string) bool {
	if rd.Status != guardrails.Unknown || rd.Exempt > 0 {
		return false
	}
	for _, u := range rd.Unknown {
		if !slices.Contains(common, u) {
			return false
		}
	}
	return true
}

// policyPath is where a guardrail's document is, for the attach commands.
func policyPath(outDir, file string) string {
	if outDir == "" {
		return file
	}
	return filepath.Join(outDir, file)
}

// attachCommands are the AWS CLI commands that attach the policies: the
// tool runs none of them.
func attachCommands(a *guardrails.Assessment, outDir string) []string {
	lines := []string{}
	declarative := false
	for _, d := range a.Documents {
		if d.Type == guardrails.TypeDeclarative {
			declarative = true
		}
	}
	if declarative {
		lines = append(lines, "aws organizations enable-policy-type --root-id ROOT_ID --policy-type DECLARATIVE_POLICY_EC2   # once, for the declarative policy")
	}
	for _, d := range a.Documents {
		lines = append(lines, fmt.Sprintf("aws organizations create-policy --type %s --name imdsfleet-%s --description 'imdsfleet guardrail %s' --content file://%s",
			d.Type, d.Guardrail, d.Guardrail, shellWord(policyPath(outDir, d.File))))
	}
	lines = append(lines, "aws organizations attach-policy --policy-id POLICY_ID --target-id OU_OR_ACCOUNT_ID   # only where its readiness is safe")
	return lines
}

// shellWord quotes a path for a copied command line when it needs it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// evidenceLine says which kinds of evidence the report carried.
func evidenceLine(a *guardrails.Assessment) string {
	have := func(b bool) string {
		if b {
			return "read"
		}
		return "not in the report"
	}
	targets := plural(a.Evidence.Targets, "target")
	if a.Evidence.FailedTargets > 0 {
		targets += fmt.Sprintf(" (%d failed)", a.Evidence.FailedTargets)
	}
	return fmt.Sprintf("Evidence: %s in %s; launch sources %s; account defaults %s; organizational units %s.",
		plural(a.Evidence.Instances, "instance"), targets, have(a.Evidence.LaunchSources), have(a.Evidence.AccountDefaults), have(a.Evidence.OUs))
}

// WriteGuardrailsTable writes the terminal view of a: the guardrails and
// what each denies, readiness per scope (accounts with their Regions, OUs
// first when known), the blockers and gaps of each OU or account with the
// first few blockers named, and the commands that attach the policies
// (found under outDir when --out-dir wrote them). Text from the fleet goes
// through [SanitizeCell].
func WriteGuardrailsTable(w io.Writer, a *guardrails.Assessment, outDir string, opts TableOptions) error {
	t := &tableWriter{opts: opts}
	t.line(fmt.Sprintf("IMDS guardrails · report generated %s · window %s", shortTime(a.Report.GeneratedAt), windowText(Window{a.Report.WindowStart, a.Report.WindowEnd})))
	t.line(evidenceLine(a))
	t.line("")

	t.begin()
	t.row("GUARDRAIL", "TYPE", "DENIES")
	for _, g := range a.Guardrails {
		t.row(string(g.ID), g.Type, g.Denies)
	}
	t.end()
	t.line("")

	t.begin()
	head := []string{"SCOPE"}
	for _, g := range a.Guardrails {
		head = append(head, guardrailShort[g.ID])
	}
	t.row(append(head, "INSTANCES", "")...)
	for _, s := range a.Scopes {
		if s.Kind == guardrails.ScopeRegion {
			// Regions are listed under their account below.
			continue
		}
		t.row(t.readinessRow(s)...)
		if s.Kind == guardrails.ScopeAccount {
			for _, r := range a.Scopes {
				if r.Kind == guardrails.ScopeRegion && r.Account == s.Account {
					t.row(t.readinessRow(r)...)
				}
			}
		}
	}
	t.end()
	t.line("")

	for _, s := range detailScopes(a) {
		written := false
		common := commonGaps(s)
		for i, rd := range s.Readiness {
			if rd.Status == guardrails.Safe {
				continue
			}
			if !written {
				// The label holds the OU's name: upper-cased, then escaped (an
				// escape's \x1b must not become \X1B), like every fleet text.
				t.line(SanitizeCell(strings.ToUpper(scopeLabel(s)), textWidth))
				for _, u := range common {
					t.line("  unknown for every guardrail: " + SanitizeCell(u, textWidth))
				}
				written = true
			}
			if saysNothingMore(rd, common) {
				continue
			}
			g := a.Guardrails[i]
			line := fmt.Sprintf("  %s: %s", g.ID, rd.Status)
			if txt := byKindText(rd); txt != "" {
				line += ": " + txt
			}
			t.line(line)
			for j, b := range rd.Items {
				if j == guardrailNamedBlockers {
					t.line(fmt.Sprintf("    … and %d more (--format json names them all)", rd.Blockers-guardrailNamedBlockers))
					break
				}
				name := ""
				if b.Name != "" {
					name = " " + SanitizeCell(b.Name, nameWidth)
				}
				t.line(fmt.Sprintf("    %s %s%s %s: %s", b.Kind, cell(b.ID), name, cell(b.Region), SanitizeCell(b.Detail, textWidth)))
			}
			for _, u := range rd.Unknown {
				if !slices.Contains(common, u) {
					t.line("    unknown: " + SanitizeCell(u, textWidth))
				}
			}
		}
		if written {
			t.line("")
		}
	}

	t.line("Nothing was changed. To attach a policy (as the organization's management account or a delegated administrator):")
	for _, c := range attachCommands(a, outDir) {
		t.line("  " + SanitizeCell(c, textWidth))
	}
	if outDir == "" {
		t.line("(--out-dir DIR writes the policy files)")
	}
	return t.flush(w)
}

func (t *tableWriter) readinessRow(s guardrails.Scope) []string {
	label := scopeLabel(s)
	if s.Kind == guardrails.ScopeRegion {
		label = "  " + s.Region
	}
	cells := []string{cell(label)}
	for _, rd := range s.Readiness {
		color := colorYellow
		switch rd.Status {
		case guardrails.Safe:
			color = colorGreen
		case guardrails.Blocked:
			color = colorRed
		}
		cells = append(cells, t.paint(color, statusText(rd)))
	}
	return append(cells, fmt.Sprint(s.Instances), "")
}

// WriteGuardrailsMarkdown writes a for people reading a pull request or a
// CI step summary: what each guardrail denies and would break, readiness
// per scope, the blockers and gaps of each OU or account, and how to
// attach the policies. Fleet text is escaped (see md).
func WriteGuardrailsMarkdown(w io.Writer, a *guardrails.Assessment, outDir string) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("# IMDS guardrails\n\n")
	p("Report generated %s. Usage window: %s.\n\n", md(shortTime(a.Report.GeneratedAt), 0), md(windowText(Window{a.Report.WindowStart, a.Report.WindowEnd}), 0))
	p("%s\n\n", md(evidenceLine(a), 0))

	p("## Guardrails\n\n| Guardrail | Type | Denies | Would break |\n|---|---|---|---|\n")
	for _, g := range a.Guardrails {
		p("| `%s` | %s | %s | %s |\n", g.ID, g.Type, md(g.Denies, 0), md(strings.Join(g.Breaks, "; "), 0))
	}
	p("\n## Readiness\n\n| Scope |")
	for _, g := range a.Guardrails {
		p(" %s |", md(guardrailShort[g.ID], 0))
	}
	p(" Instances |\n|---|")
	for range a.Guardrails {
		p("---|")
	}
	p("--:|\n")
	for _, s := range a.Scopes {
		label := scopeLabel(s)
		if s.Kind == guardrails.ScopeRegion {
			label = s.Account + " / " + s.Region
		}
		p("| %s |", md(label, mdCellWidth))
		for _, rd := range s.Readiness {
			icon := "✅"
			switch rd.Status {
			case guardrails.Blocked:
				icon = "⛔"
			case guardrails.Unknown:
				icon = "❔"
			}
			p(" %s %s |", icon, md(statusText(rd), 0))
		}
		p(" %d |\n", s.Instances)
	}
	p("\n")
	for _, s := range detailScopes(a) {
		written := false
		common := commonGaps(s)
		for i, rd := range s.Readiness {
			if rd.Status == guardrails.Safe {
				continue
			}
			if !written {
				p("### %s\n\n", md(scopeLabel(s), mdCellWidth))
				for _, u := range common {
					p("- unknown for every guardrail: %s\n", md(u, mdTextWidth))
				}
				written = true
			}
			if saysNothingMore(rd, common) {
				continue
			}
			p("- `%s`: **%s**", a.Guardrails[i].ID, rd.Status)
			if txt := byKindText(rd); txt != "" {
				p(": %s", md(txt, 0))
			}
			p("\n")
			for j, b := range rd.Items {
				if j == guardrailNamedBlockers {
					p("  - … and %d more (`--format json` names them all)\n", rd.Blockers-guardrailNamedBlockers)
					break
				}
				p("  - %s %s %s %s: %s\n", md(string(b.Kind), 0), md(b.ID, mdCellWidth), md(b.Name, mdCellWidth), md(b.Region, mdCellWidth), md(b.Detail, mdTextWidth))
			}
			for _, u := range rd.Unknown {
				if !slices.Contains(common, u) {
					p("  - unknown: %s\n", md(u, mdTextWidth))
				}
			}
		}
		if written {
			p("\n")
		}
	}
	p("## Attaching\n\nNothing was changed. Run these as the organization's management account or a delegated administrator, and attach each policy only where its readiness is safe:\n\n```sh\n")
	for _, c := range attachCommands(a, outDir) {
		// Inside a code block only a fence could escape: the lines are
		// sanitized and hold no backticks of the fleet's.
		p("%s\n", strings.ReplaceAll(SanitizeCell(c, textWidth), "`", "'"))
	}
	p("```\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	return nil
}

// WriteGuardrailsJSON writes a as indented JSON (schema in README
// "imdsfleet guardrails"): the exact data, escaped by JSON's own rules.
func WriteGuardrailsJSON(w io.Writer, a *guardrails.Assessment) error {
	b, err := encodeIndented(a)
	if err != nil {
		return fmt.Errorf("encode guardrails: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write guardrails: %w", err)
	}
	return nil
}
