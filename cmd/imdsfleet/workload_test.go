package main

import (
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// TestScanWorkloads: the report groups the instances the simulated AWS
// serves into workloads: Auto Scaling groups from EC2's own tag, then
// --group-by tags, then unmanaged; owners from --owner-tag; the options
// are recorded in the report.
func TestScanWorkloads(t *testing.T) {
	e := scantest.New(dayStable(t))
	insts := e.Instances(scanAcctA, "us-east-1", 12)
	for i := range insts {
		switch {
		case i < 4:
			// EC2's own tag (a Fleet value given to the simulated AWS
			// directly does not turn AutoScalingGroup into it).
			insts[i].Tags["aws:autoscaling:groupName"] = "web-asg"
		case i < 8:
			insts[i].Tags["app"] = "billing"
		}
	}
	scanStart(t, &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: insts}}}}})
	res := scanCLI(t, false, "scan", "--regions", "us-east-1", "--format", "json", "--container-tag", scantest.ContainerTag,
		"--group-by", "app", "--group-by", "service", "--owner-tag", "team")
	if res.code != exitOK && res.code != exitIncomplete {
		t.Fatalf("exit %d\n%s", res.code, res.err)
	}
	r := readReport(t, []byte(res.out))
	if so := r.ScanOptions; strings.Join(so.GroupBy, ",") != "app,service" || strings.Join(so.OwnerTags, ",") != "team" {
		t.Errorf("scanOptions = %+v", so)
	}
	counts := map[string]int{}
	for _, w := range r.Workloads {
		counts[w.Kind+" "+w.Name] = w.Instances
		if w.Step == "" || w.Recommendation == "" || w.Owner == "" || w.OwnerTag != "team" {
			t.Errorf("workload %s: step %q, recommendation %q, owner %s=%s", w.ID, w.Step, w.Recommendation, w.OwnerTag, w.Owner)
		}
	}
	// Terminated and shutting-down profiles are not reported: count what is.
	want := map[string]int{}
	for i, in := range insts {
		if !e.Want[in.ID].Reported {
			continue
		}
		switch {
		case e.Want[in.ID].Tags["karpenter.sh/nodepool"] != "" && i >= 4:
			want[report.WorkloadKarpenter+" "+e.Want[in.ID].Tags["karpenter.sh/nodepool"]]++
		case i < 4:
			want[report.WorkloadAutoScalingGroup+" web-asg"]++
		case i < 8:
			want[report.WorkloadTag+" app=billing"]++
		default:
			want[report.WorkloadUnmanaged+" unmanaged"]++
		}
	}
	if len(counts) != len(want) {
		t.Errorf("workloads %v, want %v", counts, want)
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("workload %s has %d instances, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	for _, in := range r.Instances {
		if in.Workload == "" {
			t.Errorf("%s has no workload", in.InstanceID)
		}
	}
}

// TestScanGroupByCommaList: --group-by app,team is two keys, tried in the
// order given (it once was one key "app,team" that no instance carries,
// which grouped nothing and said nothing); a quoted key keeps its comma.
func TestScanGroupByCommaList(t *testing.T) {
	e := scantest.New(dayStable(t))
	insts := e.Instances(scanAcctA, "us-east-1", 9)
	for i := range insts {
		delete(insts[i].Tags, "karpenter.sh/nodepool")
		delete(insts[i].Tags, "team")
		switch i % 3 {
		case 0:
			insts[i].Tags["app"] = "billing"
			insts[i].Tags["team"] = "payments" // app comes first
		case 1:
			insts[i].Tags["team"] = "payments"
		case 2:
			insts[i].Tags["cost,center"] = "42"
		}
	}
	scanStart(t, &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: insts}}}}})
	res := scanCLI(t, false, "scan", "--regions", "us-east-1", "--format", "json", "--container-tag", scantest.ContainerTag,
		"--group-by", "app, team", "--group-by", `"cost,center"`)
	if res.code != exitOK && res.code != exitIncomplete {
		t.Fatalf("exit %d\n%s", res.code, res.err)
	}
	r := readReport(t, []byte(res.out))
	if got := strings.Join(r.ScanOptions.GroupBy, "|"); got != "app|team|cost,center" {
		t.Errorf("scanOptions.groupBy = %q, want app|team|cost,center", got)
	}
	got := map[string]string{}
	for _, in := range r.Instances {
		got[in.InstanceID] = in.Workload
	}
	for i, in := range insts {
		if !e.Want[in.ID].Reported {
			continue
		}
		want := []string{"app=billing", "team=payments", "cost,center=42"}[i%3]
		if w := got[in.ID]; w != report.WorkloadTag+"/"+scanAcctA+"/us-east-1/"+want {
			t.Errorf("%s (tags %v) is in workload %q, want the tag workload %s", in.ID, in.Tags, w, want)
		}
	}
}

// TestScanOwnerTagListAndUnicodeKeys: --owner-tag "nope, team" means the
// keys nope and team, as --group-by reads "app, team" (the blank was kept,
// so " team" matched nothing and every workload lost its owner, silently);
// and a tag key of 100 non-ASCII characters (200 bytes) is a valid key,
// EC2's limit being 128 characters, not bytes.
func TestScanOwnerTagListAndUnicodeKeys(t *testing.T) {
	e := scantest.New(dayStable(t))
	insts := e.Instances(scanAcctA, "us-east-1", 4)
	long := strings.Repeat("é", 100)
	for i := range insts {
		delete(insts[i].Tags, "karpenter.sh/nodepool")
		delete(insts[i].Tags, "owner")
		insts[i].Tags["team"] = "payments"
		insts[i].Tags[long] = "x"
	}
	scanStart(t, &fleet.Fleet{Accounts: []fleet.Account{{ID: scanAcctA, Regions: []fleet.Region{{Name: "us-east-1", Instances: insts}}}}})
	res := scanCLI(t, false, "scan", "--regions", "us-east-1", "--format", "json", "--container-tag", scantest.ContainerTag,
		"--owner-tag", "nope, team", "--group-by", long)
	if res.code != exitOK && res.code != exitIncomplete {
		t.Fatalf("exit %d\n%s", res.code, res.err)
	}
	r := readReport(t, []byte(res.out))
	if got := strings.Join(r.ScanOptions.OwnerTags, "|"); got != "nope|team" {
		t.Errorf("scanOptions.ownerTags = %q, want nope|team", got)
	}
	if len(r.Workloads) == 0 {
		t.Fatal("no workloads")
	}
	for _, w := range r.Workloads {
		if w.OwnerTag != "team" || w.Owner != "payments" {
			t.Errorf("workload %s: owner %q=%q, want team=payments", w.ID, w.OwnerTag, w.Owner)
		}
	}
}
