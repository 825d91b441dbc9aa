package sim_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// The CloudWatch end-to-end tests: the real cloudwatch client (and the AWS
// CLI where installed) against sim.Server over HTTP.

var cwNow = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const (
	cwDay     = 24 * time.Hour
	cwAccount = "123456789012"
)

// cwInstance i follows one of three histories (cwExpectedDaily knows them):
// i%3 == 0 runs all the time; i%3 == 1 ran [-14d,-10d) and from -5d on;
// i%3 == 2 is stopped without history. It makes i%7 v1 calls an hour and,
// from -3d on, i%5 rejected calls an hour.
func cwInstance(i int) fleet.Instance {
	in := fleet.Instance{
		ID: fmt.Sprintf("i-%017x", i), State: "running", LaunchTime: fleet.Rel(-60 * cwDay),
		Usage: []fleet.UsageSegment{
			{Metric: fleet.MetricNoToken, From: fleet.Rel(-60 * cwDay), PerHour: float64(i % 7)},
			{Metric: fleet.MetricNoTokenRejected, From: fleet.Rel(-3 * cwDay), PerHour: float64(i % 5)},
		},
	}
	switch i % 3 {
	case 1:
		in.State = "stopped"
		in.Running = []fleet.Interval{
			{From: fleet.Rel(-14 * cwDay), To: fleet.Rel(-10 * cwDay)},
			{From: fleet.Rel(-5 * cwDay)},
		}
	case 2:
		in.State = "stopped"
	}
	return in
}

// cwExpectedDaily is instance i's daily sums of metric over the 14 days
// before cwNow, oldest first, worked out from the history above.
func cwExpectedDaily(i int, metric string) (days []time.Time, sums []float64) {
	for d := -14; d < 0; d++ {
		ran := i%3 == 0 || (i%3 == 1 && (d < -10 || d >= -5))
		if !ran {
			continue
		}
		sum := 24 * float64(i%7)
		if metric == fleet.MetricNoTokenRejected {
			sum = 0
			if d >= -3 {
				sum = 24 * float64(i%5)
			}
		}
		days = append(days, cwNow.Add(time.Duration(d)*cwDay))
		sums = append(sums, sum)
	}
	return days, sums
}

// startCloudWatchFleet serves 600 instances in us-east-1, one in
// eu-west-1 (i-00000000000000e01 is there only) and denies CloudWatch in
// ap-south-1.
func startCloudWatchFleet(t *testing.T) (*sim.Server, string) {
	t.Helper()
	clock := cwNow
	var insts []fleet.Instance
	for i := range 600 {
		insts = append(insts, cwInstance(i))
	}
	eu := cwInstance(0)
	eu.ID = "i-00000000000000e01"
	f := &fleet.Fleet{
		Clock: &clock,
		Accounts: []fleet.Account{{
			ID: cwAccount,
			Regions: []fleet.Region{
				{Name: "us-east-1", Instances: insts},
				{Name: "eu-west-1", Instances: []fleet.Instance{eu}},
				{Name: "ap-south-1", Knobs: &fleet.Knobs{CloudWatchDenied: true}},
			},
		}},
	}
	return simtest.Start(t, f, sim.Options{})
}

func cwClient(url, region string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(simtest.Config(url, fleet.DefaultAccessKeyID(cwAccount), region))
}

// cwJSONClient speaks awsJson1_0 (imdsfleet's --cloudwatch-protocol json).
func cwJSONClient(url, region string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(simtest.Config(url, fleet.DefaultAccessKeyID(cwAccount), region), func(o *cloudwatch.Options) {
		o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
	})
}

func cwQuery(id, instanceID, metric string) types.MetricDataQuery {
	return types.MetricDataQuery{
		Id: aws.String(id),
		MetricStat: &types.MetricStat{
			Metric: &types.Metric{
				Namespace:  aws.String("AWS/EC2"),
				MetricName: aws.String(metric),
				Dimensions: []types.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(instanceID)}},
			},
			Period: aws.Int32(86400),
			Stat:   aws.String("Sum"),
		},
	}
}

// cwQueries asks for both metrics of instances first, first+1, ... (n
// queries: even ones MetadataNoToken, odd ones MetadataNoTokenRejected).
func cwQueries(first, n int) []types.MetricDataQuery {
	qs := make([]types.MetricDataQuery, n)
	for k := range qs {
		i := first + k/2
		metric := fleet.MetricNoToken
		if k%2 == 1 {
			metric = fleet.MetricNoTokenRejected
		}
		qs[k] = cwQuery(fmt.Sprintf("q%d", k), cwInstance(i).ID, metric)
	}
	return qs
}

// checkCWResults compares results merged by Id with cwExpectedDaily for
// queries built by cwQueries(first, n).
func checkCWResults(t *testing.T, first, n int, results map[string]*types.MetricDataResult, descending bool) {
	t.Helper()
	if len(results) != n {
		t.Fatalf("got results for %d queries, want %d", len(results), n)
	}
	for k := range n {
		id := fmt.Sprintf("q%d", k)
		metric := fleet.MetricNoToken
		if k%2 == 1 {
			metric = fleet.MetricNoTokenRejected
		}
		days, sums := cwExpectedDaily(first+k/2, metric)
		if descending {
			slices.Reverse(days)
			slices.Reverse(sums)
		}
		r := results[id]
		if r == nil {
			t.Fatalf("no result for %s", id)
		}
		if !slices.EqualFunc(r.Timestamps, days, time.Time.Equal) || !slices.Equal(r.Values, sums) {
			t.Fatalf("%s (instance %d, %s):\n got %v %v\nwant %v %v", id, first+k/2, metric, r.Timestamps, r.Values, days, sums)
		}
		if r.StatusCode != types.StatusCodeComplete {
			t.Errorf("%s: StatusCode %s after all pages, want Complete", id, r.StatusCode)
		}
	}
}

func mergeByID(outs ...*cloudwatch.GetMetricDataOutput) map[string]*types.MetricDataResult {
	m := map[string]*types.MetricDataResult{}
	for _, out := range outs {
		for _, r := range out.MetricDataResults {
			if prev := m[*r.Id]; prev != nil {
				prev.Timestamps = append(prev.Timestamps, r.Timestamps...)
				prev.Values = append(prev.Values, r.Values...)
				prev.StatusCode = r.StatusCode
				continue
			}
			m[*r.Id] = &r
		}
	}
	return m
}

func TestCloudWatchGetMetricData500Queries(t *testing.T) {
	srv, url := startCloudWatchFleet(t)
	out, err := cwClient(url, "us-east-1").GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(cwNow.Add(-14 * cwDay)),
		EndTime:           aws.Time(cwNow),
		MetricDataQueries: cwQueries(100, 500),
	})
	if err != nil {
		t.Fatalf("GetMetricData: %v", err)
	}
	if out.NextToken != nil {
		t.Errorf("NextToken %q: 500 queries × 14 daily points fit one page", *out.NextToken)
	}
	checkCWResults(t, 100, 500, mergeByID(out), true)
	if got := srv.Stats().Calls["GetMetricData"]["us-east-1"]; got != 1 {
		t.Errorf("server counted %d GetMetricData calls in us-east-1, want 1", got)
	}
}

func TestCloudWatchJSONProtocol(t *testing.T) {
	_, url := startCloudWatchFleet(t)
	cw := cwJSONClient(url, "us-east-1")
	p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(cwNow.Add(-14 * cwDay)),
		EndTime:           aws.Time(cwNow),
		MetricDataQueries: cwQueries(50, 500),
	}, func(o *cloudwatch.GetMetricDataPaginatorOptions) { o.Limit = 2000 })
	var pages []*cloudwatch.GetMetricDataOutput
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		pages = append(pages, out)
	}
	checkCWResults(t, 50, 500, mergeByID(pages...), true)

	_, err := cw.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(cwNow.Add(-14 * cwDay)), EndTime: aws.Time(cwNow), MetricDataQueries: cwQueries(0, 501)})
	cwWantCode(t, err, "ValidationError")

	// Errors the server's pipeline writes (not cwsim) are JSON-shaped too.
	_, err = cwJSONClient(url, "ap-south-1").GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(cwNow.Add(-14 * cwDay)), EndTime: aws.Time(cwNow), MetricDataQueries: cwQueries(0, 2)})
	cwWantCode(t, err, "AccessDenied")
}

func TestCloudWatchNextToken(t *testing.T) {
	_, url := startCloudWatchFleet(t)
	cw := cwClient(url, "us-east-1")

	t.Run("manual pages", func(t *testing.T) {
		in := &cloudwatch.GetMetricDataInput{
			StartTime:         aws.Time(cwNow.Add(-14 * cwDay)),
			EndTime:           aws.Time(cwNow),
			MetricDataQueries: cwQueries(0, 40),
			MaxDatapoints:     aws.Int32(50),
		}
		var pages []*cloudwatch.GetMetricDataOutput
		for {
			out, err := cw.GetMetricData(context.Background(), in)
			if err != nil {
				t.Fatalf("page %d: %v", len(pages)+1, err)
			}
			pages = append(pages, out)
			n := 0
			for _, r := range out.MetricDataResults {
				n += len(r.Values)
			}
			if n > 50 {
				t.Fatalf("page %d holds %d datapoints, MaxDatapoints is 50", len(pages), n)
			}
			if out.NextToken == nil || len(pages) > 100 {
				break
			}
			in.NextToken = out.NextToken
		}
		if len(pages) < 2 {
			t.Fatalf("got %d page(s); the request needs NextToken", len(pages))
		}
		partial := 0
		for _, p := range pages {
			for _, r := range p.MetricDataResults {
				if r.StatusCode == types.StatusCodePartialData {
					partial++
				}
			}
		}
		if partial == 0 {
			t.Error("no result was PartialData although pages cut queries")
		}
		checkCWResults(t, 0, 40, mergeByID(pages...), true)
	})

	t.Run("paginator", func(t *testing.T) {
		p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
			StartTime:         aws.Time(cwNow.Add(-14 * cwDay)),
			EndTime:           aws.Time(cwNow),
			MetricDataQueries: cwQueries(0, 500),
			ScanBy:            types.ScanByTimestampAscending,
		}, func(o *cloudwatch.GetMetricDataPaginatorOptions) { o.Limit = 700 })
		var pages []*cloudwatch.GetMetricDataOutput
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatalf("page %d: %v", len(pages)+1, err)
			}
			pages = append(pages, out)
		}
		if len(pages) < 2 {
			t.Fatalf("got %d page(s) at 700 datapoints a page", len(pages))
		}
		checkCWResults(t, 0, 500, mergeByID(pages...), false)
	})
}

func cwWantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got error %v, want AWS error code %s", err, code)
	}
}

func TestCloudWatchRejects(t *testing.T) {
	_, url := startCloudWatchFleet(t)
	cw := cwClient(url, "us-east-1")
	badID := cwQueries(0, 2)
	badID[1].Id = aws.String("Bad-Id")
	for _, tc := range []struct {
		name    string
		queries []types.MetricDataQuery
		code    string
	}{
		{"501 queries", cwQueries(0, 501), "ValidationError"},
		{"bad Id", badID, "ValidationError"},
		{"duplicate Id", append(cwQueries(0, 2), cwQuery("q1", "i-00000000000000001", fleet.MetricNoToken)), "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cw.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
				StartTime: aws.Time(cwNow.Add(-14 * cwDay)), EndTime: aws.Time(cwNow), MetricDataQueries: tc.queries})
			cwWantCode(t, err, tc.code)
		})
	}
}

func TestCloudWatchRegionScope(t *testing.T) {
	_, url := startCloudWatchFleet(t)
	in := func() *cloudwatch.GetMetricDataInput {
		return &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(cwNow.Add(-14 * cwDay)), EndTime: aws.Time(cwNow),
			MetricDataQueries: []types.MetricDataQuery{cwQuery("eu", "i-00000000000000e01", fleet.MetricNoToken)},
		}
	}
	for region, want := range map[string]int{"eu-west-1": 14, "us-east-1": 0} {
		out, err := cwClient(url, region).GetMetricData(context.Background(), in())
		if err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		r := out.MetricDataResults
		if len(r) != 1 || len(r[0].Values) != want || r[0].StatusCode != types.StatusCodeComplete {
			t.Errorf("%s: got %+v, want one Complete result with %d datapoints", region, r, want)
		}
	}
}

func TestCloudWatchGetMetricStatistics(t *testing.T) {
	_, url := startCloudWatchFleet(t)
	cw := cwClient(url, "us-east-1")
	for _, i := range []int{3, 4, 5} {
		out, err := cw.GetMetricStatistics(context.Background(), &cloudwatch.GetMetricStatisticsInput{
			Namespace:  aws.String("AWS/EC2"),
			MetricName: aws.String(fleet.MetricNoToken),
			Dimensions: []types.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(cwInstance(i).ID)}},
			StartTime:  aws.Time(cwNow.Add(-14 * cwDay)),
			EndTime:    aws.Time(cwNow),
			Period:     aws.Int32(86400),
			Statistics: []types.Statistic{types.StatisticSum},
		})
		if err != nil {
			t.Fatalf("GetMetricStatistics: %v", err)
		}
		days, sums := cwExpectedDaily(i, fleet.MetricNoToken)
		if len(out.Datapoints) != len(days) {
			t.Fatalf("instance %d: %d datapoints, want %d", i, len(out.Datapoints), len(days))
		}
		for k, dp := range out.Datapoints {
			if !dp.Timestamp.Equal(days[k]) || aws.ToFloat64(dp.Sum) != sums[k] || dp.Unit != types.StandardUnitCount {
				t.Errorf("instance %d datapoint %d: %v Sum %v %s, want %v Sum %v Count", i, k, dp.Timestamp, aws.ToFloat64(dp.Sum), dp.Unit, days[k], sums[k])
			}
		}
	}
	_, err := cw.GetMetricStatistics(context.Background(), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("AWS/EC2"), MetricName: aws.String(fleet.MetricNoToken),
		StartTime: aws.Time(cwNow.Add(-14 * cwDay)), EndTime: aws.Time(cwNow),
		Period: aws.Int32(300), Statistics: []types.Statistic{types.StatisticSum},
	})
	cwWantCode(t, err, "InvalidParameterCombination")
}

// TestCloudWatchAWSCLI checks that a client nobody here wrote (botocore)
// reads the server's answers. botocore 1.43 picks awsJson1_0 for
// CloudWatch (its protocol priority puts json before smithy-rpc-v2-cbor);
// a copy of its CloudWatch model that lists only smithy-rpc-v2-cbor,
// loaded through AWS_DATA_PATH, makes the same CLI speak CBOR.
func TestCloudWatchAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH; install it (pip install awscli) to check the simulated CloudWatch against botocore")
	}
	srv, url := startCloudWatchFleet(t)
	env := append(os.Environ(), simtest.Env(url, fleet.DefaultAccessKeyID(cwAccount), "us-east-1")...)
	t.Run("json", func(t *testing.T) {
		checkCLI(t, srv, url, env, "X-Amz-Target': 'GraniteServiceVersion20100801.GetMetricStatistics")
	})
	t.Run("cbor", func(t *testing.T) {
		dataPath, err := cborOnlyModel(t)
		if err != nil {
			t.Skipf("cannot make botocore speak CBOR (%v); the json subtest still checks the CLI", err)
		}
		checkCLI(t, srv, url, append(env, "AWS_DATA_PATH="+dataPath), "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics")
	})
}

// cborOnlyModel writes botocore's CloudWatch model with smithy-rpc-v2-cbor
// as its only protocol and returns the directory for AWS_DATA_PATH.
func cborOnlyModel(t *testing.T) (string, error) {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", fmt.Errorf("find botocore with python3: %w", err)
	}
	models, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "data", "cloudwatch", "*", "service-2.json*"))
	if err != nil || len(models) == 0 {
		return "", fmt.Errorf("no CloudWatch model under %s", strings.TrimSpace(string(out)))
	}
	raw, err := os.ReadFile(models[0])
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(models[0], ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("%s: %w", models[0], err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return "", fmt.Errorf("%s: %w", models[0], err)
		}
	}
	var model map[string]any
	if err := json.Unmarshal(raw, &model); err != nil {
		return "", fmt.Errorf("%s: %w", models[0], err)
	}
	meta, ok := model["metadata"].(map[string]any)
	if !ok {
		return "", fmt.Errorf("%s: no metadata", models[0])
	}
	meta["protocol"] = "smithy-rpc-v2-cbor"
	meta["protocols"] = []string{"smithy-rpc-v2-cbor"}
	dir := t.TempDir()
	version := filepath.Base(filepath.Dir(models[0]))
	modelDir := filepath.Join(dir, "cloudwatch", version)
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return "", err
	}
	b, err := json.Marshal(model)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(modelDir, "service-2.json"), b, 0o600)
}

// checkCLI runs get-metric-data (one page, and many pages the CLI merges),
// get-metric-statistics and a rejected call through the AWS CLI with env,
// and checks that the CLI's debug log shows wireMark (the protocol used).
func checkCLI(t *testing.T, srv *sim.Server, url string, env []string, wireMark string) {
	dir := t.TempDir()
	type cliQuery struct {
		ID         string `json:"Id"`
		MetricStat struct {
			Metric struct {
				Namespace  string              `json:"Namespace"`
				MetricName string              `json:"MetricName"`
				Dimensions []map[string]string `json:"Dimensions"`
			} `json:"Metric"`
			Period int    `json:"Period"`
			Stat   string `json:"Stat"`
		} `json:"MetricStat"`
	}
	var qs []cliQuery
	for k := range 20 {
		var q cliQuery
		q.ID = fmt.Sprintf("q%d", k)
		q.MetricStat.Metric.Namespace = "AWS/EC2"
		q.MetricStat.Metric.MetricName = fleet.MetricNoToken
		if k%2 == 1 {
			q.MetricStat.Metric.MetricName = fleet.MetricNoTokenRejected
		}
		q.MetricStat.Metric.Dimensions = []map[string]string{{"Name": "InstanceId", "Value": cwInstance(k / 2).ID}}
		q.MetricStat.Period = 86400
		q.MetricStat.Stat = "Sum"
		qs = append(qs, q)
	}
	qfile := filepath.Join(dir, "q.json")
	b, err := json.Marshal(qs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(qfile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start, end := cwNow.Add(-14*cwDay).Format(time.RFC3339), cwNow.Format(time.RFC3339)

	run := func(t *testing.T, args ...string) (stdout, stderr []byte, err error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
		cmd.Env = env
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		out, err := cmd.Output()
		return out, errBuf.Bytes(), err
	}
	runOK := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out, stderr, err := run(t, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}

	type cliResult struct {
		ID         string    `json:"Id"`
		Timestamps []any     `json:"Timestamps"`
		Values     []float64 `json:"Values"`
		StatusCode string    `json:"StatusCode"`
	}
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"one page", nil},
		// --page-size sets MaxDatapoints: the CLI follows NextToken and
		// merges the pages itself.
		{"pages of 7 datapoints", []string{"--page-size", "7"}},
	} {
		t.Run("get-metric-data/"+tc.name, func(t *testing.T) {
			callsBefore := srv.Stats().Calls["GetMetricData"]["us-east-1"]
			out := runOK(t, append([]string{"cloudwatch", "get-metric-data", "--metric-data-queries", "file://" + qfile,
				"--start-time", start, "--end-time", end, "--scan-by", "TimestampAscending"}, tc.extra...)...)
			var got struct {
				MetricDataResults []cliResult `json:"MetricDataResults"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("CLI output is not JSON: %v\n%s", err, out)
			}
			merged := map[string]*cliResult{}
			for _, r := range got.MetricDataResults {
				if prev := merged[r.ID]; prev != nil {
					prev.Timestamps = append(prev.Timestamps, r.Timestamps...)
					prev.Values = append(prev.Values, r.Values...)
					continue
				}
				merged[r.ID] = &r
			}
			if len(merged) != 20 {
				t.Fatalf("CLI shows %d query results, want 20", len(merged))
			}
			calls := srv.Stats().Calls["GetMetricData"]["us-east-1"] - callsBefore
			if tc.extra == nil && calls != 1 || tc.extra != nil && calls < 10 {
				t.Errorf("the CLI made %d GetMetricData calls; want 1 for one page, 10 or more at 7 datapoints a page", calls)
			}
			for k := range 20 {
				metric := fleet.MetricNoToken
				if k%2 == 1 {
					metric = fleet.MetricNoTokenRejected
				}
				days, sums := cwExpectedDaily(k/2, metric)
				r := merged[fmt.Sprintf("q%d", k)]
				var ts []time.Time
				for _, v := range r.Timestamps {
					ts = append(ts, cliTime(t, v))
				}
				if !slices.EqualFunc(ts, days, time.Time.Equal) || !slices.Equal(r.Values, sums) {
					t.Errorf("q%d: CLI shows %v %v, want %v %v", k, r.Timestamps, r.Values, days, sums)
				}
			}
		})
	}

	t.Run("get-metric-statistics", func(t *testing.T) {
		out, stderr, err := run(t, "--debug", "cloudwatch", "get-metric-statistics", "--namespace", "AWS/EC2", "--metric-name", fleet.MetricNoToken,
			"--dimensions", "Name=InstanceId,Value="+cwInstance(4).ID, "--start-time", start, "--end-time", end,
			"--period", "86400", "--statistics", "Sum")
		if err != nil {
			t.Fatalf("aws get-metric-statistics: %v\n%s", err, stderr)
		}
		if !bytes.Contains(stderr, []byte(wireMark)) {
			t.Errorf("the CLI's debug log lacks %q: it did not use the protocol this subtest is about", wireMark)
		}
		var got struct {
			Label      string `json:"Label"`
			Datapoints []struct {
				Timestamp any     `json:"Timestamp"`
				Sum       float64 `json:"Sum"`
				Unit      string  `json:"Unit"`
			} `json:"Datapoints"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("CLI output is not JSON: %v\n%s", err, out)
		}
		days, sums := cwExpectedDaily(4, fleet.MetricNoToken)
		if got.Label != fleet.MetricNoToken || len(got.Datapoints) != len(days) {
			t.Fatalf("CLI shows %+v, want label %s and %d datapoints", got, fleet.MetricNoToken, len(days))
		}
		for k, dp := range got.Datapoints {
			if ts := cliTime(t, dp.Timestamp); !ts.Equal(days[k]) || dp.Sum != sums[k] || dp.Unit != "Count" {
				t.Errorf("datapoint %d: %+v, want %v Sum %v Count", k, dp, days[k], sums[k])
			}
		}
	})

	t.Run("error", func(t *testing.T) {
		_, stderr, err := run(t, "cloudwatch", "get-metric-statistics",
			"--namespace", "AWS/EC2", "--metric-name", fleet.MetricNoToken, "--start-time", start, "--end-time", end,
			"--period", "60", "--statistics", "Sum")
		if err == nil || !bytes.Contains(stderr, []byte("(InvalidParameterCombination)")) {
			t.Errorf("aws get-metric-statistics for 20,160 datapoints: err %v, stderr %s; want InvalidParameterCombination", err, stderr)
		}
	})
}

// cliTime reads a timestamp the AWS CLI printed: as it came over the wire
// (epoch seconds, the CLI v1 default) or ISO 8601 (cli_timestamp_format).
func cliTime(t *testing.T, v any) time.Time {
	t.Helper()
	switch v := v.(type) {
	case float64:
		return time.Unix(int64(v), 0).UTC()
	case string:
		ts, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatalf("CLI timestamp %q: %v", v, err)
		}
		return ts
	}
	t.Fatalf("CLI timestamp %v (%T): want a number or an ISO 8601 string", v, v)
	return time.Time{}
}

// TestCloudWatchSyntheticFleet asks for both metrics of every instance of
// a synthetic fleet, 500 queries a call as a scan does, and checks each
// series against the fleet's own metric math: the protocol layer, the
// server's instance lookup per Region and the synthetic histories agree.
func TestCloudWatchSyntheticFleet(t *testing.T) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 1500, Regions: 2, Seed: 7})
	now := time.Date(2026, 3, 1, 13, 37, 0, 0, time.UTC)
	_, url := simtest.Start(t, f, sim.Options{Now: func() time.Time { return now }})
	start, end := now.Add(-14*cwDay), now
	acct := f.Accounts[0]
	for _, reg := range acct.Regions {
		cw := cloudwatch.NewFromConfig(simtest.Config(url, acct.AccessKeys()[0], reg.Name))
		type series struct {
			in     *fleet.Instance
			metric string
		}
		var all []series
		for i := range reg.Instances {
			all = append(all, series{&reg.Instances[i], fleet.MetricNoToken}, series{&reg.Instances[i], fleet.MetricNoTokenRejected})
		}
		withData := 0
		for lo := 0; lo < len(all); lo += 500 {
			batch := all[lo:min(lo+500, len(all))]
			qs := make([]types.MetricDataQuery, len(batch))
			for k, s := range batch {
				qs[k] = cwQuery(fmt.Sprintf("m%d", k), s.in.ID, s.metric)
			}
			p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
				StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: qs,
				ScanBy: types.ScanByTimestampAscending,
			})
			var pages []*cloudwatch.GetMetricDataOutput
			for p.HasMorePages() {
				out, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", reg.Name, err)
				}
				pages = append(pages, out)
			}
			got := mergeByID(pages...)
			for k, s := range batch {
				r := got[fmt.Sprintf("m%d", k)]
				if r == nil {
					t.Fatalf("%s: no result for %s %s", reg.Name, s.in.ID, s.metric)
				}
				want := s.in.Buckets(s.metric, now, start, end, cwDay)
				if len(r.Values) != len(want) {
					t.Fatalf("%s %s %s: %d datapoints, want %d", reg.Name, s.in.ID, s.metric, len(r.Values), len(want))
				}
				for j, b := range want {
					if !r.Timestamps[j].Equal(b.Start) || r.Values[j] != b.Sum {
						t.Fatalf("%s %s %s point %d: %v %v, want %v %v", reg.Name, s.in.ID, s.metric, j, r.Timestamps[j], r.Values[j], b.Start, b.Sum)
					}
				}
				if len(want) > 0 {
					withData++
				}
			}
		}
		if withData == 0 || withData == len(all) {
			t.Errorf("%s: %d of %d series have data; a realistic fleet has some of both", reg.Name, withData, len(all))
		}
	}
}
