package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
	"github.com/imdsfleet/imdsfleet/report"
)

// The guardrails command's tests run `imdsfleet guardrails` in-process on
// crafted reports written by report.WriteJSON, as a user runs it on a
// scan's output; the moto test hands the SCPs it writes to the AWS CLI's
// `organizations create-policy`.

const (
	grAcctV1     = "111111111111" // one v1-in-use instance with a role
	grAcctLT     = "222222222222" // a launch template whose next launch allows v1
	grAcctDone   = "333333333333" // everything enforced
	grAcctFailed = "444444444444" // one failed target
)

// guardrailsReport writes a crafted report: four accounts scanned in two
// Regions each, whose window ended within the hour (the command judges the
// report's age against the wall clock; 7 days is the limit, so no test
// timing depends on it). With launch, the scan read the launch sources:
// every instance came from a template version that sets HttpTokens=required,
// and grAcctLT also has a template version whose next launch allows v1.
func guardrailsReport(t *testing.T, launch bool) string {
	t.Helper()
	end := time.Now().UTC().Truncate(time.Hour)
	req := report.MetadataOptions{HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2,
		HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled", State: "applied"}
	opt := req
	opt.HttpTokens, opt.HttpPutResponseHopLimit = "optional", 1
	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "imdsfleet", Version: "test"},
		GeneratedAt:   end,
		Window:        report.Window{Start: end.Add(-14 * 24 * time.Hour).Truncate(24 * time.Hour), End: end},
		ScanOptions:   &report.ScanOptions{MinObservedDays: 7, ContainerTags: []string{}, LaunchSources: launch, Selection: &report.Selection{}},
	}
	required := report.NextLaunch{Status: report.NextLaunchResolved,
		HttpTokens: "required", HttpTokensFrom: report.LayerLaunchTemplate,
		HttpPutResponseHopLimit: 2, HttpPutResponseHopLimitFrom: report.LayerLaunchTemplate,
		HttpEndpoint: "enabled", HttpEndpointFrom: report.LayerBuiltIn}
	for _, acct := range []string{grAcctV1, grAcctLT, grAcctDone, grAcctFailed} {
		for _, region := range []string{"eu-west-1", "us-east-1"} {
			tg := report.Target{Account: acct, Region: region, Status: report.TargetOK}
			if acct == grAcctFailed && region == "eu-west-1" {
				tg.Status, tg.Error = report.TargetError, "AWS rejected the credentials (AuthFailure from ec2:DescribeInstances)"
				r.Targets = append(r.Targets, tg)
				continue
			}
			tg.Instances = 1
			r.Targets = append(r.Targets, tg)
			id := "i-" + acct[:4] + region[:2]
			in := report.Instance{
				Account: acct, Region: region, InstanceID: id, Name: "web", State: "running",
				LaunchTime: end.Add(-30 * 24 * time.Hour), ImageID: "ami-1", InstanceProfileArn: "arn:aws:iam::" + acct + ":instance-profile/web",
				Tags: map[string]string{"Name": "web"}, MetadataOptions: req,
				Usage:          report.Usage{Status: report.UsageComplete, Datapoints: 14},
				Classification: report.ClassEnforced, Risks: []string{},
			}
			if launch {
				nl := required
				in.LaunchSource = &report.InstanceLaunchSource{Kind: report.SourceLaunchTemplate, SourceID: "launch-template/lt-web/1", Name: "lt-web:1"}
				in.NextLaunch = &nl
				r.AccountDefaults = append(r.AccountDefaults, report.AccountDefaults{Account: acct, Region: region, ManagedBy: "account"})
				r.LaunchSources = append(r.LaunchSources, report.LaunchSource{Account: acct, Region: region,
					ID: "launch-template/lt-web/1", Kind: report.SourceLaunchTemplate, Name: "web", TemplateID: "lt-web", Version: 1,
					IsDefault: true, IsLatest: true, NextLaunch: required, Groups: []string{}, Instances: []string{id}})
			}
			r.Instances = append(r.Instances, in)
		}
	}
	if launch {
		optional := required
		optional.HttpTokens, optional.HttpPutResponseHopLimit, optional.HttpPutResponseHopLimitFrom = "optional", 1, report.LayerBuiltIn
		r.LaunchSources = append(r.LaunchSources, report.LaunchSource{Account: grAcctLT, Region: "eu-west-1",
			ID: "launch-template/lt-0batch/2", Kind: report.SourceLaunchTemplate, Name: "batch-v1", TemplateID: "lt-0batch", Version: 2,
			IsLatest: true, NextLaunch: optional, Groups: []string{}, Instances: []string{}})
	}
	last := end.Add(-24 * time.Hour).Truncate(24 * time.Hour)
	hostile := "legacy\x1b[31m\u202e<script>alert(1)</script> http://evil.example"
	r.Instances = append(r.Instances, report.Instance{
		Account: grAcctV1, Region: "us-east-1", InstanceID: "i-0legacy", Name: hostile, State: "running",
		LaunchTime: end.Add(-90 * 24 * time.Hour), ImageID: "ami-2", InstanceProfileArn: "arn:aws:iam::" + grAcctV1 + ":instance-profile/legacy",
		Tags: map[string]string{"Name": hostile}, MetadataOptions: opt,
		Usage:          report.Usage{Status: report.UsageComplete, NoTokenCalls: 1201, DaysWithCalls: 3, LastCallAt: &last, Datapoints: 14},
		Classification: report.ClassV1InUse, Risks: []string{report.RiskRoleExposed}, Recommendation: "find the caller",
	})
	if launch {
		nl := required
		r.Instances[len(r.Instances)-1].LaunchSource = &report.InstanceLaunchSource{Kind: report.SourceLaunchTemplate, SourceID: "launch-template/lt-web/1", Name: "lt-web:1"}
		r.Instances[len(r.Instances)-1].NextLaunch = &nl
	}
	report.Normalize(r)
	path := filepath.Join(t.TempDir(), "scan.json")
	if err := report.WriteOutput(path, func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
		t.Fatal(err)
	}
	if _, err := report.ReadFile(path); err != nil {
		t.Fatalf("the crafted report does not read back: %v", err)
	}
	return path
}

func guardrailsCLI(t *testing.T, args ...string) scanResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"guardrails"}, args...), &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return scanResult{code, out.String(), errb.String()}
}

// TestGuardrailsCommandCrafted: readiness per account and Region from a
// crafted report, the policy files under --out-dir, and the human formats.
func TestGuardrailsCommandCrafted(t *testing.T) {
	path := guardrailsReport(t, true)
	dir := t.TempDir()
	res := guardrailsCLI(t, "--report", path, "--format", "json", "--out-dir", dir)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.err)
	}
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, res.out)
	}
	// Stable: a second run on the same report writes the same bytes.
	if again := guardrailsCLI(t, "--report", path, "--format", "json"); again.out != res.out {
		t.Error("two runs on one report wrote different JSON")
	}
	got := map[string]string{}
	for _, s := range a.Scopes {
		var st []string
		for _, rd := range s.Readiness {
			st = append(st, string(rd.Status))
		}
		got[s.ID] = strings.Join(st, " ")
	}
	// Order: launch, re-enable, credentials, declarative.
	want := map[string]string{
		grAcctV1:                    "blocked safe blocked blocked",
		grAcctV1 + "/us-east-1":     "blocked safe blocked blocked",
		grAcctV1 + "/eu-west-1":     "safe safe safe safe",
		grAcctLT:                    "blocked safe safe blocked",
		grAcctLT + "/us-east-1":     "safe safe safe safe",
		grAcctDone:                  "safe safe safe safe",
		grAcctFailed:                "unknown unknown unknown unknown",
		grAcctFailed + "/eu-west-1": "unknown unknown unknown unknown",
		grAcctFailed + "/us-east-1": "safe safe safe safe",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	if a.SchemaVersion != guardrails.SchemaVersion || a.Evidence.FailedTargets != 1 || !a.Evidence.LaunchSources {
		t.Errorf("header: %+v %+v", a.SchemaVersion, a.Evidence)
	}
	for _, d := range a.Documents {
		data, err := os.ReadFile(filepath.Join(dir, d.File))
		if err != nil {
			t.Fatalf("--out-dir: %v", err)
		}
		var x, y bytes.Buffer
		if json.Compact(&x, data) != nil || json.Compact(&y, d.Content) != nil || !bytes.Equal(x.Bytes(), y.Bytes()) {
			t.Errorf("%s differs from the JSON output's document", d.File)
		}
	}

	for _, format := range []string{"table", "markdown"} {
		res := guardrailsCLI(t, "--report", path, "--format", format, "--out-dir", dir)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", format, res.code, res.err)
		}
		for _, w := range []string{"i-0legacy", "launch-template/lt-0batch/2", "aws organizations create-policy --type SERVICE_CONTROL_POLICY", filepath.Join(dir, "scp-require-imdsv2-at-launch.json"), "failed to scan"} {
			if !strings.Contains(res.out, w) {
				t.Errorf("%s output lacks %q:\n%s", format, w, res.out)
			}
		}
		for _, bad := range []string{"\x1b", "\u202e", "<script>"} {
			if strings.Contains(res.out, bad) {
				t.Errorf("%s output shows fleet text unsanitized (%q)", format, bad)
			}
		}
		if format != "markdown" {
			continue
		}
		// A real GitHub-flavoured renderer, when there is one: no markup
		// and no link from fleet text.
		if bin, err := exec.LookPath("cmark-gfm"); err == nil {
			cmd := exec.Command(bin, "-e", "table", "-e", "autolink")
			cmd.Stdin = strings.NewReader(res.out)
			html, err := cmd.Output()
			if err != nil {
				t.Fatalf("cmark-gfm: %v", err)
			}
			if bytes.Contains(html, []byte("<a ")) || bytes.Contains(html, []byte("<script")) || !bytes.Contains(html, []byte("<table>")) {
				t.Errorf("cmark-gfm rendered fleet text as markup, or no table:\n%s", html)
			}
		} else {
			t.Log("cmark-gfm not on PATH: the rendering check is skipped (apt-get install cmark-gfm)")
		}
	}
}

// TestGuardrailsCommandWithoutLaunchSources: a report whose scan did not
// read launch sources (--no-launch-sources, or schema version 1) leaves the
// launch guardrails unknown, never safe.
func TestGuardrailsCommandWithoutLaunchSources(t *testing.T) {
	res := guardrailsCLI(t, "--report", guardrailsReport(t, false), "--format", "json")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.err)
	}
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Scopes {
		if s.ID != grAcctDone {
			continue
		}
		for _, rd := range s.Readiness {
			launch := rd.Guardrail == guardrails.RequireV2AtLaunch || rd.Guardrail == guardrails.DeclarativeDefaults
			if want := map[bool]guardrails.Status{true: guardrails.Unknown, false: guardrails.Safe}[launch]; rd.Status != want {
				t.Errorf("%s: %s, want %s (%q)", rd.Guardrail, rd.Status, want, rd.Unknown)
			}
		}
		return
	}
	t.Fatalf("no scope %s", grAcctDone)
}

func TestGuardrailsCommandUsage(t *testing.T) {
	path := guardrailsReport(t, true)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "scp-deny-imdsv1-reenable.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no report", nil, "--report is required"},
		{"format", []string{"--report", path, "--format", "xml"}, "--format"},
		{"break-glass", []string{"--report", path, "--break-glass-role", "BreakGlass"}, "--break-glass-role"},
		{"exempt tag", []string{"--report", path, "--exempt-tag", "aws:cloudformation:stack-name"}, "--exempt-tag"},
		{"hop", []string{"--report", path, "--max-hop-limit", "65"}, "--max-hop-limit"},
		{"age", []string{"--report", path, "--max-age", "soon"}, "--max-age"},
		{"regions", []string{"--report", path, "--expect-regions", "us-east-1,"}, "--expect-regions"},
		{"a directory in place of a policy file", []string{"--report", path, "--out-dir", dir}, "scp-deny-imdsv1-reenable.json"},
		{"missing out dir", []string{"--report", path, "--out-dir", filepath.Join(dir, "nope")}, "does not exist"},
		{"a file as out dir", []string{"--report", path, "--out-dir", path}, "is not a directory"},
		{"missing report", []string{"--report", filepath.Join(dir, "none.json")}, "does not exist"},
		{"argument", []string{"--report", path, "extra"}, "extra"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := guardrailsCLI(t, c.args...)
			if res.code != exitUsage || !strings.Contains(res.err, c.want) || strings.Count(res.err, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q: want exit 2 and one line naming %q", res.code, res.err, c.want)
			}
		})
	}
	// Nothing was written next to the directory that was refused.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("--out-dir after a refusal holds %d entries, want only the directory that was there", len(entries))
	}
}

// TestGuardrailsMotoCreatePolicy runs the create-policy commands the table
// prints, with the AWS CLI against moto_server's Organizations: each SCP
// must be accepted as a SERVICE_CONTROL_POLICY, read back unchanged and
// attach to the root. moto 5.2.1 has no DECLARATIVE_POLICY_EC2 type, so
// the declarative policy is not sent.
func TestGuardrailsMotoCreatePolicy(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH: install awscli to check the SCPs against moto")
	}
	url := startMoto(t, "the SCP create-policy test")
	path := guardrailsReport(t, true)
	dir := t.TempDir()
	res := guardrailsCLI(t, "--report", path, "--out-dir", dir, "--break-glass-role", "arn:aws:iam::*:role/BreakGlass",
		"--exempt-tag", "imdsfleet:exempt=true", "--max-hop-limit", "2")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.err)
	}
	awsCLI := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "aws", append(args, "--output", "json")...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
			"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL=" + url}
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	awsCLI("organizations", "create-organization", "--feature-set", "ALL")
	var roots struct{ Roots []struct{ Id string } }
	if err := json.Unmarshal(awsCLI("organizations", "list-roots"), &roots); err != nil || len(roots.Roots) != 1 {
		t.Fatalf("list-roots: %v %+v", err, roots)
	}
	sent := 0
	for _, line := range strings.Split(res.out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "aws organizations create-policy --type SERVICE_CONTROL_POLICY ") {
			continue
		}
		// The printed command, word for word (the test's paths need no
		// quoting; shellWord would quote them otherwise).
		args := splitCommand(t, strings.TrimPrefix(line, "aws "))
		var created struct {
			Policy struct{ PolicySummary struct{ Id, Type string } }
		}
		if err := json.Unmarshal(awsCLI(args...), &created); err != nil {
			t.Fatal(err)
		}
		id := created.Policy.PolicySummary.Id
		var described struct{ Policy struct{ Content string } }
		if err := json.Unmarshal(awsCLI("organizations", "describe-policy", "--policy-id", id), &described); err != nil {
			t.Fatal(err)
		}
		file := strings.TrimPrefix(args[len(args)-1], "file://")
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if described.Policy.Content != string(want) || created.Policy.PolicySummary.Type != "SERVICE_CONTROL_POLICY" {
			t.Errorf("%s: moto holds %q (%s), want the file's content", file, described.Policy.Content, created.Policy.PolicySummary.Type)
		}
		awsCLI("organizations", "attach-policy", "--policy-id", id, "--target-id", roots.Roots[0].Id)
		sent++
	}
	if sent != 3 {
		t.Fatalf("the table printed %d SCP create-policy commands, want 3:\n%s", sent, res.out)
	}
}

// splitCommand splits a printed command line into words: words are
// separated by spaces, and '...' quotes (shellWord's) keep spaces.
func splitCommand(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if have {
		words = append(words, cur.String())
	}
	return words
}

// TestGuardrailsCommandFilteredScan: a scan run with --filter-tag listed
// only the matching instances, so an instance it did not list (one still
// using IMDSv1) says nothing about its absence: no scope may be safe.
func TestGuardrailsCommandFilteredScan(t *testing.T) {
	path := guardrailsReport(t, true)
	r, err := report.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r.ScanOptions.FilterTags = []report.TagFilter{{Key: "team", Values: []string{"payments"}}}
	if err := report.WriteOutput(path, func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
		t.Fatal(err)
	}
	res := guardrailsCLI(t, "--report", path, "--format", "json")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.err)
	}
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("JSON output: %v", err)
	}
	for _, s := range a.Scopes {
		for _, rd := range s.Readiness {
			if rd.Status == guardrails.Safe {
				t.Errorf("%s %s: safe on a --filter-tag scan", s.ID, rd.Guardrail)
			}
		}
	}
	if table := guardrailsCLI(t, "--report", path); !strings.Contains(table.out, "--filter-tag") {
		t.Errorf("the table does not say why:\n%s", table.out)
	}
}

// TestGuardrailsCommandRoleFromRisk: a v1-in-use instance whose report lost
// its instanceProfileArn but still carries the role-exposed risk has a
// role: the credentials guardrail stays blocked, never safe.
func TestGuardrailsCommandRoleFromRisk(t *testing.T) {
	path := guardrailsReport(t, true)
	r, err := report.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Instances {
		r.Instances[i].InstanceProfileArn = ""
	}
	if err := report.WriteOutput(path, func(w io.Writer) error { return report.WriteJSON(w, r) }); err != nil {
		t.Fatal(err)
	}
	res := guardrailsCLI(t, "--report", path, "--format", "json")
	var a guardrails.Assessment
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("exit %d %s: %v", res.code, res.err, err)
	}
	for _, s := range a.Scopes {
		if s.ID != grAcctV1 {
			continue
		}
		for _, rd := range s.Readiness {
			if rd.Guardrail == guardrails.DenyV1Credentials && rd.Status != guardrails.Blocked {
				t.Errorf("%s: %s, want blocked (the instance is role-exposed)", rd.Guardrail, rd.Status)
			}
		}
	}
}

// TestGuardrailsOutDirWriteFails: a policy file that cannot be written
// (here a symlink to /dev/full) fails the command with one line naming
// the file once, not "write F: write F: ...".
func TestGuardrailsOutDirWriteFails(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "scp-require-imdsv2-at-launch.json")
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	res := guardrailsCLI(t, "--report", guardrailsReport(t, true), "--out-dir", dir)
	if res.code == 0 {
		t.Fatalf("exit 0 writing into /dev/full:\n%s", res.err)
	}
	if n := strings.Count(res.err, path); n != 1 || strings.Count(strings.TrimSpace(res.err), "\n") != 0 {
		t.Errorf("stderr names %s %d times (want one line naming it once):\n%s", path, n, res.err)
	}
}
