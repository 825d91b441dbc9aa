//go:build unix

package remediate

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openNonblock keeps open(2) of a FIFO from blocking.
const openNonblock = syscall.O_NONBLOCK

var errLocked = errors.New("locked by another process")

// flock takes an exclusive flock(2) on f without waiting. The kernel drops
// it when the descriptor is closed or the process ends (even by SIGKILL).
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errLocked
		default:
			return err
		}
	}
}
