package fleet_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// BenchmarkSynthetic100k generates the 100,000-instance fleet of the scan
// benchmark.
func BenchmarkSynthetic100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 100_000, Regions: 16, Seed: 1})
		if len(f.Accounts) != 1 {
			b.Fatal("no account")
		}
	}
}

// BenchmarkLoad100k parses and validates a 100,000-instance fleet file.
func BenchmarkLoad100k(b *testing.B) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 100_000, Regions: 16, Seed: 1})
	data, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		got, err := fleet.Load(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if n := len(got.Accounts[0].Regions); n != 16 {
			b.Fatalf("%d Regions", n)
		}
	}
	b.ReportMetric(float64(len(data))/(1<<20), "file-MB")
}
