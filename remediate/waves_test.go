package remediate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestParseWaves(t *testing.T) {
	good := map[string]string{"1,10%,50%,100%": "1 10% 50% 100%", "100%": "100%", "2,5,100%": "2 5 100%", "0.5%,100%": "0.5% 100%"}
	for in, want := range good {
		ws, err := ParseWaves(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q: %v", in, got)
		}
	}
	for _, bad := range []string{"", "1,50%", "50%,10%,100%", "1,1,100%", "0,100%", "10%,2,100%", "x,100%", "150%", "NaN%,100%", "-5%,100%"} {
		if _, err := ParseWaves(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseWaveBy(t *testing.T) {
	w, err := ParseWaveBy("tag:env=dev,env=staging,env=prod")
	if err != nil || w.Key != "env" || strings.Join(w.Values, ",") != "dev,staging,prod" {
		t.Fatalf("%+v %v", w, err)
	}
	for _, bad := range []string{"env=dev", "tag:", "tag:env=dev,team=x", "tag:env=dev,env=dev", "tag:=x"} {
		if _, err := ParseWaveBy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAssignWaves(t *testing.T) {
	// Ten changes: two Auto Scaling groups in us-east-1 (a: 0-3, b: 4-5),
	// and four instances without a group in eu-west-1 (6-9), env tags.
	p := &Plan{}
	for i := range 10 {
		it := Item{Account: "1", Region: "us-east-1", InstanceID: fmt.Sprintf("i-%d", i), Tags: map[string]string{}}
		switch {
		case i < 4:
			it.Tags[ASGTag] = "a"
		case i < 6:
			it.Tags[ASGTag] = "b"
		default:
			it.Region = "eu-west-1"
		}
		it.Tags["env"] = []string{"dev", "prod", "qa"}[i%3]
		p.Changes = append(p.Changes, it)
	}
	show := func(ws []Wave) string {
		var parts []string
		for _, w := range ws {
			parts = append(parts, fmt.Sprint(w.Stage, w.Items))
		}
		return strings.Join(parts, " ")
	}
	sizes, _ := ParseWaves("1,50%,100%")
	if got, want := show(AssignWaves(p, sizes, nil)), "[0 4 6] [1 2] [3 5 7 8 9]"; got != want {
		t.Errorf("canary per group then 50%%, 100%%: %s, want %s", got, want)
	}
	// Both groups are one workload in the report: one canary for both.
	for i := range 6 {
		p.Changes[i].Workload = "web"
	}
	if got, want := show(AssignWaves(p, sizes[:1], nil)), "[0 6]"; got != want {
		t.Errorf("workloads: %s, want %s", got, want)
	}
	by, _ := ParseWaveBy("tag:env=dev,env=prod")
	if got, want := show(AssignWaves(p, nil, by)), "env=dev[0 3 6 9] env=prod[1 4 7] other[2 5 8]"; got != want {
		t.Errorf("by env: %s, want %s", got, want)
	}
	all, _ := ParseWaves("100%")
	if got, want := show(AssignWaves(p, all, nil)), "[0 1 2 3 4 5 6 7 8 9]"; got != want {
		t.Errorf("100%%: %s", got)
	}
	if got := AssignWaves(&Plan{}, sizes, nil); len(got) != 0 {
		t.Errorf("no changes: %d waves", len(got))
	}
}

func TestWorkloadOfLaunchSource(t *testing.T) {
	in := func(ls *report.InstanceLaunchSource) *report.Instance {
		return &report.Instance{Account: "1", Region: "r", LaunchSource: ls}
	}
	for _, tc := range []struct {
		ls   *report.InstanceLaunchSource
		want string
	}{
		{nil, ""},
		{&report.InstanceLaunchSource{AutoScalingGroup: "web", TemplateID: "lt-1"}, report.WorkloadAutoScalingGroup + "/1/r/web"},
		{&report.InstanceLaunchSource{EKSNodegroup: "ng"}, report.WorkloadEKSNodegroup + "/1/r/ng"},
		{&report.InstanceLaunchSource{KarpenterPool: "default"}, report.WorkloadKarpenter + "/1/r/default"},
		{&report.InstanceLaunchSource{TemplateID: "lt-1"}, report.WorkloadLaunchTemplate + "/1/r/lt-1"},
		{&report.InstanceLaunchSource{Kind: "manual"}, ""},
	} {
		if got := workloadOf(in(tc.ls)); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ls, got, tc.want)
		}
	}
	// The report's own workload ID comes first.
	named := in(&report.InstanceLaunchSource{AutoScalingGroup: "web"})
	named.Workload = "tag/1/r/team=payments"
	if got := workloadOf(named); got != named.Workload {
		t.Errorf("report workload: %q", got)
	}
}

func TestAssignWavesCanaryPrefersRunning(t *testing.T) {
	// Group a: 0 stopped, 1 running; group b: 2 stopped only. The canary
	// of a is 1 (a stopped canary publishes nothing a bake could read);
	// b has no running instance, so its stopped one is its canary.
	p := &Plan{}
	for i, st := range []string{"stopped", "running", "stopped", "running"} {
		asg := "a"
		if i == 2 {
			asg = "b"
		}
		p.Changes = append(p.Changes, Item{Account: "1", Region: "us-east-1", InstanceID: fmt.Sprintf("i-%d", i), State: st, Tags: map[string]string{ASGTag: asg}})
	}
	ws := AssignWaves(p, []WaveSize{{Count: 1}, {Percent: 100}}, nil)
	if len(ws) != 2 || fmt.Sprint(ws[0].Items) != "[1 2]" || fmt.Sprint(ws[1].Items) != "[0 3]" {
		t.Fatalf("waves %+v, want canary [1 2] then [0 3]", ws)
	}
}
