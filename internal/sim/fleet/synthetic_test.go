package fleet

import (
	"reflect"
	"runtime"
	"testing"
)

func TestSyntheticDeterministicAndValid(t *testing.T) {
	a := Synthetic(SyntheticOptions{Instances: 3000, Regions: 3, Accounts: 2, Seed: 42})
	b := Synthetic(SyntheticOptions{Instances: 3000, Regions: 3, Accounts: 2, Seed: 42})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different fleets")
	}
	c := Synthetic(SyntheticOptions{Instances: 3000, Regions: 3, Accounts: 2, Seed: 43})
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same fleet")
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, acct := range a.Accounts {
		if len(acct.Regions) != 3 {
			t.Errorf("account %s: %d Regions, want 3", acct.ID, len(acct.Regions))
		}
		for _, r := range acct.Regions {
			n += len(r.Instances)
		}
	}
	if n != 3000 {
		t.Errorf("instances = %d, want 3000", n)
	}
	if a.Accounts[0].Regions[0].Name != "us-east-1" || len(a.Accounts[0].Regions[0].Instances) <= len(a.Accounts[0].Regions[2].Instances) {
		t.Errorf("us-east-1 should come first and be busiest")
	}
}

// TestSyntheticMix checks the shares of the kinds a scan tells apart.
func TestSyntheticMix(t *testing.T) {
	f := Synthetic(SyntheticOptions{Instances: 20000, Regions: 4, Seed: 1})
	var total, required, hop2, v1, stopped, longStopped, recentStopped, container, containerV1, disabled, terminated, recent, profile, rejected int
	ids := map[string]bool{}
	for _, r := range f.Accounts[0].Regions {
		for i := range r.Instances {
			in := &r.Instances[i]
			total++
			if ids[in.ID] {
				t.Fatalf("duplicate id %s", in.ID)
			}
			ids[in.ID] = true
			mo := in.MetadataOptions
			usesV1 := false
			for _, u := range in.Usage {
				if u.Metric == MetricNoToken {
					usesV1 = true
				}
				if u.Metric == MetricNoTokenRejected {
					rejected++
				}
			}
			_, isEKS := in.Tags["eks:cluster-name"]
			_, isECS := in.Tags["AmazonECSManaged"]
			switch {
			case in.State == "terminated":
				terminated++
			case in.State == "stopped":
				stopped++
				end := in.Running[0].To.rel
				if end < -59*synthDay {
					longStopped++
				} else if end > -11*synthDay {
					recentStopped++
				}
			case isEKS || isECS:
				container++
				if mo.HttpPutResponseHopLimit != 1 {
					t.Errorf("container host %s: hop limit %d", in.ID, mo.HttpPutResponseHopLimit)
				}
				if usesV1 {
					containerV1++
				}
			case mo.HttpEndpoint == "disabled":
				disabled++
			case mo.HttpTokens == "required":
				required++
				if mo.HttpPutResponseHopLimit == 2 {
					hop2++
				}
			case usesV1:
				v1++
			}
			if in.State == "running" && in.LaunchTime.rel > -3*synthDay {
				recent++
			}
			if in.InstanceProfileArn != "" {
				profile++
			}
		}
	}
	pct := func(n int) float64 { return 100 * float64(n) / float64(total) }
	checks := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"enforced", pct(required), 32, 38},
		{"enforced with hop 2", pct(hop2), 9, 15},
		{"v1-in-use", pct(v1), 17, 23},
		{"stopped", pct(stopped), 6.5, 9.5},
		{"long stopped", pct(longStopped), 3, 5},
		{"recently stopped", pct(recentStopped), 3, 5},
		{"container hosts", pct(container), 5, 7},
		{"container hosts using v1", pct(containerV1), 2, 4},
		{"disabled", pct(disabled), 2, 4},
		{"terminated", pct(terminated), 1.5, 2.5},
		{"launched in the last 3 days", pct(recent), 2, 8},
		{"with instance profile", pct(profile), 55, 68},
		{"with rejected calls", pct(rejected), 1, 4},
	}
	for _, c := range checks {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %.1f%%, want %.0f..%.0f%%", c.name, c.got, c.min, c.max)
		}
	}
}

func TestSyntheticMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 100,000 instances")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := Synthetic(SyntheticOptions{Instances: 100000, Regions: 8, Seed: 1})
	runtime.GC()
	runtime.ReadMemStats(&after)
	mb := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	t.Logf("100,000 synthetic instances hold %.0f MB", mb)
	if mb > 150 {
		t.Errorf("100,000 instances hold %.0f MB, want under 150 MB", mb)
	}
	runtime.KeepAlive(f)
}

// TestSyntheticLaunchSources checks that most instances belong to a group,
// as in real fleets, that every auto tag names a source the Region holds,
// and that every kind of source a next-launch resolution meets occurs.
func TestSyntheticLaunchSources(t *testing.T) {
	f := Synthetic(SyntheticOptions{Instances: 20000, Regions: 6, Seed: 7})
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	total, inGroup := 0, 0
	for _, r := range f.Accounts[0].Regions {
		if d := r.Defaults; d != nil {
			seen["defaults:"+d.ManagedBy]++
		}
		for _, im := range r.Images {
			if im.ImdsSupport == "v2.0" {
				seen["image:v2.0"]++
			}
			if im.Deregistered() {
				seen["image:deregistered"]++
			}
		}
		for _, g := range r.AutoScalingGroups {
			switch {
			case g.LaunchConfigurationName != "":
				seen["group:launch-configuration"]++
			case g.MixedInstancesPolicy != nil:
				seen["group:mixed"]++
				for _, o := range g.MixedInstancesPolicy.Overrides {
					if o.LaunchTemplate != nil {
						seen["group:override-template"]++
					}
				}
			default:
				seen["group:template "+g.LaunchTemplate.Version]++
			}
			if g.Tags["eks:nodegroup-name"] != "" {
				seen["group:eks"]++
			}
		}
		for _, lt := range r.LaunchTemplates {
			if lt.Latest() != lt.Default() {
				seen["template:latest-not-default"]++
			}
		}
		for i := range r.Instances {
			in := &r.Instances[i]
			total++
			if name := in.Tags[TagAutoScalingGroup]; name != "" {
				inGroup++
				if _, ok := r.Group(name); !ok {
					t.Fatalf("%s: group %q not in %s", in.ID, name, r.Name)
				}
			}
			if id := in.Tags[TagLaunchTemplateID]; id != "" {
				lt, ok := r.LaunchTemplateByRef(LaunchTemplateRef{ID: id})
				if !ok {
					t.Fatalf("%s: template %s not in %s", in.ID, id, r.Name)
				}
				v := in.Tags[TagLaunchTemplateVersion]
				if _, ok := lt.Version(v); !ok {
					t.Fatalf("%s: template %s has no version %q", in.ID, id, v)
				}
				if n, _ := lt.Version(v); n.Number != lt.Latest() && n.Number != lt.Default() {
					seen["instance:older-version"]++
				}
			}
			if in.Tags["karpenter.sh/nodepool"] != "" {
				seen["instance:karpenter"]++
			}
			if in.Tags[TagLaunchTemplateID] == "" && in.Tags[TagAutoScalingGroup] == "" {
				seen["instance:by-hand"]++
			}
		}
	}
	if pct := 100 * float64(inGroup) / float64(total); pct < 75 || pct > 95 {
		t.Errorf("%.1f%% of instances in a group, want 75..95%%", pct)
	}
	for _, k := range []string{"defaults:account", "defaults:declarative-policy", "image:v2.0", "image:deregistered",
		"group:launch-configuration", "group:mixed", "group:override-template", "group:template $Default", "group:template $Latest",
		"group:eks", "template:latest-not-default", "instance:older-version", "instance:karpenter", "instance:by-hand"} {
		if seen[k] == 0 {
			t.Errorf("synthetic fleet lacks %s", k)
		}
	}
	t.Logf("%d instances, %d in groups: %v", total, inGroup, seen)
}
