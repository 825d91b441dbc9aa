package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

const awsconfigNoCredentials = "no AWS credentials found (none in the environment or the shared config files, and no instance role on IMDS): set --profile or AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`"

// Fake secrets a credential_process helper prints. None may ever reach
// imdsfleet's stdout or stderr.
const (
	helperKeyID   = "AKIAIOSFODNN7EXAMPLE"
	helperSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	helperSession = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
)

// TestNoisyCredentialProcessNeverEchoed runs the real binary (so that what
// reaches the process's own stderr is seen too, as a user's terminal sees
// it) with a shared config file whose profile's credential_process helper
// prints junk and secrets, on stdout and stderr. Every command fails with
// one line naming the profile's credential_process and the fix; no secret
// appears in any output, with -v or JSON logs either; scan does not claim
// that there are no credentials.
func TestNoisyCredentialProcessNeverEchoed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "imdsfleet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := remStart(t, remMixedFleet([]string{"us-east-1"}, 0), fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("setup: remediate exit %d", r.code)
	}

	json := func(version int) string {
		return `{"Version": ` + string(rune('0'+version)) + `, "AccessKeyId": "` + helperKeyID + `", "SecretAccessKey": "` + helperSecret + `", "SessionToken": "` + helperSession + `"}`
	}
	helpers := []struct {
		name, script, want string
	}{
		{"junk and secrets on stdout",
			"echo 'refreshing " + helperKeyID + " " + helperSecret + " " + helperSession + "'; echo 'MFA for " + helperSecret + "' >&2",
			"it printed something other than the credentials JSON"},
		{"valid JSON then extra text",
			"echo '" + json(1) + "'; echo 'cached in ~/.cache/helper " + helperSession + "'",
			"it printed something other than the credentials JSON"},
		{"JSON and secrets, then exit 3",
			"echo '" + json(1) + "'; echo 'error: " + helperSecret + "' >&2; exit 3",
			"it exited with status 3"},
		{"JSON of another version",
			"echo '" + json(2) + "'",
			"its output is not the credentials JSON"},
	}
	for _, h := range helpers {
		t.Run(h.name, func(t *testing.T) {
			dir := t.TempDir()
			helper := filepath.Join(dir, "helper.sh")
			if err := os.WriteFile(helper, []byte("#!/bin/sh\n"+h.script+"\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			cfgFile := filepath.Join(dir, "config")
			if err := os.WriteFile(cfgFile, []byte("[profile noisy]\nregion = us-east-1\ncredential_process = "+helper+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, command := range [][]string{
				{"scan", "--regions", "us-east-1"},
				{"remediate", "--report", s.report},
				{"rollback", "--journal", s.journal},
			} {
				for _, logging := range [][]string{nil, {"-v"}, {"-v", "--log-format", "json"}} {
					args := append(append(append([]string{}, command...), logging...), "--profile", "noisy")
					t.Run(strings.Join(append(command[:1:1], logging...), " "), func(t *testing.T) {
						code, stdout, stderr := runBinary(t, bin, helperEnv(s.url, cfgFile), args...)
						checkCredentialFailure(t, code, stdout, stderr, h.want)
					})
				}
			}
			// The profile chosen with AWS_PROFILE rather than --profile.
			code, stdout, stderr := runBinary(t, bin, append(helperEnv(s.url, cfgFile), "AWS_PROFILE=noisy"), "scan", "--regions", "us-east-1")
			checkCredentialFailure(t, code, stdout, stderr, h.want)
		})
	}

	// No credentials anywhere, and an IMDS that refuses tokens: the SDK's
	// own warning ("falling back to IMDSv1") does not add a line to the
	// one-line error (it goes to the debug log).
	t.Run("no credentials, IMDS refusing tokens", func(t *testing.T) {
		imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
		}))
		defer imds.Close()
		env := helperEnv(s.url, "/dev/null")
		for i, kv := range env {
			if kv == "AWS_EC2_METADATA_DISABLED=true" {
				env[i] = "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL
			}
		}
		code, _, stderr := runBinary(t, bin, env, "scan", "--regions", "us-east-1")
		if code != exitError || stderr != "imdsfleet: "+awsconfigNoCredentials+"\n" {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})

	// A helper that works but chatters on stderr: the command runs, and
	// the chatter is not passed through.
	t.Run("working helper that chatters on stderr", func(t *testing.T) {
		dir := t.TempDir()
		helper := filepath.Join(dir, "helper.sh")
		script := "echo 'debug: using " + helperSecret + "' >&2\necho '{\"Version\": 1, \"AccessKeyId\": \"" + remKey + "\", \"SecretAccessKey\": \"" + helperSecret + "\"}'\n"
		if err := os.WriteFile(helper, []byte("#!/bin/sh\n"+script), 0o700); err != nil {
			t.Fatal(err)
		}
		cfgFile := filepath.Join(dir, "config")
		if err := os.WriteFile(cfgFile, []byte("[profile ok]\nregion = us-east-1\ncredential_process = "+helper+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runBinary(t, bin, helperEnv(s.url, cfgFile), "remediate", "--report", s.report, "--profile", "ok", "-v")
		if code != exitOK {
			t.Errorf("exit %d with a working helper\nstderr:\n%s", code, stderr)
		}
		if strings.Contains(stdout+stderr, helperSecret) || strings.Contains(stderr, "debug: using") {
			t.Errorf("the helper's stderr reached the output:\n%s", stderr)
		}
	})
}

// helperEnv is the environment of a run whose only credentials come from
// the shared config file cfgFile.
func helperEnv(url, cfgFile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_ENDPOINT_URL="+url, "AWS_REGION=us-east-1", "AWS_CONFIG_FILE="+cfgFile,
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
}

func runBinary(t *testing.T, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// checkCredentialFailure checks one run with a broken helper.
func checkCredentialFailure(t *testing.T, code int, stdout, stderr, reason string) {
	t.Helper()
	for _, secret := range []string{helperKeyID, helperSecret, helperSession, "MFA for", "cached in"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("output holds %q from the helper\nstdout:\n%s\nstderr:\n%s", secret, stdout, stderr)
		}
	}
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "imdsfleet: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one error line, got %d:\n%s", len(lines), stderr)
	}
	for _, want := range []string{`credential_process of profile "noisy"`, reason, "run that command by hand"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("error line lacks %q:\n%s", want, lines[0])
		}
	}
	if strings.Contains(stderr, "no AWS credentials found") {
		t.Errorf("claims there are no credentials:\n%s", stderr)
	}
}
