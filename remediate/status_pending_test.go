package remediate

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A rollout whose waves all passed, killed during the call of a step that
// runs after the last bake (the account defaults: intent journaled, no
// result), is not completed: status must say a rerun of apply is needed.
func TestStatusAllWavesPassedSourceStepPending(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	until := now.Add(time.Hour)
	req := &Change{HttpTokens: "required"}
	lines := []Record{
		{Op: OpRemediate, Kind: KindWave, Plan: "p1", Waves: 1, Wave: 1, Instances: []string{"123456789012/us-east-1/i-0000000000000a001"}},
		{Op: OpRemediate, Kind: KindIntent, Account: "123456789012", Region: "us-east-1", InstanceID: "i-0000000000000a001", Requested: req},
		{Op: OpRemediate, Kind: KindResult, Account: "123456789012", Region: "us-east-1", InstanceID: "i-0000000000000a001", Requested: req, Outcome: "ok"},
		{Op: OpRemediate, Kind: KindBake, Plan: "p1", Waves: 1, Wave: 1, BakeUntil: &until},
		{Op: OpRemediate, Kind: KindBaked, Plan: "p1", Waves: 1, Wave: 1, Outcome: OutcomePassed},
		{Op: OpRemediateSource, Kind: KindIntent, Account: "123456789012", Region: "us-east-1", InstanceID: "account-defaults", Wave: 1,
			Source: &SourceRecord{Action: ActionSetAccountDefaults}},
	}
	s := statusOfLines(t, lines, now, until.Add(time.Minute))
	if s.SourceChanges[SourcePending] != 1 {
		t.Fatalf("source changes %v, want one pending", s.SourceChanges)
	}
	if s.State != StatusCompletedWithFailures || s.SourceStepsPending != 1 || s.SourceStepsFailed != 0 {
		t.Fatalf("state %q, pending %d, failed %d; want %q, 1, 0", s.State, s.SourceStepsPending, s.SourceStepsFailed, StatusCompletedWithFailures)
	}
	var b bytes.Buffer
	if err := WriteStatusTable(&b, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1 launch source step(s) were sent with no result") || !strings.Contains(b.String(), "re-run apply") {
		t.Fatalf("status table does not say the step is unsettled:\n%s", b.String())
	}
}

// TestStatusAllWavesPassedAfterBakeStepsNotRun: a run killed after the
// last wave's bake passed and before the account defaults (which wait for
// it) left no line of theirs; the rollout lines say one step waits
// (afterBake), so status says applying (run apply again), not completed.
// Once the step's lines are there, it is completed.
func TestStatusAllWavesPassedAfterBakeStepsNotRun(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	until := now.Add(time.Hour)
	req := &Change{HttpTokens: "required"}
	rollout := []Record{
		{Op: OpRemediate, Kind: KindWave, Plan: "p1", Waves: 1, AfterBake: 1, Wave: 1, Instances: []string{"123456789012/us-east-1/i-0000000000000a001"}},
		{Op: OpRemediate, Kind: KindIntent, Account: "123456789012", Region: "us-east-1", InstanceID: "i-0000000000000a001", Requested: req},
		{Op: OpRemediate, Kind: KindResult, Account: "123456789012", Region: "us-east-1", InstanceID: "i-0000000000000a001", Requested: req, Outcome: "ok"},
		{Op: OpRemediate, Kind: KindBake, Plan: "p1", Waves: 1, AfterBake: 1, Wave: 1, BakeUntil: &until},
		{Op: OpRemediate, Kind: KindBaked, Plan: "p1", Waves: 1, AfterBake: 1, Wave: 1, Outcome: OutcomePassed},
	}
	defaults := []Record{
		{Op: OpRemediateSource, Kind: KindIntent, Account: "123456789012", Region: "us-east-1", InstanceID: "account-defaults", Wave: 1,
			Source: &SourceRecord{Action: ActionSetAccountDefaults}},
		{Op: OpRemediateSource, Kind: KindResult, Account: "123456789012", Region: "us-east-1", InstanceID: "account-defaults", Wave: 1,
			Outcome: "ok", Source: &SourceRecord{Action: ActionSetAccountDefaults}},
	}
	status := func(lines []Record) *RolloutStatus { return statusOfLines(t, lines, now, until.Add(time.Minute)) }
	s := status(rollout)
	if s.State != StatusApplying || s.SourceStepsNotRun != 1 {
		t.Fatalf("killed before the account defaults: state %q, not run %d; want %q, 1", s.State, s.SourceStepsNotRun, StatusApplying)
	}
	var b bytes.Buffer
	if err := WriteStatusTable(&b, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1 launch source step(s) that wait for the last bake") || !strings.Contains(b.String(), "run apply again") {
		t.Fatalf("status table does not say the account defaults are still to run:\n%s", b.String())
	}
	finished := Record{Op: OpRemediate, Kind: KindFinished, Plan: "p1", Waves: 1, AfterBake: 1, Wave: 1}
	// Killed after the step's result, before the finished line: a rerun
	// is still owed (it records the finished line without a call).
	if s := status(append(slices.Clone(rollout), defaults...)); s.State != StatusApplying {
		t.Fatalf("account defaults done, no finished line: state %q; want %q", s.State, StatusApplying)
	}
	if s := status(append(append(slices.Clone(rollout), defaults...), finished)); s.State != StatusCompleted || s.SourceStepsNotRun != 0 {
		t.Fatalf("with the account defaults done: state %q, not run %d; want %q, 0", s.State, s.SourceStepsNotRun, StatusCompleted)
	}
	// Skipped (already set, or held behind a failed step): no line of its
	// own, and the finished line says the run got through it.
	if s := status(append(slices.Clone(rollout), finished)); s.State != StatusCompleted || s.SourceStepsNotRun != 0 {
		t.Fatalf("account defaults skipped: state %q, not run %d; want %q, 0", s.State, s.SourceStepsNotRun, StatusCompleted)
	}
}

// statusOfLines journals lines (at now) in a new journal and returns its
// status at at.
func statusOfLines(t *testing.T, lines []Record, now, at time.Time) *RolloutStatus {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rollout.jsonl")
	j, _, _, err := OpenJournal(path, JournalOptions{RunID: "run1", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range lines {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	st, _, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	return StatusOf(path, st, nil, at)
}
