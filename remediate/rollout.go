package remediate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Clock is the time a rollout runs on: bakes wait on it, journal lines
// are stamped with it. Tests pass a simulated one that moves on when the
// bake sleeps; the real one is [WallClock].
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is the real clock.
type WallClock struct{}

// Now returns time.Now().
func (WallClock) Now() time.Time { return time.Now() }

// Sleep waits d on the wall clock.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Breakage handling (--on-breakage).
const (
	OnBreakageRollback = "rollback" // roll the wave back at once
	OnBreakageStop     = "stop"     // stop, leaving the wave as it is
)

// Skip reasons of a rollout.
const (
	SkipLaterWave      = "later-wave"      // after --until-wave
	SkipRolloutStopped = "rollout-stopped" // a wave before it broke, or failed
	SkipRolloutHeld    = "rollout-held"    // a wave before it is held: its bake saw no data for some instances
)

// WaveState is what a journal says about one wave.
type WaveState struct {
	N         int        `json:"wave"`
	Stage     string     `json:"stage,omitempty"`
	Instances []string   `json:"instances"`
	Started   time.Time  `json:"started"`
	BakeStart *time.Time `json:"bakeStart,omitempty"`
	BakeUntil *time.Time `json:"bakeUntil,omitempty"`
	// Outcome is OutcomePassed, OutcomeBreakage or OutcomeNoData once the
	// bake ended (the last baked line: a held wave passes on a later run).
	Outcome  string       `json:"outcome,omitempty"`
	Breaking []Breakage   `json:"breaking,omitempty"`
	NoData   []NoBakeData `json:"noData,omitempty"`
	// Stop is OutcomeRolledBack or OutcomeStopped when the rollout stopped here.
	Stop string `json:"stop,omitempty"`
}

// RolloutState folds a journal's rollout lines.
type RolloutState struct {
	// Plan is the ID of the plan the rollout carries out ("" before any line).
	Plan string
	// Waves is the number of waves the rollout has.
	Waves int
	// AfterBake is how many launch source steps wait for the last wave's
	// bake (see Record.AfterBake); Finished, that a run handled them after
	// that bake (a finished line).
	AfterBake int
	Finished  bool
	// Wave lists the waves started, in order.
	Wave []*WaveState
}

func (rs *RolloutState) add(r Record) {
	if rs.Plan == "" {
		rs.Plan = r.Plan
	}
	if r.Waves > 0 {
		rs.Waves = r.Waves
	}
	if r.AfterBake > 0 {
		rs.AfterBake = r.AfterBake
	}
	w := rs.Get(r.Wave)
	if w == nil {
		w = &WaveState{N: r.Wave}
		rs.Wave = append(rs.Wave, w)
	}
	switch r.Kind {
	case KindWave:
		w.Stage, w.Instances, w.Started = r.Stage, r.Instances, r.Time
	case KindBake:
		t := r.Time
		w.BakeStart, w.BakeUntil = &t, r.BakeUntil
	case KindBaked:
		w.Outcome, w.Breaking, w.NoData = r.Outcome, r.Breaking, r.NoData
	case KindStop:
		w.Stop = r.Outcome
	case KindFinished:
		rs.Finished = true
	}
}

// Get returns wave n's state, or nil.
func (rs *RolloutState) Get(n int) *WaveState {
	for _, w := range rs.Wave {
		if w.N == n {
			return w
		}
	}
	return nil
}

// Stopped returns the wave the rollout stopped at on breakage, or nil.
func (rs *RolloutState) Stopped() *WaveState {
	for _, w := range rs.Wave {
		if w.Stop != "" || w.Outcome == OutcomeBreakage {
			return w
		}
	}
	return nil
}

// RolloutOptions are the settings of [Rollout].
type RolloutOptions struct {
	Plan  *Plan
	Waves []Wave
	// Bake is how long each wave bakes (default 1h).
	Bake time.Duration
	// MaxRejected is the rejected calls an instance may show in a bake
	// (default 0: any is breakage).
	MaxRejected float64
	// OnBreakage is OnBreakageRollback (default) or OnBreakageStop.
	OnBreakage string
	// UntilWave, when > 0, stops after that wave's bake.
	UntilWave int
	// Run runs the changes: Live, with the journal and what it held.
	Run RunOptions
	// JournalPath is Run.Journal's file, read back for a rollback.
	JournalPath string
	// OpenRollback opens the rollback journal for a wave's rollback; the
	// remediate journal's last seq is passed to order the two files. It
	// returns the run options to use and a function closing what it opened.
	OpenRollback func(remediateSeq int64) (RunOptions, func(), error)
	Clients      Clients
	// Sources hands out the clients of the plan's launch source steps,
	// which run in their waves ([SourceWaves]); needed when it has some.
	Sources SourceClients
	Metrics MetricsClients
	Clock   Clock
	Logger  *slog.Logger
}

// RolloutReport is what a rollout did, in the outcome.
type RolloutReport struct {
	Plan  string        `json:"plan"`
	Waves []*WaveReport `json:"waves"`
	// State is completed, completed-with-failures (every wave passed,
	// some launch source steps failed), paused (--until-wave), stopped (breakage),
	// held (a bake saw no data for some instances), failed (a wave's
	// change failed or was denied) or interrupted.
	State string `json:"state"`
	// StoppedAt is the wave that broke, failed or is held.
	StoppedAt int        `json:"stoppedAtWave,omitempty"`
	Breaking  []Breakage `json:"breaking,omitempty"`
	// NoData lists the instances of a held wave that published no
	// datapoint during its bake.
	NoData []NoBakeData `json:"noData,omitempty"`
	// RolledBack is true when the broken wave was rolled back.
	RolledBack bool     `json:"rolledBack,omitempty"`
	Rollback   *Outcome `json:"rollback,omitempty"`
	// BakeError is why a bake could not read its metrics.
	BakeError string `json:"bakeError,omitempty"`
	// SourceStepsNotRun counts the launch source steps of a failed wave
	// that were not run because its instance changes did not all apply.
	SourceStepsNotRun int `json:"sourceStepsNotRun,omitempty"`
	// SourceStepsFailed counts the launch source steps that failed or
	// were denied in a rollout whose waves all passed
	// (completed-with-failures).
	SourceStepsFailed int `json:"sourceStepsFailed,omitempty"`
}

// WaveReport is one wave in a [RolloutReport].
type WaveReport struct {
	N         int        `json:"wave"`
	Stage     string     `json:"stage,omitempty"`
	Canary    bool       `json:"canary,omitempty"`
	Instances int        `json:"instances"`
	Status    string     `json:"status"` // done-earlier, baked, breakage, no-data, failed, not-started, interrupted
	BakeStart *time.Time `json:"bakeStart,omitempty"`
	BakeUntil *time.Time `json:"bakeUntil,omitempty"`
}

// Rollout states.
const (
	RolloutCompleted = "completed"
	// RolloutCompletedWithFailures: every wave passed, and some launch
	// source steps failed or were denied (a rerun tries them again).
	RolloutCompletedWithFailures = "completed-with-failures"
	RolloutPaused                = "paused"
	RolloutStopped               = "stopped"
	RolloutHeld                  = "held"
	RolloutFailed                = "failed"
	RolloutInterrupted           = "interrupted"
)

// ErrOtherPlan marks a journal whose rollout lines belong to another plan.
var ErrOtherPlan = errors.New("journal of another plan")

// CheckRollout refuses a journal whose rollout is another plan's, or whose
// waves differ from waves (other --waves or --wave-by than the run that
// started it): resuming must act on the same waves.
func CheckRollout(st *RolloutState, p *Plan, waves []Wave) error {
	if st.Plan != "" && st.Plan != p.ID() {
		return fmt.Errorf("the journal holds the rollout of plan %s, not of this plan (%s): pass a new --journal for this plan: %w", st.Plan, p.ID(), ErrOtherPlan)
	}
	if st.Waves != 0 && st.Waves != len(waves) {
		return fmt.Errorf("the journal's rollout has %d waves, these flags make %d: use the --waves and --wave-by of the run that started it", st.Waves, len(waves))
	}
	for _, w := range st.Wave {
		if w.N > len(waves) || !slices.Equal(w.Instances, waveKeys(p, waves[w.N-1])) {
			return fmt.Errorf("the journal's wave %d holds other instances than these flags give it: use the --waves and --wave-by of the run that started it", w.N)
		}
	}
	return nil
}

// InstanceRef names an instance as journal rollout lines do.
func InstanceRef(account, region, id string) string { return account + "/" + region + "/" + id }

func waveKeys(p *Plan, w Wave) []string {
	out := make([]string, len(w.Items))
	for n, i := range w.Items {
		it := &p.Changes[i]
		out[n] = InstanceRef(it.Account, it.Region, it.InstanceID)
	}
	return out
}

// Rollout carries out a plan's changes wave by wave: each wave's changes
// are made and verified (as [Execute] does, journaled and resumable),
// then, only if all of them stand, the wave's launch source steps run,
// then the wave bakes: every 5 minutes of the bake its instances'
// MetadataNoTokenRejected and StatusCheckFailed_Instance are read; an
// instance over the limit stops the rollout, and the wave is rolled back
// at once unless OnBreakage is stop. The journal records each wave, its
// bake's start and end, and what broke, so that a rerun resumes where the
// last one stopped: a wave that passed is not touched again, a wave being
// baked goes on baking until its recorded end, without a new call.
//
// The returned error is non-nil only when a journal could not be written
// or read back; the outcome is valid whenever it is non-nil.
func Rollout(ctx context.Context, o RolloutOptions) (*Outcome, error) {
	if o.Bake <= 0 {
		o.Bake = time.Hour
	}
	if o.OnBreakage == "" {
		o.OnBreakage = OnBreakageRollback
	}
	if o.Clock == nil {
		o.Clock = WallClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := o.Plan
	if o.Run.Prior == nil {
		o.Run.Prior = newJournalState()
	}
	st := &o.Run.Prior.Rollout
	rep := &RolloutReport{Plan: p.ID(), State: RolloutCompleted}
	out := &Outcome{Live: o.Run.Live, Rollout: rep, Results: []Result{}}
	tasks := TasksFromPlan(p)
	src := o.newSourceRun(p)
	skipRest := func(from int, reason, msg string) {
		for _, w := range o.Waves[from:] {
			wr := &WaveReport{N: w.N, Stage: w.Stage, Canary: w.Canary, Instances: len(w.Items), Status: "not-started"}
			rep.Waves = append(rep.Waves, wr)
			for _, i := range w.Items {
				t := tasks[i]
				out.Results = append(out.Results, Result{Account: t.Account, Region: t.Region, InstanceID: t.InstanceID, Name: t.Name,
					Action: t.Action, Change: t.Change, Status: StatusSkipped, State: StatePlanned, Reason: reason, Message: fmt.Sprintf(msg, w.N)})
			}
		}
	}
	finish := func(err error) (*Outcome, error) {
		out.Results = append(out.Results, src.notRun(rep)...)
		planned := out.Summary.Planned
		out.Summary = summarize(out.Results)
		out.Summary.Planned = max(planned, out.Summary.Planned)
		return out, err
	}
	afterBake := 0
	for i := range p.Sources {
		if p.Sources[i].Wave == SourceWaveLast {
			afterBake++
		}
	}
	journal := func(r Record) error {
		r.Op, r.Plan, r.Waves, r.AfterBake = OpRemediate, p.ID(), len(o.Waves), afterBake
		if err := o.Run.Journal.Append(r); err != nil {
			return fmt.Errorf("stopped: %w", err)
		}
		return nil
	}
	if w := st.Stopped(); w != nil && w.Stop == "" && w.N <= len(o.Waves) {
		// The run that saw the breakage ended before its stop line: killed
		// during the wave's rollback, or before it. Finish what it started
		// (the rollback journal says which instances are restored already:
		// each is restored once), then record the stop.
		stop := OutcomeStopped
		if o.OnBreakage == OnBreakageRollback {
			o.Logger.Warn("finishing the rollback of a broken wave", "wave", w.N)
			rb, err := o.rollbackWave(ctx, p, o.Waves[w.N-1])
			rep.Rollback = rb
			if err != nil {
				rep.BakeError = "rollback: " + err.Error()
			}
			if err == nil && rb != nil && rb.OK() {
				stop = OutcomeRolledBack
			}
		}
		if err := journal(Record{Kind: KindStop, Wave: w.N, Outcome: stop}); err != nil {
			return finish(err)
		}
		w.Stop = stop
	}
	if w := st.Stopped(); w != nil {
		// A stopped rollout stays stopped: report it from the journal and
		// change nothing. Going on needs a new scan and plan.
		rep.State, rep.StoppedAt, rep.Breaking, rep.RolledBack = RolloutStopped, w.N, w.Breaking, w.Stop == OutcomeRolledBack
		for _, wv := range o.Waves {
			wr := &WaveReport{N: wv.N, Stage: wv.Stage, Canary: wv.Canary, Instances: len(wv.Items), Status: "not-started"}
			reason, msg := SkipRolloutStopped, fmt.Sprintf("the rollout stopped at wave %d on breakage; wave %d not started", w.N, wv.N)
			if ws := st.Get(wv.N); ws != nil {
				wr.BakeStart, wr.BakeUntil = ws.BakeStart, ws.BakeUntil
				switch {
				case ws.Outcome == OutcomePassed:
					wr.Status, reason, msg = "baked", SkipDoneEarlier, fmt.Sprintf("wave %d baked and passed earlier", wv.N)
				case ws.N == w.N:
					wr.Status, msg = "breakage", fmt.Sprintf("wave %d broke earlier (%s)", wv.N, w.Stop)
				}
			}
			rep.Waves = append(rep.Waves, wr)
			for _, i := range wv.Items {
				t := tasks[i]
				r := Result{Account: t.Account, Region: t.Region, InstanceID: t.InstanceID, Name: t.Name, Action: t.Action, Change: t.Change,
					Status: StatusSkipped, State: StatePlanned, Reason: reason, Message: msg}
				if e := o.Run.Prior.Get(t.key()); e != nil {
					r.State = e.StateOf()
				}
				out.Results = append(out.Results, r)
			}
		}
		return finish(nil)
	}
	for wi, w := range o.Waves {
		ws := st.Get(w.N)
		wr := &WaveReport{N: w.N, Stage: w.Stage, Canary: w.Canary, Instances: len(w.Items)}
		if ws != nil && ws.Outcome == OutcomePassed {
			wr.Status, wr.BakeStart, wr.BakeUntil = "done-earlier", ws.BakeStart, ws.BakeUntil
			rep.Waves = append(rep.Waves, wr)
			// Its source steps: the journal shows them done (no call), or
			// one that failed is tried again, as a rerun of apply did
			// before waves had source steps; the account defaults wait
			// for them.
			if err := src.run(ctx, &o.Run, out, w.N, false); err != nil {
				rep.State, out.Interrupted = RolloutInterrupted, true
				return finish(err)
			}
			for _, i := range w.Items {
				t := tasks[i]
				r := Result{Account: t.Account, Region: t.Region, InstanceID: t.InstanceID, Name: t.Name, Action: t.Action, Change: t.Change,
					Status: StatusSkipped, Reason: SkipDoneEarlier, Message: fmt.Sprintf("wave %d baked and passed earlier", w.N)}
				r.State = o.Run.Prior.Get(t.key()).StateOf()
				out.Results = append(out.Results, r)
			}
			continue
		}
		if o.UntilWave > 0 && w.N > o.UntilWave {
			rep.State = RolloutPaused
			skipRest(wi, SkipLaterWave, "wave %d comes after --until-wave")
			return finish(nil)
		}
		rep.Waves = append(rep.Waves, wr)
		log := o.Logger.With("wave", w.N, "of", len(o.Waves))
		started := o.Clock.Now()
		if ws == nil {
			log.Info("wave starting", "instances", len(w.Items), "stage", w.Stage, "canary", w.Canary)
			if err := journal(Record{Kind: KindWave, Wave: w.N, Stage: w.Stage, Instances: waveKeys(p, w)}); err != nil {
				return finish(err)
			}
		} else {
			started = ws.Started
			log.Info("wave resumed", "instances", len(w.Items), "started", started.UTC().Format(time.RFC3339))
		}
		wt := make([]Task, len(w.Items))
		for n, i := range w.Items {
			wt[n] = tasks[i]
		}
		res, err := Execute(ctx, o.Clients, wt, o.Run)
		if res != nil {
			out.Results = append(out.Results, res.Results...)
			out.Summary.Planned += res.Summary.Planned
		}
		if err != nil || res == nil || res.Interrupted {
			wr.Status, rep.State, out.Interrupted = "interrupted", RolloutInterrupted, true
			skipRest(wi+1, SkipInterrupted, "wave %d not started: the run was stopped")
			return finish(err)
		}
		if !res.OK() {
			// The wave's launch source steps wait for its instances: a
			// source changes every future launch of its workloads, and
			// only the wave's instances, changed and baked, are evidence
			// that the change is safe for them.
			wr.Status, rep.State, rep.StoppedAt = "failed", RolloutFailed, w.N
			rep.SourceStepsNotRun = src.pending(w.N)
			skipRest(wi+1, SkipRolloutStopped, "wave %d not started: a change of an earlier wave was denied or failed")
			return finish(nil)
		}
		// The instances changed and verified: the wave's launch source
		// steps, before its bake, so that the bake watches both and a
		// breakage rolls both back (a resumed run skips those the journal
		// shows done).
		if err := src.run(ctx, &o.Run, out, w.N, false); err != nil || ctx.Err() != nil {
			wr.Status, rep.State, out.Interrupted = "interrupted", RolloutInterrupted, true
			skipRest(wi+1, SkipInterrupted, "wave %d not started: the run was stopped")
			return finish(err)
		}
		var bakeStart, until time.Time
		if ws != nil && ws.BakeUntil != nil {
			bakeStart, until = *ws.BakeStart, *ws.BakeUntil
			log.Info("bake resumed", "until", until.UTC().Format(time.RFC3339))
		} else {
			bakeStart = o.Clock.Now()
			until = bakeStart.Add(o.Bake)
			log.Info("baking", "until", until.UTC().Format(time.RFC3339), "bake", o.Bake)
			if err := journal(Record{Kind: KindBake, Wave: w.N, BakeUntil: &until}); err != nil {
				return finish(err)
			}
		}
		wr.BakeStart, wr.BakeUntil = &bakeStart, &until
		// The bake must see every instance whose change stands: one that
		// publishes nothing cannot be said to be fine.
		watched := map[Key]bool{}
		for _, r := range res.Results {
			if r.State.Done() {
				watched[Key{OpRemediate, r.Account, r.Region, r.InstanceID}] = true
			}
		}
		read, err := o.bake(ctx, p, w, watched, started, bakeStart, until)
		if ctx.Err() != nil {
			wr.Status, rep.State, out.Interrupted = "interrupted", RolloutInterrupted, true
			skipRest(wi+1, SkipInterrupted, "wave %d not started: the run was stopped during a bake")
			return finish(nil)
		}
		if err != nil {
			wr.Status, rep.State, rep.BakeError, out.Interrupted = "interrupted", RolloutInterrupted, err.Error(), true
			skipRest(wi+1, SkipInterrupted, "wave %d not started: the bake before it could not read its metrics")
			return finish(nil)
		}
		broken := read.broken
		if len(broken) == 0 && len(read.noData) > 0 {
			wr.Status, rep.State, rep.StoppedAt, rep.NoData = "no-data", RolloutHeld, w.N, read.noData
			log.Warn("no bake data: holding the rollout", "instances", len(read.noData))
			if err := journal(Record{Kind: KindBaked, Wave: w.N, Outcome: OutcomeNoData, NoData: read.noData}); err != nil {
				return finish(err)
			}
			skipRest(wi+1, SkipRolloutHeld, "wave %d not started: the bake before it saw no data for some instances")
			return finish(nil)
		}
		if len(broken) == 0 {
			wr.Status = "baked"
			log.Info("bake passed")
			if err := journal(Record{Kind: KindBaked, Wave: w.N, Outcome: OutcomePassed}); err != nil {
				return finish(err)
			}
			if o.UntilWave > 0 && w.N == o.UntilWave && wi+1 < len(o.Waves) {
				rep.State = RolloutPaused
				skipRest(wi+1, SkipLaterWave, "wave %d comes after --until-wave")
				return finish(nil)
			}
			continue
		}
		wr.Status, rep.State, rep.StoppedAt, rep.Breaking = "breakage", RolloutStopped, w.N, broken
		log.Error("breakage: stopping the rollout", "instances", len(broken))
		if err := journal(Record{Kind: KindBaked, Wave: w.N, Outcome: OutcomeBreakage, Breaking: broken}); err != nil {
			return finish(err)
		}
		stop := OutcomeStopped
		if o.OnBreakage == OnBreakageRollback {
			rb, err := o.rollbackWave(ctx, p, w)
			rep.Rollback = rb
			if err != nil {
				rep.BakeError = "rollback: " + err.Error()
			}
			if err == nil && rb != nil && rb.OK() {
				stop, rep.RolledBack = OutcomeRolledBack, true
			}
		}
		if err := journal(Record{Kind: KindStop, Wave: w.N, Outcome: stop}); err != nil {
			return finish(err)
		}
		skipRest(wi+1, SkipRolloutStopped, "wave %d not started: an earlier wave broke")
		return finish(nil)
	}
	// Every wave passed: the steps that wait for that (account defaults).
	if err := src.run(ctx, &o.Run, out, len(o.Waves), true); err != nil || ctx.Err() != nil {
		rep.State, out.Interrupted = RolloutInterrupted, true
		return finish(err)
	}
	if afterBake > 0 {
		// Done, skipped or failed, each step's own lines (or none, for a
		// skip) say; this line says the run got through them.
		if err := journal(Record{Kind: KindFinished, Wave: len(o.Waves)}); err != nil {
			return finish(err)
		}
	}
	if src.failed > 0 {
		rep.State, rep.SourceStepsFailed = RolloutCompletedWithFailures, src.failed
	}
	return finish(nil)
}

// bake waits until until, reading the wave's signals every [BakePeriod]
// (and once at the end), and returns the instances that broke as soon as
// any does. The watched instances without any datapoint since bakeStart
// are judged at the end only (CloudWatch publishes a period after it
// ends): the last read's noData.
func (o *RolloutOptions) bake(ctx context.Context, p *Plan, w Wave, watched map[Key]bool, from, bakeStart, until time.Time) (*bakeRead, error) {
	keys := make([]Key, len(w.Items))
	names := map[Key]string{}
	for n, i := range w.Items {
		it := &p.Changes[i]
		keys[n] = Key{OpRemediate, it.Account, it.Region, it.InstanceID}
		names[keys[n]] = it.Name
	}
	for {
		now := o.Clock.Now()
		if now.Before(until) {
			if err := o.Clock.Sleep(ctx, min(BakePeriod, until.Sub(now))); err != nil {
				return nil, err
			}
			now = o.Clock.Now()
		}
		read, err := readSignals(ctx, o.Metrics, keys, names, watched, from, bakeStart, now, o.MaxRejected)
		if err != nil {
			return nil, err
		}
		if len(read.broken) > 0 {
			read.noData = nil
			return read, nil
		}
		if !now.Before(until) {
			return read, nil
		}
	}
}

// rollbackWave restores the wave's instances from the journal, journaled
// in the rollback journal like `imdsfleet rollback`, and points the users
// of its launch source steps back (with those of earlier waves' steps
// that launch one of its workloads).
func (o *RolloutOptions) rollbackWave(ctx context.Context, p *Plan, w Wave) (*Outcome, error) {
	st, _, err := ReadJournal(o.JournalPath)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, k := range waveKeys(p, w) {
		in[k] = true
	}
	var tasks []Task
	for _, it := range RollbackTasks(st, false) {
		t := it.Task
		if !in[InstanceRef(t.Account, t.Region, t.InstanceID)] || it.Reason != "" {
			continue
		}
		tasks = append(tasks, t)
	}
	// The wave's launch source steps, as `imdsfleet rollback` undoes them:
	// only where imdsfleet's value is still in place; versions stay. A
	// step of an earlier wave that also launches one of this wave's
	// workloads (a template shared by workloads of several waves) goes
	// back too: left in place, it would launch the broken workload's
	// replacements with the very change that broke it.
	inWave := map[string]bool{}
	for _, i := range w.Items {
		if wl := p.Changes[i].Workload; wl != "" {
			inWave[wl] = true
		}
	}
	steps := map[string]bool{}
	waveOf := SourceWaves(p, o.Waves)
	for i := range p.Sources {
		it := &p.Sources[i]
		if it.Wave == SourceWaveLast || waveOf[i] > w.N {
			continue
		}
		if waveOf[i] == w.N || slices.ContainsFunc(it.Workloads, func(wl string) bool { return inWave[wl] }) {
			steps[it.Account+"/"+it.Region+"/"+it.ID] = true
		}
	}
	var sitems []SourceRollbackItem
	for _, it := range SourceRollbackItems(st) {
		if steps[it.Account+"/"+it.Region+"/"+it.ID] {
			sitems = append(sitems, it)
		}
	}
	if len(tasks) == 0 && len(sitems) == 0 {
		return &Outcome{Live: true, Summary: Summary{Skipped: map[string]int{}}, Results: []Result{}}, nil
	}
	ro, closeFn, err := o.OpenRollback(st.LastSeq)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ro.Prior.ForgetRedone(st)
	ro.Prior.ForgetSourcesRedone(st)
	o.Logger.Warn("rolling the wave back", "wave", w.N, "instances", len(tasks), "source_steps", len(sitems))
	// The rollback runs even if the run is being stopped: a broken wave
	// left half restored is worse than a rollback that finishes. The
	// sources go back first, so that no replacement launched meanwhile
	// gets the wave's version.
	rctx := context.WithoutCancel(ctx)
	var srcRes []Result
	if len(sitems) > 0 {
		srcRes, err = ExecuteSourceRollback(rctx, o.Sources, sitems, false, sourceRunOptions(ro, w.N))
		if err != nil {
			return nil, err
		}
	}
	out := &Outcome{Live: true, Summary: Summary{Skipped: map[string]int{}}, Results: []Result{}}
	if len(tasks) > 0 {
		if out, err = Execute(rctx, o.Clients, tasks, ro); out == nil || err != nil {
			return out, err
		}
	}
	out.AddSources(srcRes)
	return out, nil
}

// StageNames lists the waves for a human ("1 (canary, 3)", …).
func StageNames(waves []Wave) string {
	var parts []string
	for _, w := range waves {
		s := fmt.Sprintf("%d: %d", w.N, len(w.Items))
		if w.Canary {
			s += " canary"
		}
		if w.Stage != "" {
			s += " " + w.Stage
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
