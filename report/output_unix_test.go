//go:build unix

package report_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// TestWriteOutputKinds: what WriteOutput does with each kind of path (the
// commands' end-to-end tests run the same cases through the flags).
func TestWriteOutputKinds(t *testing.T) {
	t.Run("a new file gets 0666 less the umask", func(t *testing.T) {
		old := syscall.Umask(0o077)
		defer syscall.Umask(old)
		path := filepath.Join(t.TempDir(), "new.csv")
		if err := report.WriteOutput(path, writeString("x")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("under umask 077: stat = %v, %v; want mode 0600", fi.Mode(), err)
		}
		syscall.Umask(0o002)
		path = filepath.Join(t.TempDir(), "group.csv")
		if err := report.WriteOutput(path, writeString("x")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o664 {
			t.Errorf("under umask 002: stat = %v, %v; want mode 0664", fi.Mode(), err)
		}
	})

	t.Run("a symlink's target is replaced, the link stays", func(t *testing.T) {
		a, b := t.TempDir(), t.TempDir()
		target := filepath.Join(b, "real.json")
		if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(a, "link.json")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := report.WriteOutput(link, writeString("new")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link is no longer a link: %v, %v", fi.Mode(), err)
		}
		got, _ := os.ReadFile(target)
		fi, _ := os.Stat(target)
		if string(got) != "new" || fi.Mode().Perm() != 0o640 {
			t.Errorf("target %q mode %v, want \"new\" 0640", got, fi.Mode().Perm())
		}
		assertNoTempFiles(t, a, 1)
		assertNoTempFiles(t, b, 1)
	})

	t.Run("a relative dangling symlink creates its target", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "sub", "link.md")
		if err := os.Symlink("../out.md", link); err != nil {
			t.Fatal(err)
		}
		if err := report.WriteOutput(link, writeString("# hi")); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "out.md")); err != nil || string(got) != "# hi" {
			t.Errorf("target: %q, %v", got, err)
		}
	})

	t.Run("a character device is written in place", func(t *testing.T) {
		if err := report.WriteOutput("/dev/null", writeString("gone")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("/dev/null is no longer a device: %v, %v", fi, err)
		}
	})

	t.Run("a FIFO is written in place", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "pipe.json")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		got := make(chan string, 1)
		go func() {
			f, err := os.Open(fifo)
			if err != nil {
				got <- err.Error()
				return
			}
			defer f.Close()
			data, _ := io.ReadAll(f)
			got <- string(data)
		}()
		if err := report.WriteOutput(fifo, writeString("through the pipe")); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "through the pipe" {
			t.Errorf("reader got %q", s)
		}
		if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("the FIFO was replaced: %v, %v", fi, err)
		}
	})

	t.Run("a socket is refused", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "sock") // short: socket paths are limited to ~100 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "s.csv")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Skipf("listen: %v", err)
		}
		defer l.Close()
		for _, err := range []error{report.CheckOutput(path), report.WriteOutput(path, writeString("x"))} {
			if err == nil || !strings.Contains(err.Error(), "is a socket") {
				t.Errorf("error = %v, want one saying it is a socket", err)
			}
		}
	})

	t.Run("a link to a directory is refused", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "out.json")
		if err := os.Symlink(t.TempDir(), link); err != nil {
			t.Fatal(err)
		}
		if err := report.CheckOutput(link); err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("error = %v", err)
		}
	})
}

// TestWriteOutputFileDescriptorLinks: /dev/stdout and /dev/fd/N lead to
// /proc/self/fd/N, whose target is no path when it is a pipe; such a link
// is written through when open on a pipe, refused when open on a file.
func TestWriteOutputFileDescriptorLinks(t *testing.T) {
	if _, err := os.Lstat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	t.Run("pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got := make(chan string, 1)
		go func() { data, _ := io.ReadAll(r); got <- string(data) }()
		path := "/dev/fd/" + strconv.Itoa(int(w.Fd()))
		err = report.WriteOutput(path, writeString("plan"))
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "plan" {
			t.Errorf("the pipe's reader got %q", s)
		}
	})
	t.Run("regular file", func(t *testing.T) {
		f, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		path := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
		if err := report.CheckOutput(path); err == nil || !strings.Contains(err.Error(), "name the file itself") {
			t.Errorf("error = %v", err)
		}
	})
}

// TestCheckOutputUnwritableDirectory: a directory that takes no new file
// is found before any work, not after a scan.
func TestCheckOutputUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may create files in any directory")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	for _, name := range []string{"new.json", "old.json"} {
		if err := report.CheckOutput(filepath.Join(dir, name)); err == nil || !strings.Contains(err.Error(), "cannot create files in") {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

// TestWriteOutputFIFONoReader: a FIFO nobody reads does not hold the
// writer forever: it waits for a reader while ctx lives, and fails with
// one line once ctx is done (a stopped command), writing nothing.
func TestWriteOutputFIFONoReader(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "p.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- report.WriteOutputContext(ctx, fifo, writeString("x")) }()
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "no process reads the FIFO") {
		t.Fatalf("err %v, want one naming the missing reader", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}

	// With a reader, the same call writes (whichever comes first).
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	big := strings.Repeat("y", 1<<20) // more than a pipe holds: writes wait for the reader
	if err := report.WriteOutputContext(context.Background(), fifo, writeString(big)); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != big {
		t.Fatalf("the reader got %d bytes, want %d", len(s), len(big))
	}
}

// TestWriteOutputLongName: a file name near the system's limit (255 bytes)
// is written, though its temporary file's name would be longer than the
// name itself; one over the limit is refused by the check, before any work.
func TestWriteOutputLongName(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{strings.Repeat("a", 250) + ".json", strings.Repeat("本", 83) + ".md"} {
		path := filepath.Join(dir, base)
		if err := report.CheckOutput(path); err != nil {
			t.Fatalf("check %d-byte name: %v", len(base), err)
		}
		if err := report.WriteOutput(path, writeString("{}")); err != nil {
			t.Fatalf("%d-byte name: %v", len(base), err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "{}" {
			t.Fatalf("%d-byte name holds %q, %v", len(base), b, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files left, want the 2 written (no temporary file)", len(entries))
	}
	if err := report.CheckOutput(filepath.Join(dir, strings.Repeat("a", 300)+".json")); err == nil {
		t.Error("a 300-byte name passed the check")
	}
}

// TestCheckOutputReadOnly: a file no one may write (chmod 444, to keep
// it) is refused, root or not, and left as it was.
func TestCheckOutputReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := os.WriteFile(path, []byte("keep"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := report.CheckOutput(path); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("check: %v, want read-only named", err)
	}
	if err := report.WriteOutput(path, writeString("new")); err == nil {
		t.Error("write: replaced a read-only file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("file holds %q", b)
	}
}

// TestReadFileDevicesAndHugeFiles: --report /dev/zero is refused at its
// first byte (it used to be read until memory ran out), and a regular file
// larger than MaxReportSize before it is read.
func TestReadFileDevicesAndHugeFiles(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := report.ReadFile("/dev/zero")
		if !errors.Is(err, report.ErrNotReport) || !strings.Contains(err.Error(), `/dev/zero is truncated or not JSON: invalid character '\x00' looking for beginning of value at byte 1 `) {
			t.Errorf("/dev/zero: error %v", err)
		}
	}
	huge := filepath.Join(t.TempDir(), "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk used.
	if err := f.Truncate(report.MaxReportSize + 1); err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	f.Close()
	_, err = report.ReadFile(huge)
	if !errors.Is(err, report.ErrNotReport) || !strings.Contains(err.Error(), "larger than any report imdsfleet reads") {
		t.Errorf("a file over MaxReportSize: error %v", err)
	}
}
