package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// syncBuffer is a bytes.Buffer safe for the command's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// simCommand is an `imdsfleet sim` running in-process on a free port.
type simCommand struct {
	env  map[string]string // what it printed on stdout
	keys []string          // the printed keys, in order
	errb *syncBuffer       // its stderr
	stop func() (code int, rest string)
}

// startSimCommand runs `imdsfleet sim args... --addr 127.0.0.1:0` and reads
// the environment it prints. stop cancels it and returns its exit code and
// whatever it wrote to stdout after the environment.
func startSimCommand(t *testing.T, args ...string) *simCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	errb := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(append([]string{"sim"}, args...), "--addr", "127.0.0.1:0"), &streams{In: strings.NewReader(""), Out: outW, Err: errb})
		outW.Close()
	}()
	// The environment comes in one write (a reader never sees half of it),
	// so one read of the pipe returns all of it.
	buf := make([]byte, 4096)
	n, err := outR.Read(buf)
	if err != nil {
		cancel()
		t.Fatalf("read stdout: %v (stderr: %s)", err, errb.String())
	}
	var rest syncBuffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&rest, outR)
		close(copied)
	}()
	c := &simCommand{env: map[string]string{}, errb: errb}
	var code int
	stopped := false
	c.stop = func() (int, string) {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
			<-copied
		}
		return code, rest.String()
	}
	t.Cleanup(func() { c.stop() })
	for _, line := range strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("stdout line %q is not KEY=value", line)
		}
		c.env[k] = v
		c.keys = append(c.keys, k)
	}
	return c
}

func TestSimCommandServesUntilCancelled(t *testing.T) {
	ctx := context.Background()
	sc := startSimCommand(t, "--synthetic", "300", "--regions", "2", "--seed", "5", "--apply-delay", "0s")
	env, keys, errb := sc.env, sc.keys, sc.errb
	want := "[AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION]"
	if got := strings.Join(keys, " "); "["+got+"]" != want {
		t.Fatalf("stdout keys %v, want %s (stderr: %s)", keys, want, errb.String())
	}
	if !strings.HasPrefix(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:") || env["AWS_REGION"] != "us-east-1" || env["AWS_DEFAULT_REGION"] != "us-east-1" ||
		env["AWS_ACCESS_KEY_ID"] != fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)) {
		t.Errorf("environment = %v", env)
	}

	cfg := simtest.Config(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_REGION"])
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Account != fleet.SyntheticAccountID(0) {
		t.Errorf("account = %s", *id.Account)
	}
	total := 0
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		p := ec2.NewDescribeInstancesPaginator(ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region }),
			&ec2.DescribeInstancesInput{MaxResults: ptr(int32(100))})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Reservations {
				total += len(r.Instances)
			}
		}
	}
	if total != 300 {
		t.Errorf("instances over both Regions = %d, want 300", total)
	}

	awsCLIWithEnv(t, env)

	code, rest := sc.stop()
	if code != exitOK {
		t.Errorf("exit code after cancel = %d, want 0 (stderr: %s)", code, errb.String())
	}
	if rest != "" {
		t.Errorf("stdout after the environment: %q", rest)
	}
	if !strings.Contains(errb.String(), "simulated AWS listening") {
		t.Errorf("stderr lacks the listening log: %s", errb.String())
	}
}

func ptr[T any](v T) *T { return &v }

// awsCLIWithEnv runs the AWS CLI (botocore, a client nobody here wrote)
// with nothing but the environment sim printed, as a user who sourced it
// would, isolated from any AWS configuration files and from IMDS.
func awsCLIWithEnv(t *testing.T, env map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Log("the AWS CLI (aws) is not on PATH: skipping the check that it works with the printed environment")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", "ec2", "describe-regions", "--output", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws ec2 describe-regions with the printed environment: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"RegionName": "us-east-1"`) {
		t.Errorf("aws ec2 describe-regions: %s", out)
	}
}

func TestSimCommandUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"fleet and synthetic", []string{"sim", "--fleet", "x.json", "--synthetic", "5"}, "exclude each other"},
		{"missing fleet file", []string{"sim", "--fleet", "/nonexistent/fleet.json"}, "open fleet file"},
		{"regions", []string{"sim", "--synthetic", "5", "--regions", "99"}, "--regions 99"},
		{"time scale", []string{"sim", "--time-scale", "0"}, "--time-scale"},
		{"negative latency", []string{"sim", "--latency", "-1s"}, "--latency"},
		{"bad addr", []string{"sim", "--addr", "localhost"}, "--addr"},
		{"bad flag", []string{"sim", "--latnecy", "1s"}, "unknown flag"},
		{"argument", []string{"sim", "extra"}, "takes no arguments"},
		{"fault form", []string{"sim", "--fault", "GetMetricData"}, "want API:RATE"},
		{"fault rate", []string{"sim", "--fault", "GetMetricData:2"}, "rate \"2\""},
		{"fault status", []string{"sim", "--fault", "GetMetricData:0.5:Boom:200"}, "status \"200\""},
		{"reset after apply with a status", []string{"sim", "--fault", "ModifyInstanceMetadataOptions:0.5:reset-after-apply:500"}, "a reset takes no status"},
		{"unknown Region", []string{"sim", "--synthetic", "5", "--regions", "1", "--auth-failure", "eu-west-1"}, "--auth-failure \"eu-west-1\": no account"},
		{"hidden caller of no instance", []string{"sim", "--synthetic", "5", "--hidden-caller", "i-0123456789abcdef0"}, "no instance i-0123456789abcdef0"},
		{"hidden caller delay", []string{"sim", "--synthetic", "5", "--hidden-caller", "i-0123456789abcdef0=soon"}, "want ID[=AFTER]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d; stderr: %s", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

// TestSimCommandFaultFlags starts the sim with the fault-injection flags
// and checks, through the real SDK clients, that each takes effect where
// it was aimed and nowhere else.
func TestSimCommandFaultFlags(t *testing.T) {
	ctx := context.Background()
	sc := startSimCommand(t, "--synthetic", "40", "--regions", "3",
		"--auth-failure", "eu-west-1", "--cloudwatch-denied", "ap-northeast-1", "--deny-modify", "us-east-1",
		"--fault", "DescribeRegions:1:Unavailable:503")
	env := sc.env
	if env["AWS_ENDPOINT_URL"] == "" {
		t.Fatalf("no environment on stdout; stderr: %s", sc.errb.String())
	}
	cfg := simtest.Config(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], "us-east-1")
	cfg.RetryMaxAttempts = 1
	code := func(err error) string {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			return fmt.Sprintf("no API error (%v)", err)
		}
		return ae.ErrorCode()
	}
	inRegion := func(region string) func(*ec2.Options) { return func(o *ec2.Options) { o.Region = region } }
	c := ec2.NewFromConfig(cfg)

	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}, inRegion("eu-west-1"))
	if got := code(err); got != "AuthFailure" {
		t.Errorf("eu-west-1 DescribeInstances: code %s, want AuthFailure", got)
	}
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}, inRegion("us-east-1"))
	if err != nil {
		t.Fatalf("us-east-1 DescribeInstances: %v", err)
	}
	var id *string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State != nil && in.State.Name == ec2types.InstanceStateNameRunning {
				id = in.InstanceId
			}
		}
	}
	if id == nil {
		t.Fatal("no running instance in us-east-1")
	}
	_, err = c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: id, HttpTokens: ec2types.HttpTokensStateRequired, DryRun: ptr(true)})
	if got := code(err); got != "UnauthorizedOperation" {
		t.Errorf("us-east-1 ModifyInstanceMetadataOptions: code %s, want UnauthorizedOperation", got)
	}
	_, err = c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if got := code(err); got != "Unavailable" {
		t.Errorf("DescribeRegions: code %s, want the injected Unavailable", got)
	}
	in := &cloudwatch.GetMetricStatisticsInput{
		Namespace: ptr("AWS/EC2"), MetricName: ptr("MetadataNoToken"),
		StartTime: ptr(time.Now().Add(-time.Hour)), EndTime: ptr(time.Now()),
		Period: ptr(int32(300)), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum},
	}
	cw := func(region string) *cloudwatch.Client {
		return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.Region = region })
	}
	if _, err := cw("ap-northeast-1").GetMetricStatistics(ctx, in); code(err) != "AccessDenied" {
		t.Errorf("ap-northeast-1 CloudWatch: %v, want AccessDenied", err)
	}
	if _, err := cw("us-east-1").GetMetricStatistics(ctx, in); err != nil {
		t.Errorf("us-east-1 CloudWatch: %v", err)
	}

	if rc, _ := sc.stop(); rc != exitOK {
		t.Errorf("exit code after cancel = %d; stderr: %s", rc, sc.errb.String())
	}
}

// TestSimCommandRegionIsEnabled: the printed AWS_REGION is the first
// Region of the first account that is enabled, not a not-opted-in one
// listed before it (where every EC2 call answers AuthFailure).
func TestSimCommandRegionIsEnabled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.json")
	doc := `{"accounts": [{"id": "111111111111", "regions": [
		{"name": "ap-east-1", "optInStatus": "not-opted-in", "instances": []},
		{"name": "eu-west-1", "instances": [{"id": "i-0123456789abcdef0", "state": "running"}]}]}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sc := startSimCommand(t, "--fleet", path)
	env := sc.env
	if env["AWS_REGION"] != "eu-west-1" || env["AWS_DEFAULT_REGION"] != "eu-west-1" {
		t.Errorf("printed Region %q / %q, want the enabled eu-west-1", env["AWS_REGION"], env["AWS_DEFAULT_REGION"])
	}
	cfg := simtest.Config(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_REGION"])
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatalf("DescribeInstances in the printed Region: %v", err)
	}
	if len(out.Reservations) != 1 {
		t.Errorf("printed Region: %d reservations, want 1", len(out.Reservations))
	}
	if rc, _ := sc.stop(); rc != exitOK {
		t.Errorf("exit code after cancel = %d; stderr: %s", rc, sc.errb.String())
	}
}

func TestParseFaultResetAfterApply(t *testing.T) {
	f, err := parseFault("ModifyInstanceMetadataOptions:0.3:reset-after-apply")
	if err != nil || f != (fleet.Fault{API: "ModifyInstanceMetadataOptions", Rate: 0.3, ResetAfterApply: true}) {
		t.Fatalf("parseFault = %+v, %v", f, err)
	}
}
