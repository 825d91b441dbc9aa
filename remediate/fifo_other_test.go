//go:build !unix

package remediate

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs") }
