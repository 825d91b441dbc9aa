package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
	"github.com/imdsfleet/imdsfleet/report"
)

// TestGuardrailsHostileOUName: an OU name is the organization's text (any
// member of it with organizations:UpdateOrganizationalUnit writes it), and
// the table's per-scope headings print it. Neither the table nor the
// Markdown may carry its escape sequences, bidi controls or line breaks.
func TestGuardrailsHostileOUName(t *testing.T) {
	hostile := "prod\x1b[31mRED\x1b]8;;http://evil.example\x07\nFORGED: all safe\r\u202eevil"
	end := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	r := &report.Report{
		SchemaVersion: report.SchemaVersion, GeneratedAt: end,
		Window:       report.Window{Start: end.Add(-14 * 24 * time.Hour), End: end},
		ScanOptions:  &report.ScanOptions{Selection: &report.Selection{Org: true}},
		Organization: &report.Organization{Units: []report.OrgUnit{{ID: "ou-x", Name: hostile, Accounts: []string{"111111111111"}}}},
		Targets:      []report.Target{{Account: "111111111111", Region: "us-east-1", Status: report.TargetOK, Instances: 1}},
		Instances: []report.Instance{{Account: "111111111111", Region: "us-east-1", InstanceID: "i-1",
			MetadataOptions: report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1},
			Classification:  report.ClassV1InUse, Usage: report.Usage{NoTokenCalls: 3}}},
	}
	a, err := guardrails.Assess(report.GuardrailEvidence(r), guardrails.DefaultParams(), end)
	if err != nil {
		t.Fatal(err)
	}
	var table, md bytes.Buffer
	if err := report.WriteGuardrailsTable(&table, a, "", report.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteGuardrailsMarkdown(&md, a, ""); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"table": table.String(), "markdown": md.String()} {
		if !strings.Contains(strings.ToLower(out), "prod") {
			t.Errorf("%s does not name the OU:\n%s", name, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "FORGED") && !strings.Contains(strings.ToLower(line), "prod") {
				t.Errorf("%s: the OU name's line break starts a line of its own: %q", name, line)
			}
			for _, c := range line {
				if c == '\r' || (unicode.IsControl(c) && c != '\t') || unicode.Is(unicode.Bidi_Control, c) {
					t.Errorf("%s: control or bidi character %U in %q", name, c, line)
					break
				}
			}
		}
	}
}

// TestGuardrailsUsageNotRead: an enforced instance whose usage the scan
// could not read from CloudWatch (usage status error, as a scan without
// cloudwatch:GetMetricData writes it) is no evidence that its IMDSv1
// calls are not being rejected: deny-imdsv1-reenable reads unknown for
// its account, never safe.
func TestGuardrailsUsageNotRead(t *testing.T) {
	end := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for _, status := range []string{report.UsageError, report.UsagePartial, report.UsageComplete} {
		r := &report.Report{
			SchemaVersion: report.SchemaVersion, GeneratedAt: end,
			Window:      report.Window{Start: end.Add(-14 * 24 * time.Hour), End: end},
			ScanOptions: &report.ScanOptions{Selection: &report.Selection{}},
			Targets:     []report.Target{{Account: "111111111111", Region: "us-east-1", Status: report.TargetOK, Instances: 1}},
			Instances: []report.Instance{{Account: "111111111111", Region: "us-east-1", InstanceID: "i-1",
				MetadataOptions: report.MetadataOptions{HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2},
				Classification:  report.ClassEnforced, Usage: report.Usage{Status: status, Error: "AccessDenied from cloudwatch:GetMetricData"}}},
		}
		a, err := guardrails.Assess(report.GuardrailEvidence(r), guardrails.DefaultParams(), end)
		if err != nil {
			t.Fatal(err)
		}
		want := guardrails.Unknown
		if status == report.UsageComplete {
			want = guardrails.Safe
		}
		for _, s := range a.Scopes {
			if s.Kind != guardrails.ScopeAccount {
				continue
			}
			for _, rd := range s.Readiness {
				if rd.Guardrail == guardrails.DenyV1Reenable && rd.Status != want {
					t.Errorf("usage %s: deny-imdsv1-reenable %s %q, want %s", status, rd.Status, rd.Unknown, want)
				}
			}
		}
	}
}

// TestGuardrailsMergedAgeIsOldestPart: report merge accepts parts of one
// lookback scanned at different times (shards of one run may end hours
// apart); the merged window spans them and ends with the newest. The
// guardrails' --max-age must judge the oldest part: a month-old part
// merged with today's scan is a month old, never fresh.
func TestGuardrailsMergedAgeIsOldestPart(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	part := func(account string, end time.Time) *report.Report {
		r := &report.Report{
			SchemaVersion: report.SchemaVersion, GeneratedAt: end, Tool: report.Tool{Name: "imdsfleet", Version: "test"},
			Window:      report.Window{Start: end.Truncate(24 * time.Hour).Add(-14 * 24 * time.Hour), End: end},
			ScanOptions: &report.ScanOptions{MinObservedDays: 7, ContainerTags: []string{}, Selection: &report.Selection{}},
			Targets:     []report.Target{{Account: account, Region: "us-east-1", Status: report.TargetOK, Instances: 1}},
			Instances: []report.Instance{{Account: account, Region: "us-east-1", InstanceID: "i-" + account,
				MetadataOptions: report.MetadataOptions{HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2},
				Classification:  report.ClassEnforced, Usage: report.Usage{Status: report.UsageComplete}}},
		}
		report.Normalize(r)
		return r
	}
	old, fresh := part("111111111111", now.Add(-30*24*time.Hour)), part("222222222222", now.Add(-time.Hour))
	merged, err := report.Merge([]report.MergeInput{{Name: "old.json", Report: old}, {Name: "fresh.json", Report: fresh}}, report.MergeOptions{})
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	a, err := guardrails.Assess(report.GuardrailEvidence(merged), guardrails.DefaultParams(), now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Report.AgeDays != 30 {
		t.Errorf("ageDays %d, want 30 (the oldest part's)", a.Report.AgeDays)
	}
	for _, s := range a.Scopes {
		if s.Account != "222222222222" && s.Account != "111111111111" {
			continue
		}
		for _, rd := range s.Readiness {
			if rd.Status == guardrails.Safe || !strings.Contains(strings.Join(rd.Unknown, "\n"), "the oldest of the scans merged into the report ended 30 days ago") {
				t.Errorf("%s %s: %s %q, want unknown naming the oldest part's age", s.ID, rd.Guardrail, rd.Status, rd.Unknown)
			}
		}
	}
	// Each part alone: the fresh one is safe, as before.
	if a, err = guardrails.Assess(report.GuardrailEvidence(fresh), guardrails.DefaultParams(), now); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Scopes {
		for _, rd := range s.Readiness {
			if rd.Guardrail == guardrails.DenyV1Reenable && rd.Status != guardrails.Safe {
				t.Errorf("fresh part alone, %s: %s %q, want safe", s.ID, rd.Status, rd.Unknown)
			}
		}
	}
}
