package main

import (
	"errors"
	"fmt"
)

// Exit codes. They are part of the CLI's contract (README "Exit codes").
const (
	exitOK         = 0 // success
	exitError      = 1 // the command could not run
	exitUsage      = 2 // bad usage: flags, arguments, input files
	exitFailOn     = 3 // scan: --fail-on matched
	exitIncomplete = 4 // scan: a target failed; the report is still written
	exitFailed     = 5 // remediate/rollback: some planned changes failed
	exitBreakage   = 6 // apply: a bake saw breakage and stopped the rollout
	exitNoBakeData = 7 // apply: a bake saw no data for some instances and holds the rollout
)

// exitErr carries an exit code through cobra's RunE. A nil Err with a
// non-zero Code exits quietly (the command already said what it had to).
type exitErr struct {
	Code int
	Err  error
}

func (e *exitErr) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitErr) Unwrap() error { return e.Err }

// usageError marks err as bad usage (exit 2).
func usageError(format string, args ...any) error {
	return &exitErr{Code: exitUsage, Err: fmt.Errorf(format, args...)}
}

// withCode wraps err with an exit code.
func withCode(code int, err error) error {
	return &exitErr{Code: code, Err: err}
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitErr
	if errors.As(err, &e) {
		return e.Code
	}
	return exitError
}
