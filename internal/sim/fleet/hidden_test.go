package fleet

import (
	"testing"
	"time"
)

func TestHiddenCaller(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	base := Instance{ID: "i-0123456789abcdef0", State: "running", LaunchTime: Rel(-60 * 24 * time.Hour)}
	sum := func(in *Instance, metric string, from, to time.Time) float64 {
		s := 0.0
		for _, b := range in.Buckets(metric, now, from, to, time.Hour) {
			s += b.Sum
		}
		return s
	}
	t.Run("after enforcement", func(t *testing.T) {
		in := base
		in.HiddenCaller = &HiddenCaller{Starts: HiddenAfterEnforcement, After: Duration(10 * time.Minute), PerHour: 12}
		if got := in.WithHidden(time.Time{}, now); got != &in {
			t.Fatalf("never enforced: the caller must not run")
		}
		enforced := now.Add(-2 * time.Hour)
		h := in.WithHidden(enforced, now)
		if got := sum(h, MetricNoToken, now.Add(-14*24*time.Hour), enforced.Add(10*time.Minute)); got != 0 {
			t.Errorf("calls before the caller starts: %v", got)
		}
		// 1h50m at 12/h.
		if got := sum(h, MetricNoToken, enforced, now); got < 21 || got > 23 {
			t.Errorf("calls after enforcement: %v, want about 22", got)
		}
	})
	t.Run("periodic", func(t *testing.T) {
		in := base
		in.HiddenCaller = &HiddenCaller{Starts: HiddenPeriodic, Every: Duration(30 * 24 * time.Hour), For: Duration(time.Hour), PerHour: 60}
		h := in.WithHidden(time.Time{}, now)
		total := sum(h, MetricNoToken, now.Add(-59*24*time.Hour), now)
		if total != 120 {
			t.Errorf("two monthly bursts of 60 calls in 59 days: got %v", total)
		}
	})
	t.Run("status check", func(t *testing.T) {
		in := base
		in.StatusCheckFailed = []Interval{{From: Rel(-time.Hour), To: Rel(-30 * time.Minute)}}
		bs := in.Buckets(MetricStatusCheckFailed, now, now.Add(-2*time.Hour), now, 5*time.Minute)
		failed := 0
		for _, b := range bs {
			if b.Maximum > 1 || b.Minimum < 0 {
				t.Fatalf("bucket %+v: want 0 or 1", b)
			}
			if b.Maximum == 1 {
				failed++
			}
		}
		if len(bs) != 24 || failed != 6 {
			t.Errorf("%d buckets, %d failed; want 24 and 6", len(bs), failed)
		}
	})
	t.Run("validation", func(t *testing.T) {
		for _, h := range []HiddenCaller{{Starts: "sometimes", PerHour: 1}, {Starts: HiddenPeriodic, Every: Duration(time.Hour), For: Duration(time.Minute), PerHour: 1}, {Starts: HiddenAfterEnforcement}} {
			if err := h.validate("x"); err == nil {
				t.Errorf("%+v accepted", h)
			}
		}
	})
}
