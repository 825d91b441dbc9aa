// Package simclock is the fast clock of the demo: `imdsfleet sim
// --time-scale N` runs the simulated AWS's clock N times as fast as the
// wall clock and prints it as IMDSFLEET_SIM_CLOCK; remediate, apply and
// status read that variable from the environment (apply's --sim-clock flag
// first) and run on the same clock, so a bake of hours takes seconds and
// both sides agree on what time it is.
// Tests never use it: they inject a simulated clock that moves only when
// told.
package simclock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Clock reads Base + (wall − Origin) × Scale.
type Clock struct {
	// Origin is the wall time at which the clock read Base.
	Origin time.Time
	Base   time.Time
	Scale  float64
	// wall is the wall clock (time.Now).
	wall func() time.Time
}

// New returns a clock reading base now and running scale times as fast
// as the wall clock.
func New(base time.Time, scale float64) *Clock {
	return &Clock{Origin: time.Now(), Base: base, Scale: scale, wall: time.Now}
}

// Now returns the scaled time.
func (c *Clock) Now() time.Time {
	wall := c.wall
	if wall == nil {
		wall = time.Now
	}
	el := wall().Sub(c.Origin)
	return c.Base.Add(time.Duration(float64(el) * c.Scale))
}

// Sleep waits d of scaled time (d / Scale of wall time).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(time.Duration(float64(d) / c.Scale))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// String renders the clock as the sim prints it:
// "origin=<RFC 3339>,base=<RFC 3339>,scale=<N>".
func (c *Clock) String() string {
	return fmt.Sprintf("origin=%s,base=%s,scale=%s", c.Origin.UTC().Format(time.RFC3339Nano), c.Base.UTC().Format(time.RFC3339Nano),
		strconv.FormatFloat(c.Scale, 'f', -1, 64))
}

// Parse reads [Clock.String]'s form.
func Parse(s string) (*Clock, error) {
	c := &Clock{wall: time.Now}
	seen := 0
	for _, part := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(part, "=")
		var err error
		switch k {
		case "origin":
			c.Origin, err = time.Parse(time.RFC3339Nano, v)
		case "base":
			c.Base, err = time.Parse(time.RFC3339Nano, v)
		case "scale":
			c.Scale, err = strconv.ParseFloat(v, 64)
			if err == nil && (math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) || c.Scale <= 0) {
				err = errors.New("want a positive factor")
			}
		default:
			return nil, fmt.Errorf("%q: want origin=…,base=…,scale=… as imdsfleet sim prints it in IMDSFLEET_SIM_CLOCK", s)
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %s: %v", s, k, err)
		}
		seen++
	}
	if seen != 3 {
		return nil, fmt.Errorf("%q: want origin=…,base=…,scale=… as imdsfleet sim prints it in IMDSFLEET_SIM_CLOCK", s)
	}
	return c, nil
}
