package remediate

import (
	"context"
	"sync"
	"time"
)

// Limiter is a token bucket: Rate tokens per second, at most Burst banked.
// Callers that find the bucket empty are queued in arrival order (the
// bucket goes into debt), so over any interval of length T it grants at
// most Burst + Rate×T tokens, and a steady caller gets exactly Rate/s.
type Limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewLimiter returns a full bucket of burst tokens refilled at rate per
// second (rate > 0, burst ≥ 1). now is the clock (nil: time.Now).
func NewLimiter(rate float64, burst int, now func() time.Time) *Limiter {
	if burst < 1 {
		burst = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: rate, burst: float64(burst), tokens: float64(burst), now: now, last: now()}
}

// Reserve takes one token and returns how long the caller must wait before
// using it (0 when one was banked).
func (l *Limiter) Reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if el := now.Sub(l.last); el > 0 {
		l.tokens += el.Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// cancel gives back a reserved token that will not be used.
func (l *Limiter) cancel() {
	l.mu.Lock()
	l.tokens++
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	l.mu.Unlock()
}

// Wait blocks until a token is available or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := l.Reserve()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.cancel()
		return ctx.Err()
	}
}
