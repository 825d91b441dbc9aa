// Package cwsim holds the CloudWatch handlers of the simulated AWS:
// GetMetricData and GetMetricStatistics, answered from the fleet's metric
// segments ([fleet.Instance.AppendBuckets]), never from stored datapoints.
// They read a decoded request document and write their answer with a
// [wire.Codec], so the same handler serves Smithy RPC v2 CBOR (the Go SDK's
// and botocore's default) and awsJson 1.0 (which both can be switched to).
//
// It does not route, authenticate, throttle or inject faults: package sim
// lists these handlers in its CloudWatch registry and runs them behind its
// middleware.
package cwsim

import (
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// Backend is what the CloudWatch handlers need from the server. Instance
// returns the instance's (immutable) history; Now is the server clock.
type Backend interface {
	Instance(account, region, id string) (*fleet.Instance, bool)
	Now() time.Time
}

// ServiceName is CloudWatch's Smithy service shape, which names the RPC v2
// CBOR path ("/service/GraniteServiceVersion20100801/operation/…") and the
// awsJson X-Amz-Target prefix.
const ServiceName = "GraniteServiceVersion20100801"

// Handler is the signature every CloudWatch handler has.
type Handler func(c wire.Codec, in map[string]any, account, region string, b Backend) ([]byte, *wire.Error)

var (
	_ Handler = GetMetricData
	_ Handler = GetMetricStatistics
)
