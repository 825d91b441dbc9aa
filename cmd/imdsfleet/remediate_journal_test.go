package main

// The journal under abuse, through the real commands against the simulated
// AWS: two live runs on one journal, a rerun after a rollback, the same
// command again after a crash (no --journal), a resume whose verify lines
// are missing, journals that are not regular files.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// Two live runs started together on one journal: one is refused (exit 2)
// naming the other, and no instance is called twice.
func TestRemediateTwoLiveRunsOneJournal(t *testing.T) {
	// Changes stay pending, so the run that got the journal keeps waiting
	// to verify them (holding it) until the test stops it.
	s := remStart(t, readyFleet(8), fleet.Knobs{ApplyDelay: remDelay(time.Hour)})
	args := append(remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--rate", "50"), "--wait-timeout", "1h")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan remRun, 2)
	for range 2 {
		go func() { results <- remCLI(t, ctx, "", false, args...) }()
	}
	// The refused run ends on its own; the other only when stopped.
	refused := <-results
	if refused.code != exitUsage || !strings.Contains(refused.stderr, "in use by a live run") ||
		!strings.Contains(refused.stderr, fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(refused.stderr, s.journal) {
		t.Errorf("refused run: exit %d, want %d naming the holder:\n%s", refused.code, exitUsage, refused.stderr)
	}
	until(t, "every instance changed", func() bool { return len(liveCalls(s.srv)) == len(s.insts) })
	// A rollback of the journal in use is refused too.
	rb := remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if rb.code != exitUsage || !strings.Contains(rb.stderr, "in use by a live run") {
		t.Errorf("rollback while remediate runs: exit %d\n%s", rb.code, rb.stderr)
	}
	cancel()
	if winner := <-results; winner.code != exitError {
		t.Errorf("the run that got the journal: exit %d, want %d (stopped while verifying)", winner.code, exitError)
	}
	for _, c := range s.srv.ModifyCalls() {
		if c.DryRun {
			t.Errorf("dry-run call from a refused run: %+v", c)
		}
	}
	for id, n := range liveCalls(s.srv) {
		if n != 1 {
			t.Errorf("%s: %d live calls, want 1", id, n)
		}
	}
	if _, err := os.Stat(s.journal + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock description left after the run: %v", err)
	}
}

// After a rollback, the same remediate command plans the changes again
// (they are no longer done), and a second rollback undoes them again.
func TestRemediateRerunAfterRollback(t *testing.T) {
	s := remStart(t, readyFleet(6), fleet.Knobs{})
	rem := remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)
	rbk := remArgs("rollback", "--journal", s.journal, "--live", "--yes")
	tokens := func(want string, calls int) {
		t.Helper()
		n := liveCalls(s.srv)
		for _, in := range s.insts {
			if got := s.options(t, in).HttpTokens; got != want || n[in.id] != calls {
				t.Errorf("%s: tokens %s after %d live calls, want %s after %d", in.id, got, n[in.id], want, calls)
			}
		}
	}
	for i, step := range []struct {
		args   []string
		tokens string
	}{{rem, "required"}, {rbk, "optional"}, {rem, "required"}, {rbk, "optional"}} {
		r := remCLI(t, context.Background(), "", false, step.args...)
		if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("changed %d,", len(s.insts))) {
			t.Fatalf("step %d (%s): exit %d\n%s", i+1, step.args[0], r.code, r.stdout)
		}
		tokens(step.tokens, i+1)
	}
}

// The same command again after a crash, without --journal, finds the same
// journal (derived from the report) and resumes; so does the next stage
// of a rollout from the same report.
func TestRemediateSameCommandResumesWithoutJournalFlag(t *testing.T) {
	s := remStart(t, append(readyFleet(24), readyFleetN("eu-west-1", 3)...), fleet.Knobs{ApplyDelay: remDelay(100 * time.Millisecond)})
	args := remArgs("remediate", "--report", s.report, "--live", "--yes", "--rate", "20", "--regions", "us-east-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAfter(s, 6, cancel)
	r := remCLI(t, ctx, "", false, args...)
	if r.code != exitError {
		t.Fatalf("interrupted run: exit %d", r.code)
	}
	journals, _ := filepath.Glob(filepath.Join(s.dir, "scan.remediate-*.jsonl"))
	if len(journals) != 1 || !strings.Contains(r.stderr, "journal: "+journals[0]+"\n") {
		t.Fatalf("journals beside the report %v; stderr:\n%s", journals, r.stderr)
	}
	if fi, err := os.Stat(journals[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode())
	}
	first := len(liveCalls(s.srv))
	if first == 0 || first == len(s.insts) {
		t.Fatalf("the interruption changed %d of %d instances; the test needs a run stopped half-way", first, len(s.insts))
	}
	// The same plan with its flags in another order is the same command.
	args = remArgs("remediate", "--regions", "us-east-1", "--report", s.report, "--live", "--yes", "--rate", "20")
	r = remCLI(t, context.Background(), "", false, args...)
	if r.code != exitOK || !regexp.MustCompile(fmt.Sprintf(`skipped done-earlier: +%d\n`, first)).MatchString(r.stdout) {
		t.Fatalf("rerun: exit %d, want done-earlier %d\n%s", r.code, first, r.stdout)
	}
	if again, _ := filepath.Glob(filepath.Join(s.dir, "scan.remediate-*.jsonl")); len(again) != 1 {
		t.Errorf("journals %v, want one", again)
	}
	// A later run from the same report with another selection is the next
	// stage of the same rollout: it goes into the same journal, so one
	// rollback undoes both stages.
	r = remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--rate", "20", "--max-changes", "3")...)
	if r.code != exitOK {
		t.Fatalf("second stage: exit %d\n%s", r.code, r.stderr)
	}
	if again, _ := filepath.Glob(filepath.Join(s.dir, "scan.remediate-*.jsonl")); len(again) != 1 {
		t.Errorf("journals after a second stage %v, want one", again)
	}
	if !regexp.MustCompile(`SUMMARY: planned 3, changed 3,`).MatchString(r.stdout) {
		t.Fatalf("second stage: want 3 changes in eu-west-1\n%s", r.stdout)
	}
	// Every instance of both stages was changed exactly once.
	checkExactlyOnce(t, s)
	// And rollback finds every change in that one journal.
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", journals[0], "--live", "--yes")...)
	if r.code != exitOK {
		t.Fatalf("rollback: exit %d", r.code)
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "optional" {
			t.Errorf("%s not rolled back", in.id)
		}
	}
}

// A resumed run verifies every change of the journal that has no verify
// line showing it applied, and journals the verification.
func TestRemediateResumeVerifiesMissingVerifyLines(t *testing.T) {
	s := remStart(t, readyFleet(6), fleet.Knobs{})
	args := remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)
	if r := remCLI(t, context.Background(), "", false, args...); r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	// The run that wrote this journal stopped before verifying anything.
	var kept []string
	for _, l := range strings.SplitAfter(string(mustRead(t, s.journal)), "\n") {
		if !strings.Contains(l, `"kind":"verify"`) {
			kept = append(kept, l)
		}
	}
	os.WriteFile(s.journal, []byte(strings.Join(kept, "")), 0o600)
	n := len(s.srv.ModifyCalls())
	r := remCLI(t, context.Background(), "", false, args...)
	if r.code != exitOK || len(s.srv.ModifyCalls()) != n {
		t.Fatalf("resume: exit %d, %d new calls", r.code, len(s.srv.ModifyCalls())-n)
	}
	st, _, err := remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range s.insts {
		e := st.Get(remediate.Key{Op: remediate.OpRemediate, Account: remAcct, Region: in.region, InstanceID: in.id})
		if e == nil || !e.DoneVerified || e.Verify == nil || e.Verify.Verified == nil || e.Verify.Verified.HttpTokens != "required" {
			t.Errorf("%s: no verify line after the resume: %+v", in.id, e)
		}
	}
	if !strings.Contains(r.stdout, "verified now") {
		t.Errorf("the results do not say the earlier changes were verified:\n%s", r.stdout)
	}
}

// A journal that is a directory, a FIFO or a device is refused with one
// line, exit 2, before any AWS call and without blocking; a symlink to a
// regular file is followed.
func TestJournalPathMustBeARegularFile(t *testing.T) {
	s := remStart(t, readyFleet(2), fleet.Knobs{})
	fifo := filepath.Join(s.dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.dir, "adir")
	os.Mkdir(dir, 0o700)
	// A real rollback journal, to be passed where a remediate journal goes.
	rbJournal := filepath.Join(s.dir, "other.jsonl.rollback.jsonl")
	rec, _ := json.Marshal(remediate.Record{V: 1, Op: remediate.OpRollback, Kind: remediate.KindIntent, Account: remAcct, Region: "us-east-1",
		InstanceID: s.insts[0].id, Action: remediate.ActionRollback, Requested: &remediate.Change{HttpTokens: "optional"}})
	os.WriteFile(rbJournal, append(rec, '\n'), 0o600)
	good := filepath.Join(s.dir, "good.jsonl")
	os.WriteFile(good, nil, 0o600)

	type tc struct {
		name string
		args []string
		want string
	}
	var tests []tc
	for _, bad := range []struct{ name, path, want string }{
		{"directory", dir, "is a directory"}, {"FIFO", fifo, "is a named pipe"}, {"device", "/dev/full", "is a device"},
	} {
		tests = append(tests,
			tc{"remediate live " + bad.name, []string{"remediate", "--report", s.report, "--live", "--yes", "--journal", bad.path}, bad.want},
			tc{"remediate dry run " + bad.name, []string{"remediate", "--report", s.report, "--journal", bad.path}, bad.want},
			tc{"rollback " + bad.name, []string{"rollback", "--journal", bad.path, "--live", "--yes"}, bad.want},
			tc{"rollback journal " + bad.name, []string{"rollback", "--journal", good, "--rollback-journal", bad.path, "--live", "--yes"}, bad.want},
		)
	}
	tests = append(tests, tc{"rollback journal as remediate's", []string{"remediate", "--report", s.report, "--live", "--yes", "--journal", rbJournal}, "is a rollback journal"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := sim.Total(s.srv.Stats().Calls)
			r := remCLI(t, context.Background(), "", false, tc.args...)
			msg, _, _ := strings.Cut(r.stderr, "\nRun 'imdsfleet --help' for usage.")
			if r.code != exitUsage || !strings.Contains(msg, tc.want) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("exit %d, want %d with one line saying %q:\n%s", r.code, exitUsage, tc.want, r.stderr)
			}
			if n := sim.Total(s.srv.Stats().Calls) - before; n != 0 {
				t.Errorf("%d AWS calls before refusing", n)
			}
		})
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Error("the directory was replaced")
	}
	// A symlink to a regular file is followed: the run journals into it.
	real := filepath.Join(s.dir, "real.jsonl")
	os.WriteFile(real, nil, 0o600)
	link := filepath.Join(s.dir, "link.jsonl")
	os.Symlink(real, link)
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", link)...)
	if r.code != exitOK {
		t.Fatalf("journal through a symlink: exit %d", r.code)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced")
	}
	if st, _, _ := remediate.ReadJournal(real); st.Records != 3*len(s.insts) {
		t.Errorf("the symlink's target holds %d lines, want %d", st.Records, 3*len(s.insts))
	}
}

// appliedCalls lists, per instance, the params of every live
// ModifyInstanceMetadataOptions call the server carried out, answered or
// not.
func appliedCalls(srv *sim.Server) map[string][]map[string]string {
	out := map[string][]map[string]string{}
	for _, c := range srv.ModifyCalls() {
		if !c.DryRun && (c.Outcome == "ok" || c.Outcome == sim.OutcomeResetAfterApply) {
			out[c.InstanceID] = append(out[c.InstanceID], c.Params)
		}
	}
	return out
}

// The simulated AWS applies a change and then resets the connection instead
// of answering. The SDK retries; remediate journals the change as made (with
// the options from before it), verifies it, and rollback restores it.
func TestRemediateAnswerLostAfterApply(t *testing.T) {
	lost := []fleet.Fault{{API: "ModifyInstanceMetadataOptions", Rate: 0.5, ResetAfterApply: true}}
	s := remStart(t, readyFleet(16), fleet.Knobs{Faults: lost})
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...)
	if r.code != exitOK {
		t.Fatalf("remediate: exit %d\n%s", r.code, r.stdout)
	}
	if n := s.srv.Stats().Faults["ModifyInstanceMetadataOptions"]["us-east-1"]; n == 0 {
		t.Fatal("no answer was lost: the test did not exercise the fault")
	}
	st, _, err := remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	calls := appliedCalls(s.srv)
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "required" {
			t.Errorf("%s: tokens %s", in.id, got)
		}
		// Retries set the same value again: never anything else.
		for _, p := range calls[in.id] {
			if fmt.Sprint(p) != "map[HttpTokens:required]" {
				t.Errorf("%s: call with %v", in.id, p)
			}
		}
		e := st.Get(remediate.Key{Op: remediate.OpRemediate, Account: remAcct, Region: in.region, InstanceID: in.id})
		if e == nil || e.Done == nil || e.Done.Previous == nil || e.Done.Previous.HttpTokens != "optional" || !e.DoneVerified {
			t.Errorf("%s: journal entry %+v, want a verified change from optional", in.id, e)
		}
	}
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stdout)
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "optional" {
			t.Errorf("%s not rolled back: %s", in.id, got)
		}
	}
}

// Every answer lost: the SDK gives up and the journal shows failed results
// for changes that were made. Rollback re-reads those instances and
// restores them.
func TestRollbackRestoresFailedCallsThatTookEffect(t *testing.T) {
	lost := []fleet.Fault{{API: "ModifyInstanceMetadataOptions", Rate: 1, ResetAfterApply: true}}
	s := remStart(t, readyFleet(6), fleet.Knobs{Faults: lost})
	r := remCLI(t, context.Background(), "", false, append(remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal), "--max-attempts", "2")...)
	if r.code != exitFailed {
		t.Fatalf("remediate: exit %d, want %d\n%s", r.code, exitFailed, r.stdout)
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "required" {
			t.Fatalf("test setup: %s not changed", in.id)
		}
	}
	// The answers come back; rollback must undo what the failed calls did.
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{Faults: []fleet.Fault{}})
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("changed %d,", len(s.insts))) {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stdout)
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "optional" {
			t.Errorf("%s not rolled back: %s", in.id, got)
		}
	}
}

// startSelf runs this test binary as imdsfleet with args against the
// simulated AWS at url (see TestMain).
func startSelf(t *testing.T, url string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "IMDSFLEET_TEST_RUN_MAIN=1")
	cmd.Env = append(cmd.Env, simtest.Env(url, remKey, "us-east-1")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd
}

// until polls cond (a server-side count) every few milliseconds; the
// minute is only a backstop against a hung test, never an assertion.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// kill -9 with calls in flight leaves intents without results; rollback
// decides each by re-reading the instance and restores every instance that
// was changed, the unanswered ones included, and calls nothing else.
func TestRollbackAfterKillWithCallsInFlight(t *testing.T) {
	// Every answer takes a second: at any moment several calls are applied
	// on the server but not yet answered (the kill must come within that
	// second of the server counting the 12th call, even on a loaded
	// machine).
	slow := &fleet.Latency{Fixed: fleet.Duration(time.Second)}
	s := remStart(t, readyFleet(40), fleet.Knobs{Latency: slow})
	received := func() int { return s.srv.Stats().Calls["ModifyInstanceMetadataOptions"]["us-east-1"] }
	cmd := startSelf(t, s.url, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--rate", "100", "--workers", "8")...)
	until(t, "12 modify calls on the server", func() bool { return received() >= 12 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The server carries out every call it received, answered or not.
	until(t, "the server to finish the calls it received", func() bool { return len(s.srv.ModifyCalls()) == received() })

	st, _, err := remediate.ReadJournal(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	changed, journaled := map[string]bool{}, 0
	for _, in := range s.insts {
		if s.options(t, in).HttpTokens == "required" {
			changed[in.id] = true
		}
		if e := st.Get(remediate.Key{Op: remediate.OpRemediate, Account: remAcct, Region: in.region, InstanceID: in.id}); e != nil && e.Done != nil {
			journaled++
		}
	}
	if len(changed) == len(s.insts) || len(changed) <= journaled {
		t.Fatalf("test setup: %d instances changed, %d with a result line; the kill must leave changes without one", len(changed), journaled)
	}
	t.Logf("killed with %d changed, %d of them journaled as done", len(changed), journaled)
	// The killed run's lock description is still there; its flock died
	// with it, so it must not block the rollback.
	if holder, err := os.ReadFile(s.journal + ".lock"); err != nil || !strings.Contains(string(holder), fmt.Sprintf(`"pid":%d`, cmd.Process.Pid)) {
		t.Fatalf("stale lock description of pid %d: %q, %v", cmd.Process.Pid, holder, err)
	}
	s.srv.SetKnobs(remAcct, "us-east-1", fleet.Knobs{Latency: &fleet.Latency{}})

	before := len(s.srv.ModifyCalls())
	r := remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stdout)
	}
	restored := map[string]int{}
	for _, c := range s.srv.ModifyCalls()[before:] {
		if !c.DryRun && c.Outcome == "ok" {
			restored[c.InstanceID]++
		}
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "optional" {
			t.Errorf("%s still %s after rollback", in.id, got)
		}
		if want := map[bool]int{true: 1}[changed[in.id]]; restored[in.id] != want {
			t.Errorf("%s (changed %v): %d rollback calls, want %d", in.id, changed[in.id], restored[in.id], want)
		}
	}
}

// reseal applies edit to the journal line and returns it with a valid
// checksum again: what a line edited by someone who knows the format, or
// written by another journal, looks like.
func reseal(t *testing.T, line string, edit func(*remediate.Record)) string {
	t.Helper()
	var r remediate.Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	edit(&r)
	r.CRC = ""
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return fmt.Sprintf(`%s,"crc":"%08x"}`+"\n", b[:len(b)-1], sum)
}

// shiftJournal moves the time of every line of the journal at path from
// line `from` (1-based) on by d, keeping each line's checksum valid: what a
// run on a machine whose clock is off by d writes.
func shiftJournal(t *testing.T, path string, from int, d time.Duration) {
	t.Helper()
	lines := strings.SplitAfter(string(mustRead(t, path)), "\n")
	for i := from - 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "" {
			lines[i] = reseal(t, lines[i], func(r *remediate.Record) { r.Time = r.Time.Add(d) })
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, warns, err := remediate.ReadJournal(path); err != nil || len(warns) > 0 {
		t.Fatalf("shifted journal: %v %v", err, warns)
	}
}

func lineCount(t *testing.T, path string) int {
	return strings.Count(string(mustRead(t, path)), "\n")
}

// Remediate and rollback run from machines whose clocks disagree: the
// rollback's lines are stamped a day before the changes it undid, then the
// rerun's lines two days before the rollback. Which came first is not
// decided by the clocks: the rerun still changes every instance again, and
// the second rollback still restores them.
func TestRemediateRollbackOrderWithoutClocks(t *testing.T) {
	s := remStart(t, readyFleet(6), fleet.Knobs{})
	rem := remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)
	rbk := remArgs("rollback", "--journal", s.journal, "--live", "--yes")
	rbPath := remediate.RollbackJournalPath(s.journal)
	step := func(n int, args []string, tokens string) {
		t.Helper()
		r := remCLI(t, context.Background(), "", false, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("changed %d,", len(s.insts))) {
			t.Fatalf("step %d (%s): exit %d\n%s", n, args[0], r.code, r.stdout)
		}
		calls := liveCalls(s.srv)
		for _, in := range s.insts {
			if got := s.options(t, in).HttpTokens; got != tokens || calls[in.id] != n {
				t.Errorf("step %d: %s tokens %s after %d live calls, want %s after %d", n, in.id, got, calls[in.id], tokens, n)
			}
		}
	}
	step(1, rem, "required")
	step(2, rbk, "optional")
	shiftJournal(t, rbPath, 1, -24*time.Hour)
	remLines := lineCount(t, s.journal)
	step(3, rem, "required")
	shiftJournal(t, s.journal, remLines+1, -72*time.Hour)
	step(4, rbk, "optional")
}

// A well-formed line of another journal (valid checksum, seq far ahead)
// pasted into the middle of a journal: it is skipped and named, and
// rollback still restores every change of the lines after it.
func TestRollbackJournalWithAPastedLine(t *testing.T) {
	s := remStart(t, readyFleet(6), fleet.Knobs{})
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...)
	if r.code != exitOK {
		t.Fatalf("remediate: exit %d\n%s", r.code, r.stdout)
	}
	lines := strings.SplitAfter(string(mustRead(t, s.journal)), "\n")
	foreign := reseal(t, lines[0], func(r *remediate.Record) { r.Seq, r.InstanceID, r.Run = 500, "i-0000000000000beef", "another-run" })
	damaged := slices.Concat(lines[:2], []string{foreign}, lines[2:])
	if err := os.WriteFile(s.journal, []byte(strings.Join(damaged, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("changed %d,", len(s.insts))) ||
		!strings.Contains(r.stderr, s.journal+":3: ") || strings.Contains(r.stdout, "beef") {
		t.Fatalf("rollback: exit %d, want every change restored and line 3 named\n%s", r.code, r.stdout)
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "optional" {
			t.Errorf("%s not rolled back: %s", in.id, got)
		}
	}
}

// The journal is deleted while a live run writes it (a cleanup job, a
// mistaken rm). The run stops before any further change instead of going
// on with a journal no rollback can find, saves the lines written so far
// back at the path, and rollback from them restores every instance that
// was changed.
func TestRemediateJournalDeletedMidRun(t *testing.T) {
	s := remStart(t, readyFleet(24), fleet.Knobs{})
	s.gate.After(6, func() {
		if err := os.Remove(s.journal); err != nil {
			t.Error(err)
		}
	})
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--rate", "20")...)
	if r.code != exitError || !strings.Contains(r.stderr, "was deleted or replaced while this run was writing it") {
		t.Fatalf("remediate: exit %d, want %d naming the deleted journal\n%s", r.code, exitError, r.stderr)
	}
	changed := 0
	for _, in := range s.insts {
		if s.options(t, in).HttpTokens == "required" {
			changed++
		}
	}
	if changed >= len(s.insts) {
		t.Fatalf("the run went on without its journal: %d of %d instances changed", changed, len(s.insts))
	}
	r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--live", "--yes")...)
	if r.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stdout)
	}
	for _, in := range s.insts {
		if got := s.options(t, in).HttpTokens; got != "optional" {
			t.Errorf("%s not rolled back: %s", in.id, got)
		}
	}
}

// --rollback-journal in a directory that does not exist is bad usage
// before any AWS call, as --journal is for remediate.
func TestRollbackJournalInMissingDirectory(t *testing.T) {
	s := remStart(t, readyFleet(2), fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("remediate: exit %d", r.code)
	}
	before := len(s.srv.ModifyCalls())
	missing := filepath.Join(s.dir, "no-such-dir", "rb.jsonl")
	r := remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", s.journal, "--rollback-journal", missing, "--live", "--yes")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--rollback-journal") || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("rollback: exit %d, want %d naming the missing directory\n%s", r.code, exitUsage, r.stderr)
	}
	if n := len(s.srv.ModifyCalls()); n != before {
		t.Errorf("%d calls made", n-before)
	}
}
