package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
)

// TestSkippedAccountsInEveryFormat: the accounts an organization scan did
// not scan (one SUSPENDED with a hostile name, one excluded) are named,
// with their state and reason, in the table, the Markdown and the HTML
// report, sanitized like every other text from the fleet; `report diff`
// against a scan that did scan the excluded one says so and counts its
// instances as unscanned, not gone.
func TestSkippedAccountsInEveryFormat(t *testing.T) {
	dayStable(t)
	const suspended, excluded = "222222222201", "222222222202"
	hostile := "evil\x1b[31m\u202e<script>alert(1)</script>|=cmd"
	f := cleanFleet(scanAcctA, suspended, excluded)
	f.Organization = &fleet.Organization{}
	f.Accounts[1].State, f.Accounts[1].Name, f.Accounts[1].Regions = fleet.AccountSuspended, hostile, nil
	scanStart(t, f)
	url := os.Getenv("AWS_ENDPOINT_URL")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	scanTo(t, url, scanAcctA, p("old.json"), "--org", "--role-name", "Auditor")
	scanTo(t, url, scanAcctA, p("new.json"), "--org", "--role-name", "Auditor", "--exclude-accounts", excluded,
		"-o", p("new.txt"), "-o", p("new.md"), "-o", p("new.html"))

	for _, name := range []string{"new.txt", "new.md", "new.html"} {
		data, err := os.ReadFile(p(name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for _, want := range []string{suspended, "SUSPENDED", excluded, "excluded by --exclude-accounts"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s does not name the skipped accounts: no %q", name, want)
			}
		}
		if strings.ContainsAny(s, "\x1b\u202e") {
			t.Errorf("%s carries the hostile name's control or bidi characters", name)
		}
		if name != "new.txt" && strings.Contains(s, "<script>alert(1)") {
			t.Errorf("%s carries the hostile name's markup unescaped", name)
		}
	}
	if md, _ := os.ReadFile(p("new.md")); !strings.Contains(string(md), "## Accounts not scanned (2)") {
		t.Errorf("new.md has no 'Accounts not scanned (2)' section")
	}

	res := scanCLI(t, false, "report", "diff", "--format", "json", p("old.json"), p("new.json"))
	if res.code != exitOK {
		t.Fatalf("report diff: exit %d\n%s", res.code, res.err)
	}
	var d report.Diff
	if err := json.Unmarshal([]byte(res.out), &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range d.NotCompared {
		found = found || (strings.Contains(s, "accounts the new scan skipped") && strings.Contains(s, excluded))
	}
	if !found {
		t.Errorf("diff notCompared %q does not name the account the new scan skipped", d.NotCompared)
	}
	if gone, unscanned := d.CountInstances(report.ChangeGone), d.CountInstances(report.ChangeUnscanned); gone != 0 || unscanned != 9 {
		t.Errorf("diff: %d gone, %d unscanned: want the excluded account's 9 instances unscanned, none gone", gone, unscanned)
	}
}
