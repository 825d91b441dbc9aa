package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// The scan command's end-to-end tests run `imdsfleet scan` in-process
// (run with injected streams) against the simulated AWS over HTTP, with the
// environment a user would set (simtest.Env through t.Setenv, so these tests
// are not parallel). The fleets run on the wall clock, like a real scan;
// scantest's expectations are built on whole UTC days so they hold at any
// time of day (bar the first five minutes after UTC midnight).

const (
	scanAcctA = "111111111111"
	scanAcctB = "222222222222"
)

type scanResult struct {
	code     int
	out, err string
}

// scanCLI runs imdsfleet with args; errTTY says whether stderr is a terminal.
func scanCLI(t *testing.T, errTTY bool, args ...string) scanResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb, ErrTTY: errTTY})
	return scanResult{code, out.String(), errb.String()}
}

// scanEnv points the AWS environment at url as account's default key.
func scanEnv(t *testing.T, url, account string) {
	t.Helper()
	for _, kv := range simtest.Env(url, fleet.DefaultAccessKeyID(account), "us-east-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
}

func scanStart(t *testing.T, f *fleet.Fleet) *sim.Server {
	t.Helper()
	srv, url := simtest.Start(t, f, sim.Options{Seed: 7})
	scanEnv(t, url, scanAcctA)
	return srv
}

func readReport(t *testing.T, data []byte) *report.Report {
	t.Helper()
	r, err := report.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read JSON report: %v\n%s", err, data)
	}
	return r
}

// TestScanCommandFleet is the main end-to-end check: every Region of the
// account (one of 1,050 instances, one failing with AuthFailure, one denied
// CloudWatch, one not opted in), all report files, exit 4, and every
// instance's classification, risks and usage.
func TestScanCommandFleet(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 1050)},
		{Name: "eu-west-1", Instances: e.Instances(scanAcctA, "eu-west-1", 30)},
		{Name: "ap-southeast-2", Knobs: &fleet.Knobs{AuthFailure: true}, Instances: e.Instances(scanAcctA, "ap-southeast-2", 15)},
		{Name: "us-west-2", Knobs: &fleet.Knobs{CloudWatchDenied: true}, Instances: e.Instances(scanAcctA, "us-west-2", 30)},
		{Name: "me-south-1", OptInStatus: "not-opted-in"},
	}}}}
	srv := scanStart(t, f)
	dir := t.TempDir()
	jsonPath, csvPath, mdPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.csv"), filepath.Join(dir, "report.md")
	res := scanCLI(t, false, "scan", "--format", "json", "--container-tag", scantest.ContainerTag,
		"--output", jsonPath, "--output", csvPath, "--output", mdPath)

	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want %d (a target failed)\nstderr:\n%s", res.code, exitIncomplete, res.err)
	}
	if !strings.Contains(res.err, "scan incomplete: 1 of 4 targets failed (111111111111/ap-southeast-2)") {
		t.Errorf("stderr does not say which target failed:\n%s", res.err)
	}
	if strings.Contains(res.err, "\r") {
		t.Errorf("progress drawn on a stderr that is not a terminal:\n%q", res.err)
	}
	r := readReport(t, []byte(res.out))
	e.Require(t, r, func(_, region string) bool { return region != "ap-southeast-2" }, func(w *scantest.Want) {
		if w.Region == "us-west-2" {
			scantest.CloudWatchDenied(w)
		}
	})
	var failed []report.Target
	for _, tg := range r.Targets {
		if tg.Status == report.TargetError {
			failed = append(failed, tg)
		}
	}
	if len(r.Targets) != 4 || len(failed) != 1 || failed[0].Region != "ap-southeast-2" || !strings.Contains(failed[0].Error, "AuthFailure") {
		t.Errorf("targets %+v: want 4 (me-south-1 skipped), ap-southeast-2 failed with AuthFailure", r.Targets)
	}

	// The JSON file is the stdout report; CSV and Markdown carry the same instances.
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("report.json not written: %v", err)
	}
	if !bytes.Equal(data, []byte(res.out)) {
		t.Error("report.json differs from the JSON on stdout")
	}
	rows := readCSV(t, csvPath)
	wantHeader := "account,region,instance_id,name,state,http_tokens,http_endpoint,hop_limit,classification,risks,no_token_calls,no_token_rejected,days_with_calls,last_call_at,instance_profile_arn,image_id,launch_time," +
		"workload,launch_source_kind,launch_source,next_launch_status,next_http_tokens,next_http_tokens_from,next_hop_limit,next_hop_limit_from,next_http_endpoint,next_http_endpoint_from"
	if strings.Join(rows[0], ",") != wantHeader {
		t.Errorf("CSV header %v", rows[0])
	}
	if len(rows)-1 != len(r.Instances) {
		t.Errorf("CSV has %d rows, JSON %d instances", len(rows)-1, len(r.Instances))
	}
	for _, row := range rows[1:] {
		w := e.Want[row[2]]
		if w == nil || row[8] != classAfter(w) {
			t.Errorf("CSV row %v: classification %q, want %q", row[:3], row[8], classAfter(w))
			break
		}
	}
	md, err := os.ReadFile(mdPath)
	if err != nil || !bytes.Contains(md, []byte("ap-southeast-2")) || !bytes.Contains(md, []byte(report.ClassV1InUse)) {
		t.Errorf("report.md (%v) lacks the failed Region or the classifications:\n%.400s", err, md)
	}

	// Fewest calls: ⌈N/1000⌉ DescribeInstances and ⌈M/500⌉ GetMetricData per
	// Region; a Region of more than one page, listed by Availability Zone
	// (one DescribeAvailabilityZones call), pays its first page and one
	// page or more per part (at most 26 letters and the rest), or goes on
	// page after page when the zones cannot be read.
	stats := srv.Stats()
	for _, region := range []string{"us-east-1", "eu-west-1", "us-west-2"} {
		reported, counted, queried := e.Counts(scanAcctA, region)
		got, want := stats.Calls["DescribeInstances"][region], (reported+counted+999)/1000
		if byZone := stats.Calls["DescribeAvailabilityZones"][region]; byZone == 0 && got != want || byZone == 1 && (want < 2 || got < want || got > want+27) || byZone > 1 {
			t.Errorf("%s: %d DescribeInstances calls (%d DescribeAvailabilityZones), want %d page after page, or the first page and one or more per zone", region, got, byZone, want)
		}
		if got, want := stats.Calls["GetMetricData"][region], (queried+499)/500; got != want {
			t.Errorf("%s: %d GetMetricData calls, want %d", region, got, want)
		}
	}
}

func classAfter(w *scantest.Want) string {
	if w == nil {
		return "(unexpected instance)"
	}
	c := *w
	if c.Region == "us-west-2" {
		scantest.CloudWatchDenied(&c)
	}
	return c.Classification
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("CSV report not written: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("CSV report: %v (%d rows)", err, len(rows))
	}
	return rows
}

// TestScanCommandFailOn checks every --fail-on value against fleets where it
// matches and where it does not, and that 3 wins over 4.
func TestScanCommandFailOn(t *testing.T) {
	e := scantest.New(dayStable(t))
	all := e.Instances(scanAcctA, "us-east-1", len(scantest.Profiles())) // one of each profile
	byProfile := map[string]fleet.Instance{}
	for _, in := range all {
		byProfile[e.Want[in.ID].Profile] = in
	}
	pick := func(names ...string) []fleet.Instance {
		var out []fleet.Instance
		for _, n := range names {
			out = append(out, byProfile[n])
		}
		return out
	}
	fleets := map[string][]fleet.Instance{
		"everything":     all,
		"enforced-only":  pick("enforced", "k8s-enforced-hop1", "disabled"),
		"ready-no-risk":  pick("ready", "karpenter-ready-hop2", "enforced"),
		"ready-and-role": pick("ready", "role"),
	}
	tests := []struct {
		fleet, failOn string
		want          int
	}{
		{"everything", "none", exitOK},
		{"everything", "v1-allowed", exitFailOn},
		{"everything", "v1-in-use", exitFailOn},
		{"everything", "risk", exitFailOn},
		{"enforced-only", "v1-allowed", exitOK},
		{"enforced-only", "risk", exitOK},
		{"ready-no-risk", "v1-allowed", exitFailOn},
		{"ready-no-risk", "v1-in-use", exitOK},
		{"ready-no-risk", "risk", exitOK},
		{"ready-and-role", "v1-in-use", exitOK},
		{"ready-and-role", "risk", exitFailOn},
	}
	for _, tt := range tests {
		t.Run(tt.fleet+"/"+tt.failOn, func(t *testing.T) {
			f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: fleets[tt.fleet]}}}}}
			scanStart(t, f)
			res := scanCLI(t, false, "scan", "--regions", "us-east-1", "--fail-on", tt.failOn, "--format", "csv")
			if res.code != tt.want {
				t.Errorf("exit %d, want %d\nstderr: %s", res.code, tt.want, res.err)
			}
			if tt.want == exitFailOn && !strings.Contains(res.err, "--fail-on "+tt.failOn+": ") {
				t.Errorf("stderr does not explain exit 3: %s", res.err)
			}
			if !strings.HasPrefix(res.out, "account,region,instance_id") {
				t.Errorf("no CSV report on stdout with exit %d:\n%.200s", res.code, res.out)
			}
		})
	}

	// A Region whose CloudWatch is denied hides its v1 users as no-data: a
	// CI gate on v1-in-use must not pass as if there were no calls.
	t.Run("CloudWatch denied is incomplete, not clean", func(t *testing.T) {
		f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
			{Name: "us-east-1", Knobs: &fleet.Knobs{CloudWatchDenied: true}, Instances: pick("v1", "ready")},
		}}}}
		scanStart(t, f)
		res := scanCLI(t, false, "scan", "--regions", "us-east-1", "--fail-on", "v1-in-use", "--format", "json")
		if res.code != exitIncomplete || !strings.Contains(res.err, "usage of 2 instances could not be read") {
			t.Errorf("exit %d, want %d naming the unread usage\nstderr: %s", res.code, exitIncomplete, res.err)
		}
		r := readReport(t, []byte(res.out))
		for _, in := range r.Instances {
			if in.Usage.Status != report.UsageError || in.Classification != report.ClassNoData {
				t.Errorf("%s: usage %s, classification %s; want error, no-data", in.InstanceID, in.Usage.Status, in.Classification)
			}
		}
	})

	t.Run("3 wins over 4", func(t *testing.T) {
		f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
			{Name: "us-east-1", Instances: all},
			{Name: "eu-west-1", Knobs: &fleet.Knobs{AuthFailure: true}},
		}}}}
		scanStart(t, f)
		out := filepath.Join(t.TempDir(), "r.json")
		res := scanCLI(t, false, "scan", "--fail-on", "v1-in-use", "--output", out, "--format", "table")
		if res.code != exitFailOn {
			t.Errorf("exit %d, want 3 when --fail-on matches and a target failed\nstderr: %s", res.code, res.err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("report not written with a failed target: %v", err)
		}
		r := readReport(t, data)
		if len(r.Targets) != 2 || r.Instances == nil || len(r.Instances) == 0 {
			t.Errorf("report targets %+v, %d instances", r.Targets, len(r.Instances))
		}
		if !strings.Contains(res.out, "eu-west-1") {
			t.Errorf("table does not show the failed Region:\n%s", res.out)
		}
	})
}

// TestScanCommandStableJSON: two scans of one fleet print the same JSON
// but for times.
func TestScanCommandStableJSON(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 40)},
		{Name: "eu-west-1", Instances: e.Instances(scanAcctA, "eu-west-1", 40)},
	}}}}
	scanStart(t, f)
	times := regexp.MustCompile(`"(generatedAt|start|end)": "[^"]*"`)
	var outs []string
	for range 2 {
		res := scanCLI(t, false, "scan", "--format", "json", "--concurrency", "3")
		if res.code != exitOK {
			t.Fatalf("exit %d: %s", res.code, res.err)
		}
		outs = append(outs, times.ReplaceAllString(res.out, `"$1": "T"`))
	}
	if outs[0] != outs[1] {
		t.Errorf("two scans differ beyond times:\n%s\n---\n%s", firstLines(outs[0], 30), firstLines(outs[1], 30))
	}
	// Packed (stdout none or JSON/CSV, outputs .json/.csv: each target's
	// results are packed as it ends) and unpacked (a table on stdout)
	// scans write the same files and fail alike.
	pdir := t.TempDir()
	p := func(n string) string { return filepath.Join(pdir, n) }
	packed := scanCLI(t, false, "scan", "--format", "none", "-o", p("a.json"), "-o", p("a.csv"), "--fail-on", "v1-in-use", "--concurrency", "3")
	unpacked := scanCLI(t, false, "scan", "--format", "table", "-o", p("b.json"), "-o", p("b.csv"), "--fail-on", "v1-in-use", "--concurrency", "3")
	if packed.code != exitFailOn || unpacked.code != exitFailOn || packed.out != "" {
		t.Fatalf("--format none: exit %d and %d, want %d and %d; stdout %q", packed.code, unpacked.code, exitFailOn, exitFailOn, firstLines(packed.out, 3))
	}
	if pl, ul := lastLine(packed.err), lastLine(unpacked.err); pl != ul || !strings.Contains(pl, " of 72 instances match") {
		t.Errorf("--fail-on with a packed report: %q, unpacked: %q", pl, ul)
	}
	for _, pair := range [][2]string{{"a.json", "b.json"}, {"a.csv", "b.csv"}} {
		a, errA := os.ReadFile(p(pair[0]))
		b, errB := os.ReadFile(p(pair[1]))
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if times.ReplaceAllString(string(a), "T") != times.ReplaceAllString(string(b), "T") || len(a) < 1000 {
			t.Errorf("%s (packed) differs from %s beyond times, or is short (%d bytes)", pair[0], pair[1], len(a))
		}
	}

	// The other formats: Markdown on stdout, HTML and text files.
	dir := t.TempDir()
	res := scanCLI(t, false, "scan", "--format", "markdown", "--output", filepath.Join(dir, "r.html"), "--output", filepath.Join(dir, "r.txt"))
	if res.code != exitOK || !strings.Contains(res.out, "|") || !strings.Contains(res.out, report.ClassV1InUse) {
		t.Errorf("markdown: exit %d\n%.300s", res.code, res.out)
	}
	for _, name := range []string{"r.html", "r.txt"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Contains(b, []byte(report.ClassV1InUse)) {
			t.Errorf("%s: %v, %d bytes without the classifications", name, err, len(b))
		}
	}

	var generic map[string]any
	if err := json.Unmarshal([]byte(outs[0]), &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schemaVersion", "tool", "generatedAt", "window", "targets", "summary", "instances"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestScanCommandRegionsFiltersAndRoles: a Region list, tag filters (same
// key twice is OR) and a second account through --accounts/--role-name.
func TestScanCommandRegionsFiltersAndRoles(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{
		{ID: scanAcctA, Regions: []fleet.Region{
			{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 45)},
			{Name: "eu-west-1", Instances: e.Instances(scanAcctA, "eu-west-1", 45)},
		}},
		{ID: scanAcctB, Roles: []string{"Auditor"}, Regions: []fleet.Region{
			{Name: "eu-west-1", Instances: e.Instances(scanAcctB, "eu-west-1", 45)},
		}},
	}}
	srv := scanStart(t, f)
	res := scanCLI(t, false, "scan", "--regions", "eu-west-1", "--accounts", scanAcctB, "--role-name", "Auditor",
		"--filter-tag", "env=prod", "--filter-tag", "env=dev", "--filter-tag", "team=b",
		"--container-tag", scantest.ContainerTag, "--format", "json")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.err)
	}
	r := readReport(t, []byte(res.out))
	sub := e.Filter(func(w *scantest.Want) bool {
		return w.Region == "eu-west-1" && (w.Tags["env"] == "prod" || w.Tags["env"] == "dev") && w.Tags["team"] == "b"
	})
	sub.Require(t, r, nil, nil)
	accounts := map[string]int{}
	for _, in := range r.Instances {
		accounts[in.Account]++
	}
	if accounts[scanAcctA] == 0 || accounts[scanAcctB] == 0 {
		t.Errorf("instances per account %v, want both accounts", accounts)
	}
	if n := srv.Stats().Calls["DescribeInstances"]["us-east-1"]; n != 0 {
		t.Errorf("us-east-1 scanned (%d calls) though --regions lists only eu-west-1", n)
	}

	// The same account through --assume-role, every Region of each account.
	res = scanCLI(t, false, "scan", "--assume-role", "arn:aws:iam::"+scanAcctB+":role/Auditor", "--external-id", "ext-1",
		"--container-tag", scantest.ContainerTag, "--format", "json")
	if res.code != exitOK {
		t.Fatalf("--assume-role: exit %d: %s", res.code, res.err)
	}
	r = readReport(t, []byte(res.out))
	e.Require(t, r, nil, nil)
	if len(r.Targets) != 3 {
		t.Errorf("targets %+v, want A/eu-west-1, A/us-east-1, B/eu-west-1", r.Targets)
	}
}

// TestScanCommandThrottled: a throttling storm through the CLI still gives
// exact results. One bucket at a time is drained, DescribeInstances' (two
// pages, paging goes on after a throttle) or GetMetricData's, on a
// simulated wall clock that stands still while the bucket drains and then
// moves on a fixed step at each reading: the drained bucket earns 0.2 or 0.3
// token per call the server handles. The scan's first calls to it are
// always refused (only the identity check and DescribeRegions come first),
// and one caller's own retries earn it a token within 6 attempts, so the
// scan's 10 attempts are never exhausted, however the machine schedules it.
func TestScanCommandThrottled(t *testing.T) {
	tests := []struct {
		api       string
		instances int
		drain     func(context.Context, aws.Config, string) error
		step      time.Duration
	}{
		// 20/s × 15 ms = 0.3 token per reading.
		{"DescribeInstances", 1100, scantest.DrainDescribe, 15 * time.Millisecond},
		// 50/s × 4 ms = 0.2; 300 instances make one GetMetricData call.
		{"GetMetricData", 300, scantest.DrainMetrics, 4 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.api, func(t *testing.T) {
			e := scantest.New(dayStable(t))
			on := true
			f := &fleet.Fleet{Knobs: fleet.Knobs{Throttle: &on}, Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
				{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", tt.instances)},
			}}}}
			clk := simtest.NewClock(time.Now())
			srv, url := simtest.Start(t, f, sim.Options{Seed: 7, Wall: clk.Now})
			scanEnv(t, url, scanAcctA)
			if err := tt.drain(context.Background(), simtest.Config(url, fleet.DefaultAccessKeyID(scanAcctA), "us-east-1"), "us-east-1"); err != nil {
				t.Fatal(err)
			}
			srv.ResetStats()
			clk.SetStep(tt.step)
			// Without the launch-source reads: their calls read the simulated
			// wall clock too, and would refill the drained bucket before the
			// storm.
			res := scanCLI(t, false, "scan", "--regions", "us-east-1", "--format", "json", "--retry-max-backoff", "50ms", "--container-tag", scantest.ContainerTag, "--no-launch-sources")
			if res.code != exitOK {
				t.Fatalf("exit %d under throttling: %s", res.code, res.err)
			}
			e.Require(t, readReport(t, []byte(res.out)), nil, nil)
			st := srv.Stats()
			if n := st.Throttled[tt.api]["us-east-1"]; n == 0 {
				t.Errorf("no %s call was throttled: the test made no storm (stats %+v)", tt.api, st)
			} else {
				t.Logf("%d throttled %s answers absorbed", n, tt.api)
			}
		})
	}
}

// TestScanCommandProgress: the progress line appears on a terminal stderr
// only, and never with --quiet.
func TestScanCommandProgress(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 20)},
		{Name: "eu-west-1", Knobs: &fleet.Knobs{AuthFailure: true}},
	}}}}
	scanStart(t, f)
	tty := scanCLI(t, true, "scan", "--format", "csv")
	if !strings.Contains(tty.err, "scanning: ") || !strings.Contains(tty.err, "\r\033[K") {
		t.Errorf("no progress line on a terminal stderr:\n%q", tty.err)
	}
	if !strings.Contains(tty.err, "target failed") {
		t.Errorf("the failed target is not logged:\n%q", tty.err)
	}
	quiet := scanCLI(t, true, "scan", "--quiet", "--format", "csv")
	if strings.Contains(quiet.err, "scanning: ") {
		t.Errorf("progress shown despite --quiet:\n%q", quiet.err)
	}
	piped := scanCLI(t, false, "scan", "--format", "csv")
	if strings.Contains(piped.err, "scanning: ") || strings.Contains(piped.err, "\r") {
		t.Errorf("progress shown on a pipe:\n%q", piped.err)
	}
}

// TestScanCommandErrors: bad usage and unusable environments each give one
// clear line that names the fix, with exit 2 or 1, before any scan work.
func TestScanCommandErrors(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", 5)}}}}}
	srv, url := simtest.Start(t, f, sim.Options{})
	// An endpoint that answers as STS does for an expired session token.
	expired := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>r1</RequestId></ErrorResponse>`))
	}))
	defer expired.Close()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"lookback beyond retention", nil, []string{"--lookback", "456d"}, exitUsage, "455-day retention"},
		{"lookback in hours beyond", nil, []string{"--lookback", "10944h"}, exitUsage, "at most 455d"},
		{"bad lookback", nil, []string{"--lookback", "two weeks"}, exitUsage, "14d, 336h"},
		// Usage is read in daily buckets: a shorter window would make
		// "ready" from part of one day, or from none.
		{"lookback 1ns", nil, []string{"--lookback", "1ns"}, exitUsage, `--lookback "1ns": under one day`},
		{"lookback 23h", nil, []string{"--lookback", "23h"}, exitUsage, `--lookback "23h": under one day`},
		{"min observed days 0", nil, []string{"--min-observed-days", "0"}, exitUsage, "--min-observed-days 0: want at least 1"},
		{"min observed days negative", nil, []string{"--min-observed-days", "-2"}, exitUsage, "--min-observed-days -2: want at least 1"},
		{"unknown Region in list", nil, []string{"--regions", "us-east-1,mars-north-1"}, exitUsage, `unknown Region "mars-north-1"`},
		{"Region AWS does not list", nil, []string{"--regions", "us-east-1,eu-west-9"}, exitUsage, `--regions: unknown Region "eu-west-9": AWS lists af-south-1,`},
		{"unknown home Region", nil, []string{"--region", "useast1"}, exitUsage, `unknown Region "useast1"`},
		{"unknown Region from env", map[string]string{"AWS_REGION": "moon-1"}, nil, exitUsage, `unknown AWS Region "moon-1"`},
		{"bad output extension", nil, []string{"--output", "r.xlsx"}, exitUsage, `unknown extension ".xlsx"`},
		{"output directory missing", nil, []string{"--output", "/nonexistent-dir/r.json"}, exitUsage, "directory /nonexistent-dir does not exist"},
		{"bad format", nil, []string{"--format", "yaml"}, exitUsage, "want table, json, csv, markdown or none"},
		{"bad fail-on", nil, []string{"--fail-on", "always"}, exitUsage, "want none, v1-allowed, v1-in-use or risk"},
		// Nothing on stdout, no file and no gate: the scan's findings
		// would go nowhere.
		{"format none alone", nil, []string{"--format", "none"}, exitUsage, "--format none writes no report to stdout and no --output is given"},
		{"bad protocol", nil, []string{"--cloudwatch-protocol", "xml"}, exitUsage, "want cbor, json or query"},
		{"accounts without role", nil, []string{"--accounts", scanAcctB}, exitUsage, "--accounts needs --role-name"},
		{"bad role ARN", nil, []string{"--assume-role", "Auditor"}, exitUsage, "arn:PARTITION:iam::123456789012:role/NAME"},
		{"org without role", nil, []string{"--org"}, exitUsage, "--org/--ou need --role-name"},
		{"ou without role", nil, []string{"--ou", "ou-ab12-cdef3456"}, exitUsage, "--org/--ou need --role-name"},
		{"org and ou", nil, []string{"--org", "--ou", "ou-ab12-cdef3456", "--role-name", "Audit"}, exitUsage, "--org and --ou both choose"},
		{"org and accounts", nil, []string{"--org", "--accounts", scanAcctB, "--role-name", "Audit"}, exitUsage, "leave out --accounts"},
		{"bad ou", nil, []string{"--ou", "sales", "--role-name", "Audit"}, exitUsage, `--ou "sales": want an organizational unit id`},
		{"bad role name", nil, []string{"--org", "--role-name", "a:b"}, exitUsage, `role name "a:b"`},
		{"bad excluded account", nil, []string{"--exclude-accounts", "12"}, exitUsage, `--exclude-accounts: account "12"`},
		{"bad accounts", nil, []string{"--accounts", "x", "--role-name", "Audit"}, exitUsage, `--accounts: account "x"`},
		{"shard 0", nil, []string{"--shard", "0/4"}, exitUsage, `--shard "0/4": want I/N`},
		{"shard 5/4", nil, []string{"--shard", "5/4"}, exitUsage, `--shard "5/4": want I/N`},
		{"shard no slash", nil, []string{"--shard", "2"}, exitUsage, `--shard "2": want I/N`},
		{"role name alone", nil, []string{"--role-name", "Audit"}, exitUsage, "--role-name needs --accounts, --org or --ou"},
		{"bad filter", nil, []string{"--filter-tag", "env"}, exitUsage, "want KEY=VALUE"},
		{"zero concurrency", nil, []string{"--concurrency", "0"}, exitUsage, "--concurrency 0: want 1..1000"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, nil, exitError, "no AWS credentials found"},
		{"unknown profile", nil, []string{"--profile", "nosuch"}, exitUsage, `AWS profile "nosuch" does not exist`},
		{"unreachable endpoint", nil, []string{"--endpoint-url", "http://127.0.0.1:1"}, exitError, "cannot connect to the AWS endpoint"},
		{"expired credentials", nil, []string{"--endpoint-url", expired.URL}, exitError, "credentials have expired (ExpiredToken from sts:GetCallerIdentity)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scanEnv(t, url, scanAcctA)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			srv.ResetStats()
			res := scanCLI(t, false, append([]string{"scan"}, tt.args...)...)
			if res.code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", res.code, tt.code, res.err)
			}
			first, _, _ := strings.Cut(res.err, "\n")
			if !strings.Contains(first, tt.want) || !strings.HasPrefix(first, "imdsfleet: ") {
				t.Errorf("first stderr line %q, want one line containing %q", first, tt.want)
			}
			if strings.Contains(res.err, "operation error") || strings.Contains(res.err, "https response error") {
				t.Errorf("SDK error text leaked:\n%s", res.err)
			}
			if tt.code == exitUsage && sim.Total(srv.Stats().Calls) != 0 && !strings.Contains(tt.want, "AWS lists") {
				t.Errorf("bad usage still called AWS: %v", srv.Stats().Calls)
			}
		})
	}
}

// TestScanCommandHelp: --help shows the flags and examples.
func TestScanCommandHelp(t *testing.T) {
	res := scanCLI(t, false, "scan", "--help")
	if res.code != exitOK {
		t.Fatalf("exit %d", res.code)
	}
	for _, want := range []string{"Examples:", "--regions", "--assume-role", "--accounts", "--role-name", "--external-id", "--concurrency",
		"--lookback", "--min-observed-days", "--filter-tag", "--container-tag", "--group-by", "--owner-tag", "--output", "--format", "--fail-on", "--profile",
		"--region", "--endpoint-url", "--cloudwatch-protocol", "Exit codes"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("scan --help lacks %q", want)
		}
	}
}

// TestScanCommandProfileAndInterrupt: --profile and AWS_PROFILE pick the
// credentials and Region of a profile (here: account B's key, eu-west-1
// home Region); an interrupted scan writes no report.
func TestScanCommandProfileAndInterrupt(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{
		{ID: scanAcctA, Regions: []fleet.Region{{Name: "eu-west-1", Instances: e.Instances(scanAcctA, "eu-west-1", 10)}}},
		{ID: scanAcctB, Regions: []fleet.Region{{Name: "eu-west-1", Instances: e.Instances(scanAcctB, "eu-west-1", 10)}}},
	}}
	srv := scanStart(t, f)
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfgFile, []byte("[profile audit]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credFile, []byte("[audit]\naws_access_key_id = "+fleet.DefaultAccessKeyID(scanAcctB)+"\naws_secret_access_key = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")

	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			args := []string{"scan", "--format", "json"}
			if how == "flag" {
				args = append(args, "--profile", "audit")
			} else {
				t.Setenv("AWS_PROFILE", "audit")
			}
			srv.ResetStats()
			res := scanCLI(t, false, args...)
			if res.code != exitOK {
				t.Fatalf("exit %d: %s", res.code, res.err)
			}
			r := readReport(t, []byte(res.out))
			if len(r.Targets) != 1 || r.Targets[0].Account != scanAcctB || r.Targets[0].Region != "eu-west-1" {
				t.Errorf("targets %+v, want account B in eu-west-1 (the profile's key)", r.Targets)
			}
			if n := srv.Stats().Calls["DescribeRegions"]["eu-west-1"]; n != 1 {
				t.Errorf("DescribeRegions in the profile's Region: %d calls, want 1", n)
			}
		})
	}

	t.Run("interrupted", func(t *testing.T) {
		out := filepath.Join(dir, "r.json")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var o, eb bytes.Buffer
		code := run(ctx, []string{"scan", "--profile", "audit", "--output", out}, &streams{In: strings.NewReader(""), Out: &o, Err: &eb})
		if code != exitError || !strings.Contains(eb.String(), "scan interrupted: no report written") {
			t.Errorf("exit %d, stderr %q", code, eb.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("an interrupted scan wrote a report")
		}
	})
}

// TestScanCommandEvidenceFlags: --min-observed-days and --lookback move the
// ready/no-data line as documented (the minimum is capped at the lookback).
func TestScanCommandEvidenceFlags(t *testing.T) {
	e := scantest.New(dayStable(t))
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
		{Name: "us-east-1", Instances: e.Instances(scanAcctA, "us-east-1", len(scantest.Profiles()))},
	}}}}
	scanStart(t, f)
	classOf := func(args ...string) map[string]string {
		t.Helper()
		res := scanCLI(t, false, append([]string{"scan", "--regions", "us-east-1", "--format", "json"}, args...)...)
		if res.code != exitOK {
			t.Fatalf("exit %d: %s", res.code, res.err)
		}
		out := map[string]string{}
		for _, in := range readReport(t, []byte(res.out)).Instances {
			out[e.Want[in.InstanceID].Profile] = in.Classification
		}
		return out
	}
	// 4 observed days: "recent" (launched 3 days ago) and "stopped-long".
	got := classOf("--min-observed-days", "4")
	for _, p := range []string{"recent", "stopped-long"} {
		if got[p] != report.ClassReady {
			t.Errorf("--min-observed-days 4: %s is %s, want ready", p, got[p])
		}
	}
	if got["pending"] != report.ClassNoData {
		t.Errorf("--min-observed-days 4: pending (2 days) is %s, want no-data", got["pending"])
	}
	// --lookback 48h caps the default 7 at 2 days, so "pending" (2 days) is
	// ready; "v1" made its calls 4-5 days ago, outside this window.
	got = classOf("--lookback", "48h")
	if got["pending"] != report.ClassReady || got["v1"] != report.ClassReady {
		t.Errorf("--lookback 48h: pending %s, v1 %s; want both ready", got["pending"], got["v1"])
	}
	// 336h is 14d.
	if got := classOf("--lookback", "336h"); got["v1"] != report.ClassV1InUse || got["recent"] != report.ClassNoData {
		t.Errorf("--lookback 336h: %v", got)
	}
}

// dayStable returns the wall clock at a time of day where a scan test's
// expectations hold: scantest builds fleets on whole UTC days, so a test
// must neither start in the first minutes of a UTC day (the current day's
// first 5-minute datapoint does not exist yet) nor run across midnight.
// Near midnight it waits (at most 7 minutes, on 0.5% of runs) instead of
// failing at random.
func dayStable(t *testing.T) time.Time {
	t.Helper()
	now := time.Now().UTC()
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	const before, after = 2 * time.Minute, 5 * time.Minute
	var wait time.Duration
	switch {
	case sinceMidnight < after:
		wait = after - sinceMidnight
	case sinceMidnight > 24*time.Hour-before:
		wait = 24*time.Hour - sinceMidnight + after
	}
	if wait > 0 {
		t.Logf("UTC midnight is near: waiting %s so that the fleet's days stay whole", wait.Round(time.Second))
		time.Sleep(wait)
	}
	return time.Now()
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
