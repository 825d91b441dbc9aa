package scanner_test

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestScanReportGolden scans a synthetic organization of a fixed seed on a
// fixed clock (every target, launch sources, workloads, skipped accounts,
// the tree) and compares the JSON report byte for byte with the one kept
// under testdata/golden: a change made for speed or memory (how instances
// are held, how the report is streamed) must not change a byte of it.
// go test ./scanner -run TestScanReportGolden -update rewrites it; review
// why it changed before committing.
func TestScanReportGolden(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 600, Accounts: 100, Regions: 3, Seed: 7})
	c := clock
	f.Clock = &c
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	r, err := scanner.Scan(t.Context(), clients, scanner.Options{
		Org: &scanner.OrgOptions{}, RoleName: "ImdsfleetAudit", Now: srv.Now,
		Tool: report.Tool{Name: "imdsfleet", Version: "golden"},
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(r.SkippedAccounts) == 0 || len(r.LaunchSources) == 0 || len(r.Workloads) == 0 || len(r.Instances) < 500 {
		t.Fatalf("the fleet lost what the golden file covers: %d skipped accounts, %d launch sources, %d workloads, %d instances",
			len(r.SkippedAccounts), len(r.LaunchSources), len(r.Workloads), len(r.Instances))
	}
	var got bytes.Buffer
	if err := report.WriteJSON(&got, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", "scan-org-seed7.json.gz")
	if *update {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(got.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	zf, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (go test ./scanner -run TestScanReportGolden -update creates it)", err)
	}
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		g, w := got.Bytes(), want
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		lo := max(0, i-200)
		t.Errorf("the report differs from %s at byte %d of %d (want %d bytes):\ngot  …%s…\nwant …%s…",
			path, i, len(g), len(w), g[lo:min(len(g), i+200)], w[lo:min(len(w), i+200)])
	}
}
