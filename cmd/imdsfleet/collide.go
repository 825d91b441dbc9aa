package main

import (
	"io/fs"
	"os"
	"path/filepath"
)

// namedPath is a file named on the command line, with the flag that named
// it (or what it is, for a file the command derives: "the journal's lock").
type namedPath struct{ flag, path string }

// checkDistinctOutputs refuses, before any AWS call, an output that is one
// of the command's inputs or state files (remediate --output scan.json
// would replace the report it reads; --plan-out fix.jsonl the journal) or
// the same file as another output of different content. Outputs that are
// character devices or FIFOs (/dev/null, /dev/stdout) may repeat: nothing
// is replaced there.
func checkDistinctOutputs(outs, keep []namedPath) error {
	for i, o := range outs {
		for _, k := range keep {
			if k.path != "" && samePath(o.path, k.path) {
				return usageError("%s %s is %s %s: writing it would replace that file; name another file", o.flag, o.path, k.flag, k.path)
			}
		}
		if isStream(o.path) {
			continue
		}
		for _, p := range outs[:i] {
			if samePath(o.path, p.path) {
				return usageError("%s %s names the same file as %s %s: each output needs a file of its own", o.flag, o.path, p.flag, p.path)
			}
		}
	}
	return nil
}

// isStream reports whether path leads to a character device or a FIFO.
func isStream(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0
}

// samePath reports whether a and b name the same file: by identity when
// both exist (so links count too), else by their absolute paths with the
// directories' links resolved.
func samePath(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(ia, ib)
	}
	// One or both do not exist yet: the same file once written if they
	// lead to the same place (a dangling link to the other included).
	return resolved(a) == resolved(b)
}

// resolved is path made absolute, its links followed as far as they lead
// (a dangling link's target included) and its directory's links resolved.
func resolved(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	for range 40 {
		dest, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(p), dest)
		}
		p = dest
	}
	dir, base := filepath.Split(p)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(real, base)
	}
	return filepath.Clean(p)
}
