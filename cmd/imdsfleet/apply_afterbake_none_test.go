package main

// A rollout whose plan has no account defaults step: nothing waits for
// the last bake.

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/imdsfleet/imdsfleet/remediate"
)

// TestApplyNoAccountDefaultsStepNoAfterBake: a plan with no account
// defaults step (cut from the plan, resealed): apply's rollout lines carry
// no afterBake, and status says completed with no source step not run.
func TestApplyNoAccountDefaultsStepNoAfterBake(t *testing.T) {
	hold := &afterBakeHold{waves: 99, reached: make(chan struct{})}
	s := afterBakeStart(t, hold)
	p := readPlan(t, s.plan)
	var keep []remediate.SourceItem
	for _, it := range p.Sources {
		if it.ID != "account-defaults" {
			keep = append(keep, it)
		}
	}
	p.Sources = keep
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.plan, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := s.cli(t, s.args...); r.code != exitOK {
		t.Fatalf("apply: exit %d", r.code)
	}
	if n := defaultsWrites(s.srv); n != 0 {
		t.Errorf("ModifyInstanceMetadataDefaults called %d times with no such step", n)
	}
	data, err := os.ReadFile(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(withoutAfterBake(t, data), data) {
		t.Errorf("journal carries afterBake with no account-defaults step")
	}
	st := s.statusJSON(t)
	if st.State != remediate.StatusCompleted || st.SourceStepsNotRun != 0 {
		t.Errorf("status: state %q sourceStepsNotRun %d, want %q, 0", st.State, st.SourceStepsNotRun, remediate.StatusCompleted)
	}
}
