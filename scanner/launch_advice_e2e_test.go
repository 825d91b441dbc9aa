package scanner_test

import (
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

func workloadOf(r *report.Report, in report.Instance) report.Workload {
	for _, w := range r.Workloads {
		if w.ID == in.Workload {
			return w
		}
	}
	return report.Workload{}
}

// TestScanLaunchFailsAdvice: an instance whose group cannot launch its
// replacement (HttpTokensEnforced with a tokens-optional template) is
// told so in its own recommendation, with the source to fix; it used to
// say nothing of it, since the launch-fails next launch gives no risk.
func TestScanLaunchFailsAdvice(t *testing.T) {
	env := start(t, precedenceFleet(), scantest.New(clock))
	r := env.scan(t, scanner.Options{})
	in := byInstance(r, iid(41)) // g-enforced-fails in ap-northeast-1
	if !in.NextLaunch.Fails() {
		t.Fatalf("%s: next launch %+v, want launch-fails", in.InstanceID, in.NextLaunch)
	}
	for _, want := range []string{"next launch will fail", "HttpTokensEnforced", "auto-scaling-group/g-enforced-fails", "HttpTokens=required"} {
		if !strings.Contains(in.Recommendation, want) {
			t.Errorf("%s: recommendation %q does not say %q", in.InstanceID, in.Recommendation, want)
		}
	}
	if strings.Contains(in.Recommendation, "Nothing to do") {
		t.Errorf("%s: recommendation %q says nothing is to be done", in.InstanceID, in.Recommendation)
	}
	// Its sibling in the same Region, whose source requires v2, gets no
	// such advice.
	if other := byInstance(r, iid(42)); strings.Contains(other.Recommendation, "fail") {
		t.Errorf("%s (g-policy, next launch %+v): recommendation %q", other.InstanceID, other.NextLaunch, other.Recommendation)
	}
}

// TestScanUnresolvedSourceIsSomethingToDo: a workload whose instances are
// all enforced but whose source's next launch could not be worked out (a
// template whose AMI was deregistered) is not "Nothing to do": its step
// is check-source and its recommendation says to look at the source.
func TestScanUnresolvedSourceIsSomethingToDo(t *testing.T) {
	f := precedenceFleet()
	use1 := &f.Accounts[0].Regions[0]
	for i := range use1.Instances {
		if use1.Instances[i].AutoScalingGroup == "g-old-ami" {
			use1.Instances[i].MetadataOptions = fleet.MetadataOptions{HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2}
		}
	}
	env := start(t, f, scantest.New(clock))
	r := env.scan(t, scanner.Options{})
	in := byInstance(r, iid(8)) // g-old-ami
	if in.Classification != report.ClassEnforced || in.NextLaunch == nil || in.NextLaunch.Status != report.NextLaunchUnresolved {
		t.Fatalf("%s: %s, next launch %+v; the test wants an enforced instance with an unresolved source", in.InstanceID, in.Classification, in.NextLaunch)
	}
	w := workloadOf(r, in)
	if w.Step != report.StepCheckSource {
		t.Errorf("workload %s: step %q, want %q", w.ID, w.Step, report.StepCheckSource)
	}
	if strings.Contains(w.Recommendation, "Nothing to do") || !strings.Contains(w.Recommendation, "no longer exists") {
		t.Errorf("workload %s: recommendation %q, want one that names the unresolved source, not \"Nothing to do\"", w.ID, w.Recommendation)
	}
	for _, w := range r.Workloads {
		if strings.Contains(w.Recommendation, "Nothing to do") && strings.Contains(w.Recommendation, "could not be worked out") {
			t.Errorf("workload %s contradicts itself: %q", w.ID, w.Recommendation)
		}
	}
}
