package main

import (
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
)

// launchDeniedFleet: one group launching from a template in us-east-1,
// whose Auto Scaling reads are denied, and the same in eu-west-1, allowed.
func launchDeniedFleet() *fleet.Fleet {
	region := func(name string, knobs *fleet.Knobs) fleet.Region {
		return fleet.Region{Name: name, Knobs: knobs,
			LaunchTemplates:   []fleet.LaunchTemplate{{ID: "lt-0aaaaaaaaaaaaaaa1", Name: "web", Versions: []fleet.LaunchTemplateVersion{{ImageID: "ami-0aaaaaaaaaaaaaaa1"}}}},
			AutoScalingGroups: []fleet.AutoScalingGroup{{Name: "web", LaunchTemplate: &fleet.LaunchTemplateRef{Name: "web"}}},
			Instances: []fleet.Instance{{ID: "i-0aaaaaaaaaaaaaaa1", State: "running", ImageID: "ami-0aaaaaaaaaaaaaaa1", AutoScalingGroup: "web",
				MetadataOptions: fleet.MetadataOptions{HttpTokens: "required"}}},
		}
	}
	return &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{
		region("us-east-1", &fleet.Knobs{AutoScalingDenied: true}),
		region("eu-west-1", nil),
	}}}}
}

// TestScanCommandLaunchSourcesDenied: a denied autoscaling:Describe* makes
// the scan incomplete (exit 4) with one line naming the target and the
// permissions to grant; the report still says what it could.
func TestScanCommandLaunchSourcesDenied(t *testing.T) {
	scanStart(t, launchDeniedFleet())
	res := scanCLI(t, false, "scan", "--format", "json")
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", res.code, exitIncomplete, res.err)
	}
	want := "the launch sources of 111111111111/us-east-1 could not all be read (grant autoscaling:DescribeAutoScalingGroups, autoscaling:DescribeLaunchConfigurations, or pass --no-launch-sources)"
	if !strings.Contains(res.err, want) {
		t.Errorf("stderr does not say %q:\n%s", want, res.err)
	}
	r := readReport(t, []byte(res.out))
	for _, tg := range r.Targets {
		switch {
		case tg.Region == "us-east-1" && (tg.Status != report.TargetOK || len(tg.LaunchErrors) != 2):
			t.Errorf("us-east-1 target %+v, want ok with two launch errors", tg)
		case tg.Region == "eu-west-1" && len(tg.LaunchErrors) != 0:
			t.Errorf("eu-west-1 launch errors %+v", tg.LaunchErrors)
		}
	}
	for _, in := range r.Instances {
		n := in.NextLaunch
		switch in.Region {
		case "us-east-1":
			if n == nil || n.Status != report.NextLaunchUnresolved || !strings.Contains(n.Reason, "autoscaling:DescribeAutoScalingGroups") {
				t.Errorf("us-east-1 instance: next launch %+v, want unresolved naming the permission", n)
			}
		case "eu-west-1":
			if n == nil || n.Status != report.NextLaunchResolved || n.HttpTokens != "optional" || n.HttpTokensFrom != report.LayerBuiltIn {
				t.Errorf("eu-west-1 instance: next launch %+v, want optional from EC2's built-in default", n)
			}
		}
	}

	// --no-launch-sources: nothing denied is read, the scan is complete.
	res = scanCLI(t, false, "scan", "--format", "json", "--no-launch-sources")
	if res.code != 0 {
		t.Fatalf("--no-launch-sources: exit %d, want 0\nstderr:\n%s", res.code, res.err)
	}
	r = readReport(t, []byte(res.out))
	if r.ScanOptions == nil || r.ScanOptions.LaunchSources || len(r.LaunchSources) != 0 {
		t.Errorf("--no-launch-sources: scanOptions %+v, %d launch sources", r.ScanOptions, len(r.LaunchSources))
	}
}
