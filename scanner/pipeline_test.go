package scanner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsfleet/imdsfleet/report"
)

// The pipeline's shape cannot be seen over HTTP without timing, so these
// tests use in-memory clients that implement the scanner's whole (small)
// interfaces: the last DescribeInstances page is only answered once a
// GetMetricData call has arrived, which proves metrics start while pages
// still arrive; and in-flight GetMetricData calls are counted.

type pipeEC2 struct {
	pages      int
	perPage    int
	metricsRan chan struct{} // closed by the CloudWatch fake on its first call
}

func (f *pipeEC2) DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	return &ec2.DescribeRegionsOutput{Regions: []ec2types.Region{{RegionName: aws.String("us-east-1"), OptInStatus: aws.String("opt-in-not-required")}}}, nil
}

// DescribeAvailabilityZones lists no zone: the Region is listed in one
// sequence of pages, which is what this test is about.
func (f *pipeEC2) DescribeAvailabilityZones(context.Context, *ec2.DescribeAvailabilityZonesInput, ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error) {
	return &ec2.DescribeAvailabilityZonesOutput{}, nil
}

func (f *pipeEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	page := 0
	if in.NextToken != nil {
		fmt.Sscanf(*in.NextToken, "p%d", &page)
	}
	if page == f.pages-1 {
		select {
		case <-f.metricsRan:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(30 * time.Second):
			return nil, errors.New("no GetMetricData call before the last DescribeInstances page: the stages do not stream")
		}
	}
	var insts []ec2types.Instance
	for i := range f.perPage {
		insts = append(insts, ec2types.Instance{
			InstanceId:      aws.String(fmt.Sprintf("i-%017x", page*f.perPage+i+1)),
			State:           &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning},
			MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{HttpTokens: ec2types.HttpTokensStateOptional, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled, HttpPutResponseHopLimit: aws.Int32(2)},
		})
	}
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: insts}}}
	if page < f.pages-1 {
		out.NextToken = aws.String(fmt.Sprintf("p%d", page+1))
	}
	return out, nil
}

// The launch-source reads answer that the Region has none.
func (f *pipeEC2) DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	return &ec2.DescribeLaunchTemplateVersionsOutput{}, nil
}

func (f *pipeEC2) DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return &ec2.DescribeImagesOutput{}, nil
}

func (f *pipeEC2) GetInstanceMetadataDefaults(context.Context, *ec2.GetInstanceMetadataDefaultsInput, ...func(*ec2.Options)) (*ec2.GetInstanceMetadataDefaultsOutput, error) {
	return &ec2.GetInstanceMetadataDefaultsOutput{AccountLevel: &ec2types.InstanceMetadataDefaultsResponse{}}, nil
}

type pipeAutoScaling struct{}

func (pipeAutoScaling) DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return &autoscaling.DescribeAutoScalingGroupsOutput{}, nil
}

func (pipeAutoScaling) DescribeLaunchConfigurations(context.Context, *autoscaling.DescribeLaunchConfigurationsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
	return &autoscaling.DescribeLaunchConfigurationsOutput{}, nil
}

type pipeCW struct {
	once              sync.Once
	metricsRan        chan struct{}
	inFlight, maxSeen atomic.Int64
	calls, queries    atomic.Int64
	release           chan struct{}
}

func (f *pipeCW) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.once.Do(func() { close(f.metricsRan) })
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.calls.Add(1)
	f.queries.Add(int64(len(in.MetricDataQueries)))
	if len(in.MetricDataQueries) > MaxQueriesPerCall {
		return nil, fmt.Errorf("%d queries in one call", len(in.MetricDataQueries))
	}
	select { // hold the call briefly so calls overlap
	case <-f.release:
	case <-time.After(5 * time.Millisecond):
	}
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{
			Id: q.Id, StatusCode: cwtypes.StatusCodeComplete,
			Timestamps: []time.Time{aws.ToTime(in.StartTime)}, Values: []float64{0},
		})
	}
	return out, nil
}

type pipeSTS struct{}

func (pipeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String("111111111111"), Arn: aws.String("arn:aws:iam::111111111111:user/pipe")}, nil
}

type pipeClients struct {
	ec2 *pipeEC2
	cw  *pipeCW
}

func (c pipeClients) STS(Role) STSAPI                   { return pipeSTS{} }
func (c pipeClients) EC2(Target) EC2API                 { return c.ec2 }
func (c pipeClients) CloudWatch(Target) CloudWatchAPI   { return c.cw }
func (c pipeClients) Organizations() OrganizationsAPI   { return nil }
func (c pipeClients) AutoScaling(Target) AutoScalingAPI { return pipeAutoScaling{} }

func TestPipelineStreamsAndBounds(t *testing.T) {
	ran := make(chan struct{})
	c := pipeClients{
		ec2: &pipeEC2{pages: 3, perPage: 1000, metricsRan: ran},
		cw:  &pipeCW{metricsRan: ran, release: make(chan struct{})},
	}
	r, err := Scan(context.Background(), c, Options{MetricsInFlight: 3, MinObservedDays: 1})
	if err != nil {
		t.Fatal(err)
	}
	if Incomplete(r) {
		t.Fatalf("target failed: %+v", r.Targets)
	}
	if len(r.Instances) != 3000 {
		t.Fatalf("%d instances, want 3000", len(r.Instances))
	}
	for _, in := range r.Instances {
		if in.Usage.Status != report.UsageComplete || in.Classification != report.ClassReady {
			t.Fatalf("%s: usage %+v classification %s", in.InstanceID, in.Usage, in.Classification)
		}
	}
	if got := c.cw.calls.Load(); got != 6 {
		t.Errorf("%d GetMetricData calls for 3,000 queries, want 6", got)
	}
	if got := c.cw.queries.Load(); got != 3000 {
		t.Errorf("%d queries sent, want 3000", got)
	}
	if m := c.cw.maxSeen.Load(); m > 3 {
		t.Errorf("%d GetMetricData calls in flight at once, want at most 3", m)
	}
}
