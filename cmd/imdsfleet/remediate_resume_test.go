package main

// Interrupted runs: SIGINT (the command's context cancelled, as main does on
// SIGINT/SIGTERM) and SIGKILL of the real binary. Either way, re-running
// with the same journal must finish the job without changing any instance
// twice.

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

func readyFleet(n int) []remInst {
	var insts []remInst
	for i := range n {
		insts = append(insts, remInst{id: remID("us-east-1", i+1), region: "us-east-1", class: report.ClassReady, opts: optional(1), want: remediate.ActionEnforce})
	}
	return insts
}

// cancelAfter cancels the run (as SIGINT does) as soon as the server has
// answered its n-th live change, before that answer reaches the run: the
// run stops after n changes plus at most the calls it had in flight,
// however fast the machine is.
func cancelAfter(s *remSetup, n int, cancel func()) {
	s.gate.After(n, cancel)
}

// checkExactlyOnce asserts every instance was changed exactly once.
func checkExactlyOnce(t *testing.T, s *remSetup) {
	t.Helper()
	calls := liveCalls(s.srv)
	for _, in := range s.insts {
		if got := s.options(t, in); got.HttpTokens != "required" || calls[in.id] != 1 {
			t.Errorf("%s: tokens %s after %d accepted calls, want required after exactly 1", in.id, got.HttpTokens, calls[in.id])
		}
	}
}

func TestRemediateInterruptedResumes(t *testing.T) {
	s := remStart(t, readyFleet(24), fleet.Knobs{ApplyDelay: remDelay(100 * time.Millisecond)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAfter(s, 6, cancel)
	r := remCLI(t, ctx, "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--rate", "20")...)
	if r.code != exitError || !strings.Contains(r.stdout, "skipped interrupted:") {
		t.Fatalf("interrupted run: exit %d\n%s", r.code, r.stdout)
	}
	_, resume, ok := strings.Cut(r.stderr, "Resume with:\n  ")
	if !ok {
		t.Fatalf("no resume command on stderr:\n%s", r.stderr)
	}
	resume = strings.TrimSpace(strings.SplitN(resume, "\n", 2)[0])
	if !strings.Contains(resume, "--journal "+s.journal) || !strings.HasPrefix(resume, "imdsfleet remediate ") {
		t.Fatalf("resume command %q does not name the journal", resume)
	}
	// Every change the server accepted was journaled before the run ended.
	st, warn, err := remediate.ReadJournal(s.journal)
	if err != nil || warn != nil {
		t.Fatal(err, warn)
	}
	first := liveCalls(s.srv)
	if len(first) == 0 || len(first) == len(s.insts) {
		t.Fatalf("the interruption changed %d of %d instances; the test needs a run stopped half-way", len(first), len(s.insts))
	}
	for id := range first {
		e := st.Get(remediate.Key{Op: remediate.OpRemediate, Account: remAcct, Region: "us-east-1", InstanceID: id})
		if e == nil || e.Done == nil {
			t.Errorf("%s was changed but its result is not journaled: %+v", id, e)
		}
	}
	// A crash between a call and its result line: the intent is journaled,
	// the change made, the result missing. Resume must see the change in
	// effect and record it without calling again.
	var crashed remInst
	for _, in := range s.insts {
		if first[in.id] == 0 {
			crashed = in
			break
		}
	}
	ec := ec2.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1"))
	if _, err := ec.ModifyInstanceMetadataOptions(context.Background(), &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(crashed.id), HttpTokens: types.HttpTokensStateRequired}); err != nil {
		t.Fatal(err)
	}
	intent, _ := json.Marshal(remediate.Record{V: 1, Time: time.Now().UTC(), Run: "crashed", Op: remediate.OpRemediate, Kind: remediate.KindIntent,
		Account: remAcct, Region: "us-east-1", InstanceID: crashed.id, Action: remediate.ActionEnforce,
		Previous: &report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1}, Requested: &remediate.Change{HttpTokens: "required"}})
	f, _ := os.OpenFile(s.journal, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(append(intent, '\n'))
	f.Close()

	// Resume with the printed command.
	r = remCLI(t, context.Background(), "", false, strings.Fields(strings.TrimPrefix(resume, "imdsfleet "))...)
	if r.code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", r.code, r.stdout)
	}
	checkExactlyOnce(t, s)
	st, _, _ = remediate.ReadJournal(s.journal)
	e := st.Get(remediate.Key{Op: remediate.OpRemediate, Account: remAcct, Region: "us-east-1", InstanceID: crashed.id})
	if e == nil || e.Done == nil || e.Done.Outcome != remediate.OutcomeAlreadyApplied || e.Done.Previous.HttpTokens != "optional" {
		t.Errorf("crashed instance's journal entry: %+v", e)
	}
	if !strings.Contains(r.stdout, "skipped done-earlier:") {
		t.Errorf("resumed run does not report the changes done earlier:\n%s", r.stdout)
	}
	// And rollback knows the crashed instance's previous value.
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK {
		t.Fatalf("rollback exit %d", r.code)
	}
	for _, in := range s.insts {
		if got := s.options(t, in); got.HttpTokens != "optional" {
			t.Errorf("%s not rolled back: %+v", in.id, got)
		}
	}
}

func TestRemediateKilledProcessResumes(t *testing.T) {
	s := remStart(t, readyFleet(40), fleet.Knobs{ApplyDelay: remDelay(100 * time.Millisecond)})
	args := remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--rate", "20")
	// The server takes 10 changes and holds the 11th and later until the
	// process is gone: it is killed after exactly 10, on every run.
	s.gate.HoldAfter(10)
	cmd := startSelf(t, s.url, args...)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-s.gate.Reached():
	case <-exited:
		t.Fatal("the process ended before it made 10 changes")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	s.gate.Release()
	if first := len(liveCalls(s.srv)); first != 10 {
		t.Fatalf("killed after %d changes, want the 10 the server let through", first)
	}
	r := remCLI(t, context.Background(), "", false, args...)
	if r.code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", r.code, r.stdout)
	}
	checkExactlyOnce(t, s)
}
