package main

// kill -9 of a real `imdsfleet apply` process, at a point the simulated
// AWS chooses (a gate lets n live ModifyInstanceMetadataOptions calls
// through and holds the next until the process is gone), then the same
// command again: every instance must be changed exactly once, counted on
// the server, and a rollback cut short must be finished, once per
// instance. The killed process runs on the simulated AWS's fast clock
// (IMDSFLEET_SIM_CLOCK, as `imdsfleet sim --time-scale` prints it), so its
// bakes of an hour take a second; what the tests check never depends on
// how fast anything ran.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/internal/simclock"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// killSetup is a rollout of twelve ready instances in two Auto Scaling
// groups (web: 1-6, api: 7-12), served on a fast simulated clock.
type killSetup struct {
	*remSetup
	clock *simclock.Clock
	plan  string
	args  []string
}

// killScale runs the simulated clock an hour a second.
const killScale = 3600

func killStart(t *testing.T, hidden func(n int) bool) *killSetup {
	t.Helper()
	return killStartWith(t, hidden, nil)
}

// killStartWith is killStart with wrap (if set) in front of the server,
// behind the gate.
func killStartWith(t *testing.T, hidden func(n int) bool, wrap func(http.Handler) http.Handler) *killSetup {
	t.Helper()
	var insts []remInst
	for n := 1; n <= 12; n++ {
		asg := "web"
		if n > 6 {
			asg = "api"
		}
		insts = append(insts, remInst{id: applyID(n), region: "us-east-1", class: report.ClassReady,
			tags: map[string]string{remediate.ASGTag: asg}, opts: optional(1), want: remediate.ActionEnforce})
	}
	f := remFleet(insts, fleet.Knobs{})
	for i := range f.Accounts[0].Regions[0].Instances {
		in := &f.Accounts[0].Regions[0].Instances[i]
		for n := 1; n <= 12; n++ {
			if in.ID == applyID(n) && hidden != nil && hidden(n) {
				in.HiddenCaller = &fleet.HiddenCaller{Starts: fleet.HiddenAfterEnforcement, After: fleet.Duration(10 * time.Minute), PerHour: 60}
			}
		}
	}
	clock := simclock.New(time.Now().UTC(), killScale)
	gate := simtest.NewGate()
	front := gate.Wrap
	if wrap != nil {
		front = func(next http.Handler) http.Handler { return gate.Wrap(wrap(next)) }
	}
	srv, url := simtest.StartWith(t, f, sim.Options{Seed: 1, Now: clock.Now}, front)
	remEnv(t, url)
	dir := t.TempDir()
	s := &killSetup{remSetup: &remSetup{srv: srv, url: url, dir: dir, report: remReport(t, dir, insts), insts: insts, journal: dir + "/rollout.jsonl", gate: gate},
		clock: clock, plan: dir + "/plan.json"}
	if r := s.cli(t, "remediate", "--report", s.report, "--plan-out", s.plan); r.code != exitOK {
		t.Fatalf("remediate --plan-out: exit %d", r.code)
	}
	s.args = remArgs("apply", s.plan, "--live", "--yes", "--journal", s.journal, "--waves", "1,50%,100%")
	return s
}

// cli runs imdsfleet in-process on the fast clock.
func (s *killSetup) cli(t *testing.T, args ...string) remRun {
	t.Helper()
	var out, errb strings.Builder
	code := runClock(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb}, s.clock)
	t.Logf("imdsfleet %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return remRun{code: code, stdout: out.String(), stderr: errb.String()}
}

// killAfter runs apply as a real process, lets n live changes through,
// kills it with SIGKILL while it waits on the next, and returns once every
// held call was dropped (none reaches the fleet late) and the gate is open.
func (s *killSetup) killAfter(t *testing.T, n int) {
	t.Helper()
	s.gate.HoldAfter(n)
	s.killAt(t, s.gate.Reached(), fmt.Sprintf("it made %d changes", n))
	until(t, "the held calls to be dropped", func() bool { return s.gate.Held() == 0 })
	s.gate.Release()
	if got := s.liveCount(); got != n {
		t.Fatalf("killed after %d live changes, want the %d the server let through", got, n)
	}
}

// killAt runs apply as a real process and kills it with SIGKILL once
// reached is closed.
func (s *killSetup) killAt(t *testing.T, reached <-chan struct{}, what string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], s.args...)
	cmd.Env = append(os.Environ(), "IMDSFLEET_TEST_RUN_MAIN=1", envSimClock+"="+s.clock.String())
	cmd.Env = append(cmd.Env, simtest.Env(s.url, remKey, "us-east-1")...)
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-reached:
	case <-exited:
		t.Fatalf("the process ended before %s:\n%s", what, errb.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	t.Logf("killed process's stderr:\n%s", errb.String())
}

// metricsHold answers n GetMetricData calls, then holds the later ones
// until their client is gone, or until released; reached is closed once
// a call is held.
type metricsHold struct {
	mu      sync.Mutex
	n, seen int
	reached chan struct{}
	open    chan struct{}
}

func (h *metricsHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/operation/GetMetricData") {
			next.ServeHTTP(w, r)
			return
		}
		h.mu.Lock()
		h.seen++
		hold := h.seen > h.n
		if h.seen == h.n+1 {
			close(h.reached)
		}
		h.mu.Unlock()
		if hold {
			select {
			case <-h.open:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *killSetup) liveCount() int {
	n := 0
	for _, c := range s.srv.ModifyCalls() {
		if !c.DryRun && c.Outcome == "ok" {
			n++
		}
	}
	return n
}

// calls lists the HttpTokens each instance's accepted live calls set, in order.
func (s *killSetup) calls() map[string][]string {
	out := map[string][]string{}
	for _, c := range s.srv.ModifyCalls() {
		if !c.DryRun && c.Outcome == "ok" {
			out[c.InstanceID] = append(out[c.InstanceID], c.Params["HttpTokens"])
		}
	}
	return out
}

// waves reads the instance IDs of each wave the journal started.
func waveIDs(t *testing.T, journal string) map[int][]string {
	t.Helper()
	st, _, err := remediate.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for _, w := range st.Rollout.Wave {
		for _, ref := range w.Instances {
			out[w.N] = append(out[w.N], ref[strings.LastIndex(ref, "/")+1:])
		}
	}
	return out
}

// rolloutLines counts the journal's rollout lines by kind and wave.
func rolloutLines(t *testing.T, journal string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		for _, k := range []string{remediate.KindWave, remediate.KindBake, remediate.KindBaked, remediate.KindStop} {
			if strings.Contains(l, `"kind":"`+k+`"`) {
				w := l[strings.Index(l, `"wave":`)+len(`"wave":`):]
				out[k+" "+w[:strings.IndexAny(w, ",}")]]++
			}
		}
	}
	return out
}

func TestApplyKilledDuringAWaveResumes(t *testing.T) {
	s := killStart(t, nil)
	// Wave 1 is the two canaries; the kill comes after two of wave 2's
	// four changes, with the third held (and the other workers' calls
	// in flight).
	s.killAfter(t, 4)
	waves := waveIDs(t, s.journal)
	if len(waves) != 2 || len(waves[1]) != 2 || len(waves[2]) != 4 {
		t.Fatalf("killed in waves %v, want wave 2 (of 4 instances) started after the 2 canaries", waves)
	}
	if r := s.cli(t, s.args...); r.code != exitOK {
		t.Fatalf("resumed run: exit %d", r.code)
	}
	calls := s.calls()
	for _, in := range s.insts {
		if got := calls[in.id]; len(got) != 1 || got[0] != "required" {
			t.Errorf("%s: accepted calls %v, want exactly one setting required", in.id, got)
		}
		if got := s.options(t, in); got.HttpTokens != "required" {
			t.Errorf("%s: HttpTokens %s", in.id, got.HttpTokens)
		}
	}
	lines := rolloutLines(t, s.journal)
	for w := 1; w <= 3; w++ {
		for _, k := range []string{remediate.KindWave, remediate.KindBake, remediate.KindBaked} {
			if got := lines[k+" "+string(rune('0'+w))]; got != 1 {
				t.Errorf("wave %d: %d %s lines, want 1", w, got, k)
			}
		}
	}
	st := s.statusJSON(t)
	if st.State != remediate.StatusCompleted || st.Changes[remediate.StateVerified] != 12 {
		t.Errorf("status %+v", st)
	}
}

func TestApplyKilledDuringRollbackFinishesIt(t *testing.T) {
	// Every instance but the canaries (1 and 7) hides a caller: wave 1
	// passes, wave 2 breaks and is rolled back. The kill comes after two
	// of wave 2's four rollback calls.
	s := killStart(t, func(n int) bool { return n != 1 && n != 7 })
	s.killAfter(t, 2+4+2)
	waves := waveIDs(t, s.journal)
	if len(waves) != 2 || len(waves[2]) != 4 {
		t.Fatalf("killed in waves %v, want wave 2 of 4", waves)
	}
	if lines := rolloutLines(t, s.journal); lines["baked 2"] != 1 || lines["stop 2"] != 0 {
		t.Fatalf("journal %v: want wave 2's breakage recorded and no stop line yet", lines)
	}
	if st := s.statusJSON(t); st.State != remediate.StatusStopped || st.StoppedHow != "" {
		t.Errorf("status after the kill: %+v", st)
	}
	r := s.cli(t, s.args...)
	if r.code != exitBreakage || !strings.Contains(r.stderr, "wave 2 rolled back") {
		t.Fatalf("rerun: exit %d, want %d with wave 2 rolled back", r.code, exitBreakage)
	}
	calls := s.calls()
	inWave2 := map[string]bool{}
	for _, id := range waves[2] {
		inWave2[id] = true
	}
	for _, in := range s.insts {
		want, tokens := "[]", "optional"
		switch {
		case inWave2[in.id]:
			want = "[required optional]"
		case in.id == applyID(1) || in.id == applyID(7):
			want, tokens = "[required]", "required"
		}
		if got := "[" + strings.Join(calls[in.id], " ") + "]"; got != want {
			t.Errorf("%s: accepted calls %s, want %s", in.id, got, want)
		}
		if got := s.options(t, in); got.HttpTokens != tokens {
			t.Errorf("%s: HttpTokens %s, want %s", in.id, got.HttpTokens, tokens)
		}
	}
	if lines := rolloutLines(t, s.journal); lines["stop 2"] != 1 || lines["wave 3"] != 0 {
		t.Errorf("journal %v: want one stop line for wave 2 and no wave 3", lines)
	}
	rb, _, err := remediate.ReadJournal(remediate.RollbackJournalPath(s.journal))
	if err != nil {
		t.Fatal(err)
	}
	for id := range inWave2 {
		if e := rb.Get(remediate.Key{Op: remediate.OpRollback, Account: remAcct, Region: "us-east-1", InstanceID: id}); e.StateOf() != remediate.StateVerified {
			t.Errorf("rollback journal: %s is %q, want verified", id, e.StateOf())
		}
	}
	st := s.statusJSON(t)
	if st.State != remediate.StatusStopped || st.StoppedHow != remediate.OutcomeRolledBack || st.WaveList[1].Changes[remediate.StateRolledBack] != 4 {
		t.Errorf("status %+v", st)
	}
	// Once more: nothing to do, nothing called.
	before := s.liveCount()
	if r := s.cli(t, s.args...); r.code != exitBreakage {
		t.Errorf("third run: exit %d", r.code)
	}
	if after := s.liveCount(); after != before {
		t.Errorf("third run made %d calls", after-before)
	}
}

func (s *killSetup) statusJSON(t *testing.T) remediate.RolloutStatus {
	t.Helper()
	r := s.cli(t, "status", "--journal", s.journal, "--format", "json")
	if r.code != exitOK {
		t.Fatalf("status: exit %d", r.code)
	}
	var st remediate.RolloutStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status JSON: %v", err)
	}
	return st
}

func TestApplyKilledDuringABakeResumesIt(t *testing.T) {
	// Killed during wave 1's bake, while its fourth read of CloudWatch
	// (20 minutes in) is held: the rerun resumes that bake (no new bake
	// line, no change made again) and goes on.
	hold := &metricsHold{n: 3, reached: make(chan struct{}), open: make(chan struct{})}
	s := killStartWith(t, nil, hold.wrap)
	s.killAt(t, hold.reached, "wave 1's bake read CloudWatch 4 times")
	close(hold.open)
	if got := s.liveCount(); got != 2 {
		t.Fatalf("killed after %d changes, want the 2 canaries", got)
	}
	if lines := rolloutLines(t, s.journal); lines["bake 1"] != 1 || lines["baked 1"] != 0 || lines["wave 2"] != 0 {
		t.Fatalf("journal after the kill %v: want wave 1 baking", lines)
	}
	if st := s.statusJSON(t); st.NextWave != 1 || (st.State != remediate.StatusBaking && st.State != remediate.StatusBakeOver) {
		t.Errorf("status after the kill: %+v", st)
	}
	if r := s.cli(t, s.args...); r.code != exitOK || !strings.Contains(r.stderr+r.stdout, "done-earlier") {
		t.Fatalf("rerun: exit %d, want 0 with wave 1's changes done earlier", r.code)
	}
	calls := s.calls()
	for _, in := range s.insts {
		if got := calls[in.id]; len(got) != 1 || got[0] != "required" {
			t.Errorf("%s: accepted calls %v, want exactly one", in.id, got)
		}
	}
	lines := rolloutLines(t, s.journal)
	for w := 1; w <= 3; w++ {
		for _, k := range []string{remediate.KindWave, remediate.KindBake, remediate.KindBaked} {
			if got := lines[k+" "+string(rune('0'+w))]; got != 1 {
				t.Errorf("wave %d: %d %s lines, want 1 (the killed bake resumed, not started again)", w, got, k)
			}
		}
	}
}
