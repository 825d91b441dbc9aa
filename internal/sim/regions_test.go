package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// regionsOf calls DescribeRegions and returns name → opt-in status.
func regionsOf(t *testing.T, c *ec2.Client, in *ec2.DescribeRegionsInput) map[string]string {
	t.Helper()
	out, err := c.DescribeRegions(context.Background(), in)
	if err != nil {
		t.Fatalf("DescribeRegions: %v", err)
	}
	m := map[string]string{}
	for _, r := range out.Regions {
		m[aws.ToString(r.RegionName)] = aws.ToString(r.OptInStatus)
	}
	return m
}

// TestDescribeRegionsLikeAWS: every commercial Region is listed with its
// opt-in status; the fleet says which are enabled (its listed Regions, or
// with enabledRegions "aws" every Region that needs no opt-in plus the
// opt-in ones it lists); filters and RegionName.N behave as on AWS; a
// Region not enabled answers AuthFailure.
func TestDescribeRegionsLikeAWS(t *testing.T) {
	ctx := context.Background()
	t.Run("listed", func(t *testing.T) {
		f := testFleet(1)
		f.Accounts[0].Regions = append(f.Accounts[0].Regions, fleet.Region{Name: "af-south-1"})
		_, url := simtest.Start(t, f, sim.Options{})
		c := ec2Client(t, url, keyA, "us-east-1")
		all := regionsOf(t, c, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
		if len(all) != 34 {
			t.Errorf("AllRegions listed %d Regions, want the 34 commercial ones: %v", len(all), all)
		}
		for name, want := range map[string]string{
			"us-east-1": "opt-in-not-required", "eu-west-1": "opt-in-not-required",
			"af-south-1": "opted-in", "ap-east-1": "not-opted-in",
			"us-west-2": "not-opted-in", "mx-central-1": "not-opted-in",
		} {
			if all[name] != want {
				t.Errorf("%s: %q, want %q", name, all[name], want)
			}
		}
		if got := fmt.Sprint(regionsOf(t, c, &ec2.DescribeRegionsInput{})); got != "map[af-south-1:opted-in eu-west-1:opt-in-not-required us-east-1:opt-in-not-required]" {
			t.Errorf("enabled Regions = %s", got)
		}
		// Named Regions are listed whatever their status.
		if got := fmt.Sprint(regionsOf(t, c, &ec2.DescribeRegionsInput{RegionNames: []string{"ap-east-1", "us-east-1"}})); got != "map[ap-east-1:not-opted-in us-east-1:opt-in-not-required]" {
			t.Errorf("RegionNames = %s", got)
		}
		got := regionsOf(t, c, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true), Filters: []types.Filter{
			{Name: aws.String("opt-in-status"), Values: []string{"opted-in", "opt-in-not-required"}},
			{Name: aws.String("region-name"), Values: []string{"*-south-*", "us-east-?"}},
		}})
		if fmt.Sprint(got) != "map[af-south-1:opted-in us-east-1:opt-in-not-required]" {
			t.Errorf("filters = %v", got)
		}
		// Calls into a disabled opt-in Region fail as on AWS; a default
		// Region the fleet leaves out is reported not enabled (a scan skips
		// it) but answers like an empty Region, as AWS would.
		_, err := ec2Client(t, url, keyA, "mx-central-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		wantAPIError(t, err, "AuthFailure", http.StatusUnauthorized)
		regs, err := ec2Client(t, url, keyA, "us-west-2").DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err != nil || len(regs.Regions) != 3 {
			t.Fatalf("DescribeRegions from the unlisted us-west-2: %v, %+v", err, regs)
		}
		_, err = ec2Client(t, url, keyA, "eu-west-9").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		wantAPIError(t, err, "AuthFailure", http.StatusUnauthorized)
		out, err := ec2Client(t, url, keyA, "af-south-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err != nil || len(out.Reservations) != 0 {
			t.Errorf("opted-in af-south-1 without instances: %v, %d reservations", err, len(out.Reservations))
		}
	})
	t.Run("aws", func(t *testing.T) {
		f := testFleet(1)
		f.EnabledRegions = fleet.EnabledAWS
		f.Accounts[0].Regions = append(f.Accounts[0].Regions, fleet.Region{Name: "il-central-1"})
		_, url := simtest.Start(t, f, sim.Options{})
		c := ec2Client(t, url, keyA, "us-east-1")
		enabled := regionsOf(t, c, &ec2.DescribeRegionsInput{})
		if len(enabled) != 18 || enabled["us-west-2"] != "opt-in-not-required" || enabled["il-central-1"] != "opted-in" {
			t.Errorf("enabled = %v, want the 17 Regions that need no opt-in and il-central-1", enabled)
		}
		off := regionsOf(t, c, &ec2.DescribeRegionsInput{Filters: []types.Filter{{Name: aws.String("opt-in-status"), Values: []string{"not-opted-in"}}}, AllRegions: aws.Bool(true)})
		if len(off) != 16 || off["ap-east-1"] != "not-opted-in" {
			t.Errorf("not opted in = %v, want the 16 other opt-in Regions", off)
		}
		out, err := ec2Client(t, url, keyA, "us-west-2").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err != nil || len(out.Reservations) != 0 {
			t.Errorf("unlisted us-west-2: %v, %d reservations; want an enabled empty Region", err, len(out.Reservations))
		}
	})
	t.Run("govcloud", func(t *testing.T) {
		f := testFleet(0)
		f.Partition = fleet.PartitionGov
		f.Accounts[0].Regions = []fleet.Region{{Name: "us-gov-west-1"}}
		_, url := simtest.Start(t, f, sim.Options{})
		got := regionsOf(t, ec2Client(t, url, keyA, "us-gov-west-1"), &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
		if fmt.Sprint(got) != "map[us-gov-east-1:not-opted-in us-gov-west-1:opt-in-not-required]" {
			t.Errorf("GovCloud account: %v", got)
		}
	})
}
