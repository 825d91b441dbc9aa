package remediate

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rollout status states, as `imdsfleet status` shows them.
const (
	StatusNotStarted = "not-started" // the journal holds no rollout line
	StatusApplying   = "applying"    // a wave started; its bake has not
	StatusBaking     = "baking"      // a wave is baking until BakingUntil
	StatusBakeOver   = "bake-over"   // the bake time is over: run apply again to read it and go on
	StatusPaused     = "paused"      // a wave passed and the next has not started
	StatusCompleted  = "completed"   // every wave passed
	// StatusCompletedWithFailures: every wave passed and some launch
	// source steps failed or were denied, or were sent with no result
	// journaled: run apply again to settle and retry them.
	StatusCompletedWithFailures = "completed-with-failures"
	StatusStopped               = "stopped" // a wave broke
	StatusHeld                  = "held"    // a wave's bake saw no data for some instances: run apply again once they publish
)

// RolloutStatus is where a rollout stands according to its journal.
type RolloutStatus struct {
	Journal string `json:"journal"`
	Plan    string `json:"plan,omitempty"`
	State   string `json:"state"`
	// Waves is the rollout's number of waves, WavesPassed those baked
	// without breakage.
	Waves       int `json:"waves"`
	WavesPassed int `json:"wavesPassed"`
	// Wave is the wave in progress, or the one that stopped the rollout.
	Wave int `json:"wave,omitempty"`
	// NextWave is the wave the next apply run works on: the wave being
	// applied, baked or held (no bake data), else the one after the last that passed (0: none
	// left, or stopped). A scheduled job passes it as --until-wave to
	// advance one wave per run.
	NextWave    int        `json:"nextWave"`
	BakingUntil *time.Time `json:"bakingUntil,omitempty"`
	Breaking    []Breakage `json:"breaking,omitempty"`
	// NoData lists the instances a held wave's bake saw no datapoint of.
	NoData []NoBakeData `json:"noData,omitempty"`
	// StoppedHow is OutcomeRolledBack or OutcomeStopped for a stopped rollout.
	StoppedHow string        `json:"stoppedHow,omitempty"`
	Changes    map[State]int `json:"changes"`
	WaveList   []WaveStatus  `json:"waveList"`
	// Sources are the launch source steps the journal holds, in the order
	// they were first journaled; SourceChanges counts them by SourceState.
	Sources       []SourceStepStatus `json:"sources,omitempty"`
	SourceChanges map[string]int     `json:"sourceChanges,omitempty"`
	// SourceStepsFailed counts the failed launch source steps of a
	// completed-with-failures rollout.
	SourceStepsFailed int `json:"sourceStepsFailed,omitempty"`
	// SourceStepsPending counts the launch source steps of a rollout whose
	// waves all passed that were sent with no result journaled (its run
	// was killed during the call): a rerun of apply settles them.
	SourceStepsPending int `json:"sourceStepsPending,omitempty"`
	// SourceStepsNotRun counts the launch source steps that wait for the
	// last wave's bake (account defaults) and have no journal line: the
	// run ended after that bake passed and before them. The state is then
	// applying: a rerun of apply runs them.
	SourceStepsNotRun int            `json:"sourceStepsNotRun,omitempty"`
	Journals          map[string]int `json:"journalLines"`
}

// Launch source step states, as `imdsfleet status` shows them.
const (
	SourceDone       = "done"        // the change stands (applied or verified)
	SourceFailed     = "failed"      // denied or failed; a rerun tries it again
	SourceRolledBack = "rolled-back" // a rollback restored what it replaced
	SourcePending    = "pending"     // its intent is journaled and no result yet: the call may or may not have reached AWS
)

// SourceStepStatus is one launch source step in a [RolloutStatus].
type SourceStepStatus struct {
	// Wave is the wave the step belongs to (0: run before the waves).
	Wave    int    `json:"wave,omitempty"`
	Account string `json:"account"`
	Region  string `json:"region"`
	ID      string `json:"id"`
	Action  Action `json:"action"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// sourceState maps a source step's journal entry to its status state.
func sourceState(e *Entry) (state, msg string, r *Record) {
	switch s := e.StateOf(); {
	case s == StateRolledBack:
		return SourceRolledBack, "", e.Undone
	case s.Done():
		return SourceDone, "", e.Done
	case s == StateSent:
		return SourcePending, "sent; no result journaled (a rerun reads the current state and records it without a second call if it took effect)", e.Unsettled
	default:
		r := e.Unsettled
		if r == nil {
			r = e.LastError
		}
		if r != nil && r.Code != "" {
			return SourceFailed, r.Code + ": " + r.Message, r
		}
		if r != nil {
			return SourceFailed, r.Message, r
		}
		return SourceFailed, "", nil
	}
}

// WaveStatus is one wave in a [RolloutStatus].
type WaveStatus struct {
	WaveState
	// Changes counts the wave's instances by the state of their change.
	Changes map[State]int `json:"changes"`
}

// StatusOf reads where a rollout stands from its journal's state and its
// rollback journal's (nil if none), at now.
func StatusOf(path string, st, rb *JournalState, now time.Time) *RolloutStatus {
	st.ForgetRolledBack(rb)
	st.ForgetSourcesRolledBack(rb)
	r := &st.Rollout
	out := &RolloutStatus{Journal: path, Plan: r.Plan, Waves: r.Waves, Changes: map[State]int{}, WaveList: []WaveStatus{},
		Journals: map[string]int{OpRemediate: st.Records}}
	if rb != nil {
		out.Journals[OpRollback] = rb.Records
	}
	for _, k := range st.Order {
		switch k.Op {
		case OpRemediate:
			out.Changes[st.Entries[k].StateOf()]++
		case OpRemediateSource:
			e := st.Entries[k]
			state, msg, rec := sourceState(e)
			ss := SourceStepStatus{Account: k.Account, Region: k.Region, ID: k.InstanceID, State: state, Message: msg}
			// The step's own line (a rolled-back step's Done is cleared:
			// its last change still names it).
			if n := len(e.Changes); n > 0 {
				rec = e.Changes[n-1]
			}
			for _, l := range []*Record{rec, e.Unsettled, e.LastError} {
				if l != nil && l.Op == OpRemediateSource && l.Source != nil {
					ss.Wave, ss.Action = l.Wave, l.Source.Action
					break
				}
			}
			if out.SourceChanges == nil {
				out.SourceChanges = map[string]int{}
			}
			out.SourceChanges[state]++
			out.Sources = append(out.Sources, ss)
		}
	}
	if len(r.Wave) == 0 {
		out.State, out.NextWave = StatusNotStarted, 1
		return out
	}
	for _, w := range r.Wave {
		ws := WaveStatus{WaveState: *w, Changes: map[State]int{}}
		for _, ref := range w.Instances {
			parts := strings.SplitN(ref, "/", 3)
			if len(parts) != 3 {
				continue
			}
			ws.Changes[st.Get(Key{OpRemediate, parts[0], parts[1], parts[2]}).StateOf()]++
		}
		out.WaveList = append(out.WaveList, ws)
		if w.Outcome == OutcomePassed {
			out.WavesPassed++
		}
	}
	last := r.Wave[len(r.Wave)-1]
	out.Wave = last.N
	switch {
	case r.Stopped() != nil:
		w := r.Stopped()
		out.State, out.Wave, out.Breaking, out.StoppedHow = StatusStopped, w.N, w.Breaking, w.Stop
	case last.Outcome == OutcomePassed && last.N >= r.Waves:
		out.State = StatusCompleted
		// The steps that wait for the last bake (account defaults), when
		// no run got through them (no finished line): the run ended
		// before them or during them. A skipped step has no line of its
		// own, so only the finished line says it was handled.
		if r.AfterBake > 0 && !r.Finished {
			out.SourceStepsNotRun = max(1, r.AfterBake-afterBakeSeen(out.Sources))
		}
		// A step sent with no result (killed during the call) is not
		// done either: only a rerun of apply says whether it took effect.
		if n, m := out.SourceChanges[SourceFailed], out.SourceChanges[SourcePending]; n+m > 0 {
			out.State, out.SourceStepsFailed, out.SourceStepsPending = StatusCompletedWithFailures, n, m
		} else if out.SourceStepsNotRun > 0 {
			out.State = StatusApplying
		}
	case last.Outcome == OutcomePassed:
		out.State, out.NextWave = StatusPaused, last.N+1
	case last.Outcome == OutcomeNoData:
		out.State, out.NextWave, out.NoData, out.BakingUntil = StatusHeld, last.N, last.NoData, last.BakeUntil
	case last.BakeUntil != nil:
		out.State, out.BakingUntil, out.NextWave = StatusBaking, last.BakeUntil, last.N
		if !now.Before(*last.BakeUntil) {
			out.State = StatusBakeOver
		}
	default:
		out.State, out.NextWave = StatusApplying, last.N
	}
	return out
}

// WriteStatusJSON writes s as indented JSON.
func WriteStatusJSON(w io.Writer, s *RolloutStatus) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// WriteStatusTable writes s for a terminal.
func WriteStatusTable(w io.Writer, s *RolloutStatus) error {
	var t textTable
	head := fmt.Sprintf("ROLLOUT %s: %s", text(s.Journal), strings.ToUpper(s.State))
	if s.Plan != "" {
		head += fmt.Sprintf(" (plan %s, %d of %d wave(s) passed)", cell(s.Plan), s.WavesPassed, s.Waves)
	}
	t.line(head)
	switch s.State {
	case StatusBaking:
		t.line(fmt.Sprintf("wave %d is baking until %s", s.Wave, s.BakingUntil.UTC().Format(time.RFC3339)))
	case StatusBakeOver:
		t.line(fmt.Sprintf("wave %d's bake ended at %s: run apply again to read it and go on", s.Wave, s.BakingUntil.UTC().Format(time.RFC3339)))
	case StatusPaused, StatusNotStarted:
		if s.NextWave > 0 {
			t.line(fmt.Sprintf("next: wave %d (apply --until-wave %d)", s.NextWave, s.NextWave))
		}
	case StatusApplying:
		if s.SourceStepsNotRun > 0 {
			t.line(fmt.Sprintf("every wave passed; %d launch source step(s) that wait for the last bake (account defaults) have not run yet (the run ended before them): run apply again to run them", s.SourceStepsNotRun))
			break
		}
		t.line(fmt.Sprintf("wave %d is being applied (or its run was stopped): run apply again to resume it", s.Wave))
	case StatusStopped:
		if s.StoppedHow == "" {
			t.line(fmt.Sprintf("stopped at wave %d by breakage; its run ended before it finished (a rollback cut short?): run the same apply again to finish it", s.Wave))
		} else {
			t.line(fmt.Sprintf("stopped at wave %d by breakage (%s)", s.Wave, s.StoppedHow))
		}
	case StatusCompletedWithFailures:
		var what []string
		if s.SourceStepsFailed > 0 {
			what = append(what, fmt.Sprintf("%d launch source step(s) failed", s.SourceStepsFailed))
		}
		if s.SourceStepsPending > 0 {
			what = append(what, fmt.Sprintf("%d launch source step(s) were sent with no result (the run was stopped during the call)", s.SourceStepsPending))
		}
		t.line(fmt.Sprintf("every wave passed, but %s: re-run apply (same journal) to settle and retry them", strings.Join(what, " and ")))
	case StatusHeld:
		t.line(fmt.Sprintf("held at wave %d: its bake read no CloudWatch data for %d instance(s); run apply again once they publish metrics (apply --until-wave %d)", s.Wave, len(s.NoData), s.Wave))
	}
	if len(s.WaveList) > 0 {
		t.row("WAVE", "STAGE", "INSTANCES", "STARTED", "BAKE UNTIL", "OUTCOME", "CHANGES")
		for _, w := range s.WaveList {
			until := "-"
			if w.BakeUntil != nil {
				until = w.BakeUntil.UTC().Format(time.RFC3339)
			}
			t.row(strconv.Itoa(w.N), cell(dash(w.Stage)), strconv.Itoa(len(w.Instances)), w.Started.UTC().Format(time.RFC3339), until,
				cell(dash(strings.TrimSpace(w.Outcome+" "+w.Stop))), countsText(w.Changes))
		}
		t.end()
	}
	t.line("changes: " + countsText(s.Changes))
	if len(s.Sources) > 0 {
		writeSourceSteps(&t, s)
	}
	if len(s.Breaking) > 0 {
		writeBreaking(&t, s.Wave, s.Breaking)
	}
	if len(s.NoData) > 0 {
		writeNoData(&t, s.Wave, s.NoData)
	}
	if err := t.flush(w); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

func countsText(m map[State]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := string(k)
		if name == "" {
			name = "not-journaled"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

// writeSourceSteps lists the launch source steps of a status, by wave.
func writeSourceSteps(t *textTable, s *RolloutStatus) {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.SourceChanges)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.SourceChanges[k]))
	}
	t.line("launch source steps: " + strings.Join(parts, ", "))
	t.row("WAVE", "ACCOUNT", "REGION", "STEP", "ACTION", "STATE", "MESSAGE")
	steps := slices.Clone(s.Sources)
	slices.SortStableFunc(steps, func(a, b SourceStepStatus) int { return a.Wave - b.Wave })
	for _, st := range steps {
		wave := "-"
		if st.Wave > 0 {
			wave = strconv.Itoa(st.Wave)
		}
		t.row(wave, cell(st.Account), cell(st.Region), cell(st.ID), cell(string(st.Action)), st.State, cell(dash(st.Message)))
	}
	t.end()
}

// afterBakeSeen counts the journaled launch source steps that wait for the
// last bake (account defaults).
func afterBakeSeen(steps []SourceStepStatus) int {
	n := 0
	for _, s := range steps {
		if s.Action == ActionSetAccountDefaults {
			n++
		}
	}
	return n
}
