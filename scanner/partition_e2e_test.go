package scanner_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/scanner"
	"github.com/imdsfleet/imdsfleet/scanner/scantest"
)

// TestPartitionedListing: a Region of 4,500 instances over four
// Availability Zones is listed by zone in parallel (its first page, one
// DescribeAvailabilityZones call, then each zone's pages and the part for
// any other zone), and every instance is reported exactly once. 400 more
// instances launch while the listing runs (the server's clock moves past
// their launch time after the third page it serves): each is reported at
// most once, and every instance that existed before the scan exactly once.
func TestPartitionedListing(t *testing.T) {
	e := scantest.New(clock)
	const region = "us-east-1"
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"}
	before := e.Instances(acctA, region, 4500)
	for i := range before {
		before[i].AvailabilityZone = zones[i%len(zones)]
	}
	later := scantest.New(clock).Instances(acctA, region, 400)
	launched := map[string]bool{}
	for i := range later {
		// Ids spread over the whole id space, so that some sort before
		// each part's cursor and some after.
		later[i].ID = fmt.Sprintf("i-%x%016x", i%16, 0xfeed0000+i)
		later[i].State = "running"
		later[i].LaunchTime = fleet.Abs(clock.Add(30 * time.Minute))
		later[i].AvailabilityZone = zones[(i/3)%len(zones)]
		launched[later[i].ID] = true
	}
	existing := map[string]bool{} // reported: not terminated or shutting down
	for _, in := range before {
		if in.State != "terminated" && in.State != "shutting-down" {
			existing[in.ID] = true
		}
	}
	for id := range launched {
		if existing[id] {
			t.Fatalf("test fleet: id %s twice", id)
		}
	}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: acctA, Regions: []fleet.Region{
		{Name: region, AvailabilityZones: zones, Instances: append(append([]fleet.Instance{}, before...), later...)},
	}}}}
	clk := simtest.NewClock(clock)
	var mu sync.Mutex
	pages := 0
	launchAfterThirdPage := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
			if bytes.Contains(body, []byte("Action=DescribeInstances")) {
				mu.Lock()
				pages++
				if pages == 3 {
					clk.Advance(time.Hour) // the later instances launch now
				}
				mu.Unlock()
			}
		})
	}
	srv, url := simtest.StartWith(t, f, sim.Options{Seed: 1, Now: clk.Now}, launchAfterThirdPage)
	cl := scanner.NewAWSClients(awsconfig.NewClients(simtest.Config(url, fleet.DefaultAccessKeyID(acctA), region), "", ""))
	r, err := scanner.Scan(context.Background(), cl, scanner.Options{Now: func() time.Time { return clock }, Regions: []string{region}, NoLaunchSources: true})
	if err != nil {
		t.Fatal(err)
	}
	if scanner.Incomplete(r) {
		t.Fatalf("targets failed: %+v", r.Targets)
	}
	seen := map[string]int{}
	for _, in := range r.Instances {
		seen[in.InstanceID]++
	}
	lost, twice, late := 0, 0, 0
	for id := range existing {
		if seen[id] != 1 {
			lost++
		}
	}
	for id, n := range seen {
		if n > 1 {
			twice++
		}
		if launched[id] {
			late++
		} else if !existing[id] {
			t.Errorf("instance %s is in no fleet", id)
		}
	}
	if lost > 0 || twice > 0 {
		t.Errorf("%d instances that existed before the scan are not reported exactly once; %d reported twice", lost, twice)
	}
	t.Logf("%d of %d instances launched during the scan were listed", late, len(launched))
	stats := srv.Stats()
	if n := stats.Calls["DescribeAvailabilityZones"][region]; n != 1 {
		t.Errorf("DescribeAvailabilityZones calls = %d, want 1 (the Region is listed by zone)", n)
	}
	// First page + 4 zones of about 1,200 (2 pages each) + the other part
	// (1 page): the zones' pages run in parallel, not 5 after another.
	if n := stats.Calls["DescribeInstances"][region]; n < 1+4+1 || n > 1+4*2+1 {
		t.Errorf("DescribeInstances calls = %d, want the first page, 1-2 pages per zone and one for the rest", n)
	}
}
