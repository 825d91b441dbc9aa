package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestCloudWatchQueryProtocolRefused: a cloudwatch client switched to the
// Query protocol (imdsfleet scan --cloudwatch-protocol query, meant for
// moto) is told that the simulator does not speak it and what to use
// instead, not EC2's "The action GetMetricData is not valid for this web
// service".
func TestCloudWatchQueryProtocolRefused(t *testing.T) {
	_, url := simtest.Start(t, testFleet(3), sim.Options{})
	c := cloudwatch.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), func(o *cloudwatch.Options) {
		o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
		o.Retryer = connRetryer()
	})
	_, err := c.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(clock.Add(-time.Hour)), EndTime: aws.Time(clock),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken")},
			Period: aws.Int32(300), Stat: aws.String("Sum")}}},
	})
	if got := apiCode(t, err); got != "InvalidAction" {
		t.Errorf("code = %s, want InvalidAction", got)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && !strings.Contains(ae.ErrorMessage(), "RPC v2 CBOR") {
		t.Errorf("message %q does not name the protocols the simulator speaks", ae.ErrorMessage())
	}
}
