package fleet

import (
	"fmt"
	"time"
)

// HiddenCaller is IMDSv1 software the scan cannot see: an instance whose
// window shows no v1 calls (so it is "ready") but that still has a caller
// which runs rarely or only once IMDSv2 is enforced, as a monthly cron
// job, a boot-time script, or an agent that reads IMDS only on failover
// does. Its calls count as MetadataNoToken while tokens are optional and
// as MetadataNoTokenRejected while they are required, like every v1 call
// of the simulated instance, so enforcing the instance shows rejected
// calls once the caller runs.
type HiddenCaller struct {
	// Starts is HiddenAfterEnforcement (calls begin After once tokens
	// first become required, and go on at PerHour) or HiddenPeriodic
	// (bursts of For every Every, the first starting at Offset after the
	// Unix epoch: Every 720h is "monthly").
	Starts  string   `json:"starts"`
	After   Duration `json:"after,omitempty"`
	Every   Duration `json:"every,omitempty"`
	For     Duration `json:"for,omitempty"`
	Offset  Duration `json:"offset,omitempty"`
	PerHour float64  `json:"perHour"`
}

// HiddenCaller.Starts values.
const (
	HiddenAfterEnforcement = "enforcement"
	HiddenPeriodic         = "periodic"
)

// minHiddenEvery bounds the segments a periodic caller adds (455 days of
// retention at one a day is 455).
const minHiddenEvery = 24 * time.Hour

// MetricStatusCheckFailed is the instance status check metric: 1 for a
// period in which the instance's own status check failed, 0 otherwise,
// published every 5 minutes while the instance runs.
const MetricStatusCheckFailed = "StatusCheckFailed_Instance"

// slotsPerHour turns a failed-check interval into a rate whose datapoint
// is exactly 1 per 5-minute slot (see [Instance.AppendBuckets]).
const slotsPerHour = float64(time.Hour / Slot)

func (h *HiddenCaller) validate(where string) error {
	switch {
	case h.PerHour <= 0:
		return fmt.Errorf("%s: hiddenCaller: perHour %v: want calls per hour above 0", where, h.PerHour)
	case h.Starts == HiddenAfterEnforcement:
		if h.After < 0 {
			return fmt.Errorf("%s: hiddenCaller: after %s: must not be negative", where, h.After.D())
		}
	case h.Starts == HiddenPeriodic:
		if h.Every.D() < minHiddenEvery || h.For <= 0 || h.For > h.Every {
			return fmt.Errorf("%s: hiddenCaller: a periodic caller needs every ≥ %s and 0 < for ≤ every (got every %s, for %s)", where, minHiddenEvery, h.Every.D(), h.For.D())
		}
	default:
		return fmt.Errorf("%s: hiddenCaller: starts %q: want %q or %q", where, h.Starts, HiddenAfterEnforcement, HiddenPeriodic)
	}
	return nil
}

// WithHidden returns the instance with its hidden caller's calls added to
// its usage as MetadataNoToken segments (the server then counts them as
// rejected where tokens are required): firstRequired is when tokens first
// became required on it (zero: never). An instance without a hidden
// caller is returned as it is.
func (in *Instance) WithHidden(firstRequired, now time.Time) *Instance {
	h := in.HiddenCaller
	if h == nil {
		return in
	}
	out := *in
	out.Usage = append([]UsageSegment(nil), in.Usage...)
	switch h.Starts {
	case HiddenAfterEnforcement:
		if firstRequired.IsZero() {
			return in
		}
		from := firstRequired.Add(h.After.D())
		out.Usage = append(out.Usage, UsageSegment{Metric: MetricNoToken, From: Abs(from), To: Abs(now.Add(Retention)), PerHour: h.PerHour})
	case HiddenPeriodic:
		every, dur, off := h.Every.D(), h.For.D(), h.Offset.D()
		lo := now.Add(-Retention)
		k := lo.Sub(time.Unix(0, 0).Add(off)) / every
		for t := time.Unix(0, 0).Add(off).Add(k * every); t.Before(now); t = t.Add(every) {
			if t.Add(dur).After(lo) {
				out.Usage = append(out.Usage, UsageSegment{Metric: MetricNoToken, From: Abs(t), To: Abs(t.Add(dur)), PerHour: h.PerHour})
			}
		}
	}
	return &out
}
