package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
)

// BenchmarkScanOrg scans a synthetic organization of 1,000 accounts × 17
// Regions holding 200,000 instances (sizes by 1/rank: most accounts small,
// a few large), with AWS-like latency on every call, AssumeRole included.
// It reports the calls against the minimum, the wall time against a lower
// bound measured on the same server (see orgLowerBound), and the scan's
// peak RSS.
func BenchmarkScanOrg(b *testing.B) {
	if testing.Short() {
		b.Skip("-short: skipping the 1,000-account organization")
	}
	const instances, accounts, regions = 200000, 1000, 17
	sim := startSim(b, append([]string{"--synthetic", fmt.Sprint(instances), "--accounts", fmt.Sprint(accounts),
		"--regions", fmt.Sprint(regions), "--seed", "1"}, latencyArgs...)...)
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "org.json")
		sim.resetStats(b)
		cmd := exec.Command(binPath, "scan", "--org", "--role-name", "ImdsfleetAudit", "--quiet", "--format", "json", "--output", out)
		cmd.Env = sim.environ()
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		if err != nil {
			b.Fatalf("scan --org: %v", err)
		}
		ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		stats := sim.stats(b)
		rep, err := report.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		m := orgMinimum(rep)
		got := func(api string) int { return sum(stats["calls"][api]) - sum(stats["throttled"][api]) }
		rss := 0.0
		if ru != nil {
			rss = float64(ru.Maxrss) / 1024
		}
		b.Logf("scan: %d instances, wall %s, peak RSS %.0f MB", len(rep.Instances), wall.Round(time.Millisecond), rss)
		bound, parts := orgLowerBound(b, sim, rep)
		b.ReportMetric(float64(len(rep.Instances)+sumTerminated(rep)), "instances")
		b.ReportMetric(float64(got("DescribeInstances"))/float64(m.describe), "DescribeInstances/min")
		b.ReportMetric(float64(got("GetMetricData"))/float64(m.metrics), "GetMetricData/min")
		b.ReportMetric(float64(got("AssumeRole"))/float64(m.assume), "AssumeRole/min")
		b.ReportMetric(float64(got("ListAccounts"))/float64(m.listPages), "ListAccounts/min")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "wall/bound")
		if ru != nil {
			b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		}
		b.Logf("accounts %d scanned, %d skipped; targets %d; calls: ListAccounts %d (min %d), AssumeRole %d (min %d), DescribeRegions %d (min %d), DescribeAvailabilityZones %d, DescribeInstances %d (min %d), GetMetricData %d (min %d); throttled %d; wall %s, lower bound %s (%s)",
			m.assume+1, len(rep.SkippedAccounts), len(rep.Targets), got("ListAccounts"), m.listPages, got("AssumeRole"), m.assume,
			got("DescribeRegions"), m.assume+1, got("DescribeAvailabilityZones"), got("DescribeInstances"), m.describe,
			got("GetMetricData"), m.metrics, sumAll(stats["throttled"]), wall.Round(time.Millisecond), bound.Round(time.Millisecond), parts)
	}
}

type orgMin struct {
	assume, describe, metrics, listPages int
}

// orgMinimum is the fewest calls a scan of rep's organization can make:
// ⌈accounts/20⌉ ListAccounts pages (the cross-check after the walk); one
// AssumeRole and one DescribeRegions per scanned member account; per
// Region ⌈N/1000⌉ DescribeInstances pages (at least one; a Region listed
// by zone pays its first page, DescribeAvailabilityZones and at least one
// page per part on top, counted apart) and ⌈M/500⌉ GetMetricData calls.
func orgMinimum(rep *report.Report) orgMin {
	var m orgMin
	accounts := map[string]bool{}
	metrics := map[string]int{}
	for _, in := range rep.Instances {
		if in.MetadataOptions.HttpEndpoint != "disabled" {
			metrics[in.Account+"/"+in.Region]++
		}
	}
	for _, t := range rep.Targets {
		accounts[t.Account] = true
		if t.Status != report.TargetOK {
			continue
		}
		n := t.Instances + t.Terminated
		m.describe += int(math.Max(1, math.Ceil(float64(n)/1000)))
		m.metrics += int(math.Ceil(float64(metrics[t.Account+"/"+t.Region]) / 500))
	}
	m.assume = len(accounts) - 1 // the management account uses its own keys
	// ListAccounts, after the walk, to catch accounts that moved during
	// it: the organization's accounts in pages of 20, and the empty pages
	// (with a NextToken) the synthetic organization answers after every
	// third, which no client can skip.
	pages := int(math.Ceil(float64(len(accounts)+len(rep.SkippedAccounts)) / 20))
	m.listPages = pages + pages/fleet.SyntheticEmptyPageEvery
	return m
}

// orgLowerBound measures, on the same server, a bound no scan at the
// default concurrency can beat: the organization's ListAccounts pages one
// after another, then the larger of
//   - the slowest account's critical path: AssumeRole, DescribeRegions,
//     its largest Region's listing (its first page, then its largest
//     Availability Zone's pages one after another) and one 500-query
//     GetMetricData call;
//   - the work of every target spread over the default concurrency: the
//     targets, divided by the concurrency, times one small target's
//     calls (one DescribeInstances page and one GetMetricData call).
func orgLowerBound(b *testing.B, sim *simProc, rep *report.Report) (time.Duration, string) {
	b.Helper()
	ctx := context.Background()
	cfg := sim.config()
	start := time.Now()
	p := organizations.NewListAccountsPaginator(organizations.NewFromConfig(cfg), &organizations.ListAccountsInput{MaxResults: aws.Int32(20)})
	for p.HasMorePages() {
		if _, err := p.NextPage(ctx); err != nil {
			b.Fatalf("lower bound: list accounts: %v", err)
		}
	}
	list := time.Since(start)

	// The largest target.
	var big report.Target
	for _, t := range rep.Targets {
		if t.Instances+t.Terminated > big.Instances+big.Terminated {
			big = t
		}
	}
	reach := func(account string) aws.Config { // a fresh credentials cache: its first call assumes the role
		if account == fleet.SyntheticAccountID(0) {
			return cfg
		}
		arn, _ := awsconfig.RoleARN("aws", account, "ImdsfleetAudit")
		return awsconfig.AssumeRole(cfg, arn, "bound", "")
	}
	// Untimed: the largest zone of the largest Region.
	largest, zn := "", -1
	{
		zones := map[string]int{}
		all := ec2.NewDescribeInstancesPaginator(awsconfig.EC2(reach(big.Account), big.Region), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
		for all.HasMorePages() {
			page, err := all.NextPage(ctx)
			if err != nil {
				b.Fatalf("lower bound: count zones: %v", err)
			}
			for _, r := range page.Reservations {
				for _, in := range r.Instances {
					if in.Placement != nil {
						zones[aws.ToString(in.Placement.AvailabilityZone)]++
					}
				}
			}
		}
		for z, n := range zones {
			if n > zn {
				largest, zn = z, n
			}
		}
	}
	tcfg := reach(big.Account)
	start = time.Now()
	if _, err := tcfg.Credentials.Retrieve(ctx); err != nil {
		b.Fatalf("lower bound: assume role: %v", err)
	}
	ec2c := awsconfig.EC2(tcfg, big.Region)
	if _, err := ec2c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); err != nil {
		b.Fatalf("lower bound: describe regions: %v", err)
	}
	first, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	if err != nil {
		b.Fatalf("lower bound: first page: %v", err)
	}
	var ids []string
	for _, r := range first.Reservations {
		for _, in := range r.Instances {
			if len(ids) < 500 {
				ids = append(ids, aws.ToString(in.InstanceId))
			}
		}
	}
	if first.NextToken != nil && zn > 0 {
		// A large Region: its largest zone's pages, one after another (or,
		// where the server cannot filter by zone, the rest of its pages,
		// as the scan then lists them).
		zp := ec2.NewDescribeInstancesPaginator(ec2c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000),
			Filters: []ec2types.Filter{{Name: aws.String("availability-zone"), Values: []string{largest}}}})
		for zp.HasMorePages() {
			if _, err := zp.NextPage(ctx); err != nil {
				rest := ec2.NewDescribeInstancesPaginator(ec2c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000), NextToken: first.NextToken})
				for rest.HasMorePages() {
					if _, err := rest.NextPage(ctx); err != nil {
						b.Fatalf("lower bound: pages: %v", err)
					}
				}
				break
			}
		}
	}
	metricCall(b, awsconfig.CloudWatch(tcfg, big.Region, awsconfig.ProtocolCBOR), ids)
	critical := time.Since(start)

	// One small target's calls, times the waves the default concurrency needs.
	var small report.Target
	for _, t := range rep.Targets {
		if t.Status == report.TargetOK && t.Instances > 0 && t.Instances <= 50 {
			small = t
			break
		}
	}
	scfg := reach(small.Account)
	if _, err := scfg.Credentials.Retrieve(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	page, err := awsconfig.EC2(scfg, small.Region).DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	if err != nil {
		b.Fatal(err)
	}
	var sids []string
	for _, r := range page.Reservations {
		for _, in := range r.Instances {
			sids = append(sids, aws.ToString(in.InstanceId))
		}
	}
	metricCall(b, awsconfig.CloudWatch(scfg, small.Region, awsconfig.ProtocolCBOR), sids)
	perTarget := time.Since(t0)
	waves := math.Ceil(float64(len(rep.Targets)) / float64(scanner.DefaultConcurrency))
	throughput := time.Duration(waves * float64(perTarget))

	why := fmt.Sprintf("ListAccounts %s + max(critical path %s of %s/%s, %d targets / %d at once × %s)",
		list.Round(time.Millisecond), critical.Round(time.Millisecond), big.Account, big.Region, len(rep.Targets), scanner.DefaultConcurrency, perTarget.Round(time.Millisecond))
	return list + max(critical, throughput), why
}

func metricCall(b *testing.B, cw *cloudwatch.Client, ids []string) {
	b.Helper()
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
	if len(in.MetricDataQueries) == 0 {
		return
	}
	if _, err := cw.GetMetricData(context.Background(), in); err != nil {
		b.Fatalf("lower bound: get metric data: %v", err)
	}
}

// BenchmarkScanLargeRegion scans one Region of 100,000 instances and
// compares the wall time with its sequential-page bound (every page one
// after another, plus one GetMetricData call, measured on the same
// server): listing by Availability Zone in parallel is what lets the scan
// beat it (wall/sequential below 1).
func BenchmarkScanLargeRegion(b *testing.B) {
	if testing.Short() {
		b.Skip("-short: skipping the 100,000-instance Region")
	}
	sim := startSim(b, append([]string{"--synthetic", "100000", "--regions", "1", "--seed", "1"}, latencyArgs...)...)
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "report.json")
		sim.resetStats(b)
		cmd := exec.Command(binPath, "scan", "--regions", "us-east-1", "--quiet", "--format", "json", "--output", out)
		cmd.Env = sim.environ()
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("scan: %v", err)
		}
		wall := time.Since(start)
		ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		stats := sim.stats(b)
		seq := lowerBound(b, sim, "us-east-1")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(seq.Seconds(), "sequential-s")
		b.ReportMetric(wall.Seconds()/seq.Seconds(), "wall/sequential")
		if ru != nil {
			b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		}
		b.Logf("DescribeInstances %d, DescribeAvailabilityZones %d, GetMetricData %d; wall %s, sequential pages %s",
			sum(stats["calls"]["DescribeInstances"]), sum(stats["calls"]["DescribeAvailabilityZones"]), sum(stats["calls"]["GetMetricData"]),
			wall.Round(time.Millisecond), seq.Round(time.Millisecond))
	}
}
