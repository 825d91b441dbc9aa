package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

type applyFlags struct {
	changeFlags
	journal     string
	maxPlanAge  time.Duration
	waves       string
	waveBy      string
	bake        time.Duration
	maxRejected float64
	onBreakage  string
	untilWave   int
	simClock    string
	cwProtocol  string

	sizes []remediate.WaveSize
	by    *remediate.WaveBy
}

// defaultMaxPlanAge is --max-plan-age's default: a week-old plan is about
// a fleet that has moved on.
const defaultMaxPlanAge = 7 * 24 * time.Hour

// maxPlanFuture is how far in this machine's future a plan's creation time
// may be (clocks of two machines differ a little). A plan made further
// ahead has no age apply can judge: a clock a year fast would let its plan
// pass --max-plan-age for a year.
const maxPlanFuture = 15 * time.Minute

func newApplyCmd(g *globals) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply PLAN [--dry-run | --live --yes] [--waves 1,10%,50%,100%] [--wave-by tag:K=V,…]",
		Short: "Carry out a plan file exactly, in waves with a bake after each (dry run by default)",
		Long: `apply carries out the changes of a plan file written by
'imdsfleet remediate --report scan.json --plan-out plan.json', and nothing
else: it never re-plans from a report. Each instance is re-read before its
change; one whose options changed since the scan, or that is gone, is
skipped with the reason (the drift check of remediate). A plan older than
--max-plan-age or made more than 15 minutes in the future (a wrong
clock), for an account the credentials are not in (without --role-name),
edited or damaged is refused (exit 2).

Waves: --waves takes cumulative counts or percentages of the changes, e.g.
1,10%,50%,100%. A first count is the canary: that many instances of every
workload the report names (when it names none: of every Auto Scaling group,
aws:autoscaling:groupName, else of every Region). --wave-by
tag:env=dev,env=staging,env=prod makes stages by one tag's value (instances
with none of them last); with --waves each stage is split the same way.

After each wave its changes are verified, then the wave bakes for --bake:
every 5 minutes CloudWatch's MetadataNoTokenRejected and
StatusCheckFailed_Instance are read for the wave's instances. An instance
with more rejected IMDSv1 calls than --max-rejected, or a failed status
check, stops the rollout; --on-breakage rollback (the default) rolls that
wave back at once, journaled, and --on-breakage stop leaves it as it is.
Later waves are never touched.

Launch source steps (a plan of --scope instances,sources) run in the
first wave holding an instance of their workloads (wave 1 when none is
planned), after that wave's instance changes are applied and verified
and before its bake: if one of them was denied or failed, the wave's
source steps are not run (a rerun runs them once the instances apply);
the account defaults after the last wave's bake. A source step that
fails leaves the rollout completed-with-failures (exit 5; rerun to retry). A broken wave's rollback points its sources' users back
too (and those of an earlier wave's step that launches its workloads),
where imdsfleet's value is still in place; created versions stay.

The journal (--journal; default <plan dir>/<plan name>.apply-<plan id>.jsonl)
records every change, every wave and every bake's start and end: run the
same command again to resume where it stopped, in the same wave or bake,
without changing anything twice. --until-wave N stops after wave N's bake,
so a scheduled job can advance one wave per run ('imdsfleet status' says
where it stands). Undo everything with 'imdsfleet rollback --journal J'.

An instance whose change stands but for which CloudWatch returned no
datapoint at all during the bake (stopped, or not publishing metrics) is
not counted as clean: the rollout is held (exit 7), nothing is rolled back,
and the same command re-reads the bake once the data is there.

Exit codes: 0 done (or paused by --until-wave, or would be done in a dry
run), 6 stopped by breakage (rolled back or not: see the output), 7 held:
a bake saw no data for some instances (rerun when they publish), 5 some
changes denied or failed, 2 bad usage (plan refused, journal of another
plan, journal locked), 1 could not run or interrupted.`,
		Example: `  # What would change, wave by wave? (nothing changes)
  imdsfleet apply plan.json --waves 1,10%,50%,100%

  # The rollout: canary, bake 1h, then 10%, 50%, everything
  imdsfleet apply plan.json --waves 1,10%,50%,100% --live --yes

  # Environment by environment, canary first in each
  imdsfleet apply plan.json --wave-by tag:env=dev,env=staging,env=prod --waves 1,100% --live --yes

  # One wave per scheduled run
  imdsfleet apply plan.json --waves 1,10%,50%,100% --until-wave 2 --live --yes --journal rollout.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("apply takes one plan file (from 'imdsfleet remediate --report scan.json --plan-out plan.json'), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd, g, f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.journal, "journal", "", "journal file (JSON Lines); an existing one is resumed (default <plan dir>/<plan name>.apply-<plan id>.jsonl)")
	fs.DurationVar(&f.maxPlanAge, "max-plan-age", defaultMaxPlanAge, "refuse a plan older than this")
	fs.StringVar(&f.waves, "waves", "", "cumulative wave sizes, counts or percentages, the last 100% (e.g. 1,10%,50%,100%; a first count is the canary per workload)")
	fs.StringVar(&f.waveBy, "wave-by", "", "stages by one tag's values, in order: tag:KEY=V1,KEY=V2,… (the rest last)")
	fs.DurationVar(&f.bake, "bake", time.Hour, "how long each wave bakes before the next")
	fs.Float64Var(&f.maxRejected, "max-rejected", 0, "rejected IMDSv1 calls an instance may show in a bake before the rollout stops")
	fs.StringVar(&f.onBreakage, "on-breakage", remediate.OnBreakageRollback, "on breakage: rollback (the broken wave, at once) or stop")
	fs.IntVar(&f.untilWave, "until-wave", 0, "stop after this wave's bake (0: run every wave)")
	fs.StringVar(&f.simClock, "sim-clock", "", "run on the simulated AWS's fast clock (the IMDSFLEET_SIM_CLOCK that 'imdsfleet sim --time-scale' prints, also read from the environment); demos only")
	_ = fs.MarkHidden("sim-clock")
	fs.StringVar(&f.cwProtocol, "cloudwatch-protocol", awsconfig.ProtocolCBOR, "CloudWatch wire protocol of the bake: cbor (AWS's SDK default), json or query (emulators without CBOR, such as moto)")
	f.changeFlags.register(fs)
	return cmd
}

func (f *applyFlags) validate(s *streams) error {
	if err := f.changeFlags.validate(s); err != nil {
		return err
	}
	if err := checkPositive("--max-plan-age", f.maxPlanAge); err != nil {
		return err
	}
	if err := checkPositive("--bake", f.bake); err != nil {
		return err
	}
	if f.bake%remediate.BakePeriod != 0 {
		return usageError("--bake %s: want a multiple of 5m (CloudWatch basic monitoring's period)", f.bake)
	}
	if !(f.maxRejected >= 0) || math.IsInf(f.maxRejected, 1) { // NaN too; +Inf would never stop a rollout
		return usageError("--max-rejected %v: want a number of calls, 0 or more", f.maxRejected)
	}
	switch f.onBreakage {
	case remediate.OnBreakageRollback, remediate.OnBreakageStop:
	default:
		return usageError("--on-breakage %q: want rollback or stop", f.onBreakage)
	}
	if err := (awsconfig.Options{CloudWatchProtocol: f.cwProtocol}).Validate(); err != nil {
		return usageError("%v", err)
	}
	if f.untilWave < 0 {
		return usageError("--until-wave %d: want a wave number (1 or more), or 0 for every wave", f.untilWave)
	}
	if f.waves != "" {
		sizes, err := remediate.ParseWaves(f.waves)
		if err != nil {
			return usageError("%v", err)
		}
		f.sizes = sizes
	}
	if f.waveBy != "" {
		by, err := remediate.ParseWaveBy(f.waveBy)
		if err != nil {
			return usageError("%v", err)
		}
		f.by = by
	}
	return nil
}

// defaultApplyJournal is the journal of a plan at path: beside it, named
// after it and its ID, so that the same command resumes it and another
// plan written to the same file gets a journal of its own.
func defaultApplyJournal(path string, p *remediate.Plan) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return filepath.Join(filepath.Dir(path), fmt.Sprintf("%s.apply-%s.jsonl", base, p.ID()))
}

func runApply(cmd *cobra.Command, g *globals, f *applyFlags, planPath string) error {
	ctx := cmd.Context()
	s := g.streams
	if err := f.validate(s); err != nil {
		return err
	}
	clockFrom, err := g.useSimClock(f.simClock)
	if err != nil {
		return err
	}
	if err := f.changeFlags.loadConfig(ctx, g); err != nil {
		return err
	}
	if clockFrom != "" && f.endpointURL == "" && g.env("AWS_ENDPOINT_URL") == "" && g.env("AWS_ENDPOINT_URL_EC2") == "" {
		// A fast clock against AWS itself would cut every bake short.
		return usageError("%s is set, but no --endpoint-url or AWS_ENDPOINT_URL points at the simulated AWS that printed it: bakes would run on a fast clock against AWS; unset %s", clockFrom, clockFrom)
	}
	plan, err := remediate.ReadPlanFile(planPath)
	if err != nil {
		return usageError("%v", err)
	}
	now := g.clock.Now()
	if ahead := plan.GeneratedAt.Sub(now); ahead > maxPlanFuture {
		return usageError("plan %s was made %s (%s after this machine's clock, %s): the clock of the machine that made it, or of this one, is wrong, and the plan's age cannot be checked against --max-plan-age; fix the clock, then make a new plan",
			planPath, plan.GeneratedAt.Format(time.RFC3339), ahead.Round(time.Minute), now.UTC().Format(time.RFC3339))
	}
	if age := now.Sub(plan.GeneratedAt); age > f.maxPlanAge {
		return usageError("plan %s was made %s ago (%s), more than --max-plan-age %s: the fleet has moved on since; scan again and make a new plan (or raise --max-plan-age)",
			planPath, age.Round(time.Minute), plan.GeneratedAt.Format(time.RFC3339), f.maxPlanAge)
	}
	journal := f.journal
	if journal == "" {
		journal = defaultApplyJournal(planPath, plan)
	} else if err := checkDir("--journal", journal); err != nil {
		return err
	}
	if err := checkJournalFiles("--journal", journal, remediate.RollbackJournalPath(journal)); err != nil {
		return err
	}
	if err := checkDistinctOutputs(f.outputPaths(), append([]namedPath{{"the plan", planPath}}, journalFiles("--journal", journal)...)); err != nil {
		return err
	}
	waves := remediate.AssignWaves(plan, f.sizes, f.by)
	if err := checkWaveByMatches(s, f, plan, waves); err != nil {
		return err
	}
	if f.untilWave > len(waves) {
		return usageError("--until-wave %d: the rollout has %d wave(s)", f.untilWave, len(waves))
	}
	if plan.SourcesWithoutWaves() && len(plan.Changes) > 0 {
		fmt.Fprintf(s.Err, "warning: plan %s was written by an older imdsfleet: its launch source steps name no wave, so all of them (account defaults too) run in wave 1, after its instances; plan again to have each run in its workload's wave\n", report.Sanitize(planPath))
	}
	if err := writeApplyPlan(s.Out, planPath, plan, waves); err != nil {
		return withCode(exitError, err)
	}
	if err := remediate.WriteSourcePlanTable(s.Out, plan); err != nil {
		return withCode(exitError, err)
	}
	skipped := append(remediate.SkippedSourceResults(plan.SourcesSkipped), remediate.SkippedResults(plan.Skipped)...)
	if len(plan.Changes) == 0 && len(plan.Sources) == 0 {
		out := &remediate.Outcome{Live: f.live, Summary: remediate.Summary{Skipped: map[string]int{}}}
		out.AddSkipped(skipped)
		fmt.Fprintln(s.Out, "\nNothing to change.")
		return finish(cmd, g, &f.changeFlags, out, nil, "journal", "")
	}
	clients, err := f.clients(ctx)
	if err != nil {
		return err
	}
	clients.factory.CloudWatchProtocol = f.cwProtocol
	if !slices.Contains(plan.Accounts, clients.account()) && f.roleName == "" {
		return usageError("plan %s is for account(s) %s, but these credentials are account %s: use credentials of the plan's account (or --role-name to act through a role)",
			planPath, strings.Join(plan.Accounts, ","), clients.account())
	}
	ro := f.runOptions(g)
	if !f.live {
		// A dry run sends every change with DryRun=true, wave after wave
		// without bakes: it says what each wave would do, and whether it is
		// allowed.
		closeJournal, err := useJournal(s, journal, false, remediate.OpRemediate, "", 0, g.clock.Now, &ro)
		if err != nil {
			return err
		}
		defer closeJournal()
		if err := remediate.CheckRollout(&ro.Prior.Rollout, plan, waves); err != nil {
			return usageError("journal %s: %v", journal, err)
		}
		srcResults, _ := runPlanSources(ctx, clients, plan, ro)
		out, runErr := remediate.Execute(ctx, clients, remediate.TasksFromPlan(plan), ro)
		if out == nil {
			return withCode(exitError, runErr)
		}
		out.AddSources(srcResults)
		out.AddSkipped(skipped)
		return finish(cmd, g, &f.changeFlags, out, runErr, "journal", journal)
	}
	if !f.yes {
		if err := confirm(ctx, s, applyConfirmWhat(plan, len(waves)), mergeCounts(plan.CountsByTarget(), plan.SourceCounts())); err != nil {
			return err
		}
	}
	closeJournal, err := useJournal(s, journal, true, remediate.OpRemediate, "imdsfleet apply "+planPath, 0, g.clock.Now, &ro)
	if err != nil {
		return err
	}
	defer closeJournal()
	if err := remediate.CheckRollout(&ro.Prior.Rollout, plan, waves); err != nil {
		return usageError("journal %s: %v", journal, err)
	}
	rbPath := remediate.RollbackJournalPath(journal)
	rb, warns, err := remediate.ReadJournal(rbPath)
	if err != nil {
		return usageError("%v", err)
	}
	printWarnings(s, warns)
	// A rollout's waves stay as its journal says (a wave that passed is
	// not applied again, even if rolled back by hand since): only a journal
	// without rollout lines plans rolled-back changes again.
	if n := ro.Prior.ForgetRolledBack(rb); n > 0 && len(ro.Prior.Rollout.Wave) == 0 {
		fmt.Fprintf(s.Err, "%d change(s) of the journal were rolled back since (%s): they are planned again\n", n, report.Sanitize(rbPath))
	}
	if len(plan.Changes) == 0 {
		// A plan of launch sources only has no waves: its steps run at
		// once; a resumed run skips what the journal shows done.
		srcResults, srcErr := runPlanSources(ctx, clients, plan, ro)
		out := &remediate.Outcome{Live: true, Summary: remediate.Summary{Skipped: map[string]int{}}, Interrupted: srcErr != nil || ctx.Err() != nil}
		out.AddSources(srcResults)
		out.AddSkipped(skipped)
		return finish(cmd, g, &f.changeFlags, out, srcErr, "journal", journal)
	}
	// The launch source steps run in their waves, after the wave's
	// instances are applied and verified (they are the source's canary)
	// and before its bake, the account defaults after the last wave's
	// bake (remediate.SourceWaves).
	out, runErr := remediate.Rollout(ctx, remediate.RolloutOptions{
		Plan: plan, Waves: waves, Bake: f.bake, MaxRejected: f.maxRejected, OnBreakage: f.onBreakage, UntilWave: f.untilWave,
		Run: ro, JournalPath: journal, Clients: clients, Sources: clients, Metrics: clients, Clock: g.clock, Logger: g.log,
		OpenRollback: func(remSeq int64) (remediate.RunOptions, func(), error) {
			rro := f.runOptions(g)
			closeRB, err := useJournal(s, rbPath, true, remediate.OpRollback, "imdsfleet apply "+planPath+" (rollback of a broken wave)", remSeq, g.clock.Now, &rro)
			if err != nil {
				return rro, nil, err
			}
			return rro, closeRB, nil
		},
	})
	if out == nil {
		return withCode(exitError, runErr)
	}
	out.AddSkipped(skipped)
	return finishRollout(cmd, g, f, out, runErr, journal)
}

// checkWaveByMatches refuses --wave-by stages that no planned change is in
// (a misspelt key or value would silently make one stage of everything,
// production with the rest) and warns about each value no change has.
func checkWaveByMatches(s *streams, f *applyFlags, plan *remediate.Plan, waves []remediate.Wave) error {
	if f.by == nil || len(plan.Changes) == 0 {
		return nil
	}
	staged := map[string]bool{}
	for _, w := range waves {
		staged[w.Stage] = true
	}
	var missing []string
	for _, v := range f.by.Values {
		if !staged[f.by.Key+"="+v] {
			missing = append(missing, v)
		}
	}
	if len(missing) == len(f.by.Values) {
		return usageError("--wave-by %s: no planned change has tag %s with any of these values, so every instance would be in one last stage; check the key and values against the instances' tags",
			report.SanitizeCell(f.waveBy, 200), report.SanitizeCell(f.by.Key, 80))
	}
	for _, v := range missing {
		fmt.Fprintf(s.Err, "warning: --wave-by: no planned change has tag %s=%s: that stage is empty\n", report.SanitizeCell(f.by.Key, 80), report.SanitizeCell(v, 80))
	}
	return nil
}

// writeApplyPlan shows what the plan file holds and its waves.
func writeApplyPlan(w io.Writer, path string, p *remediate.Plan, waves []remediate.Wave) error {
	src := "?"
	if p.Source != nil {
		src = fmt.Sprintf("%s (scanned %s)", report.SanitizeCell(p.Source.Path, 120), p.Source.GeneratedAt.Format(time.RFC3339))
	}
	_, err := fmt.Fprintf(w, "PLAN %s (id %s, made %s from %s): %d change(s), %d skipped\n", report.SanitizeCell(path, 120), p.ID(),
		p.GeneratedAt.Format(time.RFC3339), src, len(p.Changes), len(p.Skipped))
	if err != nil {
		return err
	}
	return remediate.WriteWavesTable(w, p, waves)
}

// finishRollout prints the results and the rollout, writes the outputs
// and maps the outcome to an exit code: 6 when breakage stopped it.
func finishRollout(cmd *cobra.Command, g *globals, f *applyFlags, out *remediate.Outcome, runErr error, journal string) error {
	s := g.streams
	if err := remediate.WriteResultsTable(s.Out, out); err != nil {
		return withCode(exitError, err)
	}
	if err := remediate.WriteRolloutTable(s.Out, out.Rollout); err != nil {
		return withCode(exitError, err)
	}
	if err := writeOutputs(cmd.Context(), f.outputs, out); err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "journal: %s (imdsfleet status --journal %s)\n", report.Sanitize(journal), shellQuote(journal))
	r := out.Rollout
	switch {
	case runErr != nil:
		fmt.Fprintf(s.Err, "after fixing the journal problem, resume with:\n  %s\n", resumeCommand(cmd, "journal", journal))
		return withCode(exitError, fmt.Errorf("stopped: %w", runErr))
	case r.State == remediate.RolloutStopped:
		what := "left as it is (--on-breakage stop)"
		switch {
		case r.RolledBack:
			what = "rolled back"
		case f.onBreakage == remediate.OnBreakageRollback:
			what = "NOT fully rolled back (see the rollback results; finish with 'imdsfleet rollback --journal " + shellQuote(journal) + " --live --yes')"
		}
		return withCode(exitBreakage, fmt.Errorf("rollout stopped at wave %d: %d instance(s) broke after IMDSv2 was enforced (rejected IMDSv1 calls or failed status checks); wave %d %s; later waves untouched; find the callers (docs/troubleshooting.md), then scan and plan again",
			r.StoppedAt, len(r.Breaking), r.StoppedAt, what))
	case r.State == remediate.RolloutHeld:
		return withCode(exitNoBakeData, fmt.Errorf("rollout held at wave %d: its bake read no CloudWatch datapoint for %d instance(s) whose change stands (stopped, or not publishing metrics), so it cannot say they are fine; nothing rolled back, later waves not started; start them or wait for their metrics, then run the same command again (it re-reads the bake)",
			r.StoppedAt, len(r.NoData)))
	case out.Interrupted:
		if r.BakeError != "" {
			fmt.Fprintf(s.Err, "the bake could not read CloudWatch: %s\n", report.SanitizeCell(r.BakeError, 300))
		}
		fmt.Fprintf(s.Err, "interrupted: resume (in the same wave or bake, nothing is changed twice) with:\n  %s\n", resumeCommand(cmd, "journal", journal))
		return withCode(exitError, errors.New("interrupted"))
	case r.State == remediate.RolloutFailed:
		return withCode(exitFailed, fmt.Errorf("wave %d: %d change(s) denied, %d failed; later waves not started", r.StoppedAt, out.Summary.Denied, out.Summary.Failed))
	case r.State == remediate.RolloutCompletedWithFailures:
		return withCode(exitFailed, fmt.Errorf("every wave passed, but %d launch source step(s) failed (see the results): run the same command again to retry them", r.SourceStepsFailed))
	case r.State == remediate.RolloutPaused:
		fmt.Fprintf(s.Err, "paused after wave %d (--until-wave %d): run again with --until-wave %d to go on\n", f.untilWave, f.untilWave, f.untilWave+1)
	}
	if !out.OK() {
		return withCode(exitFailed, fmt.Errorf("%d change(s) denied, %d failed", out.Summary.Denied, out.Summary.Failed))
	}
	return nil
}
