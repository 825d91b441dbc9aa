// Package simtest starts the simulated AWS for tests and builds the SDK
// configuration and subprocess environment that point at it.
package simtest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// Start serves f on a loopback httptest server closed at test end and
// returns the server and its base URL ("http://127.0.0.1:PORT").
func Start(t testing.TB, f *fleet.Fleet, opts sim.Options) (*sim.Server, string) {
	t.Helper()
	return StartWith(t, f, opts, nil)
}

// StartWith is Start with wrap (nil: none) around the server's handler,
// e.g. a [Gate].
func StartWith(t testing.TB, f *fleet.Fleet, opts sim.Options, wrap func(http.Handler) http.Handler) (*sim.Server, string) {
	t.Helper()
	s, err := sim.New(f, opts)
	if err != nil {
		t.Fatalf("simtest.Start: %v", err)
	}
	var h http.Handler = s
	if wrap != nil {
		h = wrap(s)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// Config returns an aws.Config pointed at url with static credentials
// accessKey (secret "x"), the given Region and the project's retryer
// (awsconfig.NewRetryer) with 10 attempts and a 200 ms backoff cap, so that
// throttling and injected faults are retried quickly.
func Config(url, accessKey, region string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(accessKey, "x", "")),
		Retryer: func() aws.Retryer {
			return awsconfig.NewRetryer(10, 200*time.Millisecond)
		},
	}
}

// Env returns the environment a subprocess (the AWS CLI, imdsfleet) needs
// to reach the server at url as accessKey in region, isolated from the
// user's AWS configuration files and from IMDS.
func Env(url, accessKey, region string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + url,
		"AWS_ACCESS_KEY_ID=" + accessKey,
		"AWS_SECRET_ACCESS_KEY=x",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}
