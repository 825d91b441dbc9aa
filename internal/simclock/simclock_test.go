package simclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	origin := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	wall := origin
	c := &Clock{Origin: origin, Base: origin.Add(-time.Hour), Scale: 720, wall: func() time.Time { return wall }}
	wall = origin.Add(5 * time.Second)
	if got, want := c.Now(), origin.Add(-time.Hour).Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after 5 s at ×720: %s, want %s", got, want)
	}
	p, err := Parse(c.String())
	if err != nil || !p.Origin.Equal(c.Origin) || !p.Base.Equal(c.Base) || p.Scale != c.Scale {
		t.Fatalf("round trip: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "scale=0,origin=2026-12-02T08:00:00Z,base=2026-12-02T08:00:00Z", "origin=x,base=y,scale=2", "scale=2"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
