package cwsim_test

import (
	"net/http"
	"testing"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/imdsfleet/imdsfleet/internal/sim/cwsim"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// discard is a ResponseWriter that drops the answer.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkGetMetricData500 measures one full-scan call: 500 queries × 14
// daily buckets, decoded, computed and encoded.
func BenchmarkGetMetricData500(b *testing.B) {
	be := newBackend(500)
	qs := make(cbor.List, 500)
	for i := range qs {
		qs[i] = cbor.Map{
			"Id": cbor.String("q" + string(rune('a'+i%26)) + itoa(i)),
			"MetricStat": cbor.Map{
				"Metric": cbor.Map{
					"Namespace":  cbor.String("AWS/EC2"),
					"MetricName": cbor.String("MetadataNoToken"),
					"Dimensions": cbor.List{cbor.Map{"Name": cbor.String("InstanceId"), "Value": cbor.String(testInstance(i).ID)}},
				},
				"Period": cbor.Uint(86400),
				"Stat":   cbor.String("Sum"),
			},
		}
	}
	body := cbor.Encode(cbor.Map{
		"StartTime":         &cbor.Tag{ID: 1, Value: cbor.Float64(float64(now.Add(-14 * day).Unix()))},
		"EndTime":           &cbor.Tag{ID: 1, Value: cbor.Float64(float64(now.Unix()))},
		"MetricDataQueries": qs,
	})
	w := &discard{h: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if status := handle(w, cwsim.Codec(wire.RPCv2CBOR), "GetMetricData", body, be); status != 200 {
			b.Fatalf("status %d", status)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf [20]byte
	n := len(buf)
	for ; i > 0; i /= 10 {
		n--
		buf[n] = byte('0' + i%10)
	}
	return string(buf[n:])
}
