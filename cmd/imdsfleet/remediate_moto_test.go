package main

// A live remediation against moto_server: an AWS implementation nobody here
// wrote. moto ignores DryRun on ModifyInstanceMetadataOptions (it would
// apply the change), so only the live path is tested here.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
)

func TestRemediateMotoLive(t *testing.T) {
	url := startMoto(t, "the moto remediation test")
	const key, region = "AKIAMOTOREMEDIATE001", "us-east-1"
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
	out, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(4), MaxCount: aws.Int32(4), InstanceType: types.InstanceTypeT3Micro,
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateOptional, HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: types.InstanceMetadataEndpointStateEnabled},
	})
	if err != nil {
		t.Fatalf("moto RunInstances: %v", err)
	}
	// Classify them as a scan would have: two ready, one v1-in-use, one exempt.
	classes := []string{report.ClassReady, report.ClassReady, report.ClassV1InUse, report.ClassReady}
	now := time.Now().UTC().Truncate(time.Second)
	rep := &report.Report{SchemaVersion: report.SchemaVersion, Tool: report.Tool{Name: "imdsfleet", Version: "test"}, GeneratedAt: now,
		Window: remWindow(now), ScanOptions: remRules.ScanOptions(),
		Targets: []report.Target{{Account: aws.ToString(id.Account), Region: region, Status: report.TargetOK}}}
	want := map[string]bool{}
	for i, in := range out.Instances {
		mo := in.MetadataOptions
		ri := report.Instance{Account: aws.ToString(id.Account), Region: region, InstanceID: aws.ToString(in.InstanceId), State: "running",
			MetadataOptions: report.MetadataOptions{HttpTokens: string(mo.HttpTokens), HttpEndpoint: string(mo.HttpEndpoint),
				HttpPutResponseHopLimit: aws.ToInt32(mo.HttpPutResponseHopLimit), HttpProtocolIpv6: string(mo.HttpProtocolIpv6),
				InstanceMetadataTags: string(mo.InstanceMetadataTags), State: string(mo.State)},
			Usage: report.Usage{Status: report.UsageComplete, Datapoints: 14}, Classification: classes[i]}
		if classes[i] == report.ClassV1InUse {
			// The evidence a scan would have seen: remediate checks it.
			ri.Usage.NoTokenCalls, ri.Usage.DaysWithCalls = 30, 2
		}
		if i == 3 {
			ri.Tags = map[string]string{"imdsfleet:exempt": "yes"}
		}
		want[ri.InstanceID] = classes[i] == report.ClassReady && i != 3
		rep.Instances = append(rep.Instances, ri)
	}
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "scan.json")
	report.Normalize(rep)
	if err := report.WriteFile(reportPath, "json", rep); err != nil {
		t.Fatal(err)
	}

	r := remCLI(t, ctx, "", false, remArgs("remediate", "--report", reportPath, "--live", "--yes", "--journal", filepath.Join(dir, "fix.jsonl"))...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	// moto drops the fields a call leaves out (real AWS keeps them), so
	// only HttpTokens is compared: required exactly on the planned ones.
	desc, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, res := range desc.Reservations {
		for _, in := range res.Instances {
			id := aws.ToString(in.InstanceId)
			planned, ok := want[id]
			if !ok {
				continue
			}
			seen++
			got := in.MetadataOptions.HttpTokens == types.HttpTokensStateRequired
			if got != planned {
				t.Errorf("%s: HttpTokens %s, planned change %v", id, in.MetadataOptions.HttpTokens, planned)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("moto shows %d of the %d instances", seen, len(want))
	}
}
