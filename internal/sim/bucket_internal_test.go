package sim

import (
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// TestSetKnobsTimeScaleFromNowOn: a TimeScale change counts from the
// moment it is made. A bucket drained at 0.001× and left for 10 s has
// earned 0.1 token; switching to 1000× then must not refill those 10 s at
// the new rate (which would fill the bucket at once).
func TestSetKnobsTimeScaleFromNowOn(t *testing.T) {
	slow := fleet.Knobs{TimeScale: 0.001}
	rs := newRegionState("us-east-1", "", fleet.Knobs{}, &slow)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 50 {
		if !rs.take("DescribeInstances/unfiltered", specDescribeAll, rs.knobs.TimeScale, t0) {
			t.Fatalf("take %d of a full 50-token bucket refused", i+1)
		}
	}
	if rs.take("DescribeInstances/unfiltered", specDescribeAll, rs.knobs.TimeScale, t0) {
		t.Fatal("51st take granted")
	}
	t1 := t0.Add(10 * time.Second)
	fast := fleet.Knobs{TimeScale: 1000}
	rs.setKnobs(&fast, fleet.Knobs{}.Merge(&fast), t1)
	if rs.take("DescribeInstances/unfiltered", specDescribeAll, rs.knobs.TimeScale, t1) {
		t.Error("right after the switch the bucket holds 0.1 token, yet a take was granted (the 10 s before the switch refilled at the new rate)")
	}
	// From the switch on, 1000× applies: 10 tokens/s × 1000 = 1 token per 100 µs.
	if !rs.take("DescribeInstances/unfiltered", specDescribeAll, rs.knobs.TimeScale, t1.Add(time.Millisecond)) {
		t.Error("1 ms after switching to 1000× the bucket has no token")
	}
}
