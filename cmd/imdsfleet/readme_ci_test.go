package main

// The README's recipe for a rollout run by a scheduled CI job, run as
// written: every `run` step of its workflow, in order, with GitHub's
// step rules (a failed step skips the next ones unless their `if:` says
// otherwise) and shell (bash -eo pipefail), each job in a fresh
// directory holding only the plan (a fresh runner and checkout). The AWS
// CLI's S3 is moto; imdsfleet is this test binary, on the simulated AWS
// and its fast clock (IMDSFLEET_SIM_CLOCK): the recipe's 2-hour bakes take
// two seconds. What is checked is counted on the servers.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/internal/simclock"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// ciStep is one step of a GitHub Actions job.
type ciStep struct {
	name, id, cond, run, uses string
}

// readmeWorkflow returns the steps of the README's scheduled rollout job.
func readmeWorkflow(t *testing.T) []ciStep {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "```yaml\n# .github/workflows/imdsv2-rollout.yml\n"
	_, rest, ok := strings.Cut(string(data), head)
	if !ok {
		t.Fatal("README: no workflow block starting with # .github/workflows/imdsv2-rollout.yml")
	}
	block, _, _ := strings.Cut(rest, "```")
	lines := strings.Split(block, "\n")
	var steps []ciStep
	in := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "steps:" {
			in = true
			continue
		}
		if !in || strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(l, "      - ") {
			steps = append(steps, ciStep{})
			l = "        " + l[len("      - "):]
		}
		if len(steps) == 0 || !strings.HasPrefix(l, "        ") || strings.HasPrefix(l, "         ") {
			t.Fatalf("README workflow: unexpected line %q", l)
		}
		st := &steps[len(steps)-1]
		key, val, _ := strings.Cut(strings.TrimSpace(l), ":")
		val = strings.TrimSpace(val)
		if c := strings.Index(val, "  #"); c >= 0 {
			val = strings.TrimSpace(val[:c])
		}
		switch key {
		case "name":
			st.name = val
		case "id":
			st.id = val
		case "if":
			st.cond = val
		case "uses":
			st.uses = val
		case "with":
		case "run":
			if val != "|" {
				st.run = val
				continue
			}
			for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], "          ") || strings.TrimSpace(lines[i+1]) == "") && !strings.HasPrefix(lines[i+1], "      - ") {
				i++
				st.run += strings.TrimPrefix(lines[i], "          ") + "\n"
			}
		default:
			t.Fatalf("README workflow: step key %q not understood by this test", key)
		}
	}
	return steps
}

var ciOutcomeCond = regexp.MustCompile(`^always\(\) && steps\.([a-z]+)\.outcome == 'success'$`)

// ciJob is one scheduled run's result.
type ciJob struct {
	failed    bool
	applyCode int // the exit code of the step that runs apply (-1: skipped)
	summary   string
}

// runJob runs the workflow's run steps once, in a fresh directory with the
// plan as plan.json, and returns what GitHub would show.
func runJob(t *testing.T, steps []ciStep, plan string, env []string) ciJob {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(dir, "summary.md")
	job := ciJob{applyCode: -1}
	outcome := map[string]string{}
	for n, st := range steps {
		if st.uses != "" {
			continue // checkout, setup-go, credentials: the test's directory and environment stand for them
		}
		if strings.HasPrefix(st.run, "go install github.com/imdsfleet/imdsfleet/") {
			continue // imdsfleet is this test binary, on PATH
		}
		run := !job.failed
		switch {
		case st.cond == "":
		case ciOutcomeCond.MatchString(st.cond):
			run = outcome[ciOutcomeCond.FindStringSubmatch(st.cond)[1]] == "success"
		default:
			t.Fatalf("step %q: if %q not understood by this test", st.name, st.cond)
		}
		if !run {
			continue
		}
		script := filepath.Join(dir, fmt.Sprintf(".step%d.sh", n))
		if err := os.WriteFile(script, []byte(st.run), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = dir
		cmd.Env = append(env, "GITHUB_STEP_SUMMARY="+summary)
		out, err := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		t.Logf("step %q → exit %d\n%s", st.name, code, out)
		if err != nil && code < 0 {
			t.Fatalf("step %q: %v", st.name, err)
		}
		if strings.Contains(st.run, "imdsfleet apply") {
			job.applyCode = code
		}
		if st.id != "" {
			outcome[st.id] = map[bool]string{true: "success", false: "failure"}[code == 0]
		}
		if code != 0 {
			job.failed = true
		}
	}
	if b, err := os.ReadFile(summary); err == nil {
		job.summary = string(b)
	}
	return job
}

// ciSetup serves 24 ready instances in two Auto Scaling groups (web:
// 1-12, api: 13-24) on a fast clock, writes their plan, starts moto with
// the recipe's bucket, and returns the environment the steps run in.
func ciSetup(t *testing.T, hidden func(n int) bool) (plan string, env []string, srv *sim.Server) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH: the README's CI recipe uses it for S3")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not on PATH: the README's CI recipe uses it")
	}
	motoURL := startMoto(t, "the README's CI recipe (S3)")
	var insts []remInst
	for n := 1; n <= 24; n++ {
		asg := "web"
		if n > 12 {
			asg = "api"
		}
		insts = append(insts, remInst{id: applyID(n), region: "us-east-1", class: report.ClassReady,
			tags: map[string]string{remediate.ASGTag: asg}, opts: optional(1), want: remediate.ActionEnforce})
	}
	f := remFleet(insts, fleet.Knobs{})
	for i := range f.Accounts[0].Regions[0].Instances {
		in := &f.Accounts[0].Regions[0].Instances[i]
		for n := 1; n <= 24; n++ {
			if in.ID == applyID(n) && hidden != nil && hidden(n) {
				in.HiddenCaller = &fleet.HiddenCaller{Starts: fleet.HiddenAfterEnforcement, After: fleet.Duration(10 * time.Minute), PerHour: 60}
			}
		}
	}
	// Two seconds of wall time per 2-hour bake.
	clock := simclock.New(time.Now().UTC(), 3600)
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1, Now: clock.Now})
	remEnv(t, url)
	dir := t.TempDir()
	plan = filepath.Join(dir, "plan.json")
	var out, errb strings.Builder
	if code := runClock(context.Background(), []string{"remediate", "--report", remReport(t, dir, insts), "--plan-out", plan},
		&streams{In: strings.NewReader(""), Out: &out, Err: &errb}, clock); code != exitOK {
		t.Fatalf("remediate --plan-out: exit %d\n%s", code, errb.String())
	}
	bin := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nIMDSFLEET_TEST_RUN_MAIN=1 exec %q \"$@\"\n", os.Args[0])
	if err := os.WriteFile(filepath.Join(bin, "imdsfleet"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_PROFILE=") { // remEnv's empty AWS_PROFILE names a profile "" to the AWS CLI
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), envSimClock+"="+clock.String(),
		"AWS_ENDPOINT_URL_S3="+motoURL, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	env = append(env, simtest.Env(url, remKey, "us-east-1")...)
	mb := exec.Command("aws", "s3", "mb", "s3://my-bucket")
	mb.Env = env
	if out, err := mb.CombinedOutput(); err != nil {
		t.Fatalf("aws s3 mb on moto: %v\n%s", err, out)
	}
	return plan, env, srv
}

// ciChanged counts the instances with an accepted live change, and the
// accepted live changes.
func ciChanged(srv *sim.Server) (instances, calls int) {
	seen := map[string]bool{}
	for _, c := range srv.ModifyCalls() {
		if !c.DryRun && c.Outcome == "ok" {
			seen[c.InstanceID] = true
			calls++
		}
	}
	return len(seen), calls
}

func TestReadmeScheduledRollout(t *testing.T) {
	steps := readmeWorkflow(t)
	t.Run("one wave a run", func(t *testing.T) {
		plan, env, srv := ciSetup(t, nil)
		// 1,10%,50%,100% of 24 in two groups: the 2 canaries, then 1, 9
		// and 12 more.
		for run, want := range []int{2, 3, 12, 24, 24} {
			job := runJob(t, steps, plan, env)
			if job.failed || job.applyCode != 0 {
				t.Fatalf("run %d: failed %v, apply exit %d; want success", run+1, job.failed, job.applyCode)
			}
			if got, calls := ciChanged(srv); got != want || calls != want {
				t.Fatalf("after run %d: %d instances changed in %d calls, want %d in %d", run+1, got, calls, want, want)
			}
			want := []string{"PAUSED", fmt.Sprintf("%d of 4 wave(s) passed", run+1)}
			if run >= 3 {
				want = []string{"COMPLETED", "4 of 4 wave(s) passed"}
			}
			for _, w := range want {
				if !strings.Contains(job.summary, w) {
					t.Errorf("run %d: the job summary lacks %q:\n%s", run+1, w, job.summary)
				}
			}
		}
	})
	t.Run("breakage fails every later run", func(t *testing.T) {
		// Every instance but the canaries (1 and 13) hides a caller: run 2
		// breaks wave 2 and rolls it back.
		plan, env, srv := ciSetup(t, func(n int) bool { return n != 1 && n != 13 })
		if job := runJob(t, steps, plan, env); job.failed || job.applyCode != 0 {
			t.Fatalf("run 1: failed %v, apply exit %d", job.failed, job.applyCode)
		}
		job := runJob(t, steps, plan, env)
		if !job.failed || job.applyCode != exitBreakage || !strings.Contains(job.summary, "STOPPED") || !strings.Contains(job.summary, "rolled-back") {
			t.Fatalf("run 2: failed %v, apply exit %d, want 6 with the stop in the summary:\n%s", job.failed, job.applyCode, job.summary)
		}
		// 2 canaries + 1 wave-2 instance enforced, that one rolled back.
		if got, calls := ciChanged(srv); got != 3 || calls != 4 {
			t.Fatalf("after run 2: %d instances, %d calls; want 3 and 4", got, calls)
		}
		job = runJob(t, steps, plan, env)
		if !job.failed || job.applyCode != exitBreakage {
			t.Errorf("run 3: failed %v, apply exit %d; want 6 again", job.failed, job.applyCode)
		}
		if got, calls := ciChanged(srv); got != 3 || calls != 4 {
			t.Errorf("run 3 changed something: %d instances, %d calls", got, calls)
		}
	})
}
