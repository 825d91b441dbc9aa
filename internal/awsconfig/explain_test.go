package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// opErr wraps err the way the SDK does for a failed operation.
func opErr(service, op string, err error) error {
	return &smithy.OperationError{ServiceID: service, OperationName: op, Err: err}
}

func apiErr(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg}
}

func TestExplain(t *testing.T) {
	assumeFailed := opErr("EC2", "DescribeInstances", fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w",
		opErr("STS", "AssumeRole", apiErr("AccessDenied", "User: x is not authorized to perform: sts:AssumeRole"))))
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"expired token", opErr("STS", "GetCallerIdentity", apiErr("ExpiredToken", "The security token included in the request is expired")),
			[]string{"credentials have expired", "ExpiredToken from sts:GetCallerIdentity", "aws sso login"}},
		{"EC2 request expired", opErr("EC2", "DescribeInstances", apiErr("RequestExpired", "Request has expired.")),
			[]string{"credentials have expired", "system clock"}},
		{"bad key", opErr("STS", "GetCallerIdentity", apiErr("InvalidClientTokenId", "nope")),
			[]string{"AWS rejected the credentials (InvalidClientTokenId"}},
		{"EC2 auth failure", opErr("EC2", "DescribeInstances", apiErr("AuthFailure", "AWS was not able to validate")),
			[]string{"AuthFailure from ec2:DescribeInstances", "Region is enabled"}},
		{"opt-in required", opErr("EC2", "DescribeInstances", apiErr("OptInRequired", "")),
			[]string{"Region is not enabled", "--regions"}},
		{"access denied EC2", opErr("EC2", "DescribeInstances", apiErr("UnauthorizedOperation", "You are not authorized")),
			[]string{"access denied (UnauthorizedOperation from ec2:DescribeInstances)", "grant ec2:DescribeInstances"}},
		{"access denied CloudWatch", opErr("CloudWatch", "GetMetricData", apiErr("AccessDenied", "")),
			[]string{"grant cloudwatch:GetMetricData"}},
		// A launch-source read: the permission is named, and the hint does
		// not list a partial set of scan's permissions (it once listed four,
		// none of them the one denied).
		{"access denied Auto Scaling", opErr("Auto Scaling", "DescribeAutoScalingGroups", apiErr("AccessDenied", "")),
			[]string{"access denied (AccessDenied from autoscaling:DescribeAutoScalingGroups): grant autoscaling:DescribeAutoScalingGroups to the identity imdsfleet runs as", "least-privilege IAM policies"}},
		{"assume role denied", assumeFailed,
			[]string{"cannot assume the role (AccessDenied from sts:AssumeRole)", "trust policy", "--external-id"}},
		{"throttled out", opErr("CloudWatch", "GetMetricData", &retry.MaxAttemptsError{Attempt: 10, Err: apiErr("Throttling", "Rate exceeded")}),
			[]string{"throttled", "lower --concurrency"}},
		{"unknown code keeps the message", opErr("EC2", "DescribeInstances", apiErr("InvalidParameterValue", "bad\nvalue")),
			[]string{"ec2:DescribeInstances failed: InvalidParameterValue: bad value"}},
		{"dns", opErr("STS", "GetCallerIdentity", &net.DNSError{Err: "no such host", Name: "sts.us-esat-1.amazonaws.com", IsNotFound: true}),
			[]string{"cannot resolve sts.us-esat-1.amazonaws.com", "Region name"}},
		{"refused", opErr("STS", "GetCallerIdentity", &net.OpError{Op: "dial", Net: "tcp", Err: &syscallErr{syscall.ECONNREFUSED}}),
			[]string{"connection refused", "--endpoint-url"}},
		{"timeout", opErr("EC2", "DescribeInstances", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}),
			[]string{"cannot reach the AWS endpoint"}},
		{"profile", fmt.Errorf("load: %w", config.SharedConfigProfileNotExistError{Profile: "prod"}),
			[]string{`AWS profile "prod" does not exist`}},
		{"no region", opErr("EC2", "DescribeInstances", &aws.MissingRegionError{}),
			[]string{"no AWS Region configured"}},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), []string{"interrupted"}},
		{"plain", errors.New("something\nodd"), []string{"something odd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Explain(tt.err)
			if strings.Contains(got, "\n") {
				t.Errorf("Explain = %q: more than one line", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain = %q, want it to contain %q", got, w)
				}
			}
		})
	}
}

type syscallErr struct{ errno syscall.Errno }

func (e *syscallErr) Error() string { return e.errno.Error() }
func (e *syscallErr) Unwrap() error { return e.errno }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestExplainCredentials(t *testing.T) {
	if got := ExplainCredentials(errors.New("failed to refresh cached credentials, no EC2 IMDS role found")); !strings.Contains(got, "no AWS credentials found") {
		t.Errorf("no credentials: %q", got)
	}
	imds := opErr("ec2imds", "GetMetadata", errors.New("access disabled"))
	if got := ExplainCredentials(fmt.Errorf("no EC2 IMDS role found, %w", imds)); !strings.Contains(got, "no AWS credentials found") {
		t.Errorf("IMDS: %q", got)
	}
	sso := opErr("STS", "AssumeRole", apiErr("ExpiredToken", "expired"))
	if got := ExplainCredentials(sso); !strings.Contains(got, "cannot get credentials (sts:AssumeRole)") || !strings.Contains(got, "expired") {
		t.Errorf("assume role with expired source credentials: %q", got)
	}
}

// TestExplainRealClient checks Explain on errors the real SDK clients
// produce from real HTTP answers (not hand-built chains): STS's
// ExpiredToken and EC2's UnauthorizedOperation.
func TestExplainRealClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.Form.Get("Action") {
		case "GetCallerIdentity":
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
		default:
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r2</RequestID></Response>`)
		}
	}))
	defer srv.Close()
	cfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIA", "x", "token"),
		Retryer:      func() aws.Retryer { return NewRetryer(2, 10*time.Millisecond) },
	}
	ctx := context.Background()
	_, err := STS(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if got := Explain(err); !strings.Contains(got, "credentials have expired (ExpiredToken from sts:GetCallerIdentity)") {
		t.Errorf("Explain(STS ExpiredToken) = %q", got)
	}
	_, err = EC2(cfg, "eu-west-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if got := Explain(err); !strings.Contains(got, "access denied (UnauthorizedOperation from ec2:DescribeInstances)") {
		t.Errorf("Explain(EC2 UnauthorizedOperation) = %q", got)
	}
}

// TestExplainAnswerNotFromAWS: an endpoint that answers with something that
// is not an AWS answer (an HTML page, a redirect, a proxy's error page) is
// named as such, not as "UnknownError: UnknownError" or a deserializer's
// message.
func TestExplainAnswerNotFromAWS(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   string
	}{
		{"HTML page", 200, map[string]string{"Content-Type": "text/html"}, "<html><body>Sign in</body></html>", "(HTTP 200 OK)"},
		{"redirect", 301, map[string]string{"Location": "http://127.0.0.1:1/"}, "", "(HTTP 301 Moved Permanently, a redirect)"},
		{"proxy error page", 403, map[string]string{"Content-Type": "text/html"}, "<html>blocked</html>", "(HTTP 403 Forbidden)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolatedEnv(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL, MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = STS(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			got := Explain(err)
			want := "the endpoint's answer to sts:GetCallerIdentity is not an AWS answer " + tt.want + ": check --endpoint-url / AWS_ENDPOINT_URL and the proxy settings"
			if got != want {
				t.Errorf("Explain = %q\nwant      %q", got, want)
			}
		})
	}
}
