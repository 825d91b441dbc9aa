package remediate

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// MetricsAPI is the part of the CloudWatch client a bake uses.
type MetricsAPI interface {
	cloudwatch.GetMetricDataAPIClient
}

var _ MetricsAPI = (*cloudwatch.Client)(nil)

// MetricsClients hands out a CloudWatch client per account and Region.
type MetricsClients interface {
	CloudWatch(account, region string) (MetricsAPI, error)
}

// The signals a bake reads, per instance (namespace AWS/EC2, dimension
// InstanceId; docs/aws-facts.md#cloudwatch-usage-metrics):
// MetadataNoTokenRejected counts IMDSv1 calls refused because tokens are
// required, so after enforcement any such call is software that broke;
// StatusCheckFailed_Instance is 1 in a period where the instance's own
// status check failed.
const (
	MetricRejected          = "MetadataNoTokenRejected"
	MetricStatusCheckFailed = "StatusCheckFailed_Instance"
	metricsNamespace        = "AWS/EC2"
	// BakePeriod is the resolution the bake reads at: basic monitoring's
	// 5 minutes.
	BakePeriod = 5 * time.Minute
	// bakeBatch is how many instances one GetMetricData call reads: two
	// queries each, within the 500-query limit.
	bakeBatch = 250
)

// Breakage is one instance that broke during a bake.
type Breakage struct {
	Account    string `json:"account"`
	Region     string `json:"region"`
	InstanceID string `json:"instanceId"`
	Name       string `json:"name,omitempty"`
	// RejectedCalls is the sum of MetadataNoTokenRejected since the wave
	// started: IMDSv1 calls that got HTTP 401.
	RejectedCalls float64 `json:"rejectedCalls"`
	// StatusCheckFailed counts the 5-minute periods in which
	// StatusCheckFailed_Instance was 1.
	StatusCheckFailed int `json:"statusCheckFailed,omitempty"`
	// FirstAt and LastAt bound the periods with rejected calls or failed
	// checks.
	FirstAt *time.Time `json:"firstAt,omitempty"`
	LastAt  *time.Time `json:"lastAt,omitempty"`
}

// NoBakeData is an instance a bake had to watch (its change stands) but
// for which CloudWatch returned no datapoint at all, of either signal,
// since the bake started: a stopped instance, or one whose metrics are not
// published. Nothing seen is not the same as nothing wrong, so such an
// instance holds the rollout instead of passing it.
type NoBakeData struct {
	Account    string `json:"account"`
	Region     string `json:"region"`
	InstanceID string `json:"instanceId"`
	Name       string `json:"name,omitempty"`
}

// signal is what a bake read about one instance.
type signal struct {
	rejected    float64
	checkFailed int
	first, last time.Time
	// seen counts the datapoints (of either metric, zeros included) whose
	// period ends after the evidence start.
	seen int
}

// bakeRead is what one read of a wave's signals found.
type bakeRead struct {
	broken []Breakage
	// noData lists the watched instances without any datapoint since the
	// evidence start.
	noData []NoBakeData
}

// readSignals reads both metrics of the instances of keys between from and
// to, batched per (account, Region), and returns the instances that broke
// (rejected calls above maxRejected, or a failed status check) and those of
// watched that showed no datapoint at all in a period ending after
// evidenceFrom. A call that fails is an error: a bake that cannot see
// cannot pass.
func readSignals(ctx context.Context, mc MetricsClients, keys []Key, names map[Key]string, watched map[Key]bool, from, evidenceFrom, to time.Time, maxRejected float64) (*bakeRead, error) {
	groups := map[[2]string][]Key{}
	var order [][2]string
	for _, k := range keys {
		g := [2]string{k.Account, k.Region}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], k)
	}
	start := from.Truncate(BakePeriod)
	out := &bakeRead{}
	for _, g := range order {
		cw, err := mc.CloudWatch(g[0], g[1])
		if err != nil {
			return nil, fmt.Errorf("read bake metrics in %s/%s: %w", g[0], g[1], err)
		}
		ks := groups[g]
		for b := 0; b < len(ks); b += bakeBatch {
			batch := ks[b:min(b+bakeBatch, len(ks))]
			sig, err := readBatch(ctx, cw, batch, start, evidenceFrom, to)
			if err != nil {
				return nil, fmt.Errorf("read bake metrics in %s/%s: %w", g[0], g[1], err)
			}
			for i, k := range batch {
				s := sig[i]
				if s.seen == 0 && watched[k] {
					out.noData = append(out.noData, NoBakeData{Account: k.Account, Region: k.Region, InstanceID: k.InstanceID, Name: names[k]})
				}
				if s.rejected <= maxRejected && s.checkFailed == 0 {
					continue
				}
				br := Breakage{Account: k.Account, Region: k.Region, InstanceID: k.InstanceID, Name: names[k],
					RejectedCalls: s.rejected, StatusCheckFailed: s.checkFailed}
				if !s.first.IsZero() {
					f, l := s.first.UTC(), s.last.UTC()
					br.FirstAt, br.LastAt = &f, &l
				}
				out.broken = append(out.broken, br)
			}
		}
	}
	sort.Slice(out.broken, func(i, j int) bool {
		a, b := out.broken[i], out.broken[j]
		return lessRef(a.Account, a.Region, a.InstanceID, b.Account, b.Region, b.InstanceID)
	})
	sort.Slice(out.noData, func(i, j int) bool {
		a, b := out.noData[i], out.noData[j]
		return lessRef(a.Account, a.Region, a.InstanceID, b.Account, b.Region, b.InstanceID)
	})
	return out, nil
}

func lessRef(a1, r1, i1, a2, r2, i2 string) bool {
	if a1 != a2 {
		return a1 < a2
	}
	if r1 != r2 {
		return r1 < r2
	}
	return i1 < i2
}

// readBatch reads one GetMetricData call's worth (following NextToken):
// query r<i> is instance i's rejected calls (Sum), s<i> its status check
// (Maximum). A datapoint stamped t covers [t, t+BakePeriod): it is evidence
// when that period ends after evidenceFrom.
func readBatch(ctx context.Context, cw MetricsAPI, keys []Key, start, evidenceFrom, end time.Time) ([]signal, error) {
	qs := make([]cwtypes.MetricDataQuery, 0, 2*len(keys))
	q := func(id, metric, stat, instance string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{
			Id: aws.String(id),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(metricsNamespace),
					MetricName: aws.String(metric),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(instance)}},
				},
				Period: aws.Int32(int32(BakePeriod / time.Second)),
				Stat:   aws.String(stat),
			},
			ReturnData: aws.Bool(true),
		}
	}
	for i, k := range keys {
		qs = append(qs, q("r"+strconv.Itoa(i), MetricRejected, "Sum", k.InstanceID), q("s"+strconv.Itoa(i), MetricStatusCheckFailed, "Maximum", k.InstanceID))
	}
	out := make([]signal, len(keys))
	p := cloudwatch.NewGetMetricDataPaginator(cw, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: qs,
		ScanBy: cwtypes.ScanByTimestampAscending,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range page.MetricDataResults {
			id := aws.ToString(r.Id)
			if len(id) < 2 {
				continue
			}
			i, err := strconv.Atoi(id[1:])
			if err != nil || i < 0 || i >= len(out) {
				continue
			}
			if r.StatusCode == cwtypes.StatusCodeForbidden || r.StatusCode == cwtypes.StatusCodeInternalError {
				return nil, fmt.Errorf("GetMetricData answered %s for %s", r.StatusCode, keys[i].InstanceID)
			}
			s := &out[i]
			for j, ts := range r.Timestamps {
				if j >= len(r.Values) {
					break
				}
				v := r.Values[j]
				if ts.Add(BakePeriod).After(evidenceFrom) {
					s.seen++
				}
				if v <= 0 {
					continue
				}
				if id[0] == 'r' {
					s.rejected += v
				} else {
					s.checkFailed++
				}
				if s.first.IsZero() || ts.Before(s.first) {
					s.first = ts
				}
				if ts.After(s.last) {
					s.last = ts
				}
			}
		}
	}
	return out, nil
}
