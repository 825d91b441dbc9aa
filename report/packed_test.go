package report

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestPackManyRuns packs a part whose instances span several compressed
// runs (packRun each) and joins it after a small one: the JSON and CSV of
// the packed report are those of the unpacked one, and EachInstance and
// Unpack give back every instance in order.
func TestPackManyRuns(t *testing.T) {
	mk := func(account string, n int) *Report {
		r := &Report{Targets: []Target{{Account: account, Region: "us-east-1", Status: TargetOK}}}
		for i := range n {
			r.Instances = append(r.Instances, Instance{Account: account, Region: "us-east-1", InstanceID: fmt.Sprintf("i-%017d", i),
				Name: fmt.Sprintf("web-%d\x1b[31m", i), State: "running", LaunchTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				Tags: map[string]string{"Name": fmt.Sprintf("web-%d", i), "team": "=cmd|' /C calc'!A0"}, Classification: ClassReady})
		}
		Normalize(r)
		return r
	}
	small, large := mk("111111111111", 3), mk("222222222222", 2*packRun+5)
	whole := &Report{Targets: append(append([]Target{}, small.Targets...), large.Targets...),
		Instances: append(append([]Instance{}, small.Instances...), large.Instances...)}
	Normalize(whole)

	packed := &Report{Targets: append([]Target{}, whole.Targets...)}
	all := &Packed{}
	for _, part := range []*Report{small, large} {
		p, err := Pack(part)
		if err != nil {
			t.Fatal(err)
		}
		all.Join(p)
	}
	if got := len(all.segs[packedInstances]); got != 4 {
		t.Fatalf("%d compressed runs of instances, want 4 (1 + 3)", got)
	}
	packed.SetPacked(all)
	Normalize(packed)
	for _, format := range []string{FormatJSON, FormatCSV, FormatMarkdown} {
		var a, b bytes.Buffer
		if err := Write(&a, format, whole, TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := Write(&b, format, packed, TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: packed and unpacked differ (%d and %d bytes)", format, b.Len(), a.Len())
		}
	}
	n := 0
	if err := packed.EachInstance(func(in *Instance) error {
		if in.InstanceID != whole.Instances[n].InstanceID {
			return fmt.Errorf("instance %d is %s, want %s", n, in.InstanceID, whole.Instances[n].InstanceID)
		}
		n++
		return nil
	}); err != nil || n != len(whole.Instances) || packed.InstanceCount() != n {
		t.Fatalf("EachInstance: %d of %d (count %d): %v", n, len(whole.Instances), packed.InstanceCount(), err)
	}
	if err := packed.Unpack(); err != nil || len(packed.Instances) != len(whole.Instances) || packed.IsPacked() {
		t.Fatalf("Unpack: %d instances, packed %v: %v", len(packed.Instances), packed.IsPacked(), err)
	}
}
