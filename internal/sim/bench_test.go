package sim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
)

// benchFleet is one account with 100,000 synthetic instances in 1 Region.
func benchFleet(b *testing.B) (*sim.Server, string) {
	b.Helper()
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 100000, Regions: 1, Seed: 1})
	return simtest.Start(b, f, sim.Options{})
}

// BenchmarkServeDescribeInstancesPage measures the server alone: one page
// of 1,000 instances out of 100,000, XML included.
func BenchmarkServeDescribeInstancesPage(b *testing.B) {
	f := fleet.Synthetic(fleet.SyntheticOptions{Instances: 100000, Regions: 1, Seed: 1})
	s, err := sim.New(f, sim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "MaxResults": {"1000"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0))+"/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		b.SetBytes(int64(w.Body.Len()))
	}
}

// BenchmarkSDKScan100k pages through 100,000 instances with the real
// client (100 pages of 1,000), as a scan does.
func BenchmarkSDKScan100k(b *testing.B) {
	_, u := benchFleet(b)
	c := ec2.NewFromConfig(simtest.Config(u, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1"))
	for b.Loop() {
		n := 0
		p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range out.Reservations {
				n += len(r.Instances)
			}
		}
		if n != 100000 {
			b.Fatalf("scanned %d instances", n)
		}
	}
}

// BenchmarkSDKFilteredPage100k: a filter that matches a third of 100,000.
func BenchmarkSDKFilteredPage100k(b *testing.B) {
	_, u := benchFleet(b)
	c := ec2.NewFromConfig(simtest.Config(u, fleet.DefaultAccessKeyID(fleet.SyntheticAccountID(0)), "us-east-1"))
	in := &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000), Filters: []types.Filter{
		{Name: aws.String("metadata-options.http-tokens"), Values: []string{"required"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}}
	for b.Loop() {
		if _, err := c.DescribeInstances(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
