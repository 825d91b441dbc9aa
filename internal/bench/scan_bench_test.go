// Package bench measures imdsfleet against the simulated AWS with AWS-like
// latency: API calls against the minimum AWS allows, wall time against the
// lower bound, the scan's peak memory, and the per-instance peer strategy
// for comparison. Run with `make bench`; nothing here runs under `make test`.
//
// Both the simulated AWS and the scan run as real processes of the built
// binary, so the scan's peak RSS is its own and every call crosses HTTP.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/report"
)

var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // not benchmarking (make test): no binary needed
	}
	dir, err := os.MkdirTemp("", "imdsfleet-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "imdsfleet")
	build := exec.Command("go", "build", "-o", binPath, "../../cmd/imdsfleet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build imdsfleet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// latencyArgs are the AWS-like latency knobs of issue 3: about 150 ms per
// call plus 1 ms per KiB of answer.
var latencyArgs = []string{"--latency", "150ms", "--latency-per-kib", "1ms", "--jitter", "10ms"}

// simProc is a running `imdsfleet sim`.
type simProc struct {
	cmd *exec.Cmd
	env []string
	url string
}

func startSim(b *testing.B, args ...string) *simProc {
	b.Helper()
	cmd := exec.Command(binPath, append([]string{"sim", "--addr", "127.0.0.1:0", "--quiet"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &simProc{cmd: cmd}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "=") {
			continue
		}
		p.env = append(p.env, line)
		if v, ok := strings.CutPrefix(line, "AWS_ENDPOINT_URL="); ok {
			p.url = v
		}
		if strings.HasPrefix(line, "AWS_REGION=") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if p.url == "" {
		b.Fatal("imdsfleet sim printed no AWS_ENDPOINT_URL")
	}
	return p
}

func (p *simProc) environ() []string {
	env := append(os.Environ(), p.env...)
	return append(env, "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}

func (p *simProc) envValue(key string) string {
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func (p *simProc) stats(b *testing.B) map[string]map[string]map[string]int {
	b.Helper()
	resp, err := http.Get(p.url + "/_sim/stats")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var s map[string]map[string]map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		b.Fatalf("decode /_sim/stats: %v", err)
	}
	return s
}

func (p *simProc) resetStats(b *testing.B) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodDelete, p.url+"/_sim/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

func (p *simProc) config() aws.Config {
	return aws.Config{
		Region:       p.envValue("AWS_REGION"),
		BaseEndpoint: aws.String(p.url),
		Credentials:  credentials.NewStaticCredentialsProvider(p.envValue("AWS_ACCESS_KEY_ID"), p.envValue("AWS_SECRET_ACCESS_KEY"), ""),
		Retryer:      func() aws.Retryer { return awsconfig.NewRetryer(10, 2*time.Second) },
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// BenchmarkScan runs `imdsfleet scan` over synthetic fleets and reports the
// figures of issue 3: calls per API against the minimum, wall time against
// the lower bound, and peak RSS.
func BenchmarkScan(b *testing.B) {
	for _, c := range []struct{ instances, regions int }{{10000, 4}, {100000, 16}} {
		b.Run(fmt.Sprintf("instances=%d/regions=%d", c.instances, c.regions), func(b *testing.B) {
			if c.instances > 10000 && testing.Short() {
				b.Skip("-short: skipping the 100,000-instance fleet")
			}
			sim := startSim(b, append([]string{"--synthetic", fmt.Sprint(c.instances), "--regions", fmt.Sprint(c.regions), "--seed", "1"}, latencyArgs...)...)
			for i := 0; i < b.N; i++ {
				benchScanOnce(b, sim, c.instances)
			}
		})
	}
}

func benchScanOnce(b *testing.B, sim *simProc, want int) {
	out := filepath.Join(b.TempDir(), "report.json")
	sim.resetStats(b)
	cmd := exec.Command(binPath, "scan", "--regions", "all", "--quiet", "--format", "json", "--output", out)
	cmd.Env = sim.environ()
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("scan: %v", err)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	stats := sim.stats(b)

	rep, err := report.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	// Minimum calls AWS allows: one DescribeRegions, then per Region
	// ⌈Nᵣ/1000⌉ DescribeInstances pages (terminated instances are listed
	// too) and ⌈Mᵣ/500⌉ GetMetricData calls (Mᵣ: endpoint-enabled).
	nr := map[string]int{}
	mr := map[string]int{}
	for _, t := range rep.Targets {
		nr[t.Region] += t.Instances + t.Terminated
	}
	for _, in := range rep.Instances {
		if in.MetadataOptions.HttpEndpoint != "disabled" {
			mr[in.Region]++
		}
	}
	minDI, minGMD := 0, 0
	slowest, slowestN := "", -1
	for r, n := range nr {
		minDI += int(math.Max(1, math.Ceil(float64(n)/1000)))
		minGMD += int(math.Ceil(float64(mr[r]) / 500))
		if n > slowestN {
			slowest, slowestN = r, n
		}
	}
	gotDI := sum(stats["calls"]["DescribeInstances"]) - sum(stats["throttled"]["DescribeInstances"])
	gotGMD := sum(stats["calls"]["GetMetricData"]) - sum(stats["throttled"]["GetMetricData"])
	gotDR := sum(stats["calls"]["DescribeRegions"])
	minLaunch := minLaunchCalls(rep)
	gotLaunch := map[string]int{}
	launchOK := true
	for api, least := range minLaunch {
		gotLaunch[api] = sum(stats["calls"][api]) - sum(stats["throttled"][api])
		launchOK = launchOK && gotLaunch[api] == least
	}

	bound := lowerBound(b, sim, slowest)

	b.ReportMetric(float64(len(rep.Instances)+sumTerminated(rep)), "instances")
	b.ReportMetric(float64(gotDI)/float64(minDI), "DescribeInstances/min")
	b.ReportMetric(float64(gotGMD)/float64(minGMD), "GetMetricData/min")
	b.ReportMetric(float64(sumInts(gotLaunch))/float64(sumInts(minLaunch)), "launch-calls/min")
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(bound.Seconds(), "bound-s")
	b.ReportMetric(wall.Seconds()/bound.Seconds(), "wall/bound")
	if ru != nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
	b.Logf("calls: DescribeRegions %d (min 1), DescribeInstances %d (min %d), GetMetricData %d (min %d); throttled %d; wall %s, lower bound %s (Region %s, %d instances)",
		gotDR, gotDI, minDI, gotGMD, minGMD, sumAll(stats["throttled"]), wall.Round(time.Millisecond), bound.Round(time.Millisecond), slowest, slowestN)
	b.Logf("launch-source calls (min): %s", launchCallsLine(gotLaunch, minLaunch))
	if got := len(rep.Instances) + sumTerminated(rep); got < want*9/10 {
		b.Fatalf("report has %d instances, fleet %d", got, want)
	}
	if !launchOK {
		b.Errorf("launch-source calls above the minimum: %s", launchCallsLine(gotLaunch, minLaunch))
	}
}

// minLaunchCalls is the fewest launch-source calls AWS allows for the
// report's fleet, per API, summed over its targets: per Region one
// GetInstanceMetadataDefaults; the $Latest/$Default versions of every
// template at 200 a page (at least one page); one call per template for
// the older versions groups and instances name; the groups and the launch
// configurations at 100 a page (at least one page each); the distinct AMIs
// of the versions, configurations and instances at 200 ids a call.
func minLaunchCalls(r *report.Report) map[string]int {
	type region struct {
		listed, groups, configs int
		numbered                map[string]int
		amis                    map[string]bool
	}
	regions := map[string]*region{}
	get := func(account, name string) *region {
		k := account + "/" + name
		if regions[k] == nil {
			regions[k] = &region{numbered: map[string]int{}, amis: map[string]bool{}}
		}
		return regions[k]
	}
	for _, t := range r.Targets {
		if t.Status == report.TargetOK {
			get(t.Account, t.Region)
		}
	}
	for _, s := range r.LaunchSources {
		g := get(s.Account, s.Region)
		switch s.Kind {
		case report.SourceLaunchTemplate:
			if s.IsDefault || s.IsLatest {
				g.listed++
			} else {
				g.numbered[s.TemplateID]++
			}
		case report.SourceAutoScalingGroup:
			g.groups++
		case report.SourceLaunchConfiguration:
			g.configs++
		}
		if strings.HasPrefix(s.ImageID, "ami-") {
			g.amis[s.ImageID] = true
		}
	}
	for _, in := range r.Instances {
		if strings.HasPrefix(in.ImageID, "ami-") {
			get(in.Account, in.Region).amis[in.ImageID] = true
		}
	}
	pages := func(n, per int) int { return max(1, (n+per-1)/per) }
	least := map[string]int{}
	for _, g := range regions {
		least["GetInstanceMetadataDefaults"]++
		least["DescribeLaunchTemplateVersions"] += pages(g.listed, 200)
		for _, n := range g.numbered {
			least["DescribeLaunchTemplateVersions"] += pages(n, 200)
		}
		least["DescribeAutoScalingGroups"] += pages(g.groups, 100)
		least["DescribeLaunchConfigurations"] += pages(g.configs, 100)
		least["DescribeImages"] += (len(g.amis) + 199) / 200
	}
	return least
}

func sumInts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func launchCallsLine(got, least map[string]int) string {
	apis := make([]string, 0, len(least))
	for api := range least {
		apis = append(apis, api)
	}
	sort.Strings(apis)
	var parts []string
	for _, api := range apis {
		parts = append(parts, fmt.Sprintf("%s %d (%d)", api, got[api], least[api]))
	}
	return strings.Join(parts, ", ")
}

func sumTerminated(r *report.Report) int {
	n := 0
	for _, t := range r.Targets {
		n += t.Terminated
	}
	return n
}

func sumAll(m map[string]map[string]int) int {
	n := 0
	for _, byRegion := range m {
		n += sum(byRegion)
	}
	return n
}

// lowerBound measures, on the same server, the slowest Region's
// DescribeInstances pages fetched one after another plus one GetMetricData
// call of 500 queries: no scan can finish sooner.
func lowerBound(b *testing.B, sim *simProc, region string) time.Duration {
	b.Helper()
	ctx := context.Background()
	cfg := sim.config()
	ec2c := awsconfig.EC2(cfg, region)
	start := time.Now()
	p := ec2.NewDescribeInstancesPaginator(ec2c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatalf("lower bound: describe instances: %v", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				if len(ids) < 500 {
					ids = append(ids, aws.ToString(in.InstanceId))
				}
			}
		}
	}
	cw := awsconfig.CloudWatch(cfg, region, awsconfig.ProtocolCBOR)
	end := time.Now().UTC().Truncate(24 * time.Hour)
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(end.Add(-14 * 24 * time.Hour)), EndTime: aws.Time(end)}
	for i, id := range ids {
		in.MetricDataQueries = append(in.MetricDataQueries, cwtypes.MetricDataQuery{
			Id: aws.String(fmt.Sprintf("q%d", i)),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(id)}}},
				Period: aws.Int32(86400), Stat: aws.String("Sum"),
			},
		})
	}
	if _, err := cw.GetMetricData(ctx, in); err != nil {
		b.Fatalf("lower bound: get metric data: %v", err)
	}
	return time.Since(start)
}

// BenchmarkPeerStrategy measures what peers do (metabadger, Cloud
// Custodian's metrics filter): Regions one after another, one
// GetMetricStatistics call per instance. It runs on a fleet small enough to
// finish and reports the per-instance cost, extrapolated to the fleets of
// BenchmarkScan.
func BenchmarkPeerStrategy(b *testing.B) {
	const instances, regions = 400, 2
	sim := startSim(b, append([]string{"--synthetic", fmt.Sprint(instances), "--regions", fmt.Sprint(regions), "--seed", "1"}, latencyArgs...)...)
	ctx := context.Background()
	cfg := sim.config()
	for i := 0; i < b.N; i++ {
		regionNames := describeRegionNames(b, cfg)
		start := time.Now()
		n := 0
		for _, region := range regionNames {
			ec2c := awsconfig.EC2(cfg, region)
			cw := awsconfig.CloudWatch(cfg, region, awsconfig.ProtocolCBOR)
			p := ec2.NewDescribeInstancesPaginator(ec2c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
			end := time.Now().UTC().Truncate(24 * time.Hour)
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range page.Reservations {
					for _, in := range r.Instances {
						_, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
							Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken"),
							Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: in.InstanceId}},
							StartTime:  aws.Time(end.Add(-14 * 24 * time.Hour)), EndTime: aws.Time(end),
							Period: aws.Int32(86400), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum},
						})
						if err != nil {
							b.Fatal(err)
						}
						n++
					}
				}
			}
		}
		elapsed := time.Since(start)
		per := elapsed / time.Duration(n)
		b.ReportMetric(float64(per.Milliseconds()), "ms/instance")
		b.ReportMetric((per * 10000).Seconds(), "est-s@10k")
		b.ReportMetric((per * 100000).Seconds(), "est-s@100k")
		b.Logf("peer strategy: %d instances in %s (%s per instance): about %s for 10,000 and %s for 100,000 instances",
			n, elapsed.Round(time.Millisecond), per.Round(time.Millisecond), (per * 10000).Round(time.Second), (per * 100000).Round(time.Second))
	}
}

func describeRegionNames(b *testing.B, cfg aws.Config) []string {
	b.Helper()
	out, err := awsconfig.EC2(cfg, "").DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, r := range out.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	sort.Strings(names)
	return names
}
