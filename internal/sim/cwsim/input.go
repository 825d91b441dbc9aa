package cwsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Request bodies are decoded into plain Go values (map[string]any, []any,
// string, float64, bool, time.Time) so the CBOR and JSON protocols share one
// reader of the operation inputs below.

// decodeCBOR turns an RPC v2 CBOR body into plain values.
func decodeCBOR(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("body is not valid CBOR: %w", err)
	}
	m, ok := plainCBOR(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body must be a CBOR map, got %T", v)
	}
	return m, nil
}

func plainCBOR(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = plainCBOR(e)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plainCBOR(e)
		}
		return l
	case cbor.String:
		return string(v)
	case cbor.Uint:
		return float64(v)
	case cbor.NegInt:
		return -float64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	case cbor.Bool:
		return bool(v)
	case *cbor.Tag:
		if v.ID == 1 {
			if secs, ok := plainCBOR(v.Value).(float64); ok {
				return epochTime(secs)
			}
		}
		return fmt.Sprintf("<CBOR tag %d>", v.ID)
	case *cbor.Nil, *cbor.Undefined:
		return nil
	default:
		return fmt.Sprintf("<CBOR %T>", v)
	}
}

// decodeJSON turns an awsJson1_0 body into plain values.
func decodeJSON(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	return m, nil
}

func epochTime(secs float64) time.Time {
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e9))).UTC()
}

// reader reads typed members out of plain values and remembers the first
// problem as an AWS error.
type reader struct {
	err *apiError
}

func (r *reader) fail(e *apiError) {
	if r.err == nil {
		r.err = e
	}
}

func (r *reader) typeErr(path, want string, got any) {
	r.fail(&apiError{status: 400, code: "SerializationException",
		message: fmt.Sprintf("parameter %s must be %s, got %T", path, want, got)})
}

func (r *reader) str(m map[string]any, key, path string) (string, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		r.typeErr(path, "a string", v)
		return "", false
	}
	return s, true
}

func (r *reader) num(m map[string]any, key, path string) (float64, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false
	}
	f, ok := v.(float64)
	if !ok {
		r.typeErr(path, "a number", v)
		return 0, false
	}
	return f, true
}

// integer reads an int32 member.
func (r *reader) integer(m map[string]any, key, path string) (int64, bool) {
	f, ok := r.num(m, key, path)
	if !ok {
		return 0, false
	}
	if f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		r.fail(invalidValue(fmt.Sprintf("The parameter %s must be an integer, got %v.", path, f)))
		return 0, false
	}
	return int64(f), true
}

func (r *reader) boolean(m map[string]any, key, path string) (bool, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		r.typeErr(path, "a boolean", v)
		return false, false
	}
	return b, true
}

func (r *reader) time(m map[string]any, key, path string) (time.Time, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return time.Time{}, false
	}
	switch v := v.(type) {
	case time.Time:
		return v, true
	case float64: // JSON protocols send epoch seconds
		return epochTime(v), true
	}
	r.typeErr(path, "a timestamp", v)
	return time.Time{}, false
}

func (r *reader) object(m map[string]any, key, path string) (map[string]any, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false
	}
	o, ok := v.(map[string]any)
	if !ok {
		r.typeErr(path, "a structure", v)
		return nil, false
	}
	return o, true
}

func (r *reader) list(m map[string]any, key, path string) ([]any, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		r.typeErr(path, "a list", v)
		return nil, false
	}
	return l, true
}

// metric is a CloudWatch metric identity as a request names it.
type metric struct {
	namespace, name string
	dims            []dimension
}

type dimension struct{ name, value string }

// readMetric reads a Metric structure (or the flattened members of
// GetMetricStatistics) found at path.
func (r *reader) readMetric(m map[string]any, path string) metric {
	var out metric
	pfx := path
	if pfx != "" {
		pfx += "."
	}
	out.namespace, _ = r.str(m, "Namespace", pfx+"Namespace")
	out.name, _ = r.str(m, "MetricName", pfx+"MetricName")
	dims, _ := r.list(m, "Dimensions", pfx+"Dimensions")
	for i, d := range dims {
		dp := fmt.Sprintf("%sDimensions.member.%d", pfx, i+1)
		dm, ok := d.(map[string]any)
		if !ok {
			r.typeErr(dp, "a structure", d)
			continue
		}
		n, _ := r.str(dm, "Name", dp+".Name")
		v, _ := r.str(dm, "Value", dp+".Value")
		out.dims = append(out.dims, dimension{name: n, value: v})
	}
	return out
}

// instanceID returns the instance a metric names, or "" when it is not one
// of the per-instance IMDS metrics this simulator publishes.
func (m metric) instanceID() string {
	if m.namespace != "AWS/EC2" || len(m.dims) != 1 || m.dims[0].name != "InstanceId" {
		return ""
	}
	return m.dims[0].value
}
