package main

import (
	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/remediate"
)

type statusFlags struct {
	journal string
	format  string
}

func newStatusCmd(g *globals) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status --journal FILE [--format table|json]",
		Short: "Show where a rollout stands, from its journal (no AWS call)",
		Long: `status reads an apply journal (and its rollback journal beside it) and says
where the rollout stands: the waves that passed, the wave in progress and
until when it bakes, what broke and whether it was rolled back, and the
state of every change (planned, sent, applied, verified, failed,
rolled-back), and every launch source step of the plan the journal holds
(done, failed, rolled-back, or pending: sent with no result yet). It only reads the files: it takes no lock and makes no AWS
call, so it can run while apply runs.

--format json prints the same as one JSON object; "nextWave" is the wave
the next apply run works on (being applied or baked, else the next; 0 when
completed or stopped): a scheduled job's --until-wave.`,
		Example: `  imdsfleet status --journal plan.apply-3f2a9c1b7d4e.jsonl
  imdsfleet status --journal rollout.jsonl --format json | jq .nextWave`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(g, f)
		},
	}
	cmd.Flags().StringVar(&f.journal, "journal", "", "the apply journal (required)")
	cmd.Flags().StringVar(&f.format, "format", "table", "table or json")
	return cmd
}

func runStatus(g *globals, f *statusFlags) error {
	if f.journal == "" {
		return usageError("--journal is required: the journal of the apply run")
	}
	if f.format != "table" && f.format != "json" {
		return usageError("--format %q: want table or json", f.format)
	}
	if _, err := g.useSimClock(""); err != nil {
		return err
	}
	exists, err := remediate.CheckJournalFile(f.journal)
	if err != nil {
		return usageError("--journal: %v", err)
	}
	if !exists {
		return usageError("journal %s does not exist: pass the --journal of the apply run (apply prints it)", f.journal)
	}
	st, warns, err := remediate.ReadJournal(f.journal)
	if err != nil {
		return usageError("%v", err)
	}
	if st.Records == 0 && len(warns) > 0 {
		return usageError("%s is not an imdsfleet journal (%s)", f.journal, warns[0])
	}
	if err := st.CheckOp(f.journal, remediate.OpRemediate); err != nil {
		return usageError("%v", err)
	}
	printWarnings(g.streams, warns)
	rb, rwarns, err := remediate.ReadJournal(remediate.RollbackJournalPath(f.journal))
	if err != nil {
		return usageError("%v", err)
	}
	printWarnings(g.streams, rwarns)
	s := remediate.StatusOf(f.journal, st, rb, g.clock.Now())
	if f.format == "json" {
		err = remediate.WriteStatusJSON(g.streams.Out, s)
	} else {
		err = remediate.WriteStatusTable(g.streams.Out, s)
	}
	if err != nil {
		return withCode(exitError, err)
	}
	return nil
}
