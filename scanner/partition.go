package scanner

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
)

// DefaultPartsInFlight bounds the parts of one Region listed at once. A
// Region's DescribeInstances calls share one token bucket per account and
// Region (100 calls, refilled at 20 a second, docs/aws-facts.md#ec2-request-limits):
// 8 parts paging at once stay well within its refill for pages that take
// a second each.
const DefaultPartsInFlight = 8

// zonePart is one disjoint part of a Region's listing: the instances
// whose Availability Zone matches one of Values (EC2 filter values, where
// * matches any run of characters).
type zonePart struct {
	Values []string
}

// zoneParts splits a Region into disjoint parts that together hold every
// instance: one part per Availability Zone named Region + one letter
// (us-east-1a) that DescribeAvailabilityZones lists, and one more part for
// everything else: the letters it did not list and every zone named
// Region + "-" + more (Local Zones such as us-west-2-lax-1a, Wavelength
// Zones such as us-east-1-wl1-bos-wlz-1). Every EC2 zone name is one of
// those two forms (docs/aws-facts.md#availability-zones-and-large-regions),
// so nothing falls between the parts, and no name matches two.
func zoneParts(region string, zones []string) []zonePart {
	var parts []zonePart
	listed := map[byte]bool{}
	for _, z := range zones {
		suffix, ok := strings.CutPrefix(z, region)
		if !ok || len(suffix) != 1 || suffix[0] < 'a' || suffix[0] > 'z' || listed[suffix[0]] {
			continue // a Local or Wavelength Zone, or a name given twice: the last part has it
		}
		listed[suffix[0]] = true
		parts = append(parts, zonePart{Values: []string{z}})
	}
	slices.SortFunc(parts, func(a, b zonePart) int { return strings.Compare(a.Values[0], b.Values[0]) })
	rest := zonePart{Values: []string{region + "-*"}}
	for c := byte('a'); c <= 'z'; c++ {
		if !listed[c] {
			rest.Values = append(rest.Values, region+string(c))
		}
	}
	return append(parts, rest)
}

// listInstances lists a Region's instances, calling emit once per page
// (possibly from several goroutines at once). The first page is read
// unfiltered; when it is full and more follow, the Region is large: it is
// listed again in disjoint parts, one per Availability Zone plus one for
// anything else (see [zoneParts]), paged in parallel, so that a
// 100,000-instance Region is not 100 pages one after another. An instance
// that the first page already gave is not given again, so none is counted
// twice; an instance launched during the listing is given at most once.
// If the zones cannot be read, the listing goes on page after page.
func (s *scan) listInstances(ctx context.Context, ec2c EC2API, region string, log *slog.Logger, emit func([]ec2types.Instance) error) error {
	p := ec2.NewDescribeInstancesPaginator(ec2c, &ec2.DescribeInstancesInput{
		MaxResults: aws.Int32(PageSize),
		Filters:    s.filters,
	})
	first, err := p.NextPage(ctx)
	s.o.Progress.call()
	if err != nil {
		return fmt.Errorf("describe instances: %w", err)
	}
	firstPage := flatten(first)
	if !p.HasMorePages() || s.o.NoPartition {
		if err := emit(firstPage); err != nil {
			return err
		}
		return s.rest(ctx, p, emit)
	}
	out, err := ec2c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	s.o.Progress.call()
	if err != nil || len(out.AvailabilityZones) == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reason := "none listed"
		if err != nil {
			reason = awsconfig.Explain(err)
		}
		log.Info("cannot read the Availability Zones; listing the Region page after page", "reason", reason)
		if err := emit(firstPage); err != nil {
			return err
		}
		return s.rest(ctx, p, emit)
	}
	var zones []string
	for _, z := range out.AvailabilityZones {
		zones = append(zones, aws.ToString(z.ZoneName))
	}
	parts := zoneParts(region, zones)
	log.Debug("large Region: listing it by Availability Zone", "parts", len(parts))

	var mu sync.Mutex
	seen := make(map[string]struct{}, 2*PageSize)
	dup := 0
	// fresh keeps the instances not given yet, and marks them given.
	fresh := func(page []ec2types.Instance) []ec2types.Instance {
		mu.Lock()
		defer mu.Unlock()
		out := page[:0:0]
		for _, in := range page {
			id := aws.ToString(in.InstanceId)
			if _, ok := seen[id]; ok {
				dup++
				continue
			}
			seen[id] = struct{}{}
			out = append(out, in)
		}
		return out
	}
	if err := emit(fresh(firstPage)); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.PartsInFlight)
	for _, part := range parts {
		g.Go(func() error {
			filters := append(slices.Clone(s.filters), ec2types.Filter{Name: aws.String("availability-zone"), Values: part.Values})
			pp := ec2.NewDescribeInstancesPaginator(ec2c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(PageSize), Filters: filters})
			return s.rest(gctx, pp, func(page []ec2types.Instance) error { return emit(fresh(page)) })
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	log.Debug("large Region listed", "instances", len(seen), "alsoOnFirstPage", dup)
	return nil
}

// rest reads the paginator's remaining pages into emit.
func (s *scan) rest(ctx context.Context, p *ec2.DescribeInstancesPaginator, emit func([]ec2types.Instance) error) error {
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		s.o.Progress.call()
		if err != nil {
			return fmt.Errorf("describe instances: %w", err)
		}
		if err := emit(flatten(page)); err != nil {
			return err
		}
	}
	return nil
}

// flatten returns a page's instances, reservation after reservation.
func flatten(page *ec2.DescribeInstancesOutput) []ec2types.Instance {
	n := 0
	for _, r := range page.Reservations {
		n += len(r.Instances)
	}
	out := make([]ec2types.Instance, 0, n)
	for _, r := range page.Reservations {
		out = append(out, r.Instances...)
	}
	return out
}
