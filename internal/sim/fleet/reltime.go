package fleet

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RelTime is a point in time given either absolutely (RFC 3339) or relative
// to the server's clock: "now", "-14d", "-36h", "-2d12h", "+1h".
// The zero value means "now".
type RelTime struct {
	abs    time.Time
	rel    time.Duration
	hasAbs bool
}

// Abs returns an absolute RelTime.
func Abs(t time.Time) RelTime { return RelTime{abs: t, hasAbs: true} }

// Rel returns a RelTime d away from the clock (negative is the past).
func Rel(d time.Duration) RelTime { return RelTime{rel: d} }

// At resolves t against the server's clock.
func (t RelTime) At(now time.Time) time.Time {
	if t.hasAbs {
		return t.abs
	}
	return now.Add(t.rel)
}

// String renders t in the form it parses.
func (t RelTime) String() string {
	if t.hasAbs {
		return t.abs.UTC().Format(time.RFC3339)
	}
	if t.rel == 0 {
		return "now"
	}
	return formatDays(t.rel)
}

// ParseRelTime parses the forms described on [RelTime].
func ParseRelTime(s string) (RelTime, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return RelTime{}, nil
	}
	if s[0] == '-' || s[0] == '+' {
		d, err := ParseDuration(s)
		if err != nil {
			return RelTime{}, fmt.Errorf("relative time %q: %w", s, err)
		}
		return Rel(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return RelTime{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-02T15:04:05Z), \"now\" or an offset such as \"-14d\"", s)
	}
	return Abs(t), nil
}

// MarshalJSON implements json.Marshaler.
func (t RelTime) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (t *RelTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be a string: %w", err)
	}
	v, err := ParseRelTime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Duration is a time.Duration that reads and writes as a string such as
// "150ms", "2s" or "3d" (days are allowed, unlike time.ParseDuration).
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.TrimPrefix(formatDays(time.Duration(d)), "+"))
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"150ms\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration is time.ParseDuration plus a leading "Nd" days term
// ("14d", "-2d12h").
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	sign := time.Duration(1)
	if strings.HasPrefix(s, "-") {
		sign, s = -1, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("duration %q: bad day count", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		rest, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want forms such as 150ms, 36h, 14d, -2d12h", orig)
		}
	}
	return sign * (days + rest), nil
}

func formatDays(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	day := 24 * time.Hour
	if d >= day {
		days := d / day
		rest := d % day
		if rest == 0 {
			return fmt.Sprintf("%s%dd", sign, days)
		}
		return fmt.Sprintf("%s%dd%s", sign, days, rest)
	}
	if sign != "" {
		return sign + d.String()
	}
	return "+" + d.String()
}
