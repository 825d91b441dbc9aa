package main

import (
	"os"
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

// TestScanDeniedGroupsLeaveUsersUnknown: with autoscaling:Describe*
// denied, the template that the (unread) group launches from must not be
// shown as used by 0 groups and 0 instances: its users are unknown, in
// the JSON (usersUnknown, naming the permission) and in every human
// format's sources to fix. The Region whose reads succeeded still counts.
func TestScanDeniedGroupsLeaveUsersUnknown(t *testing.T) {
	scanStart(t, launchDeniedFleet())
	dir := t.TempDir()
	res := scanCLI(t, false, "scan", "--format", "table", "--regions", "us-east-1,eu-west-1",
		"-o", dir+"/r.json", "-o", dir+"/r.md", "-o", dir+"/r.html")
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", res.code, exitIncomplete, res.err)
	}
	r := readReport(t, readFile(t, dir+"/r.json"))
	src := "launch-template/lt-0aaaaaaaaaaaaaaa1/1"
	for _, s := range r.LaunchSources {
		switch {
		case s.Region == "us-east-1" && (s.ID == src || s.ID == "account-default"):
			if !strings.Contains(s.UsersUnknown, "autoscaling:DescribeAutoScalingGroups") {
				t.Errorf("us-east-1 %s: usersUnknown %q, want the denied read named (groups %v, instances %v)", s.ID, s.UsersUnknown, s.Groups, s.Instances)
			}
		case s.Region == "eu-west-1" && s.UsersUnknown != "":
			t.Errorf("eu-west-1 %s: usersUnknown %q, but every read succeeded", s.ID, s.UsersUnknown)
		case s.Region == "eu-west-1" && s.ID == src && (len(s.Groups) != 1 || len(s.Instances) != 1):
			t.Errorf("eu-west-1 %s: groups %v, instances %v, want web and its instance", s.ID, s.Groups, s.Instances)
		}
	}
	// The human formats: the us-east-1 row says unknown, never 0.
	rowOf := func(format, text string) string {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, src) && strings.Contains(line, "us-east-1") {
				return line
			}
		}
		t.Errorf("%s: no sources-to-fix row for %s in us-east-1:\n%s", format, src, text)
		return ""
	}
	if row := rowOf("table", res.out); !strings.Contains(row, "unknown") || strings.Contains(row, "  0  ") {
		t.Errorf("table row %q: want its groups and instances unknown, not 0", row)
	}
	if row := rowOf("markdown", string(readFile(t, dir+"/r.md"))); !strings.Contains(row, "| unknown | unknown |") {
		t.Errorf("markdown row %q: want | unknown | unknown |", row)
	}
	var htmlRow string
	for _, row := range strings.Split(string(readFile(t, dir+"/r.html")), "<tr>") {
		if strings.Contains(row, "(lt-0aaaaaaaaaaaaaaa1) version 1") && strings.Contains(row, ">us-east-1<") {
			htmlRow = row
		}
	}
	if !strings.Contains(htmlRow, `data-v="0">unknown</td>`) || !strings.Contains(htmlRow, "autoscaling:DescribeAutoScalingGroups") {
		t.Errorf("html row %q: want the instance count unknown and the denied permission named", htmlRow)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScanDeniedImagesOrDefaultsLeaveDefaultUsersUnknown: a group whose
// template leaves HttpTokens unset takes it from the account defaults
// (then the AMI). With ec2:DescribeImages or ec2:GetInstanceMetadataDefaults
// denied its next launch is unresolved, so it was not counted among the
// account defaults' users, and the account defaults showed 0 instances
// and no group, with nothing saying that was unknown.
func TestScanDeniedImagesOrDefaultsLeaveDefaultUsersUnknown(t *testing.T) {
	f := launchDeniedFleet()
	regs := f.Accounts[0].Regions
	for i := range regs {
		regs[i].LaunchTemplates[0].Versions[0].MetadataOptions = nil // tokens left to the defaults, then the AMI
		regs[i].Instances[0].MetadataOptions.HttpTokens = "optional"
	}
	regs[0].Knobs = &fleet.Knobs{DenyAPIs: []string{"DescribeImages"}}
	regs[1].Knobs = &fleet.Knobs{DenyAPIs: []string{"GetInstanceMetadataDefaults"}}
	scanStart(t, f)
	res := scanCLI(t, false, "scan", "--format", "json", "--regions", "us-east-1,eu-west-1")
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", res.code, exitIncomplete, res.err)
	}
	r := readReport(t, []byte(res.out))
	want := map[string]string{"us-east-1": "ec2:DescribeImages", "eu-west-1": "ec2:GetInstanceMetadataDefaults"}
	seen := 0
	for _, s := range r.LaunchSources {
		if s.ID != "account-default" {
			continue
		}
		seen++
		if !strings.Contains(s.UsersUnknown, want[s.Region]) {
			t.Errorf("%s account-default: groups %v, instances %v, usersUnknown %q; want it unknown naming %s", s.Region, s.Groups, s.Instances, s.UsersUnknown, want[s.Region])
		}
	}
	if seen != 2 {
		t.Errorf("%d account-default sources, want 2", seen)
	}
}
