package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

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

func TestSimCommandServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var errb syncBuffer
	s := &streams{In: strings.NewReader(""), Out: outW, Err: &errb}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sim", "--synthetic", "300", "--regions", "2", "--seed", "5", "--addr", "127.0.0.1:0", "--apply-delay", "0s"}, s)
		outW.Close()
	}()

	env := map[string]string{}
	var keys []string
	sc := bufio.NewScanner(outR)
	for len(keys) < 4 && sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("stdout line %q is not KEY=value", sc.Text())
		}
		env[k] = v
		keys = append(keys, k)
	}
	want := "[AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION]"
	if got := strings.Join(keys, " "); "["+got+"]" != want {
		t.Fatalf("stdout keys %v, want %s (stderr: %s)", keys, want, errb.String())
	}
	if !strings.HasPrefix(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:") || env["AWS_REGION"] != "us-east-1" ||
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

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit code after cancel = %d, want 0 (stderr: %s)", code, errb.String())
	}
	if rest, _ := io.ReadAll(outR); len(rest) != 0 {
		t.Errorf("stdout after the environment: %q", rest)
	}
	if !strings.Contains(errb.String(), "simulated AWS listening") {
		t.Errorf("stderr lacks the listening log: %s", errb.String())
	}
}

func ptr[T any](v T) *T { return &v }

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
