//go:build unix

package report

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteDirectReplacedAfterCheck: a FIFO checked as the output, then
// replaced by a regular file (someone else's) before it is opened, is not
// written in place: the file keeps every byte.
func TestWriteDirectReplacedAfterCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	target, kind, fi, err := resolveOutput(path)
	if err != nil || kind != outputDirect {
		t.Fatalf("resolve: %v %v", kind, err)
	}
	os.Remove(path)
	const precious = "someone else's data, longer than what is written"
	if err := os.WriteFile(path, []byte(precious), 0o600); err != nil {
		t.Fatal(err)
	}
	err = writeDirect(context.Background(), path, target, fi, func(w io.Writer) error {
		_, err := io.WriteString(w, "{}")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "replaced by a regular file") {
		t.Errorf("err %v, want the replacement named", err)
	}
	if b, _ := os.ReadFile(path); string(b) != precious {
		t.Errorf("the file that took the FIFO's place now holds %q", b)
	}
}
