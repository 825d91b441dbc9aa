package main

// A rollout against moto_server, an AWS implementation nobody here wrote:
// two waves, the second instance's MetadataNoTokenRejected put into moto's
// CloudWatch (read over the JSON protocol, which moto speaks), so wave 2's
// bake sees breakage and rolls it back. The rollout runs on the test clock;
// moto only stores and answers.

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

func TestApplyMotoBreakageRollsBack(t *testing.T) {
	url := startMoto(t, "the moto rollout test")
	const key, region = "AKIAMOTOROLLOUT00001", "us-east-1"
	for _, kv := range simtest.Env(url, key, region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg := simtest.Config(url, key, region)
	ec := ec2.NewFromConfig(cfg)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("moto GetCallerIdentity: %v", err)
	}
	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2), InstanceType: types.InstanceTypeT3Micro,
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateOptional, HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: types.InstanceMetadataEndpointStateEnabled},
	})
	if err != nil {
		t.Fatalf("moto RunInstances: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rep := &report.Report{SchemaVersion: report.SchemaVersion, Tool: report.Tool{Name: "imdsfleet", Version: "test"}, GeneratedAt: now,
		Window: remWindow(now), ScanOptions: remRules.ScanOptions(),
		Targets: []report.Target{{Account: aws.ToString(id.Account), Region: region, Status: report.TargetOK}}}
	var ids []string
	for _, in := range run.Instances {
		mo := in.MetadataOptions
		ids = append(ids, aws.ToString(in.InstanceId))
		rep.Instances = append(rep.Instances, report.Instance{Account: aws.ToString(id.Account), Region: region, InstanceID: aws.ToString(in.InstanceId), State: "running",
			MetadataOptions: report.MetadataOptions{HttpTokens: string(mo.HttpTokens), HttpEndpoint: string(mo.HttpEndpoint),
				HttpPutResponseHopLimit: aws.ToInt32(mo.HttpPutResponseHopLimit), HttpProtocolIpv6: string(mo.HttpProtocolIpv6),
				InstanceMetadataTags: string(mo.InstanceMetadataTags), State: string(mo.State)},
			Usage: report.Usage{Status: report.UsageComplete, Datapoints: 14}, Classification: report.ClassReady})
	}
	report.Normalize(rep)
	dir := t.TempDir()
	reportPath, plan, journal := filepath.Join(dir, "scan.json"), filepath.Join(dir, "plan.json"), filepath.Join(dir, "rollout.jsonl")
	if err := report.WriteFile(reportPath, "json", rep); err != nil {
		t.Fatal(err)
	}
	first, second := rep.Instances[0].InstanceID, rep.Instances[1].InstanceID
	clock := &testClock{Clock: simtest.NewClock(now)}
	cli := func(args ...string) int {
		t.Helper()
		var out, errb strings.Builder
		code := runClock(ctx, append(args, remFast...), &streams{In: strings.NewReader(""), Out: &out, Err: &errb}, clock)
		t.Logf("imdsfleet %s → exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errb.String())
		return code
	}
	// moto applies even a DryRun change, so the plan is not written by
	// remediate (whose --plan-out run ends with a dry run) but the way it
	// writes one.
	p, err := remediate.BuildPlan(rep, remediate.PlanOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(reportPath)
	p.Describe(reportPath, data, rep.GeneratedAt, nil)
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteOutput(plan, func(w io.Writer) error { return remediate.WritePlanJSON(w, p) }); err != nil {
		t.Fatal(err)
	}
	// The second instance's caller shows up 20 minutes into wave 2 (wave 1
	// bakes the first hour). moto publishes nothing for its instances, and
	// a bake that sees no datapoint of an instance holds the rollout: the
	// first instance gets a clean one (0 rejected calls) in wave 1's bake.
	cwc := awsconfig.CloudWatch(cfg, region, awsconfig.ProtocolJSON)
	datum := func(instance string, at time.Duration, v float64) cwtypes.MetricDatum {
		return cwtypes.MetricDatum{MetricName: aws.String("MetadataNoTokenRejected"), Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(instance)}},
			Timestamp: aws.Time(now.Add(at)), Value: aws.Float64(v), Unit: cwtypes.StandardUnitCount}
	}
	if _, err := cwc.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: []cwtypes.MetricDatum{
		datum(first, 30*time.Minute, 0), datum(second, time.Hour+20*time.Minute, 7),
	}}, func(o *cloudwatch.Options) { o.DisableRequestCompression = true }); err != nil {
		t.Fatalf("moto PutMetricData: %v", err)
	}
	if code := cli("apply", plan, "--waves", "1,100%", "--journal", journal, "--cloudwatch-protocol", "json", "--live", "--yes"); code != exitBreakage {
		t.Fatalf("apply: exit %d, want %d", code, exitBreakage)
	}
	desc, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range desc.Reservations {
		for _, in := range res.Instances {
			want := types.HttpTokensStateRequired
			if aws.ToString(in.InstanceId) == second {
				want = types.HttpTokensStateOptional
			}
			if in.MetadataOptions.HttpTokens != want {
				t.Errorf("%s: HttpTokens %s, want %s", aws.ToString(in.InstanceId), in.MetadataOptions.HttpTokens, want)
			}
		}
	}
	st, _, err := remediate.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	w := st.Rollout.Stopped()
	if w == nil || w.N != 2 || len(w.Breaking) != 1 || w.Breaking[0].InstanceID != second || w.Breaking[0].RejectedCalls != 7 {
		t.Fatalf("journal: stopped %+v (first %s)", w, first)
	}
}
