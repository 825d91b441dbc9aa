package scanner

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	tests := []struct {
		now      string
		lookback time.Duration
		start    string
	}{
		{"2026-03-15T10:30:00Z", 14 * Day, "2026-03-01T00:00:00Z"},
		{"2026-03-15T00:00:00Z", 14 * Day, "2026-03-01T00:00:00Z"},
		{"2026-03-15T23:59:59Z", 36 * time.Hour, "2026-03-14T00:00:00Z"},
		// Rounding down would reach 455 days 10h30 back, past retention:
		// the next midnight instead.
		{"2026-03-15T10:30:00Z", 455 * Day, "2024-12-16T00:00:00Z"},
		{"2026-03-15T00:00:00Z", 455 * Day, "2024-12-15T00:00:00Z"}, // exactly at retention
		{"2026-03-15T10:30:00Z", 454 * Day, "2024-12-16T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.now+"-"+tt.lookback.String(), func(t *testing.T) {
			now, _ := time.Parse(time.RFC3339, tt.now)
			start, end := Window(now.In(time.FixedZone("X", 5*3600)), tt.lookback)
			if got := start.Format(time.RFC3339); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if !end.Equal(now) || end.Location() != time.UTC {
				t.Errorf("end = %v, want %v in UTC", end, now)
			}
		})
	}
}

func TestLookback(t *testing.T) {
	ok := []struct {
		in   string
		want time.Duration
	}{
		{"14d", 14 * Day}, {"336h", 14 * Day}, {"2d12h", 60 * time.Hour}, {"455d", MaxLookback}, {"24h", Day}, {"1d", Day},
	}
	for _, tt := range ok {
		got, err := ParseLookback(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLookback(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	bad := map[string]string{"456d": "455-day retention", "455d1h": "455-day retention", "10921h": "455-day retention", "0d": "positive", "-3d": "want a duration", "abc": "want a duration", "": "positive",
		// Usage is read in daily buckets: less than a day is no evidence.
		"1ns": "under one day", "23h": "under one day", "1h": "under one day", "23h59m59s": "under one day", "0d23h": "under one day"}
	for in, want := range bad {
		_, err := ParseLookback(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLookback(%q) error = %v, want it to mention %q", in, err, want)
		}
	}
}

func TestBatching(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 1, 499: 1, 500: 1, 501: 2, 1000: 2, 1001: 3, 100000: 200} {
		if got := Batches(n); got != want {
			t.Errorf("Batches(%d) = %d, want %d", n, got, want)
		}
	}
	for i := range 500 {
		id := QueryID(i)
		if j, ok := queryIndex(id, 500); !ok || j != i {
			t.Fatalf("queryIndex(%q) = %d, %v", id, j, ok)
		}
	}
	for _, id := range []string{"", "q", "q500", "q-1", "q01", "x1", "Q1"} {
		if _, ok := queryIndex(id, 500); ok {
			t.Errorf("queryIndex(%q) accepted", id)
		}
	}
}

func TestParseRegions(t *testing.T) {
	got, err := ParseRegions("us-east-1, eu-west-2,us-east-1,us-gov-west-1,cn-north-1,ap-southeast-5")
	if err != nil || !slices.Equal(got, []string{"us-east-1", "eu-west-2", "us-gov-west-1", "cn-north-1", "ap-southeast-5"}) {
		t.Errorf("ParseRegions = %v, %v", got, err)
	}
	if got, err := ParseRegions("all"); got != nil || err != nil {
		t.Errorf("all = %v, %v", got, err)
	}
	for _, bad := range []string{"us-east", "useast1", "mars-east-1", "us-east-1a", "US-EAST-1", ",", "all,us-east-1"} {
		if _, err := ParseRegions(bad); err == nil {
			t.Errorf("ParseRegions(%q) accepted", bad)
		}
	}
	if _, err := ParseRegions("us-esat-1x"); err == nil || !strings.Contains(err.Error(), `unknown Region "us-esat-1x"`) {
		t.Errorf("error = %v", err)
	}
}

func TestParseTagFilters(t *testing.T) {
	got, err := ParseTagFilters([]string{"env=prod", "team=a", "env=stage", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := []TagFilter{{"env", []string{"prod", "stage"}}, {"team", []string{"a"}}, {"empty", []string{""}}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Key != want[i].Key || !slices.Equal(got[i].Values, want[i].Values) {
			t.Errorf("filter %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"env", "=x"} {
		if _, err := ParseTagFilters([]string{bad}); err == nil {
			t.Errorf("ParseTagFilters(%q) accepted", bad)
		}
	}
}
