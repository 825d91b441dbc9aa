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
//
// The scan that packs its lists (Options.Pack, what `imdsfleet scan` does
// for JSON and CSV outputs) must write the same bytes, in every format.
func TestScanReportGolden(t *testing.T) {
	r := scanGolden(t, false)
	if len(r.SkippedAccounts) == 0 || len(r.LaunchSources) == 0 || len(r.Workloads) == 0 || len(r.Instances) < 500 {
		t.Fatalf("the fleet lost what the golden file covers: %d skipped accounts, %d launch sources, %d workloads, %d instances",
			len(r.SkippedAccounts), len(r.LaunchSources), len(r.Workloads), len(r.Instances))
	}
	var got bytes.Buffer
	if err := report.WriteJSON(&got, r); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, got.Bytes())

	p := scanGolden(t, true)
	if !p.IsPacked() || len(p.Instances) != 0 || p.InstanceCount() != len(r.Instances) {
		t.Fatalf("Options.Pack: packed %v, %d instances unpacked, %d counted; want packed, 0, %d", p.IsPacked(), len(p.Instances), p.InstanceCount(), len(r.Instances))
	}
	for _, format := range report.Formats() {
		var a, b bytes.Buffer
		if err := report.Write(&a, format, r, report.TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := report.Write(&b, format, p, report.TableOptions{}); err != nil {
			t.Fatalf("%s of the packed report: %v", format, err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("the packed report's %s differs from the unpacked one's at byte %d (%d and %d bytes)", format, firstDiff(a.Bytes(), b.Bytes()), b.Len(), a.Len())
		}
	}
	n := 0
	if err := p.EachInstance(func(in *report.Instance) error {
		if in.InstanceID != r.Instances[n].InstanceID || in.Classification != r.Instances[n].Classification {
			t.Fatalf("EachInstance %d: %s %s, want %s %s", n, in.InstanceID, in.Classification, r.Instances[n].InstanceID, r.Instances[n].Classification)
		}
		n++
		return nil
	}); err != nil || n != len(r.Instances) {
		t.Fatalf("EachInstance: %d instances, %v; want %d", n, err, len(r.Instances))
	}
	if err := p.Unpack(); err != nil {
		t.Fatal(err)
	}
	var u bytes.Buffer
	if err := report.WriteJSON(&u, p); err != nil {
		t.Fatal(err)
	}
	if p.IsPacked() || len(p.Instances) != len(r.Instances) || !bytes.Equal(u.Bytes(), got.Bytes()) {
		t.Errorf("Unpack: packed %v, %d instances, JSON differs at byte %d; want the unpacked scan's report", p.IsPacked(), len(p.Instances), firstDiff(u.Bytes(), got.Bytes()))
	}
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

func scanGolden(t *testing.T, pack bool) *report.Report {
	t.Helper()
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 600, Accounts: 100, Regions: 3, Seed: 7})
	c := clock
	f.Clock = &c
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	r, err := scanner.Scan(t.Context(), clients, scanner.Options{
		Org: &scanner.OrgOptions{}, RoleName: "ImdsfleetAudit", Now: srv.Now,
		Tool: report.Tool{Name: "imdsfleet", Version: "golden"}, Pack: pack,
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return r
}

func checkGolden(t *testing.T, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", "scan-org-seed7.json.gz")
	if *update {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(got)
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
	if !bytes.Equal(got, want) {
		g, w := got, want
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		lo := max(0, i-200)
		t.Errorf("the report differs from %s at byte %d of %d (want %d bytes):\ngot  …%s…\nwant …%s…",
			path, i, len(g), len(w), g[lo:min(len(g), i+200)], w[lo:min(len(w), i+200)])
	}
}
