// Package scantest builds simulated fleets whose scan results are known in
// advance, instance by instance, for the scanner's and the scan command's
// end-to-end tests. It imports no testing package: it only builds data.
//
// Every time in a fleet it builds is a whole number of days before the UTC
// midnight of its clock, so the expectations hold for a fixed clock and for
// the wall clock alike (except in the first five minutes of a UTC day).
package scantest

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
)

const day = 24 * time.Hour

// Want is what a 14-day scan with the default --min-observed-days must
// report for one instance.
type Want struct {
	Profile        string
	Account        string
	Region         string
	Reported       bool // false: terminated or shutting-down, counted only
	Classification string
	Risks          []string
	Usage          report.Usage // Error is not compared
	Tags           map[string]string
}

// Profile is one kind of instance.
type Profile struct {
	Name string
	// Build returns the instance (ID, Tags filled by the caller).
	Build func(day0 time.Time) fleet.Instance
	// Want returns the expected report; day0 is the clock's UTC midnight.
	Want func(day0 time.Time) Want
}

func at(day0 time.Time, days int) fleet.RelTime {
	return fleet.Abs(day0.Add(time.Duration(days) * day))
}

func tp(t time.Time) *time.Time { return &t }

func opts(tokens, endpoint string, hop int32) fleet.MetadataOptions {
	return fleet.MetadataOptions{HttpTokens: tokens, HttpEndpoint: endpoint, HttpPutResponseHopLimit: hop}
}

// Window buckets of a 14-day lookback: day0-14d … day0.
const fullDays = 15

// InstanceProfileArn is the profile ARN the role-bearing profiles carry.
const InstanceProfileArn = "arn:aws:iam::111111111111:instance-profile/app"

// v1Usage is 12 calls an hour (one per 5-minute datapoint) for two whole
// days, day0-5d to day0-3d: 576 calls on 2 days, last bucket day0-4d.
func v1Usage(day0 time.Time, metric string) []fleet.UsageSegment {
	return []fleet.UsageSegment{{Metric: metric, From: at(day0, -5), To: at(day0, -3), PerHour: 12}}
}

func v1Want(day0 time.Time) report.Usage {
	return report.Usage{Status: report.UsageComplete, NoTokenCalls: 576, DaysWithCalls: 2, LastCallAt: tp(day0.Add(-4 * day)), Datapoints: fullDays}
}

func quiet(points int) report.Usage {
	return report.Usage{Status: report.UsageComplete, Datapoints: points}
}

// Profiles returns every kind of instance the end-to-end tests use: each
// classification, each risk, each state that is scanned or only counted.
func Profiles() []Profile {
	running := func(o fleet.MetadataOptions) func(time.Time) fleet.Instance {
		return func(day0 time.Time) fleet.Instance {
			return fleet.Instance{State: "running", LaunchTime: at(day0, -30), MetadataOptions: o}
		}
	}
	return []Profile{
		{
			Name: "v1",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("optional", "enabled", 2))(d)
				in.Usage = v1Usage(d, fleet.MetricNoToken)
				return in
			},
			Want: func(d time.Time) Want {
				return Want{Classification: report.ClassV1InUse, Usage: v1Want(d)}
			},
		},
		{
			Name:  "ready",
			Build: running(opts("optional", "enabled", 2)),
			Want:  func(time.Time) Want { return Want{Classification: report.ClassReady, Usage: quiet(fullDays)} },
		},
		{
			Name: "recent",
			Build: func(d time.Time) fleet.Instance {
				return fleet.Instance{State: "running", LaunchTime: at(d, -3), MetadataOptions: opts("optional", "enabled", 2)}
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassNoData, Usage: quiet(4)} },
		},
		{
			Name: "stopped-long",
			Build: func(d time.Time) fleet.Instance {
				return fleet.Instance{State: "stopped", LaunchTime: at(d, -30), MetadataOptions: opts("optional", "enabled", 2),
					Running: []fleet.Interval{{From: at(d, -30), To: at(d, -10)}}}
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassNoData, Usage: quiet(4)} },
		},
		{
			Name: "stopped-recently",
			Build: func(d time.Time) fleet.Instance {
				return fleet.Instance{State: "stopped", LaunchTime: at(d, -30), MetadataOptions: opts("optional", "enabled", 2),
					Running: []fleet.Interval{{From: at(d, -30), To: at(d, -4)}}}
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassReady, Usage: quiet(10)} },
		},
		{
			Name:  "enforced",
			Build: running(opts("required", "enabled", 2)),
			Want:  func(time.Time) Want { return Want{Classification: report.ClassEnforced, Usage: quiet(fullDays)} },
		},
		{
			Name: "rejected",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("required", "enabled", 2))(d)
				in.Usage = []fleet.UsageSegment{{Metric: fleet.MetricNoTokenRejected, From: at(d, -2), To: at(d, -1), PerHour: 12}}
				return in
			},
			Want: func(d time.Time) Want {
				return Want{Classification: report.ClassEnforced, Risks: []string{report.RiskV1Rejected},
					Usage: report.Usage{Status: report.UsageComplete, NoTokenRejected: 288, DaysWithCalls: 1, LastCallAt: tp(d.Add(-2 * day)), Datapoints: fullDays}}
			},
		},
		{
			Name:  "disabled",
			Build: running(opts("optional", "disabled", 1)),
			Want: func(time.Time) Want {
				return Want{Classification: report.ClassDisabled, Usage: report.Usage{Status: report.UsageNone}}
			},
		},
		{
			Name: "eks-v1",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("optional", "enabled", 1))(d)
				in.Tags = map[string]string{"eks:cluster-name": "prod"}
				in.Usage = v1Usage(d, fleet.MetricNoToken)
				return in
			},
			Want: func(d time.Time) Want {
				return Want{Classification: report.ClassV1InUse, Risks: []string{report.RiskContainerHopLimit}, Usage: v1Want(d)}
			},
		},
		{
			Name: "karpenter-ready-hop2",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("optional", "enabled", 2))(d)
				in.Tags = map[string]string{"karpenter.sh/nodepool": "default"}
				return in
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassReady, Usage: quiet(fullDays)} },
		},
		{
			Name: "k8s-enforced-hop1",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("required", "enabled", 1))(d)
				in.Tags = map[string]string{"kubernetes.io/cluster/prod": "owned"}
				return in
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassEnforced, Usage: quiet(fullDays)} },
		},
		{
			Name: "custom-container-hop1",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("optional", "enabled", 1))(d)
				in.Tags = map[string]string{"platform": "nomad"} // a container host only with --container-tag platform=nomad
				return in
			},
			Want: func(time.Time) Want {
				return Want{Classification: report.ClassReady, Risks: []string{report.RiskContainerHopLimit}, Usage: quiet(fullDays)}
			},
		},
		{
			Name: "role",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("optional", "enabled", 2))(d)
				in.InstanceProfileArn = InstanceProfileArn
				return in
			},
			Want: func(time.Time) Want {
				return Want{Classification: report.ClassReady, Risks: []string{report.RiskRoleExposed}, Usage: quiet(fullDays)}
			},
		},
		{
			// Stopping (like pending) is scanned; it ran until now.
			Name: "stopping",
			Build: func(d time.Time) fleet.Instance {
				in := running(opts("optional", "enabled", 2))(d)
				in.State = "stopping"
				return in
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassReady, Usage: quiet(fullDays)} },
		},
		{
			// Pending since yesterday's midnight: two observed days.
			Name: "pending",
			Build: func(d time.Time) fleet.Instance {
				return fleet.Instance{State: "pending", LaunchTime: at(d, -1), MetadataOptions: opts("optional", "enabled", 1)}
			},
			Want: func(time.Time) Want { return Want{Classification: report.ClassNoData, Usage: quiet(2)} },
		},
		{
			Name:  "terminated",
			Build: func(d time.Time) fleet.Instance { return fleet.Instance{State: "terminated", LaunchTime: at(d, -30)} },
			Want:  func(time.Time) Want { return Want{} },
		},
		{
			Name:  "shutting-down",
			Build: running(opts("optional", "enabled", 1)),
			Want:  func(time.Time) Want { return Want{} },
		},
	}
}

// ContainerTag is the --container-tag value the custom-container profile needs.
const ContainerTag = "platform=nomad"

// Expect is a fleet under construction and what a scan of it must report.
type Expect struct {
	Day0 time.Time
	Want map[string]*Want // by instance id
	next int
}

// New starts an expectation for a clock at now.
func New(now time.Time) *Expect {
	return &Expect{Day0: now.UTC().Truncate(day), Want: map[string]*Want{}}
}

// Instances builds n instances for (account, region), cycling through
// Profiles, with ids unique within e. Instance k also carries the tags
// env=prod|stage|dev (k%3) and team=a|b (k%2) and Name=<profile>-<k>.
func (e *Expect) Instances(account, region string, n int) []fleet.Instance {
	profiles := Profiles()
	out := make([]fleet.Instance, 0, n)
	for k := range n {
		p := profiles[k%len(profiles)]
		in := p.Build(e.Day0)
		e.next++
		in.ID = fmt.Sprintf("i-%017x", e.next)
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		in.Tags["Name"] = fmt.Sprintf("%s-%d", p.Name, k)
		in.Tags["env"] = []string{"prod", "stage", "dev"}[k%3]
		in.Tags["team"] = []string{"a", "b"}[k%2]
		if p.Name == "shutting-down" {
			in.State = "shutting-down"
		}
		w := p.Want(e.Day0)
		w.Profile, w.Account, w.Region = p.Name, account, region
		w.Reported = p.Name != "terminated" && p.Name != "shutting-down"
		if w.Risks == nil {
			w.Risks = []string{}
		}
		w.Tags = in.Tags
		e.Want[in.ID] = &w
		out = append(out, in)
	}
	return out
}

// Reporter is the part of *testing.T that [Expect.Require] uses (this
// package imports no testing package).
type Reporter interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
}

// Require reports each difference [Expect.Check] finds as a test error,
// the first 20 in full and then a count.
func (e *Expect) Require(t Reporter, r *report.Report, inTargets func(account, region string) bool, adjust func(*Want)) {
	t.Helper()
	problems := e.Check(r, inTargets, adjust)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("… and %d more", len(problems)-i)
			break
		}
		t.Error(p)
	}
}

// Check compares every instance of r with its expectation and reports each
// difference as one line; it also reports expected instances missing from
// targets that inTargets selects (nil: all). adjust, if set, edits a copy
// of each Want first (e.g. usage "error" in a Region denied CloudWatch).
func (e *Expect) Check(r *report.Report, inTargets func(account, region string) bool, adjust func(*Want)) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	for i := range r.Instances {
		got := &r.Instances[i]
		w, ok := e.Want[got.InstanceID]
		if !ok {
			bad("%s: reported but not expected", got.InstanceID)
			continue
		}
		want := *w
		if adjust != nil {
			adjust(&want)
		}
		seen[got.InstanceID] = true
		id := got.InstanceID + " (" + want.Profile + ")"
		if !want.Reported {
			bad("%s: state %s should be counted, not reported", id, got.State)
			continue
		}
		if got.Account != want.Account || got.Region != want.Region {
			bad("%s: at %s/%s, want %s/%s", id, got.Account, got.Region, want.Account, want.Region)
		}
		if got.Classification != want.Classification {
			bad("%s: classification %q, want %q (usage %s)", id, got.Classification, want.Classification, UsageText(got.Usage))
		}
		if !slices.Equal(got.Risks, want.Risks) {
			bad("%s: risks %v, want %v", id, got.Risks, want.Risks)
		}
		gu, wu := got.Usage, want.Usage
		if gu.Status != wu.Status || math.Abs(gu.NoTokenCalls-wu.NoTokenCalls) > 1e-9 || math.Abs(gu.NoTokenRejected-wu.NoTokenRejected) > 1e-9 ||
			gu.DaysWithCalls != wu.DaysWithCalls || gu.Datapoints != wu.Datapoints || !sameTime(gu.LastCallAt, wu.LastCallAt) {
			bad("%s: usage %s, want %s", id, UsageText(gu), UsageText(wu))
		}
		if wu.Status == report.UsageError && gu.Error == "" {
			bad("%s: usage error without a message", id)
		}
		if got.Name != want.Tags["Name"] || got.Tags["env"] != want.Tags["env"] || got.Tags["team"] != want.Tags["team"] {
			bad("%s: name %q tags %v, want %v", id, got.Name, got.Tags, want.Tags)
		}
		if got.Recommendation == "" {
			bad("%s: no recommendation", id)
		}
	}
	for id, w := range e.Want {
		if w.Reported && (inTargets == nil || inTargets(w.Account, w.Region)) && !seen[id] {
			bad("%s (%s, %s/%s): not reported", id, w.Profile, w.Account, w.Region)
		}
	}
	slices.Sort(problems)
	return problems
}

// Counts returns, for one target, the instances a scan must report, those
// it must only count (terminated, shutting-down) and those it must query
// CloudWatch for (endpoint enabled).
func (e *Expect) Counts(account, region string) (reported, counted, queried int) {
	for _, w := range e.Want {
		if w.Account != account || w.Region != region {
			continue
		}
		switch {
		case !w.Reported:
			counted++
		default:
			reported++
			if w.Usage.Status != report.UsageNone {
				queried++
			}
		}
	}
	return reported, counted, queried
}

// Filter returns a copy of e keeping only the expectations keep selects.
func (e *Expect) Filter(keep func(*Want) bool) *Expect {
	out := &Expect{Day0: e.Day0, Want: map[string]*Want{}, next: e.next}
	for id, w := range e.Want {
		if keep(w) {
			out.Want[id] = w
		}
	}
	return out
}

// CloudWatchDenied adjusts a Want for a Region whose CloudWatch calls are
// denied: every queried instance has usage "error", the optional ones are
// no-data, and v1-rejected (which needs the metric) disappears.
func CloudWatchDenied(w *Want) {
	if w.Usage.Status == report.UsageNone {
		return
	}
	w.Usage = report.Usage{Status: report.UsageError}
	if w.Classification != report.ClassEnforced {
		w.Classification = report.ClassNoData
	}
	w.Risks = slices.DeleteFunc(slices.Clone(w.Risks), func(s string) bool { return s == report.RiskV1Rejected })
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// UsageText renders u's compared fields on one line.
func UsageText(u report.Usage) string {
	last := "nil"
	if u.LastCallAt != nil {
		last = u.LastCallAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("status=%s calls=%v rejected=%v days=%d points=%d last=%s",
		u.Status, u.NoTokenCalls, u.NoTokenRejected, u.DaysWithCalls, u.Datapoints, last)
}
