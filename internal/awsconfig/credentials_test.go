package awsconfig

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestCredentialFailureNamesTheSource: a failure of each kind of source,
// configured as a user would (shared config file, environment), is one line
// naming that source and its fix, and never holds what a helper printed.
func TestCredentialFailureNamesTheSource(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// An STS that refuses every AssumeRole.
	stsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	}))
	defer stsSrv.Close()
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	junk := script("junk.sh", "echo 'token "+secret+"'")
	fails := script("fails.sh", "echo '"+secret+"' >&2; exit 2")
	works := script("works.sh", `echo '{"Version": 1, "AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "`+secret+`"}'`)
	cfgFile := filepath.Join(dir, "config")
	err := os.WriteFile(cfgFile, []byte(`[profile junk]
credential_process = `+junk+`
[profile fails]
credential_process = `+fails+`
[profile works]
credential_process = `+works+`
[profile chain]
role_arn = arn:aws:iam::123456789012:role/Deploy
source_profile = works
[profile junkchain]
role_arn = arn:aws:iam::123456789012:role/Deploy
source_profile = junk
[profile imds]
role_arn = arn:aws:iam::123456789012:role/Deploy
credential_source = Ec2InstanceMetadata
[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = ReadOnly
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		profile string
		env     map[string]string
		want    []string
	}{
		{"process prints junk", "junk", nil, []string{`cannot get AWS credentials from the credential_process of profile "junk"`, "printed something other than the credentials JSON", "run that command by hand"}},
		{"process fails", "fails", nil, []string{`the credential_process of profile "fails"`, "it exited with status 2"}},
		{"process as the source of a role", "junkchain", nil, []string{`the credential_process of profile "junk" (the source of profile "junkchain")`}},
		{"role refused", "chain", nil, []string{`cannot get AWS credentials from AssumeRole of arn:aws:iam::123456789012:role/Deploy (profile "chain")`, "cannot assume the role (AccessDenied from sts:AssumeRole)"}},
		{"SSO not logged in", "sso", nil, []string{`the SSO login of profile "sso"`, "aws sso login --profile sso"}},
		{"profile from AWS_PROFILE", "", map[string]string{"AWS_PROFILE": "fails"}, []string{`the credential_process of profile "fails"`}},
		{"web identity", "", map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": filepath.Join(dir, "missing-token"), "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/Web"},
			[]string{"web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)", "check the token file"}},
		{"instance role", "imds", nil, []string{`cannot get AWS credentials from the instance role (IMDS, credential_source of profile "imds")`, "attach an instance profile"}},
		{"nothing anywhere", "", nil, []string{"no AWS credentials found (none in the environment or the shared config files, and no instance role on IMDS)", "--profile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolatedEnv(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
			t.Setenv("AWS_CONFIG_FILE", cfgFile)
			t.Setenv("HOME", dir) // no SSO token cache
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
			t.Setenv("AWS_ROLE_ARN", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(context.Background(), Options{Profile: tt.profile, EndpointURL: stsSrv.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = CheckCredentials(context.Background(), cfg)
			if err == nil {
				t.Fatal("no error")
			}
			msg := Explain(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) || strings.Contains(err.Error(), secret) || strings.Contains(msg, "\n") {
				t.Errorf("not one secret-free line: %q", msg)
			}
		})
	}
}

// TestRejectedCredentialsNameTheirSource: when AWS rejects the credentials
// themselves, the line says where they came from.
func TestRejectedCredentialsNameTheirSource(t *testing.T) {
	isolatedEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	}))
	defer srv.Close()
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = STS(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	msg := ExplainFor(cfg, err)
	for _, w := range []string{"AWS rejected the credentials (InvalidClientTokenId from sts:GetCallerIdentity)", "the credentials came from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
}

// TestCredentialProcessWithLingeringChildEnds: a credential_process helper
// that leaves a process holding its stdout open (a background refresher, or
// a hung `sleep` once the helper itself is killed) does not hold the command
// forever: a helper that printed its JSON and exited 0 fails with a line
// saying so, and a hung helper fails when it is killed at the limit.
func TestCredentialProcessWithLingeringChildEnds(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	dir := t.TempDir()
	// The helpers' children run until the test ends (and removes alive),
	// not for a time.
	alive := filepath.Join(dir, "alive")
	if err := os.WriteFile(alive, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wait := "while [ -e " + alive + " ]; do sleep 0.1; done"
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lingers := script("lingers.sh", "("+wait+`) &
echo '{"Version": 1, "AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "`+secret+`"}'`)
	hangs := script("hangs.sh", wait)
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile lingers]\ncredential_process = "+lingers+"\n[profile hangs]\ncredential_process = "+hangs+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T) {
		isolatedEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_CONFIG_FILE", cfgFile)
		t.Setenv("HOME", dir)
	}
	t.Run("background child holds stdout", func(t *testing.T) {
		setup(t)
		cfg, err := Load(context.Background(), Options{Profile: "lingers", EndpointURL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		err = CheckCredentials(context.Background(), cfg)
		if err == nil {
			t.Fatal("no error")
		}
		msg := Explain(err)
		for _, w := range []string{`the credential_process of profile "lingers"`, "left a process running that holds its stdout open"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
		if strings.Contains(msg, secret) {
			t.Errorf("secret in %q", msg)
		}
	})
	t.Run("hung helper killed at the limit", func(t *testing.T) {
		setup(t)
		defer func(d time.Duration) { processTimeout = d }(processTimeout)
		processTimeout = 100 * time.Millisecond // the SDK's minute, shortened
		cfg, err := Load(context.Background(), Options{Profile: "hangs", EndpointURL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		err = CheckCredentials(context.Background(), cfg)
		if err == nil {
			t.Fatal("no error")
		}
		if msg := Explain(err); !strings.Contains(msg, `the credential_process of profile "hangs": it was killed (it ran past the 1-minute limit`) {
			t.Errorf("%q does not say the helper was killed", msg)
		}
	})
}
