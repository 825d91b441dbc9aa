package cwsim

import (
	"fmt"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
	"math"
	"time"
)

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
	r.fail(&apiError{Status: 400, Code: "SerializationException",
		Message: fmt.Sprintf("parameter %s must be %s, got %T", path, want, got)})
}

func (r *reader) str(m map[string]any, prefix, key string) (string, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		r.typeErr(join(prefix, key), "a string", v)
		return "", false
	}
	return s, true
}

func (r *reader) num(m map[string]any, prefix, key string) (float64, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false
	}
	f, ok := v.(float64)
	if !ok {
		r.typeErr(join(prefix, key), "a number", v)
		return 0, false
	}
	return f, true
}

// integer reads an int32 member.
func (r *reader) integer(m map[string]any, prefix, key string) (int64, bool) {
	f, ok := r.num(m, prefix, key)
	if !ok {
		return 0, false
	}
	if f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		r.fail(invalidValue(fmt.Sprintf("The parameter %s must be an integer, got %v.", join(prefix, key), f)))
		return 0, false
	}
	return int64(f), true
}

func (r *reader) boolean(m map[string]any, prefix, key string) (bool, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		r.typeErr(join(prefix, key), "a boolean", v)
		return false, false
	}
	return b, true
}

func (r *reader) time(m map[string]any, prefix, key string) (time.Time, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return time.Time{}, false
	}
	switch v := v.(type) {
	case time.Time:
		return v, true
	case float64: // JSON protocols send epoch seconds
		return wire.EpochTime(v), true
	}
	r.typeErr(join(prefix, key), "a timestamp", v)
	return time.Time{}, false
}

func (r *reader) object(m map[string]any, prefix, key string) (map[string]any, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false
	}
	o, ok := v.(map[string]any)
	if !ok {
		r.typeErr(join(prefix, key), "a structure", v)
		return nil, false
	}
	return o, true
}

func (r *reader) list(m map[string]any, prefix, key string) ([]any, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		r.typeErr(join(prefix, key), "a list", v)
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

// strAt reads an optional string member of a structure whose path is only
// built when the member has the wrong type.
func (r *reader) strAt(m map[string]any, key string, path func() string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.typeErr(join(path(), key), "a string", v)
	}
	return s
}

// readMetric reads a Metric structure (or the flattened members of
// GetMetricStatistics) found at prefix.
func (r *reader) readMetric(m map[string]any, prefix string) metric {
	var out metric
	out.namespace, _ = r.str(m, prefix, "Namespace")
	out.name, _ = r.str(m, prefix, "MetricName")
	dims, _ := r.list(m, prefix, "Dimensions")
	for i, d := range dims {
		dp := func() string { return fmt.Sprintf("%s.member.%d", join(prefix, "Dimensions"), i+1) }
		dm, ok := d.(map[string]any)
		if !ok {
			r.typeErr(dp(), "a structure", d)
			continue
		}
		out.dims = append(out.dims, dimension{name: r.strAt(dm, "Name", dp), value: r.strAt(dm, "Value", dp)})
	}
	return out
}

// join builds a parameter path for an error message.
func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// instanceID returns the instance a metric names, or "" when it is not one
// of the per-instance IMDS metrics this simulator publishes.
func (m metric) instanceID() string {
	if m.namespace != "AWS/EC2" || len(m.dims) != 1 || m.dims[0].name != "InstanceId" {
		return ""
	}
	return m.dims[0].value
}
