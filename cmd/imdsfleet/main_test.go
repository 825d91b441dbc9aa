package main

import (
	"os"
	"testing"
)

// TestMain lets a test run the test binary itself as imdsfleet (with
// IMDSFLEET_TEST_RUN_MAIN=1 and the CLI arguments), so that a test can
// SIGKILL a real process without building the binary first.
func TestMain(m *testing.M) {
	if os.Getenv("IMDSFLEET_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
