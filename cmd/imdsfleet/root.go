package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/internal/simclock"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// globals are the settings every command shares.
type globals struct {
	streams   *streams
	logFormat string
	quiet     bool
	verbose   bool
	log       *slog.Logger
	// clock is the time plans are stamped with and bakes wait on.
	clock remediate.Clock
	// getenv reads the environment (nil: os.Getenv).
	getenv func(string) string
}

// envSimClock is the variable `imdsfleet sim --time-scale N` prints with
// the simulated AWS's fast clock, beside AWS_ENDPOINT_URL.
const envSimClock = "IMDSFLEET_SIM_CLOCK"

func (g *globals) env(k string) string {
	if g.getenv != nil {
		return g.getenv(k)
	}
	return os.Getenv(k)
}

// useSimClock puts a command that reads the time (remediate's plan stamp;
// apply's plan age, bakes and journal lines; status's "baking until") on
// the simulated AWS's fast clock when the --sim-clock flag (if the command
// has it) or IMDSFLEET_SIM_CLOCK gives one, the flag first: a shell that
// sourced the sim's output (set -a; . sim.env) runs every command on the
// clock the sim's metrics follow. It returns where the clock came from ("":
// none, the clock is unchanged).
func (g *globals) useSimClock(flag string) (string, error) {
	src, v := "--sim-clock", flag
	if v == "" {
		src, v = envSimClock, g.env(envSimClock)
	}
	if v == "" {
		return "", nil
	}
	c, err := simclock.Parse(v)
	if err != nil {
		return "", usageError("%s %v (unset it unless the AWS endpoint is 'imdsfleet sim --time-scale', which prints it)", src, err)
	}
	g.clock = c
	fmt.Fprintf(g.streams.Err, "clock: the simulated AWS's (%s), %s times as fast as the wall clock\n", src, strconv.FormatFloat(c.Scale, 'f', -1, 64))
	return src, nil
}

// run executes the CLI with args and returns the process exit code.
// maxErrorWidth caps the one error line (in columns): long enough for any
// message of ours with its paths, short enough that an error quoting a
// hostile value cannot flood the terminal.
const maxErrorWidth = 2000

func run(ctx context.Context, args []string, s *streams) int {
	return runClock(ctx, args, s, remediate.WallClock{})
}

// runClock is run on a given clock: tests pass a simulated one, so that
// a bake of an hour takes no time and no test waits on the wall clock.
func runClock(ctx context.Context, args []string, s *streams, clock remediate.Clock) int {
	g := &globals{streams: s, log: slog.New(slog.NewTextHandler(io.Discard, nil)), clock: clock}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(err)
	if err != nil {
		// One line: a usage error names the command's help at its end.
		if e, ok := err.(*exitErr); !ok || e.Err != nil {
			// Errors quote what AWS, a report or a journal said: shown
			// through the sanitizer, and capped, like every fleet text.
			msg := report.SanitizeCell(strings.Join(strings.Fields(err.Error()), " "), maxErrorWidth)
			if code == exitUsage {
				if cmd == nil {
					cmd = root
				}
				msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
			}
			fmt.Fprintf(s.Err, "imdsfleet: %s\n", msg)
		}
	}
	return code
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "imdsfleet",
		Short: "Find and fix IMDSv1 across an AWS EC2 fleet",
		Long: `imdsfleet finds every EC2 instance that still allows or uses IMDSv1, in every
Region and account, and moves them to IMDSv2 (HttpTokens=required) safely.

  scan        read metadata options and CloudWatch v1 usage; write reports
  remediate   enforce IMDSv2 from a scan report (dry run by default), journaled
  rollback    undo a remediation from its journal
  guardrails  write the organization policies that keep IMDSv1 away, and where each is safe
  report      merge, render and diff reports (no AWS call)
  apply       carry out a plan file, in waves with bakes (dry run by default)
  status      show where a rollout stands, from its journal
  sim         serve a simulated AWS (EC2, CloudWatch, STS) for demos and tests`,
		Example: `  imdsfleet scan --regions all --output report.json --output report.md
  imdsfleet remediate --report report.json                 # dry run
  imdsfleet remediate --report report.json --live --yes --journal fix.jsonl
  imdsfleet rollback --journal fix.jsonl --live --yes
  imdsfleet sim --synthetic 5000 --regions 4 --addr 127.0.0.1:4566`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setupLogging()
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%v", err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "log errors only, no progress display")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail")

	root.AddCommand(
		newScanCmd(g),
		newRemediateCmd(g),
		newRollbackCmd(g),
		newGuardrailsCmd(g),
		newReportCmd(g),
		newApplyCmd(g),
		newStatusCmd(g),
		newSimCmd(g),
		newVersionCmd(g),
	)
	usageArgs(root)
	return root
}

func (g *globals) setupLogging() error {
	level := slog.LevelInfo
	switch {
	case g.quiet:
		level = slog.LevelError
	case g.verbose:
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		g.log = slog.New(slog.NewTextHandler(g.streams.Err, opts))
	case "json":
		g.log = slog.New(slog.NewJSONHandler(g.streams.Err, opts))
	default:
		return usageError("--log-format %q: want text or json", g.logFormat)
	}
	return nil
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(g.streams.Out, "imdsfleet %s\n", toolVersion())
			return err
		},
	}
}
