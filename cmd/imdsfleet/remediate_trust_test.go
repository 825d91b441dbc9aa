package main

// remediate acts only on a report whose verdicts its own evidence
// supports: these tests edit a report the way a user (or an attacker with
// write access to it) could, run the real remediate command against the
// simulated AWS, and check that it refuses before any AWS call.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
)

// editReport rewrites the JSON report at path through edit, as jq or a
// text editor would: the report stays schema-valid.
func editReport(t *testing.T, path, out string, edit func(doc map[string]any, instances []any)) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(mustRead(t, path), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc, doc["instances"].([]any))
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := report.ReadFile(out); err != nil {
		t.Fatalf("test setup: the edited report no longer reads: %v", err)
	}
}

// instanceNamed returns the report instance (a JSON object) with id.
func instanceNamed(t *testing.T, instances []any, id string) map[string]any {
	t.Helper()
	for _, in := range instances {
		m := in.(map[string]any)
		if m["instanceId"] == id {
			return m
		}
	}
	t.Fatalf("test setup: %s not in the report", id)
	return nil
}

// TestRemediateRefusesUntrustedReport: a report edited to mark an
// instance ready although it made 1,201 IMDSv1 calls, one whose instance
// has empty metadataOptions, and one written before reports recorded the
// scan options, are each refused: exit 2, one line naming the instance and
// what disagrees, and not one AWS call (counted by the simulated AWS), in
// a live run as in a dry run.
func TestRemediateRefusesUntrustedReport(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 2)
	s := remStart(t, insts, fleet.Knobs{})
	var v1, ready remInst
	for _, in := range insts {
		switch {
		case in.class == report.ClassV1InUse && in.tags == nil && v1.id == "":
			v1 = in
		case in.want == "enforce" && in.tags == nil && ready.id == "":
			ready = in
		}
	}
	if v1.id == "" || ready.id == "" {
		t.Fatal("test setup: no plain v1-in-use or ready instance in the fleet")
	}
	v1Ready := filepath.Join(s.dir, "v1-ready.json")
	editReport(t, s.report, v1Ready, func(_ map[string]any, instances []any) {
		in := instanceNamed(t, instances, v1.id)
		in["classification"] = report.ClassReady
		in["risks"] = []any{}
		in["usage"].(map[string]any)["noTokenCalls"] = 1201
	})
	noOptions := filepath.Join(s.dir, "no-options.json")
	editReport(t, s.report, noOptions, func(_ map[string]any, instances []any) {
		instanceNamed(t, instances, ready.id)["metadataOptions"] = map[string]any{}
	})
	noTokens := filepath.Join(s.dir, "no-tokens.json")
	editReport(t, s.report, noTokens, func(_ map[string]any, instances []any) {
		delete(instanceNamed(t, instances, ready.id)["metadataOptions"].(map[string]any), "httpTokens")
	})
	// Evidence edited along with the verdict, so that the two agree, into
	// figures no scan writes.
	negative := filepath.Join(s.dir, "negative.json")
	editReport(t, s.report, negative, func(_ map[string]any, instances []any) {
		in := instanceNamed(t, instances, v1.id)
		in["classification"] = report.ClassReady
		in["risks"] = []any{}
		u := in["usage"].(map[string]any)
		u["noTokenCalls"], u["daysWithCalls"] = -1201, 0
	})
	manyDays := filepath.Join(s.dir, "many-days.json")
	editReport(t, s.report, manyDays, func(doc map[string]any, instances []any) {
		// A window of years, and a million observed days in it.
		doc["window"].(map[string]any)["start"] = "2020-01-01T00:00:00Z"
		instanceNamed(t, instances, ready.id)["usage"].(map[string]any)["datapoints"] = 1e6
	})
	elsewhere := filepath.Join(s.dir, "elsewhere.json")
	editReport(t, s.report, elsewhere, func(_ map[string]any, instances []any) {
		instanceNamed(t, instances, ready.id)["region"] = "ap-south-1"
	})
	shortWindow := filepath.Join(s.dir, "short-window.json")
	editReport(t, s.report, shortWindow, func(doc map[string]any, _ []any) {
		w := doc["window"].(map[string]any)
		w["start"] = w["end"]
	})
	old := filepath.Join(s.dir, "old.json")
	editReport(t, s.report, old, func(doc map[string]any, _ []any) { delete(doc, "scanOptions") })

	tests := []struct {
		name, report, want string
	}{
		{"ready with 1201 v1 calls", v1Ready, fmt.Sprintf("%s: report says ready but its evidence (1201 v1 calls) makes it v1-in-use", v1.id)},
		{"empty metadataOptions", noOptions, fmt.Sprintf("%s: metadataOptions has no httpTokens", ready.id)},
		{"httpTokens removed", noTokens, fmt.Sprintf("%s: metadataOptions has no httpTokens", ready.id)},
		{"report without scanOptions", old, "does not record the scan options its classifications depend on"},
		{"negative v1 calls", negative, fmt.Sprintf("%s: usage has a count no scan writes (noTokenCalls -1201", v1.id)},
		{"more observed days than the window", manyDays, fmt.Sprintf("%s: usage has 1000000 observed days in a window of", ready.id)},
		{"instance in a Region not scanned", elsewhere, fmt.Sprintf("%s: its account and Region %s/ap-south-1 are not among the report's targets", ready.id, remAcct)},
		{"window under a day", shortWindow, "is not at least one day long"},
	}
	before := s.snapshot(t)
	for _, tc := range tests {
		for _, mode := range [][]string{{"--live", "--yes", "--journal", s.journal}, nil} {
			name := tc.name + map[bool]string{true: " live", false: " dry run"}[mode != nil]
			t.Run(name, func(t *testing.T) {
				s.srv.ResetStats()
				r := remCLI(t, context.Background(), "", false, remArgs(append([]string{"remediate", "--report", tc.report}, mode...)...)...)
				if r.code != exitUsage {
					t.Errorf("exit %d, want %d (bad usage)", r.code, exitUsage)
				}
				// One line says what is wrong (the usual usage hint may follow).
				first, _, _ := strings.Cut(r.stderr, "\n")
				if !strings.HasPrefix(first, "imdsfleet: "+tc.report+": ") || !strings.Contains(first, tc.want) {
					t.Errorf("first stderr line %q, want it to name the report and contain %q", first, tc.want)
				}
				if calls := s.srv.Stats().Calls; sim.Total(calls) != 0 {
					t.Errorf("AWS was called for an untrusted report: %v", calls)
				}
				if _, err := os.Stat(s.journal); err == nil {
					t.Error("a journal was started for an untrusted report")
				}
			})
		}
	}
	if after := s.snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the fleet changed:\nbefore %v\nafter  %v", before, after)
	}
	// The report as the scan wrote it is accepted (a dry run).
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report)...)
	if r.code != exitOK {
		t.Errorf("the unedited report: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRemediateRefusesReportReadDifferently: a report whose JSON other
// tools read one way and Go's reader another is refused. Go matches keys
// case-insensitively and takes the last of a repeated key, so
// `"classification": "v1-in-use", "Classification": "ready"` reads as
// v1-in-use in jq, Python or a review, and was enforced by remediate (the
// edited usage agreeing with "ready"). Exit 2, the key named, no AWS call.
// A byte-order mark (an editor's) is not such a difference: that report
// is accepted.
func TestRemediateRefusesReportReadDifferently(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	var v1 remInst
	for _, in := range insts {
		if in.class == report.ClassV1InUse && in.tags == nil {
			v1 = in
			break
		}
	}
	if v1.id == "" {
		t.Fatal("test setup: no plain v1-in-use instance in the fleet")
	}
	orig := string(mustRead(t, s.report))
	at := strings.Index(orig, `"instanceId": "`+v1.id+`"`)
	if at < 0 {
		t.Fatal("test setup: instance not found in the report text")
	}
	// edit replaces the first old after the instance's id.
	edit := func(name string, pairs ...string) string {
		text := orig
		for i := 0; i < len(pairs); i += 2 {
			j := strings.Index(text[at:], pairs[i])
			if j < 0 {
				t.Fatalf("test setup: %q not in the instance", pairs[i])
			}
			text = text[:at+j] + pairs[i+1] + text[at+j+len(pairs[i]):]
		}
		path := filepath.Join(s.dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caseVariant := edit("case.json",
		`"classification": "v1-in-use"`, `"classification": "v1-in-use", "Classification": "ready"`,
		`"error": ""`, `"error": "", "NoTokenCalls": 0, "DaysWithCalls": 0`)
	duplicate := edit("duplicate.json",
		`"classification": "v1-in-use"`, `"classification": "v1-in-use", "classification": "ready"`,
		`"error": ""`, `"error": "", "noTokenCalls": 0, "daysWithCalls": 0`)
	// What other tools see: the instance is v1-in-use (decoding into a map
	// matches keys exactly, as jq does).
	var doc struct{ Instances []map[string]any }
	if err := json.Unmarshal(mustRead(t, caseVariant), &doc); err != nil {
		t.Fatal(err)
	}
	for _, in := range doc.Instances {
		if in["instanceId"] == v1.id && in["classification"] != report.ClassV1InUse {
			t.Fatalf("test setup: other tools read %v", in["classification"])
		}
	}
	tests := []struct{ name, report, want string }{
		{"a key differing in case", caseVariant, `instances[3].usage has the key "NoTokenCalls", which differs from "noTokenCalls" only in case`},
		{"a key twice", duplicate, `instances[3].usage has the key "noTokenCalls" twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.srv.ResetStats()
			r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", tc.report, "--live", "--yes", "--journal", s.journal)...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d (bad usage)\n%s", r.code, exitUsage, r.stderr)
			}
			if first, _, _ := strings.Cut(r.stderr, "\n"); !strings.Contains(first, tc.want) {
				t.Errorf("first stderr line %q, want it to contain %q", first, tc.want)
			}
			if calls := s.srv.Stats().Calls; sim.Total(calls) != 0 {
				t.Errorf("AWS was called: %v", calls)
			}
		})
	}
	bom := filepath.Join(s.dir, "bom.json")
	if err := os.WriteFile(bom, append([]byte("\ufeff"), orig...), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", bom)...); r.code != exitOK {
		t.Errorf("a report with a byte-order mark: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRemediateOldPartialReportSaysWhy: a schema-1 report from an older
// imdsfleet marks an instance ready on a partial CloudWatch read (the
// missing days could hold v1 calls). Refusing it is right, since this
// release classifies it no-data; the line says exactly that and what to
// do (scan again with this release), not "re-run the scan instead of
// editing the report", which blamed the user for an edit never made.
func TestRemediateOldPartialReportSaysWhy(t *testing.T) {
	res := scanCLI(t, false, "remediate", "--report", filepath.Join("..", "..", "report", "testdata", "v1-report.json"),
		"--plan-out", filepath.Join(t.TempDir(), "plan.json"))
	if res.code != exitUsage {
		t.Fatalf("exit %d, want %d (refused)\n%s", res.code, exitUsage, res.err)
	}
	line := strings.TrimSpace(res.err)
	if strings.Count(line, "\n") != 0 {
		t.Errorf("refusal is not one line:\n%s", line)
	}
	for _, want := range []string{"i-0d00000000000ready2", "usage is partial", "PartialData", "no-data, never ready",
		"schema version 1", "imdsfleet v0.1.0-test", "run imdsfleet scan again with this release"} {
		if !strings.Contains(line, want) {
			t.Errorf("refusal does not say %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "editing the report") {
		t.Errorf("refusal blames an edit for an old report:\n%s", line)
	}
}
