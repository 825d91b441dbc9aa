package sim

import (
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// optChange is a metadata options change as the metric model sees it: from
// at (server clock) on, IMDSv1 calls are answered (tokens optional),
// rejected (tokens required) or impossible (endpoint disabled).
type optChange struct {
	at       time.Time
	tokens   string
	endpoint string
}

// recordChange appends a change when it alters how v1 calls fare. Called
// with the Region's lock held.
func (rec *instRec) recordChange(old, now fleet.MetadataOptions, at time.Time) {
	if old.HttpTokens == now.HttpTokens && old.HttpEndpoint == now.HttpEndpoint {
		return
	}
	rec.changes = append(rec.changes, optChange{at: at, tokens: now.HttpTokens, endpoint: now.HttpEndpoint})
}

// withChanges returns the instance as CloudWatch sees it after the
// ModifyInstanceMetadataOptions calls in changes: before the first change
// the fleet's history stands; after it, the instance's IMDSv1 attempts
// (its MetadataNoToken and MetadataNoTokenRejected segments alike) count as
// MetadataNoToken while tokens are optional, as MetadataNoTokenRejected
// while they are required, and not at all while the endpoint is disabled.
// So enforcing an instance whose software still uses v1 shows rejected
// calls from then on, as on AWS, and a rollback turns them back.
func withChanges(in *fleet.Instance, changes []optChange, now time.Time) *fleet.Instance {
	// A hidden caller's calls are v1 attempts like the others.
	var firstRequired time.Time
	for _, c := range changes {
		if c.tokens == "required" {
			firstRequired = c.at
			break
		}
	}
	in = in.WithHidden(firstRequired, now)
	if len(changes) == 0 {
		return in
	}
	out := *in
	out.Usage = make([]fleet.UsageSegment, 0, len(in.Usage)*(len(changes)+1))
	first := changes[0].at
	for _, u := range in.Usage {
		from, to := u.From.At(now), u.To.At(now)
		if !from.Before(to) {
			continue
		}
		if from.Before(first) {
			head := u
			if to.After(first) {
				head.To = fleet.Abs(first)
			}
			out.Usage = append(out.Usage, head)
		}
		for i, c := range changes {
			a, b := c.at, to
			if i+1 < len(changes) && changes[i+1].at.Before(b) {
				b = changes[i+1].at
			}
			if from.After(a) {
				a = from
			}
			if !a.Before(b) {
				continue
			}
			var metric string
			switch {
			case c.endpoint == "disabled":
				continue
			case c.tokens == "required":
				metric = fleet.MetricNoTokenRejected
			default:
				metric = fleet.MetricNoToken
			}
			out.Usage = append(out.Usage, fleet.UsageSegment{Metric: metric, From: fleet.Abs(a), To: fleet.Abs(b), PerHour: u.PerHour})
		}
	}
	return &out
}
