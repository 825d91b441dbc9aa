package scanner

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Window and batching constants fixed by CloudWatch.
const (
	// Day is the metric period: one Sum bucket per UTC day.
	Day = 24 * time.Hour
	// Period is Day in seconds, as GetMetricData takes it.
	Period int32 = 86400
	// MaxLookback is CloudWatch's retention of hourly (and so daily) data.
	MaxLookback = 455 * Day
	// DefaultLookback is the window scanned when none is given.
	DefaultLookback = 14 * Day
	// MaxQueriesPerCall is GetMetricData's limit of MetricDataQueries.
	MaxQueriesPerCall = 500
	// PageSize is DescribeInstances' largest MaxResults.
	PageSize int32 = 1000
)

// Window returns the CloudWatch window for a lookback ending at now:
// [start, now) where start is now-lookback rounded down to 00:00 UTC. Daily
// buckets then start at UTC midnight whatever rule CloudWatch uses to align
// them (it rounds StartTime down to the minute, 5 minutes or hour by age;
// midnight satisfies all three), so every bucket is a calendar day. Where
// rounding down would reach past CloudWatch's retention (a lookback of
// nearly 455 days), start is the next midnight instead: the report never
// claims a day CloudWatch no longer holds.
func Window(now time.Time, lookback time.Duration) (start, end time.Time) {
	now = now.UTC()
	start = now.Add(-lookback).Truncate(Day)
	if now.Sub(start) > MaxLookback {
		start = start.Add(Day)
	}
	return start, now
}

// ParseLookback reads a --lookback value: "14d", "336h", "2d12h" or any
// time.ParseDuration form. It rejects what [checkLookback] rejects: less
// than one day, or more than CloudWatch's 455-day retention.
func ParseLookback(s string) (time.Duration, error) {
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("--lookback %q: want a duration such as 14d, 336h or 2d12h", orig)
		}
		days = time.Duration(n) * Day
		s = s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--lookback %q: want a duration such as 14d, 336h or 2d12h", orig)
		}
	}
	d := days + rest
	if err := checkLookback(d); err != nil {
		return 0, fmt.Errorf("--lookback %q: %w", orig, err)
	}
	return d, nil
}

// checkLookback rejects a lookback shorter than one day or longer than
// CloudWatch's retention. Usage is read in daily buckets: a shorter window
// would rest "ready" on part of one day (or on none: a window of 1ns still
// counts as one day), which is not evidence that nothing uses IMDSv1.
func checkLookback(d time.Duration) error {
	switch {
	case d <= 0:
		return errors.New("must be positive, e.g. 14d")
	case d < Day:
		return errors.New("under one day: usage is read in daily buckets, so use at least 1d (e.g. 14d)")
	case d > MaxLookback:
		return errors.New("beyond CloudWatch's 455-day retention of daily data: use at most 455d")
	}
	return nil
}

// Batches returns how many GetMetricData calls (without NextToken pages) n
// queries need.
func Batches(n int) int { return (n + MaxQueriesPerCall - 1) / MaxQueriesPerCall }

// QueryID is the GetMetricData query Id of the i-th query of a batch. It
// matches CloudWatch's ^[a-z][a-zA-Z0-9_]*$.
func QueryID(i int) string { return "q" + strconv.Itoa(i) }

// queryIndex is the inverse of QueryID; ok is false for an Id QueryID does
// not make.
func queryIndex(id string, n int) (int, bool) {
	s, ok := strings.CutPrefix(id, "q")
	if !ok || s == "" {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= n || QueryID(i) != id {
		return 0, false
	}
	return i, true
}

// regionPattern accepts the Region names of AWS's partitions (the SDK's
// partitions.json regionRegex values, joined): us-east-1, eu-central-2,
// cn-north-1, us-gov-west-1, us-iso-east-1, …
var regionPattern = regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob|us-isof|eu-isoe|eusc)-[a-z]+-[0-9]{1,2}$`)

// ValidRegionName reports whether name has the form of an AWS Region.
func ValidRegionName(name string) bool { return regionPattern.MatchString(name) }

// ParseRegions reads a --regions value: "all" (nil result) or a comma list
// of Region names, each checked against the known Region pattern.
func ParseRegions(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if r == "all" {
			return nil, fmt.Errorf("--regions: \"all\" cannot be combined with Region names")
		}
		if !ValidRegionName(r) {
			return nil, fmt.Errorf("--regions: unknown Region %q: use AWS Region names such as us-east-1,eu-west-2, or \"all\"", r)
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--regions %q: name at least one Region, or \"all\"", s)
	}
	return out, nil
}

// TagFilter is one DescribeInstances tag:KEY filter: the instance carries
// the tag with any of Values.
type TagFilter struct {
	Key    string
	Values []string
}

// ParseTagFilters reads repeated --filter-tag KEY=VALUE flags. The same key
// given twice becomes one filter with both values (an OR, as AWS treats a
// filter's values); different keys must all match (AND). Order follows the
// first appearance of each key.
func ParseTagFilters(flags []string) ([]TagFilter, error) {
	var out []TagFilter
	idx := map[string]int{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--filter-tag %q: want KEY=VALUE, e.g. --filter-tag env=prod", f)
		}
		i, seen := idx[k]
		if !seen {
			i = len(out)
			idx[k] = i
			out = append(out, TagFilter{Key: k})
		}
		out[i].Values = append(out[i].Values, v)
	}
	return out, nil
}
