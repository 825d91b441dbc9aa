package awsconfig

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The retry policy has two speeds. Throttling and server errors are retried
// patiently (up to the attempts and backoff given to [NewRetryer]): a long
// batch run must absorb a throttling storm. A connection broken before an
// answer (reset, closed, not HTTP) is retried as often, with short pauses.
// An endpoint that cannot be
// reached at all (connection refused, unknown host, no route, connect
// timeout) or that never answers (no answer within [AnswerTimeout]) is
// tried [DialAttempts] times with short pauses and then reported: retrying
// it for minutes only delays the one-line error, since a wrong
// --endpoint-url or a dead network does not heal by itself. The SDK
// behaviour this relies on is in docs/aws-facts.md#go-sdk-retry-behaviour.
const (
	// DialAttempts is how many times one call is tried while the endpoint
	// cannot be connected to.
	DialAttempts = 3
	// DialBackoff caps the pause between those attempts.
	DialBackoff = 250 * time.Millisecond
	// DialTimeout bounds one TCP connect. AWS endpoints answer a connect in
	// milliseconds; the SDK's default of 30 s would make a black-holed
	// endpoint take minutes over [DialAttempts] tries.
	DialTimeout = 5 * time.Second
	// AnswerTimeout bounds the wait for an answer's headers once a request
	// is sent. Without it (the SDK sets none) an endpoint that accepts the
	// connection and never answers holds a call forever. The slowest
	// answers imdsfleet asks for (a 1,000-instance DescribeInstances page, a
	// 500-query GetMetricData) take seconds.
	AnswerTimeout = time.Minute
)

// answerTimeout is AnswerTimeout, both for the answer's headers and for
// every read of the answer once it has started (an answer that stops half
// way holds a call as long as one that never starts); a variable for tests.
var answerTimeout = AnswerTimeout

// UnreachableError is returned by a call whose endpoint could not be
// connected to in [DialAttempts] attempts. It wraps the last connection
// error, so errors.Is(err, syscall.ECONNREFUSED) and errors.As to
// *net.DNSError still work.
type UnreachableError struct {
	Attempts int
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("endpoint unreachable after %d attempts: %v", e.Attempts, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NewRetryer is the retry policy for batch runs: adaptive client-side rate
// limiting (backs off on throttles, shared by the clients given the same
// retryer), no retry quota (a quota turns a long throttling storm into
// "retry quota exceeded" failures), attempts/backoff as given for
// throttling and server errors, and at most [DialAttempts] quick attempts
// when the endpoint cannot be connected to.
func NewRetryer(attempts int, maxBackoff time.Duration) aws.Retryer {
	r := retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.MaxBackoff = maxBackoff
			so.RateLimiter = ratelimit.None
		})
	})
	return &failFastRetryer{RetryerV2: r, dialBackoff: retry.NewExponentialJitterBackoff(DialBackoff)}
}

// failFastRetryer stops retrying connection failures after DialAttempts.
// It decides in RetryDelay, the one retryer method that sees the attempt
// number: an error returned there ends the call with that error.
type failFastRetryer struct {
	aws.RetryerV2
	dialBackoff *retry.ExponentialJitterBackoff
}

// RetryDelay implements aws.Retryer. attempt counts the attempts made so
// far (the SDK's middleware passes the attempt number that just failed).
func (r *failFastRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if isBrokenConnection(err) {
		// The attempts stay those given: only the pause is short.
		return r.dialBackoff.BackoffDelay(attempt, err)
	}
	if !IsConnectError(err) && !isNoAnswer(err) {
		return r.RetryerV2.RetryDelay(attempt, err)
	}
	if attempt >= DialAttempts {
		return 0, &UnreachableError{Attempts: attempt, Err: err}
	}
	return r.dialBackoff.BackoffDelay(attempt, err)
}

// IsConnectError reports whether err means no connection to the endpoint
// could be made at all: a failed dial (refused, no route, network
// unreachable, connect timeout), a failed connect to the proxy, or a name
// that does not resolve. An error on a connection that was made (a reset,
// a broken answer) is not one: the server exists and a retry may work.
func IsConnectError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}

// isBrokenConnection reports whether err is a request that reached a server
// but got no HTTP answer back: the connection was reset or closed, or what
// came back was not HTTP. AWS does that rarely and briefly (and a lost answer
// must be retried), so such a call keeps its attempts; but the pauses
// between them are [DialBackoff]'s, not the throttling backoff's: an
// endpoint that breaks every connection (a wrong --endpoint-url pointing at
// some other service, a proxy that resets) then fails in seconds instead of
// minutes.
func isBrokenConnection(err error) bool {
	// The transport's failure is a RequestSendError (the SDK then wraps it
	// in a ResponseError with no status): no HTTP answer was read.
	var send *smithyhttp.RequestSendError
	return errors.As(err, &send) && !IsConnectError(err) && !isNoAnswer(err)
}

// isNoAnswer reports whether err is a network timeout: no answer within
// AnswerTimeout, an answer that stopped for that long half way, or a TLS
// handshake that never completed. (net/http's
// timeouts also match context.DeadlineExceeded, so the caller's own
// deadline cannot be told apart; it needs no retry either way: the SDK
// stops at a done context before the next attempt.)
func isNoAnswer(err error) bool {
	// Not net.Error: the SDK's read timeout (awshttp.ResponseTimeoutError)
	// has Timeout but not Temporary.
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return true
	}
	// The SDK's read timeout closes the connection under a body read that
	// is still waiting; that read can lose the race and return "use of
	// closed network connection" instead of the timeout: the same stalled
	// answer. Not so while sending: there the transport closed the
	// connection itself because the server broke it (a reset, an answer
	// that was not HTTP), which is a broken connection.
	var send *smithyhttp.RequestSendError
	return errors.Is(err, net.ErrClosed) && !errors.As(err, &send)
}
