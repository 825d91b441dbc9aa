//go:build linux

package main

// A report may come from a pipe or a FIFO (--report <(jq …), --report
// /dev/stdin): it is read once, a signal stops a wait for a writer, and a
// live run does not put its journal beside a device.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// TestRemediateReportFromFIFO: a FIFO fed the report once is planned from
// (remediate used to read it a second time to name the default journal,
// and blocked for good there, the first signal swallowed); a FIFO nobody
// writes is given up on the first signal, exit 1; a live run from a FIFO
// without --journal is bad usage before any AWS call, and with --journal
// it runs.
func TestRemediateReportFromFIFO(t *testing.T) {
	s := remStart(t, remMixedFleet([]string{"us-east-1"}, 0), fleet.Knobs{})
	data := mustRead(t, s.report)
	fifo := filepath.Join(s.dir, "report.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	feed := func() {
		go func() {
			// Blocks until remediate opens the FIFO to read.
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			f.Write(data)
			f.Close()
		}()
	}

	t.Run("dry run from a FIFO fed once", func(t *testing.T) {
		feed()
		r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", fifo)...)
		if r.code != exitOK {
			t.Fatalf("exit %d, want 0\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "would change") {
			t.Errorf("no plan run:\n%s", r.stdout)
		}
	})

	t.Run("a FIFO nobody writes, then a signal", func(t *testing.T) {
		s.srv.ResetStats()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(100 * time.Millisecond) // the signal comes while remediate waits
			cancel()
		}()
		r := remCLI(t, ctx, "", false, remArgs("remediate", "--report", fifo)...)
		if r.code != exitError || !strings.Contains(r.stderr, "interrupted while reading the report "+fifo+": nothing was changed") {
			t.Errorf("exit %d, want 1 naming the interrupted read\n%s", r.code, r.stderr)
		}
		if calls := s.srv.Stats().Calls; sim.Total(calls) != 0 {
			t.Errorf("AWS was called: %v", calls)
		}
		// Let the abandoned open return, once it is made (with no reader
		// yet, a non-blocking open for writing fails with ENXIO): else it
		// would take the next subtest's report.
		for {
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("live from a FIFO needs --journal", func(t *testing.T) {
		s.srv.ResetStats()
		r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", fifo, "--live", "--yes")...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--report "+fifo+" is not a regular file (a pipe or a device), so a live run's journal cannot sit beside it: pass --journal FILE") {
			t.Errorf("exit %d, want 2 asking for --journal\n%s", r.code, r.stderr)
		}
		if calls := s.srv.Stats().Calls; sim.Total(calls) != 0 {
			t.Errorf("AWS was called: %v", calls)
		}
		matches, _ := filepath.Glob(fifo + ".remediate-*")
		if len(matches) > 0 {
			t.Errorf("a journal was made beside the FIFO: %v", matches)
		}
		feed()
		r = remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", fifo, "--live", "--yes", "--journal", s.journal)...)
		if r.code != exitOK {
			t.Fatalf("live with --journal: exit %d\n%s", r.code, r.stderr)
		}
		if st, err := os.Stat(s.journal); err != nil || st.Size() == 0 {
			t.Errorf("journal %s not written: %v", s.journal, err)
		}
	})
}

// TestRemediateLiveReportThroughDevFd: a report read through /dev/fd/N
// (or /dev/stdin) redirected from a regular file is a regular file to
// stat, but the default journal would sit in /dev (as root a file there,
// lost at reboot with the rollback information; else an error after the
// plan): a live run without --journal is bad usage before any AWS call.
func TestRemediateLiveReportThroughDevFd(t *testing.T) {
	s := remStart(t, remMixedFleet([]string{"us-east-1"}, 0), fleet.Knobs{})
	f, err := os.Open(s.report)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := fmt.Sprintf("/dev/fd/%d", f.Fd())
	s.srv.ResetStats()
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", path, "--live", "--yes")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--report "+path+" is reached through /dev or /proc (standard input or a file descriptor), so a live run's journal cannot sit beside it: pass --journal FILE") {
		t.Errorf("exit %d, want 2 asking for --journal\n%s", r.code, r.stderr)
	}
	if calls := s.srv.Stats().Calls; sim.Total(calls) != 0 {
		t.Errorf("AWS was called: %v", calls)
	}
	// A dry run from it is fine (no journal).
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", path)...); r.code != exitOK {
		t.Errorf("dry run through %s: exit %d\n%s", path, r.code, r.stderr)
	}
}
