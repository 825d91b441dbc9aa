package remediate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// BenchmarkRemediateRate measures live changes per second in one Region
// against the configured rate, on a simulated Region with AWS's
// ModifyInstanceMetadataOptions bucket (100 tokens, 5/s refill) time-scaled
// by benchTimeScale, so the configured rate is 5 × benchTimeScale per
// second (the equivalent of the default --rate 5 on AWS). Each iteration
// changes every instance of a fresh fleet, journaled and verified, and
// fails if any change is lost.
//
// Metrics: changes/s (achieved), configured/s (--rate, time-scaled),
// rate-ratio (achieved ÷ the bucket's refill rate: 1.0 means the Region's
// refill rate is fully used, the most any tool gets after the first 100), aws-equiv/s
// (the achieved rate scaled back to AWS time), lost (always 0), throttled.
//
// Sub-benchmarks: "rate=refill" runs at the refill rate (the default);
// "rate=4x-refill" asks for four times the refill rate, so the bucket runs
// dry and throttling must be absorbed by retries without losing a change.
func BenchmarkRemediateRate(b *testing.B) {
	const benchTimeScale = 20
	refill := 5.0 * benchTimeScale
	b.Run("rate=refill", func(b *testing.B) { benchRemediate(b, benchTimeScale, refill, refill) })
	b.Run("rate=4x-refill", func(b *testing.B) { benchRemediate(b, benchTimeScale, 4*refill, refill) })
}

func benchRemediate(b *testing.B, benchTimeScale, configured, refill float64) {
	const (
		instances = 1000
		region    = "us-east-1"
		account   = "111111111111"
		key       = "AKIABENCHREMEDIATE01"
	)
	var changes, throttled, lost int
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		on := true
		f := &fleet.Fleet{
			Knobs:    fleet.Knobs{Throttle: &on, TimeScale: benchTimeScale, Latency: &fleet.Latency{Fixed: fleet.Duration(5 * time.Millisecond)}},
			Accounts: []fleet.Account{{ID: account, AccessKeyIDs: []string{key}, Regions: []fleet.Region{{Name: region}}}},
		}
		var tasks []remediate.Task
		for n := range instances {
			id := fmt.Sprintf("i-%017x", n+1)
			f.Accounts[0].Regions[0].Instances = append(f.Accounts[0].Regions[0].Instances, fleet.Instance{ID: id, State: "running"})
			tasks = append(tasks, remediate.Task{Op: remediate.OpRemediate, Account: account, Region: region, InstanceID: id,
				Action: remediate.ActionEnforce, Change: remediate.Change{HttpTokens: "required"},
				Expect: report.MetadataOptions{HttpTokens: "optional"}, ExpectReason: remediate.SkipDrift})
		}
		srv, url := simtest.Start(b, f, sim.Options{Seed: int64(i)})
		cfg := simtest.Config(url, key, region)
		// The production retry policy (many attempts, adaptive rate), as
		// the remediate command configures it.
		cfg.Retryer = func() aws.Retryer { return awsconfig.NewRetryer(30, 200*time.Millisecond) }
		clients := remediate.ClientsFunc(func(_, _ string) (remediate.EC2API, error) {
			return ec2Client(cfg), nil
		})
		j, _, _, err := remediate.OpenJournal(filepath.Join(b.TempDir(), "j.jsonl"), remediate.JournalOptions{RunID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		out, err := remediate.Execute(context.Background(), clients, tasks, remediate.RunOptions{
			Live: true, Rate: configured, Journal: j, PollInterval: 50 * time.Millisecond, WaitTimeout: time.Minute,
		})
		elapsed += time.Since(start)
		b.StopTimer()
		j.Close()
		if err != nil {
			b.Fatal(err)
		}
		changes += out.Summary.Changed
		for _, t := range tasks {
			if in, ok := srv.Instance(account, region, t.InstanceID); !ok || in.MetadataOptions.HttpTokens != "required" {
				lost++
			}
		}
		throttled += sim.Total(srv.Stats().Throttled)
	}
	if lost > 0 {
		b.Fatalf("%d changes lost", lost)
	}
	rate := float64(changes) / elapsed.Seconds()
	b.ReportMetric(rate, "changes/s")
	b.ReportMetric(configured, "configured/s")
	b.ReportMetric(rate/refill, "rate-ratio")
	b.ReportMetric(rate/benchTimeScale, "aws-equiv/s")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(throttled)/float64(b.N), "throttled/op")
}

func ec2Client(cfg aws.Config) *ec2.Client {
	return awsconfig.EC2(cfg, cfg.Region)
}
