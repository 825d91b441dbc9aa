package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// This file holds what the human formats (Markdown, table, HTML) share:
// they derive their figures from r.Instances, never from r.Summary, so
// that they are right even for a report that was not normalized, and they
// never modify the report.

// regionRow is one (account, Region) line of the per-Region views.
type regionRow struct {
	Account, Region string
	Status          string // TargetOK, TargetError, or "" for instances without a target
	Error           string
	ByClass         map[string]int
	ByRisk          map[string]int
	Total           int
}

// regionRows lists every target and every (account, Region) that has
// instances, sorted by account and Region.
func regionRows(r *Report) []*regionRow {
	byKey := make(map[targetKey]*regionRow)
	var rows []*regionRow
	get := func(account, region string) *regionRow {
		k := targetKey{account, region}
		if row, ok := byKey[k]; ok {
			return row
		}
		row := &regionRow{Account: account, Region: region, ByClass: map[string]int{}, ByRisk: map[string]int{}}
		byKey[k] = row
		rows = append(rows, row)
		return row
	}
	for _, t := range r.Targets {
		row := get(t.Account, t.Region)
		row.Status = t.Status
		if t.Error != "" {
			row.Error = t.Error
		}
		if t.Status == TargetError && row.Error == "" {
			row.Error = "(no error message)"
		}
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		row := get(in.Account, in.Region)
		row.ByClass[in.Classification]++
		for _, k := range in.Risks {
			row.ByRisk[k]++
		}
		row.Total++
	}
	slices.SortFunc(rows, func(a, b *regionRow) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return rows
}

// failedTargets returns the targets whose status is error, in report order.
func failedTargets(r *Report) []Target {
	var out []Target
	for _, t := range r.Targets {
		if t.Status == TargetError {
			out = append(out, t)
		}
	}
	return out
}

// attentionGroups splits the instances that need attention into the
// groups the human reports show, in this order: v1-in-use, no-data, and
// every other instance with a risk or a usage error. Within a group,
// instances with the most v1 calls come first, then report order.
type attentionGroup struct {
	Key       string // a classification, or "other"
	Title     string
	Meaning   string
	Instances []*Instance
}

func attentionGroups(r *Report) []attentionGroup {
	groups := []attentionGroup{
		{Key: ClassV1InUse, Title: ClassV1InUse, Meaning: DescribeClassification(ClassV1InUse)},
		{Key: ClassNoData, Title: ClassNoData, Meaning: DescribeClassification(ClassNoData)},
		{Key: "other", Title: "other instances with risks", Meaning: "Instances in other classifications that carry a risk or whose usage could not be read."},
	}
	for i := range r.Instances {
		in := &r.Instances[i]
		switch {
		case in.Classification == ClassV1InUse:
			groups[0].Instances = append(groups[0].Instances, in)
		case in.Classification == ClassNoData:
			groups[1].Instances = append(groups[1].Instances, in)
		case in.NeedsAttention():
			groups[2].Instances = append(groups[2].Instances, in)
		}
	}
	for _, g := range groups {
		slices.SortStableFunc(g.Instances, byCallsDesc)
	}
	return groups
}

// attentionList is every instance needing attention, ordered by
// classification (v1-in-use first), then most v1 calls, then report order.
func attentionList(r *Report) []*Instance {
	var out []*Instance
	for _, g := range attentionGroups(r) {
		out = append(out, g.Instances...)
	}
	return out
}

func byCallsDesc(a, b *Instance) int {
	return cmp.Compare(b.Usage.NoTokenCalls, a.Usage.NoTokenCalls)
}

// windowDays is the length of the window in whole days (rounded).
func windowDays(w Window) int {
	if w.Start.IsZero() || w.End.IsZero() || !w.End.After(w.Start) {
		return 0
	}
	return int(math.Round(w.End.Sub(w.Start).Hours() / 24))
}

// windowText describes the window for a reader: "2026-11-08 → 2026-11-22
// (14 days)".
func windowText(w Window) string {
	if w.Start.IsZero() && w.End.IsZero() {
		return "unknown"
	}
	return fmt.Sprintf("%s → %s (%d days)", shortTime(w.Start), shortTime(w.End), windowDays(w))
}

// shortTime is a minute-precision UTC time, or the date alone at midnight.
func shortTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// lastCallText is the day of the last bucket with v1 calls, "never" when
// there was none, or "unknown" when the usage could not be read.
func lastCallText(in *Instance) string {
	switch {
	case in.Usage.LastCallAt != nil:
		return in.Usage.LastCallAt.UTC().Format("2006-01-02")
	case in.Usage.Status == UsageError || in.Usage.Status == UsageNone:
		return "unknown"
	}
	return "never"
}

// callsText is the v1 call count, or "?" when the usage could not be read.
func callsText(in *Instance) string {
	if in.Usage.Status == UsageError || in.Usage.Status == UsageNone {
		return "?"
	}
	return FormatCount(in.Usage.NoTokenCalls)
}

// callsAndRejectedText is callsText with rejected calls added when there
// were any: "0 (17 rejected)".
func callsAndRejectedText(in *Instance) string {
	s := callsText(in)
	if in.Usage.NoTokenRejected > 0 && s != "?" {
		s += " (" + FormatCount(in.Usage.NoTokenRejected) + " rejected)"
	}
	return s
}

// hopText is the hop limit, or "?" when unknown.
func hopText(in *Instance) string {
	if in.MetadataOptions.HttpPutResponseHopLimit == 0 {
		return "?"
	}
	return fmt.Sprint(in.MetadataOptions.HttpPutResponseHopLimit)
}

// recommendationText is the instance's recommendation, with the usage
// error appended when the figures could not be read.
func recommendationText(in *Instance) string {
	rec := in.Recommendation
	if in.Usage.Status == UsageError && in.Usage.Error != "" {
		if rec != "" {
			rec += " "
		}
		rec += "(usage error: " + in.Usage.Error + ")"
	}
	return rec
}

// plural returns "1 instance" or "2 instances".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func toolText(t Tool) string {
	name := cmp.Or(t.Name, "imdsfleet")
	if t.Version == "" {
		return name
	}
	return name + " " + t.Version
}

// FormatCount renders a call count for people: whole numbers from 100 up
// (or when the value is whole), one decimal below. CloudWatch sums of
// sampled data need not be whole, but "173370.0372306199 calls" helps no
// one; the JSON and CSV reports keep the exact figure.
func FormatCount(v float64) string {
	tenths := math.Round(v*10) / 10
	if tenths == math.Trunc(tenths) || math.Abs(v) >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(tenths, 'f', 1, 64)
}
