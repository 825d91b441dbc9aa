package scanner_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"bytes"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"slices"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/policy"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
	"github.com/imdsfleet/imdsfleet/scanner"
)

// packedHostileFleet is a small organization with everything a packed
// scan must carry as the unpacked one does: hostile tags (ANSI, newlines,
// bidi, U+2028, invalid UTF-8, formulas, </script>, keys differing only by
// case, a 64 KB value), a target whose EC2 calls fail, one whose
// launch-source reads are denied, an account whose role cannot be
// assumed, a Region with no instances next to busy ones, terminated
// instances, owner and group-by tags, and accounts in no unit of the walk.
func packedHostileFleet() *fleet.Fleet {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 400, Accounts: 8, Regions: 3, Seed: 11})
	c := clock
	f.Clock = &c
	// An OU deleted while the walk reads it: its accounts are unplaced.
	for i := range f.Organization.OUs {
		if f.Organization.OUs[i].ID == fleet.SyntheticOU(2) {
			f.Organization.OUs[i].DeletedDuringWalk = true
		}
	}
	hostile := []string{
		"\x1b[31mred\x1b[0m\nsecond line\r\x07",
		"\u202eevil\u202c \u2028sep\u2029 \u200b",
		"=HYPERLINK(\"http://x\")",
		"</script><script>alert(1)</script>&<>",
		"bad \xff\xfe utf8 \xc3",
		"@SUM(1)\t-2+3",
		strings.Repeat("long ", 64<<10/5), // 10 MB: see TestScanPackedHugeTag
	}
	n := 0
	for a := range f.Accounts {
		for r := range f.Accounts[a].Regions {
			reg := &f.Accounts[a].Regions[r]
			for i := range reg.Instances {
				in := &reg.Instances[i]
				if in.Tags == nil {
					in.Tags = map[string]string{}
				}
				if i%5 == 0 {
					in.Tags["app"] = fmt.Sprintf("app-%d", i%3)
				}
				if i%7 == 0 {
					in.Tags["Team"] = "Upper"
					in.Tags["team"] = "lower"
				}
				if i%11 == 0 && n < len(hostile) {
					in.Tags["Name"] = hostile[n]
					in.Tags["app"] = hostile[n]
					in.Tags["owner"] = hostile[(n+1)%len(hostile)]
					n++
				}
			}
		}
	}
	if n < len(hostile) {
		panic("the fleet is too small for every hostile tag")
	}
	knobs := func(a, r int) *fleet.Knobs {
		reg := &f.Accounts[a].Regions[r]
		if reg.Knobs == nil {
			reg.Knobs = &fleet.Knobs{}
		}
		return reg.Knobs
	}
	knobs(1, 1).AuthFailure = true                             // a failed target (not in the home Region, whose DescribeRegions would fail)
	knobs(2, 1).DenyAPIs = []string{"DescribeImages"}          // a failed launch-source read
	knobs(3, 0).AutoScalingDenied = true                       // another
	f.Accounts[3].Regions[2].Instances = nil                   // a Region with no instances
	f.Accounts[5].DenyAssumeRole = true                        // an account not reached
	f.Accounts[6].Regions[1].Instances[0].State = "terminated" // counted, not reported
	return f
}

// TestScanPackedHugeTag: an instance named by a 10 MB tag value, packed
// and unpacked, in every format.
func TestScanPackedHugeTag(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 6, Accounts: 1, Regions: 1, Seed: 3})
	c := clock
	f.Clock = &c
	f.Accounts[0].Regions[0].Instances[0].Tags["Name"] = "\x1b[2J" + strings.Repeat("x", 10<<20) + "\n=1+1"
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	o := scanner.Options{Now: srv.Now}
	r, err := scanner.Scan(t.Context(), clients, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Pack = true
	p, err := scanner.Scan(t.Context(), clients, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(r.Instances, func(in report.Instance) bool { return len(in.Name) > 10<<20 }) {
		t.Fatal("no instance has the 10 MB name")
	}
	for _, format := range report.Formats() {
		var a, b bytes.Buffer
		if err := report.Write(&a, format, r, report.TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := report.Write(&b, format, p, report.TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: the packed report differs from the unpacked one at byte %d", format, firstDiff(a.Bytes(), b.Bytes()))
		}
	}
}

// TestScanPackedMatchesUnpacked scans packedHostileFleet packed
// (Options.Pack, what `imdsfleet scan` does when every output is JSON or
// CSV) and unpacked, with several option sets, and requires every format
// to be byte for byte the same, and --fail-on to match the same instances.
func TestScanPackedMatchesUnpacked(t *testing.T) {
	f := packedHostileFleet()
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	base := scanner.Options{Org: &scanner.OrgOptions{}, RoleName: "ImdsfleetAudit", Now: srv.Now,
		Tool: report.Tool{Name: "imdsfleet", Version: "packed"}}
	for _, tc := range []struct {
		name string
		mod  func(o *scanner.Options)
	}{
		{"defaults", func(o *scanner.Options) {}},
		{"group-by-owner-tag", func(o *scanner.Options) {
			o.GroupBy = []string{"app", "Team"}
			o.OwnerTags = []string{"team", "Team", "owner"}
		}},
		{"no-launch-sources", func(o *scanner.Options) { o.NoLaunchSources = true }},
		// Named twice (a library caller's Options): one target each.
		{"regions", func(o *scanner.Options) { o.Regions = []string{"eu-west-1", "us-east-1", "eu-west-1"} }},
		{"shard-1-of-2", func(o *scanner.Options) { o.Shard = report.Shard{Index: 1, Count: 2} }},
		{"shard-2-of-2", func(o *scanner.Options) { o.Shard = report.Shard{Index: 2, Count: 2} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			r, err := scanner.Scan(t.Context(), clients, o)
			if err != nil {
				t.Fatal(err)
			}
			o.Pack = true
			p, err := scanner.Scan(t.Context(), clients, o)
			if err != nil {
				t.Fatal(err)
			}
			if !p.IsPacked() || p.InstanceCount() != len(r.Instances) {
				t.Fatalf("packed %v with %d instances, want packed with %d", p.IsPacked(), p.InstanceCount(), len(r.Instances))
			}
			if tc.name == "defaults" {
				checkPackedFleetCovers(t, r)
			}
			seen := map[string]bool{}
			for _, tg := range r.Targets {
				if k := tg.Account + "/" + tg.Region; seen[k] {
					t.Fatalf("target %s is in the report twice", k)
				} else {
					seen[k] = true
				}
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
					i := firstDiff(a.Bytes(), b.Bytes())
					t.Errorf("%s: the packed report differs from the unpacked one at byte %d:\npacked   …%q…\nunpacked …%q…", format, i,
						b.Bytes()[max(0, i-80):min(b.Len(), i+80)], a.Bytes()[max(0, i-80):min(a.Len(), i+80)])
				}
			}
			for _, s := range policy.FailOnValues {
				fo, err := policy.ParseFailOn(s)
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for i := range r.Instances {
					if fo.Match(&r.Instances[i]) {
						want++
					}
				}
				got := 0
				if err := p.EachInstance(func(in *report.Instance) error {
					if fo.Match(in) {
						got++
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("--fail-on %s: %d packed instances match, %d unpacked", s, got, want)
				}
			}
		})
	}
}

// checkPackedFleetCovers fails when the fleet lost a case the comparison
// is meant to cover.
func checkPackedFleetCovers(t *testing.T, r *report.Report) {
	t.Helper()
	var failed, launchErr, empty, terminated, allRegions int
	for _, tg := range r.Targets {
		switch {
		case tg.Status == report.TargetError && tg.Region == scanner.RegionsAll:
			allRegions++
		case tg.Status == report.TargetError:
			failed++
		case tg.Status == report.TargetOK && tg.Instances == 0:
			empty++
		}
		if len(tg.LaunchErrors) > 0 {
			launchErr++
		}
		terminated += tg.Terminated
	}
	hostile := 0
	for _, in := range r.Instances {
		if strings.ContainsAny(in.Name, "\x1b\u202e</=@") || len(in.Name) > 60<<10 || strings.Contains(in.Name, "\ufffd") {
			hostile++
		}
	}
	if failed == 0 || launchErr < 2 || empty == 0 || terminated == 0 || allRegions == 0 || hostile < 6 ||
		r.Organization == nil || len(r.Organization.Unplaced) == 0 || len(r.Workloads) == 0 || len(r.LaunchSources) == 0 {
		t.Fatalf("the fleet lost a case: %d failed targets, %d with launch errors, %d empty, %d terminated, %d accounts not reached, %d hostile names, organization %+v, %d workloads, %d launch sources",
			failed, launchErr, empty, terminated, allRegions, hostile, r.Organization, len(r.Workloads), len(r.LaunchSources))
	}
}

// invalidUTF8Clients hands out EC2 clients whose DescribeInstances answers
// carry tags that are not valid UTF-8, as a Clients of a library caller
// may (the SDK's XML decoder refuses such bytes from AWS).
type invalidUTF8Clients struct{ scanner.Clients }

func (c invalidUTF8Clients) EC2(t scanner.Target) scanner.EC2API {
	return invalidUTF8EC2{c.Clients.EC2(t)}
}

type invalidUTF8EC2 struct{ scanner.EC2API }

func (c invalidUTF8EC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	out, err := c.EC2API.DescribeInstances(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	for i := range out.Reservations {
		for j := range out.Reservations[i].Instances {
			x := &out.Reservations[i].Instances[j]
			x.Tags = append(x.Tags,
				ec2types.Tag{Key: aws.String("Name"), Value: aws.String("web \xff\xfe-1 \xc3")},
				ec2types.Tag{Key: aws.String("team\xff"), Value: aws.String("=\xe2\x82 pay")},
				ec2types.Tag{Key: aws.String("app"), Value: aws.String("a\x80pp")})
		}
	}
	return out, nil
}

// TestScanPackedInvalidUTF8 scans tags that are not valid UTF-8 packed and
// unpacked: the JSON report writes each such byte as U+FFFD, and every
// other format of either scan must show what the JSON holds (the report
// file is the record), not the raw bytes.
func TestScanPackedInvalidUTF8(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 20, Accounts: 1, Regions: 1, Seed: 3})
	c := clock
	f.Clock = &c
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := invalidUTF8Clients{scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))}
	o := scanner.Options{Now: srv.Now, GroupBy: []string{"app"}, OwnerTags: []string{"team\ufffd"}}
	r, err := scanner.Scan(t.Context(), clients, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Pack = true
	p, err := scanner.Scan(t.Context(), clients, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(r.Workloads, func(w report.Workload) bool { return strings.Contains(w.Owner, "\ufffd") }) {
		t.Fatalf("no workload has an owner from the invalid tag: %d workloads", len(r.Workloads))
	}
	for _, format := range report.Formats() {
		var a, b bytes.Buffer
		if err := report.Write(&a, format, r, report.TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := report.Write(&b, format, p, report.TableOptions{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			i := firstDiff(a.Bytes(), b.Bytes())
			t.Errorf("%s: the packed report differs from the unpacked one at byte %d:\npacked   …%q…\nunpacked …%q…", format, i,
				b.Bytes()[max(0, i-60):min(b.Len(), i+60)], a.Bytes()[max(0, i-60):min(a.Len(), i+60)])
		}
		if format == report.FormatCSV && !strings.Contains(a.String(), "web \ufffd\ufffd-1 \ufffd") {
			t.Errorf("csv: the name is not written as the JSON report holds it (each invalid byte U+FFFD):\n%s", a.String())
		}
	}
}

// TestScanLaunchErrorsOrder: the reads of one launch-source stage run at
// once; two that fail must be listed in the same order by every target
// and every scan, or two scans of one fleet (a packed and an unpacked one,
// or last week's and this week's) differ where nothing changed.
func TestScanLaunchErrorsOrder(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 40, Accounts: 1, Regions: 12, Seed: 5})
	c := clock
	f.Clock = &c
	for i := range f.Accounts[0].Regions {
		f.Accounts[0].Regions[i].Knobs = &fleet.Knobs{AutoScalingDenied: true}
	}
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	var first []string
	for range 3 {
		r, err := scanner.Scan(t.Context(), clients, scanner.Options{Now: srv.Now})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range r.Targets {
			var reads []string
			for _, e := range tg.LaunchErrors {
				reads = append(reads, e.Read)
			}
			if len(reads) < 2 {
				t.Fatalf("%s/%s: launch errors %v, want the two Auto Scaling reads", tg.Account, tg.Region, reads)
			}
			if first == nil {
				first = reads
			}
			if !slices.Equal(reads, first) {
				t.Fatalf("%s/%s lists its failed launch-source reads as %v, another target as %v", tg.Account, tg.Region, reads, first)
			}
		}
	}
}

// TestScanInterruptedQuiet interrupts an organization's scan at its third
// DescribeInstances call (counted on the server): the scan returns the
// interruption, and the targets it cut short log no warning each (an
// organization has thousands; no report is written for them anyway).
func TestScanInterruptedQuiet(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 200, Accounts: 10, Regions: 3, Seed: 7})
	c := clock
	f.Clock = &c
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	calls := 0
	srv, url := simtest.StartWith(t, f, sim.Options{Seed: 1}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte("Action=DescribeInstances&")) {
				mu.Lock()
				calls++
				if calls == 3 {
					cancel()
				}
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	_, err := scanner.Scan(ctx, clients, scanner.Options{Org: &scanner.OrgOptions{}, RoleName: "ImdsfleetAudit",
		Now: srv.Now, Pack: true, Concurrency: 4, Logger: log})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Scan: %v, want the interruption", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "target failed"); n > 0 {
		t.Errorf("the interrupted scan logged %d \"target failed\" warnings:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestScanLargeRegionStable scans one Region large enough to be listed in
// parts at once (its instances then arrive in no fixed order) four times,
// packed and unpacked by turns: the JSON and CSV must come out byte for
// byte the same (the other formats are drawn from the same values; their
// packed and unpacked bytes are compared in TestScanPackedMatchesUnpacked), so the workloads' next launches cannot hang on the order the
// instances came in.
func TestScanLargeRegionStable(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 8000, Accounts: 1, Regions: 1, Seed: 9})
	c := clock
	f.Clock = &c
	srv, url := simtest.Start(t, f, sim.Options{Seed: 1})
	cfg := simtest.Config(url, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1")
	clients := scanner.NewAWSClients(awsconfig.NewClients(cfg, "", awsconfig.ProtocolCBOR))
	first := map[string][]byte{}
	for i := range 4 {
		r, err := scanner.Scan(t.Context(), clients, scanner.Options{Now: srv.Now, Pack: i%2 == 1})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(r.Instances) <= 2*int(scanner.PageSize) {
			t.Fatalf("%d instances: not a Region listed in parts", len(r.Instances))
		}
		for _, format := range []string{report.FormatJSON, report.FormatCSV} {
			var b bytes.Buffer
			if err := report.Write(&b, format, r, report.TableOptions{}); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first[format] = b.Bytes()
				continue
			}
			if a := first[format]; !bytes.Equal(a, b.Bytes()) {
				j := firstDiff(a, b.Bytes())
				t.Fatalf("scan %d (packed %v): its %s differs from the first scan's at byte %d:\n…%s…\nfirst:\n…%s…", i, i%2 == 1, format, j,
					b.Bytes()[max(0, j-300):min(b.Len(), j+100)], a[max(0, j-300):min(len(a), j+100)])
			}
		}
	}
}
