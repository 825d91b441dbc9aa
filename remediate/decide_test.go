package remediate

import (
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestDecide(t *testing.T) {
	scanned := report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1, HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}
	enforced := scanned
	enforced.HttpTokens = "required"
	hop3 := scanned
	hop3.HttpPutResponseHopLimit = 3
	task := Task{Op: OpRemediate, InstanceID: "i-1", Action: ActionEnforce, Change: Change{HttpTokens: "required"}, Expect: scanned, ExpectReason: SkipDrift}
	intent := &Record{Kind: KindIntent, Requested: &Change{HttpTokens: "required"}, Previous: &scanned}
	otherIntent := &Record{Kind: KindIntent, Requested: &Change{HttpPutResponseHopLimit: 2}, Previous: &scanned}
	running := func(o report.MetadataOptions) View { return View{State: "running", Options: o} }
	tests := []struct {
		name    string
		cur     View
		found   bool
		pending *Record
		kind    string
		reason  string
	}{
		{"unchanged: call", running(scanned), true, nil, DecideCall, ""},
		{"not found: gone", View{}, false, nil, DecideSkip, SkipGone},
		{"terminated: gone", View{State: "terminated", Options: scanned}, true, nil, DecideSkip, SkipGone},
		{"changed by someone: drift", running(hop3), true, nil, DecideSkip, SkipDrift},
		{"already required without journal: drift", running(enforced), true, nil, DecideSkip, SkipDrift},
		{"unanswered intent, in effect: record done", running(enforced), true, intent, DecideRecordDone, ""},
		{"unanswered intent, not in effect: redo", running(scanned), true, intent, DecideCall, ""},
		{"unanswered intent of another change: drift", running(enforced), true, otherIntent, DecideSkip, SkipDrift},
		{"unanswered intent, gone", View{}, false, intent, DecideSkip, SkipGone},
		{"stopped instance: call", View{State: "stopped", Options: scanned}, true, nil, DecideCall, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(&task, tc.cur, tc.found, tc.pending)
			if d.Kind != tc.kind || d.Reason != tc.reason {
				t.Fatalf("Decide = %+v, want %s %s", d, tc.kind, tc.reason)
			}
			if d.Kind == DecideSkip && d.Message == "" {
				t.Error("skip without message")
			}
		})
	}
}

func TestRollbackTasks(t *testing.T) {
	st := newJournalState()
	prev := report.MetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: 1}
	done := func(id string, req Change, p report.MetadataOptions, outcome string) Record {
		return Record{V: 1, Op: OpRemediate, Kind: KindResult, Account: "a", Region: "r", InstanceID: id, Action: ActionEnforce, Previous: &p, Requested: &req, Outcome: outcome}
	}
	st.add(done("i-enforce", Change{HttpTokens: "required"}, prev, OutcomeOK))
	st.add(done("i-both", Change{HttpTokens: "required", HttpPutResponseHopLimit: 2}, prev, OutcomeOK))
	st.add(done("i-hop", Change{HttpPutResponseHopLimit: 2}, prev, OutcomeAlreadyApplied))
	st.add(done("i-failed", Change{HttpTokens: "required"}, prev, OutcomeError))
	st.add(Record{V: 1, Op: OpRemediate, Kind: KindIntent, Account: "a", Region: "r", InstanceID: "i-pending", Previous: &prev, Requested: &Change{HttpTokens: "required"}})
	st.add(done("i-noop", Change{HttpPutResponseHopLimit: 1}, prev, OutcomeOK))

	items := RollbackTasks(st, false)
	got := map[string]RollbackItem{}
	for _, it := range items {
		got[it.Task.InstanceID] = it
	}
	if len(items) != 6 {
		t.Fatalf("rollback items %+v, want i-enforce, i-both, i-hop, i-failed, i-pending, i-noop", items)
	}
	check := func(id string, ch Change, expect report.MetadataOptions, reason string) {
		t.Helper()
		it := got[id]
		if it.Task.Change != ch || it.Task.Expect != expect || it.Reason != reason || it.Task.Op != OpRollback || it.Task.ExpectReason != SkipChangedSince {
			t.Errorf("%s: %+v", id, it)
		}
	}
	check("i-enforce", Change{HttpTokens: "optional"}, report.MetadataOptions{HttpTokens: "required"}, "")
	check("i-both", Change{HttpTokens: "optional", HttpPutResponseHopLimit: 1}, report.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}, "")
	check("i-hop", Change{HttpPutResponseHopLimit: 1}, report.MetadataOptions{HttpPutResponseHopLimit: 2}, "")
	check("i-noop", Change{}, report.MetadataOptions{HttpPutResponseHopLimit: 1}, SkipNothingToRestore)
	// A failed result or an intent without one may have taken effect: it is
	// planned, undone only if the instance shows its values (Conditional),
	// with nothing to fall back to.
	for _, id := range []string{"i-failed", "i-pending"} {
		check(id, Change{HttpTokens: "optional"}, report.MetadataOptions{HttpTokens: "required"}, "")
		if c := got[id].Task.Conditional; c == nil || *c != (Change{HttpTokens: "required"}) || !got[id].Task.Fallback.IsZero() {
			t.Errorf("%s: conditional %v fallback %v", id, c, got[id].Task.Fallback)
		}
	}

	forced := RollbackTasks(st, true)
	for _, it := range forced {
		if it.Task.Expect != (report.MetadataOptions{}) {
			t.Errorf("--force still checks %s: %+v", it.Task.InstanceID, it.Task.Expect)
		}
	}
}
