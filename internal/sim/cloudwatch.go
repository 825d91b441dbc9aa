package sim

import (
	"net/http"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/cwsim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// cloudWatchService is CloudWatch: Smithy RPC v2 CBOR (the SDKs' default)
// and awsJson 1.0, with the handlers of package cwsim.
func (s *Server) cloudWatchService() *service {
	return &service{
		signingName: "monitoring",
		iamPrefix:   "cloudwatch",
		version:     "2010-08-01",
		query:       wire.Codec{Protocol: wire.Query},
		target:      cwsim.ServiceName,
		docCodec: func(p wire.Protocol) (wire.Codec, bool) {
			return cwsim.Codec(p), p == wire.RPCv2CBOR || p == wire.AWSJSON10
		},
		unsigned:  wire.Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"},
		deny:      cloudWatchDeny,
		throttled: wire.Error{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"},
		bucket:    func(c *call) (string, bucketSpec) { return "cloudwatch/" + c.api, specCloudWatch },
		// The Query protocol (awsquery) is not spoken here: say so in that
		// protocol's error shape instead of EC2's "not valid for this web
		// service".
		wrongProtocol: "The simulated CloudWatch speaks Smithy RPC v2 CBOR (the SDKs' default) and awsJson1_0, not the Query protocol this request uses (imdsfleet scan: --cloudwatch-protocol cbor or json).",
		ops: map[string]operation{
			"GetMetricData":       {handle: cloudWatchOp(cwsim.GetMetricData)},
			"GetMetricStatistics": {handle: cloudWatchOp(cwsim.GetMetricStatistics)},
		},
	}
}

// cloudWatchDeny answers CloudWatch calls in a Region not enabled for the
// account and in a Region whose knobs deny CloudWatch.
func cloudWatchDeny(_ *Server, c *call) string {
	if !c.region.callsAllowed {
		return c.fail(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if c.knobs.CloudWatchDenied {
		return c.fail(http.StatusForbidden, "AccessDenied",
			"User: "+principalArn(c)+" is not authorized to perform: cloudwatch:"+c.api)
	}
	return ""
}

// cloudWatchOp adapts a cwsim handler to the registry.
func cloudWatchOp(h cwsim.Handler) handler {
	return func(s *Server, c *call) string {
		out, err := h(c.codec, c.doc, c.account.id, c.scope.region, cwBackend{s})
		if err != nil {
			return c.fail(err.Status, err.Code, err.Message)
		}
		c.codec.WriteDoc(c.w, out)
		return "ok"
	}
}

// cwBackend adapts the server to cwsim.Backend: Instance returns the
// fleet's description by pointer, or, for an instance whose metadata
// options were changed, a copy whose usage follows the changes
// (see withChanges).
type cwBackend struct{ s *Server }

func (b cwBackend) Instance(account, region, id string) (*fleet.Instance, bool) {
	a, ok := b.s.byID[account]
	if !ok {
		return nil, false
	}
	rs, ok := lookupRegion(a, region)
	if !ok {
		return nil, false
	}
	i, ok := rs.find(id)
	if !ok {
		return nil, false
	}
	rs.mu.Lock()
	changes := rs.insts[i].changes
	rs.mu.Unlock()
	return withChanges(rs.insts[i].in, changes, b.s.now()), true
}

func (b cwBackend) Now() time.Time { return b.s.now() }

var _ cwsim.Backend = cwBackend{}
