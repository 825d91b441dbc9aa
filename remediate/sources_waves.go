package remediate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// This file places a plan's launch source steps in the waves of a rollout
// (`imdsfleet apply --waves/--wave-by`). A source decides what every
// future launch of its workloads gets, so it is fixed in the wave that
// first enforces IMDSv2 on one of those workloads' instances (the canary
// wave, when --waves starts with a count), once that wave's instances are
// changed and verified and before its bake: the instances are the canary
// of the source; if one of them failed or was denied, the wave's source
// steps wait for a rerun; a breakage in that wave rolls both back. The plan file records the rule ([SourceItem.Wave]); apply turns it
// into a wave number with its flags ([SourceWaves]), since the plan does
// not know the waves.

// Wave rules of a source step ([SourceItem.Wave]).
const (
	// SourceWaveWorkloads: the first wave holding a planned change of one
	// of the step's workloads, after that wave's instances.
	SourceWaveWorkloads = "with-workloads"
	// SourceWaveFirst: wave 1, after its instances; the steps whose
	// workloads have no planned change (a group whose instances are all
	// fixed already, or none running).
	SourceWaveFirst = "first"
	// SourceWaveLast: after the last wave's bake passed; the account
	// defaults, which change every future launch in the account and
	// Region that sets no metadata options.
	SourceWaveLast = "last"
)

// assignSourceWaves sets each source step's wave rule from the plan's
// changes: a step that points users at a new version follows its create
// step.
func assignSourceWaves(p *Plan) {
	planned := map[string]bool{}
	for _, it := range p.Changes {
		if it.Workload != "" {
			planned[it.Workload] = true
		}
	}
	rule := map[string]string{}
	for i := range p.Sources {
		it := &p.Sources[i]
		switch {
		case it.Action == ActionSetAccountDefaults:
			it.Wave = SourceWaveLast
		case it.After != "" && rule[it.Account+"/"+it.Region+"/"+it.After] != "":
			it.Wave = rule[it.Account+"/"+it.Region+"/"+it.After]
		case slices.ContainsFunc(it.Workloads, func(w string) bool { return planned[w] }):
			it.Wave = SourceWaveWorkloads
		default:
			it.Wave = SourceWaveFirst
		}
		rule[it.Account+"/"+it.Region+"/"+it.ID] = it.Wave
	}
}

// SourcesWithoutWaves reports whether the plan's source steps carry no
// wave rule: a plan written before source steps were part of the waves.
// Apply runs them all in wave 1, after its instances.
func (p *Plan) SourcesWithoutWaves() bool {
	return len(p.Sources) > 0 && slices.ContainsFunc(p.Sources, func(it SourceItem) bool { return it.Wave == "" })
}

// SourceWaves gives the wave of each of the plan's source steps (by index
// into p.Sources) in waves: for a SourceWaveWorkloads step the first wave
// holding a change of one of its workloads, else 1; for SourceWaveLast the
// last wave (the step runs after its bake); steps without a rule (an
// older plan) wave 1. Without waves (a plan of sources only) every step
// is in wave 0: they run at once.
func SourceWaves(p *Plan, waves []Wave) []int {
	out := make([]int, len(p.Sources))
	if len(waves) == 0 {
		return out
	}
	first := map[string]int{} // workload → the first wave holding one of its changes
	for _, w := range waves {
		for _, i := range w.Items {
			if wl := p.Changes[i].Workload; wl != "" {
				if n, ok := first[wl]; !ok || w.N < n {
					first[wl] = w.N
				}
			}
		}
	}
	byID := map[string]int{}
	for i := range p.Sources {
		it := &p.Sources[i]
		n := 1
		switch it.Wave {
		case SourceWaveLast:
			n = len(waves)
		case SourceWaveWorkloads:
			n = minWave(it.Workloads, first)
		}
		// A step that points users at a new version runs in its create
		// step's wave: the version must exist.
		if it.After != "" {
			if m, ok := byID[it.Account+"/"+it.Region+"/"+it.After]; ok {
				n = m
			}
		}
		out[i] = n
		byID[it.Account+"/"+it.Region+"/"+it.ID] = n
	}
	return out
}

// minWave is the first wave holding a change of one of the workloads, or 1.
func minWave(workloads []string, first map[string]int) int {
	n := 0
	for _, wl := range workloads {
		if m, ok := first[wl]; ok && (n == 0 || m < n) {
			n = m
		}
	}
	return max(n, 1)
}

// checkSourceWave refuses a wave rule imdsfleet never writes.
func checkSourceWave(it *SourceItem) error {
	id, wave := report.SanitizeCell(it.ID, 60), report.SanitizeCell(it.Wave, 40)
	switch it.Wave {
	case "", SourceWaveWorkloads, SourceWaveFirst:
		if it.Wave != "" && it.Action == ActionSetAccountDefaults {
			return fmt.Errorf("source step %s: account defaults go in wave %q, not %q", id, SourceWaveLast, wave)
		}
		return nil
	case SourceWaveLast:
		if it.Action != ActionSetAccountDefaults {
			return fmt.Errorf("source step %s: only account defaults go in wave %q", id, SourceWaveLast)
		}
		return nil
	}
	return fmt.Errorf("source step %s: wave %q: want %s, %s or %s", id, wave, SourceWaveWorkloads, SourceWaveFirst, SourceWaveLast)
}

// sourceRunOptions are the source step options of a run's options.
func sourceRunOptions(ro RunOptions, wave int) SourceRunOptions {
	return SourceRunOptions{Live: ro.Live, Journal: ro.Journal, Prior: ro.Prior, WaitTimeout: ro.WaitTimeout, PollInterval: ro.PollInterval,
		Concurrency: ro.Concurrency, Logger: ro.Logger, Now: ro.Now, Wave: wave}
}

// sourceRun runs a rollout's launch source steps wave by wave.
type sourceRun struct {
	o    *RolloutOptions
	p    *Plan
	wave []int  // each step's wave
	ran  []bool // each step's result is in the outcome
	// held are the (account, Region)s where a step did not succeed: their
	// account defaults wait.
	held map[[2]string]bool
	// failed counts the steps of this run that failed or were denied.
	failed int
}

func (o *RolloutOptions) newSourceRun(p *Plan) *sourceRun {
	return &sourceRun{o: o, p: p, wave: SourceWaves(p, o.Waves), ran: make([]bool, len(p.Sources)), held: map[[2]string]bool{}}
}

// run carries out wave n's source steps not run yet: those that run
// after its instances, or (after) those that wait for its bake, and
// appends their results to out. The error is non-nil only when the
// journal could not be written.
func (s *sourceRun) run(ctx context.Context, ro *RunOptions, out *Outcome, n int, after bool) error {
	var idx []int
	for i := range s.p.Sources {
		if !s.ran[i] && s.wave[i] == n && (s.p.Sources[i].Wave == SourceWaveLast) == after {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	if s.o.Sources == nil {
		return errors.New("rollout: the plan has launch source steps and no clients for them")
	}
	items := make([]SourceItem, len(idx))
	for k, i := range idx {
		items[k] = s.p.Sources[i]
		s.ran[i] = true
	}
	so := sourceRunOptions(*ro, n)
	so.Held = maps.Clone(s.held)
	so.OnHeld = func(account, region string) { s.held[[2]string{account, region}] = true }
	s.o.Logger.Info("launch source steps", "wave", n, "steps", len(items), "after_bake", after)
	res, err := ExecuteSources(ctx, s.o.Sources, items, so)
	for _, r := range res {
		if r.Status == StatusFailed || r.Status == StatusDenied {
			s.failed++
		}
	}
	out.Results = append(out.Results, res...)
	return err
}

// pending counts wave n's source steps (not those after its bake) that
// this run did not run.
func (s *sourceRun) pending(n int) int {
	c := 0
	for i := range s.p.Sources {
		if !s.ran[i] && s.wave[i] == n && s.p.Sources[i].Wave != SourceWaveLast {
			c++
		}
	}
	return c
}

// notRun is a skipped result for each step the rollout did not reach,
// with the reason its state gives.
func (s *sourceRun) notRun(rep *RolloutReport) []Result {
	var out []Result
	for i := range s.p.Sources {
		if s.ran[i] {
			continue
		}
		it := &s.p.Sources[i]
		n := s.wave[i]
		r := Result{Account: it.Account, Region: it.Region, InstanceID: it.ID, Name: it.TemplateName, Action: it.Action, Change: it.Change,
			Status: StatusSkipped, State: StatePlanned}
		when := fmt.Sprintf("wave %d", n)
		if it.Wave == SourceWaveLast {
			when = fmt.Sprintf("after wave %d's bake", n)
		}
		switch rep.State {
		case RolloutPaused:
			r.Reason, r.Message = SkipLaterWave, fmt.Sprintf("runs %s, after --until-wave", when)
		case RolloutHeld:
			r.Reason, r.Message = SkipRolloutHeld, fmt.Sprintf("runs %s: the rollout is held at wave %d", when, rep.StoppedAt)
		case RolloutFailed:
			r.Reason, r.Message = SkipRolloutStopped, fmt.Sprintf("runs %s: the rollout stopped at wave %d", when, rep.StoppedAt)
			if n == rep.StoppedAt && it.Wave != SourceWaveLast {
				r.Message = fmt.Sprintf("runs %s, after its instance changes: they did not all apply; re-run apply once they can", when)
			}
		case RolloutStopped:
			r.Reason, r.Message = SkipRolloutStopped, fmt.Sprintf("runs %s: the rollout stopped at wave %d", when, rep.StoppedAt)
		default:
			r.Reason, r.Message = SkipInterrupted, fmt.Sprintf("runs %s: the run was stopped before it", when)
		}
		if e := s.o.Run.Prior.Get(Key{OpRemediateSource, it.Account, it.Region, it.ID}); e != nil {
			r.State = e.StateOf()
			switch {
			case e.Done != nil && rep.State == RolloutStopped && n <= rep.StoppedAt && it.Wave != SourceWaveLast:
				// The broken wave's rollback undoes its steps and those of
				// earlier waves that launch its workloads.
				r.Reason, r.Message = SkipRolloutStopped, fmt.Sprintf("%s; wave %d broke earlier; its rollback (the rollback journal, imdsfleet status) says whether this step was undone", when, rep.StoppedAt)
			case e.Done != nil:
				r.Reason, r.Message = SkipDoneEarlier, fmt.Sprintf("%s; the journal shows it done at %s", when, e.Done.Time.Format(time.RFC3339))
			}
		}
		out = append(out, r)
	}
	return out
}
