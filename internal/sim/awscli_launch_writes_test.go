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

// TestLaunchSourceWritesWithAWSCLI checks that botocore, a client nobody
// here wrote, sends the launch-source write operations in a form the
// simulated AWS reads the same way as the Go SDK's (nested
// LaunchTemplateData, SetDefaultVersion, the awsQuery mixed instances
// policy), parses their answers, and gets DryRunOperation and the errors.
func TestLaunchSourceWritesWithAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH: skipping the agreement test with a client nobody here wrote; install awscli to run it")
	}
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI subprocesses")
	}
	s, url := simtest.Start(t, launchFleet(2, 3, 1), sim.Options{})
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
		if into == nil {
			return
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

	t.Run("create-launch-template-version", func(t *testing.T) {
		args := []string{"ec2", "create-launch-template-version", "--launch-template-id", ltID(1), "--source-version", "2",
			"--version-description", "imdsv2", "--client-token", "cli-1",
			"--launch-template-data", `{"MetadataOptions":{"HttpTokens":"required","HttpPutResponseHopLimit":2,"HttpEndpoint":"enabled"}}`}
		fails(t, "DryRunOperation", append(args, "--dry-run")...)
		if n, _, _ := templateVersions(t, s, ltID(1)); len(n) != 3 {
			t.Fatalf("the dry run added a version: %v", n)
		}
		var got struct {
			LaunchTemplateVersion struct {
				LaunchTemplateId   string
				VersionNumber      int64
				VersionDescription string
				DefaultVersion     bool
				LaunchTemplateData struct {
					ImageId         string
					MetadataOptions struct {
						HttpTokens, HttpEndpoint string
						HttpPutResponseHopLimit  int
					}
				}
			}
		}
		for range 2 { // the same client token twice: one version
			run(t, &got, args...)
			v := got.LaunchTemplateVersion
			if v.VersionNumber != 5 || v.DefaultVersion || v.VersionDescription != "imdsv2" || v.LaunchTemplateData.ImageId != amiV2 ||
				v.LaunchTemplateData.MetadataOptions.HttpTokens != "required" || v.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit != 2 {
				t.Errorf("as the CLI read it: %+v", v)
			}
		}
		if n, _, latest := templateVersions(t, s, ltID(1)); len(n) != 4 || latest != 5 {
			t.Errorf("versions %v", n)
		}
		fails(t, "InvalidLaunchTemplateId.VersionNotFound", "ec2", "create-launch-template-version", "--launch-template-name", "tmpl-001",
			"--source-version", "3", "--launch-template-data", `{"MetadataOptions":{"HttpTokens":"required"}}`)
		fails(t, "InvalidLaunchTemplateName.NotFoundException", "ec2", "create-launch-template-version", "--launch-template-name", "nope",
			"--launch-template-data", `{"MetadataOptions":{"HttpTokens":"required"}}`)
	})

	t.Run("modify-launch-template", func(t *testing.T) {
		fails(t, "DryRunOperation", "ec2", "modify-launch-template", "--launch-template-id", ltID(1), "--default-version", "5", "--dry-run")
		var got struct {
			LaunchTemplate struct{ DefaultVersionNumber, LatestVersionNumber int64 }
		}
		run(t, &got, "ec2", "modify-launch-template", "--launch-template-id", ltID(1), "--default-version", "5")
		if got.LaunchTemplate.DefaultVersionNumber != 5 || got.LaunchTemplate.LatestVersionNumber != 5 {
			t.Errorf("as the CLI read it: %+v", got)
		}
		var lts struct {
			LaunchTemplates []struct{ DefaultVersionNumber int64 }
		}
		run(t, &lts, "ec2", "describe-launch-templates", "--launch-template-ids", ltID(1))
		if len(lts.LaunchTemplates) != 1 || lts.LaunchTemplates[0].DefaultVersionNumber != 5 {
			t.Errorf("describe-launch-templates after: %+v", lts)
		}
		fails(t, "InvalidLaunchTemplateId.VersionNotFound", "ec2", "modify-launch-template", "--launch-template-id", ltID(1), "--default-version", "3")
	})

	t.Run("modify-instance-metadata-defaults", func(t *testing.T) {
		fails(t, "DryRunOperation", "ec2", "modify-instance-metadata-defaults", "--http-tokens", "required", "--dry-run")
		var ok struct{ Return bool }
		run(t, &ok, "ec2", "modify-instance-metadata-defaults", "--http-tokens", "required", "--http-put-response-hop-limit", "2", "--http-tokens-enforced", "enabled")
		if !ok.Return {
			t.Errorf("Return %v", ok.Return)
		}
		run(t, nil, "ec2", "modify-instance-metadata-defaults", "--http-put-response-hop-limit=-1")
		var got struct {
			AccountLevel struct {
				HttpTokens, HttpTokensEnforced string
				HttpPutResponseHopLimit        *int
			}
		}
		run(t, &got, "ec2", "get-instance-metadata-defaults")
		if a := got.AccountLevel; a.HttpTokens != "required" || a.HttpTokensEnforced != "enabled" || a.HttpPutResponseHopLimit != nil {
			t.Errorf("defaults as the CLI read them: %+v", a)
		}
		fails(t, "UnauthorizedOperation", "ec2", "modify-instance-metadata-defaults", "--http-tokens", "optional", "--region", "eu-west-1")
	})

	t.Run("autoscaling update-auto-scaling-group", func(t *testing.T) {
		run(t, nil, "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "group-001",
			"--launch-template", "LaunchTemplateId="+ltID(1)+",Version=5")
		run(t, nil, "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "group-003", "--mixed-instances-policy",
			`{"LaunchTemplate":{"LaunchTemplateSpecification":{"LaunchTemplateName":"tmpl-001","Version":"5"},"Overrides":[{"InstanceType":"m5.large"},{"InstanceType":"m7g.large","LaunchTemplateSpecification":{"LaunchTemplateId":"`+ltID(2)+`","Version":"4"}}]}}`)
		var got struct {
			AutoScalingGroups []struct {
				AutoScalingGroupName string
				LaunchTemplate       *struct{ LaunchTemplateId, Version string }
				MixedInstancesPolicy *struct {
					LaunchTemplate struct {
						LaunchTemplateSpecification struct{ LaunchTemplateId, Version string }
						Overrides                   []struct {
							InstanceType                string
							LaunchTemplateSpecification *struct{ LaunchTemplateId, Version string }
						}
					}
				}
			}
		}
		run(t, &got, "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "group-001", "group-003")
		if len(got.AutoScalingGroups) != 2 {
			t.Fatalf("groups %+v", got)
		}
		if lt := got.AutoScalingGroups[0].LaunchTemplate; lt == nil || lt.LaunchTemplateId != ltID(1) || lt.Version != "5" {
			t.Errorf("group-001 %+v", lt)
		}
		m := got.AutoScalingGroups[1].MixedInstancesPolicy
		if m == nil || m.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId != ltID(1) || m.LaunchTemplate.LaunchTemplateSpecification.Version != "5" ||
			len(m.LaunchTemplate.Overrides) != 2 || m.LaunchTemplate.Overrides[1].LaunchTemplateSpecification == nil || m.LaunchTemplate.Overrides[1].LaunchTemplateSpecification.Version != "4" {
			t.Errorf("group-003 %+v", m)
		}
		fails(t, "ValidationError", "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "nope", "--launch-template", "LaunchTemplateId="+ltID(1)+",Version=5")
		fails(t, "ValidationError", "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "group-001", "--launch-template", "LaunchTemplateId="+ltID(1)+",Version=9")
	})
}
