package sim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// wantAPIError checks an SDK error's code and HTTP status: the client could
// only read the code if the answer had the shape its protocol expects.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if got := apiCode(t, err); got != code {
		t.Errorf("code = %q, want %q (err: %v)", got, code, err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("HTTP status of %v, want %d", err, status)
	}
}

// TestUnknownActionOfKnownService: an action a service does not implement
// answers that service's own error in its own shape, which the service's
// real SDK client parses (EC2's InvalidAction in EC2's Response/Errors
// shape; STS's in awsQuery's ErrorResponse; CloudWatch's
// UnknownOperationException in RPC v2 CBOR and awsJson 1.0).
func TestUnknownActionOfKnownService(t *testing.T) {
	_, url := simtest.Start(t, testFleet(1), sim.Options{})
	ctx := context.Background()
	cfg := simtest.Config(url, keyA, "us-east-1")

	t.Run("ec2", func(t *testing.T) {
		_, err := ec2.NewFromConfig(cfg).DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
		wantAPIError(t, err, "InvalidAction", http.StatusBadRequest)
		var ae smithy.APIError
		if errors.As(err, &ae) && !strings.Contains(ae.ErrorMessage(), "DescribeVolumes") {
			t.Errorf("message %q does not name the action", ae.ErrorMessage())
		}
	})
	t.Run("sts", func(t *testing.T) {
		_, err := sts.NewFromConfig(cfg).GetSessionToken(ctx, &sts.GetSessionTokenInput{})
		wantAPIError(t, err, "InvalidAction", http.StatusBadRequest)
	})
	for _, json := range []bool{false, true} {
		name := "cloudwatch rpcv2 cbor"
		if json {
			name = "cloudwatch awsjson 1.0"
		}
		t.Run(name, func(t *testing.T) {
			c := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
				if json {
					o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
				}
			})
			_, err := c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
			wantAPIError(t, err, "UnknownOperationException", http.StatusBadRequest)
		})
	}
}

// rewrite is an HTTP transport that edits each request before sending it:
// it turns a real SDK client's request into one for a service the
// simulated AWS does not have, keeping the client's own error parsing.
type rewrite func(r *http.Request)

func (f rewrite) Do(r *http.Request) (*http.Response, error) {
	f(r)
	return http.DefaultClient.Do(r)
}

// TestUnknownService: a request for a service the simulated AWS does not
// have answers the protocol's own error — awsQuery's InvalidAction in an
// ErrorResponse, awsJson's and RPC v2 CBOR's UnknownOperationException —
// never EC2's shape.
func TestUnknownService(t *testing.T) {
	s, url := simtest.Start(t, testFleet(1), sim.Options{})
	ctx := context.Background()
	cfg := simtest.Config(url, keyA, "us-east-1")

	t.Run("awsQuery signed for iam", func(t *testing.T) {
		c := sts.NewFromConfig(cfg, func(o *sts.Options) {
			o.HTTPClient = rewrite(func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/sts/", "/us-east-1/iam/", 1))
			})
		})
		_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		wantAPIError(t, err, "InvalidAction", http.StatusBadRequest)
		var ae smithy.APIError
		if errors.As(err, &ae) && !strings.Contains(ae.ErrorMessage(), `"iam"`) {
			t.Errorf("message %q does not name the service", ae.ErrorMessage())
		}
	})
	cwQuery := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(clock.Add(-time.Hour)), EndTime: aws.Time(clock),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken")},
			Period: aws.Int32(300), Stat: aws.String("Sum")}}},
	}
	t.Run("awsJson target DynamoDB_20120810", func(t *testing.T) {
		c := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
			o.HTTPClient = rewrite(func(r *http.Request) {
				r.Header.Set("X-Amz-Target", strings.Replace(r.Header.Get("X-Amz-Target"), "GraniteServiceVersion20100801.", "DynamoDB_20120810.", 1))
			})
		})
		_, err := c.GetMetricData(ctx, cwQuery)
		wantAPIError(t, err, "UnknownOperationException", http.StatusBadRequest)
	})
	t.Run("rpcv2 cbor service DynamoDB_20120810", func(t *testing.T) {
		c := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			o.HTTPClient = rewrite(func(r *http.Request) {
				r.URL.Path = strings.Replace(r.URL.Path, "/GraniteServiceVersion20100801/", "/DynamoDB_20120810/", 1)
			})
		})
		_, err := c.GetMetricData(ctx, cwQuery)
		wantAPIError(t, err, "UnknownOperationException", http.StatusBadRequest)
	})
	if n := s.Stats().Calls["GetMetricData"]["us-east-1"]; n != 2 {
		t.Errorf("GetMetricData counted %d times, want the 2 calls (unknown services are counted too)", n)
	}
}
