package remediate

import (
	"github.com/imdsfleet/imdsfleet/report"
)

// Result statuses.
const (
	StatusChanged     Status = "changed"      // live: the change was made (and verified unless Message says otherwise)
	StatusWouldChange Status = "would-change" // dry run: AWS answered DryRunOperation
	StatusDenied      Status = "denied"       // UnauthorizedOperation
	StatusSkipped     Status = "skipped"      // not attempted; Reason says why
	StatusFailed      Status = "failed"       // the call failed, or the change was never seen applied
)

// ReasonNotApplied is the Reason of a failed result whose call succeeded
// but whose change DescribeInstances never showed applied in time.
const ReasonNotApplied = "not-applied"

// Result is what happened to one instance.
type Result struct {
	Account    string `json:"account"`
	Region     string `json:"region"`
	InstanceID string `json:"instanceId"`
	Name       string `json:"name,omitempty"`
	Action     Action `json:"action"`
	Change     Change `json:"change,omitzero"`
	Status     Status `json:"status"`
	// State is where the change stands in [State]'s machine.
	State State `json:"state,omitempty"`
	// Reason is the skip reason, or ReasonNotApplied.
	Reason string `json:"reason,omitempty"`
	// Code is the AWS error code of a failed or denied call.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Previous are the options read just before the change.
	Previous *report.MetadataOptions `json:"previous,omitempty"`
	// Verified are the options DescribeInstances showed after it.
	Verified *report.MetadataOptions `json:"verified,omitempty"`
	// Source is a launch source step's change (InstanceID is then the
	// step's ID): the new version, the state it replaced.
	Source *SourceRecord `json:"source,omitempty"`
}

// Summary counts results.
type Summary struct {
	Planned     int            `json:"planned"`
	Changed     int            `json:"changed"`
	WouldChange int            `json:"wouldChange"`
	Denied      int            `json:"denied"`
	Failed      int            `json:"failed"`
	Skipped     map[string]int `json:"skipped"`
}

// Outcome is the result of [Execute].
type Outcome struct {
	Live        bool     `json:"live"`
	Interrupted bool     `json:"interrupted"`
	Summary     Summary  `json:"summary"`
	Results     []Result `json:"results"`
	// Rollout says what happened wave by wave (apply with waves).
	Rollout *RolloutReport `json:"rollout,omitempty"`
}

// OK reports whether every task succeeded (or would, in a dry run): no
// denial, no failure, no interruption. Skips do not count against it.
func (o *Outcome) OK() bool {
	return o.Summary.Denied == 0 && o.Summary.Failed == 0 && !o.Interrupted
}

func summarize(rs []Result) Summary {
	s := Summary{Planned: len(rs), Skipped: map[string]int{}}
	for _, r := range rs {
		switch r.Status {
		case StatusChanged:
			s.Changed++
		case StatusWouldChange:
			s.WouldChange++
		case StatusDenied:
			s.Denied++
		case StatusFailed:
			s.Failed++
		case StatusSkipped:
			s.Skipped[r.Reason]++
		}
	}
	return s
}

// SkippedResults turns plan items skipped before execution into results.
func SkippedResults(items []Item) []Result {
	out := make([]Result, 0, len(items))
	for _, it := range items {
		out = append(out, Result{Account: it.Account, Region: it.Region, InstanceID: it.InstanceID, Name: it.Name,
			Status: StatusSkipped, State: StateSkipped, Reason: it.Reason, Message: it.Detail})
	}
	return out
}

// AddSkipped appends results skipped before execution (plan exclusions)
// to o, keeping Summary.Planned as the count of attempted tasks.
func (o *Outcome) AddSkipped(rs []Result) {
	planned := o.Summary.Planned
	o.Results = append(o.Results, rs...)
	o.Summary = summarize(o.Results)
	o.Summary.Planned = planned
}
