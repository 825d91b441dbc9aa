package sim

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// Adding an operation
//
// One operation is one handler in its service's registry; the wire codecs
// (package wire) and the middleware (middleware.go) are shared. To add, say,
// EC2's DescribeVolumes:
//
//  1. Write the handler, a method with the [handler] signature:
//
//	func (s *Server) describeVolumes(c *call) string {
//		if c.dryRun() {
//			return c.dryRunOK()
//		}
//		x := c.startXML("DescribeVolumesResponse")
//		// … write the answer from the account's Region (c.region) …
//		c.endXML(x, "DescribeVolumesResponse")
//		return "ok"
//	}
//
//     c.form() holds a Query request's parameters, c.doc a JSON or CBOR
//     request's decoded document; c.fail(status, code, message) answers an
//     AWS error in the request's protocol and returns the code.
//  2. Keep its state where the handler finds it: per account and Region in
//     regionState (filled from the fleet in New), per account in
//     accountState.
//  3. Add one line to the service's registry below (ec2Service, stsService,
//     cloudWatchService): "DescribeVolumes": {handle: (*Server).describeVolumes}.
//
// Authentication (the account from the access key or AssumeRole
// credentials, the Region from the SigV4 scope), the call counters, the
// Region's deny switches, the token bucket, injected faults and latency
// come from the middleware for every registered operation. An operation
// whose token bucket is not the service's default names it with bucket.
//
// A new service (Auto Scaling, Organizations) is one more constructor like
// ec2Service returning a *service — its signing name, its codecs, its
// error conventions and its registry — added to the list in newServices.

// handler answers one operation: it writes the answer (or an AWS error)
// into c.w and returns "ok" or the error code answered.
type handler func(s *Server, c *call) string

// operation is one registry entry.
type operation struct {
	handle handler
	// bucket names the token bucket the call draws from (nil: the
	// service's default).
	bucket func(c *call) (string, bucketSpec)
	// settled, when set, is told the call's outcome before its answer (or
	// reset) leaves, whatever the outcome (throttled, faulted, denied…):
	// whatever it records is there once the client knows.
	settled func(s *Server, c *call, outcome string)
}

// service is one AWS service of the simulated AWS: how its requests are
// recognised, how it answers errors, and its operations.
type service struct {
	// signingName is the SigV4 scope's service ("ec2", "sts",
	// "monitoring"); a Query request is routed by it.
	signingName string
	// iamPrefix is the service's prefix in IAM actions ("cloudwatch").
	iamPrefix string
	// version is the API version Query requests send (for messages).
	version string
	// query is the codec of the service's Query protocol (EC2Query or
	// AWSQuery); its Protocol is wire.Query when the service speaks none.
	query wire.Codec
	// target is the document protocols' service name (awsJson X-Amz-Target
	// prefix, RPC v2 CBOR service shape); "" when it speaks none.
	target string
	// docCodec returns the codec of a document protocol the service speaks
	// (nil: none).
	docCodec func(p wire.Protocol) (wire.Codec, bool)
	// global services (STS) count under Region "" and are never throttled.
	global bool
	// unsigned is the error for a request without a SigV4 signature.
	unsigned wire.Error
	// deny answers the Region's deny switches for this service ("" lets
	// the call through).
	deny func(s *Server, c *call) string
	// throttled is the answer of a call its token bucket refuses.
	throttled wire.Error
	// bucket is the default token bucket of an operation (nil: none).
	bucket func(c *call) (string, bucketSpec)
	// wrongProtocol explains a request in a protocol the service does not
	// speak here ("" : the generic message).
	wrongProtocol string
	// unknown marks the pseudo-service of a request for a service the
	// simulated AWS does not have.
	unknown bool
	ops     map[string]operation
}

// codecFor returns the service's codec for protocol p.
func (svc *service) codecFor(p wire.Protocol) (wire.Codec, bool) {
	if p == wire.Query {
		return svc.query, svc.query.Protocol != wire.Query
	}
	if svc.docCodec == nil {
		return wire.Codec{}, false
	}
	return svc.docCodec(p)
}

// unknownOperation answers an action the service does not implement with
// the service's own error for it.
func (svc *service) unknownOperation(c *call) string {
	switch c.codec.Protocol {
	case wire.EC2Query:
		return c.fail(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", c.api))
	case wire.AWSQuery:
		return c.fail(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", c.api, svc.version))
	default:
		return c.fail(http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("The simulated %s does not implement the operation %q.", svc.iamPrefix, c.api))
	}
}

// services is the simulated AWS's service list, built by New.
type services struct {
	list      []*service
	bySigning map[string]*service
	byTarget  map[string]*service
}

func newServices(list ...*service) services {
	ss := services{list: list, bySigning: map[string]*service{}, byTarget: map[string]*service{}}
	for _, svc := range list {
		ss.bySigning[svc.signingName] = svc
		if svc.target != "" {
			ss.byTarget[svc.target] = svc
		}
	}
	return ss
}

// route finds the service of a request: by the document protocols'
// service name, else by the SigV4 scope's service, else (unsigned Query
// requests) by the API version or action a client sends.
func (ss services) route(req *wire.Request, scope sigScope) (*service, bool) {
	if req.Protocol.Document() {
		svc, ok := ss.byTarget[req.Target]
		return svc, ok
	}
	if scope.service != "" {
		svc, ok := ss.bySigning[scope.service]
		return svc, ok
	}
	v := req.Form.Get("Version")
	for _, svc := range ss.list {
		if v != "" && svc.version == v && svc.query.Protocol != wire.Query {
			return svc, true
		}
	}
	for _, svc := range ss.list {
		if _, ok := svc.ops[req.Operation]; ok && svc.query.Protocol != wire.Query && svc.signingName != "ec2" {
			return svc, true
		}
	}
	// An unsigned request is most likely EC2 (the first service), which
	// answers it AuthFailure as AWS does.
	return ss.list[0], true
}

// unknownService is the pseudo-service of a request for a service the
// simulated AWS does not have: every action answers the protocol's own
// error for it.
func unknownService(p wire.Protocol, name string) *service {
	codec := wire.Codec{Protocol: p}
	if p == wire.Query {
		codec.Protocol = wire.AWSQuery
	}
	if name == "" {
		name = "(unnamed)"
	}
	return &service{
		signingName: name,
		iamPrefix:   name,
		query:       codec,
		docCodec:    func(p wire.Protocol) (wire.Codec, bool) { return wire.Codec{Protocol: p}, true },
		ops:         map[string]operation{},
		unknown:     true,
	}
}

// unknownServiceError answers a request for a service the simulated AWS
// does not have, in the request's protocol.
func unknownServiceError(c *call) string {
	msg := fmt.Sprintf("The simulated AWS does not implement the service %q (it serves %s).", c.svc.signingName, strings.Join(c.s.serviceNames(), ", "))
	if c.codec.Protocol.Document() {
		return c.fail(http.StatusBadRequest, "UnknownOperationException", msg)
	}
	return c.fail(http.StatusBadRequest, "InvalidAction", msg)
}

func (s *Server) serviceNames() []string {
	out := make([]string, 0, len(s.services.list))
	for _, svc := range s.services.list {
		out = append(out, svc.signingName)
	}
	return out
}
