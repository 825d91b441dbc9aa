package report

import (
	"fmt"
	"slices"
)

// skippedShown caps the skipped (and the unplaced) accounts the table and
// Markdown name; the JSON lists them all, and the HTML page names them
// all.
const skippedShown = 50

// skippedAccountText is one skipped account as every human format shows
// it: "ID (NAME, STATE): REASON", each part sanitized and capped to width
// (the name and state left out when not known).
func skippedAccountText(sa SkippedAccount, cellWidth, textWidth int) string {
	s := SanitizeCell(sa.Account, cellWidth)
	switch {
	case sa.Name != "" && sa.State != "":
		s += fmt.Sprintf(" (%s, %s)", SanitizeCell(sa.Name, cellWidth), SanitizeCell(sa.State, cellWidth))
	case sa.Name != "":
		s += " (" + SanitizeCell(sa.Name, cellWidth) + ")"
	case sa.State != "":
		s += " (" + SanitizeCell(sa.State, cellWidth) + ")"
	}
	return s + ": " + SanitizeCell(sa.Reason, textWidth)
}

// skippedUnits lists the organizational units the scan could not fully
// read, each as "ID (NAME): REASON", sanitized.
func skippedUnits(r *Report, cellWidth, textWidth int) []string {
	if r.Organization == nil {
		return nil
	}
	var out []string
	for _, u := range r.Organization.Units {
		if u.Skipped == "" {
			continue
		}
		s := SanitizeCell(u.ID, cellWidth)
		if u.Name != "" {
			s += " (" + SanitizeCell(u.Name, cellWidth) + ")"
		}
		out = append(out, s+": "+SanitizeCell(u.Skipped, textWidth))
	}
	return out
}

// unplacedMeaning says, in the human formats, what the accounts of the
// organization that no unit held (Organization.Unplaced) mean for the
// reader: each account's line then says what this report holds of it.
// Lines of under 80 columns, so that a terminal's table shows them whole;
// Markdown and HTML join them.
var unplacedMeaning = []string{
	"They moved while the scan walked the organization: ListAccounts lists them,",
	"but no OU held them when read, so which OU holds each is not known, and the",
	"guardrail advice per OU (and for the root) is unknown for this scan.",
	"Re-scan to place them.",
}

// unplaced is one account of the organization that no unit of the walk
// held, each part sanitized and capped: its id, name ("" when not known)
// and what this report holds of it.
type unplaced struct{ id, name, fate string }

// String is the account on one line, "ID: FATE — name: NAME": the name
// last, so that a table cut to the terminal's width keeps what matters.
func (u unplaced) String() string {
	if u.name == "" {
		return u.id + ": " + u.fate
	}
	return u.id + ": " + u.fate + " — name: " + u.name
}

// unplacedAccounts lists the accounts of the organization that no unit
// of the walk held, with what this report holds of each: scanned (the
// scan lists them with ListAccounts and scans them like any other
// account), not scanned and why (not ACTIVE, excluded), or left to
// another shard.
func unplacedAccounts(r *Report, cellWidth, textWidth int) []unplaced {
	if r.Organization == nil || len(r.Organization.Unplaced) == 0 {
		return nil
	}
	// notEnabled counts the targets skipped as Regions not enabled for
	// the account: an account with only those was not scanned anywhere.
	targets, failed, notEnabled := map[string]int{}, map[string]int{}, map[string]int{}
	for _, t := range r.Targets {
		targets[t.Account]++
		switch t.Status {
		case TargetError:
			failed[t.Account]++
		case TargetSkipped:
			notEnabled[t.Account]++
		}
	}
	skipped := map[string]string{}
	for _, sa := range r.SkippedAccounts {
		skipped[sa.Account] = sa.Reason
	}
	// The shards this report holds: a shard's report its own, a merged
	// report those its selection records (none: all of them).
	var shards []Shard
	if sel := selectionOf(r); sel != nil && len(sel.Shards) > 0 {
		shards = sel.Shards
	} else if r.Shard != nil {
		shards = []Shard{*r.Shard}
	}
	var out []unplaced
	for _, ua := range r.Organization.Unplaced {
		var fate string
		switch id := ua.ID; {
		case targets[id] > 0 && failed[id] > 0:
			fate = fmt.Sprintf("scanned, but %d of its %s failed (see the errors)", failed[id], plural(targets[id], "target"))
		case targets[id] == 1 && notEnabled[id] == 1:
			fate = "not scanned: its one Region is not enabled for the account"
		case targets[id] > 0 && notEnabled[id] == targets[id]:
			fate = fmt.Sprintf("not scanned: none of its %d Regions is enabled for the account", targets[id])
		case targets[id] > 0:
			fate = "scanned"
		case skipped[id] != "":
			fate = "not scanned: " + SanitizeCell(skipped[id], textWidth)
		case len(shards) > 0 && !slices.ContainsFunc(shards, func(sh Shard) bool { return ShardOf(id, sh.Count) == sh.Index }):
			fate = fmt.Sprintf("not scanned here: shard %d/%d holds it (merge every shard's report)", ShardOf(id, shards[0].Count), shards[0].Count)
		default:
			fate = "not in this report"
		}
		if ua.Reason != "" && ua.Reason != UnplacedReason {
			fate += "; " + SanitizeCell(ua.Reason, textWidth)
		}
		out = append(out, unplaced{id: SanitizeCell(ua.ID, cellWidth), name: SanitizeCell(ua.Name, cellWidth), fate: fate})
	}
	return out
}

// orgNotesIntro says, in the human formats, what the organization's notes
// (Organization.Notes) are.
const orgNotesIntro = "found when the walk was checked against ListAccounts"

// orgNotes are the organization's notes, each sanitized and capped to
// textWidth: what the cross-check with ListAccounts found besides the
// unplaced accounts.
func orgNotes(r *Report, textWidth int) []string {
	if r.Organization == nil {
		return nil
	}
	out := make([]string, 0, len(r.Organization.Notes))
	for _, n := range r.Organization.Notes {
		out = append(out, SanitizeCell(n, textWidth))
	}
	return out
}
