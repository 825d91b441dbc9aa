package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// connRetryer retries connection errors only, so that a test sees every AWS
// error the server answers. (The SDK's transport occasionally reads from a
// connection it closed as idle, aws-sdk-go-v2 issue 2737; with no retries
// at all that would flake.)
func connRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Retryables = []retry.IsErrorRetryable{retry.RetryableConnectionError{}}
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

func noRetry(o *ec2.Options) { o.Retryer = connRetryer() }

// throttledSim starts testFleet(n) with throttling on in us-east-1 and
// eu-west-1 and the server's wall clock standing still: the token buckets
// refill only when the test moves the clock, so every count below is the
// same on an idle and on a loaded machine.
func throttledSim(t *testing.T, n int) (*sim.Server, string, *simtest.Clock) {
	t.Helper()
	clk := simtest.NewClock(clock)
	s, url := simtest.Start(t, testFleet(n), sim.Options{Wall: clk.Now})
	on := true
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		s.SetKnobs(acctA, r, fleet.Knobs{Throttle: &on})
	}
	return s, url, clk
}

// served is the number of api calls in region the server answered without
// a throttle. The server's count is the measure of a bucket: the SDK
// re-sends a call whose answer was lost on a closing idle connection (a
// client-side race, aws-sdk-go-v2#2737, more frequent on a loaded
// machine), and the re-sent call takes a token too.
func served(s *sim.Server, api, region string) int {
	st := s.Stats()
	return st.Calls[api][region] - st.Throttled[api][region]
}

// untilThrottled calls call until it answers code and returns how many
// calls succeeded before that; any other error fails the test.
func untilThrottled(t *testing.T, what, code string, call func() error) int {
	t.Helper()
	for ok := 0; ok < 1000; {
		err := call()
		if err == nil {
			ok++
			continue
		}
		if got := apiCode(t, err); got != code {
			t.Fatalf("%s: want %s, got %v", what, code, err)
		}
		return ok
	}
	t.Fatalf("%s: no %s after 1000 calls", what, code)
	return 0
}

func TestThrottleBurstThenRetriesSucceed(t *testing.T) {
	s, url, clk := throttledSim(t, 10)
	ctx := context.Background()

	// Without retries, a burst beyond the 50-token bucket of unfiltered
	// DescribeInstances sees RequestLimitExceeded with HTTP 503.
	bare := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), noRetry)
	throttled := 0
	for range 80 {
		_, err := bare.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err == nil {
			continue
		}
		if got := apiCode(t, err); got != "RequestLimitExceeded" {
			t.Fatalf("want RequestLimitExceeded, got %v", err)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
			t.Errorf("throttle answered %v, want HTTP 503", err)
		}
		throttled++
	}
	// The clock stood still: the bucket answered exactly its 50 tokens.
	if got := served(s, "DescribeInstances", "us-east-1"); got != 50 {
		t.Fatalf("a 50-token bucket without refill served %d calls", got)
	}
	if throttled < 30 {
		t.Fatalf("80 back-to-back calls on a 50-token bucket: %d throttled, want at least 30", throttled)
	}

	// The bucket is empty. From now on each reading of the clock moves it
	// on 75 ms: 0.75 token at 10/s. The server reads it at the bucket and
	// again in the answer, so a served call earns 1.5 tokens for the 1 it
	// takes; the burst starts on an empty bucket, so its first call is
	// refused, and the refusals stay few enough for the project's retryer
	// (10 attempts) to absorb every one, however the calls interleave.
	clk.SetStep(75 * time.Millisecond)
	s.ResetStats()
	c := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"))
	var g errgroup.Group
	g.SetLimit(4)
	for range 30 {
		g.Go(func() error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("burst with retries: %v", err)
	}
	st := s.Stats()
	if st.Throttled["DescribeInstances"]["us-east-1"] == 0 {
		t.Errorf("the burst on an empty bucket was never throttled: %+v", st)
	}
	// Every call was served (a re-sent one may be served twice); every
	// other call the server saw was a throttle, retried.
	if got := served(s, "DescribeInstances", "us-east-1"); got < 30 {
		t.Errorf("%d calls served, want at least the burst's 30 (stats %+v)", got, st)
	}
}

// TestThrottleBucketsAreSeparate: unfiltered and paged DescribeInstances
// draw from buckets of their own sizes, per Region, and refill at their
// own rates.
func TestThrottleBucketsAreSeparate(t *testing.T) {
	s, url, clk := throttledSim(t, 10)
	ctx := context.Background()
	east := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), noRetry)
	unfiltered := func() error {
		_, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		return err
	}
	paged := func() error {
		_, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
		return err
	}
	untilThrottled(t, "unfiltered", "RequestLimitExceeded", unfiltered)
	if got := served(s, "DescribeInstances", "us-east-1"); got != 50 {
		t.Fatalf("the unfiltered bucket served %d calls, want its 50 tokens", got)
	}
	// Paged calls draw from the 100-token bucket, untouched so far.
	untilThrottled(t, "paged", "RequestLimitExceeded", paged)
	if got := served(s, "DescribeInstances", "us-east-1") - 50; got != 100 {
		t.Fatalf("the paged bucket served %d calls after the unfiltered one ran dry, want its 100 tokens", got)
	}
	// Another Region has its own buckets.
	west := ec2.NewFromConfig(simtest.Config(url, keyA, "eu-west-1"), noRetry)
	untilThrottled(t, "other Region", "RequestLimitExceeded", func() error { return describeAll(west) })
	if got := served(s, "DescribeInstances", "eu-west-1"); got != 50 {
		t.Fatalf("eu-west-1's unfiltered bucket served %d calls, want 50 of its own", got)
	}
	// 250 ms refill 2.5 tokens at 10/s and 5 at 20/s.
	clk.Advance(250 * time.Millisecond)
	s.ResetStats()
	untilThrottled(t, "unfiltered after 250ms", "RequestLimitExceeded", unfiltered)
	untilThrottled(t, "paged after 250ms", "RequestLimitExceeded", paged)
	if got := served(s, "DescribeInstances", "us-east-1"); got != 2+5 {
		t.Fatalf("250 ms after both ran dry the buckets served %d calls, want 2 (10/s) + 5 (20/s)", got)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		knobs  fleet.Knobs
		call   func(c *ec2.Client) error
		code   string
		status int
	}{
		{"internal error", fleet.Knobs{Faults: []fleet.Fault{{API: "DescribeInstances", Rate: 1, Code: "InternalError", Status: 500}}},
			describeAll, "InternalError", 500},
		{"default code", fleet.Knobs{Faults: []fleet.Fault{{API: "*", Rate: 1}}}, describeAll, "InternalError", 500},
		{"unavailable on every API", fleet.Knobs{Faults: []fleet.Fault{{API: "*", Rate: 1, Code: "Unavailable", Status: 503}}},
			func(c *ec2.Client) error {
				_, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
				return err
			}, "Unavailable", 503},
		{"fault on another API only", fleet.Knobs{Faults: []fleet.Fault{{API: "ModifyInstanceMetadataOptions", Rate: 1, Code: "InternalError", Status: 500}}},
			describeAll, "", 0},
		{"auth failure", fleet.Knobs{AuthFailure: true}, describeAll, "AuthFailure", 401},
		{"unauthorized", fleet.Knobs{UnauthorizedOperation: true}, describeAll, "UnauthorizedOperation", 403},
		{"deny modify", fleet.Knobs{DenyModify: true}, modifyOne(false), "UnauthorizedOperation", 403},
		{"deny modify dry run", fleet.Knobs{DenyModify: true}, modifyOne(true), "UnauthorizedOperation", 403},
		{"deny modify leaves describe", fleet.Knobs{DenyModify: true}, describeAll, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := simtest.Start(t, testFleet(3), sim.Options{Seed: 1})
			s.SetKnobs(acctA, "us-east-1", tt.knobs)
			err := tt.call(ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), noRetry))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if got := apiCode(t, err); got != tt.code {
				t.Errorf("code = %s, want %s", got, tt.code)
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
				t.Errorf("answer %v, want HTTP %d", err, tt.status)
			}
			in, _ := s.Instance(acctA, "us-east-1", id(1))
			if in.MetadataOptions.HttpTokens != "optional" {
				t.Errorf("a refused call changed the instance")
			}
		})
	}
}

func describeAll(c *ec2.Client) error {
	_, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	return err
}

func modifyOne(dry bool) func(c *ec2.Client) error {
	return func(c *ec2.Client) error {
		_, err := c.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
			InstanceId: aws.String(id(1)), HttpTokens: types.HttpTokensStateRequired, DryRun: aws.Bool(dry)})
		return err
	}
}

func TestFaultRetriedBySDK(t *testing.T) {
	s, url := simtest.Start(t, testFleet(3), sim.Options{Seed: 7})
	s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "DescribeInstances", Rate: 0.5, Code: "InternalError", Status: 500}}})
	c := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"))
	for i := range 20 {
		if err := describeAll(c); err != nil {
			t.Fatalf("call %d with retries: %v", i, err)
		}
	}
	if s.Stats().Faults["DescribeInstances"]["us-east-1"] == 0 {
		t.Error("no faults injected at rate 0.5 over 20 calls")
	}
}

func TestConnectionReset(t *testing.T) {
	s, url := simtest.Start(t, testFleet(3), sim.Options{Seed: 3})
	s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "DescribeInstances", Rate: 1, Reset: true}}})
	err := describeAll(ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), noRetry))
	if err == nil {
		t.Fatal("want a connection error")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		t.Fatalf("want a connection error, got the AWS error %s", ae.ErrorCode())
	}
	if !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
		t.Errorf("error %q names neither a reset nor EOF", err)
	}
	// At rate 0.5 the SDK retries the resets away.
	s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "DescribeInstances", Rate: 0.5, Reset: true}}})
	c := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"))
	for i := range 10 {
		if err := describeAll(c); err != nil {
			t.Fatalf("call %d with retries: %v", i, err)
		}
	}
	if n := s.Stats().Faults["DescribeInstances"]["us-east-1"]; n < 2 {
		t.Errorf("faults = %d, want ≥ 2", n)
	}
}

// A resetAfterApply fault makes the change, then answers with a reset: the
// client sees a connection error while the instance shows the change.
func TestResetAfterApply(t *testing.T) {
	s, url := simtest.Start(t, testFleet(3), sim.Options{Seed: 3})
	s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "ModifyInstanceMetadataOptions", Rate: 1, ResetAfterApply: true}}})
	c := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), func(o *ec2.Options) { o.Retryer = aws.NopRetryer{} })
	err := modifyOne(false)(c)
	var ae smithy.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("want a connection error, got %v", err)
	}
	if in, _ := s.Instance(acctA, "us-east-1", id(1)); in.MetadataOptions.HttpTokens != "required" {
		t.Errorf("the change was not made: HttpTokens %s", in.MetadataOptions.HttpTokens)
	}
	calls := s.ModifyCalls()
	if len(calls) != 1 || calls[0].Outcome != sim.OutcomeResetAfterApply {
		t.Errorf("ModifyCalls = %+v, want one %s", calls, sim.OutcomeResetAfterApply)
	}
	// A call that fails is answered as usual: nothing was applied.
	err = modifyOne(true)(c)
	if got := apiCode(t, err); got != "DryRunOperation" {
		t.Errorf("dry run: %v", err)
	}
	if n := s.Stats().Faults["ModifyInstanceMetadataOptions"]["us-east-1"]; n != 1 {
		t.Errorf("faults = %d, want 1", n)
	}
}

func TestCloudWatchDeniedAndThrottled(t *testing.T) {
	// The wall clock stands still: the bucket never refills.
	s, url := simtest.Start(t, testFleet(3), sim.Options{Wall: simtest.NewClock(clock).Now})
	ctx := context.Background()
	cw := cloudwatch.NewFromConfig(simtest.Config(url, keyA, "eu-west-1"), func(o *cloudwatch.Options) { o.Retryer = connRetryer() })
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(clock.Add(-24 * time.Hour)), EndTime: aws.Time(clock),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q0"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken"),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String("i-0000000000000000a")}}},
			Period: aws.Int32(3600), Stat: aws.String("Sum")}}},
	}
	s.SetKnobs(acctA, "eu-west-1", fleet.Knobs{CloudWatchDenied: true})
	_, err := cw.GetMetricData(ctx, in)
	if got := apiCode(t, err); got != "AccessDenied" {
		t.Errorf("denied Region: code = %s", got)
	}
	on := true
	s.SetKnobs(acctA, "eu-west-1", fleet.Knobs{Throttle: &on})
	s.ResetStats()
	untilThrottled(t, "GetMetricData", "Throttling", func() error {
		_, err := cw.GetMetricData(ctx, in)
		return err
	})
	if got := served(s, "GetMetricData", "eu-west-1"); got != 50 {
		t.Errorf("the GetMetricData bucket served %d calls, want its 50 tokens", got)
	}
	// An injected fault reaches the client with its code.
	s.SetKnobs(acctA, "eu-west-1", fleet.Knobs{Faults: []fleet.Fault{{API: "GetMetricData", Rate: 1, Code: "InternalServiceFault", Status: 500}}})
	_, err = cw.GetMetricData(ctx, in)
	if got := apiCode(t, err); got != "InternalServiceFault" {
		t.Errorf("injected fault: code = %s", got)
	}
	// EC2 in the CloudWatch-denied Region still works.
	s.SetKnobs(acctA, "eu-west-1", fleet.Knobs{CloudWatchDenied: true})
	if err := describeAll(ec2.NewFromConfig(simtest.Config(url, keyA, "eu-west-1"), noRetry)); err != nil {
		t.Errorf("EC2 in a CloudWatch-denied Region: %v", err)
	}
}

func TestLatencyAndStatsEndpoint(t *testing.T) {
	f := testFleet(3)
	f.Knobs.Latency = &fleet.Latency{Fixed: fleet.Duration(80 * time.Millisecond)}
	s, url := simtest.Start(t, f, sim.Options{})
	c := ec2.NewFromConfig(simtest.Config(url, keyA, "us-east-1"))
	start := time.Now()
	if err := describeAll(c); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the answer cannot arrive before the fixed latency.
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("answer after %v, before the 80ms fixed latency", el)
	}
	resp, err := http.Get(url + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st sim.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Calls["DescribeInstances"]["us-east-1"] != 1 {
		t.Errorf("stats over HTTP: %+v", st)
	}
	req, _ := http.NewRequest(http.MethodDelete, url+"/_sim/stats", nil)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE /_sim/stats: status %d", del.StatusCode)
	}
	if n := sim.Total(s.Stats().Calls); n != 0 {
		t.Errorf("after DELETE /_sim/stats, %d calls counted", n)
	}
}

func TestSTSFault(t *testing.T) {
	s, url := simtest.Start(t, testFleet(1), sim.Options{Seed: 2})
	s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "AssumeRole", Rate: 1, Code: "RegionDisabledException", Status: 403}}})
	c := sts.NewFromConfig(simtest.Config(url, keyA, "us-east-1"), func(o *sts.Options) { o.Retryer = connRetryer() })
	_, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctB + ":role/scanner"), RoleSessionName: aws.String("x")})
	if got := apiCode(t, err); got != "RegionDisabledException" {
		t.Errorf("code = %s", got)
	}
	if _, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity is not faulted: %v", err)
	}
	if n := s.Stats().Faults["AssumeRole"][""]; n != 1 {
		t.Errorf("faults = %d", n)
	}
}

// TestCloudWatchThrottleRetriesSucceed: once the GetMetricData bucket is
// empty, a burst gets Throttling (HTTP 400) and the project's retryer, which
// must recognise that code from the RPC v2 CBOR error, absorbs every one.
func TestCloudWatchThrottleRetriesSucceed(t *testing.T) {
	clk := simtest.NewClock(clock)
	s, url := simtest.Start(t, testFleet(3), sim.Options{Wall: clk.Now})
	ctx := context.Background()
	on := true
	s.SetKnobs(acctA, "eu-west-1", fleet.Knobs{Throttle: &on})
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(clock.Add(-24 * time.Hour)), EndTime: aws.Time(clock),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q0"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/EC2"), MetricName: aws.String("MetadataNoToken"),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String("i-0000000000000000a")}}},
			Period: aws.Int32(3600), Stat: aws.String("Sum")}}},
	}
	bare := cloudwatch.NewFromConfig(simtest.Config(url, keyA, "eu-west-1"), func(o *cloudwatch.Options) { o.Retryer = connRetryer() })
	var throttle error
	for range 60 {
		if _, err := bare.GetMetricData(ctx, in); err != nil {
			throttle = err
			break
		}
	}
	if throttle == nil {
		t.Fatal("60 calls never emptied the 50-token GetMetricData bucket")
	}
	if got := apiCode(t, throttle); got != "Throttling" {
		t.Fatalf("draining the bucket: %v", throttle)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(throttle, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("Throttling answered with %v, want HTTP 400", throttle)
	}

	// The bucket is empty. From now on each reading of the clock (one per
	// GetMetricData call) moves it on 25 ms: 1.25 tokens at 50/s. The
	// burst's first call finds the bucket empty and is refused; later
	// refusals stay few enough for the project's retryer to absorb.
	clk.SetStep(25 * time.Millisecond)
	s.ResetStats()
	c := cloudwatch.NewFromConfig(simtest.Config(url, keyA, "eu-west-1"))
	var g errgroup.Group
	g.SetLimit(4)
	for range 30 {
		g.Go(func() error {
			_, err := c.GetMetricData(ctx, in)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("burst with retries: %v", err)
	}
	st := s.Stats()
	if st.Throttled["GetMetricData"]["eu-west-1"] == 0 {
		t.Errorf("the burst on an empty bucket was never throttled: %+v", st)
	}
	if got := served(s, "GetMetricData", "eu-west-1"); got < 30 {
		t.Errorf("%d calls served, want at least the burst's 30 (stats %+v)", got, st)
	}
}
