package sim

import (
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

func TestWithChanges(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return now.Add(time.Duration(n) * time.Hour) }
	in := &fleet.Instance{ID: "i-00000001", State: "running", Usage: []fleet.UsageSegment{
		{Metric: fleet.MetricNoToken, From: fleet.Rel(-10 * time.Hour), PerHour: 5},
		{Metric: fleet.MetricNoTokenRejected, From: fleet.Rel(-8 * time.Hour), To: fleet.Rel(-7 * time.Hour), PerHour: 2},
	}}
	if got := withChanges(in, nil, now); got != in {
		t.Fatal("an unchanged instance must be returned as is")
	}
	changes := []optChange{
		{at: h(-6), tokens: "required", endpoint: "enabled"},
		{at: h(-4), tokens: "required", endpoint: "disabled"},
		{at: h(-2), tokens: "optional", endpoint: "enabled"},
	}
	got := withChanges(in, changes, now)
	type seg struct {
		metric   string
		from, to time.Time
		perHour  float64
	}
	var segs []seg
	for _, u := range got.Usage {
		segs = append(segs, seg{u.Metric, u.From.At(now), u.To.At(now), u.PerHour})
	}
	want := []seg{
		{fleet.MetricNoToken, h(-10), h(-6), 5},        // history before the first change stands
		{fleet.MetricNoTokenRejected, h(-6), h(-4), 5}, // enforced: v1 attempts rejected
		{fleet.MetricNoToken, h(-2), h(0), 5},          // rolled back; nothing while disabled
		{fleet.MetricNoTokenRejected, h(-8), h(-7), 2}, // before the first change: as given
	}
	if len(segs) != len(want) {
		t.Fatalf("segments = %+v\nwant %+v", segs, want)
	}
	for i := range want {
		if segs[i] != want[i] {
			t.Errorf("segment %d = %+v, want %+v", i, segs[i], want[i])
		}
	}
	if len(in.Usage) != 2 {
		t.Error("withChanges modified the fleet's instance")
	}
}
