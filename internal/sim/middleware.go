package sim

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
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

// call is one request on its way through the middleware to its handler.
type call struct {
	s     *Server
	svc   *service
	op    *operation // nil: an action the service does not implement
	codec wire.Codec // the answer's protocol, as the service speaks it
	req   wire.Request
	api   string
	scope sigScope
	// signed reports whether the request carries a SigV4 credential.
	signed  bool
	account *accountState
	assumed *assumedKey  // the AssumeRole credentials that signed it, if any
	region  *regionState // knobs, buckets and instances; nil before the account is known
	// statsRegion is the Region the counters use ("" for global services).
	statsRegion string
	knobs       fleet.Knobs
	// doc is a document protocol's decoded request (set before the handler).
	doc map[string]any
	w   *bufWriter
	rid string
	// replayed: the handler answered an earlier call's result for a
	// client token it had seen (no change made).
	replayed bool
}

// form returns a Query request's parameters.
func (c *call) form() url.Values { return c.req.Form }

// requestID returns the call's AWS request id (one per call).
func (c *call) requestID() string {
	if c.rid == "" {
		c.rid = c.s.requestID()
	}
	return c.rid
}

// fail writes an AWS error in the call's protocol and returns its code.
func (c *call) fail(status int, code, message string) string {
	c.codec.WriteError(c.w, status, code, message, c.requestID())
	return code
}

// startXML starts an XML answer (EC2 Query, awsQuery) with root element root.
func (c *call) startXML(root string) wire.XML {
	return c.codec.StartXML(c.w, &c.w.buf, root, c.requestID())
}

// endXML closes an answer startXML began.
func (c *call) endXML(x wire.XML, root string) { c.codec.EndXML(x, root, c.requestID()) }

// formBool reports whether a Query parameter is "true".
func (c *call) formBool(key string) bool { return strings.EqualFold(c.req.Form.Get(key), "true") }

// dryRun reports whether a Query request sets DryRun.
func (c *call) dryRun() bool { return c.formBool("DryRun") }

// dryRunOK answers a permitted DryRun call as AWS does: HTTP 412.
func (c *call) dryRunOK() string {
	return c.fail(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
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

// step runs the rest of the chain and returns the call's outcome.
type step func(c *call) string

// middleware is one link of the chain every call goes through: it may
// answer the call itself (returning the outcome) or pass it on with next.
type middleware func(c *call, next step) string

// chain is the middleware every call goes through, outermost first, with
// the handler at the end. Latency, logging and sending the answer wrap it
// in serve.
func (s *Server) chain() []middleware {
	return []middleware{
		s.count,
		s.authenticate,
		s.denySwitches,
		s.throttle,
		s.injectFaults,
		s.resetAfterApply,
		decodeDocument,
	}
}

// run passes c through mws, then its handler.
func run(c *call, mws []middleware) string {
	if len(mws) == 0 {
		return c.handle()
	}
	return mws[0](c, func(c *call) string { return run(c, mws[1:]) })
}

// handle runs the call's operation, or the service's answer for an action
// it does not implement.
func (c *call) handle() string {
	switch {
	case c.svc.unknown:
		return unknownServiceError(c)
	case c.op == nil:
		return c.svc.unknownOperation(c)
	}
	return c.op.handle(c.s, c)
}

// serve runs one call through the chain, then applies latency, tells the
// operation's settled hook the outcome and sends the answer (or resets the
// connection).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, c *call) string {
	c.w = newBufWriter()
	c.knobs = s.fleetKnobs
	outcome := run(c, s.mws)
	if outcome == outcomeReset || outcome == OutcomeResetAfterApply {
		s.log.Debug("sim request", "api", c.api, "region", c.statsRegion, "outcome", outcome)
		c.settle(outcome)
		resetConn(w)
		return outcome
	}
	d := minLatency
	if l := c.knobs.Latency; l != nil {
		d = max(d, l.Fixed.D()+time.Duration(float64(l.PerKiB.D())*float64(c.w.buf.Len())/1024)+s.jitter(l.Jitter.D()))
	}
	sleep(r.Context(), d)
	s.log.Debug("sim request", "service", c.svc.signingName, "api", c.api, "account", accountID(c.account), "region", c.statsRegion, "status", c.w.status, "outcome", outcome, "bytes", c.w.buf.Len())
	c.settle(outcome)
	c.w.flushTo(w)
	return outcome
}

// settle tells the operation's settled hook the outcome, if it has one.
func (c *call) settle(outcome string) {
	if c.op != nil && c.op.settled != nil {
		c.op.settled(c.s, c, outcome)
	}
}

// count counts every call received, whatever its outcome.
func (s *Server) count(c *call, next step) string {
	s.stats.add(countCall, c.api, c.statsRegion)
	return next(c)
}

// authenticate attributes the call to an account (its access key, or the
// AssumeRole credentials that signed it) and to the SigV4 scope's Region,
// whose knobs the rest of the chain uses. A request without a signature
// gets the service's error for it.
func (s *Server) authenticate(c *call, next step) string {
	if c.signed {
		c.account, c.assumed = s.caller(c.scope.accessKey)
	}
	if c.account == nil {
		if c.svc.unknown {
			return next(c)
		}
		u := c.svc.unsigned
		return c.fail(u.Status, u.Code, u.Message)
	}
	c.region = s.region(c.account, c.scope.region)
	c.region.mu.Lock()
	c.knobs = c.region.knobs
	c.region.mu.Unlock()
	return next(c)
}

// denySwitches applies the service's answer to the Region's deny knobs
// (AuthFailure, UnauthorizedOperation, a Region not opted in…).
func (s *Server) denySwitches(c *call, next step) string {
	if c.svc.deny != nil && c.region != nil {
		if out := c.svc.deny(s, c); out != "" {
			return out
		}
	}
	return next(c)
}

// throttle draws a token from the call's bucket when the Region throttles.
func (s *Server) throttle(c *call, next step) string {
	if c.op == nil || c.region == nil || c.svc.global || c.knobs.Throttle == nil || !*c.knobs.Throttle {
		return next(c)
	}
	bucketOf := c.op.bucket
	if bucketOf == nil {
		bucketOf = c.svc.bucket
	}
	if bucketOf == nil {
		return next(c)
	}
	name, spec := bucketOf(c)
	if name == "" {
		return next(c)
	}
	if !c.region.take(name, spec, c.knobs.TimeScale, s.wall()) {
		s.stats.add(countThrottle, c.api, c.statsRegion)
		t := c.svc.throttled
		return c.fail(t.Status, t.Code, t.Message)
	}
	return next(c)
}

// injectFaults answers the knobs' faults for the call's API (error or
// connection reset), before the handler runs.
func (s *Server) injectFaults(c *call, next step) string {
	for _, f := range c.knobs.Faults {
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
		return c.fail(status, code, "Injected fault: "+code+" (simulated AWS)")
	}
	return next(c)
}

// resetAfterApply lets a call through and, when a resetAfterApply fault
// hits a call that succeeded, replaces its answer with a connection reset.
func (s *Server) resetAfterApply(c *call, next step) string {
	outcome := next(c)
	if outcome != "ok" {
		return outcome
	}
	for _, f := range c.knobs.Faults {
		if !f.ResetAfterApply || f.API != "*" && f.API != c.api {
			continue
		}
		if s.chance(f.Rate) {
			s.stats.add(countFault, c.api, c.statsRegion)
			return OutcomeResetAfterApply
		}
	}
	return outcome
}

// decodeDocument decodes a JSON or CBOR request for its handler.
func decodeDocument(c *call, next step) string {
	if !c.codec.Protocol.Document() || c.op == nil {
		return next(c)
	}
	doc, err := c.codec.Decode(c.req.Body)
	if err != nil {
		return c.fail(http.StatusBadRequest, "SerializationException", err.Error())
	}
	c.doc = doc
	return next(c)
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
