package sim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
	keyA  = "AKIAAAAAAAAAAAAAAAAA"
)

var clock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func id(n int) string { return fmt.Sprintf("i-%017x", n) }

// testFleet: account A with us-east-1 (n instances, all running, optional)
// and eu-west-1 (a hand-made mix), ap-east-1 not opted in; account B with
// one Region.
func testFleet(n int) *fleet.Fleet {
	big := make([]fleet.Instance, n)
	for i := range big {
		big[i] = fleet.Instance{ID: id(i + 1), State: "running", LaunchTime: fleet.Rel(-48 * time.Hour)}
	}
	c := clock
	return &fleet.Fleet{
		Clock: &c,
		Accounts: []fleet.Account{
			{
				ID:           acctA,
				AccessKeyIDs: []string{keyA},
				Regions: []fleet.Region{
					{Name: "us-east-1", Instances: big},
					{Name: "eu-west-1", Defaults: &fleet.MetadataDefaults{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpTokensEnforced: "disabled"},
						Instances: []fleet.Instance{
							{ID: "i-0000000000000000a", State: "running", ImageID: "ami-1", Tags: map[string]string{"Name": "web-1", "team": "blue"},
								InstanceProfileArn: "arn:aws:iam::111111111111:instance-profile/web",
								MetadataOptions:    fleet.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}},
							{ID: "i-0000000000000000b", State: "stopped", Tags: map[string]string{"Name": "batch", "eks:cluster-name": "prod"},
								Running: []fleet.Interval{{From: fleet.Rel(-10 * 24 * time.Hour), To: fleet.Rel(-5 * 24 * time.Hour)}}},
							{ID: "i-0000000000000000c", State: "running", MetadataOptions: fleet.MetadataOptions{HttpEndpoint: "disabled"}},
							{ID: "i-0000000000000000d", State: "terminated"},
						}},
					{Name: "ap-east-1", OptInStatus: "not-opted-in"},
				},
			},
			{
				ID:    acctB,
				Roles: []string{"scanner"},
				Regions: []fleet.Region{
					{Name: "us-east-1", Instances: []fleet.Instance{{ID: "i-0bbbbbbbbbbbbbbb1", State: "running"}}},
				},
			},
		},
	}
}

func ec2Client(t *testing.T, url, key, region string) *ec2.Client {
	t.Helper()
	return ec2.NewFromConfig(simtest.Config(url, key, region))
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatalf("want an AWS error, got success")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want a smithy.APIError, got %T: %v", err, err)
	}
	return ae.ErrorCode()
}

func instanceIDs(out []types.Reservation) []string {
	var ids []string
	for _, r := range out {
		for _, in := range r.Instances {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
	}
	return ids
}

func TestDescribeInstancesPagination(t *testing.T) {
	_, url := simtest.Start(t, testFleet(2345), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	var sizes []int
	seen := map[string]int{}
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", len(sizes)+1, err)
		}
		ids := instanceIDs(out.Reservations)
		sizes = append(sizes, len(ids))
		for _, id := range ids {
			seen[id]++
		}
	}
	if fmt.Sprint(sizes) != "[1000 1000 345]" {
		t.Errorf("page sizes = %v, want [1000 1000 345]", sizes)
	}
	if len(seen) != 2345 {
		t.Errorf("distinct ids = %d, want 2345", len(seen))
	}
	for i := 1; i <= 2345; i++ {
		if seen[id(i)] != 1 {
			t.Fatalf("%s seen %d times, want once", id(i), seen[id(i)])
		}
	}
}

func TestDescribeInstancesFields(t *testing.T) {
	_, url := simtest.Start(t, testFleet(0), sim.Options{})
	c := ec2Client(t, url, keyA, "eu-west-1")
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000000a", "i-0000000000000000b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 2 {
		t.Fatalf("reservations = %d, want 2", len(out.Reservations))
	}
	r := out.Reservations[0]
	if aws.ToString(r.OwnerId) != acctA || aws.ToString(r.ReservationId) == "" {
		t.Errorf("reservation owner %q id %q", aws.ToString(r.OwnerId), aws.ToString(r.ReservationId))
	}
	a := r.Instances[0]
	checks := []struct{ name, got, want string }{
		{"id", aws.ToString(a.InstanceId), "i-0000000000000000a"},
		{"image", aws.ToString(a.ImageId), "ami-1"},
		{"state", string(a.State.Name), "running"},
		{"state code", fmt.Sprint(aws.ToInt32(a.State.Code)), "16"},
		{"launch", a.LaunchTime.UTC().Format(time.RFC3339), clock.Add(-time.Hour * 0).Format(time.RFC3339)},
		{"profile", aws.ToString(a.IamInstanceProfile.Arn), "arn:aws:iam::111111111111:instance-profile/web"},
		{"tokens", string(a.MetadataOptions.HttpTokens), "required"},
		{"hop", fmt.Sprint(aws.ToInt32(a.MetadataOptions.HttpPutResponseHopLimit)), "2"},
		{"endpoint", string(a.MetadataOptions.HttpEndpoint), "enabled"},
		{"ipv6", string(a.MetadataOptions.HttpProtocolIpv6), "disabled"},
		{"tags opt", string(a.MetadataOptions.InstanceMetadataTags), "disabled"},
		{"meta state", string(a.MetadataOptions.State), "applied"},
		{"tag count", fmt.Sprint(len(a.Tags)), "2"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	b := out.Reservations[1].Instances[0]
	want := "User initiated (" + clock.Add(-5*24*time.Hour).Format("2006-01-02 15:04:05") + " GMT)"
	if got := aws.ToString(b.StateTransitionReason); got != want {
		t.Errorf("stopped reason = %q, want %q", got, want)
	}
	if b.IamInstanceProfile != nil {
		t.Errorf("instance without profile has one: %+v", b.IamInstanceProfile)
	}
	if got := string(b.MetadataOptions.HttpTokens); got != "optional" {
		t.Errorf("default httpTokens = %q, want optional", got)
	}
}

func TestDescribeInstancesFilters(t *testing.T) {
	s, url := simtest.Start(t, testFleet(0), sim.Options{})
	_ = s
	c := ec2Client(t, url, keyA, "eu-west-1")
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"state running", []types.Filter{f("instance-state-name", "running")}, []string{"a", "c"}},
		{"state several", []types.Filter{f("instance-state-name", "stopped", "terminated")}, []string{"b", "d"}},
		{"instance-id", []types.Filter{f("instance-id", "i-0000000000000000c")}, []string{"c"}},
		{"instance-id wildcard", []types.Filter{f("instance-id", "i-*[ab]", "*d")}, []string{"d"}},
		{"tag:Name", []types.Filter{f("tag:Name", "web-1")}, []string{"a"}},
		{"tag:Name wildcard", []types.Filter{f("tag:Name", "b*")}, []string{"b"}},
		{"tag:Name ? is one character", []types.Filter{f("tag:Name", "web-?", "batc??")}, []string{"a"}},
		{"wildcard matches the whole value", []types.Filter{f("tag:Name", "web")}, nil},
		{"tag-key", []types.Filter{f("tag-key", "eks:cluster-name")}, []string{"b"}},
		{"http-tokens required", []types.Filter{f("metadata-options.http-tokens", "required")}, []string{"a"}},
		{"http-tokens optional", []types.Filter{f("metadata-options.http-tokens", "optional")}, []string{"b", "c", "d"}},
		{"http-endpoint disabled", []types.Filter{f("metadata-options.http-endpoint", "disabled")}, []string{"c"}},
		{"two filters AND", []types.Filter{f("metadata-options.http-tokens", "optional"), f("instance-state-name", "running")}, []string{"c"}},
		{"no match", []types.Filter{f("tag:team", "red")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: tt.filters, MaxResults: aws.Int32(5)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, id := range instanceIDs(out.Reservations) {
				got = append(got, id[len(id)-1:])
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDescribeInstancesErrors(t *testing.T) {
	_, url := simtest.Start(t, testFleet(20), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	tests := []struct {
		name string
		in   ec2.DescribeInstancesInput
		code string
	}{
		{"MaxResults with InstanceId", ec2.DescribeInstancesInput{MaxResults: aws.Int32(10), InstanceIds: []string{id(1)}}, "InvalidParameterCombination"},
		{"MaxResults 4", ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)}, "InvalidParameterValue"},
		{"MaxResults 1001", ec2.DescribeInstancesInput{MaxResults: aws.Int32(1001)}, "InvalidParameterValue"},
		{"unknown id", ec2.DescribeInstancesInput{InstanceIds: []string{id(1), "i-0fffffffffffffff0"}}, "InvalidInstanceID.NotFound"},
		{"malformed id", ec2.DescribeInstancesInput{InstanceIds: []string{"web-1"}}, "InvalidInstanceID.Malformed"},
		{"unknown filter", ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}}, "InvalidParameterValue"},
		{"bad token", ec2.DescribeInstancesInput{NextToken: aws.String("garbage!")}, "InvalidPaginationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.DescribeInstances(context.Background(), &tt.in)
			if got := apiCode(t, err); got != tt.code {
				t.Errorf("code = %s, want %s (%v)", got, tt.code, err)
			}
		})
	}
	t.Run("ids in another Region are unknown", func(t *testing.T) {
		_, err := ec2Client(t, url, keyA, "eu-west-1").DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id(1)}})
		if got := apiCode(t, err); got != "InvalidInstanceID.NotFound" {
			t.Errorf("code = %s", got)
		}
	})
	t.Run("not-opted-in Region", func(t *testing.T) {
		_, err := ec2Client(t, url, keyA, "ap-east-1").DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
		if got := apiCode(t, err); got != "AuthFailure" {
			t.Errorf("code = %s", got)
		}
	})
}

func TestModifyDryRun(t *testing.T) {
	s, url := simtest.Start(t, testFleet(3), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	_, err := c.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(id(2)), HttpTokens: types.HttpTokensStateRequired, DryRun: aws.Bool(true),
	})
	if got := apiCode(t, err); got != "DryRunOperation" {
		t.Fatalf("code = %s, want DryRunOperation", got)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 412 {
		t.Errorf("DryRun answered %v, want HTTP 412", err)
	}
	in, _ := s.Instance(acctA, "us-east-1", id(2))
	if in.MetadataOptions.HttpTokens != "optional" {
		t.Errorf("DryRun changed httpTokens to %q", in.MetadataOptions.HttpTokens)
	}
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id(2)}})
	if err != nil {
		t.Fatal(err)
	}
	mo := out.Reservations[0].Instances[0].MetadataOptions
	if mo.HttpTokens != types.HttpTokensStateOptional || mo.State != types.InstanceMetadataOptionsStateApplied {
		t.Errorf("after DryRun: tokens %s state %s, want optional applied", mo.HttpTokens, mo.State)
	}
	calls := s.ModifyCalls()
	if len(calls) != 1 || !calls[0].DryRun || calls[0].Outcome != "DryRunOperation" || calls[0].Params["HttpTokens"] != "required" {
		t.Errorf("ModifyCalls = %+v", calls)
	}
}

func TestModifyPendingThenApplied(t *testing.T) {
	f := testFleet(3)
	d := fleet.Duration(300 * time.Millisecond)
	f.Knobs.ApplyDelay = &d
	// The apply delay runs on a clock the test moves: no waiting, and the
	// state is the same however slowly the machine runs.
	clk := simtest.NewClock(clock)
	s, url := simtest.Start(t, f, sim.Options{Wall: clk.Now})
	c := ec2Client(t, url, keyA, "us-east-1")
	out, err := c.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(id(1)), HttpTokens: types.HttpTokensStateRequired,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := out.InstanceMetadataOptions
	if aws.ToString(out.InstanceId) != id(1) || o.State != types.InstanceMetadataOptionsStatePending || o.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("answer: id %s state %s tokens %s", aws.ToString(out.InstanceId), o.State, o.HttpTokens)
	}
	// Omitted fields keep their value.
	if aws.ToInt32(o.HttpPutResponseHopLimit) != 1 || o.HttpEndpoint != types.InstanceMetadataEndpointStateEnabled {
		t.Errorf("omitted fields changed: hop %d endpoint %s", aws.ToInt32(o.HttpPutResponseHopLimit), o.HttpEndpoint)
	}
	describe := func() *types.InstanceMetadataOptionsResponse {
		out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id(1)}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Reservations[0].Instances[0].MetadataOptions
	}
	clk.Advance(299 * time.Millisecond)
	if mo := describe(); mo.State != types.InstanceMetadataOptionsStatePending || mo.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("299ms into a 300ms apply delay: state %s tokens %s, want pending required", mo.State, mo.HttpTokens)
	}
	if got := s.MetadataState(acctA, "us-east-1", id(1)); got != "pending" {
		t.Errorf("MetadataState 299ms into a 300ms apply delay = %q, want pending", got)
	}
	clk.Advance(time.Millisecond)
	if mo := describe(); mo.State != types.InstanceMetadataOptionsStateApplied || mo.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("after the 300ms apply delay: state %s tokens %s, want applied required", mo.State, mo.HttpTokens)
	}
	if got := s.MetadataState(acctA, "us-east-1", id(1)); got != "applied" {
		t.Errorf("MetadataState = %q", got)
	}
	// A second change with the hop limit keeps tokens required.
	out, err = c.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(id(1)), HttpPutResponseHopLimit: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.InstanceMetadataOptions.HttpTokens != types.HttpTokensStateRequired || aws.ToInt32(out.InstanceMetadataOptions.HttpPutResponseHopLimit) != 2 {
		t.Errorf("second change: %+v", out.InstanceMetadataOptions)
	}
	if s.MetadataState(acctA, "us-east-1", id(1)) != "pending" {
		t.Errorf("right after a change with a 300ms delay the state should be pending")
	}
	in, _ := s.Instance(acctA, "us-east-1", id(1))
	if in.MetadataOptions.HttpTokens != "required" || in.MetadataOptions.HttpPutResponseHopLimit != 2 {
		t.Errorf("server state = %+v", in.MetadataOptions)
	}
}

func TestModifyErrors(t *testing.T) {
	s, url := simtest.Start(t, testFleet(1), sim.Options{})
	c := ec2Client(t, url, keyA, "eu-west-1")
	tests := []struct {
		name string
		in   ec2.ModifyInstanceMetadataOptionsInput
		code string
	}{
		{"unknown id", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0fffffffffffffff0"), HttpTokens: types.HttpTokensStateRequired}, "InvalidInstanceID.NotFound"},
		{"unknown id dry run", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0fffffffffffffff0"), DryRun: aws.Bool(true)}, "InvalidInstanceID.NotFound"},
		{"terminated", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000d"), HttpTokens: types.HttpTokensStateRequired}, "IncorrectInstanceState"},
		{"bad tokens", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000c"), HttpTokens: "always"}, "InvalidParameterValue"},
		{"hop 0", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000c"), HttpPutResponseHopLimit: aws.Int32(0)}, "InvalidParameterValue"},
		{"hop 65", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000c"), HttpPutResponseHopLimit: aws.Int32(65)}, "InvalidParameterValue"},
		{"bad endpoint", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000c"), HttpEndpoint: "on"}, "InvalidParameterValue"},
		{"bad ipv6", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000c"), HttpProtocolIpv6: "yes"}, "InvalidParameterValue"},
		{"bad tags", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0000000000000000c"), InstanceMetadataTags: "yes"}, "InvalidParameterValue"},
		{"malformed id", ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("web")}, "InvalidInstanceID.Malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ModifyInstanceMetadataOptions(context.Background(), &tt.in)
			if got := apiCode(t, err); got != tt.code {
				t.Errorf("code = %s, want %s (%v)", got, tt.code, err)
			}
		})
	}
	in, _ := s.Instance(acctA, "eu-west-1", "i-0000000000000000c")
	want := fleet.MetadataOptions{}.WithDefaults()
	want.HttpEndpoint = "disabled"
	if in.MetadataOptions != want {
		t.Errorf("rejected calls changed the instance: %+v", in.MetadataOptions)
	}
	if n := len(s.ModifyCalls()); n != len(tests) {
		t.Errorf("ModifyCalls recorded %d calls, want %d", n, len(tests))
	}
}

func TestDescribeRegions(t *testing.T) {
	_, url := simtest.Start(t, testFleet(0), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	list := func(all bool) map[string]string {
		out, err := c.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{AllRegions: aws.Bool(all)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, r := range out.Regions {
			m[aws.ToString(r.RegionName)] = aws.ToString(r.OptInStatus)
			if aws.ToString(r.Endpoint) != "ec2."+aws.ToString(r.RegionName)+".amazonaws.com" {
				t.Errorf("endpoint %q", aws.ToString(r.Endpoint))
			}
		}
		return m
	}
	if got := fmt.Sprint(list(false)); got != "map[eu-west-1:opt-in-not-required us-east-1:opt-in-not-required]" {
		t.Errorf("enabled Regions = %s", got)
	}
	if got := list(true)["ap-east-1"]; got != "not-opted-in" {
		t.Errorf("AllRegions: ap-east-1 = %q, want not-opted-in", got)
	}
}

func TestGetInstanceMetadataDefaults(t *testing.T) {
	_, url := simtest.Start(t, testFleet(0), sim.Options{})
	out, err := ec2Client(t, url, keyA, "eu-west-1").GetInstanceMetadataDefaults(context.Background(), &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		t.Fatal(err)
	}
	a := out.AccountLevel
	if a.HttpTokens != types.HttpTokensStateRequired || aws.ToInt32(a.HttpPutResponseHopLimit) != 2 || a.HttpTokensEnforced != types.HttpTokensEnforcedStateDisabled {
		t.Errorf("defaults = %+v", a)
	}
	out, err = ec2Client(t, url, keyA, "us-east-1").GetInstanceMetadataDefaults(context.Background(), &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.AccountLevel == nil || out.AccountLevel.HttpTokens != "" {
		t.Errorf("no-preference Region: %+v", out.AccountLevel)
	}
}

// TestServeCommittedFleets serves testdata/fleets/demo.json and example.json
// and checks what a scan of them meets first.
func TestServeCommittedFleets(t *testing.T) {
	ctx := context.Background()
	demo, err := fleet.LoadFile("../../testdata/fleets/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	s, url := simtest.Start(t, demo, sim.Options{})
	s.SetKnobs("123456789012", "us-east-1", fleet.Knobs{Latency: &fleet.Latency{}})
	key := fleet.DefaultAccessKeyID("123456789012")
	regions, err := ec2Client(t, url, key, "us-east-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regions.Regions); n != 4 {
		t.Errorf("demo: %d enabled Regions, want 4", n)
	}
	n := 0
	p := ec2.NewDescribeInstancesPaginator(ec2Client(t, url, key, "us-east-1"), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(instanceIDs(out.Reservations))
	}
	if n != 125 {
		t.Errorf("demo us-east-1: %d instances, want 125", n)
	}
	_, err = ec2.NewFromConfig(simtest.Config(url, key, "sa-east-1"), noRetry).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if got := apiCode(t, err); got != "AuthFailure" {
		t.Errorf("demo sa-east-1: %s, want AuthFailure", got)
	}

	example, err := fleet.LoadFile("../../testdata/fleets/example.json")
	if err != nil {
		t.Fatal(err)
	}
	s2, url2 := simtest.Start(t, example, sim.Options{})
	out, err := ec2Client(t, url2, "AKIAEXAMPLEPRODUCT01", "us-east-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDs(out.Reservations); len(got) != 3 {
		t.Errorf("example us-east-1: %v", got)
	}
	if got := s2.Now(); !got.Equal(*example.Clock) {
		t.Errorf("example clock: server now = %s", got)
	}
}

func TestDryRunOnReadCalls(t *testing.T) {
	_, url := simtest.Start(t, testFleet(3), sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	ctx := context.Background()
	calls := map[string]func() error{
		"DescribeInstances": func() error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
			return err
		},
		"DescribeRegions": func() error {
			_, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{DryRun: aws.Bool(true)})
			return err
		},
		"GetInstanceMetadataDefaults": func() error {
			_, err := c.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{DryRun: aws.Bool(true)})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if got := apiCode(t, call()); got != "DryRunOperation" {
				t.Errorf("code = %s", got)
			}
		})
	}
}

// TestDescribeInstancesReservations: the instances of one page that share
// a reservation id are listed in one reservation, even when other
// instances' ids sort between theirs (as in synthetic fleets, whose ids are
// random); a reservation split over two pages appears on each.
func TestDescribeInstancesReservations(t *testing.T) {
	f := testFleet(12)
	us := f.Accounts[0].Regions[0].Instances
	for _, i := range []int{0, 2, 4, 9} { // ids 1, 3, 5 on page 1 and 10 on page 2
		us[i].ReservationID = "r-0aaaaaaaaaaaaaaa1"
	}
	_, url := simtest.Start(t, f, sim.Options{})
	c := ec2Client(t, url, keyA, "us-east-1")
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(6)})
	var pages []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var shared []string
		for _, r := range out.Reservations {
			rid := aws.ToString(r.ReservationId)
			if seen[rid] {
				t.Errorf("page %d lists reservation %s twice", len(pages)+1, rid)
			}
			seen[rid] = true
			if rid == "r-0aaaaaaaaaaaaaaa1" {
				shared = instanceIDs([]types.Reservation{r})
			}
		}
		pages = append(pages, fmt.Sprintf("%d reservations, shared %v", len(out.Reservations), shared))
	}
	want := fmt.Sprintf("[4 reservations, shared [%s %s %s] 6 reservations, shared [%s]]", id(1), id(3), id(5), id(10))
	if got := fmt.Sprint(pages); got != want {
		t.Errorf("pages = %s, want %s", got, want)
	}
}

// TestModifyEmptyValues: a ModifyInstanceMetadataOptions field sent with an
// empty value is invalid (the SDKs omit unset fields rather than send them
// empty), the hop limit like the others, and changes nothing.
func TestModifyEmptyValues(t *testing.T) {
	s, url := simtest.Start(t, testFleet(1), sim.Options{})
	for _, field := range []string{"HttpPutResponseHopLimit", "HttpTokens", "HttpEndpoint"} {
		t.Run(field, func(t *testing.T) {
			form := neturl.Values{"Action": {"ModifyInstanceMetadataOptions"}, "Version": {"2016-11-15"},
				"InstanceId": {id(1)}, field: {""}, "HttpProtocolIpv6": {"enabled"}}
			req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyA+"/20260301/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>InvalidParameterValue</Code>") {
				t.Errorf("%s empty: HTTP %d %s, want 400 InvalidParameterValue", field, resp.StatusCode, body)
			}
			if in, _ := s.Instance(acctA, "us-east-1", id(1)); in.MetadataOptions.HttpProtocolIpv6 != "disabled" {
				t.Errorf("a rejected call changed the instance: %+v", in.MetadataOptions)
			}
		})
	}
}
