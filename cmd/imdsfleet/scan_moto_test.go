package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
)

// TestScanCommandMoto runs the scan against moto, an independent AWS
// implementation: instances made with RunInstances (one then switched to
// required), MetadataNoToken points put with PutMetricData over the JSON
// protocol, and the scan reading them back with --cloudwatch-protocol json.
func TestScanCommandMoto(t *testing.T) {
	url := startMoto(t, "the scan-against-moto test")
	const key, region = "AKIAMOTOSCAN00000001", "us-east-1"
	for _, kv := range simtest.Env(url, key, region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	ctx := context.Background()
	cfg := simtest.Config(url, key, region)
	ec := awsconfig.EC2(cfg, region)
	out, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(5), MaxCount: aws.Int32(5), InstanceType: ec2types.InstanceTypeT3Micro,
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpTokens: ec2types.HttpTokensStateOptional, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled, HttpPutResponseHopLimit: aws.Int32(2),
		},
	})
	if err != nil {
		t.Fatalf("moto RunInstances: %v", err)
	}
	if len(out.Instances) != 5 {
		t.Fatalf("moto launched %d instances, want 5", len(out.Instances))
	}
	id := func(i int) string { return aws.ToString(out.Instances[i].InstanceId) }
	v1, ready, fewDays, enforced, silent := id(0), id(1), id(2), id(3), id(4)
	// moto drops the fields a call leaves out: send them all.
	if _, err := ec.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{
		InstanceId: aws.String(enforced), HttpTokens: ec2types.HttpTokensStateRequired,
		HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled, HttpPutResponseHopLimit: aws.Int32(2),
	}); err != nil {
		t.Fatalf("moto ModifyInstanceMetadataOptions: %v", err)
	}

	cwc := awsconfig.CloudWatch(cfg, region, awsconfig.ProtocolJSON)
	now := time.Now().UTC()
	// One point per day at the same time of day, k days back: each falls in
	// its own UTC day, all inside the 14-day window.
	put := func(instance string, days []int, value float64) {
		t.Helper()
		var data []cwtypes.MetricDatum
		for _, k := range days {
			data = append(data, cwtypes.MetricDatum{
				MetricName: aws.String("MetadataNoToken"),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(instance)}},
				Timestamp:  aws.Time(now.Add(-time.Duration(k) * 24 * time.Hour)),
				Value:      aws.Float64(value),
				Unit:       cwtypes.StandardUnitCount,
			})
		}
		_, err := cwc.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: data},
			func(o *cloudwatch.Options) { o.DisableRequestCompression = true })
		if err != nil {
			t.Fatalf("moto PutMetricData: %v", err)
		}
	}
	put(v1, []int{1, 2, 3, 4, 5, 6, 7, 8}, 0)
	put(v1, []int{2}, 0) // a second point on one day still counts once
	put(v1, []int{3}, 7)
	put(ready, []int{1, 2, 3, 4, 5, 6, 7, 8}, 0)
	put(fewDays, []int{1, 2, 3}, 0)

	// The launch sources are TestScanLaunchSourcesMoto's: moto lacks
	// GetInstanceMetadataDefaults, whose retried 500s would only slow this
	// usage test down.
	res := scanCLI(t, false, "scan", "--regions", region, "--endpoint-url", url, "--cloudwatch-protocol", "json", "--format", "json", "--no-launch-sources")
	if res.code != exitOK {
		t.Fatalf("exit %d\nstderr: %s", res.code, res.err)
	}
	r := readReport(t, []byte(res.out))
	want := map[string]string{
		v1: report.ClassV1InUse, ready: report.ClassReady, fewDays: report.ClassNoData,
		enforced: report.ClassEnforced, silent: report.ClassNoData,
	}
	got := map[string]*report.Instance{}
	for i := range r.Instances {
		got[r.Instances[i].InstanceID] = &r.Instances[i]
	}
	for id, class := range want {
		in := got[id]
		if in == nil {
			t.Errorf("%s: not in the report", id)
			continue
		}
		if in.Classification != class {
			t.Errorf("%s: classification %q, want %q (usage %+v)", id, in.Classification, class, in.Usage)
		}
	}
	if in := got[v1]; in != nil && (in.Usage.NoTokenCalls != 7 || in.Usage.DaysWithCalls != 1 || in.Usage.Datapoints != 8) {
		t.Errorf("v1 instance usage %+v, want 7 calls on 1 day, 8 days observed", in.Usage)
	}
	if in := got[ready]; in != nil && in.Usage.Datapoints != 8 {
		t.Errorf("ready instance observed on %d days, want 8", in.Usage.Datapoints)
	}
	if in := got[enforced]; in != nil && in.MetadataOptions.HttpTokens != "required" {
		t.Errorf("enforced instance options %+v", in.MetadataOptions)
	}
}
