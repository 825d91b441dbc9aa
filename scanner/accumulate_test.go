package scanner

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/imdsfleet/imdsfleet/report"
)

// TestAccumulator joins one query's results across NextToken pages and
// maps CloudWatch's status codes to usage statuses.
func TestAccumulator(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }
	page := func(status cwtypes.StatusCode, ts []time.Time, vs []float64) cwtypes.MetricDataResult {
		return cwtypes.MetricDataResult{Id: aws.String("q0"), StatusCode: status, Timestamps: ts, Values: vs}
	}
	tests := []struct {
		name   string
		metric string
		pages  []cwtypes.MetricDataResult
		want   report.Usage
		errHas string
	}{
		{"two pages joined", MetricNoToken, []cwtypes.MetricDataResult{
			page(cwtypes.StatusCodePartialData, []time.Time{d(5), d(4)}, []float64{0, 3}),
			page(cwtypes.StatusCodeComplete, []time.Time{d(3), d(2)}, []float64{2, 0}),
		}, report.Usage{Status: report.UsageComplete, NoTokenCalls: 5, DaysWithCalls: 2, LastCallAt: ptr(d(4)), Datapoints: 4}, ""},
		{"rejected metric", MetricNoTokenRejected, []cwtypes.MetricDataResult{
			page(cwtypes.StatusCodeComplete, []time.Time{d(1)}, []float64{9}),
		}, report.Usage{Status: report.UsageComplete, NoTokenRejected: 9, DaysWithCalls: 1, LastCallAt: ptr(d(1)), Datapoints: 1}, ""},
		{"no data at all is complete", MetricNoToken, []cwtypes.MetricDataResult{
			page(cwtypes.StatusCodeComplete, nil, nil),
		}, report.Usage{Status: report.UsageComplete}, ""},
		{"still partial after the last page", MetricNoToken, []cwtypes.MetricDataResult{
			page(cwtypes.StatusCodePartialData, []time.Time{d(1)}, []float64{0}),
		}, report.Usage{Status: report.UsagePartial, Datapoints: 1}, ""},
		{"internal error", MetricNoToken, []cwtypes.MetricDataResult{
			{Id: aws.String("q0"), StatusCode: cwtypes.StatusCodeInternalError, Messages: []cwtypes.MessageData{{Code: aws.String("InternalError"), Value: aws.String("try again")}}},
		}, report.Usage{Status: report.UsageError}, "CloudWatch status InternalError (InternalError: try again)"},
		{"forbidden", MetricNoToken, []cwtypes.MetricDataResult{page(cwtypes.StatusCodeForbidden, nil, nil)},
			report.Usage{Status: report.UsageError}, "Forbidden"},
		{"never answered", MetricNoToken, nil, report.Usage{Status: report.UsageError}, "no result"},
		{"an error page is not hidden by a later complete page", MetricNoToken, []cwtypes.MetricDataResult{
			{Id: aws.String("q0"), StatusCode: cwtypes.StatusCodeInternalError, Messages: []cwtypes.MessageData{{Code: aws.String("InternalError"), Value: aws.String("lost")}}},
			page(cwtypes.StatusCodeComplete, []time.Time{d(2)}, []float64{0}),
		}, report.Usage{Status: report.UsageError}, "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a accumulator
			for _, p := range tt.pages {
				a.add(p)
			}
			got := a.usage(tt.metric)
			if got.Status != tt.want.Status || got.NoTokenCalls != tt.want.NoTokenCalls || got.NoTokenRejected != tt.want.NoTokenRejected ||
				got.DaysWithCalls != tt.want.DaysWithCalls || got.Datapoints != tt.want.Datapoints ||
				(got.LastCallAt == nil) != (tt.want.LastCallAt == nil) || (got.LastCallAt != nil && !got.LastCallAt.Equal(*tt.want.LastCallAt)) {
				t.Errorf("usage = %+v, want %+v", got, tt.want)
			}
			if !strings.Contains(got.Error, tt.errHas) || (tt.errHas == "" && got.Error != "") {
				t.Errorf("error = %q, want it to contain %q", got.Error, tt.errHas)
			}
			if got.Status == report.UsageError && got.NoTokenCalls != 0 {
				t.Errorf("an unreadable metric reports %v calls", got.NoTokenCalls)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }
