package cwsim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/imdsfleet/imdsfleet/internal/sim/cwsim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

var now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const (
	day     = 24 * time.Hour
	account = "111111111111"
	region  = "us-east-1"
)

// backend is a tiny in-memory [cwsim.Backend].
type backend struct {
	instances map[string]*fleet.Instance // by account/region/id
}

func (b *backend) Instance(acct, reg, id string) (*fleet.Instance, bool) {
	in, ok := b.instances[acct+"/"+reg+"/"+id]
	return in, ok
}

func (b *backend) Now() time.Time { return now }

// testInstance i follows one of three histories (expectedDaily knows them):
// i%3 == 0 runs all the time; i%3 == 1 ran [-14d,-10d) and [-5d, now);
// i%3 == 2 is stopped without history. It makes i%7 v1 calls an hour.
func testInstance(i int) *fleet.Instance {
	in := &fleet.Instance{
		ID: fmt.Sprintf("i-%017d", i), State: "running", LaunchTime: fleet.Rel(-60 * day),
		Usage: []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: fleet.Rel(-60 * day), PerHour: float64(i % 7)}},
	}
	switch i % 3 {
	case 1:
		in.State = "stopped"
		in.Running = []fleet.Interval{
			{From: fleet.Rel(-14 * day), To: fleet.Rel(-10 * day)},
			{From: fleet.Rel(-5 * day)},
		}
	case 2:
		in.State = "stopped"
	}
	return in
}

// expectedDaily is testInstance i's daily MetadataNoToken sums over the 14
// days before now, oldest first, computed from the history above.
func expectedDaily(i int) (days []time.Time, sums []float64) {
	for d := -14; d < 0; d++ {
		ran := false
		switch i % 3 {
		case 0:
			ran = true
		case 1:
			ran = d < -10 || d >= -5
		}
		if ran {
			days = append(days, now.Add(time.Duration(d)*day))
			sums = append(sums, 24*float64(i%7))
		}
	}
	return days, sums
}

func newBackend(n int) *backend {
	b := &backend{instances: map[string]*fleet.Instance{}}
	for i := range n {
		in := testInstance(i)
		b.instances[account+"/"+region+"/"+in.ID] = in
	}
	return b
}

// serve starts an HTTP server that hands CloudWatch requests to cwsim's
// handlers through the wire codecs, as the simulator's server does (without
// its middleware).
func serve(t *testing.T, b cwsim.Backend) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, ok := wire.Identify(r, body)
		if !ok || req.Target != cwsim.ServiceName {
			http.NotFound(w, r)
			return
		}
		handle(w, cwsim.Codec(req.Protocol), req.Operation, body, b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// handle runs one operation and writes its answer; it returns the status.
func handle(w http.ResponseWriter, c wire.Codec, op string, body []byte, b cwsim.Backend) int {
	h := map[string]cwsim.Handler{"GetMetricData": cwsim.GetMetricData, "GetMetricStatistics": cwsim.GetMetricStatistics}[op]
	if h == nil {
		c.WriteError(w, http.StatusBadRequest, "UnknownOperationException", op, "req")
		return http.StatusBadRequest
	}
	in, err := c.Decode(body)
	if err != nil {
		c.WriteError(w, http.StatusBadRequest, "SerializationException", err.Error(), "req")
		return http.StatusBadRequest
	}
	out, apiErr := h(c, in, account, region, b)
	if apiErr != nil {
		c.WriteError(w, apiErr.Status, apiErr.Code, apiErr.Message, "req")
		return apiErr.Status
	}
	c.WriteDoc(w, out)
	return http.StatusOK
}

func client(url string, json bool) *cloudwatch.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "x", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		o.BaseEndpoint = aws.String(url)
		if json {
			o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
		}
	})
}

func query(id, instanceID string, period int32) types.MetricDataQuery {
	return types.MetricDataQuery{
		Id: aws.String(id),
		MetricStat: &types.MetricStat{
			Metric: &types.Metric{
				Namespace:  aws.String("AWS/EC2"),
				MetricName: aws.String(fleet.MetricNoToken),
				Dimensions: []types.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(instanceID)}},
			},
			Period: aws.Int32(period),
			Stat:   aws.String("Sum"),
		},
	}
}

func queries(n int) []types.MetricDataQuery {
	qs := make([]types.MetricDataQuery, n)
	for i := range qs {
		qs[i] = query(fmt.Sprintf("q%d", i), testInstance(i).ID, 86400)
	}
	return qs
}

// checkResults compares results (merged by Id, in scan order) with
// expectedDaily for queries built by queries().
func checkResults(t *testing.T, n int, results map[string]*types.MetricDataResult, descending bool) {
	t.Helper()
	if len(results) != n {
		t.Fatalf("got %d results, want %d", len(results), n)
	}
	for i := range n {
		id := fmt.Sprintf("q%d", i)
		res := results[id]
		if res == nil {
			t.Fatalf("no result for %s", id)
		}
		days, sums := expectedDaily(i)
		if descending {
			slices.Reverse(days)
			slices.Reverse(sums)
		}
		if !slices.EqualFunc(res.Timestamps, days, time.Time.Equal) || !slices.Equal(res.Values, sums) {
			t.Fatalf("%s (instance %d): got %v %v, want %v %v", id, i, res.Timestamps, res.Values, days, sums)
		}
		if res.StatusCode != types.StatusCodeComplete {
			t.Errorf("%s: StatusCode %s, want Complete", id, res.StatusCode)
		}
		if aws.ToString(res.Label) != fleet.MetricNoToken {
			t.Errorf("%s: Label %q, want the metric name", id, aws.ToString(res.Label))
		}
	}
}

func byID(outs ...*cloudwatch.GetMetricDataOutput) map[string]*types.MetricDataResult {
	m := map[string]*types.MetricDataResult{}
	for _, out := range outs {
		for _, r := range out.MetricDataResults {
			if prev := m[*r.Id]; prev != nil {
				prev.Timestamps = append(prev.Timestamps, r.Timestamps...)
				prev.Values = append(prev.Values, r.Values...)
				prev.StatusCode = r.StatusCode
				continue
			}
			r := r
			m[*r.Id] = &r
		}
	}
	return m
}

func TestGetMetricData500Queries(t *testing.T) {
	url := serve(t, newBackend(500))
	for _, tc := range []struct {
		name       string
		json       bool
		scanBy     types.ScanBy
		descending bool
	}{
		{"cbor default order is descending", false, "", true},
		{"cbor ascending", false, types.ScanByTimestampAscending, false},
		{"json descending", true, types.ScanByTimestampDescending, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := client(url, tc.json).GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
				StartTime:         aws.Time(now.Add(-14 * day)),
				EndTime:           aws.Time(now),
				MetricDataQueries: queries(500),
				ScanBy:            tc.scanBy,
			})
			if err != nil {
				t.Fatalf("GetMetricData: %v", err)
			}
			if out.NextToken != nil {
				t.Errorf("NextToken %q: 500 queries × 14 days fit in one page", *out.NextToken)
			}
			checkResults(t, 500, byID(out), tc.descending)
		})
	}
}

func TestGetMetricDataPaging(t *testing.T) {
	url := serve(t, newBackend(500))
	cw := client(url, false)
	in := &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(now.Add(-14 * day)),
		EndTime:           aws.Time(now),
		MetricDataQueries: queries(6),
		MaxDatapoints:     aws.Int32(10),
	}
	// Query sizes: q0 14, q1 9, q2 0, q3 14, q4 9, q5 0 points.
	var pages []*cloudwatch.GetMetricDataOutput
	for {
		out, err := cw.GetMetricData(context.Background(), in)
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		pages = append(pages, out)
		points := 0
		for _, r := range out.MetricDataResults {
			points += len(r.Values)
		}
		if points > 10 {
			t.Fatalf("page %d has %d points, MaxDatapoints is 10", len(pages), points)
		}
		if out.NextToken == nil {
			break
		}
		if len(pages) > 10 {
			t.Fatal("more than 10 pages for 46 points at 10 a page")
		}
		in.NextToken = out.NextToken
	}
	if len(pages) != 5 {
		t.Errorf("got %d pages, want 5 (46 points, 10 a page)", len(pages))
	}
	first := pages[0].MetricDataResults
	if len(first) != 1 || *first[0].Id != "q0" || first[0].StatusCode != types.StatusCodePartialData {
		t.Errorf("page 1 = %+v, want q0 cut with PartialData", first)
	}
	checkResults(t, 6, byID(pages...), true)

	t.Run("paginator", func(t *testing.T) {
		p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
			StartTime:         aws.Time(now.Add(-14 * day)),
			EndTime:           aws.Time(now),
			MetricDataQueries: queries(500),
			ScanBy:            types.ScanByTimestampAscending,
		}, func(o *cloudwatch.GetMetricDataPaginatorOptions) { o.Limit = 1000 })
		var outs []*cloudwatch.GetMetricDataOutput
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatalf("page %d: %v", len(outs)+1, err)
			}
			outs = append(outs, out)
		}
		// 500 queries: 167 × 14 + 167 × 9 points = 3841 → 4 pages of 1000.
		if len(outs) != 4 {
			t.Errorf("got %d pages, want 4", len(outs))
		}
		checkResults(t, 500, byID(outs...), false)
	})

	t.Run("token of another request", func(t *testing.T) {
		other := *in
		other.NextToken = pages[0].NextToken
		other.MetricDataQueries = queries(7)
		_, err := cw.GetMetricData(context.Background(), &other)
		wantCode(t, err, "InvalidNextToken")
	})
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want AWS error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got error code %s (%v), want %s", ae.ErrorCode(), err, code)
	}
	if ae.ErrorMessage() == "" {
		t.Errorf("error %s has no message", code)
	}
}

func TestGetMetricDataErrors(t *testing.T) {
	url := serve(t, newBackend(10))
	withQuery := func(mod func(*types.MetricDataQuery)) []types.MetricDataQuery {
		q := query("q0", testInstance(0).ID, 86400)
		mod(&q)
		return []types.MetricDataQuery{q}
	}
	tests := []struct {
		name string
		in   cloudwatch.GetMetricDataInput
		code string
	}{
		{"501 queries", cloudwatch.GetMetricDataInput{MetricDataQueries: queries(501)}, "ValidationError"},
		{"Id with a dash", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.Id = aws.String("q-1") })}, "ValidationError"},
		{"Id starting upper case", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.Id = aws.String("Q1") })}, "ValidationError"},
		{"Id too long", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.Id = aws.String("q" + string(bytes.Repeat([]byte("x"), 255))) })}, "ValidationError"},
		{"duplicate Ids", cloudwatch.GetMetricDataInput{MetricDataQueries: append(queries(2), query("q1", "i-x", 60))}, "ValidationError"},
		{"Expression", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat, q.Expression = nil, aws.String("SUM(METRICS())") })}, "InvalidParameterValue"},
		{"neither MetricStat nor Expression", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat = nil })}, "ValidationError"},
		{"percentile Stat", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat.Stat = aws.String("p99") })}, "InvalidParameterValue"},
		{"zero Period", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat.Period = aws.Int32(0) })}, "InvalidParameterValue"},
		{"Period 90 s", cloudwatch.GetMetricDataInput{MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat.Period = aws.Int32(90) })}, "InvalidParameterValue"},
		{"Period 60 s for data 20 days old", cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-20 * day)),
			MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat.Period = aws.Int32(60) })}, "InvalidParameterValue"},
		{"Period 300 s for data 100 days old", cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-100 * day)),
			MetricDataQueries: withQuery(func(q *types.MetricDataQuery) { q.MetricStat.Period = aws.Int32(300) })}, "InvalidParameterValue"},
		{"StartTime after EndTime", cloudwatch.GetMetricDataInput{StartTime: aws.Time(now), EndTime: aws.Time(now.Add(-day)), MetricDataQueries: queries(1)}, "InvalidParameterValue"},
		{"zero MaxDatapoints", cloudwatch.GetMetricDataInput{MaxDatapoints: aws.Int32(0), MetricDataQueries: queries(1)}, "InvalidParameterValue"},
		{"garbage NextToken", cloudwatch.GetMetricDataInput{NextToken: aws.String("nope"), MetricDataQueries: queries(1)}, "InvalidNextToken"},
	}
	for _, tc := range tests {
		for _, json := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/json=%v", tc.name, json), func(t *testing.T) {
				in := tc.in
				if in.StartTime == nil {
					in.StartTime = aws.Time(now.Add(-14 * day))
				}
				if in.EndTime == nil {
					in.EndTime = aws.Time(now)
				}
				_, err := client(url, json).GetMetricData(context.Background(), &in)
				wantCode(t, err, tc.code)
			})
		}
	}

	t.Run("typed error", func(t *testing.T) {
		_, err := client(url, false).GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(now), EndTime: aws.Time(now.Add(-day)), MetricDataQueries: queries(1)})
		var ipv *types.InvalidParameterValueException
		if !errors.As(err, &ipv) {
			t.Errorf("got %T %v, want *types.InvalidParameterValueException", err, err)
		}
	})
}

func TestGetMetricDataMissingMetrics(t *testing.T) {
	url := serve(t, newBackend(3))
	other := query("other", testInstance(0).ID, 86400)
	other.MetricStat.Metric.Namespace = aws.String("AWS/EBS")
	cpu := query("cpu", testInstance(0).ID, 86400)
	cpu.MetricStat.Metric.MetricName = aws.String("CPUUtilization")
	unit := query("bytes", testInstance(0).ID, 86400)
	unit.MetricStat.Unit = types.StandardUnitBytes
	hidden := query("hidden", testInstance(0).ID, 86400)
	hidden.ReturnData = aws.Bool(false)
	out, err := client(url, false).GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-14 * day)), EndTime: aws.Time(now),
		MetricDataQueries: []types.MetricDataQuery{query("unknown", "i-0000000000000dead", 86400), other, cpu, unit, hidden},
	})
	if err != nil {
		t.Fatalf("GetMetricData: %v", err)
	}
	var ids []string
	for _, r := range out.MetricDataResults {
		ids = append(ids, *r.Id)
		if r.StatusCode != types.StatusCodeComplete || len(r.Values) != 0 || len(r.Timestamps) != 0 {
			t.Errorf("%s: got %s with %d values, want Complete without datapoints", *r.Id, r.StatusCode, len(r.Values))
		}
	}
	if want := []string{"unknown", "other", "cpu", "bytes"}; !slices.Equal(ids, want) {
		t.Errorf("result Ids %v, want %v (ReturnData=false hidden)", ids, want)
	}
}

func TestGetMetricDataStatistics(t *testing.T) {
	url := serve(t, newBackend(10))
	mk := func(stat string) types.MetricDataQuery {
		q := query("q_"+stat, testInstance(4).ID, 86400)
		q.MetricStat.Stat = aws.String(stat)
		return q
	}
	out, err := client(url, false).GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-2 * day)), EndTime: aws.Time(now),
		MetricDataQueries: []types.MetricDataQuery{mk("Sum"), mk("SampleCount"), mk("Average"), mk("Minimum"), mk("Maximum")},
	})
	if err != nil {
		t.Fatalf("GetMetricData: %v", err)
	}
	// Instance 4 runs since -5d at 4 calls/h: 288 datapoints a day worth 1/3
	// each, published as whole calls (0 or 1) that sum to 96 a day.
	want := map[string]float64{"q_Sum": 96, "q_SampleCount": 288, "q_Average": 1.0 / 3, "q_Minimum": 0, "q_Maximum": 1}
	for _, r := range out.MetricDataResults {
		if len(r.Values) != 2 || !near(r.Values[0], want[*r.Id]) || !near(r.Values[1], want[*r.Id]) {
			t.Errorf("%s = %v, want 2 × %v", *r.Id, r.Values, want[*r.Id])
		}
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func TestGetMetricStatistics(t *testing.T) {
	url := serve(t, newBackend(10))
	in := func(i int) *cloudwatch.GetMetricStatisticsInput {
		return &cloudwatch.GetMetricStatisticsInput{
			Namespace:  aws.String("AWS/EC2"),
			MetricName: aws.String(fleet.MetricNoToken),
			Dimensions: []types.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(testInstance(i).ID)}},
			StartTime:  aws.Time(now.Add(-14 * day)),
			EndTime:    aws.Time(now),
			Period:     aws.Int32(86400),
			Statistics: []types.Statistic{types.StatisticSum, types.StatisticSampleCount},
		}
	}
	for _, json := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", json), func(t *testing.T) {
			cw := client(url, json)
			for _, i := range []int{1, 2, 3} {
				out, err := cw.GetMetricStatistics(context.Background(), in(i))
				if err != nil {
					t.Fatalf("GetMetricStatistics: %v", err)
				}
				days, sums := expectedDaily(i)
				if len(out.Datapoints) != len(days) {
					t.Fatalf("instance %d: %d datapoints, want %d", i, len(out.Datapoints), len(days))
				}
				for k, dp := range out.Datapoints {
					if !dp.Timestamp.Equal(days[k]) || aws.ToFloat64(dp.Sum) != sums[k] || aws.ToFloat64(dp.SampleCount) != 288 || dp.Unit != types.StandardUnitCount || dp.Average != nil {
						t.Errorf("instance %d datapoint %d = %v sum %v n %v unit %s avg %v, want %v sum %v n 288 unit Count",
							i, k, dp.Timestamp, aws.ToFloat64(dp.Sum), aws.ToFloat64(dp.SampleCount), dp.Unit, dp.Average, days[k], sums[k])
					}
				}
				if aws.ToString(out.Label) != fleet.MetricNoToken {
					t.Errorf("Label %q", aws.ToString(out.Label))
				}
			}

			tooMany := in(0)
			tooMany.Period = aws.Int32(60)
			_, err := cw.GetMetricStatistics(context.Background(), tooMany)
			wantCode(t, err, "InvalidParameterCombination")

			noStats := in(0)
			noStats.Statistics = nil
			_, err = cw.GetMetricStatistics(context.Background(), noStats)
			wantCode(t, err, "InvalidParameterCombination")

			badPeriod := in(0)
			badPeriod.StartTime = aws.Time(now.Add(-30 * day))
			badPeriod.Period = aws.Int32(3660)
			_, err = cw.GetMetricStatistics(context.Background(), badPeriod)
			wantCode(t, err, "InvalidParameterValue")
		})
	}
}

// TestWireFormat posts a hand-built CBOR body and checks the raw answer:
// headers, tag 1 timestamps around float64 epoch seconds, float64 values.
func TestWireFormat(t *testing.T) {
	url := serve(t, newBackend(3))
	body := cbor.Encode(cbor.Map{
		"StartTime": &cbor.Tag{ID: 1, Value: cbor.Uint(now.Add(-2 * day).Unix())},
		"EndTime":   &cbor.Tag{ID: 1, Value: cbor.Float64(float64(now.Unix()))},
		"MetricDataQueries": cbor.List{cbor.Map{
			"Id": cbor.String("a"),
			"MetricStat": cbor.Map{
				"Metric": cbor.Map{
					"Namespace":  cbor.String("AWS/EC2"),
					"MetricName": cbor.String("MetadataNoToken"),
					"Dimensions": cbor.List{cbor.Map{"Name": cbor.String("InstanceId"), "Value": cbor.String(testInstance(0).ID)}},
				},
				"Period": cbor.Uint(86400),
				"Stat":   cbor.String("Sum"),
			},
			"Label":      cbor.String("mine"),
			"ReturnData": cbor.Bool(true),
		}},
		"ScanBy": cbor.String("TimestampAscending"),
	})
	resp := post(t, url+"/service/GraniteServiceVersion20100801/operation/GetMetricData", body)
	if resp.status != 200 {
		t.Fatalf("status %d: %x", resp.status, resp.body)
	}
	for k, v := range map[string]string{"Smithy-Protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"} {
		if got := resp.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	v, err := cbor.Decode(resp.body)
	if err != nil {
		t.Fatalf("answer is not CBOR: %v", err)
	}
	results := v.(cbor.Map)["MetricDataResults"].(cbor.List)
	r := results[0].(cbor.Map)
	if r["Id"] != cbor.String("a") || r["Label"] != cbor.String("mine") || r["StatusCode"] != cbor.String("Complete") {
		t.Errorf("result %v", r)
	}
	ts := r["Timestamps"].(cbor.List)
	vals := r["Values"].(cbor.List)
	if len(ts) != 2 || len(vals) != 2 {
		t.Fatalf("got %d timestamps, %d values, want 2", len(ts), len(vals))
	}
	tag, ok := ts[0].(*cbor.Tag)
	if !ok || tag.ID != 1 || tag.Value != cbor.Float64(float64(now.Add(-2*day).Unix())) {
		t.Errorf("timestamp %#v, want tag 1 around float64 %d", ts[0], now.Add(-2*day).Unix())
	}
	if vals[0] != cbor.Float64(0) { // instance 0 makes 0 calls an hour: data, not a gap
		t.Errorf("value %#v, want float64 0", vals[0])
	}

	t.Run("error shape", func(t *testing.T) {
		resp := post(t, url+"/service/GraniteServiceVersion20100801/operation/GetMetricData", []byte{0xff, 0x00})
		if resp.status != 400 {
			t.Errorf("status %d, want 400", resp.status)
		}
		checkErrorBody(t, resp, "SerializationException", "SerializationException;Sender")
	})
	t.Run("unknown operation", func(t *testing.T) {
		resp := post(t, url+"/service/GraniteServiceVersion20100801/operation/PutMetricData", cbor.Encode(cbor.Map{}))
		checkErrorBody(t, resp, "UnknownOperationException", "UnknownOperationException;Sender")
	})
}

// TestMissingParameters sends bodies the SDK's own validation would stop.
func TestMissingParameters(t *testing.T) {
	url := serve(t, newBackend(3))
	ts := func(d time.Duration) cbor.Value {
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(now.Add(d).Unix()))}
	}
	q := func(stat cbor.Map) cbor.Map { return cbor.Map{"Id": cbor.String("a"), "MetricStat": stat} }
	metric := cbor.Map{"Namespace": cbor.String("AWS/EC2"), "MetricName": cbor.String("MetadataNoToken")}
	for _, tc := range []struct {
		name, op string
		body     cbor.Map
		code     string
	}{
		{"no queries", "GetMetricData", cbor.Map{"StartTime": ts(-day), "EndTime": ts(0)}, "MissingParameter"},
		{"empty queries", "GetMetricData", cbor.Map{"StartTime": ts(-day), "EndTime": ts(0), "MetricDataQueries": cbor.List{}}, "MissingParameter"},
		{"no StartTime", "GetMetricData", cbor.Map{"EndTime": ts(0), "MetricDataQueries": cbor.List{q(cbor.Map{"Metric": metric, "Period": cbor.Uint(60), "Stat": cbor.String("Sum")})}}, "MissingParameter"},
		{"no Stat", "GetMetricData", cbor.Map{"StartTime": ts(-day), "EndTime": ts(0), "MetricDataQueries": cbor.List{q(cbor.Map{"Metric": metric, "Period": cbor.Uint(60)})}}, "MissingParameter"},
		{"no Period", "GetMetricData", cbor.Map{"StartTime": ts(-day), "EndTime": ts(0), "MetricDataQueries": cbor.List{q(cbor.Map{"Metric": metric, "Stat": cbor.String("Sum")})}}, "MissingParameter"},
		{"no Id", "GetMetricData", cbor.Map{"StartTime": ts(-day), "EndTime": ts(0), "MetricDataQueries": cbor.List{cbor.Map{"MetricStat": cbor.Map{"Metric": metric, "Period": cbor.Uint(60), "Stat": cbor.String("Sum")}}}}, "MissingParameter"},
		{"Period a string", "GetMetricData", cbor.Map{"StartTime": ts(-day), "EndTime": ts(0), "MetricDataQueries": cbor.List{q(cbor.Map{"Metric": metric, "Period": cbor.String("60"), "Stat": cbor.String("Sum")})}}, "SerializationException"},
		{"no MetricName", "GetMetricStatistics", cbor.Map{"Namespace": cbor.String("AWS/EC2"), "StartTime": ts(-day), "EndTime": ts(0), "Period": cbor.Uint(60), "Statistics": cbor.List{cbor.String("Sum")}}, "MissingParameter"},
		{"no Period", "GetMetricStatistics", cbor.Map{"Namespace": cbor.String("AWS/EC2"), "MetricName": cbor.String("MetadataNoToken"), "StartTime": ts(-day), "EndTime": ts(0), "Statistics": cbor.List{cbor.String("Sum")}}, "MissingParameter"},
	} {
		t.Run(tc.op+"/"+tc.name, func(t *testing.T) {
			resp := post(t, url+"/service/GraniteServiceVersion20100801/operation/"+tc.op, cbor.Encode(tc.body))
			if resp.status != 400 {
				t.Errorf("status %d, want 400", resp.status)
			}
			checkErrorBody(t, resp, "", tc.code+";Sender")
		})
	}
}

func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		status         int
		code, typ, hdr string
	}{
		{400, "Throttling", "Throttling", "Throttling;Sender"},
		{400, "InvalidParameterValue", "com.amazonaws.cloudwatch#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{403, "AccessDenied", "AccessDenied", "AccessDenied;Sender"},
		{500, "InternalServiceError", "com.amazonaws.cloudwatch#InternalServiceFault", "InternalServiceError;Receiver"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			cwsim.Codec(wire.RPCv2CBOR).WriteError(rec, tc.status, tc.code, "it went wrong", "req")
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			checkErrorBody(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, tc.typ, tc.hdr)
		})
	}
}

// TestThrottlingThroughClient checks that the SDK reads a Codec.WriteError answer
// as the code the server meant (the retryer keys on it).
func TestThrottlingThroughClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cwsim.Codec(wire.RPCv2CBOR).WriteError(w, 400, "Throttling", "Rate exceeded", "req")
	}))
	t.Cleanup(srv.Close)
	_, err := client(srv.URL, false).GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-day)), EndTime: aws.Time(now), MetricDataQueries: queries(1)})
	wantCode(t, err, "Throttling")
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, url string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/cbor")
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// checkErrorBody checks an RPC v2 CBOR error answer; typ "" skips __type.
func checkErrorBody(t *testing.T, resp response, typ, queryHeader string) {
	t.Helper()
	if got := resp.header.Get("X-Amzn-Query-Error"); got != queryHeader {
		t.Errorf("X-Amzn-Query-Error = %q, want %q", got, queryHeader)
	}
	if got := resp.header.Get("Smithy-Protocol"); got != "rpc-v2-cbor" {
		t.Errorf("Smithy-Protocol = %q", got)
	}
	if got := resp.header.Get("Content-Type"); got != "application/cbor" {
		t.Errorf("Content-Type = %q", got)
	}
	v, err := cbor.Decode(resp.body)
	if err != nil {
		t.Fatalf("error body is not CBOR: %v", err)
	}
	m := v.(cbor.Map)
	if typ != "" && m["__type"] != cbor.String(typ) {
		t.Errorf("__type = %v, want %s", m["__type"], typ)
	}
	if s, _ := m["message"].(cbor.String); s == "" {
		t.Errorf("no message in %v", m)
	}
}
