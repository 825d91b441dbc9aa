package remediate

import (
	"fmt"

	"github.com/imdsfleet/imdsfleet/report"
)

// RollbackItem is an instance the remediation journal shows changed (or
// possibly changed), with the restoring task or the reason nothing will be
// restored.
type RollbackItem struct {
	Task Task
	// Reason is non-empty (SkipNothingToRestore) when there is nothing to do.
	Reason  string
	Message string
}

// RollbackTasks lists, for every instance a remediation journal shows
// changed, the task that restores the previous values of the fields the
// change set. When a reused journal shows several changes of one instance,
// each field goes back to its value before the first change that set it.
// Unless force, each task only runs where the instance still has the values
// imdsfleet set last (otherwise it is skipped with SkipChangedSince).
//
// A call whose outcome the journal does not know (an intent without a
// result: the run was killed with the call in flight; or a failed result:
// the call may have taken effect and its answer been lost) is planned as
// changed, with the intent's previous options, under [Task.Conditional]:
// the drift check re-reads the instance and undoes that call only if the
// instance shows its values.
func RollbackTasks(st *JournalState, force bool) []RollbackItem {
	var out []RollbackItem
	for _, k := range st.Order {
		if k.Op != OpRemediate {
			continue
		}
		e := st.Entries[k]
		unsettled := e.Unsettled
		if unsettled != nil && unsettled.Requested == nil {
			unsettled = nil
		}
		if e.Done == nil && unsettled == nil {
			continue
		}
		ref := e.Done
		if ref == nil {
			ref = unsettled
		}
		t := Task{Op: OpRollback, Account: ref.Account, Region: ref.Region, InstanceID: ref.InstanceID,
			Action: ActionRollback, ExpectReason: SkipChangedSince}
		var changes []*Record
		if e.Done != nil {
			changes = e.Changes
			if len(changes) == 0 {
				changes = []*Record{e.Done}
			}
		}
		base, baseReq := restore(changes)
		if unsettled == nil {
			t.Change = base
			if !force {
				t.Expect = expectOf(baseReq)
			}
		} else {
			full, fullReq := restore(append(changes[:len(changes):len(changes)], unsettled))
			t.Change = full
			c := *unsettled.Requested
			t.Conditional = &c
			t.Fallback = base
			if !force {
				t.Expect = expectOf(fullReq)
				t.FallbackExpect = expectOf(baseReq)
			}
			baseReq = fullReq
		}
		it := RollbackItem{Task: t}
		if t.Change.IsZero() && t.Fallback.IsZero() {
			it.Reason = SkipNothingToRestore
			it.Message = fmt.Sprintf("the change (%s) replaced no different value", baseReq)
		}
		out = append(out, it)
	}
	return out
}

func expectOf(req Change) report.MetadataOptions {
	return report.MetadataOptions{HttpTokens: req.HttpTokens, HttpPutResponseHopLimit: req.HttpPutResponseHopLimit}
}

// restore folds changes, oldest first, into the change that undoes them
// all (each field back to its value before the first change that set it)
// and the values imdsfleet set last.
func restore(changes []*Record) (undo, req Change) {
	var prev report.MetadataOptions
	for _, c := range changes {
		if c.Requested == nil {
			continue
		}
		var p report.MetadataOptions
		if c.Previous != nil {
			p = *c.Previous
		}
		if c.Requested.HttpTokens != "" {
			if req.HttpTokens == "" {
				prev.HttpTokens = p.HttpTokens
			}
			req.HttpTokens = c.Requested.HttpTokens
		}
		if c.Requested.HttpPutResponseHopLimit != 0 {
			if req.HttpPutResponseHopLimit == 0 {
				prev.HttpPutResponseHopLimit = p.HttpPutResponseHopLimit
			}
			req.HttpPutResponseHopLimit = c.Requested.HttpPutResponseHopLimit
		}
	}
	if req.HttpTokens != "" && prev.HttpTokens != "" && prev.HttpTokens != req.HttpTokens {
		undo.HttpTokens = prev.HttpTokens
	}
	if req.HttpPutResponseHopLimit != 0 && prev.HttpPutResponseHopLimit != 0 && prev.HttpPutResponseHopLimit != req.HttpPutResponseHopLimit {
		undo.HttpPutResponseHopLimit = prev.HttpPutResponseHopLimit
	}
	return undo, req
}
