package scantest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
)

// Drain empties region's DescribeInstances (paged) and GetMetricData token
// buckets on a server with throttling on (see [DrainDescribe] and
// [DrainMetrics]).
func Drain(ctx context.Context, cfg aws.Config, region string) error {
	var g errgroup.Group
	g.Go(func() error { return DrainDescribe(ctx, cfg, region) })
	g.Go(func() error { return DrainMetrics(ctx, cfg, region) })
	return g.Wait()
}

// DrainDescribe empties region's DescribeInstances (paged) token bucket on
// a server with throttling on: it calls the API, never retrying, until one
// answer is a throttle. Other errors (a dropped connection) just cost
// another call. It gives up after 1,000 calls. With the server's wall
// clock standing still (simtest.Clock) the bucket is then exactly empty.
func DrainDescribe(ctx context.Context, cfg aws.Config, region string) error {
	ec2c := awsconfig.EC2(noRetry(cfg), region)
	return untilThrottled("DescribeInstances", func() error {
		_, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
		return err
	})
}

// DrainMetrics empties region's GetMetricData token bucket as
// [DrainDescribe] does DescribeInstances'.
func DrainMetrics(ctx context.Context, cfg aws.Config, region string) error {
	cwc := awsconfig.CloudWatch(noRetry(cfg), region, awsconfig.ProtocolCBOR)
	now := time.Now()
	return untilThrottled("GetMetricData", func() error {
		_, err := cwc.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
			MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q0"), MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String("i-00000000000000001")}}},
				Period: aws.Int32(300), Stat: aws.String("Sum")}}},
		})
		return err
	})
}

func noRetry(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	return cfg
}

func untilThrottled(api string, call func() error) error {
	var last error
	for range 1000 {
		err := call()
		var ae smithy.APIError
		if errors.As(err, &ae) {
			if _, ok := retry.DefaultThrottleErrorCodes[ae.ErrorCode()]; ok {
				return nil
			}
		}
		last = err
	}
	return fmt.Errorf("drain %s: no throttle after 1000 calls (last error: %v)", api, last)
}
