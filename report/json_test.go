package report_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func writeJSON(t *testing.T, r *report.Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, r); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	return buf.Bytes()
}

// TestJSONRoundTrip: what WriteJSON writes, Read gives back unchanged,
// field by field, including nil LastCallAt, unicode and control
// characters.
func TestJSONRoundTrip(t *testing.T) {
	want := normalized(t)
	got, err := report.Read(bytes.NewReader(writeJSON(t, want)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		gb, wb := writeJSON(t, got), writeJSON(t, want)
		t.Fatalf("round trip changed the report:\n%s", firstDiff(string(wb), string(gb)))
	}
	// And a second write is byte-identical (stable output).
	if again := writeJSON(t, got); !bytes.Equal(again, writeJSON(t, want)) {
		t.Fatal("writing the report read back gives different bytes")
	}
}

// TestWriteJSONStreamsTheSameDocument: the streamed output is exactly the
// document json.Encoder would write for the whole report in one go.
func TestWriteJSONStreamsTheSameDocument(t *testing.T) {
	for name, r := range map[string]*report.Report{"fixture": normalized(t), "empty": emptyNormalized(), "launch": launchFixture(t)} {
		t.Run(name, func(t *testing.T) {
			var whole bytes.Buffer
			enc := json.NewEncoder(&whole)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			if got := writeJSON(t, r); !bytes.Equal(got, whole.Bytes()) {
				t.Fatalf("streamed JSON differs from json.Encoder's:\n%s", firstDiff(whole.String(), string(got)))
			}
		})
	}
}

func emptyNormalized() *report.Report {
	r := &report.Report{SchemaVersion: report.SchemaVersion}
	report.Normalize(r)
	return r
}

// TestWriteJSONNoNulls: nil slices and maps are written as [] and {} even
// when the caller did not normalize, and the output ends with a newline.
func TestWriteJSONNoNulls(t *testing.T) {
	r := &report.Report{SchemaVersion: 1, Instances: []report.Instance{{
		Account: "1", Region: "r", InstanceID: "i-1", Classification: report.ClassReady,
	}}}
	out := string(writeJSON(t, r))
	for _, want := range []string{`"targets": []`, `"tags": {}`, `"risks": []`, `"byClassification": {}`, `"byRisk": {}`, `"lastCallAt": null`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "null") != 1 {
		t.Errorf("only lastCallAt may be null:\n%s", out)
	}
	if !strings.HasSuffix(out, "}\n") {
		t.Errorf("output does not end with a newline")
	}
	if r.Targets != nil || r.Instances[0].Tags != nil {
		t.Errorf("WriteJSON modified the report it was given")
	}
	// Nothing at all: still a valid, readable report.
	empty := &report.Report{SchemaVersion: 1}
	got, err := report.Read(bytes.NewReader(writeJSON(t, empty)))
	if err != nil {
		t.Fatalf("Read(empty report): %v", err)
	}
	if got.Instances == nil || got.Targets == nil {
		t.Errorf("Read gave nil slices: %+v", got)
	}
}

// TestWriteJSONNoNullsInLaunchLists: a launch source or workload whose
// lists and maps are nil is written with [] and {}, as Normalize would
// leave it, without changing the caller's report.
func TestWriteJSONNoNullsInLaunchLists(t *testing.T) {
	r := &report.Report{SchemaVersion: report.SchemaVersion,
		LaunchSources: []report.LaunchSource{{ID: "lt-1"}},
		Workloads:     []report.Workload{{ID: "w-1"}}}
	out := string(writeJSON(t, r))
	for _, want := range []string{`"groups": []`, `"instances": []`, `"sourceIds": []`, `"byClassification": {}`, `"byRisk": {}`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if r.LaunchSources[0].Groups != nil || r.Workloads[0].SourceIDs != nil {
		t.Errorf("WriteJSON modified the report it was given")
	}
}

// TestReadErrors: each bad input gets an error that says what is wrong and
// what to do, and that a caller can test with errors.Is.
func TestReadErrors(t *testing.T) {
	valid := string(writeJSON(t, normalized(t)))
	instance := func(edit func(m map[string]any)) string {
		var doc map[string]any
		if err := json.Unmarshal([]byte(valid), &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	firstInstance := func(doc map[string]any) map[string]any {
		return doc["instances"].([]any)[0].(map[string]any)
	}
	tests := []struct {
		name  string
		input string
		kind  error
		want  []string // every fragment must appear in the message
	}{
		{"empty file", "", report.ErrNotReport, []string{"report.json is empty", "re-run the scan"}},
		{"only whitespace", " \n\t", report.ErrNotReport, []string{"is empty"}},
		{"truncated", valid[:len(valid)/2], report.ErrNotReport,
			[]string{"report.json is truncated or not JSON: unexpected end of JSON input at byte " + itoa(len(valid)/2), "re-run the scan"}},
		{"not JSON", "account,region\n1,us-east-1\n", report.ErrNotReport,
			[]string{"truncated or not JSON", "invalid character", "at byte 1 (line 1, column 1)"}},
		{"syntax error on a later line", "{\n  \"schemaVersion\": 1,\n  \"x\": tru\n}", report.ErrNotReport,
			[]string{"line 3"}},
		{"trailing garbage", valid + "}", report.ErrNotReport, []string{"not JSON", "after top-level value"}},
		{"a list", "[1,2]", report.ErrNotReport, []string{"not an imdsfleet report", "holds a JSON array, not an object"}},
		{"no schemaVersion", `{"instances":[]}`, report.ErrNotReport,
			[]string{"report.json is not an imdsfleet report", "no schemaVersion"}},
		{"schemaVersion 0", `{"schemaVersion":0}`, report.ErrNotReport, []string{"not an imdsfleet report", "schemaVersion is 0"}},
		{"schemaVersion null", `{"schemaVersion":null}`, report.ErrNotReport, []string{"not an imdsfleet report"}},
		{"schemaVersion a string", `{"schemaVersion":"1"}`, report.ErrNotReport, []string{"not an imdsfleet report", `schemaVersion is "1"`}},
		{"future schema", `{"schemaVersion":3,"whatever":{"new":"shape"}}`, report.ErrSchemaVersion,
			[]string{"report schema version 3 is not supported by this imdsfleet (supports 1, 2); upgrade imdsfleet"}},
		{"future schema with a changed field type", `{"schemaVersion":3,"instances":"elsewhere"}`, report.ErrSchemaVersion,
			[]string{"version 3 is not supported"}},
		{"wrong field type", instance(func(d map[string]any) { firstInstance(d)["usage"].(map[string]any)["noTokenCalls"] = "many" }),
			report.ErrInvalid, []string{"not a valid imdsfleet report", "instances.usage.noTokenCalls", "string", "a number"}},
		{"bad time", instance(func(d map[string]any) { d["generatedAt"] = "yesterday" }),
			report.ErrInvalid, []string{"not a valid imdsfleet report", `"yesterday"`, "RFC 3339"}},
		{"missing region", instance(func(d map[string]any) { delete(firstInstance(d), "region") }),
			report.ErrInvalid, []string{"instances[0] (i-1000000000000enf) has no region", "re-run the scan"}},
		{"missing account and id", instance(func(d map[string]any) { firstInstance(d)["account"] = ""; delete(firstInstance(d), "instanceId") }),
			report.ErrInvalid, []string{"instances[0] has no account, no instanceId"}},
		{"unknown classification", instance(func(d map[string]any) { firstInstance(d)["classification"] = "v1" }),
			report.ErrInvalid, []string{`has classification "v1" (expected one of v1-in-use, no-data, ready, enforced, disabled)`}},
		{"missing classification", instance(func(d map[string]any) { delete(firstInstance(d), "classification") }),
			report.ErrInvalid, []string{`has classification ""`}},
		{"unknown risk", instance(func(d map[string]any) { firstInstance(d)["risks"] = []any{"container-hop-limt"} }),
			report.ErrInvalid, []string{`risk "container-hop-limt"`, "container-hop-limit, role-exposed, v1-rejected"}},
		{"unknown usage status", instance(func(d map[string]any) { firstInstance(d)["usage"].(map[string]any)["status"] = "ok" }),
			report.ErrInvalid, []string{`usage status "ok"`}},
		{"unknown target status", instance(func(d map[string]any) { d["targets"].([]any)[0].(map[string]any)["status"] = "failed" }),
			report.ErrInvalid, []string{`targets[0] has status "failed"`}},
		{"duplicate instance", instance(func(d map[string]any) {
			list := d["instances"].([]any)
			d["instances"] = append(list, list[0])
		}), report.ErrInvalid, []string{"instances[9] (i-1000000000000enf) appears twice (also instances[0])"}},
		// Keys Go's JSON reader takes where other tools do not, or that tools
		// disagree on: a reviewed report must not act otherwise.
		{"a key twice", strings.Replace(valid, `"noTokenCalls": `, `"noTokenCalls": 0, "noTokenCalls": `, 1),
			report.ErrInvalid, []string{`instances[0].usage has the key "noTokenCalls" twice`, "re-run the scan"}},
		{"a key twice at the top", strings.Replace(valid, `"scanOptions": `, `"scanOptions": null, "scanOptions": `, 1),
			report.ErrInvalid, []string{`the report has the key "scanOptions" twice`}},
		{"a key twice, once escaped", strings.Replace(valid, `"classification": `, `"classification": "ready", "cl\u0061ssification": `, 1),
			report.ErrInvalid, []string{`instances[0] has the key "classification" twice`}},
		{"a tag twice", strings.Replace(valid, `"tags": {`, `"tags": {"Name": "x", "Name": "y", `, 1),
			report.ErrInvalid, []string{`instances[0].tags has the key "Name" twice`}},
		{"a key differing in case", strings.Replace(valid, `"noTokenCalls": `, `"NoTokenCalls": 0, "noTokenCalls": `, 1),
			report.ErrInvalid, []string{`instances[0].usage has the key "NoTokenCalls", which differs from "noTokenCalls" only in case`}},
		{"a key differing in case alone", strings.Replace(valid, `"classification": `, `"CLASSIFICATION": `, 1),
			report.ErrInvalid, []string{`has the key "CLASSIFICATION", which differs from "classification" only in case`}},
		{"a key with a long s", strings.Replace(valid, `"risks": `, `"riſks": [], "risks": `, 1),
			report.ErrInvalid, []string{`has the key "riſks", which differs from "risks" only in case`}},
		{"a key with a Kelvin sign", strings.Replace(valid, `"noTokenCalls": `, `"noTo\u212aenCalls": 0, "noTokenCalls": `, 1),
			report.ErrInvalid, []string{"instances[0].usage has the key \"noTo\u212aenCalls\", which differs from \"noTokenCalls\" only in case"}},
		{"many problems", instance(func(d map[string]any) {
			for _, in := range d["instances"].([]any) {
				in.(map[string]any)["classification"] = "bad"
			}
		}), report.ErrInvalid, []string{"; and 4 more problems"}},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "report.json")
			if err := os.WriteFile(path, []byte(tt.input), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := report.ReadFile(path)
			if err == nil {
				t.Fatal("ReadFile accepted a bad report")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			msg := strings.ReplaceAll(err.Error(), path, "report.json")
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\n  lacks %q", msg, w)
				}
			}
			// Read (no file name) fails the same way, naming "report".
			if _, err := report.Read(strings.NewReader(tt.input)); !errors.Is(err, tt.kind) {
				t.Errorf("Read: error %v is not %v", err, tt.kind)
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scan.json")
	_, err := report.ReadFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v is not ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "imdsfleet scan --output") {
		t.Errorf("error %q does not say how to get a report", err)
	}
}

// TestReadIgnoresUnknownFields: a later imdsfleet may add fields without
// changing the schema version; this one still reads its reports.
func TestReadIgnoresUnknownFields(t *testing.T) {
	in := `{"schemaVersion":1,"newTopLevel":{"a":1},"instances":[{"account":"1","region":"r","instanceId":"i-1",` +
		`"classification":"ready","newField":[1,2],"usage":{"status":"complete","newUsage":true}}]}`
	r, err := report.Read(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(r.Instances) != 1 || r.Instances[0].InstanceID != "i-1" || r.Instances[0].Tags == nil || r.Instances[0].Risks == nil {
		t.Fatalf("unexpected result: %+v", r.Instances)
	}
}

// TestReadKeysOtherToolsReadAlike: keys that only look alike are not
// refused when Go reads them as other tools do: tags differing in case
// (AWS tag keys are case-sensitive), escaped keys, a byte-order mark,
// unknown keys differing in case from each other.
func TestReadKeysOtherToolsReadAlike(t *testing.T) {
	valid := string(writeJSON(t, normalized(t)))
	for name, in := range map[string]string{
		"tags differing in case": strings.Replace(valid, `"tags": {`, `"tags": {"name": "x", "NAME": "y", "Name\u0073": "z", `, 1),
		"an escaped key":         strings.Replace(valid, `"classification": `, `"cl\u0061ssification": `, 1),
		"unknown keys":           strings.Replace(valid, `"usage": {`, `"usage": {"future": 1, "Future": 2, "x": {"a": 1, "A": 2}, `, 1),
		"a byte-order mark":      "\ufeff" + valid,
		"a long unknown object":  strings.Replace(valid, `"usage": {`, `"usage": {"future": {`+manyKeys(100)+`}, `, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := report.Read(strings.NewReader(in)); err != nil {
				t.Fatalf("Read: %v", err)
			}
		})
	}
	// A long object with one key twice at the end is still caught.
	dup := strings.Replace(valid, `"usage": {`, `"usage": {"future": {`+manyKeys(100)+`, "k7": 0}, `, 1)
	if _, err := report.Read(strings.NewReader(dup)); err == nil || !strings.Contains(err.Error(), `instances[0].usage.future has the key "k7" twice`) {
		t.Errorf("a key twice in a long object: error %v", err)
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `": ` + strconv.Itoa(i))
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestReadWithoutScanOptions: scanOptions was added under schema version
// 1; a report written before it still reads, with ScanOptions nil (remediate
// then refuses it, since its verdicts cannot be checked), and writing it
// back adds no scanOptions.
func TestReadWithoutScanOptions(t *testing.T) {
	old := `{"schemaVersion": 1, "tool": {"name": "imdsfleet", "version": "v0.1.0"}, "targets": [], "instances": [
	  {"account": "111111111111", "region": "us-east-1", "instanceId": "i-1", "classification": "ready", "risks": []}]}`
	r, err := report.Read(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if r.ScanOptions != nil {
		t.Errorf("ScanOptions = %+v, want nil", r.ScanOptions)
	}
	if out := string(writeJSON(t, r)); strings.Contains(out, "scanOptions") {
		t.Errorf("written back with scanOptions:\n%s", out)
	}
}

// TestReadErrorsShowFileTextSafely: a schema error quotes values from the
// file on one bounded line, escaped like every human output.
func TestReadErrorsShowFileTextSafely(t *testing.T) {
	id := "i-1\n" + "SUMMARY: forged\x1b[2J\u202e"
	class := strings.Repeat("\x1b[31m", 1<<14)
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	doc := `{"schemaVersion":1,"tool":{"name":"imdsfleet"},"targets":[],"instances":[` +
		`{"account":"1","region":"r","instanceId":` + js(id) + `,"classification":` + js(class) + `}]}`
	_, err := report.Read(strings.NewReader(doc))
	if err == nil {
		t.Fatal("a bad classification was accepted")
	}
	msg := err.Error()
	if len(msg) > 4096 || strings.ContainsAny(msg, "\n\x1b\u202e") {
		t.Errorf("error of %d bytes with raw controls: %.200q", len(msg), msg)
	}
	if !strings.Contains(msg, `i-1\nSUMMARY`) {
		t.Errorf("error does not show the id escaped: %.200q", msg)
	}
}

// TestJSONRoundTripLaunch: the schema version 2 parts (account defaults,
// launch sources, workloads, each instance's launch source and next
// launch, launch errors) come back unchanged.
func TestJSONRoundTripLaunch(t *testing.T) {
	want := launchFixture(t)
	got, err := report.Read(bytes.NewReader(writeJSON(t, want)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the report:\n%s", firstDiff(string(writeJSON(t, want)), string(writeJSON(t, got))))
	}
	if len(got.LaunchSources) == 0 || len(got.Workloads) == 0 || len(got.AccountDefaults) == 0 || got.Instances[0].NextLaunch == nil {
		t.Fatal("the launch fixture lost its launch sources")
	}
}

// TestReadVersion1: a report written before launch sources (schema
// version 1, as imdsfleet wrote it) still reads, without them; version 2
// parts in a version 1 report are refused.
func TestReadVersion1(t *testing.T) {
	r, err := report.ReadFile(filepath.Join("testdata", "v1-report.json"))
	if err != nil {
		t.Fatalf("ReadFile(v1): %v", err)
	}
	if r.SchemaVersion != 1 || len(r.Instances) != 9 || len(r.LaunchSources) != 0 || r.Workloads == nil || r.Instances[0].NextLaunch != nil {
		t.Errorf("v1 report read as version %d, %d instances, %d sources, workloads %v", r.SchemaVersion, len(r.Instances), len(r.LaunchSources), r.Workloads)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "v1-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(map[string]any){
		"risk next-launch-v1": func(d map[string]any) {
			firstInstanceOf(d)["risks"] = []any{"next-launch-v1"}
		},
		"launchSources": func(d map[string]any) {
			d["launchSources"] = []any{map[string]any{"account": "1", "region": "r", "id": "account-default", "kind": "account-default"}}
		},
		"nextLaunch": func(d map[string]any) {
			firstInstanceOf(d)["nextLaunch"] = map[string]any{"status": "unresolved"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			edit(d)
			b, _ := json.Marshal(d)
			if _, err := report.Read(bytes.NewReader(b)); !errors.Is(err, report.ErrInvalid) {
				t.Errorf("Read = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestReadLaunchInvalid: version 2 parts that no scan writes are refused,
// each with a line naming it.
func TestReadLaunchInvalid(t *testing.T) {
	data := writeJSON(t, launchFixture(t))
	for _, tt := range []struct {
		name string
		edit func(d map[string]any)
		want string
	}{
		{"unknown source kind", func(d map[string]any) { list(d, "launchSources")[0].(map[string]any)["kind"] = "spaceship" }, `kind "spaceship"`},
		{"unknown layer", func(d map[string]any) {
			list(d, "launchSources")[0].(map[string]any)["nextLaunch"].(map[string]any)["httpTokensFrom"] = "vibes"
		}, `httpTokensFrom "vibes"`},
		{"resolved without tokens", func(d map[string]any) {
			n := list(d, "launchSources")[0].(map[string]any)["nextLaunch"].(map[string]any)
			n["status"], n["httpTokens"], n["httpTokensFrom"] = "resolved", "", ""
		}, "is resolved but has no httpTokens"},
		{"dangling source id", func(d map[string]any) {
			for _, in := range list(d, "instances") {
				if ls, ok := in.(map[string]any)["launchSource"].(map[string]any); ok && ls["sourceId"] != nil {
					ls["sourceId"] = "auto-scaling-group/nowhere"
					return
				}
			}
		}, `sourceId "auto-scaling-group/nowhere", which is not among the launchSources`},
		{"unknown step", func(d map[string]any) { list(d, "workloads")[0].(map[string]any)["step"] = "panic" }, `step "panic"`},
		{"dangling workload", func(d map[string]any) { firstInstanceOf(d)["workload"] = "tag/x" }, `workload "tag/x", which is not among`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			tt.edit(d)
			b, _ := json.Marshal(d)
			_, err := report.Read(bytes.NewReader(b))
			if !errors.Is(err, report.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read = %v, want ErrInvalid naming %q", err, tt.want)
			}
		})
	}
}

func list(d map[string]any, key string) []any { return d[key].([]any) }

func firstInstanceOf(d map[string]any) map[string]any {
	return list(d, "instances")[0].(map[string]any)
}

// TestReadFileDash: "-" is not standard input for a report (reports are
// read from files): the error says so, instead of telling the user to
// write a report with `scan --output -` (which writes to stdout).
func TestReadFileDash(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := report.ReadFile("-")
	if err == nil || !strings.Contains(err.Error(), "not standard input") || strings.Contains(err.Error(), "--output -") {
		t.Errorf("ReadFile(-): %v, want a line saying reports are read from files, not standard input", err)
	}
}
