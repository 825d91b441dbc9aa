package remediate

import "fmt"

// Action is what a plan item does to an instance ([ActionEnforce],
// [ActionRaiseHopLimit], [ActionRollback]).
type Action string

// Status is how one task of a run ended ([StatusChanged],
// [StatusWouldChange], [StatusDenied], [StatusSkipped], [StatusFailed]).
type Status string

// State is where one change of one instance stands. Every change goes
// through the same machine, whoever looks at it: the executor moves a
// result along it, the journal's lines record its steps (an intent is
// sent, an ok result applied, an applied verify line verified, a rollback
// result rolled back), and the outputs and `imdsfleet status` show it.
//
//	planned ──► sent ──► applied ──► verified ──► rolled-back
//	   │          │         │                        ▲
//	   │          └► failed ◄┘ (not applied in time) │
//	   └► skipped                  applied/failed ───┘
//
// A failed change may be sent again (a resumed run re-reads the instance),
// and a rolled-back change may be planned again by a later run.
type State string

// The states of a change.
const (
	StatePlanned    State = "planned"     // in the plan; nothing sent (a dry run ends here)
	StateSent       State = "sent"        // the intent is journaled and the call is on its way
	StateApplied    State = "applied"     // AWS accepted the change
	StateFailed     State = "failed"      // denied, failed, or never seen applied
	StateSkipped    State = "skipped"     // not attempted; the reason says why
	StateVerified   State = "verified"    // DescribeInstances shows the change applied
	StateRolledBack State = "rolled-back" // a rollback restored the previous values
)

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	"":              {StatePlanned},
	StatePlanned:    {StateSent, StateSkipped, StateFailed, StateApplied},
	StateSent:       {StateApplied, StateFailed, StateSkipped},
	StateApplied:    {StateVerified, StateFailed, StateRolledBack},
	StateFailed:     {StateSent, StateApplied, StateRolledBack},
	StateSkipped:    {StatePlanned},
	StateVerified:   {StateRolledBack},
	StateRolledBack: {StatePlanned},
}

// CanBecome reports whether a change in state s may move to t.
func (s State) CanBecome(t State) bool {
	for _, n := range transitions[s] {
		if n == t {
			return true
		}
	}
	return false
}

// Done reports whether the change stands (applied or verified).
func (s State) Done() bool { return s == StateApplied || s == StateVerified }

// errTransition names a move the state machine does not allow: a bug.
func errTransition(id string, from, to State) error {
	return fmt.Errorf("%s: a change cannot go from %q to %q", id, from, to)
}

// StateOf returns the state a journal entry shows for its instance's
// change: the last step its lines record.
func (e *Entry) StateOf() State {
	switch {
	case e == nil:
		return ""
	case e.Undone != nil:
		return StateRolledBack
	case e.Unsettled != nil && e.Unsettled.Kind == KindIntent:
		return StateSent
	case e.Unsettled != nil:
		return StateFailed
	case e.Done != nil && e.DoneVerified:
		return StateVerified
	case e.Done != nil && e.Verify != nil && e.Verify.Outcome == OutcomeNotApplied:
		return StateFailed
	case e.Done != nil:
		return StateApplied
	}
	return StatePlanned
}
