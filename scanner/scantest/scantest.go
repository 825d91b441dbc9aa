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
