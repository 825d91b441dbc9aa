package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

type rollbackFlags struct {
	changeFlags
	journal         string
	rollbackJournal string
	force           bool
}

func newRollbackCmd(g *globals) *cobra.Command {
	f := &rollbackFlags{}
	cmd := &cobra.Command{
		Use:   "rollback --journal FILE [--dry-run | --live --yes]",
		Short: "Undo a remediation from its journal (dry run by default)",
		Long: `rollback restores the previous metadata options of every change a remediate
journal shows as done: HttpTokens and/or the hop limit, whichever the change
set. It only touches an instance that still has the values imdsfleet set;
one changed by someone else since is skipped with the reason (unless --force).
A call whose outcome the journal does not know (killed in flight, or failed
after its answer was lost) is decided by re-reading the instance: restored
if it shows the requested values, nothing to undo otherwise.

A dry run (the default) sends every restore with DryRun=true. A live run
journals itself the same way as remediate (--rollback-journal, default
<journal>.rollback.jsonl, which remediate reads to plan rolled-back changes
again) and is resumable with the same command. It locks both journals: it
cannot run alongside a remediate run on the same journal.

Exit codes: 0 every restore succeeded (or would), 5 some were denied or
failed, 2 bad usage (journal locked, not a journal, not a regular file),
1 could not run or interrupted.`,
		Example: `  # What would be restored? (nothing changes)
  imdsfleet rollback --journal fix.jsonl

  # Restore, journaled
  imdsfleet rollback --journal fix.jsonl --live --yes --output rollback.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd, g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.journal, "journal", "", "the remediate journal to undo (required)")
	fs.StringVar(&f.rollbackJournal, "rollback-journal", "", "rollback's own journal (default <journal>.rollback.jsonl, the one remediate reads); an existing one is resumed")
	fs.BoolVar(&f.force, "force", false, "restore even where the instance no longer has the values imdsfleet set")
	f.changeFlags.register(fs)
	return cmd
}

func runRollback(cmd *cobra.Command, g *globals, f *rollbackFlags) error {
	ctx := cmd.Context()
	s := g.streams
	if f.journal == "" {
		return usageError("--journal is required: the journal file of the remediate run to undo")
	}
	if err := f.changeFlags.validate(s); err != nil {
		return err
	}
	if err := f.changeFlags.loadConfig(ctx, g); err != nil {
		return err
	}
	if exists, err := remediate.CheckJournalFile(f.journal); err != nil {
		return usageError("--journal: %v", err)
	} else if !exists {
		return usageError("journal %s does not exist: pass the --journal file remediate wrote", f.journal)
	}
	rj := f.rollbackJournal
	if rj == "" {
		rj = remediate.RollbackJournalPath(f.journal)
	}
	if samePath(rj, f.journal) {
		return usageError("--rollback-journal must differ from --journal: rollback keeps its own journal")
	}
	if err := checkJournalFiles("--rollback-journal", rj); err != nil {
		return err
	}
	if err := checkDir("--rollback-journal", rj); err != nil {
		return err
	}
	keep := append(journalFiles("--journal", f.journal),
		namedPath{"--rollback-journal", rj}, namedPath{"the lock file of --rollback-journal", remediate.LockInfoPath(rj)})
	if err := checkDistinctOutputs(f.outputPaths(), keep); err != nil {
		return err
	}
	if f.live {
		// Hold the remediate journal too: no remediate run may append to
		// it (or re-plan from it) while its changes are being undone.
		lk, err := remediate.LockJournal(f.journal, remediate.ThisProcess("imdsfleet rollback --journal "+f.journal, time.Now()))
		var locked *remediate.LockedError
		if errors.As(err, &locked) || errors.Is(err, remediate.ErrNotRegular) {
			return usageError("%v", err)
		}
		if err != nil {
			return withCode(exitError, err)
		}
		defer lk.Release()
	}
	st, warns, err := remediate.ReadJournal(f.journal)
	if err != nil {
		return usageError("%v", err)
	}
	if len(warns) > 0 && st.Records == 0 {
		return usageError("%s is not an imdsfleet journal (%s): pass the --journal file remediate wrote", f.journal, warns[0])
	}
	printWarnings(s, warns)
	if st.Records > 0 && st.Ops[remediate.OpRemediate]+st.Ops[remediate.OpRemediateSource] == 0 {
		return usageError("%s is a rollback journal: pass the remediate journal (--journal) it undoes", f.journal)
	}
	items := remediate.RollbackTasks(st, f.force)
	var tasks []remediate.Task
	var skipped []remediate.Result
	counts := map[string]map[string]int{}
	for _, it := range items {
		if it.Reason != "" {
			t := it.Task
			skipped = append(skipped, remediate.Result{Account: t.Account, Region: t.Region, InstanceID: t.InstanceID, Action: t.Action,
				Status: remediate.StatusSkipped, Reason: it.Reason, Message: it.Message})
			continue
		}
		tasks = append(tasks, it.Task)
		k := it.Task.Account + "/" + it.Task.Region
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k][string(remediate.ActionRollback)]++
	}
	sitems := remediate.SourceRollbackItems(st)
	for _, it := range sitems {
		k := it.Account + "/" + it.Region
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k]["rollback-source"]++
	}
	fmt.Fprintf(s.Out, "ROLLBACK PLAN: %d change(s) to undo from %s\n", len(tasks), report.Sanitize(f.journal))
	if len(sitems) > 0 {
		fmt.Fprintf(s.Out, "  and %d launch source step(s): default versions, groups and account defaults go back where imdsfleet's value is still in place; created versions stay\n", len(sitems))
	}
	if len(tasks) == 0 && len(sitems) == 0 {
		out := &remediate.Outcome{Live: f.live, Summary: remediate.Summary{Skipped: map[string]int{}}}
		out.AddSkipped(skipped)
		fmt.Fprintln(s.Out, "Nothing to roll back.")
		return finish(cmd, g, &f.changeFlags, out, nil, "rollback-journal", "")
	}
	ro := f.runOptions(g)
	if f.live {
		if !f.yes {
			if err := confirm(ctx, s, fmt.Sprintf("roll back %d change(s)", len(tasks)+len(sitems)), counts); err != nil {
				return err
			}
		}
	}
	closeJournal, err := useJournal(s, rj, f.live, remediate.OpRollback, "imdsfleet rollback --journal "+f.journal, st.LastSeq, time.Now, &ro)
	if err != nil {
		return err
	}
	defer closeJournal()
	// A restore followed by a new change of the instance (remediate run
	// again after a rollback) must be made again.
	ro.Prior.ForgetRedone(st)
	ro.Prior.ForgetSourcesRedone(st)
	return f.rollbackAll(ctx, cmd, g, sitems, tasks, ro, skipped, "rollback-journal", rj)
}
