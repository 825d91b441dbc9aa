package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// isolatedEnv keeps Load away from the user's AWS files, IMDS and
// endpoints, with static keys in the environment.
func isolatedEnv(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_NEW_RETRIES_2026": "", "AWS_CA_BUNDLE": "",
	} {
		t.Setenv(k, v)
	}
}

// countingClient counts TCP connect attempts.
func countingClient(n *atomic.Int32) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return d.DialContext(ctx, network, addr)
	}}}
}

// TestUnreachableEndpointFailsFast: an endpoint nothing listens on is tried
// DialAttempts times, not the 30 attempts meant for throttling (which took
// remediate 519 s to give up with its 20 s backoff), and the error still
// says "connection refused".
func TestUnreachableEndpointFailsFast(t *testing.T) {
	isolatedEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var dials atomic.Int32
	cfg, err := Load(context.Background(), Options{EndpointURL: "http://" + addr, MaxAttempts: 30, MaxBackoff: time.Millisecond, HTTPClient: countingClient(&dials)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = STS(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if got := dials.Load(); got != DialAttempts {
		t.Errorf("%d connect attempts, want %d", got, DialAttempts)
	}
	var unreachable *UnreachableError
	if !errors.As(err, &unreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v: want an UnreachableError wrapping ECONNREFUSED", err)
	}
	if got := Explain(err); !strings.Contains(got, "connection refused") || !strings.Contains(got, "--endpoint-url") {
		t.Errorf("Explain = %q", got)
	}
}

// TestSilentEndpointFailsFast: an endpoint that accepts the connection but
// never answers is tried DialAttempts times (counted by the server), each
// ended by the answer timeout, instead of holding the call forever (the SDK
// sets no such timeout) or retrying it 30 times.
func TestSilentEndpointFailsFast(t *testing.T) {
	isolatedEnv(t)
	var calls atomic.Int32
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer srv.Close()
	defer close(done)
	// The timeout is short here only to keep the test quick; what is
	// checked is the number of attempts.
	hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 20 * time.Millisecond}}
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL, MaxAttempts: 30, MaxBackoff: time.Millisecond, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = STS(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if got := calls.Load(); got != DialAttempts {
		t.Errorf("server saw %d attempts, want %d", got, DialAttempts)
	}
	var unreachable *UnreachableError
	if !errors.As(err, &unreachable) {
		t.Errorf("error %v: want an UnreachableError", err)
	}
	if got := Explain(err); !strings.Contains(got, "the AWS endpoint did not answer (sts:GetCallerIdentity, 3 attempts)") {
		t.Errorf("Explain = %q", got)
	}
}

// TestThrottlingStillRetriedPatiently: the fast path for connection errors
// leaves throttling alone: a call throttled every time is tried MaxAttempts
// times (counted by the server), more than a connection failure gets.
func TestThrottlingStillRetriedPatiently(t *testing.T) {
	isolatedEnv(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>`)
	}))
	defer srv.Close()
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL, MaxAttempts: DialAttempts + 1, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = EC2(cfg, "us-east-1").DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	var max *retry.MaxAttemptsError
	if !errors.As(err, &max) {
		t.Errorf("error %v: want MaxAttemptsError", err)
	}
	if got := calls.Load(); got != DialAttempts+1 {
		t.Errorf("server saw %d attempts, want %d", got, DialAttempts+1)
	}
}

func TestIsConnectError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"no route", fmt.Errorf("send: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH}), true},
		{"proxy", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"unknown host", &net.DNSError{Name: "ec2.nowhere.invalid", IsNotFound: true}, true},
		{"reset on a made connection", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
		{"throttled", apiErr("RequestLimitExceeded", ""), false},
	}
	for _, tt := range tests {
		if got := IsConnectError(tt.err); got != tt.want {
			t.Errorf("%s: IsConnectError = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestBrokenConnectionRetriedWithShortPauses: an endpoint that takes every
// request and answers with a reset or with something that is not HTTP (a
// wrong --endpoint-url, a proxy) still gets every attempt (a lost answer
// must be retried), but the pauses between them are DialBackoff's, not the
// throttling backoff's: scan took 2 minutes and remediate (30 attempts, 20 s
// backoff) 9 to give up on one.
func TestBrokenConnectionRetriedWithShortPauses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(c net.Conn)
	}{
		{"reset", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0); c.Close() }},
		{"not HTTP", func(c net.Conn) { c.Write([]byte("\x00\xffgarbage\r\n\r\n")); c.Close() }},
		{"closed", func(c net.Conn) { c.Close() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolatedEnv(t)
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				c, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				tt.answer(c)
			}))
			defer srv.Close()
			const attempts = 4
			cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL, MaxAttempts: attempts, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = STS(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err == nil {
				t.Fatal("no error")
			}
			if got := calls.Load(); got != attempts {
				t.Errorf("server saw %d attempts, want %d", got, attempts)
			}
			// The pause the batch retryer would take after this error, at
			// every attempt of a 30-attempt, 20 s backoff policy.
			r := NewRetryer(30, 20*time.Second)
			for a := 1; a < 30; a++ {
				d, rerr := r.RetryDelay(a, err)
				if rerr != nil || d > DialBackoff {
					t.Fatalf("attempt %d: pause %v (%v), want at most %v", a, d, rerr, DialBackoff)
				}
			}
			if got := Explain(err); strings.Contains(got, "\n") || !strings.Contains(got, "sts:GetCallerIdentity") {
				t.Errorf("Explain = %q", got)
			}
		})
	}
}

// TestAnswerStoppedHalfWayFailsFast: an endpoint that sends the headers and
// part of the body, then nothing, held the call forever (no timeout covers
// the body). Now every read of the answer has the answer timeout: the call
// is tried DialAttempts times (counted by the server), then reported as not
// answering.
func TestAnswerStoppedHalfWayFailsFast(t *testing.T) {
	isolatedEnv(t)
	defer func(d time.Duration) { answerTimeout = d }(answerTimeout)
	// A minute, shortened to keep the test quick, but not below a second: the
	// same timeout bounds the wait for the answer's headers, and on a loaded
	// machine a 50 ms limit fired before the server's handler had even run
	// (the server then saw 2 or 4 attempts instead of 3).
	answerTimeout = time.Second
	var calls atomic.Int32
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("Content-Length", "5000")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "<GetCallerIdentityResponse>")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer srv.Close()
	defer close(done)
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL, MaxAttempts: 30, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = STS(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if got := calls.Load(); got != DialAttempts {
		t.Errorf("server saw %d attempts, want %d", got, DialAttempts)
	}
	if got := Explain(err); !strings.Contains(got, "the AWS endpoint did not answer (sts:GetCallerIdentity, 3 attempts)") {
		t.Errorf("Explain = %q", got)
	}
}

// TestClosedUnderTimedOutReadIsNoAnswer: the SDK's body read timeout closes
// the connection under the waiting read, which then sometimes returns "use
// of closed network connection" instead of the timeout (seen on a loaded
// machine: that attempt then fell to the patient retryer and the call took
// one attempt more). Both are the same stalled answer.
func TestClosedUnderTimedOutReadIsNoAnswer(t *testing.T) {
	closed := fmt.Errorf("deserialization failed, failed to decode response body, %w",
		&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed})
	if !isNoAnswer(closed) {
		t.Errorf("isNoAnswer(%v) = false, want true", closed)
	}
	r := NewRetryer(30, 20*time.Second)
	if _, err := r.RetryDelay(DialAttempts, closed); err == nil {
		t.Errorf("attempt %d of a closed read: retried, want the call ended", DialAttempts)
	}
	sending := &smithyhttp.RequestSendError{Err: &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}}
	if isNoAnswer(sending) || !isBrokenConnection(sending) {
		t.Errorf("a send on a connection the transport closed (%v): want a broken connection, not a stalled answer", sending)
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	if isNoAnswer(reset) {
		t.Errorf("isNoAnswer(%v) = true, want false (the server broke it)", reset)
	}
}
