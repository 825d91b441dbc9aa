package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// TestEveryBadFlagIsAUsageError runs each command with each bad flag value
// against the simulated AWS: exit 2, one line on stderr naming the flag,
// and the server received no call at all (its own counters), so bad usage
// is caught before any AWS call.
func TestEveryBadFlagIsAUsageError(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	// A real journal for rollback: one live run, then the counters reset.
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("setup: remediate exit %d", r.code)
	}
	s.srv.ResetStats()

	// Flags remediate and rollback share, with the text the line must hold.
	shared := []struct {
		name string
		args []string
		want string
	}{
		{"rate NaN", []string{"--rate", "NaN"}, "--rate NaN"},
		{"rate tiny", []string{"--rate", "1e-10"}, "--rate 1e-10"},
		{"rate +Inf", []string{"--rate", "+Inf"}, "--rate +Inf"},
		{"rate zero", []string{"--rate", "0"}, "--rate 0"},
		{"rate negative", []string{"--rate", "-1"}, "--rate -1"},
		{"rate huge", []string{"--rate", "1e9"}, "--rate 1e+09"},
		{"rate not a number", []string{"--rate", "fast"}, "--rate"},
		{"retry-max-backoff negative", []string{"--retry-max-backoff", "-1s"}, "--retry-max-backoff -1s"},
		{"retry-max-backoff zero", []string{"--retry-max-backoff", "0"}, "--retry-max-backoff 0s"},
		{"wait-timeout negative", []string{"--wait-timeout", "-5m"}, "--wait-timeout -5m0s"},
		{"poll-interval zero", []string{"--poll-interval", "0s"}, "--poll-interval 0s"},
		{"stop-grace negative", []string{"--stop-grace", "-1s"}, "--stop-grace -1s"},
		{"workers zero", []string{"--workers", "0"}, "--workers 0"},
		{"max-attempts zero", []string{"--max-attempts", "0"}, "--max-attempts 0"},
		{"endpoint-url unbalanced bracket", []string{"--endpoint-url", "http://[::1"}, "--endpoint-url"},
		{"endpoint-url no scheme", []string{"--endpoint-url", "127.0.0.1:4566"}, "--endpoint-url"},
		{"endpoint-url ftp", []string{"--endpoint-url", "ftp://127.0.0.1"}, "--endpoint-url"},
		{"endpoint-url no host", []string{"--endpoint-url", "http://"}, "--endpoint-url"},
		{"region unknown", []string{"--region", "moon-1"}, "--region"},
		{"role-name with a space", []string{"--role-name", "my role"}, "--role-name"},
		{"external-id without role", []string{"--external-id", "x"}, "--external-id"},
		{"profile that does not exist", []string{"--profile", "nope"}, `profile "nope" does not exist`},
		{"log-format unknown", []string{"--log-format", "xml"}, "--log-format"},
		{"unknown flag", []string{"--colour"}, "--colour"},
		{"extra argument", []string{"extra"}, `unknown command "extra"`},
	}
	base := map[string][]string{
		"remediate": {"remediate", "--report", s.report},
		"rollback":  {"rollback", "--journal", s.journal, "--rollback-journal", filepath.Join(s.dir, "rb.jsonl")},
	}
	type tc struct {
		name string
		args []string
		want string
	}
	var cases []tc
	for _, command := range []string{"remediate", "rollback"} {
		for _, c := range shared {
			cases = append(cases, tc{command + "/" + c.name, append(append([]string{}, base[command]...), c.args...), c.want})
		}
	}
	rem := func(args ...string) []string { return append([]string{"remediate", "--report", s.report}, args...) }
	cases = append(cases,
		tc{"remediate/container-hop-limit 0", rem("--container-hop-limit", "0"), "--container-hop-limit 0"},
		tc{"remediate/container-hop-limit 7", rem("--container-hop-limit", "7"), "--container-hop-limit 7"},
		tc{"remediate/max-changes negative", rem("--max-changes", "-1"), "--max-changes -1"},
		tc{"remediate/include unknown", rem("--include", "everything"), "--include"},
		tc{"remediate/include v1-in-use without force", rem("--include", "v1-in-use"), "--force"},
		tc{"remediate/force alone", rem("--force"), "--force"},
		tc{"remediate/exclude-tag without key", rem("--exclude-tag", "=v"), "--exclude-tag"},
		tc{"remediate/instance-ids not in the report", rem("--instance-ids", "i-0123456789abcdef0"), "i-0123456789abcdef0"},
		tc{"remediate/regions not in the report", rem("--regions", "eu-west-3"), "eu-west-3"},
		// An empty filter (an unset shell variable, --instance-ids "$IDS")
		// would otherwise mean no filter: every planned instance.
		tc{"remediate/instance-ids empty", rem("--instance-ids", ""), "--instance-ids"},
		tc{"remediate/instance-ids empty item", rem("--instance-ids", "i-0123456789abcdef0,"), "--instance-ids"},
		tc{"remediate/instance-ids= empty", rem("--instance-ids="), "--instance-ids"},
		tc{"remediate/regions empty", rem("--regions", ""), "--regions"},
		tc{"remediate/regions empty item", rem("--regions", "us-east-1,"), "--regions"},
		tc{"remediate/output extension", rem("--output", filepath.Join(s.dir, "r.txt")), "--output"},
		tc{"remediate/plan-out directory missing", rem("--plan-out", filepath.Join(s.dir, "nope", "p.json")), "--plan-out"},
		tc{"remediate/no report", []string{"remediate"}, "--report"},
		tc{"remediate/dry-run and live", rem("--dry-run", "--live", "--yes"), "--dry-run"},
		tc{"remediate/yes without live", rem("--yes"), "--yes"},
		tc{"remediate/live without yes off a terminal", rem("--live"), "--yes"},
		tc{"rollback/no journal", []string{"rollback"}, "--journal"},
		tc{"rollback/rollback-journal is the journal", []string{"rollback", "--journal", s.journal, "--rollback-journal", s.journal}, "--rollback-journal"},
	)
	scan := func(args ...string) []string { return append([]string{"scan", "--regions", "us-east-1"}, args...) }
	cases = append(cases,
		tc{"scan/extra argument", scan("extra"), `unknown command "extra"`},
		tc{"scan/endpoint-url unbalanced bracket", scan("--endpoint-url", "http://[::1"), "--endpoint-url"},
		tc{"scan/endpoint-url no scheme", scan("--endpoint-url", "localhost"), "--endpoint-url"},
		tc{"scan/retry-max-backoff negative", scan("--retry-max-backoff", "-1s"), "--retry-max-backoff -1s"},
		tc{"scan/concurrency zero", scan("--concurrency", "0"), "--concurrency 0"},
		tc{"scan/concurrency huge", scan("--concurrency", "1000000"), "--concurrency 1000000"},
		tc{"scan/lookback", scan("--lookback", "forever"), "lookback"},
		tc{"scan/min-observed-days", scan("--min-observed-days", "0"), "--min-observed-days 0"},
		tc{"scan/format", scan("--format", "xml"), "--format"},
		tc{"scan/fail-on", scan("--fail-on", "always"), "--fail-on"},
		tc{"scan/output extension", scan("--output", filepath.Join(s.dir, "r.doc")), "--output"},
		tc{"scan/region", scan("--region", "moon-1"), "--region"},
		tc{"scan/regions", scan("--regions", "moon-1"), "moon-1"},
		tc{"scan/cloudwatch-protocol", scan("--cloudwatch-protocol", "xml"), "--cloudwatch-protocol"},
		tc{"scan/accounts without role-name", scan("--accounts", "123456789012"), "--accounts"},
		tc{"scan/profile", scan("--profile", "nope"), `profile "nope" does not exist`},
		tc{"scan/log-format", scan("--log-format", "xml"), "--log-format"},
		tc{"scan/filter-tag without value", scan("--filter-tag", "env"), "KEY=VALUE"},
		tc{"scan/container-tag empty key", scan("--container-tag", "=x"), "--container-tag"},
		tc{"scan/group-by empty", scan("--group-by", ""), "--group-by: an empty tag key"},
		tc{"scan/group-by KEY=VALUE", scan("--group-by", "app=web"), "want a tag KEY"},
		tc{"scan/group-by twice", scan("--group-by", "app", "--group-by", "app"), `--group-by "app" is given twice`},
		tc{"scan/group-by twice in a list", scan("--group-by", "app,team,app"), `--group-by "app" is given twice`},
		tc{"scan/group-by empty item", scan("--group-by", "app,,team"), "--group-by: an empty tag key"},
		tc{"scan/group-by bad quote", scan("--group-by", `app,"team`), "not a comma list of tag keys"},
		tc{"scan/group-by too long", scan("--group-by", strings.Repeat("k", 129)), "at most 128 characters"},
		tc{"scan/owner-tag empty item", scan("--owner-tag", "owner,,team"), "--owner-tag: an empty tag key"},
		tc{"scan/owner-tag emptied", scan("--owner-tag", ""), "--owner-tag"},
		tc{"scan/owner-tag line break", scan("--owner-tag", "owner\nteam"), "--owner-tag \"owner\\nteam\": a line break"},
		tc{"scan/assume-role not an ARN", scan("--assume-role", "Auditor"), "--assume-role"},
		tc{"scan/accounts not an id", scan("--accounts", "12", "--role-name", "R"), "--accounts"},
		tc{"scan/external-id without roles", scan("--external-id", "x"), "--external-id"},
		tc{"scan/role-name without accounts", scan("--role-name", "R"), "--role-name"},
		tc{"scan/lookback under a day", scan("--lookback", "1ns"), "lookback"},
		tc{"sim/extra argument", []string{"sim", "fleet.json"}, "sim takes no arguments"},
		tc{"sim/time-scale NaN", []string{"sim", "--time-scale", "NaN"}, "--time-scale NaN"},
		tc{"sim/time-scale +Inf", []string{"sim", "--time-scale", "+Inf"}, "--time-scale +Inf"},
		tc{"sim/fault rate NaN", []string{"sim", "--fault", "GetMetricData:NaN"}, "--fault"},
		tc{"sim/latency negative", []string{"sim", "--latency", "-1s"}, "--latency -1s"},
		tc{"sim/addr", []string{"sim", "--addr", "nowhere"}, "--addr"},
		tc{"sim/synthetic negative", []string{"sim", "--synthetic", "-1"}, "--synthetic -1"},
		tc{"sim/regions zero", []string{"sim", "--regions", "0"}, "--regions 0"},
		tc{"sim/accounts zero", []string{"sim", "--accounts", "0"}, "--accounts 0"},
		tc{"sim/apply-delay negative", []string{"sim", "--apply-delay", "-1s"}, "--apply-delay -1s"},
		tc{"sim/jitter negative", []string{"sim", "--jitter", "-1ms"}, "--jitter -1ms"},
		tc{"sim/fault status", []string{"sim", "--fault", "GetMetricData:0.5:X:200"}, "--fault"},
		tc{"sim/auth-failure unknown Region", []string{"sim", "--auth-failure", "moon-1"}, "--auth-failure"},
		tc{"sim/fleet and synthetic", []string{"sim", "--fleet", s.report, "--synthetic", "5"}, "--fleet"},
		tc{"sim/fleet missing", []string{"sim", "--fleet", filepath.Join(s.dir, "none.json")}, "none.json"},
		tc{"version/extra argument", []string{"version", "x"}, `unknown command "x"`},
		tc{"completion/extra argument", []string{"completion", "bash", "x"}, `unknown command "x"`},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// sim serves until its context ends: should a bad flag slip
			// through, the deadline ends the run and the exit code fails the
			// test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r := remCLI(t, ctx, "", false, c.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d", r.code, exitUsage)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("stderr should be one line naming %q, got:\n%s", c.want, r.stderr)
			}
			if n := sim.Total(s.srv.Stats().Calls); n != 0 {
				t.Errorf("the simulated AWS received %d calls: %v", n, s.srv.Stats().Calls)
			}
		})
	}
}

// TestUnknownRegionFromEnvironment: a Region that comes from AWS_REGION
// is checked like --region, before any call.
func TestUnknownRegionFromEnvironment(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("setup: remediate exit %d", r.code)
	}
	s.srv.ResetStats()
	t.Setenv("AWS_REGION", "moon-1")
	for _, args := range [][]string{
		{"scan", "--regions", "us-east-1"},
		{"remediate", "--report", s.report},
		{"rollback", "--journal", s.journal},
	} {
		r := remCLI(t, context.Background(), "", false, args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], `unknown AWS Region "moon-1"`) {
			t.Errorf("%s: exit %d, want %d with one line naming the Region:\n%s", args[0], r.code, exitUsage, r.stderr)
		}
	}
	if n := sim.Total(s.srv.Stats().Calls); n != 0 {
		t.Errorf("the simulated AWS received %d calls", n)
	}
}

// TestUnreachableEndpointFailsFastEveryCommand: with nothing listening at
// the endpoint, each command exits 1 with one line saying so after a few
// connection attempts (remediate used to retry for 519 s).
func TestUnreachableEndpointFailsFastEveryCommand(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("setup: remediate exit %d", r.code)
	}
	dead := "http://127.0.0.1:1"
	for _, args := range [][]string{
		{"scan", "--regions", "us-east-1", "--endpoint-url", dead},
		{"remediate", "--report", s.report, "--endpoint-url", dead},
		{"rollback", "--journal", s.journal, "--endpoint-url", dead},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := remCLI(t, context.Background(), "", false, args...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if r.code != exitError || !strings.Contains(last, "connection refused") || !strings.Contains(last, "--endpoint-url") {
				t.Errorf("exit %d, want %d with a connection refused line:\n%s", r.code, exitError, r.stderr)
			}
		})
	}
}

// TestEndpointURLWithPasswordRefused: an endpoint URL carrying a user and
// password (--endpoint-url or AWS_ENDPOINT_URL) is bad usage before any
// call, and the password is never shown: not in the error line (even when
// the URL does not parse), and so never in the resume command a stopped
// live run prints.
func TestEndpointURLWithPasswordRefused(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("setup: remediate exit %d", r.code)
	}
	s.srv.ResetStats()
	const password = "hunter2secret"
	host := strings.TrimPrefix(s.url, "http://")
	for _, u := range []string{"http://admin:" + password + "@" + host, "http://admin:" + password + "@[::1", "https://" + password + "@" + host + "/x"} {
		for _, args := range [][]string{
			{"scan", "--regions", "us-east-1"},
			{"remediate", "--report", s.report},
			{"rollback", "--journal", s.journal},
		} {
			for _, viaEnv := range []bool{false, true} {
				if viaEnv {
					t.Setenv("AWS_ENDPOINT_URL", u)
				} else {
					t.Setenv("AWS_ENDPOINT_URL", "")
					args = append(args[:len(args):len(args)], "--endpoint-url", u)
				}
				r := remCLI(t, context.Background(), "", false, args...)
				lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
				if r.code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], "ENDPOINT") && !strings.Contains(lines[0], "endpoint-url") {
					t.Errorf("%v (env %v): exit %d, want %d with one line:\n%s", args, viaEnv, r.code, exitUsage, r.stderr)
				}
				if strings.Contains(r.stdout+r.stderr, password) {
					t.Errorf("%v (env %v): the password is shown:\n%s", args, viaEnv, r.stderr)
				}
			}
		}
	}
	if n := sim.Total(s.srv.Stats().Calls); n != 0 {
		t.Errorf("the simulated AWS received %d calls: %v", n, s.srv.Stats().Calls)
	}
}

// TestSourceProfileLoop: a profile whose source_profile chain loops is bad
// usage with one line naming the profile and the fix (the SDK's own text
// ended in "<nil>"), before any call.
func TestSourceProfileLoop(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	cfgFile := filepath.Join(s.dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile a]\nrole_arn = arn:aws:iam::123456789012:role/X\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::123456789012:role/Y\nsource_profile = a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	for _, args := range [][]string{{"scan", "--regions", "us-east-1"}, {"remediate", "--report", s.report}} {
		r := remCLI(t, context.Background(), "", false, append(args, "--profile", "a")...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], `AWS profile "`) || !strings.Contains(lines[0], "loops back") || strings.Contains(lines[0], "<nil>") {
			t.Errorf("%s: exit %d, want %d with one line naming the loop:\n%s", args[0], r.code, exitUsage, r.stderr)
		}
	}
	if n := sim.Total(s.srv.Stats().Calls); n != 0 {
		t.Errorf("the simulated AWS received %d calls", n)
	}
}
