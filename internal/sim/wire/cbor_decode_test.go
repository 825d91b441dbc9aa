package wire

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

func TestDecodeCBOR(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 30, 0, 500_000_000, time.UTC)
	tests := []struct {
		name string
		body []byte
		want map[string]any
	}{
		{
			name: "smithy-go encoded values",
			body: cbor.Encode(cbor.Map{
				"u":    cbor.Uint(300),
				"big":  cbor.Uint(1 << 40),
				"neg":  cbor.NegInt(5),
				"f32":  cbor.Float32(1.5),
				"f64":  cbor.Float64(-2.25),
				"s":    cbor.String("héllo"),
				"b":    cbor.Bool(true),
				"nil":  &cbor.Nil{},
				"l":    cbor.List{cbor.String("a"), cbor.Uint(1)},
				"time": &cbor.Tag{ID: 1, Value: cbor.Float64(float64(ts.UnixMilli()) / 1e3)},
				"tint": &cbor.Tag{ID: 1, Value: cbor.Uint(ts.Unix())},
				"m":    cbor.Map{"Id": cbor.String("q1")},
			}),
			want: map[string]any{
				"u": 300.0, "big": float64(1 << 40), "neg": -5.0, "f32": 1.5, "f64": -2.25,
				"s": "héllo", "b": true, "nil": nil, "l": []any{"a", 1.0},
				"time": ts, "tint": ts.Truncate(time.Second), "m": map[string]any{"Id": "q1"},
			},
		},
		{
			// {_ "a": [_ 1, 2], "s": (_ "ab" "c"), "h": float16 1.0}
			name: "indefinite lengths and float16",
			body: []byte{0xbf,
				0x61, 'a', 0x9f, 0x01, 0x02, 0xff,
				0x61, 's', 0x7f, 0x62, 'a', 'b', 0x61, 'c', 0xff,
				0x61, 'h', 0xf9, 0x3c, 0x00,
				0xff},
			want: map[string]any{"a": []any{1.0, 2.0}, "s": "abc", "h": 1.0},
		},
		{name: "empty body", body: nil, want: map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCBOR(tc.body)
			if err != nil {
				t.Fatalf("decodeCBOR: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeCBORRejects(t *testing.T) {
	valid := cbor.Encode(cbor.Map{"MetricDataQueries": cbor.List{cbor.Map{"Id": cbor.String("q1"), "Period": cbor.Uint(60)}}})
	// Every truncation of a valid body is an error, never a panic.
	for n := 1; n < len(valid); n++ {
		if _, err := DecodeCBOR(valid[:n]); err == nil {
			t.Errorf("truncated to %d of %d bytes: no error", n, len(valid))
		}
	}
	for name, body := range map[string][]byte{
		"not a map":         cbor.Encode(cbor.List{}),
		"trailing bytes":    append(cbor.Encode(cbor.Map{}), 0x00),
		"integer map key":   {0xa1, 0x01, 0x01},
		"huge list length":  {0xa1, 0x61, 'l', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"reserved encoding": {0xa1, 0x61, 'l', 0x1c},
		"deep nesting":      deepList(100),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeCBOR(body); err == nil {
				t.Error("no error")
			}
		})
	}
}

func deepList(depth int) []byte {
	b := []byte{0xa1, 0x61, 'l'}
	for range depth {
		b = append(b, 0x81)
	}
	return append(b, 0x01)
}

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x0000: 0, 0x7bff: 65504, 0x0001: 5.960464477539063e-08, 0x7c00: float32(math.Inf(1)),
	} {
		if got := halfToFloat(h); got != want {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", h, got, want)
		}
	}
}

// FuzzDecodeCBOR checks that no body makes the decoder panic or loop.
func FuzzDecodeCBOR(f *testing.F) {
	f.Add(cbor.Encode(cbor.Map{"MetricDataQueries": cbor.List{cbor.Map{"Id": cbor.String("q1")}}}))
	f.Add([]byte{0xbf, 0x61, 'a', 0x9f, 0x01, 0xff, 0xff})
	f.Add([]byte{0xa1, 0x61, 't', 0xc1, 0xfb, 0x41, 0xda, 0x5e, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = DecodeCBOR(body)
	})
}
