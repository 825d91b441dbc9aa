package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

// readCSV writes r as CSV and parses it back into one map per row.
func readCSV(t *testing.T, r *report.Report) ([]string, map[string]map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, r); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	rows := map[string]map[string]string{}
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, h := range records[0] {
			row[h] = rec[i]
		}
		rows[row["instance_id"]] = row
	}
	return records[0], rows
}

func TestWriteCSV(t *testing.T) {
	r := normalized(t)
	header, rows := readCSV(t, r)
	wantHeader := "account,region,instance_id,name,state,http_tokens,http_endpoint,hop_limit,classification,risks," +
		"no_token_calls,no_token_rejected,days_with_calls,last_call_at,instance_profile_arn,image_id,launch_time," +
		// Schema version 2 appended these: earlier columns never move.
		"workload,launch_source_kind,launch_source,next_launch_status,next_http_tokens,next_http_tokens_from," +
		"next_hop_limit,next_hop_limit_from,next_http_endpoint,next_http_endpoint_from"
	if got := strings.Join(header, ","); got != wantHeader {
		t.Fatalf("header = %s\nwant     %s", got, wantHeader)
	}
	if len(rows) != len(r.Instances) {
		t.Fatalf("%d rows, want %d", len(rows), len(r.Instances))
	}
	tests := []struct {
		id, column, want string
	}{
		// Numbers in plain decimal, never 1.234567e+06.
		{"i-0a00000000000v1eks", "no_token_calls", "1234567"},
		{"i-0a00000000000v1eks", "risks", "container-hop-limit;role-exposed"},
		{"i-0a00000000000v1eks", "last_call_at", "2026-11-21T00:00:00Z"},
		{"i-0a00000000000v1eks", "launch_time", "2026-10-01T08:00:00Z"},
		{"i-0a00000000000v1eks", "hop_limit", "1"},
		{"i-1000000000000enf", "no_token_rejected", "17"},
		// Formula characters are defused with a leading quote...
		{"i-0b00000000000formula", "name", `'=HYPERLINK("http://evil.example","click")`},
		{"i-0e00000000000stopped", "name", "'+cmd|' /C calc'!A0"},
		{"i-0f00000000000uerr", "name", "'-2+3\nsecond line\ttab"},
		{"i-1000000000000enf", "name", "'@SUM(1+1)*cmd|' /C calc'!A0"},
		{"i-1100000000000dis", "name", "'\tTabbed\r"},
		// ...other text is kept as is, quoted by the CSV rules.
		{"i-0c00000000000ready", "name", `web, "primary"`},
		{"i-0d00000000000ready2", "name", "データベース-ü | <b>bold</b> **x**"},
		// Unknown is empty, known zero is 0.
		{"i-0c00000000000ready", "no_token_calls", "0"},
		{"i-0c00000000000ready", "last_call_at", ""},
		{"i-0f00000000000uerr", "no_token_calls", ""},
		{"i-0f00000000000uerr", "days_with_calls", ""},
		{"i-0f00000000000uerr", "launch_time", ""},
		{"i-1100000000000dis", "no_token_calls", ""},
		{"i-0c00000000000ready", "instance_profile_arn", ""},
	}
	for _, tt := range tests {
		if got := rows[tt.id][tt.column]; got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.id, tt.column, got, tt.want)
		}
	}
}

func TestWriteCSVLargeAndFractionalNumbers(t *testing.T) {
	r := &report.Report{Instances: []report.Instance{{
		Account: "1", Region: "r", InstanceID: "i-1", Classification: report.ClassV1InUse,
		Usage: report.Usage{Status: report.UsageComplete, NoTokenCalls: 1e21, NoTokenRejected: 0.5},
	}}}
	_, rows := readCSV(t, r)
	if got := rows["i-1"]["no_token_calls"]; got != "1000000000000000000000" {
		t.Errorf("no_token_calls = %q", got)
	}
	if got := rows["i-1"]["no_token_rejected"]; got != "0.5" {
		t.Errorf("no_token_rejected = %q", got)
	}
}

// TestWriteCSVSameGuardAsResults: the scan CSV guards every text cell with
// report.CSVCell, as remediate's results CSV does: a formula after a
// separator a ;-locale spreadsheet splits on is defused too.
func TestWriteCSVSameGuardAsResults(t *testing.T) {
	hostile := "web;=cmd|' /C calc'!A0"
	r := &report.Report{Instances: []report.Instance{{
		Account: "1", Region: "r", InstanceID: "i-1", Name: hostile, State: "a,+b", ImageID: "ami\t-1",
		InstanceProfileArn: "x\"@y", Classification: report.ClassReady,
	}}}
	_, rows := readCSV(t, r)
	for col, in := range map[string]string{"name": hostile, "state": "a,+b", "image_id": "ami\t-1", "instance_profile_arn": "x\"@y"} {
		if got, want := rows["i-1"][col], report.CSVCell(in); got != want || got == in {
			t.Errorf("%s = %q, want %q", col, got, want)
		}
	}
}
