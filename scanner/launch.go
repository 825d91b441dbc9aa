package scanner

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/internal/launch"
	"github.com/imdsfleet/imdsfleet/report"
)

// launchCollection is what the launch-source collectors of one target
// share: the clients, the inventory they fill and, from the second stage
// on, the target's instances.
//
// Each collector writes only its own fields of inv (the stages order the
// reads that depend on each other), and reports a failed read by
// returning its error: [collectLaunch] records it with the permission the
// read needs. A collector that makes several calls keeps what the calls
// that succeeded returned, so long as the inventory contract holds (an
// AMI is recorded Missing only when a successful call left it out).
type launchCollection struct {
	ec2      LaunchEC2API
	asg      AutoScalingAPI
	progress *Progress

	inv launch.Inventory
	// instances are the target's live instances; set (and then only read)
	// before the second stage starts.
	instances []report.Instance
	// templatesListed: the $Latest/$Default listing succeeded, so a
	// template it did not return does not exist.
	templatesListed bool
}

// collectLaunch reads the launch sources of one target, stage by stage
// (see [launchStages]). listed delivers the target's instances once
// DescribeInstances is done; the later stages wait for it. A failed read
// is recorded in the inventory's Failures, never treated as "nothing
// there"; the error is non-nil only when ctx ended or the instances never
// came (the target failed).
func collectLaunch(ctx context.Context, t target, c Clients, p *Progress, listed <-chan []report.Instance) (*launch.Inventory, error) {
	lc := &launchCollection{
		ec2:      c.EC2(t.awsTarget()),
		asg:      c.AutoScaling(t.awsTarget()),
		progress: p,
		inv:      launch.Inventory{Account: t.id, Region: t.region},
	}
	for i, stage := range launchStages() {
		if i == 1 {
			select {
			case ins, ok := <-listed:
				if !ok {
					return nil, fmt.Errorf("launch sources: the instances were not listed")
				}
				lc.instances = ins
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		g := new(errgroup.Group)
		// Each collector's failure in its own slot, recorded in the
		// stage's order once all are done: the reads of a stage run at
		// once, and two scans of one fleet must list its failures alike.
		failures := make([]*launch.ReadFailure, len(stage))
		for j, col := range stage {
			g.Go(func() error {
				if err := col.collect(ctx, lc); err != nil {
					failures[j] = &launch.ReadFailure{Read: col.read, Permission: col.read.Permission(), Err: awsconfig.Explain(err)}
				}
				return nil
			})
		}
		_ = g.Wait() // collectors never fail the group: each records its own error
		for _, f := range failures {
			if f != nil {
				lc.inv.Failures = append(lc.inv.Failures, *f)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return &lc.inv, nil
}
