package remediate

import (
	"context"
	"fmt"
	"sort"
	"time"
)

type verifyItem struct {
	i        int
	deadline time.Time
}

// verify waits until DescribeInstances shows each change applied with the
// requested values, polling all pending instances of the Region in one
// batched read per interval.
func (e *executor) verify(ctx context.Context, client EC2API, account, region string, in <-chan verifyItem) {
	pending := map[string]verifyItem{}
	tick := time.NewTicker(e.o.PollInterval)
	defer tick.Stop()
	for {
		select {
		case it, ok := <-in:
			if !ok {
				in = nil
				if len(pending) == 0 {
					return
				}
				continue
			}
			pending[e.tasks[it.i].InstanceID] = it
		case <-tick.C:
			if len(pending) == 0 {
				continue
			}
			e.poll(ctx, client, pending)
			if in == nil && len(pending) == 0 {
				return
			}
		case <-ctx.Done():
			for _, it := range pending {
				e.results[it.i].Message = "change accepted; not verified (the run was stopped)"
			}
			// Drain what the workers still send (they finish in-flight calls).
			if in != nil {
				for it := range in {
					e.results[it.i].Message = "change accepted; not verified (the run was stopped)"
				}
			}
			return
		}
	}
}

func (e *executor) poll(ctx context.Context, client EC2API, pending map[string]verifyItem) {
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	views, err := describe(ctx, client, ids)
	if err != nil {
		e.o.Logger.Warn("verification read failed; retrying", "err", err)
	}
	now := e.o.Now()
	for _, id := range ids {
		it := pending[id]
		t := &e.tasks[it.i]
		r := &e.results[it.i]
		v, ok := views[id]
		applied := ok && t.Change.SatisfiedBy(v.Options) && (v.Options.State == "applied" || v.State == "stopped")
		if !applied && now.Before(it.deadline) {
			continue
		}
		delete(pending, id)
		rec := Record{Op: t.Op, Kind: KindVerify, Account: t.Account, Region: t.Region, InstanceID: id, Action: t.Action, Requested: &t.Change}
		if applied {
			cur := v.Options
			r.Verified = &cur
			e.to(it.i, StateVerified)
			rec.Outcome, rec.Verified = OutcomeApplied, &cur
			if v.Options.State != "applied" {
				r.Message = "instance is stopped: the change applies at its next start"
			}
		} else {
			r.Status, r.Reason = StatusFailed, ReasonNotApplied
			e.to(it.i, StateFailed)
			switch {
			case err != nil:
				r.Message = fmt.Sprintf("change accepted but could not be verified within %s: %v", e.o.WaitTimeout, err)
			case !ok || v.gone():
				r.Message = "change accepted but the instance is gone"
			default:
				cur := v.Options
				r.Verified = &cur
				rec.Verified = &cur
				r.Message = fmt.Sprintf("change accepted but not applied within %s (state %s, %s)", e.o.WaitTimeout, v.Options.State, describeOptions(v.Options))
			}
			rec.Outcome, rec.Message = OutcomeNotApplied, r.Message
		}
		_ = e.journal(rec) // a failure is recorded in e.journalErr and stops new work
	}
}
