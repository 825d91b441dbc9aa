package sim

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/cwsim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// protocol selects the error shape of an answer.
type protocol int

const (
	protoEC2 protocol = iota
	protoSTS
	protoCW
	protoCWJSON // CloudWatch over awsJson1_0 (botocore's choice)
)

// minLatency is the least time any answer takes. Real AWS never answers
// faster, and the Go SDK's HTTP client races when a server answers within
// microseconds of reading the request: smithy-go closes the request body
// while the transport's write loop still holds it, the transport drops the
// connection mid-answer ("use of closed network connection",
// aws-sdk-go-v2#2737) and the SDK sends the call again. Under -race that
// happened to one call in six without this floor, none with it.
const minLatency = time.Millisecond

// outcomeReset marks an injected connection reset.
const outcomeReset = "reset"

// OutcomeResetAfterApply marks a call that succeeded (a change was made)
// whose answer was replaced by a connection reset (fault resetAfterApply).
const OutcomeResetAfterApply = "reset-after-apply"

// call is one request on its way through the pipeline.
type call struct {
	proto   protocol
	api     string
	account *accountState
	region  *regionState // knobs, buckets and instances; nil before the account is known
	// statsRegion is the Region the counters use ("" for STS).
	statsRegion string
	// bucket names the token bucket the call draws from ("" for none).
	bucket string
	spec   bucketSpec
	// settled, when set, is told the call's outcome before its answer (or
	// reset) leaves: whatever it records is there once the client knows.
	settled func(outcome string)
}

// settle tells c.settled the outcome, if anyone listens.
func (c *call) settle(outcome string) {
	if c.settled != nil {
		c.settled(outcome)
	}
}

// bufWriter buffers an answer so that its size is known before the
// latency is applied and the answer sent.
type bufWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func newBufWriter() *bufWriter { return &bufWriter{h: http.Header{}} }

func (b *bufWriter) Header() http.Header { return b.h }

func (b *bufWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}

func (b *bufWriter) flushTo(w http.ResponseWriter) {
	for k, v := range b.h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.buf.Len()))
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.buf.Bytes())
}

// handler writes an answer into w and returns "ok" or the AWS error code
// it answered.
type handler func(w *bufWriter) string

// dispatch runs one call: counters, denied Regions, token bucket, injected
// faults, the handler, then latency, then the answer.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, c *call, h handler) string {
	s.stats.add(countCall, c.api, c.statsRegion)
	var k fleet.Knobs
	if c.region != nil {
		c.region.mu.Lock()
		k = c.region.knobs
		c.region.mu.Unlock()
	} else {
		k = s.fleetKnobs
	}
	bw := newBufWriter()
	outcome := s.gate(bw, c, k)
	if outcome == outcomeReset {
		s.log.Debug("sim request", "api", c.api, "region", c.statsRegion, "outcome", outcome)
		c.settle(outcome)
		resetConn(w)
		return outcome
	}
	if outcome == "" {
		outcome = h(bw)
		if outcome == "ok" && s.resetAfterApply(c, k) {
			s.log.Debug("sim request", "api", c.api, "region", c.statsRegion, "outcome", OutcomeResetAfterApply)
			c.settle(OutcomeResetAfterApply)
			resetConn(w)
			return OutcomeResetAfterApply
		}
	}
	d := minLatency
	if l := k.Latency; l != nil {
		d = max(d, l.Fixed.D()+time.Duration(float64(l.PerKiB.D())*float64(bw.buf.Len())/1024)+s.jitter(l.Jitter.D()))
	}
	sleep(r.Context(), d)
	s.log.Debug("sim request", "api", c.api, "account", accountID(c.account), "region", c.statsRegion, "status", bw.status, "outcome", outcome, "bytes", bw.buf.Len())
	c.settle(outcome)
	bw.flushTo(w)
	return outcome
}

func accountID(a *accountState) string {
	if a == nil {
		return ""
	}
	return a.id
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// resetConn closes the client's connection without an answer.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 or a recorder: the closest is aborting the handler.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0) // RST rather than FIN
	}
	_ = conn.Close()
}

// gate applies the Region's deny switches, the token bucket and fault
// injection. It returns "" to let the call through, else the outcome it
// answered.
func (s *Server) gate(w *bufWriter, c *call, k fleet.Knobs) string {
	switch c.proto {
	case protoEC2:
		if c.region != nil && c.region.optIn == "not-opted-in" {
			return s.writeError(w, c.proto, http.StatusUnauthorized, "AuthFailure",
				"AWS was not able to validate the provided access credentials (Region "+c.region.name+" is not enabled for this account)")
		}
		if k.AuthFailure {
			return s.writeError(w, c.proto, http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
		if k.UnauthorizedOperation || (k.DenyModify && c.api == "ModifyInstanceMetadataOptions") {
			return s.writeError(w, c.proto, http.StatusForbidden, "UnauthorizedOperation",
				"You are not authorized to perform this operation. User: arn:aws:iam::"+accountID(c.account)+":user/imdsfleet-sim is not authorized to perform: ec2:"+c.api)
		}
	case protoCW, protoCWJSON:
		if c.region != nil && c.region.optIn == "not-opted-in" {
			return s.writeError(w, c.proto, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		}
		if k.CloudWatchDenied {
			return s.writeError(w, c.proto, http.StatusForbidden, "AccessDenied",
				"User: arn:aws:iam::"+accountID(c.account)+":user/imdsfleet-sim is not authorized to perform: cloudwatch:"+c.api)
		}
	}
	if c.bucket != "" && c.region != nil && k.Throttle != nil && *k.Throttle {
		if !c.region.take(c.bucket, c.spec, k.TimeScale, s.wall()) {
			s.stats.add(countThrottle, c.api, c.statsRegion)
			if c.proto == protoCW || c.proto == protoCWJSON {
				return s.writeError(w, c.proto, http.StatusBadRequest, "Throttling", "Rate exceeded")
			}
			return s.writeError(w, c.proto, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
		}
	}
	for _, f := range k.Faults {
		if f.API != "*" && f.API != c.api || f.ResetAfterApply {
			continue
		}
		if !s.chance(f.Rate) {
			continue
		}
		s.stats.add(countFault, c.api, c.statsRegion)
		if f.Reset {
			return outcomeReset
		}
		code, status := f.Code, f.Status
		if code == "" {
			code = "InternalError"
		}
		if status == 0 {
			status = http.StatusInternalServerError
		}
		return s.writeError(w, c.proto, status, code, "Injected fault: "+code+" (simulated AWS)")
	}
	return ""
}

// resetAfterApply reports whether a resetAfterApply fault hits a call that
// has just succeeded.
func (s *Server) resetAfterApply(c *call, k fleet.Knobs) bool {
	for _, f := range k.Faults {
		if !f.ResetAfterApply || f.API != "*" && f.API != c.api {
			continue
		}
		if s.chance(f.Rate) {
			s.stats.add(countFault, c.api, c.statsRegion)
			return true
		}
	}
	return false
}

// writeError writes an AWS error in the protocol's shape and returns code.
func (s *Server) writeError(w *bufWriter, p protocol, status int, code, message string) string {
	switch p {
	case protoCW:
		cwsim.WriteError(w, status, code, message)
	case protoCWJSON:
		cwsim.WriteJSONError(w, status, code, message)
	case protoSTS:
		writeSTSError(w, status, code, message, s.requestID())
	default:
		writeEC2Error(w, status, code, message, s.requestID())
	}
	return code
}

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
