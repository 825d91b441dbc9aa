package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestEC2AndSTSWithAWSCLI checks that a client nobody here wrote (the AWS
// CLI, botocore) parses the server's EC2 and STS answers: pagination with
// its own NextToken handling, every instance field, DryRun's error and
// GetCallerIdentity. Each aws start costs about a second, so the calls are
// few.
func TestEC2AndSTSWithAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH: skipping the agreement test with a client nobody here wrote; install awscli to run it")
	}
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI subprocesses")
	}
	f := testFleet(0)
	eu := &f.Accounts[0].Regions[1]
	for i := range 8 { // 12 instances in eu-west-1: three pages of 5
		eu.Instances = append(eu.Instances, fleet.Instance{ID: id(100 + i), State: "running"})
	}
	s, url := simtest.Start(t, f, sim.Options{})
	env := append(simtest.Env(url, keyA, "us-east-1"), "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	aws := func(args ...string) ([]byte, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
		cmd.Env = append(cmd.Environ(), env...)
		return cmd.CombinedOutput()
	}

	t.Run("describe-instances with pages of 5", func(t *testing.T) {
		out, err := aws("ec2", "describe-instances", "--region", "eu-west-1", "--page-size", "5")
		if err != nil {
			t.Fatalf("aws ec2 describe-instances: %v\n%s", err, out)
		}
		var got struct {
			Reservations []struct {
				OwnerId   string
				Instances []struct {
					InstanceId            string
					ImageId               string
					LaunchTime            string
					StateTransitionReason string
					State                 struct {
						Code int
						Name string
					}
					IamInstanceProfile *struct{ Arn, Id string }
					Tags               []struct{ Key, Value string }
					MetadataOptions    struct {
						State, HttpTokens, HttpEndpoint, HttpProtocolIpv6, InstanceMetadataTags string
						HttpPutResponseHopLimit                                                 int
					}
				}
			}
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("parse aws output: %v\n%s", err, out)
		}
		byID := map[string]int{}
		for _, r := range got.Reservations {
			if r.OwnerId != acctA {
				t.Errorf("OwnerId = %q", r.OwnerId)
			}
			for i, in := range r.Instances {
				byID[in.InstanceId]++
				if in.InstanceId != "i-0000000000000000a" {
					continue
				}
				in := r.Instances[i]
				lt, err := time.Parse(time.RFC3339, in.LaunchTime)
				if err != nil || !lt.Equal(clock) {
					t.Errorf("LaunchTime %q, want %s", in.LaunchTime, clock)
				}
				mo := in.MetadataOptions
				if in.ImageId != "ami-1" || in.State.Name != "running" || in.State.Code != 16 ||
					in.IamInstanceProfile == nil || !strings.HasPrefix(in.IamInstanceProfile.Id, "AIPA") ||
					len(in.Tags) != 2 || mo.HttpTokens != "required" || mo.HttpPutResponseHopLimit != 2 ||
					mo.HttpEndpoint != "enabled" || mo.State != "applied" || mo.HttpProtocolIpv6 != "disabled" || mo.InstanceMetadataTags != "disabled" {
					t.Errorf("instance a as the CLI read it: %+v", in)
				}
			}
		}
		for id, n := range byID {
			if n != 1 {
				t.Errorf("%s listed %d times", id, n)
			}
		}
		if len(byID) != 12 || byID["i-0000000000000000d"] != 1 || byID[id(107)] != 1 {
			t.Errorf("instances = %v, want the 12 of eu-west-1", byID)
		}
		if n := s.Stats().Calls["DescribeInstances"]["eu-west-1"]; n != 3 {
			t.Errorf("the CLI made %d DescribeInstances calls, want 3 pages", n)
		}
	})

	t.Run("describe-regions", func(t *testing.T) {
		regions := func(args ...string) map[string]string {
			t.Helper()
			out, err := aws(append([]string{"ec2", "describe-regions"}, args...)...)
			if err != nil {
				t.Fatalf("aws ec2 describe-regions %v: %v\n%s", args, err, out)
			}
			var got struct {
				Regions []struct{ RegionName, Endpoint, OptInStatus string }
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("parse: %v\n%s", err, out)
			}
			m := map[string]string{}
			for _, r := range got.Regions {
				m[r.RegionName] = r.OptInStatus
				if r.Endpoint != "ec2."+r.RegionName+".amazonaws.com" {
					t.Errorf("%s: endpoint %q", r.RegionName, r.Endpoint)
				}
			}
			return m
		}
		// The fleet lists us-east-1, eu-west-1 and ap-east-1 (not opted
		// in); every other commercial Region is reported, not enabled.
		m := regions("--all-regions")
		if len(m) != 34 || m["us-east-1"] != "opt-in-not-required" || m["ap-east-1"] != "not-opted-in" || m["us-east-2"] != "not-opted-in" {
			t.Errorf("--all-regions = %v", m)
		}
		if m := regions(); len(m) != 2 || m["eu-west-1"] != "opt-in-not-required" {
			t.Errorf("enabled Regions = %v", m)
		}
		if m := regions("--all-regions", "--filters", "Name=opt-in-status,Values=not-opted-in", "Name=region-name,Values=ap-*"); len(m) != 14 || m["ap-east-1"] != "not-opted-in" {
			t.Errorf("filtered = %v, want the 14 ap-* Regions, none enabled", m)
		}
	})

	t.Run("modify-instance-metadata-options --dry-run", func(t *testing.T) {
		out, err := aws("ec2", "modify-instance-metadata-options", "--region", "eu-west-1", "--dry-run", "--instance-id", "i-0000000000000000c", "--http-tokens", "required")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || (ee.ExitCode() != 254 && ee.ExitCode() != 255) {
			t.Fatalf("want exit 254 or 255, got %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "(DryRunOperation)") || !strings.Contains(string(out), "Request would have succeeded, but DryRun flag is set.") {
			t.Errorf("output lacks the DryRunOperation error: %s", out)
		}
		if in, _ := s.Instance(acctA, "eu-west-1", "i-0000000000000000c"); in.MetadataOptions.HttpTokens != "optional" {
			t.Errorf("the dry run changed httpTokens to %s", in.MetadataOptions.HttpTokens)
		}
		if calls := s.ModifyCalls(); len(calls) != 1 || !calls[0].DryRun || calls[0].Params["HttpTokens"] != "required" {
			t.Errorf("ModifyCalls = %+v", calls)
		}
	})

	t.Run("sts get-caller-identity", func(t *testing.T) {
		out, err := aws("sts", "get-caller-identity")
		if err != nil {
			t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
		}
		var got struct{ UserId, Account, Arn string }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("parse: %v\n%s", err, out)
		}
		if got.Account != acctA || got.Arn != "arn:aws:iam::"+acctA+":user/imdsfleet-sim" || got.UserId == "" {
			t.Errorf("identity = %+v", got)
		}
	})
}
