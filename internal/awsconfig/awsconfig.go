// Package awsconfig builds the AWS SDK configuration and clients every
// imdsfleet command shares: the standard credential chain, --profile,
// --endpoint-url, the retry policy for long batch runs, the CloudWatch wire
// protocol, and AssumeRole into other accounts. It also turns the SDK's
// long error chains into one line that names the fix ([Explain]).
//
// It performs no AWS call on its own except where a function says so.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

// CloudWatch wire protocols selectable with --cloudwatch-protocol.
const (
	ProtocolCBOR  = "cbor"  // Smithy RPC v2 CBOR: what the current SDK and AWS speak
	ProtocolJSON  = "json"  // awsJson1_0: for emulators without CBOR (moto)
	ProtocolQuery = "query" // awsQuery: the legacy form protocol
)

// DefaultRegion is used for global calls (STS, DescribeRegions) when neither
// the flags, the environment nor the profile name a Region.
const DefaultRegion = "us-east-1"

// Options are the settings shared by every command that talks to AWS.
type Options struct {
	Profile     string // --profile; empty: AWS_PROFILE or default
	Region      string // home Region for global calls; empty: from env/profile
	EndpointURL string // --endpoint-url; empty: AWS_ENDPOINT_URL* or AWS
	// CloudWatchProtocol is one of ProtocolCBOR (default), ProtocolJSON, ProtocolQuery.
	CloudWatchProtocol string
	// MaxAttempts per API call (default 10). Long batch runs want more than
	// the SDK's 3 so that sustained throttling is absorbed, not reported.
	MaxAttempts int
	// MaxBackoff caps the retry delay (default 20s).
	MaxBackoff time.Duration
	// HTTPClient overrides the transport (tests, connection pool sizing).
	HTTPClient *http.Client
	// Logger receives the SDK's own log lines (such as "falling back to
	// IMDSv1") at debug level; nil drops them. The SDK would otherwise
	// print them on stderr, around the command's one-line errors.
	Logger *slog.Logger
}

// Validate reports option values that can never work.
func (o Options) Validate() error {
	switch o.CloudWatchProtocol {
	case "", ProtocolCBOR, ProtocolJSON, ProtocolQuery:
	default:
		return fmt.Errorf("--cloudwatch-protocol %q: want cbor, json or query", o.CloudWatchProtocol)
	}
	if o.EndpointURL != "" {
		if err := ValidateEndpointURL(o.EndpointURL); err != nil {
			return fmt.Errorf("--endpoint-url %w", err)
		}
	}
	return nil
}

// ValidateEndpointURL checks an endpoint URL (--endpoint-url,
// AWS_ENDPOINT_URL): an absolute http or https URL with a host and no user
// or password. The SDK would otherwise fail on the first call with a
// parser's message, or send requests nowhere useful. The error never holds
// a password the URL carried.
func ValidateEndpointURL(s string) error {
	shown := strconv.Quote(redactUserinfo(s))
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: not a URL (%s): want http(s)://HOST[:PORT]", shown, redactUserinfo(err.Error()))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: want an http:// or https:// URL such as http://127.0.0.1:4566", shown)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%s: no host: want http(s)://HOST[:PORT]", shown)
	}
	if u.User != nil {
		// AWS calls are signed, never sent with a user and password; the
		// URL would also be shown (in logs, the resume command) with them.
		return fmt.Errorf("%s: a user or password in the URL is never used by AWS calls: remove it (an authenticating proxy goes in HTTPS_PROXY)", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s: port %s: want 1..65535", shown, p)
		}
	}
	return nil
}

// redactUserinfo masks what stands between "://" and the last "@" of the
// authority in s (a URL, or a parser's message quoting one), even when s
// does not parse.
func redactUserinfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#\" \t")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:i+3] + "xxxxx" + rest[at:]
}

// SharedFileError is a shared config or credentials file that is not a
// file the SDK can read: a directory, a FIFO (the SDK's read would wait for
// a writer for ever, deaf to signals), a device other than /dev/null (from
// /dev/zero it reads until memory runs out).
type SharedFileError struct {
	Env, Path, What string
}

func (e *SharedFileError) Error() string {
	return fmt.Sprintf("%s %s is %s, not a file: point %s at the AWS %s file (or /dev/null for none)", e.Env, e.Path, e.What, e.Env, map[string]string{"AWS_CONFIG_FILE": "config", "AWS_SHARED_CREDENTIALS_FILE": "credentials"}[e.Env])
}

// checkSharedFiles checks the shared config and credentials files the SDK
// is about to read (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, or their
// defaults): each must be a regular file, /dev/null, or absent.
func checkSharedFiles() error {
	for _, f := range []struct{ env, def string }{
		{"AWS_CONFIG_FILE", config.DefaultSharedConfigFilename()},
		{"AWS_SHARED_CREDENTIALS_FILE", config.DefaultSharedCredentialsFilename()},
	} {
		path := os.Getenv(f.env)
		if path == "" {
			path = f.def
		}
		fi, err := os.Stat(path)
		if err != nil {
			continue // absent, or unreadable: the SDK says so
		}
		var what string
		switch m := fi.Mode(); {
		case m.IsRegular():
			continue
		case m.IsDir():
			what = "a directory"
		case m&os.ModeNamedPipe != 0:
			what = "a FIFO"
		case m&os.ModeSocket != 0:
			what = "a socket"
		case m&os.ModeDevice != 0:
			if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
				continue
			}
			what = "a device"
		default:
			what = "not a regular file"
		}
		return &SharedFileError{Env: f.env, Path: path, What: what}
	}
	return nil
}

// Load resolves the shared configuration: credentials chain, profile,
// Region (falling back to [DefaultRegion]) and the retry policy. It reads
// files and the environment but calls no AWS API.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	if err := o.Validate(); err != nil {
		return aws.Config{}, err
	}
	if env := os.Getenv("AWS_ENDPOINT_URL"); o.EndpointURL == "" && env != "" {
		if err := ValidateEndpointURL(env); err != nil {
			return aws.Config{}, fmt.Errorf("AWS_ENDPOINT_URL %w", err)
		}
	}
	if err := checkSharedFiles(); err != nil {
		return aws.Config{}, err
	}
	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	backoff := o.MaxBackoff
	if backoff <= 0 {
		backoff = 20 * time.Second
	}
	var loaders []func(*config.LoadOptions) error
	if o.Profile != "" {
		loaders = append(loaders, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		loaders = append(loaders, config.WithRegion(o.Region))
	}
	if o.EndpointURL != "" {
		loaders = append(loaders, config.WithBaseEndpoint(o.EndpointURL))
	}
	if o.HTTPClient != nil {
		loaders = append(loaders, config.WithHTTPClient(o.HTTPClient))
	} else {
		loaders = append(loaders, config.WithHTTPClient(awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = DialTimeout
		}).WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = answerTimeout
		}).WithReadTimeout(answerTimeout)))
	}
	loaders = append(loaders, config.WithLogger(sdkLogger(o.Logger)))
	loaders = append(loaders, config.WithRetryer(func() aws.Retryer {
		return NewRetryer(attempts, backoff)
	}))
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	// Name the credential source in every retrieval error, and run a
	// credential_process helper without passing its stderr through (see
	// credentials.go).
	src, levels := resolveSource(o.Profile != "", cfg)
	if src.Kind == SourceProcess {
		if p, ok := processChain(cfg, levels); ok {
			cfg.Credentials = aws.NewCredentialsCache(p)
		}
	}
	if cfg.Credentials != nil {
		cfg.Credentials = &sourcedProvider{inner: cfg.Credentials, source: src}
	}
	return cfg, nil
}

// EC2 returns an EC2 client for region.
func EC2(cfg aws.Config, region string) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if region != "" {
			o.Region = region
		}
	})
}

// AutoScaling returns an Auto Scaling client for region.
func AutoScaling(cfg aws.Config, region string) *autoscaling.Client {
	return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		if region != "" {
			o.Region = region
		}
	})
}

// CloudWatch returns a CloudWatch client for region speaking protocol
// (ProtocolCBOR when empty).
func CloudWatch(cfg aws.Config, region, protocol string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		if region != "" {
			o.Region = region
		}
		switch protocol {
		case ProtocolJSON:
			o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
		case ProtocolQuery:
			o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
		}
	})
}

// STS returns an STS client.
func STS(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg)
}

// AssumeRole returns a copy of cfg whose credentials come from assuming
// roleARN with the credentials of cfg (cached, renewed
// [AssumeRoleExpiryWindow] before they expire).
// The role is assumed lazily, on the first call that needs credentials.
func AssumeRole(cfg aws.Config, roleARN, sessionName, externalID string) aws.Config {
	out := cfg.Copy()
	provider := stscreds.NewAssumeRoleProvider(STS(cfg), roleARN, func(o *stscreds.AssumeRoleOptions) {
		if sessionName != "" {
			o.RoleSessionName = sessionName
		}
		if externalID != "" {
			o.ExternalID = aws.String(externalID)
		}
	})
	out.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = AssumeRoleExpiryWindow
	})
	return out
}

// AssumeRoleExpiryWindow is how long before their expiry assumed-role
// credentials are renewed. Without it a call signed in the session's last
// seconds (one waiting out a throttle, say) reaches AWS expired and fails
// with ExpiredToken, which is not retried; sessions last 15 minutes by
// default, well within a throttled scan of a large account.
const AssumeRoleExpiryWindow = time.Minute

// Role names an account reached by AssumeRole. The zero Role means the
// caller's own credentials.
type Role struct {
	ARN        string
	ExternalID string
}

// Pool hands out per-(role, Region) configurations built from one base
// configuration: one credentials cache per role (so a role is assumed once,
// not once per Region) and one retryer per (role, Region), shared by every
// client made from that configuration so that adaptive mode's send rate
// reacts to all of a Region's throttles. It is safe for concurrent use.
type Pool struct {
	base        aws.Config
	sessionName string

	mu       sync.Mutex
	creds    map[Role]aws.CredentialsProvider
	retryers map[poolKey]aws.Retryer
}

type poolKey struct {
	role   Role
	region string
}

// NewPool returns a Pool over base. sessionName names assumed-role
// sessions (CloudTrail shows it); empty means "imdsfleet".
func NewPool(base aws.Config, sessionName string) *Pool {
	if sessionName == "" {
		sessionName = "imdsfleet"
	}
	return &Pool{
		base:        base,
		sessionName: sessionName,
		creds:       map[Role]aws.CredentialsProvider{},
		retryers:    map[poolKey]aws.Retryer{},
	}
}

// Base returns the configuration the pool was built from.
func (p *Pool) Base() aws.Config { return p.base }

// Config returns the configuration for role in region ("" means the base
// configuration's Region).
func (p *Pool) Config(role Role, region string) aws.Config {
	if region == "" {
		region = p.base.Region
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg := p.base.Copy()
	cfg.Region = region
	if role.ARN != "" {
		c, ok := p.creds[role]
		if !ok {
			c = AssumeRole(p.base, role.ARN, p.sessionName, role.ExternalID).Credentials
			p.creds[role] = c
		}
		cfg.Credentials = c
	}
	k := poolKey{role, region}
	r, ok := p.retryers[k]
	if !ok && p.base.Retryer != nil {
		r = p.base.Retryer()
		p.retryers[k] = r
	}
	if r != nil {
		cfg.Retryer = func() aws.Retryer { return r }
	}
	return cfg
}

// Release forgets the retryer of (role, region): a caller that is done
// with a target says so, so that a scan of thousands of targets does not
// keep one retryer (and its adaptive rate limiter) per target to the end.
// Clients made before keep theirs; a later Config starts a fresh one.
func (p *Pool) Release(role Role, region string) {
	if region == "" {
		region = p.base.Region
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.retryers, poolKey{role, region})
}

// sdkLogger passes the SDK's log lines to l at debug level.
func sdkLogger(l *slog.Logger) logging.Logger {
	if l == nil {
		return logging.Nop{}
	}
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		l.Debug(fmt.Sprintf(format, v...), "source", "aws-sdk", "classification", string(c))
	})
}
