// Command imdsfleet finds and fixes IMDSv1 across an AWS EC2 fleet.
//
// This package only wires flags to the scanner, report, remediate and
// internal/sim packages and maps errors to exit codes (see exit.go).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newSystemStreams())
	stop()
	os.Exit(code)
}
