package remediate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"
)

// SkipVersionKept: rollback never deletes a launch template version it
// created; pointing its users back is the undo.
const SkipVersionKept = "version-kept"

// SourceRollbackItem is a launch source step a remediate journal shows
// made (or possibly made: Unsettled), to undo.
type SourceRollbackItem struct {
	Account string
	Region  string
	// ID is the step's ID ([SourceItem.ID]).
	ID string
	// Record is the step's change and the state it replaced.
	Record SourceRecord
	// Unsettled: the journal does not know whether the call took effect;
	// the rollback reads the current state and undoes it only if it is
	// the step's.
	Unsettled bool
}

// SourceRollbackItems lists the source steps of a remediate journal, in
// the reverse of the order they were made: the account defaults first,
// then the groups and default versions, and the versions created (kept).
func SourceRollbackItems(st *JournalState) []SourceRollbackItem {
	var out []SourceRollbackItem
	for _, k := range st.Order {
		if k.Op != OpRemediateSource {
			continue
		}
		e := st.Entries[k]
		ref, unsettled := e.Done, false
		if e.Unsettled != nil && e.Unsettled.Source != nil {
			ref, unsettled = e.Unsettled, e.Done == nil
		}
		if ref == nil || ref.Source == nil {
			continue
		}
		out = append(out, SourceRollbackItem{Account: k.Account, Region: k.Region, ID: k.InstanceID, Record: *ref.Source, Unsettled: unsettled})
	}
	slices.Reverse(out)
	return out
}

// ForgetSourcesRedone is [JournalState.ForgetRedone] for source steps.
func (s *JournalState) ForgetSourcesRedone(rem *JournalState) int {
	return s.forget(rem, OpRollbackSource, OpRemediateSource)
}

// ExecuteSourceRollback undoes source steps: a default version and a
// group's version go back to what they were, the account defaults to
// their previous values, each only where the current state is still the
// one imdsfleet set (unless force); otherwise the step is skipped with
// the reason. Versions created stay. A dry run sends DryRun=true on the
// EC2 calls and nothing for UpdateAutoScalingGroup.
func ExecuteSourceRollback(ctx context.Context, clients SourceClients, items []SourceRollbackItem, force bool, o SourceRunOptions) ([]Result, error) {
	if o.Live && o.Journal == nil {
		return nil, errors.New("rollback: a live run needs a journal")
	}
	x := &sourceExec{o: defaultsOf(o), results: make([]Result, len(items))}
	groups := map[[2]string][]int{}
	var order [][2]string
	for i, it := range items {
		x.results[i] = Result{Account: it.Account, Region: it.Region, InstanceID: it.ID, Action: ActionRollback, State: StatePlanned}
		k := [2]string{it.Account, it.Region}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var g errgroup.Group
	g.SetLimit(x.o.Concurrency)
	for _, k := range order {
		g.Go(func() error {
			rr := &regionRun{x: x, account: k[0], region: k[1], newVersion: map[string]int64{}, ok: map[string]bool{},
				limT: NewLimiter(x.o.TemplateRate, 1, x.o.Now), limD: NewLimiter(x.o.DefaultsRate, 1, x.o.Now), limG: NewLimiter(x.o.GroupRate, 1, x.o.Now),
				log: x.o.Logger.With("account", k[0], "region", k[1])}
			var err error
			rr.ec2, err = clients.SourceEC2(k[0], k[1])
			if err == nil {
				rr.asg, err = clients.AutoScaling(k[0], k[1])
			}
			for _, i := range groups[k] {
				switch {
				case err != nil && errors.Is(err, ErrNoAccess):
					x.skip(i, SkipAccount, err.Error())
				case err != nil:
					x.fail(i, err)
				case ctx.Err() != nil || x.journalFailed():
					x.skip(i, SkipInterrupted, "stopped before this change was started")
				default:
					rr.undo(ctx, i, &items[i], force)
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return x.results, x.journalErr
}

func defaultsOf(o SourceRunOptions) SourceRunOptions {
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 5 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.TemplateRate = cmpOr(o.TemplateRate, rateTemplateCalls)
	o.DefaultsRate = cmpOr(o.DefaultsRate, rateDefaultsCalls)
	o.GroupRate = cmpOr(o.GroupRate, rateGroupCalls)
	return o
}

// undo rolls one step back.
func (rr *regionRun) undo(ctx context.Context, i int, it *SourceRollbackItem, force bool) {
	x := rr.x
	r := &x.results[i]
	rec := it.Record
	r.Source = &rec
	if rec.Action == ActionCreateVersion {
		if rec.NewVersion == 0 {
			x.skip(i, SkipNothingToRestore, "the version was never seen created")
			return
		}
		x.skip(i, SkipVersionKept, fmt.Sprintf("version %d of %s stays (rollback never deletes); its users are pointed back at the versions before it", rec.NewVersion, rec.TemplateID))
		return
	}
	key := Key{OpRollbackSource, it.Account, it.Region, it.ID}
	if ent := x.o.Prior.Get(key); ent != nil && ent.Done != nil && ent.Done.Source.same(&rec) {
		x.skip(i, SkipDoneEarlier, fmt.Sprintf("rollback journal shows it restored at %s", ent.Done.Time.Format(time.RFC3339)))
		r.State = ent.StateOf()
		return
	}
	// What is there now, and is it still what imdsfleet set?
	restore, now, err := rr.current(ctx, &rec)
	if err != nil {
		if errors.Is(err, errGone) {
			x.skip(i, SkipGone, err.Error())
		} else {
			x.fail(i, fmt.Errorf("read before rollback: %w", err))
		}
		return
	}
	switch {
	case now == stateRestored:
		x.skip(i, SkipNothingToRestore, "already as it was before imdsfleet's change: "+restore)
		return
	case now == stateOther && !force:
		x.skip(i, SkipChangedSince, restore+" (imdsfleet rollback --journal <apply journal> --force restores it anyway)")
		return
	}
	if !x.o.Live {
		r.Status = StatusWouldChange
		if rec.Action == ActionUpdateGroup {
			r.Message = "UpdateAutoScalingGroup has no dry run: not sent"
			return
		}
		err := rr.restore(ctx, &rec, true)
		code, msg := errorCode(err)
		switch {
		case code == "DryRunOperation":
		case code == "UnauthorizedOperation":
			r.Status, r.Code, r.Message, r.State = StatusDenied, code, msg, StateFailed
		default:
			x.fail(i, fmt.Errorf("dry run: %w", orUnexpected(err)))
		}
		return
	}
	base := Record{Op: OpRollbackSource, Account: it.Account, Region: it.Region, InstanceID: it.ID, Action: ActionRollback, Source: &rec}
	intent := base
	intent.Kind = KindIntent
	if err := x.journal(intent); err != nil {
		x.fail(i, fmt.Errorf("not restored: %w", err))
		return
	}
	r.State = StateSent
	err = rr.restore(ctx, &rec, false)
	res := base
	res.Kind, res.Outcome = KindResult, OutcomeOK
	if err != nil {
		res.Outcome = OutcomeError
		res.Code, res.Message = errorCode(err)
		if res.Code == "" {
			res.Message = err.Error()
		}
	}
	_ = x.journal(res)
	switch {
	case err != nil && isCode(err, "UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
		r.Status, r.Code, r.Message, r.State = StatusDenied, res.Code, res.Message, StateFailed
	case err != nil:
		x.fail(i, err)
	default:
		r.Status, r.State = StatusChanged, StateRolledBack
		if w, now, err := rr.current(ctx, &rec); err != nil || now != stateRestored {
			r.Status, r.Reason, r.State = StatusFailed, ReasonNotApplied, StateFailed
			r.Message = "restore accepted but not seen in place: " + w
		} else {
			r.Message = w
			_ = x.journal(Record{Op: OpRollbackSource, Kind: KindVerify, Account: it.Account, Region: it.Region, InstanceID: it.ID,
				Action: ActionRollback, Source: &rec, Outcome: OutcomeApplied})
		}
	}
}

func orUnexpected(err error) error {
	if err == nil {
		return errors.New("the endpoint ignored DryRun=true and answered success: the change may have been made")
	}
	return err
}

// States of a source a rollback finds.
const (
	stateSet      = iota // what imdsfleet set: restore it
	stateRestored        // already what it was before
	stateOther           // changed by someone else since
)

// current reads the source's state now and says which of the three it
// is, with a sentence.
func (rr *regionRun) current(ctx context.Context, rec *SourceRecord) (string, int, error) {
	switch rec.Action {
	case ActionSetDefault:
		cur, err := rr.read(ctx, &SourceItem{Action: ActionSetDefault, TemplateID: rec.TemplateID})
		if err != nil {
			return "", 0, err
		}
		switch cur.defaultVersion {
		case rec.NewVersion:
			return fmt.Sprintf("default version of %s back to %d", rec.TemplateID, rec.Version), stateSet, nil
		case rec.Version:
			return fmt.Sprintf("default version of %s is %d", rec.TemplateID, rec.Version), stateRestored, nil
		}
		return fmt.Sprintf("default version of %s is %d, not %d as imdsfleet set it", rec.TemplateID, cur.defaultVersion, rec.NewVersion), stateOther, nil
	case ActionUpdateGroup:
		cur, err := rr.read(ctx, &SourceItem{Action: ActionUpdateGroup, Group: rec.Group})
		if err != nil {
			return "", 0, err
		}
		v := aws.ToString(cur.groupTemplate.Version)
		// A version number means something only in its template: a
		// group moved to another template since is someone else's change.
		if id := aws.ToString(cur.groupTemplate.LaunchTemplateId); id != rec.TemplateID {
			return fmt.Sprintf("group %s launches from %s version %s, not %s version %d as imdsfleet set it", rec.Group, orNone(id), orNone(v), rec.TemplateID, rec.NewVersion), stateOther, nil
		}
		switch v {
		case strconv.FormatInt(rec.NewVersion, 10):
			return fmt.Sprintf("group %s back to %s version %s", rec.Group, rec.TemplateID, rec.GroupVersion), stateSet, nil
		case rec.GroupVersion:
			return fmt.Sprintf("group %s launches from version %s", rec.Group, rec.GroupVersion), stateRestored, nil
		}
		return fmt.Sprintf("group %s launches from version %s, not %d as imdsfleet set it", rec.Group, orNone(v), rec.NewVersion), stateOther, nil
	case ActionSetAccountDefaults:
		d, err := rr.defaults(ctx)
		if err != nil {
			return "", 0, err
		}
		p, want := rec.PreviousDefaults, rec.Defaults
		if p == nil || want == nil {
			return "the journal line lacks the previous defaults", stateOther, nil
		}
		// What imdsfleet left: the previous defaults with its fields set.
		// A field it did not set changed since (HttpTokensEnforced
		// enabled by someone after imdsfleet required tokens) is someone
		// else's change too: restoring HttpTokens under it would make
		// every launch that relies on the defaults fail.
		after := *p
		if want.HttpTokens != "" {
			after.HttpTokens = want.HttpTokens
		}
		if want.HttpTokensEnforced != "" {
			after.HttpTokensEnforced = want.HttpTokensEnforced
		}
		set := d.HttpTokens == after.HttpTokens && d.HttpTokensEnforced == after.HttpTokensEnforced
		back := d.HttpTokens == p.HttpTokens && d.HttpTokensEnforced == p.HttpTokensEnforced
		switch {
		case back:
			return "account defaults are as before", stateRestored, nil
		case set:
			return fmt.Sprintf("account defaults back to HttpTokens=%s HttpTokensEnforced=%s", orNone(p.HttpTokens), orNone(p.HttpTokensEnforced)), stateSet, nil
		}
		return fmt.Sprintf("account defaults are HttpTokens=%s HttpTokensEnforced=%s, not HttpTokens=%s HttpTokensEnforced=%s as imdsfleet left them", orNone(d.HttpTokens), orNone(d.HttpTokensEnforced), orNone(after.HttpTokens), orNone(after.HttpTokensEnforced)), stateOther, nil
	}
	return "", 0, fmt.Errorf("unknown source action %q", rec.Action)
}

// restore sends the call that puts the previous state back.
func (rr *regionRun) restore(ctx context.Context, rec *SourceRecord, dry bool) error {
	var dryRun *bool
	if dry {
		dryRun = aws.Bool(true)
	}
	switch rec.Action {
	case ActionSetDefault:
		return sendPaced(ctx, rr.limT, func(c context.Context) error {
			_, err := rr.ec2.ModifyLaunchTemplate(c, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(rec.TemplateID),
				DefaultVersion: aws.String(strconv.FormatInt(rec.Version, 10)), DryRun: dryRun})
			return err
		}, rr.log)
	case ActionUpdateGroup:
		return sendPaced(ctx, rr.limG, func(c context.Context) error {
			_, err := rr.asg.UpdateAutoScalingGroup(c, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(rec.Group),
				LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(rec.TemplateID), Version: aws.String(rec.GroupVersion)}})
			return err
		}, rr.log)
	case ActionSetAccountDefaults:
		in := &ec2.ModifyInstanceMetadataDefaultsInput{DryRun: dryRun}
		if rec.Defaults.HttpTokens != "" {
			in.HttpTokens = types.MetadataDefaultHttpTokensState(orNoPreference(rec.PreviousDefaults.HttpTokens))
		}
		if rec.Defaults.HttpTokensEnforced != "" {
			in.HttpTokensEnforced = types.DefaultHttpTokensEnforcedState(orNoPreference(rec.PreviousDefaults.HttpTokensEnforced))
		}
		return sendPaced(ctx, rr.limD, func(c context.Context) error {
			_, err := rr.ec2.ModifyInstanceMetadataDefaults(c, in)
			return err
		}, rr.log)
	}
	return fmt.Errorf("unknown source action %q", rec.Action)
}

func orNoPreference(s string) string {
	if s == "" {
		return "no-preference"
	}
	return s
}
