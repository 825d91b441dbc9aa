package remediate

import (
	"context"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLimiterGrantsBurstPlusRate(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
		over  time.Duration
	}{
		{5, 1, 10 * time.Second},
		{5, 100, 10 * time.Second},
		{0.5, 1, time.Minute},
		{250, 3, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run("", func(t *testing.T) {
			c := &fakeClock{t: time.Unix(1000, 0)}
			l := NewLimiter(tc.rate, tc.burst, c.now)
			// Every caller arrives at once: count the tokens whose wait ends
			// within the interval.
			granted := 0
			for range 10000 {
				if d := l.Reserve(); d <= tc.over {
					granted++
				}
			}
			want := tc.burst + int(tc.rate*tc.over.Seconds())
			if granted != want {
				t.Errorf("rate %v burst %d over %v: granted %d, want %d", tc.rate, tc.burst, tc.over, granted, want)
			}
		})
	}
}

func TestLimiterSteadyCaller(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLimiter(5, 1, c.now)
	// A caller that always waits as told gets exactly rate per second.
	calls := 0
	end := c.t.Add(60 * time.Second)
	for {
		c.t = c.t.Add(l.Reserve())
		if c.t.After(end) {
			break
		}
		calls++
	}
	if calls != 1+5*60 {
		t.Errorf("steady caller got %d calls in 60s, want %d", calls, 1+5*60)
	}
	// Idle time banks at most burst tokens.
	c.t = c.t.Add(time.Hour)
	if d := l.Reserve(); d != 0 {
		t.Errorf("after idling, first reserve waits %v", d)
	}
	if d := l.Reserve(); d <= 0 {
		t.Error("burst 1: second immediate reserve did not wait")
	}
}

func TestLimiterWaitCancelled(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLimiter(0.001, 1, c.now)
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := l.Wait(ctx); err == nil {
		t.Fatal("Wait on a cancelled context returned nil")
	}
}
