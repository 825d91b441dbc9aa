package main

// The path a user runs: scan the simulated fleet to a JSON report, then
// remediate from that report. The plan comes from the scanner's own
// classification and risks, not from a hand-made report.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

func TestScanThenRemediate(t *testing.T) {
	eks := map[string]string{"eks:cluster-name": "prod"}
	v1 := []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: fleet.Rel(-10 * 24 * time.Hour), To: fleet.Rel(-24 * time.Hour), PerHour: 4}}
	mk := func(n int, tags map[string]string, usage []fleet.UsageSegment) fleet.Instance {
		return fleet.Instance{ID: remID("pipe", n), State: "running", LaunchTime: fleet.Rel(-40 * 24 * time.Hour),
			Tags: tags, Usage: usage, MetadataOptions: optional(1)}
	}
	ready, readyEKS, v1EKS, v1Plain := mk(1, nil, nil), mk(2, eks, nil), mk(3, eks, v1), mk(4, nil, v1)
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, AccessKeyIDs: []string{remKey},
		Regions: []fleet.Region{{Name: "us-east-1", Instances: []fleet.Instance{ready, readyEKS, v1EKS, v1Plain}}}}}}
	srv, url := simtest.Start(t, f, sim.Options{Seed: 3})
	remEnv(t, url)
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "scan.json")
	r := remCLI(t, context.Background(), "", false, "scan", "--regions", "us-east-1", "--output", reportPath, "--retry-max-backoff", "50ms")
	if r.code != exitOK {
		t.Fatalf("scan exit %d\n%s", r.code, r.stdout)
	}
	r = remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", reportPath, "--live", "--yes", "--journal", filepath.Join(dir, "fix.jsonl"))...)
	if r.code != exitOK {
		t.Fatalf("remediate exit %d\n%s", r.code, r.stdout)
	}
	want := map[string]fleet.MetadataOptions{}
	for _, in := range []fleet.Instance{ready, readyEKS, v1EKS, v1Plain} {
		want[in.ID] = optional(1)
	}
	// ready: enforced; ready container host: enforced, hop limit kept at 1;
	// v1-in-use container host: hop limit raised, tokens untouched;
	// v1-in-use elsewhere: untouched.
	w := want[ready.ID]
	w.HttpTokens = "required"
	want[ready.ID] = w
	want[readyEKS.ID] = w
	w = optional(2)
	want[v1EKS.ID] = w
	for id, w := range want {
		got, _ := srv.Instance(remAcct, "us-east-1", id)
		if got.MetadataOptions != w {
			t.Errorf("%s: %+v, want %+v", id, got.MetadataOptions, w)
		}
	}
	if !strings.Contains(r.stdout, "raise-hop-limit") || !strings.Contains(r.stdout, "skipped v1-in-use:") {
		t.Errorf("plan/results do not show the hop-limit raise and the v1-in-use skip:\n%s", r.stdout)
	}
}
