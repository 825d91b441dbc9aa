package remediate

import "testing"

func TestStateMachine(t *testing.T) {
	// The life of one change, and its rollback and re-plan.
	path := []State{StatePlanned, StateSent, StateApplied, StateVerified, StateRolledBack, StatePlanned}
	for i := 1; i < len(path); i++ {
		if !path[i-1].CanBecome(path[i]) {
			t.Errorf("%s → %s refused", path[i-1], path[i])
		}
	}
	for _, bad := range [][2]State{
		{StatePlanned, StateVerified},   // never verified without being applied
		{StateSkipped, StateApplied},    // a skipped change was never sent
		{StateVerified, StateSent},      // a verified change is not sent again
		{StateRolledBack, StateApplied}, // only a new plan brings it back
	} {
		if bad[0].CanBecome(bad[1]) {
			t.Errorf("%s → %s allowed", bad[0], bad[1])
		}
	}
}

func TestEntryStateOf(t *testing.T) {
	req := &Change{HttpTokens: "required"}
	st := newJournalState()
	k := Key{OpRemediate, "1", "r", "i-1"}
	add := func(kind, outcome string) State {
		st.add(Record{Op: OpRemediate, Kind: kind, Account: "1", Region: "r", InstanceID: "i-1", Requested: req, Outcome: outcome})
		return st.Get(k).StateOf()
	}
	for _, step := range []struct {
		kind, outcome string
		want          State
	}{
		{KindIntent, "", StateSent},
		{KindResult, OutcomeError, StateFailed},
		{KindIntent, "", StateSent},
		{KindResult, OutcomeOK, StateApplied},
		{KindVerify, OutcomeApplied, StateVerified},
	} {
		if got := add(step.kind, step.outcome); got != step.want {
			t.Fatalf("after %s/%s: state %s, want %s", step.kind, step.outcome, got, step.want)
		}
	}
	rb := newJournalState()
	rb.add(Record{Op: OpRollback, Kind: KindResult, Account: "1", Region: "r", InstanceID: "i-1", Requested: &Change{HttpTokens: "optional"}, Outcome: OutcomeOK, Seq: 9, RemediateSeq: 5})
	st.Get(k).Done.Seq = 4
	st.ForgetRolledBack(rb)
	if got := st.Get(k).StateOf(); got != StateRolledBack {
		t.Fatalf("after rollback: state %s, want %s", got, StateRolledBack)
	}
}
