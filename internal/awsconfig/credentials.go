package awsconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Credential failures are reported as one line that names the source that
// failed and its fix, and never carry what the source printed: the SDK's
// credential_process error embeds the helper's whole stdout (a helper that
// prints anything besides its JSON leaks its secret key and session token
// into the message), and its default command passes the helper's stderr
// through to ours. [Load] therefore runs credential_process helpers with
// their stderr discarded, and wraps the configuration's credentials so that
// every retrieval error becomes a [*CredentialsError], whose text is built
// here from the error's types, never from the source's output. The SDK
// behaviour this relies on is in docs/aws-facts.md#go-sdk-credential-chain.

// SourceKind is where a credential chain's credentials come from.
type SourceKind int

// Credential source kinds, in the SDK's order of precedence within a
// profile.
const (
	SourceNone        SourceKind = iota // nothing configured: the instance role is the last resort
	SourceEnv                           // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
	SourceProfileKeys                   // keys in the shared config/credentials file
	SourceProcess                       // credential_process
	SourceSSO                           // sso_session / sso_* settings
	SourceWebIdentity                   // web identity token file + role
	SourceLogin                         // login_session
	SourceContainer                     // AWS_CONTAINER_CREDENTIALS_* (ECS, EKS pod identity)
	SourceIMDS                          // the instance role, through IMDS
)

// CredentialSource describes where a configuration's credentials come
// from: the source at the root of the chain, and the role assumed on top of
// it by a profile's role_arn, if any.
type CredentialSource struct {
	Kind SourceKind
	// Profile is the profile holding the root source ("" for the
	// environment and for the default chain's last resorts).
	Profile string
	// RoleARN is the outermost role_arn assumed with the root's
	// credentials, named in RoleProfile.
	RoleARN     string
	RoleProfile string
}

// Root names the root source, e.g. `the credential_process of profile "dev"`.
func (s CredentialSource) Root() string {
	switch s.Kind {
	case SourceEnv:
		return "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
	case SourceProfileKeys:
		return fmt.Sprintf("profile %q (keys in the shared config/credentials file)", s.Profile)
	case SourceProcess:
		if s.Profile == "" {
			return "a credential_process"
		}
		return fmt.Sprintf("the credential_process of profile %q", s.Profile)
	case SourceSSO:
		return fmt.Sprintf("the SSO login of profile %q", s.Profile)
	case SourceWebIdentity:
		if s.Profile != "" {
			return fmt.Sprintf("the web identity token of profile %q", s.Profile)
		}
		return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
	case SourceLogin:
		return fmt.Sprintf("the login session of profile %q", s.Profile)
	case SourceContainer:
		return "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_*)"
	case SourceIMDS:
		if s.Profile != "" {
			return fmt.Sprintf("the instance role (IMDS, credential_source of profile %q)", s.Profile)
		}
		return "the instance role (IMDS)"
	}
	return "the default credential chain"
}

// where names the root source as the failing step, with the profile that
// uses it as its source_profile when that is another one.
func (s CredentialSource) where() string {
	if s.RoleProfile != "" && s.RoleProfile != s.Profile && s.Profile != "" {
		return fmt.Sprintf("%s (the source of profile %q)", s.Root(), s.RoleProfile)
	}
	return s.Root()
}

// String names the whole chain.
func (s CredentialSource) String() string {
	if s.RoleARN != "" {
		return fmt.Sprintf("AssumeRole of %s (profile %q) with credentials from %s", s.RoleARN, s.RoleProfile, s.Root())
	}
	return s.Root()
}

// rootFix says how to repair the root source.
func (s CredentialSource) rootFix() string {
	switch s.Kind {
	case SourceEnv:
		return "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or unset them and use --profile"
	case SourceProfileKeys:
		return fmt.Sprintf("check aws_access_key_id and aws_secret_access_key of [%s] in ~/.aws/credentials", s.Profile)
	case SourceSSO:
		return fmt.Sprintf("run `aws sso login --profile %s` and retry", s.Profile)
	case SourceWebIdentity:
		return "check the token file and the role (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or the profile's web_identity_token_file and role_arn)"
	case SourceLogin:
		return fmt.Sprintf("run `aws login --profile %s` and retry", s.Profile)
	case SourceContainer:
		return "check the task or pod role and the AWS_CONTAINER_CREDENTIALS_* variables"
	case SourceIMDS:
		return "attach an instance profile (a role) to this instance, and check that IMDS is reachable from here (hop limit, AWS_EC2_METADATA_DISABLED)"
	}
	return noCredentialsFix
}

// CredentialsError is a failure to get credentials. Its message is one
// line naming the source and the fix; it holds nothing the source printed.
// Unwrap returns the cause only when that is safe to show and useful to
// classify (an AWS API error, a cancelled context); a credential_process
// failure unwraps to nothing.
type CredentialsError struct {
	Source CredentialSource
	msg    string
	cause  error
}

func (e *CredentialsError) Error() string { return e.msg }

func (e *CredentialsError) Unwrap() error { return e.cause }

const noCredentialsFix = "set --profile or AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`"

// noCredentials is the failure of the default chain's last resort: the
// environment and the shared files named no source, and the instance role
// (IMDS) had none either.
const noCredentials = "no AWS credentials found (none in the environment or the shared config files, and no instance role on IMDS): " + noCredentialsFix

// newCredentialsError classifies err, a retrieval failure of src's chain,
// by type: which step failed (the root source, the profile's AssumeRole)
// and why.
func newCredentialsError(src CredentialSource, err error) *CredentialsError {
	e := &CredentialsError{Source: src}
	var process *processcreds.ProviderError
	var sso *ssocreds.InvalidTokenError
	switch {
	case errors.Is(err, context.Canceled):
		e.msg, e.cause = "interrupted while getting AWS credentials from "+src.String(), context.Canceled
	case errors.As(err, &process):
		e.msg = fmt.Sprintf("cannot get AWS credentials from %s: %s: run that command by hand; it must exit 0 and print only the credentials JSON (Version 1, AccessKeyId, SecretAccessKey) on stdout (what it printed is not shown: it can hold secrets)",
			src.where(), processFailure(err))
	case errors.As(err, &sso):
		e.msg, e.cause = fmt.Sprintf("cannot get AWS credentials from %s: the SSO session has expired or is missing: run `aws sso login --profile %s` and retry", src.where(), src.Profile), sso
	default:
		op := innermostOperation(err)
		switch {
		case src.Kind == SourceIMDS && (op == nil || op.ServiceID == "ec2imds"):
			e.msg = fmt.Sprintf("cannot get AWS credentials from %s: %s", src.where(), src.rootFix())
		case op != nil && op.ServiceID == "ec2imds", op == nil && src.Kind == SourceNone:
			// The chain ended at the instance role and IMDS had none:
			// nothing anywhere had credentials.
			e.msg = noCredentials
		case op != nil:
			step := src.where()
			if isAssumeRole(op) && op.OperationName == "AssumeRole" && src.RoleARN != "" {
				step = fmt.Sprintf("AssumeRole of %s (profile %q)", src.RoleARN, src.RoleProfile)
			}
			e.msg, e.cause = fmt.Sprintf("cannot get AWS credentials from %s: %s", step, explainCall(err, op, isAssumeRole(op))), err
		default:
			e.msg = fmt.Sprintf("cannot get AWS credentials from %s: %s", src.where(), src.rootFix())
		}
	}
	if errors.Is(err, context.DeadlineExceeded) && e.cause == nil {
		e.cause = context.DeadlineExceeded
	}
	return e
}

// processFailure says why a credential_process helper failed, from the
// error's types only: the SDK's messages embed the helper's output.
func processFailure(err error) string {
	var exit *exec.ExitError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var start *exec.Error
	switch {
	case errors.Is(err, exec.ErrWaitDelay):
		return "it left a process running that holds its stdout open (redirect the output of anything it starts in the background)"
	case errors.As(err, &exit) && exit.ExitCode() < 0:
		return "it was killed (it ran past the 1-minute limit, or got a signal)"
	case errors.As(err, &exit):
		return fmt.Sprintf("it exited with status %d", exit.ExitCode())
	case errors.As(err, &start):
		return "it could not be started"
	case errors.As(err, &syntax), errors.As(err, &typ):
		return "it printed something other than the credentials JSON on stdout"
	}
	return "its output is not the credentials JSON"
}

// sourcedProvider turns every retrieval error of inner into a
// *CredentialsError naming source.
type sourcedProvider struct {
	inner  aws.CredentialsProvider
	source CredentialSource
}

func (p *sourcedProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.inner.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, newCredentialsError(p.source, err)
	}
	return c, nil
}

// SourceOf returns the credential source of a configuration made by
// [Load] (the zero CredentialSource for any other).
func SourceOf(cfg aws.Config) CredentialSource {
	if p, ok := cfg.Credentials.(*sourcedProvider); ok {
		return p.source
	}
	return CredentialSource{}
}

// CheckCredentials gets cfg's credentials now, so that a missing or broken
// source is one clear line before any work. The error, if any, is a
// *CredentialsError.
func CheckCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return &CredentialsError{msg: noCredentials}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		var ce *CredentialsError
		if errors.As(err, &ce) {
			return ce
		}
		return newCredentialsError(CredentialSource{}, err)
	}
	return nil
}

// resolveSource works out the source of the chain the SDK built from the
// same configuration: the order of resolveCredentialChain and
// resolveCredsFromProfile in aws-sdk-go-v2/config. It returns the profile
// levels from the one selected down to the root of its source_profile
// chain.
func resolveSource(profileSet bool, cfg aws.Config) (CredentialSource, []*config.SharedConfig) {
	var env *config.EnvConfig
	var shared *config.SharedConfig
	for _, s := range cfg.ConfigSources {
		switch v := s.(type) {
		case config.EnvConfig:
			if env == nil {
				env = &v
			}
		case *config.EnvConfig:
			if env == nil {
				env = v
			}
		case config.SharedConfig:
			if shared == nil {
				shared = &v
			}
		case *config.SharedConfig:
			if shared == nil {
				shared = v
			}
		}
	}
	if env == nil {
		env = &config.EnvConfig{}
	}
	if !profileSet {
		switch {
		case env.Credentials.HasKeys():
			return CredentialSource{Kind: SourceEnv}, nil
		case env.WebIdentityTokenFilePath != "":
			return CredentialSource{Kind: SourceWebIdentity}, nil
		}
	}
	if shared == nil {
		return CredentialSource{Kind: SourceNone}, nil
	}
	var levels []*config.SharedConfig
	for l := shared; l != nil && len(levels) < 16; l = l.Source {
		levels = append(levels, l)
	}
	root := levels[len(levels)-1]
	src := CredentialSource{Profile: root.Profile}
	switch {
	case root.Credentials.HasKeys():
		src.Kind = SourceProfileKeys
	case root.CredentialSource == "Environment":
		src.Kind = SourceEnv
	case root.CredentialSource == "EcsContainer":
		src.Kind = SourceContainer
	case root.CredentialSource != "":
		src.Kind = SourceIMDS
	case root.WebIdentityTokenFile != "":
		src.Kind = SourceWebIdentity
	case root.SSOSessionName != "" || root.SSORegion != "" || root.SSOAccountID != "" || root.SSOStartURL != "" || root.SSORoleName != "":
		src.Kind = SourceSSO
	case root.LoginSession != "":
		src.Kind = SourceLogin
	case root.CredentialProcess != "":
		src.Kind = SourceProcess
	case env.ContainerCredentialsRelativePath != "" || env.ContainerCredentialsEndpoint != "":
		src.Kind, src.Profile = SourceContainer, ""
	default:
		src.Kind, src.Profile = SourceNone, ""
	}
	for _, l := range levels {
		if l.RoleARN != "" {
			src.RoleARN, src.RoleProfile = l.RoleARN, l.Profile
			break
		}
	}
	return src, levels
}

// processTimeout is how long a credential_process helper may run before it
// is killed: the SDK's default (a variable for tests).
var processTimeout = processcreds.DefaultTimeout

// processWaitDelay is how long a credential_process helper's stdout may
// stay open after the helper has exited or been killed.
const processWaitDelay = 2 * time.Second

// quietProcess is the SDK's credential_process provider with the helper's
// stderr discarded and no stdin: the SDK's default command passes both
// through, so a helper's diagnostics (which can hold the secrets it
// handles) would reach our stderr. A helper that needs to prompt must use
// the terminal directly.
func quietProcess(command string) aws.CredentialsProvider {
	return processcreds.NewProviderCommand(processcreds.NewCommandBuilderFunc(func(ctx context.Context) (*exec.Cmd, error) {
		shell := []string{"sh", "-c"}
		if runtime.GOOS == "windows" {
			shell = []string{"cmd.exe", "/C"}
		}
		cmd := exec.CommandContext(ctx, shell[0], shell[1], command)
		cmd.Env = os.Environ()
		// The SDK reads stdout until every holder of the pipe closes it:
		// a helper that leaves a background process behind (or, once the
		// helper is killed at the SDK's limit or on a signal, its hung
		// children) would hold the command forever. WaitDelay closes the
		// pipe that long after the helper has exited or been killed.
		cmd.WaitDelay = processWaitDelay
		return cmd, nil // nil Stdin and Stderr: the null device
	}), func(o *processcreds.Options) { o.Timeout = processTimeout })
}

// processChain rebuilds a chain whose root is a credential_process with
// quietProcess at its root and the profiles' role_arn hops on top, as the
// SDK builds it. ok is false for chains it does not rebuild (MFA).
func processChain(cfg aws.Config, levels []*config.SharedConfig) (p aws.CredentialsProvider, ok bool) {
	root := levels[len(levels)-1]
	p = quietProcess(root.CredentialProcess)
	for i := len(levels) - 1; i >= 0; i-- {
		l := levels[i]
		if l.RoleARN == "" {
			continue
		}
		if l.MFASerial != "" {
			return nil, false
		}
		base := cfg.Copy()
		base.Credentials = p
		p = stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), l.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = l.RoleSessionName
			if l.RoleDurationSeconds != nil && *l.RoleDurationSeconds > 15*time.Minute {
				o.Duration = *l.RoleDurationSeconds
			}
			if l.ExternalID != "" {
				o.ExternalID = aws.String(l.ExternalID)
			}
		})
	}
	return p, true
}

// ExplainFor is [Explain] for an error of a call made with cfg (from
// [Load]): when AWS rejected the credentials (expired, unknown key, bad
// signature), it also names where they came from, the first thing to
// check.
func ExplainFor(cfg aws.Config, err error) string {
	msg := Explain(err)
	var creds *CredentialsError
	if errors.As(err, &creds) {
		return msg // names its source already
	}
	var api smithy.APIError
	if errors.As(err, &api) && (expiredCodes[api.ErrorCode()] || badCredentialCodes[api.ErrorCode()]) {
		if src := SourceOf(cfg); src.Kind != SourceNone {
			msg += "; the credentials came from " + src.String()
		}
	}
	return msg
}
