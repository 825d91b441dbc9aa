package sim_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// manualClock is a server clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestEnforcementTurnsV1CallsIntoRejections: an instance whose software
// keeps using IMDSv1 shows MetadataNoTokenRejected once tokens are
// required, and MetadataNoToken again after a rollback.
func TestEnforcementTurnsV1CallsIntoRejections(t *testing.T) {
	t0 := clock
	clk := &manualClock{t: t0}
	const inst = "i-0000000000000000e"
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, AccessKeyIDs: []string{keyA}, Regions: []fleet.Region{{
		Name: "us-east-1",
		Instances: []fleet.Instance{{ID: inst, State: "running", LaunchTime: fleet.Rel(-30 * 24 * time.Hour),
			Usage: []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: fleet.Rel(-30 * 24 * time.Hour), PerHour: 60}}}},
	}}}}}
	_, url := simtest.Start(t, f, sim.Options{Now: clk.Now})
	cfg := simtest.Config(url, keyA, "us-east-1")
	e := ec2.NewFromConfig(cfg)
	cw := cloudwatch.NewFromConfig(cfg)
	ctx := context.Background()
	modify := func(tokens types.HttpTokensState) {
		t.Helper()
		if _, err := e.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(inst), HttpTokens: tokens}); err != nil {
			t.Fatal(err)
		}
	}
	modify(types.HttpTokensStateRequired) // at t0
	clk.Add(3 * time.Hour)
	modify(types.HttpTokensStateOptional) // rollback at t0+3h
	clk.Add(2 * time.Hour)

	q := func(qid, metric string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(qid), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String(metric),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(inst)}}},
			Period: aws.Int32(3600), Stat: aws.String("Sum")}}
	}
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(t0.Add(-3 * time.Hour)), EndTime: aws.Time(t0.Add(5 * time.Hour)),
		ScanBy:            cwtypes.ScanByTimestampAscending,
		MetricDataQueries: []cwtypes.MetricDataQuery{q("v1", fleet.MetricNoToken), q("rejected", fleet.MetricNoTokenRejected)},
	})
	if err != nil {
		t.Fatal(err)
	}
	hourly := map[string][]float64{}
	for _, r := range out.MetricDataResults {
		hourly[aws.ToString(r.Id)] = r.Values
	}
	want := map[string][]float64{
		"v1":       {60, 60, 60, 0, 0, 0, 60, 60},
		"rejected": {0, 0, 0, 60, 60, 60, 0, 0},
	}
	for k, w := range want {
		got := hourly[k]
		if len(got) != len(w) {
			t.Errorf("%s: %v, want %v", k, got, w)
			continue
		}
		for i := range w {
			if got[i] < w[i]-0.01 || got[i] > w[i]+0.01 {
				t.Errorf("%s hour %d: %v, want %v (all: %v)", k, i, got[i], w[i], got)
				break
			}
		}
	}
}
