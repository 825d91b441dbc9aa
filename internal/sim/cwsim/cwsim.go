// Package cwsim is the CloudWatch half of the simulated AWS: it speaks the
// Smithy RPC v2 CBOR protocol that the Go SDK's cloudwatch client and
// botocore use (and awsJson1_0, which both can be switched to), and answers
// GetMetricData and GetMetricStatistics from the fleet's metric segments
// ([fleet.Instance.AppendBuckets]), never from stored datapoints.
//
// It does not route, authenticate, throttle or inject faults: the server in
// package sim does that and hands over a request's body, account and Region.
package cwsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// Backend is what the CloudWatch handler needs from the server. Instance
// returns the instance's (immutable) history; Now is the server clock.
type Backend interface {
	Instance(account, region, id string) (*fleet.Instance, bool)
	Now() time.Time
}

// serviceName is CloudWatch's Smithy service shape, which names the RPC v2
// path and the awsJson X-Amz-Target prefix.
const serviceName = "GraniteServiceVersion20100801"

const servicePrefix = "/service/" + serviceName + "/operation/"

// Operation returns the operation name of a Smithy RPC v2 CBOR CloudWatch
// request path ("/service/GraniteServiceVersion20100801/operation/GetMetricData"
// → "GetMetricData", true).
func Operation(path string) (string, bool) {
	op, ok := strings.CutPrefix(path, servicePrefix)
	if !ok || op == "" || strings.Contains(op, "/") {
		return "", false
	}
	return op, true
}

// JSONOperation returns the operation of an awsJson1_0 CloudWatch request:
// POST with X-Amz-Target "GraniteServiceVersion20100801.<Operation>". The
// Content-Type is not checked, so a caller can tell this request apart from
// EC2 or STS requests on the same path by the target alone.
func JSONOperation(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), serviceName+".")
	if !ok || op == "" {
		return "", false
	}
	return op, true
}

// protocol is one of the two wire encodings.
type protocol struct {
	contentType string
	cbor        bool
}

var (
	rpcv2CBOR = protocol{contentType: "application/cbor", cbor: true}
	awsJSON10 = protocol{contentType: "application/x-amz-json-1.0"}
)

func (p protocol) decode(body []byte) (map[string]any, error) {
	if p.cbor {
		return decodeCBOR(body)
	}
	return decodeJSON(body)
}

func (p protocol) writer(size int) writer {
	if p.cbor {
		return &cborWriter{b: make([]byte, 0, size)}
	}
	return &jsonWriter{b: make([]byte, 0, size+size/2)}
}

func (p protocol) setHeaders(h http.Header) {
	if p.cbor {
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
	}
	h.Set("Content-Type", p.contentType)
}

// Serve answers one CloudWatch request whose body has been read; it returns
// the HTTP status written.
func Serve(w http.ResponseWriter, op string, body []byte, account, region string, b Backend) int {
	return serve(rpcv2CBOR, w, op, body, account, region, b)
}

// ServeJSON answers one awsJson1_0 CloudWatch request (see [JSONOperation])
// whose body has been read; it returns the HTTP status written.
func ServeJSON(w http.ResponseWriter, op string, body []byte, account, region string, b Backend) int {
	return serve(awsJSON10, w, op, body, account, region, b)
}

func serve(p protocol, w http.ResponseWriter, op string, body []byte, account, region string, b Backend) int {
	var (
		out []byte
		err *apiError
	)
	switch op {
	case "GetMetricData", "GetMetricStatistics":
		in, decErr := p.decode(body)
		if decErr != nil {
			err = &apiError{status: http.StatusBadRequest, code: "SerializationException", message: decErr.Error()}
			break
		}
		if op == "GetMetricData" {
			out, err = getMetricData(p, in, account, region, b)
		} else {
			out, err = getMetricStatistics(p, in, account, region, b)
		}
	default:
		err = &apiError{status: http.StatusBadRequest, code: "UnknownOperationException",
			message: fmt.Sprintf("the simulated CloudWatch implements GetMetricData and GetMetricStatistics, not %q", op)}
	}
	if err != nil {
		writeError(p, w, err.status, err.code, err.message)
		return err.status
	}
	p.setHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return http.StatusOK
}

// WriteError writes an AWS-shaped RPC v2 CBOR error: status, CBOR
// {__type, message}, headers Smithy-Protocol: rpc-v2-cbor, Content-Type:
// application/cbor, X-Amzn-Query-Error: <Code>;Sender (Receiver for 5xx).
// A code of one of CloudWatch's modeled errors (InvalidParameterValue, ...)
// is sent as that error's shape ID in __type so the SDK returns its typed
// error; ErrorCode() is code either way.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	writeError(rpcv2CBOR, w, status, code, message)
}

// WriteJSONError is [WriteError] for awsJson1_0 requests.
func WriteJSONError(w http.ResponseWriter, status int, code, message string) {
	writeError(awsJSON10, w, status, code, message)
}

func writeError(p protocol, w http.ResponseWriter, status int, code, message string) {
	wr := p.writer(64 + len(code) + len(message))
	wr.mapStart(3)
	wr.key("__type")
	wr.str(errorType(code))
	// "message" for the protocols' generic error readers, "Message" for the
	// members of modeled errors that spell it so (InternalServiceFault).
	wr.key("message")
	wr.str(message)
	wr.key("Message")
	wr.str(message)
	wr.mapEnd()
	out := wr.bytes()
	h := w.Header()
	p.setHeaders(h)
	h.Set("X-Amzn-Query-Error", queryErrorHeader(status, code))
	if !p.cbor {
		h.Set("X-Amzn-ErrorType", errorType(code))
	}
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
