package main

// kill -9 of a real `imdsfleet apply` right after the last wave's baked
// line, before the account defaults (which wait for that bake) have any
// journal line: status must say applying with the step not run, and the
// same command again sets the defaults once (counted on the server).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/internal/simclock"
	"github.com/imdsfleet/imdsfleet/remediate"
)

// afterBakeHold holds the first GetInstanceMetadataDefaults call made once
// journal holds the last wave's baked line (the account defaults step's
// drift check, which comes before its intent line); reached is closed
// once it is held; the call is dropped when its client goes away.
type afterBakeHold struct {
	mu      sync.Mutex
	journal string
	waves   int
	held    bool
	reached chan struct{}
}

func (h *afterBakeHold) baked() bool {
	f, err := os.Open(h.journal)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r remediate.Record
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Op == remediate.OpRemediate && r.Kind == remediate.KindBaked && r.Wave == h.waves {
			return true
		}
	}
	return false
}

func (h *afterBakeHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if err != nil || form.Get("Action") != "GetInstanceMetadataDefaults" || !h.baked() {
			next.ServeHTTP(w, r)
			return
		}
		h.mu.Lock()
		hold := !h.held
		h.held = true
		h.mu.Unlock()
		if !hold {
			next.ServeHTTP(w, r)
			return
		}
		close(h.reached)
		<-r.Context().Done()
	})
}

// afterBakeStart serves wsFleet on the fast clock with hold in front,
// scans it and plans instances and sources with the account defaults
// enforced.
func afterBakeStart(t *testing.T, hold *afterBakeHold) *killSetup {
	t.Helper()
	dayStable(t)
	clock := simclock.New(time.Now().UTC(), killScale)
	gate := simtest.NewGate()
	srv, u := simtest.StartWith(t, wsFleet(), sim.Options{Seed: 3, Now: clock.Now}, func(next http.Handler) http.Handler { return gate.Wrap(hold.wrap(next)) })
	remEnv(t, u)
	dir := t.TempDir()
	s := &killSetup{remSetup: &remSetup{srv: srv, url: u, dir: dir, report: filepath.Join(dir, "scan.json"), journal: filepath.Join(dir, "rollout.jsonl"), gate: gate},
		clock: clock, plan: filepath.Join(dir, "plan.json")}
	hold.journal = s.journal
	if r := s.cli(t, "scan", "--regions", "us-east-1", "--output", s.report); r.code != exitOK {
		t.Fatalf("scan: exit %d", r.code)
	}
	if r := s.cli(t, "remediate", "--report", s.report, "--scope", "instances,sources", "--enforce-account-defaults", "--plan-out", s.plan); r.code != exitOK {
		t.Fatalf("remediate: exit %d", r.code)
	}
	s.args = append(remArgs("apply", s.plan, "--live", "--yes", "--journal", s.journal, "--bake", "30m"), wsWaveBy...)
	return s
}

// withoutAfterBake is journal data as an imdsfleet before afterBake wrote
// it: each line with that member cut and its checksum ("crc", CRC-32C of
// the line without it, always last) computed again.
func withoutAfterBake(t *testing.T, data []byte) []byte {
	t.Helper()
	crc := regexp.MustCompile(`,"crc":"[0-9a-f]{8}"\}$`)
	var out []byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\n"))
		if len(l) == 0 {
			continue
		}
		if !crc.Match(l) {
			t.Fatalf("journal line without a crc member: %s", l)
		}
		l = crc.ReplaceAll(l, []byte("}"))
		l = regexp.MustCompile(`,"afterBake":[0-9]+`).ReplaceAll(l, nil)
		sum := crc32.Checksum(l, crc32.MakeTable(crc32.Castagnoli))
		out = append(out, l[:len(l)-1]...)
		out = fmt.Appendf(out, `,"crc":"%08x"}`+"\n", sum)
	}
	return out
}

func defaultsWrites(srv *sim.Server) int {
	n := 0
	for _, c := range srv.SourceCalls() {
		if c.API == "ModifyInstanceMetadataDefaults" && !c.DryRun {
			n++
		}
	}
	return n
}

func accountTokens(t *testing.T, s *killSetup) string {
	t.Helper()
	d, err := ec2.NewFromConfig(simtest.Config(s.url, remKey, "us-east-1")).GetInstanceMetadataDefaults(context.Background(), &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if d.AccountLevel == nil {
		return "none"
	}
	return string(d.AccountLevel.HttpTokens)
}

// TestApplyKilledAfterLastBakeBeforeAccountDefaults: see the file comment.
// A journal written by an imdsfleet before afterBake (the same lines with
// that field cut) still reads completed, as it did.
func TestApplyKilledAfterLastBakeBeforeAccountDefaults(t *testing.T) {
	hold := &afterBakeHold{waves: 3, reached: make(chan struct{})}
	s := afterBakeStart(t, hold)
	s.killAt(t, hold.reached, "the account defaults' drift check after wave 3's bake")
	lines := wsSourceLines(t, s.journal, remediate.OpRemediateSource)
	if len(lines["account-defaults"]) != 0 || len(lines) != 7 {
		t.Fatalf("journal source lines after the kill %v: want the 7 template/group steps and no account-defaults line", lines)
	}
	if rl := rolloutLines(t, s.journal); rl["baked 3"] != 1 {
		t.Fatalf("journal after the kill %v: want wave 3 baked", rl)
	}
	if n := defaultsWrites(s.srv); n != 0 {
		t.Fatalf("ModifyInstanceMetadataDefaults called %d times before the kill", n)
	}
	st := s.statusJSON(t)
	if st.State != remediate.StatusApplying || st.SourceStepsNotRun < 1 {
		t.Errorf("status after the kill: state %q sourceStepsNotRun %d, want %q and >= 1", st.State, st.SourceStepsNotRun, remediate.StatusApplying)
	}
	table := s.cli(t, "status", "--journal", s.journal)
	if !strings.Contains(table.stdout, "run apply again") {
		t.Errorf("status table does not say to run apply again:\n%s", table.stdout)
	}

	// The same journal as an older imdsfleet wrote it: no afterBake.
	data, err := os.ReadFile(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	old := withoutAfterBake(t, data)
	if bytes.Equal(old, data) {
		t.Fatal("no afterBake field in the journal")
	}
	oldPath := filepath.Join(t.TempDir(), "old.jsonl")
	if err := os.WriteFile(oldPath, old, 0o600); err != nil {
		t.Fatal(err)
	}
	r := s.cli(t, "status", "--journal", oldPath, "--format", "json")
	var ost remediate.RolloutStatus
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &ost) != nil {
		t.Fatalf("status of the old journal: exit %d\n%s", r.code, r.stderr)
	}
	if ost.State != remediate.StatusCompleted || ost.SourceStepsNotRun != 0 {
		t.Errorf("old journal: state %q sourceStepsNotRun %d, want %q as before", ost.State, ost.SourceStepsNotRun, remediate.StatusCompleted)
	}

	if r := s.cli(t, s.args...); r.code != exitOK {
		t.Fatalf("rerun: exit %d", r.code)
	}
	if n := defaultsWrites(s.srv); n != 1 {
		t.Errorf("ModifyInstanceMetadataDefaults called %d times, want 1", n)
	}
	if got := accountTokens(t, s); got != "required" {
		t.Errorf("account defaults HttpTokens %q, want required", got)
	}
	if st := s.statusJSON(t); st.State != remediate.StatusCompleted || st.SourceStepsNotRun != 0 {
		t.Errorf("status after the rerun: state %q sourceStepsNotRun %d, want %q, 0", st.State, st.SourceStepsNotRun, remediate.StatusCompleted)
	}
}
