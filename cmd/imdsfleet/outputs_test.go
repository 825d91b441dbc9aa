//go:build linux

package main

// Every file the tool writes (scan --output, remediate --output and
// --plan-out, rollback --output) goes through one writer: these tests run
// the commands in-process against the simulated AWS with each kind of
// path a user may name, and check what is left on disk.

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// outputCommand is one way of writing a file: the command line for a
// path, and what the file must start with.
type outputCommand struct {
	name string
	ext  string
	args func(s *remSetup, path string) []string
	want string // a prefix of what is written
}

func outputCommands() []outputCommand {
	return []outputCommand{
		{"scan --output", ".json", func(s *remSetup, p string) []string {
			return []string{"scan", "--regions", "us-east-1", "--retry-max-backoff", "50ms", "--output", p}
		}, "{"},
		{"remediate --output", ".csv", func(s *remSetup, p string) []string {
			return remArgs("remediate", "--report", s.report, "--output", p)
		}, "account,region,instance_id"},
		{"remediate --plan-out", ".json", func(s *remSetup, p string) []string {
			return remArgs("remediate", "--report", s.report, "--plan-out", p)
		}, "{"},
		{"rollback --output", ".json", func(s *remSetup, p string) []string {
			return remArgs("rollback", "--journal", s.journal, "--output", p)
		}, "{"},
	}
}

// outputSetup is a small fleet with a scan report and a live remediation's
// journal, so that every command above has its input.
func outputSetup(t *testing.T) *remSetup {
	t.Helper()
	s := remStart(t, readyFleetN("us-east-1", 3), fleet.Knobs{})
	r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)...)
	if r.code != exitOK {
		t.Fatalf("live remediate exit %d\n%s", r.code, r.stdout)
	}
	return s
}

func totalCalls(srv *sim.Server) int { return sim.Total(srv.Stats().Calls) }

// TestOutputPaths: a character device and a FIFO are written in place, a
// symlink's target is replaced and the link stays, a new file gets the
// umask's mode, and a directory or a socket is bad usage (exit 2) found
// before any AWS call.
func TestOutputPaths(t *testing.T) {
	s := outputSetup(t)
	for _, oc := range outputCommands() {
		t.Run(oc.name, func(t *testing.T) {
			run := func(path string) remRun {
				t.Helper()
				return remCLI(t, context.Background(), "", false, oc.args(s, path)...)
			}

			t.Run("character device", func(t *testing.T) {
				dev := "/dev/null"
				if os.Geteuid() == 0 {
					// As root, a private null device: a writer that renames
					// over its path must not replace the system's /dev/null.
					dev = filepath.Join(t.TempDir(), "null"+oc.ext)
					if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
						t.Skipf("mknod: %v", err)
					}
				}
				if r := run(dev); r.code != exitOK {
					t.Fatalf("exit %d, want 0", r.code)
				}
				if fi, err := os.Lstat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
					t.Fatalf("%s is no longer a character device: %v, %v", dev, fi.Mode(), err)
				}
			})

			t.Run("FIFO", func(t *testing.T) {
				dir := t.TempDir()
				fifo := filepath.Join(dir, "pipe"+oc.ext)
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
				// A second name for the FIFO, to release the reader if the
				// command renamed a file over the first.
				keep := filepath.Join(dir, "keep")
				if err := os.Link(fifo, keep); err != nil {
					t.Fatal(err)
				}
				got := make(chan string, 1)
				go func() {
					f, err := os.Open(keep)
					if err != nil {
						got <- "open: " + err.Error()
						return
					}
					defer f.Close()
					data, _ := io.ReadAll(f)
					got <- string(data)
				}()
				r := run(fifo)
				fi, err := os.Lstat(fifo)
				if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
					t.Errorf("the FIFO was replaced: %v, %v", fi.Mode(), err)
					if w, err := os.OpenFile(keep, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						w.Close()
					}
				}
				data := <-got
				if r.code != exitOK || !strings.HasPrefix(data, oc.want) {
					t.Errorf("exit %d; the reader got %.60q, want it to start with %q", r.code, data, oc.want)
				}
			})

			t.Run("symlink to another directory", func(t *testing.T) {
				a, b := t.TempDir(), t.TempDir()
				target := filepath.Join(b, "real"+oc.ext)
				if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
					t.Fatal(err)
				}
				link := filepath.Join(a, "link"+oc.ext)
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				if r := run(link); r.code != exitOK {
					t.Fatalf("exit %d, want 0", r.code)
				}
				if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("the link became %v (%v), want it to stay a link", fi.Mode(), err)
				}
				data, _ := os.ReadFile(target)
				fi, _ := os.Stat(target)
				if !strings.HasPrefix(string(data), oc.want) || fi.Mode().Perm() != 0o640 {
					t.Errorf("target holds %.40q with mode %v, want the new output with its mode 0640 kept", data, fi.Mode().Perm())
				}
			})

			t.Run("new file under umask 077", func(t *testing.T) {
				old := syscall.Umask(0o077)
				defer syscall.Umask(old)
				path := filepath.Join(t.TempDir(), "out"+oc.ext)
				if r := run(path); r.code != exitOK {
					t.Fatalf("exit %d, want 0", r.code)
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %v (%v), want 0600 under umask 077", fi.Mode().Perm(), err)
				}
			})

			t.Run("directory", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "out"+oc.ext)
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
				before := totalCalls(s.srv)
				r := run(path)
				if r.code != exitUsage || !strings.Contains(r.stderr, "is a directory") {
					t.Errorf("exit %d, want %d naming the directory:\n%s", r.code, exitUsage, r.stderr)
				}
				if n := totalCalls(s.srv) - before; n != 0 {
					t.Errorf("%d AWS calls before the usage error, want none", n)
				}
			})

			t.Run("socket", func(t *testing.T) {
				dir, err := os.MkdirTemp("", "sock") // short: socket paths are limited
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				path := filepath.Join(dir, "s"+oc.ext)
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Skipf("listen: %v", err)
				}
				defer l.Close()
				before := totalCalls(s.srv)
				r := run(path)
				if r.code != exitUsage || !strings.Contains(r.stderr, "is a socket") {
					t.Errorf("exit %d, want %d naming the socket:\n%s", r.code, exitUsage, r.stderr)
				}
				if n := totalCalls(s.srv) - before; n != 0 {
					t.Errorf("%d AWS calls before the usage error, want none", n)
				}
				if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
					t.Errorf("the socket was replaced: %v, %v", fi.Mode(), err)
				}
			})
		})
	}
	// --plan-out takes any name, so /dev/stdout piped into a reader (jq)
	// is a real use: /dev/stdout leads to /proc/self/fd/1, whose target is
	// "pipe:[N]", no path. The same through /dev/fd/N of a pipe made here.
	t.Run("--plan-out to a pipe through /dev/fd", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		got := make(chan string, 1)
		go func() { data, _ := io.ReadAll(pr); got <- string(data) }()
		r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", s.report, "--plan-out", "/dev/fd/"+strconv.Itoa(int(pw.Fd())))...)
		pw.Close()
		data := <-got
		if r.code != exitOK || !strings.HasPrefix(data, "{") {
			t.Errorf("exit %d; the pipe's reader got %.60q, want the plan", r.code, data)
		}
	})
}

// TestOutputNotAnInput: an output that is the command's own input or state
// (remediate --output scan.json, --plan-out the journal, rollback --output
// the journal, through a link too) or another output is bad usage before
// any AWS call, and the file is left as it was.
func TestOutputNotAnInput(t *testing.T) {
	s := outputSetup(t)
	link := filepath.Join(t.TempDir(), "link.json")
	if err := os.Symlink(s.report, link); err != nil {
		t.Fatal(err)
	}
	journalJSON := filepath.Join(s.dir, "fix.json")
	if err := os.Link(s.journal, journalJSON); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		kept string // the file that must not change
		want string // in the error line
	}{
		{"remediate --output the report", remArgs("remediate", "--report", s.report, "--output", s.report), s.report, "--output " + s.report + " is --report"},
		{"remediate --output a link to the report", remArgs("remediate", "--report", s.report, "--output", link), s.report, "is --report"},
		{"remediate --plan-out the report", remArgs("remediate", "--report", s.report, "--plan-out", s.report), s.report, "--plan-out"},
		{"remediate --plan-out the journal", remArgs("remediate", "--report", s.report, "--journal", s.journal, "--plan-out", s.journal), s.journal, "is --journal"},
		{"remediate --plan-out the lock file", remArgs("remediate", "--report", s.report, "--journal", s.journal, "--plan-out", s.journal+".lock"), "", "lock file"},
		{"remediate --plan-out the rollback journal", remArgs("remediate", "--report", s.report, "--journal", s.journal, "--plan-out", s.journal+".rollback.jsonl"), "", "rollback journal"},
		{"remediate --output the journal", remArgs("remediate", "--report", s.report, "--journal", journalJSON, "--output", journalJSON), s.journal, "is --journal"},
		{"remediate --plan-out and --output one file", remArgs("remediate", "--report", s.report, "--plan-out", filepath.Join(s.dir, "p.json"), "--output", filepath.Join(s.dir, ".", "p.json")), "", "same file as --plan-out"},
		{"rollback --output the journal", remArgs("rollback", "--journal", journalJSON, "--output", journalJSON), s.journal, "is --journal"},
		{"rollback --output the rollback journal", remArgs("rollback", "--journal", s.journal, "--rollback-journal", filepath.Join(s.dir, "rb.json"), "--output", filepath.Join(s.dir, "rb.json")), "", "is --rollback-journal"},
		{"scan --output twice through a link", []string{"scan", "--regions", "us-east-1", "--output", s.report, "--output", link}, s.report, "same file as --output"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before []byte
			if c.kept != "" {
				before, _ = os.ReadFile(c.kept)
			}
			calls := totalCalls(s.srv)
			r := remCLI(t, context.Background(), "", false, c.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, exitUsage, c.want, r.stderr)
			}
			if n := totalCalls(s.srv) - calls; n != 0 {
				t.Errorf("%d AWS calls before the usage error, want none", n)
			}
			if c.kept != "" {
				if after, _ := os.ReadFile(c.kept); string(after) != string(before) {
					t.Errorf("%s changed", c.kept)
				}
			}
		})
	}
}

// TestOutputFIFOStoppedRun: a live run stopped half-way still writes its
// outputs, but a FIFO nobody reads does not hold it: the run ends (exit 1,
// the FIFO named) instead of waiting forever deaf to the signal.
func TestOutputFIFOStoppedRun(t *testing.T) {
	s := remStart(t, readyFleet(12), fleet.Knobs{})
	fifo := filepath.Join(t.TempDir(), "results.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAfter(s, 3, cancel)
	done := make(chan remRun, 1)
	go func() {
		done <- remCLI(t, ctx, "", false, remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal, "--output", fifo)...)
	}()
	select {
	case r := <-done:
		if r.code != exitError || !strings.Contains(r.stderr, "no process reads the FIFO") {
			t.Errorf("exit %d, want %d naming the FIFO's missing reader:\n%s", r.code, exitError, r.stderr)
		}
	case <-time.After(2 * time.Minute):
		// Free the writer so the test ends, then fail.
		if f, err := os.Open(fifo); err == nil {
			io.Copy(io.Discard, f)
			f.Close()
		}
		t.Fatal("the stopped run waited on the FIFO")
	}
}
