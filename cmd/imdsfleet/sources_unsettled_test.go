package main

// Rollback of a launch source step whose journal ends at its intent (a
// run killed with the call in flight): the rollback reads the current
// state and undoes the step only if the state is the one the step set.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// cutAfterIntent leaves s.journal as a SIGKILL right after the intent of
// step id leaves it: every line up to and including that intent.
func cutAfterIntent(t *testing.T, s *srcSetup, id string) {
	t.Helper()
	data, err := os.ReadFile(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		if strings.Contains(l, `"instanceId":"`+id+`"`) && strings.Contains(l, `"kind":"intent"`) {
			if err := os.WriteFile(s.journal, []byte(strings.Join(lines[:i+1], "")), 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no intent of %s in the journal:\n%s", id, data)
}

// unsettledSetDefault runs the us-east-1 source steps live and cuts the
// journal after the intent of web's set-default, whose call took effect.
func unsettledSetDefault(t *testing.T) *srcSetup {
	t.Helper()
	s := srcStart(t, srcFleet())
	res := remCLI(t, t.Context(), "", false, remArgs("remediate", "--report", s.report, "--scope", "sources", "--regions", "us-east-1", "--live", "--yes", "--journal", s.journal)...)
	if res.code != exitOK {
		t.Fatalf("live run: exit %d\n%s", res.code, res.stdout)
	}
	cutAfterIntent(t, s, "set-default/"+srcTplWeb)
	st, _, err := remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	if e := st.Get(remediate.Key{Op: remediate.OpRemediateSource, Account: remAcct, Region: "us-east-1", InstanceID: "set-default/" + srcTplWeb}); e == nil || e.Done != nil || e.Pending == nil {
		t.Fatalf("web's set-default in the cut journal: %+v, want an intent with no result", e)
	}
	if lt, _ := s.srv.LaunchTemplate(remAcct, "us-east-1", srcTplWeb); lt.DefaultVersion != 2 {
		t.Fatalf("web's default is %d, want 2 (the call took effect)", lt.DefaultVersion)
	}
	return s
}

// TestRollbackUnsettledSourceStepInEffect: the call took effect, so the
// rollback finds imdsfleet's version as the default and points it back.
func TestRollbackUnsettledSourceStepInEffect(t *testing.T) {
	s := unsettledSetDefault(t)
	out := filepath.Join(s.dir, "rollback.json")
	res := remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--output", out)...)
	if res.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stdout)
	}
	if lt, _ := s.srv.LaunchTemplate(remAcct, "us-east-1", srcTplWeb); lt.DefaultVersion != 1 {
		t.Errorf("web's default after rollback: %d, want 1", lt.DefaultVersion)
	}
	if r := resultsByID(readResults(t, out))["set-default/"+srcTplWeb]; r.Status != remediate.StatusChanged {
		t.Errorf("set-default rollback: %+v, want changed", r)
	}
}

// TestRollbackUnsettledSourceStepNotInEffect: the default is not the
// version the step would have set (its call never landed, or someone
// changed it since), so the rollback leaves it: no blind restore, no call.
func TestRollbackUnsettledSourceStepNotInEffect(t *testing.T) {
	s := unsettledSetDefault(t)
	c := ec2.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1"))
	// The state as if the call had never reached AWS: version 1 is the default.
	if _, err := c.ModifyLaunchTemplate(t.Context(), &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(srcTplWeb), DefaultVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	before := liveSourceCalls(s.srv)["ModifyLaunchTemplate"]
	out := filepath.Join(s.dir, "rollback.json")
	res := remCLI(t, t.Context(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes", "--output", out)...)
	if res.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stdout)
	}
	if n := liveSourceCalls(s.srv)["ModifyLaunchTemplate"]; n != before {
		t.Errorf("rollback sent %d ModifyLaunchTemplate call(s) for a step not in effect", n-before)
	}
	if lt, _ := s.srv.LaunchTemplate(remAcct, "us-east-1", srcTplWeb); lt.DefaultVersion != 1 {
		t.Errorf("web's default after rollback: %d, want 1 (left as it was)", lt.DefaultVersion)
	}
	if r := resultsByID(readResults(t, out))["set-default/"+srcTplWeb]; r.Status != remediate.StatusSkipped || r.Message == "" {
		t.Errorf("set-default rollback: %+v, want skipped with the reason", r)
	} else {
		t.Logf("skipped: %s: %s", r.Reason, r.Message)
	}
}
