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

// openNofollow keeps open(2) from following a symlink in the last
// component.
const openNofollow = syscall.O_NOFOLLOW

// links returns how many names the file has (1 for a file of its own).
func links(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

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
