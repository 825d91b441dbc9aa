package remediate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPlanFileRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	scanned := optionalHop1
	scanned.State = "applied"
	p := &Plan{GeneratedAt: now, ReportAt: now.Add(-time.Hour), Changes: []Item{
		{Account: "111111111111", Region: "us-east-1", InstanceID: "i-1", Action: ActionEnforce, Change: Change{HttpTokens: "required"}, Scanned: scanned, Tags: map[string]string{"Name": "a\x1b"}},
	}, Skipped: []Item{{Account: "222222222222", Region: "us-east-1", InstanceID: "i-2", Reason: SkipNoData}}}
	p.Describe("scan.json", []byte("{}"), now.Add(-time.Hour), []string{"--max-changes=1"})
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	f, _ := os.Create(path)
	if err := WritePlanJSON(f, p); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := ReadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != p.ID() || strings.Join(got.Accounts, ",") != "111111111111,222222222222" || got.Source.SHA256 == "" {
		t.Fatalf("read back: %+v", got)
	}
	data, _ := os.ReadFile(path)
	for name, edit := range map[string]func(string) string{
		"edited change":  func(s string) string { return strings.Replace(s, `"required"`, `"optional"`, 1) },
		"added member":   func(s string) string { return strings.Replace(s, `"format"`, `"extra": 1, "format"`, 1) },
		"no checksum":    func(s string) string { return strings.Replace(s, `"checksum"`, `"checksumx"`, 1) },
		"older version":  func(s string) string { return strings.Replace(s, `"planVersion": 1`, `"planVersion": 0`, 1) },
		"truncated":      func(s string) string { return s[:len(s)/2] },
		"not a plan":     func(string) string { return `{"schemaVersion": 1}` },
		"dropped change": func(s string) string { return strings.Replace(s, `"i-1"`, `"i-3"`, 1) },
	} {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(edit(string(data))), 0o600)
		if _, err := ReadPlanFile(bad); !errors.Is(err, ErrNotPlan) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line wrapping ErrNotPlan", name, err)
		}
	}
	// A sealed plan with a change imdsfleet never plans is refused too.
	p.Changes[0].Change = Change{HttpTokens: "optional"}
	p.Seal()
	f, _ = os.Create(path)
	WritePlanJSON(f, p)
	f.Close()
	if _, err := ReadPlanFile(path); err == nil || !strings.Contains(err.Error(), "not a change imdsfleet plans") {
		t.Errorf("resealed bad change: %v", err)
	}
}
