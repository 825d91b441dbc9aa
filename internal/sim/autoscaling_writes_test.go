package sim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

func describeGroup(t *testing.T, c *autoscaling.Client, name string) astypes.AutoScalingGroup {
	t.Helper()
	out, err := c.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("DescribeAutoScalingGroups %s: %v %+v", name, err, out)
	}
	return out.AutoScalingGroups[0]
}

func TestUpdateAutoScalingGroup(t *testing.T) {
	// group-001: tmpl-001 $Latest; group-002: lc-001; group-003: a mixed
	// instances policy on tmpl-001 ($Default) with an override on tmpl-002.
	s, url := simtest.Start(t, launchFleet(2, 3, 1), sim.Options{})
	c := asgClient(url, keyA, "us-east-1")
	ctx := context.Background()

	t.Run("pin a group to a version", func(t *testing.T) {
		if _, err := c.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID(1)), Version: aws.String("4")}}); err != nil {
			t.Fatal(err)
		}
		lt := describeGroup(t, c, "group-001").LaunchTemplate
		if lt == nil || aws.ToString(lt.LaunchTemplateId) != ltID(1) || aws.ToString(lt.LaunchTemplateName) != "tmpl-001" || aws.ToString(lt.Version) != "4" {
			t.Errorf("after the update: %+v", lt)
		}
		g, ok := s.AutoScalingGroup(acctA, "us-east-1", "group-001")
		if !ok || g.LaunchTemplate == nil || g.LaunchTemplate.Version != "4" {
			t.Errorf("AutoScalingGroup %+v", g)
		}
	})

	t.Run("a group on a launch configuration moves to a template", func(t *testing.T) {
		if _, err := c.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-002"),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("tmpl-002")}}); err != nil {
			t.Fatal(err)
		}
		g := describeGroup(t, c, "group-002")
		if g.LaunchConfigurationName != nil || g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.LaunchTemplateId) != ltID(2) || aws.ToString(g.LaunchTemplate.Version) != "$Default" {
			t.Errorf("after the update: %+v", g)
		}
	})

	t.Run("mixed instances policy: what is not given is kept", func(t *testing.T) {
		if _, err := c.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-003"),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{
				LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID(1)), Version: aws.String("2")}}}}); err != nil {
			t.Fatal(err)
		}
		m := describeGroup(t, c, "group-003").MixedInstancesPolicy
		if m == nil || aws.ToString(m.LaunchTemplate.LaunchTemplateSpecification.Version) != "2" || len(m.LaunchTemplate.Overrides) != 2 ||
			aws.ToString(m.LaunchTemplate.Overrides[1].LaunchTemplateSpecification.LaunchTemplateId) != ltID(2) {
			t.Fatalf("after the spec update: %+v", m)
		}
		// Overrides given replace the whole list.
		if _, err := c.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-003"),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{Overrides: []astypes.LaunchTemplateOverrides{
				{InstanceType: aws.String("m7g.large"), LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("tmpl-002"), Version: aws.String("4")}}}}}}); err != nil {
			t.Fatal(err)
		}
		g, _ := s.AutoScalingGroup(acctA, "us-east-1", "group-003")
		m2 := g.MixedInstancesPolicy
		if m2 == nil || m2.LaunchTemplate.Version != "2" || len(m2.Overrides) != 1 || m2.Overrides[0].LaunchTemplate == nil ||
			m2.Overrides[0].LaunchTemplate.ID != ltID(2) || m2.Overrides[0].LaunchTemplate.Version != "4" {
			t.Errorf("after the overrides update: %+v", m2)
		}
	})

	t.Run("errors change nothing", func(t *testing.T) {
		before, _ := s.AutoScalingGroup(acctA, "us-east-1", "group-001")
		spec := func(id, version string) *astypes.LaunchTemplateSpecification {
			return &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String(version)}
		}
		for _, tt := range []struct {
			name string
			in   autoscaling.UpdateAutoScalingGroupInput
			msg  string
		}{
			{"unknown group", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("nope"), LaunchTemplate: spec(ltID(1), "4")}, "AutoScalingGroup name not found"},
			{"unknown template", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"), LaunchTemplate: spec(ltID(9), "1")}, "does not exist"},
			{"unknown template name", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"),
				LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("nope")}}, "template name nope, does not exist"},
			{"deleted version", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"), LaunchTemplate: spec(ltID(1), "3")}, "Could not find the specified version 3"},
			{"bad version", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"), LaunchTemplate: spec(ltID(1), "latest")}, "Invalid launch template version"},
			{"id and name", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"),
				LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID(1)), LaunchTemplateName: aws.String("tmpl-001")}}, "either launchTemplateId or LaunchTemplateName"},
			{"two sources", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"), LaunchTemplate: spec(ltID(1), "4"),
				MixedInstancesPolicy: &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{LaunchTemplateSpecification: spec(ltID(1), "4")}}}, "Valid requests must contain either LaunchTemplate"},
			{"bad override", autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-003"),
				MixedInstancesPolicy: &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{Overrides: []astypes.LaunchTemplateOverrides{
					{InstanceType: aws.String("m5.large"), LaunchTemplateSpecification: spec(ltID(2), "3")}}}}}, "Could not find the specified version 3"},
		} {
			_, err := c.UpdateAutoScalingGroup(ctx, &tt.in)
			if apiCode(t, err) != "ValidationError" || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%s: got %v, want ValidationError with %q", tt.name, err, tt.msg)
			}
		}
		after, _ := s.AutoScalingGroup(acctA, "us-east-1", "group-001")
		if *after.LaunchTemplate != *before.LaunchTemplate {
			t.Errorf("failed calls changed the group: %+v -> %+v", before.LaunchTemplate, after.LaunchTemplate)
		}
		if g, _ := s.AutoScalingGroup(acctA, "us-east-1", "group-003"); len(g.MixedInstancesPolicy.Overrides) != 1 {
			t.Errorf("a failed overrides update changed them: %+v", g.MixedInstancesPolicy)
		}
		calls := sourceCalls(s, "UpdateAutoScalingGroup")
		if last := calls[len(calls)-1]; last.Outcome != "ValidationError" || last.DryRun || last.Params["AutoScalingGroupName"] != "group-003" {
			t.Errorf("recorded %+v", last)
		}
	})
}

func TestUpdateAutoScalingGroupKnobs(t *testing.T) {
	ctx := context.Background()
	pin := &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("group-001"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID(1)), Version: aws.String("4")}}

	t.Run("deny switches", func(t *testing.T) {
		f := launchFleet(1, 1, 0)
		f.Accounts[0].Regions[0].Knobs = &fleet.Knobs{DenyAPIs: []string{"UpdateAutoScalingGroup"}}
		f.Accounts[0].Regions[1].Knobs = &fleet.Knobs{AutoScalingDenied: true}
		s, url := simtest.Start(t, f, sim.Options{})
		c := asgClient(url, keyA, "us-east-1")
		if _, err := c.UpdateAutoScalingGroup(ctx, pin); apiCode(t, err) != "AccessDenied" || !strings.Contains(err.Error(), "autoscaling:UpdateAutoScalingGroup") {
			t.Errorf("denyApis: %v", err)
		}
		if g := describeGroup(t, c, "group-001"); aws.ToString(g.LaunchTemplate.Version) != "$Latest" {
			t.Errorf("a denied call changed the group: %+v", g.LaunchTemplate)
		}
		if _, err := asgClient(url, keyA, "eu-west-1").UpdateAutoScalingGroup(ctx, pin); apiCode(t, err) != "AccessDenied" {
			t.Errorf("autoScalingDenied: %v", err)
		}
		if n := len(sourceCalls(s, "UpdateAutoScalingGroup")); n != 2 {
			t.Errorf("recorded %d calls", n)
		}
	})

	t.Run("bucket and faults", func(t *testing.T) {
		f := launchFleet(1, 1, 0)
		on := true
		f.Knobs.Throttle = &on
		clock := simtest.NewClock(clock)
		s, url := simtest.Start(t, f, sim.Options{Wall: clock.Now})
		cfg := simtest.Config(url, keyA, "us-east-1")
		cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
		c := autoscaling.NewFromConfig(cfg)
		for i := range 51 {
			_, err := c.UpdateAutoScalingGroup(ctx, pin)
			if i < 50 && err != nil || i == 50 && apiCode(t, err) != "Throttling" {
				t.Fatalf("call %d: %v", i+1, err)
			}
		}
		if _, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
			t.Errorf("DescribeAutoScalingGroups shares the bucket: %v", err)
		}
		if got := s.Stats().Throttled["UpdateAutoScalingGroup"]["us-east-1"]; got != 1 {
			t.Errorf("throttles counted %d", got)
		}
		s.SetKnobs(acctA, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{{API: "UpdateAutoScalingGroup", Rate: 1, Code: "InternalFailure", Status: 500}}})
		clock.Advance(10e9)
		if _, err := c.UpdateAutoScalingGroup(ctx, pin); apiCode(t, err) != "InternalFailure" {
			t.Errorf("injected fault: %v", err)
		}
	})
}
