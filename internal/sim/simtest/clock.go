package simtest

import (
	"sync"
	"time"
)

// Clock is a simulated wall clock for the server's token buckets and apply
// delays (sim.Options{Wall: c.Now}). It stands still unless a test moves
// it: with Advance, or with a step that every reading adds. The server
// reads it at each token-bucket draw, at each DescribeInstances and
// ModifyInstanceMetadataOptions answer, and in SetKnobs and MetadataState,
// so with a step the buckets refill by the number of calls the server
// handles, whatever the machine's load: a test's throttling then happens
// the same way on every run.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

// NewClock returns a clock standing still at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time, then moves it on by the step.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// SetStep sets how far each later reading moves the clock on (0: it
// stands still).
func (c *Clock) SetStep(d time.Duration) {
	c.mu.Lock()
	c.step = d
	c.mu.Unlock()
}
