// Package wire holds the simulated AWS's wire codecs: how a request of
// each AWS protocol (EC2 Query, awsQuery, awsJson 1.0 and 1.1, Smithy RPC
// v2 CBOR) names its service and operation and carries its input, and how
// answers and errors are shaped in each. It knows no service and no
// operation: the handlers in package sim (and cwsim) decide what to say,
// this package only how to say it.
package wire

import (
	"net/http"
	"net/url"
	"strings"
)

// Protocol is an AWS wire protocol.
type Protocol int

const (
	// Query is a form-encoded request (Action=…&Version=…) before its
	// service is known: EC2 Query and awsQuery look the same on the way in.
	Query Protocol = iota
	// EC2Query answers as EC2 does: <XResponse><requestId>, errors in
	// <Response><Errors><Error>.
	EC2Query
	// AWSQuery answers as STS, Auto Scaling and CloudWatch's Query API do:
	// <XResponse><XResult>…<ResponseMetadata>, errors in <ErrorResponse>.
	AWSQuery
	// AWSJSON10 and AWSJSON11: POST with X-Amz-Target "<Service>.<Op>".
	AWSJSON10
	AWSJSON11
	// RPCv2CBOR: POST /service/<Service>/operation/<Op>.
	RPCv2CBOR
)

func (p Protocol) String() string {
	switch p {
	case Query:
		return "query"
	case EC2Query:
		return "ec2Query"
	case AWSQuery:
		return "awsQuery"
	case AWSJSON10:
		return "awsJson1_0"
	case AWSJSON11:
		return "awsJson1_1"
	case RPCv2CBOR:
		return "rpcv2Cbor"
	}
	return "unknown"
}

// Document reports whether the protocol carries a document (JSON or CBOR
// map) rather than a form.
func (p Protocol) Document() bool {
	return p == AWSJSON10 || p == AWSJSON11 || p == RPCv2CBOR
}

// Request is what the wire says about a request before any service looks
// at it.
type Request struct {
	Protocol Protocol
	// Target is the service a document protocol names: the X-Amz-Target
	// prefix of awsJson ("AWSOrganizationsV20161128") or the service shape
	// of RPC v2 CBOR ("GraniteServiceVersion20100801"); "" for Query.
	Target string
	// Operation is the Action (Query), the X-Amz-Target suffix (awsJson) or
	// the path's operation (RPC v2 CBOR); "" when the request names none.
	Operation string
	// Form holds a Query request's parameters (body, then URL query).
	Form url.Values
	// Body is the request body as read.
	Body []byte
}

const rpcv2Prefix = "/service/"

// Identify reads a request's protocol, service and operation from its
// path, headers and (for Query) form body. ok is false for a request that
// matches no protocol (a GET of an unknown path, a document request with
// an unparsable target).
func Identify(r *http.Request, body []byte) (req Request, ok bool) {
	req.Body = body
	if rest, found := strings.CutPrefix(r.URL.Path, rpcv2Prefix); found {
		svc, op, _ := strings.Cut(rest, "/operation/")
		if r.Method != http.MethodPost || svc == "" || strings.Contains(svc, "/") || strings.Contains(op, "/") {
			return req, false
		}
		req.Protocol, req.Target, req.Operation = RPCv2CBOR, svc, op
		return req, true
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" && r.Method == http.MethodPost {
		svc, op, _ := strings.Cut(t, ".")
		req.Protocol, req.Target, req.Operation = AWSJSON10, svc, op
		if strings.Contains(r.Header.Get("Content-Type"), "json-1.1") {
			req.Protocol = AWSJSON11
		}
		return req, svc != ""
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return req, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		form = url.Values{}
	}
	for k, v := range r.URL.Query() {
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	req.Protocol, req.Form, req.Operation = Query, form, form.Get("Action")
	return req, true
}

// Error is an AWS error answer: HTTP status, the error code the SDKs
// report and a message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
