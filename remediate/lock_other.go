//go:build !unix

package remediate

import (
	"errors"
	"os"
)

// openNonblock is not needed where there are no FIFOs to block on.
const openNonblock = 0

// openNofollow: no O_NOFOLLOW here.
const openNofollow = 0

// links: link counts are not checked here.
func links(os.FileInfo) uint64 { return 1 }

var errLocked = errors.New("locked by another process")

// flock is a no-op where flock(2) does not exist: two live runs on one
// journal are then not prevented.
func flock(*os.File) error { return nil }
