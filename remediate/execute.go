package remediate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/report"
)

// Task is one change to carry out on one instance.
type Task struct {
	Op         string // OpRemediate or OpRollback
	Account    string
	Region     string
	InstanceID string
	Name       string
	Action     Action
	Change     Change
	// Expect holds the options the instance must still have (non-empty
	// fields only are compared; the zero value checks nothing). A mismatch
	// skips the task with ExpectReason.
	Expect       report.MetadataOptions
	ExpectReason string
	// Conditional, when set, is a change whose call may or may not have
	// taken effect (rollback of an intent without a result, or of a failed
	// result). The drift check re-reads the instance: if it carries
	// Conditional's values, the task stands as it is; if not, Change and
	// Expect become Fallback and FallbackExpect (the task without that
	// change), and a zero Fallback leaves nothing to do.
	Conditional    *Change
	Fallback       Change
	FallbackExpect report.MetadataOptions
}

func (t *Task) key() Key { return Key{t.Op, t.Account, t.Region, t.InstanceID} }

// TasksFromPlan turns the plan's changes into tasks whose drift check
// compares the current options with the scanned ones.
func TasksFromPlan(p *Plan) []Task {
	out := make([]Task, 0, len(p.Changes))
	for _, it := range p.Changes {
		exp := it.Scanned
		exp.State = ""
		out = append(out, Task{
			Op: OpRemediate, Account: it.Account, Region: it.Region, InstanceID: it.InstanceID, Name: it.Name,
			Action: it.Action, Change: it.Change, Expect: exp, ExpectReason: SkipDrift,
		})
	}
	return out
}

// RunOptions tune [Execute].
type RunOptions struct {
	// Live makes real changes; otherwise every call carries DryRun=true.
	Live bool
	// Rate is the steady number of ModifyInstanceMetadataOptions calls per
	// second per (account, Region) (default 5: the API's refill rate).
	Rate float64
	// Workers bounds the calls in flight per Region (default 4).
	Workers int
	// WaitTimeout bounds the wait for each change to show applied (default 5m).
	WaitTimeout time.Duration
	// PollInterval is the pause between verification reads (default 1s).
	PollInterval time.Duration
	// Journal receives intent, result and verify lines; required when Live.
	Journal *Journal
	// Prior is what the journal already held (resume); nil for none.
	Prior *JournalState
	// Concurrency bounds the Regions worked on at once (default 16).
	Concurrency int
	// DriftBatch is how many instances the drift check reads at once, just
	// before their calls (default: 10 s of calls at Rate, at least Workers,
	// at most 1000).
	DriftBatch int
	// StopGrace bounds how long calls in flight may go on once ctx is
	// cancelled (default [DefaultStopGrace]); then their context is
	// cancelled too, so that a throttled call does not retry for minutes.
	StopGrace time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// DefaultStopGrace is how long calls in flight may go on after the run is
// stopped: enough for a call and a few retries, short enough that a second
// Ctrl-C is not the only way out of a throttling storm.
const DefaultStopGrace = 30 * time.Second

// Execute carries out tasks: per (account, Region), concurrently across
// Regions, it re-reads the instances (drift check, resume decisions), then
// sends each change at a steady rate, journaling before and after each live
// call, and waits for live changes to show applied.
//
// Cancelling ctx stops new calls; calls already sent get RunOptions.StopGrace
// to finish (retries included), then their context is cancelled; either way
// their result is journaled, and the outcome is marked Interrupted. The returned error is non-nil only when
// the journal could not be written; the outcome is still valid then.
func Execute(ctx context.Context, clients Clients, tasks []Task, o RunOptions) (*Outcome, error) {
	if o.Live && o.Journal == nil {
		return nil, errors.New("execute: a live run needs a journal")
	}
	if o.Rate <= 0 {
		o.Rate = 5
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 5 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.DriftBatch <= 0 {
		o.DriftBatch = min(max(int(o.Rate*10), o.Workers), describeBatch)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	e := &executor{o: o, clients: clients, tasks: tasks, results: make([]Result, len(tasks))}
	for i, t := range tasks {
		e.results[i] = Result{Account: t.Account, Region: t.Region, InstanceID: t.InstanceID, Name: t.Name, Action: t.Action, Change: t.Change, State: StatePlanned}
	}
	// New work stops on ctx or on a journal failure; in-flight calls and
	// their journal lines use e.flight, which outlives both by StopGrace.
	workCtx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	e.cancelWork = cancelWork
	flight, cancelFlight := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlight()
	e.flight = flight
	// The stop is logged and the grace started by a watcher that Execute
	// waits for, so that nothing is written after Execute returns.
	runDone, watcherDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			o.Logger.Warn("stopping: no new calls; calls in flight get the stop grace to finish, then are cut (a second signal ends the process at once)", "grace", o.StopGrace)
			grace := time.AfterFunc(o.StopGrace, cancelFlight)
			<-runDone
			grace.Stop()
		case <-runDone:
		}
	}()
	defer func() {
		close(runDone)
		<-watcherDone
	}()

	groups := map[[2]string][]int{}
	var order [][2]string
	for i, t := range tasks {
		k := [2]string{t.Account, t.Region}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var g errgroup.Group
	g.SetLimit(o.Concurrency)
	for _, k := range order {
		idx := groups[k]
		g.Go(func() error {
			e.region(workCtx, k[0], k[1], idx)
			return nil
		})
	}
	_ = g.Wait() // region never returns an error: failures are per result
	out := &Outcome{Live: o.Live, Results: e.results, Interrupted: ctx.Err() != nil}
	out.Summary = summarize(out.Results)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.journalErr != nil {
		out.Interrupted = true
	}
	return out, e.journalErr
}

type executor struct {
	o          RunOptions
	clients    Clients
	tasks      []Task
	results    []Result // one slot per task, each written by one goroutine at a time
	flight     context.Context
	cancelWork context.CancelFunc

	mu         sync.Mutex
	journalErr error
}

func (e *executor) journal(r Record) error {
	err := e.o.Journal.Append(r)
	if err != nil {
		e.mu.Lock()
		if e.journalErr == nil {
			e.journalErr = err
		}
		e.mu.Unlock()
		e.cancelWork()
	}
	return err
}

// to moves result i's change to state s. A move the machine does not
// allow is a bug: it is logged, and the state is set all the same, so the
// output never hides what happened.
func (e *executor) to(i int, s State) {
	r := &e.results[i]
	if r.State != s && !r.State.CanBecome(s) {
		e.o.Logger.Error("internal: unexpected state change", "err", errTransition(r.InstanceID, r.State, s))
	}
	r.State = s
}

func (e *executor) skip(i int, reason, msg string) {
	e.results[i].Status, e.results[i].Reason, e.results[i].Message = StatusSkipped, reason, msg
	e.to(i, StateSkipped)
}

func (e *executor) fail(i int, err error) {
	r := &e.results[i]
	r.Status = StatusFailed
	e.to(i, StateFailed)
	r.Code, r.Message = errorCode(err)
	if r.Code == "" {
		r.Message = err.Error()
	}
}

func (e *executor) region(ctx context.Context, account, region string, idx []int) {
	log := e.o.Logger.With("account", account, "region", region)
	client, err := e.clients.EC2(account, region)
	if err != nil {
		for _, i := range idx {
			if errors.Is(err, ErrNoAccess) {
				e.skip(i, SkipAccount, err.Error())
			} else {
				e.fail(i, err)
			}
		}
		return
	}
	// Resume: changes the journal shows done are not changed again. Only
	// the same change counts: a journal reused for a later run may show an
	// earlier, different change of the instance done. A done change with
	// no verify line showing it applied (the run stopped before) is
	// verified now.
	var read, reverify []int
	for _, i := range idx {
		if ent := e.o.Prior.Get(e.tasks[i].key()); ent != nil && ent.Done != nil && sameChange(ent.Done, e.tasks[i].Change) {
			msg := fmt.Sprintf("journal shows it done at %s (run %s)", ent.Done.Time.Format(time.RFC3339), ent.Done.Run)
			if !ent.DoneVerified {
				if e.o.Live {
					reverify = append(reverify, i)
					msg += "; not verified then, verified now"
				} else {
					msg += "; not verified yet (a live run verifies it)"
				}
			}
			e.skip(i, SkipDoneEarlier, msg)
			// Not attempted now, but the change stands as the journal says.
			e.results[i].State = ent.StateOf()
			continue
		}
		read = append(read, i)
	}
	if len(read) == 0 && len(reverify) == 0 {
		return
	}
	mode := "dry run"
	if e.o.Live {
		mode = "live"
	}
	log.Info("checking and sending changes", "mode", mode, "instances", len(read), "rate", e.o.Rate)
	defer func() {
		s := summarize(e.resultsOf(idx))
		log.Info("Region done", "changed", s.Changed, "wouldChange", s.WouldChange, "denied", s.Denied, "failed", s.Failed, "skipped", sumValues(s.Skipped))
	}()

	lim := NewLimiter(e.o.Rate, 1, e.o.Now)
	work := make(chan int)
	var verifyCh chan verifyItem
	var vwg sync.WaitGroup
	if e.o.Live {
		verifyCh = make(chan verifyItem, len(read)+len(reverify))
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			e.verify(ctx, client, account, region, verifyCh)
		}()
		for _, i := range reverify {
			verifyCh <- verifyItem{i: i, deadline: e.o.Now().Add(e.o.WaitTimeout)}
		}
	}
	var wg sync.WaitGroup
	for range min(e.o.Workers, len(read)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e.call(ctx, client, lim, i, verifyCh)
			}
		}()
	}
	// The drift check reads the instances batch by batch just before their
	// calls, so that at a few changes per second a read is never much older
	// than the call it clears.
	for start := 0; start < len(read); start += e.o.DriftBatch {
		batch := read[start:min(start+e.o.DriftBatch, len(read))]
		if ctx.Err() != nil {
			for _, i := range read[start:] {
				e.skip(i, SkipInterrupted, "stopped before this change was started")
			}
			break
		}
		for _, i := range e.driftCheck(ctx, log, client, account, region, batch, verifyCh) {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	if verifyCh != nil {
		close(verifyCh)
		vwg.Wait()
	}
}

func (e *executor) resultsOf(idx []int) []Result {
	out := make([]Result, len(idx))
	for n, i := range idx {
		out[n] = e.results[i]
	}
	return out
}

// call makes one change (or dry run of it).
func (e *executor) call(ctx context.Context, client EC2API, lim *Limiter, i int, verifyCh chan<- verifyItem) {
	t := &e.tasks[i]
	if err := lim.Wait(ctx); err != nil {
		e.skip(i, SkipInterrupted, "stopped before this change was started")
		return
	}
	r := &e.results[i]
	if !e.o.Live {
		err := e.modify(ctx, client, lim, t, true)
		code, msg := errorCode(err)
		switch {
		case code == "DryRunOperation":
			r.Status = StatusWouldChange
		case code == "UnauthorizedOperation":
			r.Status, r.Code, r.Message = StatusDenied, code, msg
			e.to(i, StateFailed)
		case err == nil:
			// An endpoint that ignores DryRun (moto) has just made the change.
			r.Status, r.Message = StatusFailed, "the endpoint ignored DryRun=true and answered success: the change may have been applied"
			e.to(i, StateFailed)
		case e.goneSince(client, t.InstanceID, err):
			e.skip(i, SkipGone, "instance is gone since the drift check: "+msg)
		default:
			e.fail(i, err)
		}
		return
	}
	base := Record{Op: t.Op, Account: t.Account, Region: t.Region, InstanceID: t.InstanceID, Action: t.Action,
		Previous: r.Previous, Requested: &t.Change}
	intent := base
	intent.Kind = KindIntent
	if err := e.journal(intent); err != nil {
		e.fail(i, fmt.Errorf("not changed: %w", err))
		return
	}
	e.to(i, StateSent)
	err := e.modify(ctx, client, lim, t, false)
	res := base
	res.Kind = KindResult
	if err != nil {
		res.Outcome = OutcomeError
		res.Code, res.Message = errorCode(err)
		if res.Code == "" {
			res.Message = err.Error()
		}
	} else {
		res.Outcome = OutcomeOK
	}
	jerr := e.journal(res)
	switch {
	case err != nil && isCode(err, "UnauthorizedOperation"):
		r.Status, r.Code, r.Message = StatusDenied, res.Code, res.Message
		e.to(i, StateFailed)
	case err != nil && e.goneSince(client, t.InstanceID, err):
		e.skip(i, SkipGone, "instance is gone since the drift check: "+res.Message)
	case err != nil:
		e.fail(i, err)
	default:
		r.Status = StatusChanged
		e.to(i, StateApplied)
		if jerr != nil {
			r.Message = "changed, but the result line could not be journaled: " + jerr.Error()
		}
		verifyCh <- verifyItem{i: i, deadline: e.o.Now().Add(e.o.WaitTimeout)}
	}
}

// modify sends t's change on the in-flight context. A call still throttled
// after the SDK's retries is queued again behind the Region's rate limiter
// instead of failing: throttling only slows a run down. Once ctx is done
// (the run is stopping) the last answer stands.
func (e *executor) modify(ctx context.Context, client EC2API, lim *Limiter, t *Task, dryRun bool) error {
	for {
		err := modify(e.flight, client, t.InstanceID, t.Change, dryRun)
		if err == nil || retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
			return err
		}
		e.o.Logger.Warn("still throttled after the SDK's retries; queued again", "account", t.Account, "region", t.Region, "instance", t.InstanceID, "err", err)
		if lim.Wait(ctx) != nil {
			return err
		}
	}
}

// goneSince reports whether a call's err means the instance was terminated
// (or vanished) after the drift check read it: the call answered
// InvalidInstanceID.NotFound, or IncorrectInstanceState and a fresh read
// shows it terminated, shutting down or missing.
func (e *executor) goneSince(client EC2API, id string, err error) bool {
	switch {
	case isCode(err, "InvalidInstanceID.NotFound"):
		return true
	case isCode(err, "IncorrectInstanceState"):
		views, derr := describe(e.flight, client, []string{id})
		if derr != nil {
			return false
		}
		v, ok := views[id]
		return !ok || v.gone()
	}
	return false
}
