package sim_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestReadCallsWithAWSCLI checks that the AWS CLI (botocore, a client
// nobody here wrote) reads DescribeAvailabilityZones, DescribeTags and
// DescribeInstanceStatus as the Go SDK does, paging with its own NextToken
// handling, and that its availability-zone filter on DescribeInstances
// selects the zone's instances.
func TestReadCallsWithAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH: skipping the agreement test with a client nobody here wrote; install awscli to run it")
	}
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI subprocesses")
	}
	s, url := simtest.Start(t, readsFleet(), sim.Options{})
	env := append(simtest.Env(url, keyA, "us-east-1"), "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	aws := func(out any, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
		cmd.Env = append(cmd.Environ(), env...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, b)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("aws %v: parse: %v\n%s", args, err, b)
		}
	}

	t.Run("describe-availability-zones", func(t *testing.T) {
		var got struct {
			AvailabilityZones []struct{ ZoneName, ZoneId, State, RegionName, ZoneType, OptInStatus, GroupName string }
		}
		aws(&got, "ec2", "describe-availability-zones", "--region", "eu-west-1")
		if len(got.AvailabilityZones) != 2 {
			t.Fatalf("zones = %+v", got.AvailabilityZones)
		}
		z := got.AvailabilityZones[1]
		if z.ZoneName != "eu-west-1b" || z.ZoneId != "euw1-az2" || z.State != "available" || z.RegionName != "eu-west-1" ||
			z.ZoneType != "availability-zone" || z.OptInStatus != "opt-in-not-required" || z.GroupName != "eu-west-1" {
			t.Errorf("zone as the CLI read it: %+v", z)
		}
	})

	t.Run("describe-tags with pages of 5", func(t *testing.T) {
		s.ResetStats()
		var got struct {
			Tags []struct{ ResourceId, ResourceType, Key, Value string }
		}
		aws(&got, "ec2", "describe-tags", "--page-size", "5", "--filters", "Name=key,Values=team,env")
		if len(got.Tags) != 35 { // team on 23, env on 12
			t.Errorf("%d tags, want 35", len(got.Tags))
		}
		for _, tg := range got.Tags {
			if tg.ResourceType != "instance" || tg.ResourceId == "" || tg.Value == "" {
				t.Errorf("tag as the CLI read it: %+v", tg)
			}
		}
		if n := s.Stats().Calls["DescribeTags"]["us-east-1"]; n != 7 {
			t.Errorf("the CLI made %d DescribeTags calls, want 7 pages", n)
		}
	})

	t.Run("describe-instance-status --include-all-instances", func(t *testing.T) {
		var got struct {
			InstanceStatuses []struct {
				InstanceId, AvailabilityZone string
				InstanceState                struct{ Name string }
				InstanceStatus, SystemStatus struct {
					Status  string
					Details []struct{ Name, Status string }
				}
			}
		}
		aws(&got, "ec2", "describe-instance-status", "--include-all-instances", "--page-size", "5")
		states := map[string]int{}
		for _, st := range got.InstanceStatuses {
			states[st.InstanceState.Name+"/"+st.InstanceStatus.Status+"/"+st.SystemStatus.Status]++
			if st.InstanceId == id(1) && (st.AvailabilityZone != "us-east-1c" || len(st.InstanceStatus.Details) != 1 || st.InstanceStatus.Details[0].Status != "passed") {
				t.Errorf("status as the CLI read it: %+v", st)
			}
		}
		if states["running/ok/ok"] != 15 || states["running/impaired/ok"] != 1 || states["stopped/not-applicable/not-applicable"] != 7 || len(states) != 3 {
			t.Errorf("statuses = %v", states)
		}
	})

	t.Run("describe-instances --filters availability-zone", func(t *testing.T) {
		var got struct {
			Reservations []struct {
				Instances []struct {
					InstanceId string
					Placement  struct{ AvailabilityZone string }
				}
			}
		}
		aws(&got, "ec2", "describe-instances", "--filters", "Name=availability-zone,Values=us-east-1c")
		n := 0
		for _, r := range got.Reservations {
			for _, in := range r.Instances {
				n++
				if in.Placement.AvailabilityZone != "us-east-1c" {
					t.Errorf("%s in %s", in.InstanceId, in.Placement.AvailabilityZone)
				}
			}
		}
		if n == 0 {
			t.Error("no instance in us-east-1c")
		}
	})
}
