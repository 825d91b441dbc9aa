package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/remediate"
)

var _ remediate.SourceClients = (*fleetClients)(nil)

// SourceEC2 implements remediate.SourceClients with the same EC2 client
// as the instances'.
func (c *fleetClients) SourceEC2(account, region string) (remediate.SourceEC2API, error) {
	cl, err := c.EC2(account, region)
	if err != nil {
		return nil, err
	}
	src, ok := cl.(*ec2.Client)
	if !ok {
		return nil, fmt.Errorf("internal: the EC2 client of %s/%s cannot change launch sources", account, region)
	}
	return src, nil
}

// AutoScaling implements remediate.SourceClients.
func (c *fleetClients) AutoScaling(account, region string) (remediate.AutoScalingAPI, error) {
	return cachedClient(c, c.asg, account, region, func(t awsconfig.Target) remediate.AutoScalingAPI { return c.factory.AutoScaling(t) })
}

// confirmWhat is the prompt's "About to ..." for instances and source steps.
func confirmWhat(instances, sources int) string {
	switch {
	case sources == 0:
		return fmt.Sprintf("change %d instance(s)", instances)
	case instances == 0:
		return fmt.Sprintf("make %d launch source change(s)", sources)
	}
	return fmt.Sprintf("make %d launch source change(s), then change %d instance(s)", sources, instances)
}

func mergeCounts(a, b map[string]map[string]int) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, m := range []map[string]map[string]int{a, b} {
		for k, v := range m {
			if out[k] == nil {
				out[k] = map[string]int{}
			}
			for act, n := range v {
				out[k][act] += n
			}
		}
	}
	return out
}

// executeAll runs the plan's source steps first (plan order: fix the
// source, then the instances), then the instance tasks, and reports both
// through [finish].
func (f *changeFlags) executeAll(ctx context.Context, cmd *cobra.Command, g *globals, sources []remediate.SourceItem, tasks []remediate.Task, ro remediate.RunOptions, skipped []remediate.Result, journalFlag, journal string) error {
	if len(sources) == 0 {
		return f.execute(ctx, cmd, g, tasks, ro, skipped, journalFlag, journal)
	}
	clients, err := f.clients(ctx)
	if err != nil {
		return err
	}
	srcResults, runErr := remediate.ExecuteSources(ctx, clients, sources, remediate.SourceRunOptions{
		Live: ro.Live, Journal: ro.Journal, Prior: ro.Prior, WaitTimeout: ro.WaitTimeout, PollInterval: ro.PollInterval,
		Logger: ro.Logger, Now: ro.Now,
	})
	out := &remediate.Outcome{Live: ro.Live, Summary: remediate.Summary{Skipped: map[string]int{}}}
	if runErr == nil && ctx.Err() == nil && len(tasks) > 0 {
		var iout *remediate.Outcome
		iout, runErr = remediate.Execute(ctx, clients, tasks, ro)
		if iout != nil {
			out = iout
		}
	}
	out.AddSources(srcResults)
	out.Interrupted = out.Interrupted || ctx.Err() != nil || runErr != nil
	out.AddSkipped(skipped)
	return finish(cmd, g, f, out, runErr, journalFlag, journal)
}

// rollbackAll undoes the journal's source steps, then its instance
// changes, and reports both through [finish].
func (f *rollbackFlags) rollbackAll(ctx context.Context, cmd *cobra.Command, g *globals, sitems []remediate.SourceRollbackItem, tasks []remediate.Task, ro remediate.RunOptions, skipped []remediate.Result, journalFlag, journal string) error {
	if len(sitems) == 0 {
		return f.execute(ctx, cmd, g, tasks, ro, skipped, journalFlag, journal)
	}
	clients, err := f.clients(ctx)
	if err != nil {
		return err
	}
	srcResults, runErr := remediate.ExecuteSourceRollback(ctx, clients, sitems, f.force, remediate.SourceRunOptions{
		Live: ro.Live, Journal: ro.Journal, Prior: ro.Prior, WaitTimeout: ro.WaitTimeout, PollInterval: ro.PollInterval,
		Logger: ro.Logger, Now: ro.Now,
	})
	out := &remediate.Outcome{Live: ro.Live, Summary: remediate.Summary{Skipped: map[string]int{}}}
	if runErr == nil && ctx.Err() == nil && len(tasks) > 0 {
		var iout *remediate.Outcome
		iout, runErr = remediate.Execute(ctx, clients, tasks, ro)
		if iout != nil {
			out = iout
		}
	}
	out.AddSources(srcResults)
	out.Interrupted = out.Interrupted || ctx.Err() != nil || runErr != nil
	out.AddSkipped(skipped)
	return finish(cmd, g, &f.changeFlags, out, runErr, journalFlag, journal)
}

// runPlanSources carries out a plan's launch source steps (none: nothing).
func runPlanSources(ctx context.Context, clients *fleetClients, plan *remediate.Plan, ro remediate.RunOptions) ([]remediate.Result, error) {
	if len(plan.Sources) == 0 {
		return nil, nil
	}
	return remediate.ExecuteSources(ctx, clients, plan.Sources, remediate.SourceRunOptions{
		Live: ro.Live, Journal: ro.Journal, Prior: ro.Prior, WaitTimeout: ro.WaitTimeout, PollInterval: ro.PollInterval,
		Logger: ro.Logger, Now: ro.Now,
	})
}

// applyConfirmWhat is apply's "About to ..." line.
func applyConfirmWhat(plan *remediate.Plan, waves int) string {
	what := fmt.Sprintf("change %d instance(s) in %d wave(s)", len(plan.Changes), waves)
	if len(plan.Sources) > 0 {
		what = fmt.Sprintf("make %d launch source change(s), then %s", len(plan.Sources), what)
	}
	return what
}
