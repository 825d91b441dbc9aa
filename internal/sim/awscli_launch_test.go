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
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// TestLaunchSourcesWithAWSCLI checks that botocore, a client nobody here
// wrote, parses every launch-source answer of the simulated AWS and pages
// through it with its own NextToken handling, and gets AWS's errors for
// a page size over the limit and a missing AMI.
func TestLaunchSourcesWithAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH: skipping the agreement test with a client nobody here wrote; install awscli to run it")
	}
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI subprocesses")
	}
	s, url := simtest.Start(t, launchFleet(150, 120, 3), sim.Options{})
	env := append(simtest.Env(url, keyA, "us-east-1"), "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	aws := func(args ...string) ([]byte, error) {
		t.Helper()
		// A limit, not a timing assertion: it keeps a hung aws from hanging
		// the suite, and leaves a loaded machine's slow Python starts room.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
		cmd.Env = append(cmd.Environ(), env...)
		return cmd.CombinedOutput()
	}
	run := func(t *testing.T, into any, args ...string) {
		t.Helper()
		out, err := aws(args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if err := json.Unmarshal(out, into); err != nil {
			t.Fatalf("parse aws output: %v\n%s", err, out)
		}
	}
	fails := func(t *testing.T, code string, args ...string) {
		t.Helper()
		out, err := aws(args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(string(out), "("+code+")") {
			t.Errorf("aws %s: %v, want the error %s\n%s", strings.Join(args, " "), err, code, out)
		}
	}

	t.Run("describe-launch-template-versions of every template, 200 a page", func(t *testing.T) {
		var got struct {
			LaunchTemplateVersions []struct {
				LaunchTemplateId, LaunchTemplateName string
				VersionNumber                        int64
				DefaultVersion                       bool
				LaunchTemplateData                   struct {
					ImageId         string
					MetadataOptions *struct {
						State, HttpTokens, HttpEndpoint string
						HttpPutResponseHopLimit         int
					}
				}
			}
		}
		before := s.Stats().Calls["DescribeLaunchTemplateVersions"]["us-east-1"]
		run(t, &got, "ec2", "describe-launch-template-versions", "--versions", "$Latest", "$Default", "--page-size", "200")
		if len(got.LaunchTemplateVersions) != 225 {
			t.Errorf("%d versions, want 225", len(got.LaunchTemplateVersions))
		}
		for _, v := range got.LaunchTemplateVersions {
			if v.LaunchTemplateId == ltID(1) && v.VersionNumber == 2 {
				mo := v.LaunchTemplateData.MetadataOptions
				if !v.DefaultVersion || v.LaunchTemplateName != "tmpl-001" || v.LaunchTemplateData.ImageId != amiV2 || mo == nil || mo.HttpTokens != "optional" || mo.HttpPutResponseHopLimit != 1 || mo.State != "applied" {
					t.Errorf("version 2 of %s as the CLI read it: %+v", ltID(1), v)
				}
			}
		}
		if n := s.Stats().Calls["DescribeLaunchTemplateVersions"]["us-east-1"] - before; n != 2 {
			t.Errorf("the CLI made %d calls, want 2 pages", n)
		}
		fails(t, "InvalidLaunchTemplateId.VersionNotFound", "ec2", "describe-launch-template-versions", "--launch-template-id", ltID(1), "--versions", "3")
	})

	t.Run("describe-launch-templates", func(t *testing.T) {
		var got struct {
			LaunchTemplates []struct {
				LaunchTemplateId                          string
				DefaultVersionNumber, LatestVersionNumber int64
				CreateTime                                string
			}
		}
		run(t, &got, "ec2", "describe-launch-templates", "--page-size", "100")
		if len(got.LaunchTemplates) != 150 || got.LaunchTemplates[0].DefaultVersionNumber != 2 || got.LaunchTemplates[0].LatestVersionNumber != 4 {
			t.Errorf("%d templates, first %+v", len(got.LaunchTemplates), got.LaunchTemplates[0])
		}
	})

	t.Run("describe-images by id", func(t *testing.T) {
		var got struct {
			Images []struct{ ImageId, ImdsSupport, State, OwnerId string }
		}
		run(t, &got, "ec2", "describe-images", "--image-ids", amiV2, amiPlain, amiDereg)
		if len(got.Images) != 2 {
			t.Fatalf("images %+v, want 2 (the deregistered one is left out)", got.Images)
		}
		for _, im := range got.Images {
			if (im.ImageId == amiV2) != (im.ImdsSupport == "v2.0") || im.State != "available" {
				t.Errorf("image %+v", im)
			}
		}
		fails(t, "InvalidAMIID.NotFound", "ec2", "describe-images", "--image-ids", amiV2, amiNever)
	})

	t.Run("get-instance-metadata-defaults", func(t *testing.T) {
		var got struct {
			AccountLevel struct {
				HttpTokens, HttpTokensEnforced, ManagedBy, ManagedExceptionMessage string
				HttpPutResponseHopLimit                                            int
			}
		}
		run(t, &got, "ec2", "get-instance-metadata-defaults", "--region", "eu-west-1")
		a := got.AccountLevel
		if a.HttpTokens != "required" || a.HttpPutResponseHopLimit != 2 || a.HttpTokensEnforced != "enabled" || a.ManagedBy != "declarative-policy" || a.ManagedExceptionMessage != "ask security" {
			t.Errorf("defaults %+v", a)
		}
	})

	t.Run("autoscaling describe-auto-scaling-groups, 100 a page", func(t *testing.T) {
		var got struct {
			AutoScalingGroups []struct {
				AutoScalingGroupName    string
				LaunchConfigurationName string
				LaunchTemplate          *struct{ LaunchTemplateId, LaunchTemplateName, Version string }
				MixedInstancesPolicy    *struct {
					LaunchTemplate struct {
						LaunchTemplateSpecification struct{ LaunchTemplateId, Version string }
						Overrides                   []struct {
							InstanceType                string
							LaunchTemplateSpecification *struct{ LaunchTemplateId, Version string }
						}
					}
				}
				Instances []struct{ InstanceId, LifecycleState string }
			}
		}
		before := s.Stats().Calls["DescribeAutoScalingGroups"]["us-east-1"]
		run(t, &got, "autoscaling", "describe-auto-scaling-groups", "--page-size", "100")
		if len(got.AutoScalingGroups) != 120 {
			t.Fatalf("%d groups, want 120", len(got.AutoScalingGroups))
		}
		g := got.AutoScalingGroups[0]
		if g.AutoScalingGroupName != "group-001" || g.LaunchTemplate == nil || g.LaunchTemplate.LaunchTemplateId != ltID(1) || g.LaunchTemplate.Version != "$Latest" ||
			len(g.Instances) != 1 || g.Instances[0].InstanceId != id(1) || g.Instances[0].LifecycleState != "InService" {
			t.Errorf("group-001 as the CLI read it: %+v", g)
		}
		if m := got.AutoScalingGroups[2].MixedInstancesPolicy; m == nil || len(m.LaunchTemplate.Overrides) != 2 || m.LaunchTemplate.Overrides[1].LaunchTemplateSpecification == nil ||
			m.LaunchTemplate.Overrides[1].LaunchTemplateSpecification.Version != "3" {
			t.Errorf("group-003 mixed instances policy %+v", m)
		}
		if got.AutoScalingGroups[1].LaunchConfigurationName != "lc-001" {
			t.Errorf("group-002 %+v", got.AutoScalingGroups[1])
		}
		if n := s.Stats().Calls["DescribeAutoScalingGroups"]["us-east-1"] - before; n != 2 {
			t.Errorf("the CLI made %d calls, want 2 pages", n)
		}
		fails(t, "ValidationError", "autoscaling", "describe-auto-scaling-groups", "--max-items", "5", "--page-size", "101")
	})

	t.Run("autoscaling describe-launch-configurations", func(t *testing.T) {
		var got struct {
			LaunchConfigurations []struct {
				LaunchConfigurationName, ImageId string
				MetadataOptions                  *struct {
					HttpTokens, HttpEndpoint string
					HttpPutResponseHopLimit  int
				}
			}
		}
		run(t, &got, "autoscaling", "describe-launch-configurations")
		if len(got.LaunchConfigurations) != 3 {
			t.Fatalf("%d configurations, want 3", len(got.LaunchConfigurations))
		}
		if c := got.LaunchConfigurations[0]; c.ImageId != amiPlain || c.MetadataOptions == nil || c.MetadataOptions.HttpTokens != "required" || c.MetadataOptions.HttpPutResponseHopLimit != 2 {
			t.Errorf("lc-001 as the CLI read it: %+v", c)
		}
	})
}
