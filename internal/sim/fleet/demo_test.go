package fleet

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// updateDemo regenerates testdata/fleets/demo.json:
//
//	go test ./internal/sim/fleet -run TestDemoFleet -update
var updateDemo = flag.Bool("update", false, "rewrite testdata/fleets/demo.json from demoFleet()")

const demoPath = "../../../testdata/fleets/demo.json"

// demoGroup is a run of similar instances in the demo fleet.
type demoGroup struct {
	n    int
	name string // Name tag prefix
	// set fills in one instance (i counts within the group).
	set func(in *Instance, i int, r *rand.Rand)
}

const demoAccount = "123456789012"

func profile(name string) string {
	return "arn:aws:iam::" + demoAccount + ":instance-profile/" + name
}

func days(d float64) time.Duration { return time.Duration(d * float64(24*time.Hour)).Round(time.Hour) }

// demoGroups is the mix of one busy Region, scaled by k (1 = 120 instances).
func demoGroups(k int) []demoGroup {
	running := func(in *Instance, from time.Duration) {
		in.State = "running"
		in.LaunchTime = Rel(-from)
	}
	return []demoGroup{
		{6 * k, "web", func(in *Instance, i int, r *rand.Rand) { // enforced, AL2023 style
			running(in, days(20+float64(r.Intn(300))))
			in.ImageID, in.InstanceType = "ami-0e731c8a588258d0d", "t3.medium"
			in.InstanceProfileArn = profile("web-server")
			in.MetadataOptions = MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}
		}},
		{1 * k, "payments-api", func(in *Instance, i int, r *rand.Rand) { // enforced, an old agent still tries v1
			running(in, days(90))
			in.ImageID, in.InstanceType = "ami-0c02fb55956c7d316", "m5.large"
			in.InstanceProfileArn = profile("payments")
			in.MetadataOptions = MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1}
			in.Usage = []UsageSegment{{Metric: MetricNoTokenRejected, From: Rel(-days(4)), PerHour: float64(6 + r.Intn(30))}}
		}},
		{5 * k, "app", func(in *Instance, i int, r *rand.Rand) { // ready, half with a role (role-exposed)
			running(in, days(30+float64(r.Intn(400))))
			in.ImageID, in.InstanceType = "ami-0c02fb55956c7d316", "m5.large"
			if i%2 == 0 {
				in.InstanceProfileArn = profile("app-role")
			}
		}},
		{4 * k, "legacy", func(in *Instance, i int, r *rand.Rand) { // v1 in use, steady
			running(in, days(200+float64(r.Intn(400))))
			in.ImageID, in.InstanceType = "ami-0b5eea76982371e91", "m4.large"
			if i%3 != 2 {
				in.InstanceProfileArn = profile("legacy-app")
			}
			in.Usage = []UsageSegment{{Metric: MetricNoToken, From: in.LaunchTime, PerHour: float64(10 + r.Intn(110))}}
		}},
		{1 * k, "reports-cron", func(in *Instance, i int, r *rand.Rand) { // v1 in nightly bursts
			running(in, days(120))
			in.ImageID, in.InstanceType = "ami-0557a15b87f6559cf", "t3.small"
			for d := 1; d <= 10; d += 3 {
				from := -days(float64(d)) + 2*time.Hour
				in.Usage = append(in.Usage, UsageSegment{Metric: MetricNoToken, From: Rel(from), To: Rel(from + time.Hour), PerHour: 40})
			}
		}},
		{1 * k, "eks-node-legacy", func(in *Instance, i int, r *rand.Rand) { // container host, hop 1, pods fall back to v1
			running(in, days(45))
			in.ImageID, in.InstanceType = "ami-0a1b2c3d4e5f60718", "m6i.xlarge"
			in.InstanceProfileArn = profile("eks-node")
			in.Tags["eks:cluster-name"] = "prod"
			in.Tags["kubernetes.io/cluster/prod"] = "owned"
			in.Usage = []UsageSegment{{Metric: MetricNoToken, From: in.LaunchTime, PerHour: float64(200 + r.Intn(300))}}
		}},
		{1 * k, "ecs-node", func(in *Instance, i int, r *rand.Rand) { // container host, hop 1, no v1 calls (ready)
			running(in, days(60))
			in.ImageID, in.InstanceType = "ami-0d5eff06f840b45e9", "c6i.xlarge"
			in.InstanceProfileArn = profile("ecs-instance")
			in.Tags["AmazonECSManaged"] = ""
		}},
		{1 * k, "karpenter-node", func(in *Instance, i int, r *rand.Rand) { // container host, enforced with hop 1 (EKS guidance)
			running(in, days(10))
			in.ImageID, in.InstanceType = "ami-0f9e8d7c6b5a40312", "m7g.large"
			in.InstanceProfileArn = profile("karpenter-node")
			in.Tags["karpenter.sh/nodepool"] = "default"
			in.Tags["eks:cluster-name"] = "prod"
			in.MetadataOptions = MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1}
		}},
		{1 * k, "build-agent", func(in *Instance, i int, r *rand.Rand) { // launched in the last 3 days: no-data
			running(in, days(0.5+float64(r.Intn(2))))
			in.ImageID, in.InstanceType = "ami-0c02fb55956c7d316", "c5.large"
			in.InstanceProfileArn = profile("ci-agent")
		}},
		{1 * k, "archive", func(in *Instance, i int, r *rand.Rand) { // stopped for months: no-data
			stop := days(90 + float64(r.Intn(200)))
			in.State = "stopped"
			in.LaunchTime = Rel(-stop - days(300))
			in.ImageID, in.InstanceType = "ami-0b5eea76982371e91", "r5.large"
			in.Running = []Interval{{From: in.LaunchTime, To: Rel(-stop)}}
			in.Usage = []UsageSegment{{Metric: MetricNoToken, From: in.LaunchTime, To: Rel(-stop), PerHour: 12}}
		}},
		{1 * k, "staging", func(in *Instance, i int, r *rand.Rand) { // stopped a few days ago after running clean
			stop := days(2 + float64(r.Intn(3)))
			in.State = "stopped"
			in.LaunchTime = Rel(-days(100))
			in.ImageID, in.InstanceType = "ami-0c02fb55956c7d316", "t3.large"
			in.Running = []Interval{{From: in.LaunchTime, To: Rel(-stop)}}
		}},
		{1 * k, "locked-down", func(in *Instance, i int, r *rand.Rand) { // endpoint disabled
			running(in, days(150))
			in.ImageID, in.InstanceType = "ami-0557a15b87f6559cf", "t3.micro"
			in.MetadataOptions = MetadataOptions{HttpEndpoint: "disabled"}
		}},
		{1 * k, "old-worker", func(in *Instance, i int, r *rand.Rand) { // terminated: counted, not reported
			end := days(1 + float64(r.Intn(5)))
			in.State = "terminated"
			in.LaunchTime = Rel(-end - days(60))
			in.ImageID, in.InstanceType = "ami-0b5eea76982371e91", "m5.large"
			in.Running = []Interval{{From: in.LaunchTime, To: Rel(-end)}}
		}},
	}
}

func demoRegion(name string, k int, r *rand.Rand, serial *int) Region {
	reg := Region{Name: name}
	envs := []string{"prod", "prod", "staging", "dev"}
	for _, g := range demoGroups(k) {
		for i := 0; i < g.n; i++ {
			*serial++
			env := envs[r.Intn(len(envs))]
			in := Instance{
				ID:   fmt.Sprintf("i-0de%014x", *serial),
				Tags: map[string]string{"Name": fmt.Sprintf("%s-%s-%02d", g.name, env, i+1), "env": env},
			}
			g.set(&in, i, r)
			reg.Instances = append(reg.Instances, in)
		}
	}
	return reg
}

// demoFleet is the fleet `make demo` scans: one account, three busy
// Regions, one Region whose EC2 answers AuthFailure, one Region that is not
// opted in; every classification and every risk; wall clock, relative times.
func demoFleet() *Fleet {
	r := rand.New(rand.NewSource(2026))
	serial := 0
	apply := Duration(2 * time.Second)
	f := &Fleet{
		Knobs: Knobs{
			Latency:    &Latency{Fixed: Duration(20 * time.Millisecond), PerKiB: Duration(50 * time.Microsecond), Jitter: Duration(10 * time.Millisecond)},
			ApplyDelay: &apply,
		},
		Accounts: []Account{{ID: demoAccount}},
	}
	use1 := demoRegion("us-east-1", 5, r, &serial)
	euw1 := demoRegion("eu-west-1", 3, r, &serial)
	euw1.Defaults = &MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpTokensEnforced: "disabled", ManagedBy: "account"}
	apne1 := demoRegion("ap-northeast-1", 2, r, &serial)
	apne1.Defaults = &MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpTokensEnforced: "enabled",
		ManagedBy: "declarative-policy", ManagedExceptionMessage: "IMDSv2 is required in Tokyo by the org security baseline: ask #platform-security for an exception"}
	sae1 := demoRegion("sa-east-1", 1, r, &serial)
	sae1.Instances = sae1.Instances[:5]
	sae1.Knobs = &Knobs{AuthFailure: true}
	for i, reg := range []*Region{&use1, &euw1, &apne1, &sae1} {
		demoLaunchSources(reg, i)
	}
	f.Accounts[0].Regions = []Region{use1, euw1, apne1, sae1, {Name: "ap-east-1", OptInStatus: "not-opted-in"}}
	f.ApplyDefaults()
	return f
}

// marshalDemo writes f with one instance per line, so the file reads (and
// diffs) like a table.
func marshalDemo(f *Fleet) ([]byte, error) {
	var b bytes.Buffer
	line := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	js := func(v any) string {
		out, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return string(out)
	}
	line(0, "{")
	line(1, `"knobs": %s,`, js(f.Knobs))
	line(1, `"accounts": [`)
	for ai, a := range f.Accounts {
		line(2, "{")
		line(3, `"id": %s,`, js(a.ID))
		line(3, `"regions": [`)
		for ri, r := range a.Regions {
			line(4, "{")
			line(5, `"name": %s,`, js(r.Name))
			if r.OptInStatus != "" {
				line(5, `"optInStatus": %s,`, js(r.OptInStatus))
			}
			if r.Knobs != nil {
				line(5, `"knobs": %s,`, js(r.Knobs))
			}
			if r.Defaults != nil {
				line(5, `"defaults": %s,`, js(r.Defaults))
			}
			list := func(name string, n int, item func(i int) any) {
				if n == 0 {
					return
				}
				line(5, `"%s": [`, name)
				for i := 0; i < n; i++ {
					comma := ","
					if i == n-1 {
						comma = ""
					}
					line(6, "%s%s", js(item(i)), comma)
				}
				line(5, "],")
			}
			list("images", len(r.Images), func(i int) any { return r.Images[i] })
			list("launchTemplates", len(r.LaunchTemplates), func(i int) any { return r.LaunchTemplates[i] })
			list("launchConfigurations", len(r.LaunchConfigurations), func(i int) any { return r.LaunchConfigurations[i] })
			list("autoScalingGroups", len(r.AutoScalingGroups), func(i int) any { return r.AutoScalingGroups[i] })
			if len(r.Instances) == 0 {
				line(5, `"instances": []`)
			} else {
				line(5, `"instances": [`)
				for ii, in := range r.Instances {
					comma := ","
					if ii == len(r.Instances)-1 {
						comma = ""
					}
					line(6, "%s%s", js(in), comma)
				}
				line(5, "]")
			}
			line(4, "}%s", map[bool]string{true: ",", false: ""}[ri < len(a.Regions)-1])
		}
		line(3, "]")
		line(2, "}%s", map[bool]string{true: ",", false: ""}[ai < len(f.Accounts)-1])
	}
	line(1, "]")
	line(0, "}")
	var check bytes.Buffer
	if err := json.Indent(&check, b.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("demo JSON is malformed: %w", err)
	}
	return b.Bytes(), nil
}

func TestDemoFleet(t *testing.T) {
	want, err := marshalDemo(demoFleet())
	if err != nil {
		t.Fatal(err)
	}
	if *updateDemo {
		if err := os.WriteFile(demoPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from demoFleet(): run go test ./internal/sim/fleet -run TestDemoFleet -update", demoPath)
	}
	f, err := LoadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if f.Clock != nil {
		t.Error("the demo fleet must follow the wall clock")
	}
	checkDemoCoverage(t, f)
	checkDemoLaunchCoverage(t, f)
}

// checkDemoCoverage asserts that every classification and risk a scan
// reports (with the default 14-day lookback and 7 observed days) occurs.
func checkDemoCoverage(t *testing.T, f *Fleet) {
	t.Helper()
	if len(f.Accounts) != 1 {
		t.Errorf("accounts = %d, want 1", len(f.Accounts))
	}
	seen := map[string]int{}
	total, busy := 0, 0
	window := -14 * 24 * time.Hour
	for _, r := range f.Accounts[0].Regions {
		if r.Knobs != nil && r.Knobs.AuthFailure {
			seen["region:authFailure"]++
		}
		if len(r.Instances) >= 30 {
			busy++
		}
		for _, in := range r.Instances {
			total++
			mo := in.MetadataOptions
			ranInWindow := in.State == "running" || len(in.Running) > 0 && in.Running[len(in.Running)-1].To.rel > window
			v1InWindow, rejected := false, false
			for _, u := range in.Usage {
				if u.Metric == MetricNoToken && u.To.rel > window && ranInWindow {
					v1InWindow = true
				}
				if u.Metric == MetricNoTokenRejected && u.PerHour > 0 {
					rejected = true
				}
			}
			_, eks := in.Tags["eks:cluster-name"]
			_, ecs := in.Tags["AmazonECSManaged"]
			container := eks || ecs
			v1Allowed := mo.HttpEndpoint != "disabled" && mo.HttpTokens != "required"
			switch {
			case in.State == "terminated":
				seen["terminated"]++
				continue
			case mo.HttpEndpoint == "disabled":
				seen["disabled"]++
			case mo.HttpTokens == "required":
				seen["enforced"]++
			case v1InWindow:
				seen["v1-in-use"]++
			case in.State == "running" && in.LaunchTime.rel > -3*24*time.Hour:
				seen["no-data:recent-launch"]++
			case in.State == "stopped" && in.Running[len(in.Running)-1].To.rel < -60*24*time.Hour:
				seen["no-data:long-stopped"]++
			default:
				seen["ready"]++
			}
			if container && v1Allowed && mo.HttpPutResponseHopLimit <= 1 {
				seen["risk:container-hop-limit"]++
				if v1InWindow {
					seen["container-v1-in-use"]++
				} else {
					seen["container-ready"]++
				}
			}
			if in.InstanceProfileArn != "" && v1Allowed {
				seen["risk:role-exposed"]++
			}
			if rejected && mo.HttpTokens == "required" {
				seen["risk:v1-rejected"]++
			}
		}
	}
	if total < 200 {
		t.Errorf("instances = %d, want ≥ 200", total)
	}
	if busy < 3 {
		t.Errorf("Regions with ≥ 30 instances = %d, want ≥ 3", busy)
	}
	for _, k := range []string{"disabled", "enforced", "v1-in-use", "ready", "no-data:recent-launch", "no-data:long-stopped", "terminated",
		"risk:container-hop-limit", "container-v1-in-use", "container-ready", "risk:role-exposed", "risk:v1-rejected", "region:authFailure"} {
		if seen[k] == 0 {
			t.Errorf("demo fleet lacks %s", k)
		}
	}
	t.Logf("demo fleet: %d instances, %v", total, seen)
}

func TestExampleFleetLoads(t *testing.T) {
	f, err := LoadFile(filepath.Join("..", "..", "..", "testdata", "fleets", "example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Clock == nil || len(f.Accounts) != 2 {
		t.Fatalf("example: clock %v, %d accounts; want a fixed clock and 2 accounts", f.Clock, len(f.Accounts))
	}
	in := f.Accounts[0].Regions[0].Instances[0]
	if in.MetadataOptions.HttpEndpoint != "enabled" || in.MetadataOptions.HttpPutResponseHopLimit == 0 {
		t.Errorf("defaults not applied: %+v", in.MetadataOptions)
	}
}
