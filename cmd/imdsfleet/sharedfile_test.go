//go:build linux

package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// TestSharedFileNotAFile: a shared config or credentials file that is a
// FIFO (the SDK's read waited for a writer for ever, deaf to SIGTERM), a
// directory, or a device like /dev/zero (read until memory ran out) is bad
// usage naming the variable, before any call; /dev/null still means none.
func TestSharedFileNotAFile(t *testing.T) {
	insts := remMixedFleet([]string{"us-east-1"}, 0)
	s := remStart(t, insts, fleet.Knobs{})
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...); r.code != exitOK {
		t.Fatalf("setup: remediate exit %d", r.code)
	}
	s.srv.ResetStats()
	fifo := filepath.Join(s.dir, "config.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, tt := range []struct{ env, path, want string }{
		{"AWS_CONFIG_FILE", fifo, "is a FIFO"},
		{"AWS_CONFIG_FILE", s.dir, "is a directory"},
		{"AWS_SHARED_CREDENTIALS_FILE", "/dev/zero", "is a device"},
	} {
		t.Run(tt.env+" "+tt.want, func(t *testing.T) {
			t.Setenv(tt.env, tt.path)
			for _, args := range [][]string{
				{"scan", "--regions", "us-east-1"},
				{"remediate", "--report", s.report},
				{"rollback", "--journal", s.journal},
			} {
				r := remCLI(t, context.Background(), "", false, args...)
				lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
				if r.code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], tt.env+" "+tt.path+" "+tt.want) {
					t.Errorf("%s: exit %d, want %d with one line naming %s:\n%s", args[0], r.code, exitUsage, tt.env, r.stderr)
				}
			}
		})
	}
	if n := sim.Total(s.srv.Stats().Calls); n != 0 {
		t.Errorf("the simulated AWS received %d calls: %v", n, s.srv.Stats().Calls)
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	if r := remCLI(t, context.Background(), "", false, "remediate", "--report", s.report); r.code != exitOK {
		t.Errorf("AWS_CONFIG_FILE=/dev/null: exit %d", r.code)
	}
}
