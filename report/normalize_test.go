package report_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestSummarize(t *testing.T) {
	r := &report.Report{
		Targets: []report.Target{
			{Account: "1", Region: "a", Status: report.TargetOK, Instances: 99},
			{Account: "1", Region: "b", Status: report.TargetError},
			{Account: "2", Region: "a", Status: report.TargetOK},
		},
		Instances: []report.Instance{
			{Account: "1", Region: "a", InstanceID: "i-1", Classification: report.ClassReady, Risks: []string{report.RiskRoleExposed}},
			{Account: "1", Region: "a", InstanceID: "i-2", Classification: report.ClassReady},
			{Account: "2", Region: "a", InstanceID: "i-3", Classification: report.ClassV1InUse,
				Risks: []string{report.RiskRoleExposed, report.RiskContainerHopLimit}},
		},
	}
	report.Summarize(r)
	want := report.Summary{
		Instances: 3,
		ByClassification: map[string]int{
			report.ClassV1InUse: 1, report.ClassNoData: 0, report.ClassReady: 2, report.ClassEnforced: 0, report.ClassDisabled: 0,
		},
		ByRisk: map[string]int{report.RiskContainerHopLimit: 1, report.RiskRoleExposed: 2, report.RiskV1Rejected: 0, report.RiskNextLaunchV1: 0},
	}
	if !reflect.DeepEqual(r.Summary, want) {
		t.Errorf("Summary = %+v\nwant      %+v", r.Summary, want)
	}
	var counts []int
	for _, tg := range r.Targets {
		counts = append(counts, tg.Instances)
	}
	if !reflect.DeepEqual(counts, []int{2, 0, 1}) {
		t.Errorf("target instance counts = %v, want [2 0 1] (recounted, not kept)", counts)
	}

	// Every key is present for an empty report too.
	empty := &report.Report{}
	report.Summarize(empty)
	if len(empty.Summary.ByClassification) != len(report.Classifications) || len(empty.Summary.ByRisk) != len(report.Risks) {
		t.Errorf("empty summary lacks keys: %+v", empty.Summary)
	}
}

func TestSort(t *testing.T) {
	r := &report.Report{
		Targets: []report.Target{{Account: "2", Region: "a"}, {Account: "1", Region: "b"}, {Account: "1", Region: "a"}},
		Instances: []report.Instance{
			{Account: "2", Region: "a", InstanceID: "i-1"},
			{Account: "1", Region: "b", InstanceID: "i-0"},
			{Account: "1", Region: "a", InstanceID: "i-9"},
			{Account: "1", Region: "a", InstanceID: "i-10"},
		},
	}
	report.Sort(r)
	var got []string
	for _, in := range r.Instances {
		got = append(got, in.Account+"/"+in.Region+"/"+in.InstanceID)
	}
	if want := []string{"1/a/i-10", "1/a/i-9", "1/b/i-0", "2/a/i-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("instances = %v, want %v", got, want)
	}
	got = nil
	for _, tg := range r.Targets {
		got = append(got, tg.Account+"/"+tg.Region)
	}
	if want := []string{"1/a", "1/b", "2/a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("targets = %v, want %v", got, want)
	}
}

func TestNormalize(t *testing.T) {
	east := time.FixedZone("UTC-5", -5*3600)
	last := time.Date(2026, 11, 20, 19, 0, 0, 0, east)
	r := &report.Report{
		GeneratedAt: time.Now(), // carries a monotonic reading
		Instances: []report.Instance{
			{Account: "1", Region: "a", InstanceID: "i-2", LaunchTime: time.Date(2026, 1, 1, 0, 0, 0, 0, east),
				Usage: report.Usage{LastCallAt: &last}},
			{Account: "1", Region: "a", InstanceID: "i-1"},
		},
	}
	report.Normalize(r)
	if r.Targets == nil {
		t.Error("Targets is nil")
	}
	for _, in := range r.Instances {
		if in.Tags == nil || in.Risks == nil {
			t.Errorf("%s: nil tags or risks", in.InstanceID)
		}
	}
	if r.Instances[0].InstanceID != "i-1" {
		t.Error("instances not sorted")
	}
	in := r.Instances[1]
	if in.LaunchTime.Location() != time.UTC || in.Usage.LastCallAt.Location() != time.UTC || r.GeneratedAt.Location() != time.UTC {
		t.Error("times not in UTC")
	}
	if !in.Usage.LastCallAt.Equal(last) || in.Usage.LastCallAt == &last {
		t.Error("LastCallAt changed instant, or still aliases the caller's time")
	}
	if !r.Instances[0].LaunchTime.IsZero() {
		t.Error("zero launch time is no longer zero")
	}
	if r.Summary.Instances != 2 {
		t.Errorf("summary not computed: %+v", r.Summary)
	}
	// Idempotent.
	before := writeJSON(t, r)
	report.Normalize(r)
	if after := writeJSON(t, r); string(after) != string(before) {
		t.Error("a second Normalize changed the report")
	}
}

func TestFormatCount(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {3, "3"}, {0.4, "0.4"}, {12.34, "12.3"}, {99.96, "100"}, {2.04, "2"},
		{100.4, "100"}, {173370.0372306199, "173370"}, {3360.0000000000005, "3360"},
	} {
		if got := report.FormatCount(c.in); got != c.want {
			t.Errorf("FormatCount(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
