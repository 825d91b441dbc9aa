package remediate

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// driftCheck re-reads batch and decides each task (see [Decide]). It returns
// the tasks to call; the others get their result here (a live change found
// already made goes to verifyCh).
func (e *executor) driftCheck(ctx context.Context, log *slog.Logger, client EC2API, account, region string, batch []int, verifyCh chan<- verifyItem) []int {
	ids := make([]string, len(batch))
	for n, i := range batch {
		ids[n] = e.tasks[i].InstanceID
	}
	views, err := describe(ctx, client, ids)
	if err != nil {
		log.Error("drift check failed", "err", err)
		for _, i := range batch {
			if ctx.Err() != nil {
				e.skip(i, SkipInterrupted, "stopped before this change was started")
			} else {
				e.fail(i, fmt.Errorf("drift check: %w", err))
			}
		}
		return nil
	}
	var calls []int
	for _, i := range batch {
		t := &e.tasks[i]
		v, ok := views[t.InstanceID]
		if t.Conditional != nil && ok && !v.gone() && !t.Conditional.SatisfiedBy(v.Options) {
			// The earlier call never took effect: undo only the rest.
			t.Change, t.Expect, t.Conditional = t.Fallback, t.FallbackExpect, nil
			e.results[i].Change = t.Change
			if t.Change.IsZero() {
				e.skip(i, SkipNothingToRestore, "the call in flight when the earlier run stopped (or whose answer was lost) never took effect: nothing to undo")
				continue
			}
		}
		if t.Conditional != nil && t.Change.IsZero() {
			e.skip(i, SkipNothingToRestore, "the change replaced no different value")
			continue
		}
		var pending *Record
		if ent := e.o.Prior.Get(t.key()); ent != nil {
			pending = ent.Unsettled
		}
		switch d := Decide(t, v, ok, pending); d.Kind {
		case DecideSkip:
			e.skip(i, d.Reason, d.Message)
		case DecideRecordDone:
			cur := v.Options
			e.results[i].Previous = pending.Previous
			if !e.o.Live {
				e.skip(i, SkipDoneEarlier, "an earlier live run's call took effect, but its journal shows no successful result; a live run will record it")
				continue
			}
			rec := Record{Op: t.Op, Kind: KindResult, Account: account, Region: region, InstanceID: t.InstanceID, Action: t.Action,
				Previous: pending.Previous, Requested: &t.Change, Outcome: OutcomeAlreadyApplied, Verified: &cur,
				Message: "an earlier run's call took effect (its result was missing or an error); no new call made"}
			if err := e.journal(rec); err != nil {
				e.fail(i, err)
				continue
			}
			e.results[i].Status = StatusChanged
			e.to(i, StateApplied)
			e.results[i].Verified = &cur
			e.results[i].Message = "applied by an earlier run whose journal shows no successful result; recorded without a new call"
			// Like a change made now, it must be seen applied.
			verifyCh <- verifyItem{i: i, deadline: e.o.Now().Add(e.o.WaitTimeout)}
		case DecideCall:
			cur := v.Options
			e.results[i].Previous = &cur
			calls = append(calls, i)
		}
	}
	return calls
}

// sameChange reports whether r requested exactly ch.
func sameChange(r *Record, ch Change) bool { return r.Requested != nil && *r.Requested == ch }

// Decision kinds of [Decide].
const (
	DecideCall       = "call"        // make the change
	DecideSkip       = "skip"        // skip it with Reason
	DecideRecordDone = "record-done" // an unanswered intent already took effect: journal it, no call
)

// Decision is what [Decide] chose for one task.
type Decision struct {
	Kind    string
	Reason  string
	Message string
}

// Decide chooses what to do with a task given the instance's current state
// (found false: DescribeInstances did not return it) and, on resume, the
// journal's unsettled record for it: an intent without a result, or a
// failed result, whose call may have taken effect (nil if none). Tasks the journal shows
// done never reach Decide. It is a pure function.
func Decide(t *Task, cur View, found bool, pending *Record) Decision {
	if !found || cur.gone() {
		state := "not found"
		if found {
			state = cur.State
		}
		return Decision{Kind: DecideSkip, Reason: SkipGone, Message: "instance is " + state}
	}
	if pending != nil && sameChange(pending, t.Change) && t.Change.SatisfiedBy(cur.Options) {
		return Decision{Kind: DecideRecordDone}
	}
	if diff := optionsDiff(t.Expect, cur.Options); diff != "" {
		if t.Change.SatisfiedBy(cur.Options) {
			diff = "already has " + t.Change.String() + " (set outside this journal); " + diff
		}
		return Decision{Kind: DecideSkip, Reason: t.ExpectReason, Message: diff}
	}
	return Decision{Kind: DecideCall}
}

// optionsDiff lists the fields of want (non-empty ones only) that got
// differs in, as "HttpTokens optional→required".
func optionsDiff(want, got report.MetadataOptions) string {
	var d []string
	cmp := func(name, w, g string) {
		if w != "" && w != g {
			d = append(d, fmt.Sprintf("%s %s→%s", name, w, orNone(g)))
		}
	}
	cmp("HttpTokens", want.HttpTokens, got.HttpTokens)
	cmp("HttpEndpoint", want.HttpEndpoint, got.HttpEndpoint)
	if want.HttpPutResponseHopLimit != 0 && want.HttpPutResponseHopLimit != got.HttpPutResponseHopLimit {
		d = append(d, fmt.Sprintf("HopLimit %d→%d", want.HttpPutResponseHopLimit, got.HttpPutResponseHopLimit))
	}
	cmp("HttpProtocolIpv6", want.HttpProtocolIpv6, got.HttpProtocolIpv6)
	cmp("InstanceMetadataTags", want.InstanceMetadataTags, got.InstanceMetadataTags)
	if len(d) == 0 {
		return ""
	}
	return "options changed since: " + strings.Join(d, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func describeOptions(o report.MetadataOptions) string {
	return fmt.Sprintf("HttpTokens=%s HopLimit=%d", orNone(o.HttpTokens), o.HttpPutResponseHopLimit)
}
