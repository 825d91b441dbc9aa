package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// cborDecoder reads an RPC v2 CBOR request body straight into plain Go
// values (map[string]any, []any, string, float64, bool, time.Time). It replaces smithy-go's cbor.Decode, whose Value
// tree had to be converted again: decoding was half the cost of a
// 500-query GetMetricData.
type cborDecoder struct {
	p   []byte
	off int
}

const cborMaxDepth = 64

var errTruncated = errors.New("unexpected end of CBOR data")

func (d *cborDecoder) head() (major, minor byte, err error) {
	if d.off >= len(d.p) {
		return 0, 0, errTruncated
	}
	b := d.p[d.off]
	d.off++
	return b >> 5, b & 0x1f, nil
}

// arg reads the argument that follows a head with minor.
func (d *cborDecoder) arg(minor byte) (uint64, error) {
	if minor < 24 {
		return uint64(minor), nil
	}
	n := 0
	switch minor {
	case 24:
		n = 1
	case 25:
		n = 2
	case 26:
		n = 4
	case 27:
		n = 8
	default:
		return 0, fmt.Errorf("CBOR: bad argument encoding %d at offset %d", minor, d.off-1)
	}
	if d.off+n > len(d.p) {
		return 0, errTruncated
	}
	b := d.p[d.off : d.off+n]
	d.off += n
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// length reads a definite length and checks it against the bytes left
// (each element takes at least one byte), so a hostile length cannot make
// the decoder allocate gigabytes.
func (d *cborDecoder) length(minor byte) (int, error) {
	n, err := d.arg(minor)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.p)-d.off) {
		return 0, errTruncated
	}
	return int(n), nil
}

func (d *cborDecoder) atBreak() bool { return d.off < len(d.p) && d.p[d.off] == 0xff }

func (d *cborDecoder) value(depth int) (any, error) {
	if depth > cborMaxDepth {
		return nil, fmt.Errorf("CBOR nested deeper than %d", cborMaxDepth)
	}
	major, minor, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case 0:
		n, err := d.arg(minor)
		return float64(n), err
	case 1:
		n, err := d.arg(minor)
		return -1 - float64(n), err
	case 2, 3:
		b, err := d.text(major, minor)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case 4:
		if minor == 31 {
			var l []any
			for !d.atBreak() {
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			d.off++
			return l, nil
		}
		n, err := d.length(minor)
		if err != nil {
			return nil, err
		}
		l := make([]any, n)
		for i := range l {
			if l[i], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return l, nil
	case 5:
		n := -1
		if minor != 31 {
			if n, err = d.length(minor); err != nil {
				return nil, err
			}
		}
		m := make(map[string]any, max(n, 0))
		for i := 0; n < 0 || i < n; i++ {
			if n < 0 && d.atBreak() {
				d.off++
				break
			}
			kmaj, kmin, err := d.head()
			if err != nil {
				return nil, err
			}
			if kmaj != 3 {
				return nil, fmt.Errorf("CBOR map key of major type %d at offset %d: want a text string", kmaj, d.off-1)
			}
			kb, err := d.text(kmaj, kmin)
			if err != nil {
				return nil, err
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[internKey(kb)] = v
		}
		return m, nil
	case 6:
		tag, err := d.arg(minor)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if secs, ok := v.(float64); ok && tag == 1 {
			return EpochTime(secs), nil
		}
		return fmt.Sprintf("<CBOR tag %d>", tag), nil
	default:
		switch minor {
		case 20:
			return false, nil
		case 21:
			return true, nil
		case 22, 23:
			return nil, nil
		case 25:
			n, err := d.arg(minor)
			return float64(halfToFloat(uint16(n))), err
		case 26:
			n, err := d.arg(minor)
			return float64(math.Float32frombits(uint32(n))), err
		case 27:
			n, err := d.arg(minor)
			return math.Float64frombits(n), err
		}
		return nil, fmt.Errorf("CBOR simple value %d at offset %d is not supported", minor, d.off-1)
	}
}

// text reads a byte or text string, definite or chunked.
func (d *cborDecoder) text(major, minor byte) ([]byte, error) {
	if minor != 31 {
		n, err := d.length(minor)
		if err != nil {
			return nil, err
		}
		b := d.p[d.off : d.off+n]
		d.off += n
		return b, nil
	}
	var out []byte
	for !d.atBreak() {
		cmaj, cmin, err := d.head()
		if err != nil {
			return nil, err
		}
		if cmaj != major || cmin == 31 {
			return nil, fmt.Errorf("CBOR: bad chunk in an indefinite-length string at offset %d", d.off-1)
		}
		b, err := d.text(cmaj, cmin)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	if d.off >= len(d.p) {
		return nil, errTruncated
	}
	d.off++
	return out, nil
}

// internKey returns the member names of CloudWatch's inputs without
// allocating; other keys are copied.
func internKey(b []byte) string {
	switch string(b) {
	case "Id":
		return "Id"
	case "MetricStat":
		return "MetricStat"
	case "Metric":
		return "Metric"
	case "Namespace":
		return "Namespace"
	case "MetricName":
		return "MetricName"
	case "Dimensions":
		return "Dimensions"
	case "Name":
		return "Name"
	case "Value":
		return "Value"
	case "Period":
		return "Period"
	case "Stat":
		return "Stat"
	case "Unit":
		return "Unit"
	case "Label":
		return "Label"
	case "ReturnData":
		return "ReturnData"
	case "AccountId":
		return "AccountId"
	case "Expression":
		return "Expression"
	}
	return string(b)
}

// halfToFloat converts an IEEE 754 half-precision float.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch exp {
	case 0: // zero or subnormal
		f := float32(frac) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	case 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// DecodeCBOR turns an RPC v2 CBOR body into plain values.
func DecodeCBOR(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	d := cborDecoder{p: body}
	v, err := d.value(0)
	if err != nil {
		return nil, fmt.Errorf("body is not valid CBOR: %w", err)
	}
	if d.off != len(body) {
		return nil, fmt.Errorf("body is not valid CBOR: %d bytes after the top-level value", len(body)-d.off)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body must be a CBOR map, got %T", v)
	}
	return m, nil
}

// DecodeJSON turns an awsJson body into plain values.
func DecodeJSON(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	return m, nil
}

// EpochTime turns epoch seconds (awsJson and CBOR timestamps) into a time.
func EpochTime(secs float64) time.Time {
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e9))).UTC()
}
