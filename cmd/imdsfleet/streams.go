package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// streams are the process's standard streams, injected so that commands can
// be run in-process by tests.
type streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InTTY, OutTTY and ErrTTY say whether each stream is a terminal:
	// prompts need InTTY, progress display needs ErrTTY, the table's
	// colours and widths follow OutTTY.
	InTTY, OutTTY, ErrTTY bool
}

func newSystemStreams() *streams {
	return &streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
}
