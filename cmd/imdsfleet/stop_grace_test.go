package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// TestStopCutsThrottledCallAfterGrace: a live change throttled on every
// attempt is in flight when the run is stopped (the context is cancelled
// once the server has answered its first attempt). With a stop grace of
// 1ns the call's retries end at once: the server sees far fewer than
// --max-attempts attempts (before, in-flight calls ignored the stop and
// retried all 30, with up to --retry-max-backoff between them: minutes on
// AWS's defaults). The journal still records the call's result.
func TestStopCutsThrottledCallAfterGrace(t *testing.T) {
	const maxAttempts = 30
	in := remInst{id: remID("us-east-1", 1), region: "us-east-1", class: report.ClassReady, opts: optional(1), want: remediate.ActionEnforce}
	f := remFleet([]remInst{in}, fleet.Knobs{Faults: []fleet.Fault{
		{API: "ModifyInstanceMetadataOptions", Rate: 1, Code: "RequestLimitExceeded", Status: http.StatusServiceUnavailable},
	}})
	srv, err := sim.New(f, sim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var once sync.Once
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r)
		if len(srv.ModifyCalls()) > 0 {
			once.Do(stop) // the first SIGINT, while the call is in flight
		}
	}))
	defer ts.Close()
	remEnv(t, ts.URL)
	dir := t.TempDir()
	rep := remReport(t, dir, []remInst{in})
	journal := filepath.Join(dir, "fix.jsonl")

	r := remCLI(t, ctx, "", false, "remediate", "--report", rep, "--live", "--yes", "--journal", journal,
		"--max-attempts", "30", "--retry-max-backoff", "100ms", "--stop-grace", "1ns", "--poll-interval", "50ms")
	if r.code != exitError {
		t.Errorf("exit %d, want %d (interrupted)", r.code, exitError)
	}
	attempts := len(srv.ModifyCalls())
	if attempts >= maxAttempts/2 {
		t.Errorf("the server saw %d attempts after the stop: the in-flight call was not cut after the grace", attempts)
	}
	if !journalHasResult(t, journal, in.id) {
		t.Errorf("the journal has no result line for %s", in.id)
	}
}

// journalHasResult reports whether the journal at path has a result line
// for instance id.
func journalHasResult(t *testing.T, path, id string) bool {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var rec struct {
			Kind       string `json:"kind"`
			InstanceID string `json:"instanceId"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Kind == remediate.KindResult && rec.InstanceID == id {
			return true
		}
	}
	return false
}
