package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// readsFleet: testFleet with 23 running instances in us-east-1, every
// third one stopped, each tagged Name and team (and env on even ones);
// eu-west-1 gets two zones of its own.
func readsFleet() *fleet.Fleet {
	f := testFleet(23)
	use1 := &f.Accounts[0].Regions[0]
	for i := range use1.Instances {
		in := &use1.Instances[i]
		in.Tags = map[string]string{"Name": fmt.Sprintf("web-%d", i), "team": []string{"blue", "red"}[i%2]}
		if i%2 == 0 {
			in.Tags["env"] = "prod"
		}
		if i%3 == 2 {
			in.State = "stopped"
		}
	}
	use1.Instances[0].AvailabilityZone = "us-east-1c"
	// i-…04 fails its status check since an hour ago; i-…05 failed once.
	use1.Instances[3].StatusCheckFailed = []fleet.Interval{{From: fleet.Rel(-time.Hour)}}
	use1.Instances[4].StatusCheckFailed = []fleet.Interval{{From: fleet.Rel(-3 * time.Hour), To: fleet.Rel(-2 * time.Hour)}}
	euw1 := &f.Accounts[0].Regions[1]
	euw1.AvailabilityZones = []string{"eu-west-1a", "eu-west-1b"}
	return f
}

// TestDescribeAvailabilityZones: each Region's zones from the fleet (a, b,
// c by default) with AWS-style zone ids; names, ids and filters select;
// an unknown zone is refused; a Region not enabled answers AuthFailure.
func TestDescribeAvailabilityZones(t *testing.T) {
	_, url := simtest.Start(t, readsFleet(), sim.Options{})
	ctx := context.Background()
	zones := func(region string, in *ec2.DescribeAvailabilityZonesInput) string {
		t.Helper()
		out, err := ec2Client(t, url, keyA, region).DescribeAvailabilityZones(ctx, in)
		if err != nil {
			t.Fatalf("DescribeAvailabilityZones in %s: %v", region, err)
		}
		var got []string
		for _, z := range out.AvailabilityZones {
			if aws.ToString(z.RegionName) != region || z.State != types.AvailabilityZoneStateAvailable ||
				aws.ToString(z.ZoneType) != "availability-zone" || z.OptInStatus != types.AvailabilityZoneOptInStatusOptInNotRequired {
				t.Errorf("zone %+v", z)
			}
			got = append(got, aws.ToString(z.ZoneName)+"="+aws.ToString(z.ZoneId))
		}
		return fmt.Sprint(got)
	}
	if got := zones("us-east-1", &ec2.DescribeAvailabilityZonesInput{}); got != "[us-east-1a=use1-az1 us-east-1b=use1-az2 us-east-1c=use1-az3]" {
		t.Errorf("us-east-1 zones = %s", got)
	}
	if got := zones("eu-west-1", &ec2.DescribeAvailabilityZonesInput{}); got != "[eu-west-1a=euw1-az1 eu-west-1b=euw1-az2]" {
		t.Errorf("eu-west-1 zones = %s", got)
	}
	if got := zones("us-east-1", &ec2.DescribeAvailabilityZonesInput{ZoneIds: []string{"use1-az2"}}); got != "[us-east-1b=use1-az2]" {
		t.Errorf("by id = %s", got)
	}
	if got := zones("us-east-1", &ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{{Name: aws.String("zone-name"), Values: []string{"*a", "*c"}}}}); got != "[us-east-1a=use1-az1 us-east-1c=use1-az3]" {
		t.Errorf("filtered = %s", got)
	}
	_, err := ec2Client(t, url, keyA, "us-east-1").DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{"us-east-1q"}})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
	_, err = ec2Client(t, url, keyA, "ap-east-1").DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	wantAPIError(t, err, "AuthFailure", http.StatusUnauthorized)
}

// TestInstancesByAvailabilityZone: every instance has a placement zone of
// its Region, and listing each zone with the availability-zone filter (in
// pages) returns every instance exactly once, as a Region split by zone
// must.
func TestInstancesByAvailabilityZone(t *testing.T) {
	_, url := simtest.Start(t, readsFleet(), sim.Options{})
	ctx := context.Background()
	c := ec2Client(t, url, keyA, "us-east-1")
	all := map[string]string{}
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				all[aws.ToString(in.InstanceId)] = aws.ToString(in.Placement.AvailabilityZone)
			}
		}
	}
	if len(all) != 23 || all[id(1)] != "us-east-1c" {
		t.Fatalf("instances = %v", all)
	}
	seen := map[string]int{}
	perZone := map[string]int{}
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
		p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5),
			Filters: []types.Filter{{Name: aws.String("availability-zone"), Values: []string{az}}}})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					iid := aws.ToString(in.InstanceId)
					seen[iid]++
					perZone[az]++
					if all[iid] != az {
						t.Errorf("%s listed in %s, placed in %s", iid, az, all[iid])
					}
				}
			}
		}
	}
	for iid := range all {
		if seen[iid] != 1 {
			t.Errorf("%s listed %d times across the zones", iid, seen[iid])
		}
	}
	if len(perZone) != 3 {
		t.Errorf("instances per zone = %v, want all three zones used", perZone)
	}
}

// TestDescribeTags: the Region's tags by resource and key, in pages of
// MaxResults (5–1000) through the SDK's paginator, with the key, value,
// resource-id and resource-type filters.
func TestDescribeTags(t *testing.T) {
	srv, url := simtest.Start(t, readsFleet(), sim.Options{})
	ctx := context.Background()
	c := ec2Client(t, url, keyA, "us-east-1")
	list := func(in *ec2.DescribeTagsInput) []types.TagDescription {
		t.Helper()
		var out []types.TagDescription
		p := ec2.NewDescribeTagsPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if in.MaxResults != nil && len(page.Tags) > int(*in.MaxResults) {
				t.Errorf("page of %d tags, MaxResults %d", len(page.Tags), *in.MaxResults)
			}
			out = append(out, page.Tags...)
		}
		return out
	}
	srv.ResetStats()
	tags := list(&ec2.DescribeTagsInput{MaxResults: aws.Int32(5)})
	if len(tags) != 23*2+12 { // Name and team on all, env on the 12 even ones
		t.Fatalf("%d tags, want 58", len(tags))
	}
	if n := srv.Stats().Calls["DescribeTags"]["us-east-1"]; n != 12 {
		t.Errorf("%d DescribeTags calls, want 12 pages of 5", n)
	}
	var keys []string
	for _, tg := range tags {
		if tg.ResourceType != types.ResourceTypeInstance {
			t.Errorf("resource type %q", tg.ResourceType)
		}
		keys = append(keys, aws.ToString(tg.ResourceId)+"/"+aws.ToString(tg.Key))
	}
	if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("tags not listed once each in resource, key order: %v", keys)
	}
	if got := list(&ec2.DescribeTagsInput{}); len(got) != 58 {
		t.Errorf("unpaged: %d tags", len(got))
	}
	got := list(&ec2.DescribeTagsInput{Filters: []types.Filter{
		{Name: aws.String("key"), Values: []string{"team"}},
		{Name: aws.String("value"), Values: []string{"red"}},
		{Name: aws.String("resource-type"), Values: []string{"instance"}},
	}})
	if len(got) != 11 {
		t.Errorf("team=red: %d tags, want 11", len(got))
	}
	got = list(&ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id(1), id(2)}}}})
	if len(got) != 5 {
		t.Errorf("two resources: %d tags, want 5", len(got))
	}
	if got := list(&ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-type"), Values: []string{"volume"}}}}); len(got) != 0 {
		t.Errorf("volumes: %d tags", len(got))
	}
	for _, n := range []int32{4, 1001} {
		_, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(n)})
		wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
	}
	_, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("owner"), Values: []string{"x"}}}})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
}

// TestDescribeInstanceStatus: running instances by default, every one with
// IncludeAllInstances (not-applicable when not running), in pages through
// the SDK's paginator; ids, filters and AWS's parameter checks.
func TestDescribeInstanceStatus(t *testing.T) {
	_, url := simtest.Start(t, readsFleet(), sim.Options{})
	ctx := context.Background()
	c := ec2Client(t, url, keyA, "us-east-1")
	list := func(in *ec2.DescribeInstanceStatusInput) map[string]types.InstanceStatus {
		t.Helper()
		out := map[string]types.InstanceStatus{}
		p := ec2.NewDescribeInstanceStatusPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range page.InstanceStatuses {
				if _, dup := out[aws.ToString(st.InstanceId)]; dup {
					t.Errorf("%s listed twice", aws.ToString(st.InstanceId))
				}
				out[aws.ToString(st.InstanceId)] = st
			}
		}
		return out
	}
	running := list(&ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(5)})
	if len(running) != 16 {
		t.Errorf("%d running instances, want 16", len(running))
	}
	st := running[id(1)]
	if st.InstanceState.Name != types.InstanceStateNameRunning || st.InstanceStatus.Status != types.SummaryStatusOk ||
		st.SystemStatus.Status != types.SummaryStatusOk || len(st.InstanceStatus.Details) != 1 ||
		st.InstanceStatus.Details[0].Status != types.StatusTypePassed || aws.ToString(st.AvailabilityZone) != "us-east-1c" ||
		aws.ToString(st.AvailabilityZoneId) != "use1-az3" {
		t.Errorf("status of %s: %+v", id(1), st)
	}
	all := list(&ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(5), IncludeAllInstances: aws.Bool(true)})
	if len(all) != 23 || all[id(3)].InstanceStatus.Status != types.SummaryStatusNotApplicable || all[id(3)].InstanceState.Name != types.InstanceStateNameStopped {
		t.Errorf("IncludeAllInstances: %d instances, %s = %+v", len(all), id(3), all[id(3)])
	}
	byID := list(&ec2.DescribeInstanceStatusInput{InstanceIds: []string{id(3), id(4), id(5)}})
	if len(byID) != 2 || byID[id(4)].InstanceId == nil {
		t.Errorf("by id without IncludeAllInstances = %v, want only the running %s and %s", byID, id(4), id(5))
	}
	if st := byID[id(4)]; st.InstanceStatus.Status != types.SummaryStatusImpaired || st.InstanceStatus.Details[0].Status != types.StatusTypeFailed ||
		st.SystemStatus.Status != types.SummaryStatusOk {
		t.Errorf("%s fails its status check now: %+v", id(4), st)
	}
	if st := byID[id(5)]; st.InstanceStatus.Status != types.SummaryStatusOk {
		t.Errorf("%s failed only earlier: %+v", id(5), st.InstanceStatus)
	}
	impaired := list(&ec2.DescribeInstanceStatusInput{Filters: []types.Filter{{Name: aws.String("instance-status.status"), Values: []string{"impaired"}}}})
	if len(impaired) != 1 {
		t.Errorf("impaired filter: %d instances, want 1", len(impaired))
	}
	stopped := list(&ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
		Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"stopped"}}}})
	if len(stopped) != 7 {
		t.Errorf("stopped: %d, want 7", len(stopped))
	}
	_, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id(1)}, MaxResults: aws.Int32(5)})
	wantAPIError(t, err, "InvalidParameterCombination", http.StatusBadRequest)
	_, err = c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(1001)})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
	_, err = c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
}
