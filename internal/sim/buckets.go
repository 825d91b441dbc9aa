package sim

import (
	"strings"
	"time"
)

// bucketSpec is a token bucket's size and refill per second.
type bucketSpec struct {
	size, refill float64
}

// AWS's request limits (docs/aws-facts.md#ec2-request-limits). CloudWatch's
// GetMetricData quota is about 50 requests/s per account and Region
// (docs/aws-facts.md#cloudwatch-imds-usage-metrics).
var (
	specDescribeFiltered = bucketSpec{100, 20}
	specDescribeAll      = bucketSpec{50, 10}
	specModifyOptions    = bucketSpec{100, 5}
	specModifyDefaults   = bucketSpec{2, 2}
	specMutating         = bucketSpec{50, 5}
	specNonMutating      = bucketSpec{100, 20}
	specCloudWatch       = bucketSpec{50, 50}
)

// ec2Bucket names the bucket an EC2 call draws from.
func ec2Bucket(action string, pagedOrFiltered bool) (string, bucketSpec) {
	switch {
	case action == "DescribeInstances" && pagedOrFiltered:
		return "DescribeInstances", specDescribeFiltered
	case action == "DescribeInstances":
		return "DescribeInstances/unfiltered", specDescribeAll
	case action == "ModifyInstanceMetadataOptions":
		return action, specModifyOptions
	case action == "ModifyInstanceMetadataDefaults":
		return action, specModifyDefaults
	case strings.HasPrefix(action, "Describe"), strings.HasPrefix(action, "Get"), strings.HasPrefix(action, "List"):
		return action, specNonMutating
	default:
		return action, specMutating
	}
}

// bucket is a token bucket refilled continuously on the server's wall
// clock (Options.Wall).
type bucket struct {
	spec   bucketSpec
	tokens float64
	last   time.Time
}

// refill adds the tokens earned since the last refill at timeScale (0: 1).
func (b *bucket) refill(now time.Time, timeScale float64) {
	if timeScale <= 0 {
		timeScale = 1
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * b.spec.refill * timeScale
		if b.tokens > b.spec.size {
			b.tokens = b.spec.size
		}
		b.last = now
	}
}

// take draws one token from the Region's named bucket (created full).
func (rs *regionState) take(name string, spec bucketSpec, timeScale float64, now time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	b, ok := rs.buckets[name]
	if !ok {
		b = &bucket{spec: spec, tokens: spec.size, last: now}
		rs.buckets[name] = b
	}
	b.refill(now, timeScale)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
