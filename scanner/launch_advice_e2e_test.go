package scanner_test

import (
	"bytes"
	"slices"
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

// TestScanKarpenterTemplateIsEvidence: a Karpenter node carries the tags
// of the launch template Karpenter wrote for it from its EC2NodeClass.
// Its next launch is not that template's (it was taken for one, and the
// fix said "create a template version", which Karpenter overwrites): the
// EC2NodeClass decides, so it stays unresolved, with the template's
// settings as evidence (here tokens optional: risk next-launch-v1), and
// every recommendation points at the EC2NodeClass. A node whose template
// Karpenter has since deleted says that no evidence is left.
func TestScanKarpenterTemplateIsEvidence(t *testing.T) {
	f := precedenceFleet()
	use1 := &f.Accounts[0].Regions[0]
	use1.LaunchTemplates = append(use1.LaunchTemplates, fleet.LaunchTemplate{ID: lt(8), Name: "karpenter.k8s.aws/1234567890",
		Versions: []fleet.LaunchTemplateVersion{{ImageID: amiPlain, MetadataOptions: optional(1)}}})
	node := running(23, amiPlain)
	node.Tags = map[string]string{"karpenter.sh/nodepool": "general", "karpenter.k8s.aws/ec2nodeclass": "al2023", "eks:cluster-name": "prod",
		fleet.TagLaunchTemplateID: lt(8), fleet.TagLaunchTemplateVersion: "1"}
	use1.Instances = append(use1.Instances, node)
	env := start(t, f, scantest.New(clock))
	r := env.scan(t, scanner.Options{})

	in := byInstance(r, iid(23))
	if ls := in.LaunchSource; ls == nil || ls.Kind != report.SourceKarpenter || ls.SourceID != "" || ls.TemplateID != lt(8) {
		t.Errorf("launch source %+v, want kind karpenter, no source id, template %s kept", in.LaunchSource, lt(8))
	}
	n := in.NextLaunch
	if n == nil || n.Status != report.NextLaunchUnresolved || n.HttpTokens != "optional" || n.HttpTokensFrom != report.LayerLaunchTemplate {
		t.Fatalf("next launch %+v, want unresolved with tokens optional from the template as evidence", n)
	}
	for _, want := range []string{"EC2NodeClass al2023", "launch-template/" + lt(8) + "/1", "evidence"} {
		if !strings.Contains(n.Reason, want) {
			t.Errorf("next launch reason %q lacks %q", n.Reason, want)
		}
	}
	if !in.HasRisk(report.RiskNextLaunchV1) || !strings.Contains(in.Recommendation, "spec.metadataOptions.httpTokens: required in the EC2NodeClass") ||
		strings.Contains(in.Recommendation, "Create a") {
		t.Errorf("risks %v, recommendation %q: want next-launch-v1 and the EC2NodeClass named as the fix", in.Risks, in.Recommendation)
	}
	w := workloadOf(r, in)
	if w.Kind != report.WorkloadKarpenter || w.Step != report.StepFixSource || !strings.Contains(w.Recommendation, "EC2NodeClass") ||
		strings.Contains(w.Recommendation, "template version") {
		t.Errorf("workload %s: step %s, recommendation %q: want fix-source naming the EC2NodeClass", w.ID, w.Step, w.Recommendation)
	}
	var md bytes.Buffer
	if err := report.Write(&md, report.FormatMarkdown, r, report.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(line, "| launch-template/"+lt(8)+"/1 ") && !strings.Contains(line, "in that EC2NodeClass instead") {
			t.Errorf("sources to fix: Karpenter's template is to be fixed by hand: %s", line)
		}
	}

	// The template lists the node that came from it, so that remediate
	// --scope sources leaves it to Karpenter.
	for _, s := range r.LaunchSources {
		if s.ID == "launch-template/"+lt(8)+"/1" && !slices.Contains(s.Instances, iid(23)) {
			t.Errorf("Karpenter's template %s: instances %v, want %s listed", s.ID, s.Instances, iid(23))
		}
	}

	gone := byInstance(r, iid(22)) // its template, lt(9), is gone
	if n := gone.NextLaunch; n == nil || n.Status != report.NextLaunchUnresolved || n.HttpTokens != "" ||
		!strings.Contains(n.Reason, "EC2NodeClass") || !strings.Contains(n.Reason, "cannot be read as evidence") {
		t.Errorf("Karpenter node with a deleted template: next launch %+v", n)
	}
}
