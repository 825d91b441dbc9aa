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
	// The first SIGINT/SIGTERM cancels ctx: commands stop starting work and
	// finish (and journal) what is in flight. Restoring the default handling
	// then lets a second signal kill the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], newSystemStreams())
	stop()
	os.Exit(code)
}
