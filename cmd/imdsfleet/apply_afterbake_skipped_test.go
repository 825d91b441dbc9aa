package main

// A rollout whose account defaults step is skipped (someone set the
// defaults after the plan was made): the step writes no journal line, and
// status must still read completed once apply got through it.

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// defaultsCalls counts every ModifyInstanceMetadataDefaults call the
// server received, dry runs and refusals included.
func defaultsCalls(s *killSetup) int {
	n := 0
	for _, c := range s.srv.SourceCalls() {
		if c.API == "ModifyInstanceMetadataDefaults" {
			n++
		}
	}
	return n
}

// finishedLines counts the journal's "finished" rollout lines.
func finishedLines(t *testing.T, journal string) int {
	t.Helper()
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), `"kind":"`+remediate.KindFinished+`"`)
}

// TestApplyAccountDefaultsSetElsewhereStatusCompleted: after the scan and
// the plan, the account defaults are set to HttpTokens required through
// the SDK; apply --live --yes goes through all waves, skips the account
// defaults step (no ModifyInstanceMetadataDefaults call of its own) and
// status says completed with no source step not run. A second apply makes
// no write call and status stays completed.
func TestApplyAccountDefaultsSetElsewhereStatusCompleted(t *testing.T) {
	hold := &afterBakeHold{waves: 99, reached: make(chan struct{})}
	s := afterBakeStart(t, hold)
	if got := accountTokens(t, s); got == "required" {
		t.Fatalf("account defaults HttpTokens already %q before the test sets them", got)
	}
	c := ec2.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1"))
	if _, err := c.ModifyInstanceMetadataDefaults(context.Background(), &ec2.ModifyInstanceMetadataDefaultsInput{HttpTokens: types.MetadataDefaultHttpTokensStateRequired}); err != nil {
		t.Fatal(err)
	}
	if got := accountTokens(t, s); got != "required" {
		t.Fatalf("account defaults HttpTokens %q after setting them, want required", got)
	}
	before := defaultsCalls(s)

	if r := s.cli(t, s.args...); r.code != exitOK {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	if n := defaultsCalls(s) - before; n != 0 {
		t.Errorf("apply called ModifyInstanceMetadataDefaults %d times with the defaults already required", n)
	}
	if rl := rolloutLines(t, s.journal); rl["baked 3"] != 1 {
		t.Fatalf("journal %v: want wave 3 baked", rl)
	}
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	if len(lines["account-defaults"]) != 0 || len(lines) != 7 {
		t.Errorf("journal source lines %v: want the 7 template/group steps and no account-defaults line (skipped)", lines)
	}
	if n := finishedLines(t, s.journal); n != 1 {
		t.Errorf("journal holds %d %q rollout lines after apply, want 1", n, remediate.KindFinished)
	}
	if got := accountTokens(t, s); got != "required" {
		t.Errorf("account defaults HttpTokens %q after apply, want required", got)
	}
	st := s.statusJSON(t)
	if st.State != remediate.StatusCompleted || st.SourceStepsNotRun != 0 {
		t.Errorf("status: state %q sourceStepsNotRun %d, want %q, 0", st.State, st.SourceStepsNotRun, remediate.StatusCompleted)
	}

	// The same command again: nothing left to write.
	src, mod := len(s.srv.SourceCalls()), len(s.srv.ModifyCalls())
	if r := s.cli(t, s.args...); r.code != exitOK {
		t.Fatalf("second apply: exit %d\n%s", r.code, r.stderr)
	}
	if n, m := len(s.srv.SourceCalls())-src, len(s.srv.ModifyCalls())-mod; n != 0 || m != 0 {
		t.Errorf("second apply made %d launch source write calls and %d ModifyInstanceMetadataOptions calls, want none", n, m)
	}
	if st := s.statusJSON(t); st.State != remediate.StatusCompleted || st.SourceStepsNotRun != 0 {
		t.Errorf("status after the second apply: state %q sourceStepsNotRun %d, want %q, 0", st.State, st.SourceStepsNotRun, remediate.StatusCompleted)
	}
}
