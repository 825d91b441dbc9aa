package main

// End-to-end tests of `imdsfleet apply` with launch source steps (a plan of
// --scope instances,sources) and what `imdsfleet status` says of them.

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// applySrcStart serves srcFleet on a test clock, scans it and writes a plan
// of instances and sources.
func applySrcStart(t *testing.T) *applySetup {
	t.Helper()
	dayStable(t)
	clock := &testClock{Clock: simtest.NewClock(time.Now().UTC().Truncate(time.Second))}
	gate := simtest.NewGate()
	srv, url := simtest.StartWith(t, srcFleet(), sim.Options{Seed: 3, Now: clock.Now}, gate.Wrap)
	remEnv(t, url)
	dir := t.TempDir()
	s := &applySetup{remSetup: &remSetup{srv: srv, url: url, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "rollout.jsonl"), gate: gate},
		clock: clock, plan: filepath.Join(dir, "plan.json")}
	var out, errb strings.Builder
	if code := runClock(context.Background(), []string{"scan", "--regions", "us-east-1,eu-west-1,ap-southeast-2", "--output", s.report},
		&streams{In: strings.NewReader(""), Out: &out, Err: &errb}, clock); code != exitOK {
		t.Fatalf("scan: exit %d\n%s", code, errb.String())
	}
	if r := s.cli(t, context.Background(), "remediate", "--report", s.report, "--scope", "instances,sources", "--plan-out", s.plan); r.code != exitOK {
		t.Fatalf("remediate --plan-out: exit %d\n%s", r.code, r.stderr)
	}
	return s
}

func sourceStates(st remediate.RolloutStatus) map[string]string {
	out := map[string]string{}
	for _, s := range st.Sources {
		out[s.Region+" "+s.ID+" "+string(s.Action)] = s.State
	}
	return out
}

// TestStatusShowsSourceSteps: after a rollout of a plan with launch source
// steps, status (JSON and table) lists every step done; after a rollback,
// the steps it undid (default versions, groups, account defaults) are
// rolled-back and the versions created (kept) still done.
func TestStatusShowsSourceSteps(t *testing.T) {
	s := applySrcStart(t)
	plan := readPlan(t, s.plan)
	if len(plan.Sources) < 3 {
		t.Fatalf("plan has %d source step(s): %v", len(plan.Sources), sourceIDs(plan.Sources))
	}
	if r := s.cli(t, context.Background(), "apply", s.plan, "--live", "--yes", "--journal", s.journal, "--waves", "1,100%", "--bake", "5m"); r.code != exitOK {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	st := s.status(t)
	got := sourceStates(st)
	if len(got) != len(plan.Sources) || st.SourceChanges[remediate.SourceDone] != len(plan.Sources) {
		t.Fatalf("status sources %v (counts %v), want the plan's %d steps done", got, st.SourceChanges, len(plan.Sources))
	}
	for _, it := range plan.Sources {
		if k := it.Region + " " + it.ID + " " + string(it.Action); got[k] != remediate.SourceDone {
			t.Errorf("step %s: %q, want done", k, got[k])
		}
	}
	table := s.cli(t, context.Background(), "status", "--journal", s.journal)
	if !strings.Contains(table.stdout, "launch source steps: done "+strconv.Itoa(len(plan.Sources))) || !strings.Contains(table.stdout, plan.Sources[0].ID) {
		t.Errorf("status table does not list the source steps:\n%s", table.stdout)
	}

	if r := s.cli(t, context.Background(), "rollback", "--journal", s.journal, "--live", "--yes"); r.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
	}
	st = s.status(t)
	got = sourceStates(st)
	undone := 0
	for _, it := range plan.Sources {
		k := it.Region + " " + it.ID + " " + string(it.Action)
		want := remediate.SourceRolledBack
		if it.Action == remediate.ActionCreateVersion {
			want = remediate.SourceDone // the version created stays
		} else {
			undone++
		}
		if got[k] != want {
			t.Errorf("after rollback, step %s: %q, want %s", k, got[k], want)
		}
	}
	if undone == 0 || st.SourceChanges[remediate.SourceRolledBack] != undone {
		t.Errorf("after rollback: counts %v, want rolled-back %d", st.SourceChanges, undone)
	}
	var raw map[string]any
	r := s.cli(t, context.Background(), "status", "--journal", s.journal, "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || raw["sources"] == nil {
		t.Errorf("status JSON has no sources: %v\n%s", err, r.stdout)
	}
}
