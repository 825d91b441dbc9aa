package report_test

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

// TestUnplacedAccountsEveryFormat: the accounts of the organization that
// no unit held (they moved while scan --org walked it) are named in the
// table, the Markdown and the HTML page next to the skipped accounts,
// each with what this report holds of it (scanned, scanned with failed
// targets, not scanned and why, left to another shard), and the reader is
// told that the guardrail advice per OU is unknown. Their names come from
// the organization (an account's owner chooses it): every hostile name is
// shown escaped and bounded, with no raw control or bidi character, no
// forged line and no markup. The CSV lists instances only and is left as
// it was.
func TestUnplacedAccountsEveryFormat(t *testing.T) {
	names := []string{
		"\x1b[31mRED\x1b[0m\x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
		"web\nSUMMARY: forged\r\n| forged | row |",
		"invoice\u202egpj.exe\u2066",
		"=cmd|' /C calc'!A0",
		"<script>alert(1)</script><a href=x>",
		strings.Repeat("A", 10<<20),
	}
	r := normalized(t)
	const other = "444444444444"
	// A shard that does not hold other's account.
	r.Shard = &report.Shard{Index: 3 - report.ShardOf(other, 2), Count: 2}
	r.SkippedAccounts = []report.SkippedAccount{{Account: "333333333333", State: "SUSPENDED", Reason: "the account is SUSPENDED in the organization, not ACTIVE"}}
	ids := []string{"111111111111", "222222222222", "333333333333", other, "555555555555", "666666666666"}
	r.Organization = &report.Organization{ID: "o-aaaaaaaaaa", Units: []report.OrgUnit{{ID: "r-aaaa", Name: "Root", Accounts: []string{}}}}
	for i, id := range ids {
		r.Organization.Unplaced = append(r.Organization.Unplaced, report.UnplacedAccount{ID: id, Name: names[i], Reason: report.UnplacedReason})
	}
	wants := []string{
		"111111111111", "scanned, but 1 of its 3 targets failed",
		"222222222222", "not scanned: the account is SUSPENDED",
		other, fmt.Sprintf("not scanned here: shard %d/2 holds it", report.ShardOf(other, 2)),
		"guardrail advice per OU (and for the root) is unknown for this scan",
	}
	for _, c := range []struct {
		format string
		opts   report.TableOptions
	}{
		{report.FormatTable, report.TableOptions{}},
		{report.FormatTable, report.TableOptions{Width: 100, Color: true}},
		{report.FormatMarkdown, report.TableOptions{}},
		{report.FormatHTML, report.TableOptions{}},
	} {
		out := ansiRE.ReplaceAllString(render(t, c.format, r, c.opts), "")
		if len(out) > 512<<10 {
			t.Errorf("%s: %d bytes: a 10 MB account name was not bounded", c.format, len(out))
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s %+v does not say %q", c.format, c.opts, w)
			}
		}
		// The names, made harmless but there (a table cut to a
		// terminal's width may cut them: they come last).
		for _, n := range []string{"RED", "SUMMARY: forged", "invoice", "calc", "AAAAAAAAAA"} {
			if c.opts.Width == 0 && !strings.Contains(out, n) {
				t.Errorf("%s: no account name with %q", c.format, n)
			}
		}
		for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e", "\u2066"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s %+v: raw %q in the output", c.format, c.opts, bad)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "SUMMARY") || strings.HasPrefix(line, "| forged") {
				t.Errorf("%s: an account name forged a line: %q", c.format, line)
			}
		}
		if c.format != report.FormatTable && (strings.Contains(out, "<a href") || strings.Contains(out, "<script>alert")) {
			t.Errorf("%s: an account name made markup", c.format)
		}
	}
	md := render(t, report.FormatMarkdown, r, report.TableOptions{})
	if !strings.Contains(md, "## Accounts in no organizational unit (6)") {
		t.Errorf("Markdown has no 'Accounts in no organizational unit (6)' section")
	}

	// The CSV is one row per instance: the unplaced accounts are not
	// instances, and are not in it.
	r.Organization.Unplaced[len(names)-1].Name = "short"
	rows, err := csv.NewReader(strings.NewReader(render(t, report.FormatCSV, r, report.TableOptions{}))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(rows) != len(r.Instances)+1 {
		t.Errorf("CSV: %d rows for %d instances", len(rows), len(r.Instances))
	}
}

// TestOrgNotesEveryFormat: the organization's notes (an account a unit
// listed during the walk that ListAccounts did not list after it: it left
// the organization during the scan) are shown in the table, the Markdown
// and the HTML page, escaped and bounded (a report's text may have been
// edited), capped at 50 in the table and the Markdown.
func TestOrgNotesEveryFormat(t *testing.T) {
	r := normalized(t)
	left := "account 777777777777 was listed in ou-aaaa-00000001 during the walk but not by ListAccounts after it: it left the organization during the scan; it is kept"
	hostile := "\x1b[31mRED\x1b]8;;http://evil.example\x07\nSUMMARY: forged\r\n| forged | row |\u202e<script>alert(1)</script>=cmd|' /C calc'!A0" + strings.Repeat("N", 10<<20)
	r.Organization = &report.Organization{ID: "o-aaaaaaaaaa", Units: []report.OrgUnit{{ID: "r-aaaa", Name: "Root", Accounts: []string{}}},
		Notes: []string{left, hostile}}
	for i := 0; i < 60; i++ {
		r.Organization.Notes = append(r.Organization.Notes, fmt.Sprintf("note %02d", i))
	}
	for _, c := range []struct {
		format string
		opts   report.TableOptions
		more   bool
	}{
		{report.FormatTable, report.TableOptions{}, true},
		{report.FormatTable, report.TableOptions{Width: 100, Color: true}, true},
		{report.FormatMarkdown, report.TableOptions{}, true},
		{report.FormatHTML, report.TableOptions{}, false},
	} {
		out := ansiRE.ReplaceAllString(render(t, c.format, r, c.opts), "")
		if len(out) > 512<<10 {
			t.Errorf("%s: %d bytes: a 10 MB note was not bounded", c.format, len(out))
		}
		wants := []string{"62 ", "found when the walk was checked against ListAccounts", "account 777777777777 was listed in ou-aaaa-00000001", "RED"}
		if c.opts.Width == 0 {
			wants = append(wants, "it left the organization during the scan; it is kept", "note 47")
		}
		if c.more {
			wants = append(wants, "and 12 more (see the JSON report)")
		} else {
			wants = append(wants, "note 59")
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s %+v does not say %q", c.format, c.opts, w)
			}
		}
		if c.more && strings.Contains(out, "note 48") {
			t.Errorf("%s %+v: more than 50 notes shown", c.format, c.opts)
		}
		for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s %+v: raw %q in the output", c.format, c.opts, bad)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "SUMMARY") || strings.HasPrefix(line, "| forged") {
				t.Errorf("%s: a note forged a line: %q", c.format, line)
			}
		}
		if c.format != report.FormatTable && strings.Contains(out, "<script>alert") {
			t.Errorf("%s: a note made markup", c.format)
		}
	}
}

// TestUnplacedAccountOnlyNotEnabledRegions: an unplaced account whose
// only targets are Regions not enabled for it was not scanned anywhere:
// its line says so, not "scanned".
func TestUnplacedAccountOnlyNotEnabledRegions(t *testing.T) {
	r := normalized(t)
	const id = "888888888888"
	for _, region := range []string{"ap-east-1", "me-south-1"} {
		r.Targets = append(r.Targets, report.Target{Account: id, Region: region, Status: report.TargetSkipped, Error: "Region not enabled for the account"})
	}
	r.Organization = &report.Organization{ID: "o-aaaaaaaaaa", Units: []report.OrgUnit{{ID: "r-aaaa", Name: "Root", Accounts: []string{}}},
		Unplaced: []report.UnplacedAccount{{ID: id, Name: "opt-in", Reason: report.UnplacedReason}}}
	for _, format := range []string{report.FormatTable, report.FormatMarkdown, report.FormatHTML} {
		out := render(t, format, r, report.TableOptions{})
		if !strings.Contains(out, "not scanned: none of its 2 Regions is enabled for the account") {
			t.Errorf("%s does not say the account was not scanned (no enabled Region)", format)
		}
		if strings.Contains(out, id+": scanned") || strings.Contains(out, "| "+id+" | opt-in | scanned") {
			t.Errorf("%s says %s was scanned", format, id)
		}
	}
	r.Targets = r.Targets[:len(r.Targets)-1]
	if out := render(t, report.FormatTable, r, report.TableOptions{}); !strings.Contains(out, id+": not scanned: its one Region is not enabled for the account") {
		t.Errorf("table does not say the account's one Region is not enabled")
	}
}
