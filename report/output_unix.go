//go:build unix

package report

import (
	"fmt"

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
