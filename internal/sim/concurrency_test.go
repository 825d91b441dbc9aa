package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestConcurrentCalls hits one Region with DescribeInstances pages,
// ModifyInstanceMetadataOptions, GetMetricData (whose answers follow the
// modifications), STS, SetKnobs and the stats endpoint from many goroutines
// at once. Under -race it proves the server's locking; without -race it
// still checks that no change is lost (each goroutine owns its instances,
// so the last value it set must be the one DescribeInstances shows) and
// that the counters add up.
func TestConcurrentCalls(t *testing.T) {
	const (
		workers   = 8
		instances = 40 // worker w owns the instances i with i%workers == w
		rounds    = 6
	)
	f := testFleet(instances)
	for i := range f.Accounts[0].Regions[0].Instances {
		in := &f.Accounts[0].Regions[0].Instances[i]
		in.Usage = []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: fleet.Rel(-48 * time.Hour), PerHour: 12}}
	}
	s, url := simtest.Start(t, f, sim.Options{Seed: 9})
	ctx := context.Background()
	cfg := simtest.Config(url, keyA, "us-east-1")
	e := ec2.NewFromConfig(cfg, noRetry)
	cw := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.Retryer = connRetryer() })
	st := sts.NewFromConfig(cfg, func(o *sts.Options) { o.Retryer = connRetryer() })

	tokens := func(round int) types.HttpTokensState {
		if round%2 == 0 {
			return types.HttpTokensStateRequired
		}
		return types.HttpTokensStateOptional
	}
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			for round := range rounds {
				for i := w; i < instances; i += workers {
					_, err := e.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{
						InstanceId: aws.String(id(i + 1)), HttpTokens: tokens(round), HttpPutResponseHopLimit: aws.Int32(int32(round + 1))})
					if err != nil {
						return fmt.Errorf("worker %d modify %s: %w", w, id(i+1), err)
					}
				}
				p := ec2.NewDescribeInstancesPaginator(e, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(7),
					Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"running"}}}})
				n := 0
				for p.HasMorePages() {
					out, err := p.NextPage(ctx)
					if err != nil {
						return fmt.Errorf("worker %d describe: %w", w, err)
					}
					n += len(instanceIDs(out.Reservations))
				}
				if n != instances {
					return fmt.Errorf("worker %d: paged through %d instances, want %d", w, n, instances)
				}
				var qs []cwtypes.MetricDataQuery
				for i := range instances {
					for _, m := range []string{fleet.MetricNoToken, fleet.MetricNoTokenRejected} {
						qs = append(qs, cwtypes.MetricDataQuery{Id: aws.String(fmt.Sprintf("q%d%s", i, m[len(m)-3:])), MetricStat: &cwtypes.MetricStat{
							Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String(m),
								Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(id(i + 1))}}},
							Period: aws.Int32(3600), Stat: aws.String("Sum")}})
					}
				}
				if _, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(clock.Add(-24 * time.Hour)), EndTime: aws.Time(clock), MetricDataQueries: qs}); err != nil {
					return fmt.Errorf("worker %d GetMetricData: %w", w, err)
				}
				if _, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
					return fmt.Errorf("worker %d GetCallerIdentity: %w", w, err)
				}
				s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Latency: &fleet.Latency{Jitter: fleet.Duration(time.Duration(round+1) * time.Millisecond)}})
				_ = s.Stats()
				_ = s.ModifyCalls()
				other := id((w+1)%workers + 1) // an instance another worker changes
				_ = s.MetadataState(acctA, "us-east-1", other)
				if _, ok := s.Instance(acctA, "us-east-1", other); !ok {
					return fmt.Errorf("worker %d: Instance(%s) not found", w, other)
				}
				resp, err := http.Get(url + "/_sim/stats")
				if err != nil {
					return fmt.Errorf("worker %d stats: %w", w, err)
				}
				var got sim.Stats
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if err != nil {
					return fmt.Errorf("worker %d stats JSON: %w", w, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// No change was lost: each instance shows its owner's last change.
	last := rounds - 1
	out, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			seen++
			mo := in.MetadataOptions
			if mo.HttpTokens != tokens(last) || aws.ToInt32(mo.HttpPutResponseHopLimit) != int32(last+1) {
				t.Errorf("%s: tokens %s hop %d, want %s %d (a concurrent change was lost)",
					aws.ToString(in.InstanceId), mo.HttpTokens, aws.ToInt32(mo.HttpPutResponseHopLimit), tokens(last), last+1)
			}
		}
	}
	if seen != instances {
		t.Errorf("unpaged DescribeInstances listed %d instances, want %d", seen, instances)
	}
	// The counters agree with what the server recorded and what was sent.
	stats := s.Stats()
	modifies := workers * rounds * (instances / workers)
	if n, rec := stats.Calls["ModifyInstanceMetadataOptions"]["us-east-1"], len(s.ModifyCalls()); n != rec || n < modifies {
		t.Errorf("ModifyInstanceMetadataOptions: %d counted, %d recorded, %d sent", n, rec, modifies)
	}
	if n := stats.Calls["GetMetricData"]["us-east-1"]; n < workers*rounds {
		t.Errorf("GetMetricData counted %d, sent %d", n, workers*rounds)
	}
	if n := stats.Calls["GetCallerIdentity"][""]; n < workers*rounds {
		t.Errorf("GetCallerIdentity counted %d, sent %d", n, workers*rounds)
	}
	if n := sim.Total(stats.Throttled) + sim.Total(stats.Faults); n != 0 {
		t.Errorf("%d throttles or faults with neither switched on", n)
	}
}
