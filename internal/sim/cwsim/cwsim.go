// Package cwsim is the CloudWatch half of the simulated AWS: it speaks the
// Smithy RPC v2 CBOR protocol the Go SDK's cloudwatch client (and botocore)
// use, and answers GetMetricData and GetMetricStatistics from the fleet's
// metric segments (fleet.Instance.Buckets), never from stored datapoints.
//
// It does not route, authenticate, throttle or inject faults: the server in
// package sim does that and hands a request's body, account and Region here.
package cwsim

import (
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// Backend is what the CloudWatch handler needs from the server. Instance
// returns the instance's (immutable) history; Now is the server clock.
type Backend interface {
	Instance(account, region, id string) (*fleet.Instance, bool)
	Now() time.Time
}

// servicePrefix is the RPC v2 CBOR path prefix of CloudWatch's service shape.
const servicePrefix = "/service/GraniteServiceVersion20100801/operation/"

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

// Serve answers one CloudWatch request whose body has been read; it returns
// the HTTP status written.
func Serve(w http.ResponseWriter, op string, body []byte, account, region string, b Backend) int {
	WriteError(w, http.StatusBadRequest, "UnknownOperationException", "operation "+op+" is not implemented by the simulated CloudWatch")
	return http.StatusBadRequest
}

// WriteError writes an AWS-shaped RPC v2 CBOR error: status, CBOR
// {__type, message}, headers Smithy-Protocol: rpc-v2-cbor, Content-Type:
// application/cbor, X-Amzn-Query-Error: <Code>;Sender.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	body := cbor.Encode(cbor.Map{
		"__type":  cbor.String(code),
		"message": cbor.String(message),
	})
	h := w.Header()
	h.Set("Smithy-Protocol", "rpc-v2-cbor")
	h.Set("Content-Type", "application/cbor")
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	h.Set("X-Amzn-Query-Error", code+";"+fault)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
