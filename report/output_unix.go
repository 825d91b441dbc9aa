//go:build unix

package report

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// checkWritable tells whether a file can be created in dir (write and
// search permission, a read-write file system), so that a scan is not run
// only to fail at the end for want of it.
func checkWritable(path, dir string) error {
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s: cannot create files in %s: %w", path, dir, err)
	}
	return nil
}

// fifoPoll is how often a writer looks for a FIFO's reader.
const fifoPoll = 50 * time.Millisecond

// openDirect opens a device, or a FIFO once it has a reader, for writing.
// A FIFO is opened without blocking (open(2) would block the thread
// until a reader came, deaf to ctx and to signals): with no reader yet it
// is tried again until ctx is done.
func openDirect(ctx context.Context, target string, fi fs.FileInfo) (*os.File, error) {
	if fi == nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return os.OpenFile(target, os.O_WRONLY|unix.O_NOCTTY, 0)
	}
	for {
		f, err := os.OpenFile(target, os.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if !errors.Is(err, unix.ENXIO) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no process reads the FIFO (stopped waiting: %v): start its reader first", context.Cause(ctx))
		case <-time.After(fifoPoll):
		}
	}
}
