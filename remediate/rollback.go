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

// RollbackTasks lists, for every instance a remediation journal shows
// changed, the task that restores the previous values of the fields the
// change set. When a reused journal shows several changes of one instance,
// each field goes back to its value before the first change that set it.
// Unless force, each task only runs where the instance still has the values
// imdsfleet set last (otherwise it is skipped with SkipChangedSince).
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
		changes := e.Changes
		if len(changes) == 0 {
			changes = []*Record{d}
		}
		// req: the values imdsfleet set last; prev: each field's value
		// before the first change that set it.
		var req Change
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
