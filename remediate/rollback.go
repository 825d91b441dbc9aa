package remediate

import (
	"fmt"

	"github.com/imdsfleet/imdsfleet/report"
)

// RollbackItem is an instance the remediation journal shows changed, with
// the restoring task or the reason nothing will be restored.
type RollbackItem struct {
	Task Task
	// Reason is non-empty (SkipNothingToRestore) when there is nothing to do.
	Reason  string
	Message string
}

// RollbackTasks lists, for every change a remediation journal shows done,
// the task that restores the previous values of the fields the change set.
// Unless force, each task only runs where the instance still has the values
// imdsfleet set (otherwise it is skipped with SkipChangedSince).
func RollbackTasks(st *JournalState, force bool) []RollbackItem {
	var out []RollbackItem
	for _, k := range st.Order {
		if k.Op != OpRemediate {
			continue
		}
		e := st.Entries[k]
		if e.Done == nil {
			continue
		}
		d := e.Done
		t := Task{Op: OpRollback, Account: d.Account, Region: d.Region, InstanceID: d.InstanceID,
			Action: ActionRollback, ExpectReason: SkipChangedSince}
		var req Change
		if d.Requested != nil {
			req = *d.Requested
		}
		var prev report.MetadataOptions
		if d.Previous != nil {
			prev = *d.Previous
		}
		if req.HttpTokens != "" && prev.HttpTokens != "" && prev.HttpTokens != req.HttpTokens {
			t.Change.HttpTokens = prev.HttpTokens
		}
		if req.HttpPutResponseHopLimit != 0 && prev.HttpPutResponseHopLimit != 0 && prev.HttpPutResponseHopLimit != req.HttpPutResponseHopLimit {
			t.Change.HttpPutResponseHopLimit = prev.HttpPutResponseHopLimit
		}
		if !force {
			t.Expect = report.MetadataOptions{HttpTokens: req.HttpTokens, HttpPutResponseHopLimit: req.HttpPutResponseHopLimit}
		}
		it := RollbackItem{Task: t}
		if t.Change.IsZero() {
			it.Reason = SkipNothingToRestore
			it.Message = fmt.Sprintf("the change (%s) replaced no different value", req)
		}
		out = append(out, it)
	}
	return out
}
