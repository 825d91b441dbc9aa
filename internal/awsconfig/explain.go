package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"
)

// Error codes Explain groups. They are the codes AWS services answer (EC2
// Query codes, STS and CloudWatch codes), compared exactly.
var (
	expiredCodes = map[string]bool{
		"ExpiredToken": true, "ExpiredTokenException": true, "TokenRefreshRequired": true,
		"RequestExpired": true, "InvalidToken": true,
	}
	badCredentialCodes = map[string]bool{
		"InvalidClientTokenId": true, "UnrecognizedClientException": true, "SignatureDoesNotMatch": true,
		"IncompleteSignature": true, "InvalidAccessKeyId": true, "AuthFailure": true,
		"InvalidSignatureException": true, "MissingAuthenticationToken": true,
	}
	deniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
		"UnauthorizedAccess": true, "Forbidden": true,
	}
	throttleCodes = map[string]bool{
		"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
		"TooManyRequestsException": true, "RequestThrottled": true, "RequestThrottledException": true,
		"ProvisionedThroughputExceededException": true, "SlowDown": true,
	}
)

// Explain turns an error from an AWS call into one line that says what went
// wrong and names the fix: no credentials, expired or rejected credentials,
// a Region not enabled or unknown, an unreachable endpoint, access denied,
// sustained throttling. It decides by error type and smithy error code,
// never by message text; anything else is the error's own text on one line.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var unreachable *UnreachableError
	if errors.As(err, &unreachable) && !IsConnectError(err) {
		where := "AWS"
		if op := innermostOperation(err); op != nil {
			where = opName(op)
		}
		return fmt.Sprintf("the AWS endpoint did not answer (%s, %d attempts): check --endpoint-url / AWS_ENDPOINT_URL, the network and proxy settings", where, unreachable.Attempts)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted before the call completed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out waiting for AWS: check the network or raise the timeout"
	}
	var creds *CredentialsError
	if errors.As(err, &creds) {
		return creds.Error()
	}
	var process *processcreds.ProviderError
	if errors.As(err, &process) {
		return ExplainCredentials(err)
	}
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return fmt.Sprintf("AWS profile %q does not exist: check --profile / AWS_PROFILE against ~/.aws/config", noProfile.Profile)
	}
	var sso *ssocreds.InvalidTokenError
	if errors.As(err, &sso) {
		return "the AWS SSO session has expired or is missing: run `aws sso login` (with the same --profile) and retry"
	}
	var role config.SharedConfigAssumeRoleError
	if errors.As(err, &role) && role.Err == nil {
		// The SDK's text ends in "<nil>": the role's source_profile chain
		// loops back on itself, or reaches no credentials.
		return fmt.Sprintf("AWS profile %q: the role %s has no usable source: its source_profile chain loops back to a profile already in it, or ends without credentials: fix source_profile (or credential_source) in ~/.aws/config", role.Profile, role.RoleARN)
	}
	var signing *v4.SigningError
	if errors.As(err, &signing) {
		// The credentials could not be obtained. If an AWS call was made
		// to get them (AssumeRole, SSO), explain that call's failure;
		// otherwise nothing in the chain had credentials.
		return ExplainCredentials(signing.Err)
	}
	var noRegion *aws.MissingRegionError
	if errors.As(err, &noRegion) {
		return "no AWS Region configured: set --region or AWS_REGION"
	}
	op := innermostOperation(err)
	if op == nil {
		return oneLine(err.Error())
	}
	return explainCall(err, op, isAssumeRole(op))
}

// ExplainCredentials explains an error from resolving credentials
// (aws.CredentialsProvider.Retrieve). When no AWS call was made to get them
// (no STS or SSO call in the chain), nothing in the credential chain had
// any: that is "no credentials", whatever the providers said.
func ExplainCredentials(err error) string {
	if err == nil {
		return ""
	}
	var creds *CredentialsError
	if errors.As(err, &creds) {
		return creds.Error()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Explain(err)
	}
	// Not from a configuration made by Load: still never echo what a
	// credential_process helper printed.
	var process *processcreds.ProviderError
	if errors.As(err, &process) {
		return newCredentialsError(CredentialSource{Kind: SourceProcess}, err).Error()
	}
	var noProfile config.SharedConfigProfileNotExistError
	var sso *ssocreds.InvalidTokenError
	if errors.As(err, &noProfile) || errors.As(err, &sso) {
		return Explain(err)
	}
	if op := innermostOperation(err); op != nil && op.ServiceID != "ec2imds" {
		return fmt.Sprintf("cannot get credentials (%s): %s", opName(op), explainCall(err, op, isAssumeRole(op)))
	}
	return noCredentials
}

// isAssumeRole reports whether op is one of STS's AssumeRole calls.
func isAssumeRole(op *smithy.OperationError) bool {
	return op.ServiceID == "STS" && strings.HasPrefix(op.OperationName, "AssumeRole")
}

// explainCall explains the failure of one AWS operation.
func explainCall(err error, op *smithy.OperationError, assuming bool) string {
	name := opName(op)
	if msg, ok := notAWSAnswer(err, name); ok {
		return msg
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case expiredCodes[code]:
			return fmt.Sprintf("the AWS credentials have expired (%s from %s): refresh them (`aws sso login`, or a new session token) and retry; if they are fresh, check the system clock", code, name)
		case code == "OptInRequired":
			return fmt.Sprintf("the Region is not enabled for this account (OptInRequired from %s): enable it in the account settings or leave it out of --regions", name)
		case badCredentialCodes[code]:
			return fmt.Sprintf("AWS rejected the credentials (%s from %s): check the access key and secret (or --profile), and that the Region is enabled for the account", code, name)
		case deniedCodes[code] && assuming:
			return fmt.Sprintf("cannot assume the role (%s from %s): the role's trust policy must allow the caller, and the caller needs sts:AssumeRole on it (check --external-id too)", code, name)
		case deniedCodes[code]:
			return fmt.Sprintf("access denied (%s from %s): grant %s to the identity imdsfleet runs as (the README's least-privilege IAM policies list every permission each command needs)", code, name, name)
		case throttleCodes[code]:
			return fmt.Sprintf("throttled by AWS beyond the retry budget (%s from %s): lower --concurrency and retry", code, name)
		default:
			msg := oneLine(api.ErrorMessage())
			if msg == "" {
				return fmt.Sprintf("%s failed: %s", name, code)
			}
			return fmt.Sprintf("%s failed: %s: %s", name, code, msg)
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve %s (%s): check the Region name (--region, AWS_REGION, --regions) and --endpoint-url / AWS_ENDPOINT_URL", dns.Name, name)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("cannot connect to the AWS endpoint (connection refused, %s): check --endpoint-url / AWS_ENDPOINT_URL and that the server is running", name)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Sprintf("cannot reach the AWS endpoint (%s): %s: check the network, proxy settings and --endpoint-url / AWS_ENDPOINT_URL", name, oneLine(netErr.Error()))
	}
	var attempts *retry.MaxAttemptsError
	if errors.As(err, &attempts) {
		return fmt.Sprintf("%s failed after %d attempts: %s", name, attempts.Attempt, oneLine(attempts.Err.Error()))
	}
	return oneLine(err.Error())
}

// notAWSAnswer explains an HTTP answer that is not AWS's: a body the SDK
// could not read as the operation's result, or an error status whose body
// names no AWS error code (the SDK then reports "UnknownError:
// UnknownError"): a redirect, an HTML page from a proxy or a web server at
// --endpoint-url.
func notAWSAnswer(err error, name string) (string, bool) {
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) || resp.Response == nil || resp.HTTPStatusCode() == 0 {
		return "", false
	}
	var deser *smithy.DeserializationError
	var api smithy.APIError
	unknown := errors.As(err, &api) && api.ErrorCode() == "UnknownError" && (api.ErrorMessage() == "" || api.ErrorMessage() == "UnknownError")
	if !errors.As(err, &deser) && !unknown {
		return "", false
	}
	status := resp.HTTPStatusCode()
	what := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if status >= 300 && status < 400 {
		what += ", a redirect"
	}
	return fmt.Sprintf("the endpoint's answer to %s is not an AWS answer (%s): check --endpoint-url / AWS_ENDPOINT_URL and the proxy settings", name, what), true
}

// innermostOperation returns the deepest smithy.OperationError in err's
// chain: for a call whose credentials came from AssumeRole it is the STS
// call, not the EC2 call that needed them.
func innermostOperation(err error) *smithy.OperationError {
	var last *smithy.OperationError
	for e := err; e != nil; {
		var op *smithy.OperationError
		if !errors.As(e, &op) {
			break
		}
		last = op
		e = op.Err
	}
	return last
}

// opName renders "ec2:DescribeInstances".
func opName(op *smithy.OperationError) string {
	return strings.ToLower(strings.ReplaceAll(op.ServiceID, " ", "")) + ":" + op.OperationName
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
