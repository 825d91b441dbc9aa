package report

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Every file the tool writes (scan --output, remediate and rollback
// --output, --plan-out) goes through [CheckOutput] before any work and
// [WriteOutput] at the end, so that all of them treat a path alike:
//
//   - a regular file, or a path that does not exist yet, is replaced
//     atomically: a temporary file in the same directory, fsynced, renamed
//     over the path, and the directory fsynced;
//   - a symbolic link is followed: its target is replaced and the link
//     stays a link (as a shell's > would);
//   - a character device or a FIFO (/dev/null, /dev/stdout, a named pipe)
//     is opened and written directly, never renamed over; so is a link to
//     a file descriptor (/dev/stdout, /dev/fd/N) open on a terminal or a
//     pipe (one open on a regular file is refused: name the file);
//   - anything else (a directory, a socket, a block device), and a file no
//     one may write (mode 0444: kept on purpose), is refused.
//
// The mode of a new file is what the process's umask (or the directory's
// default ACL) makes of 0666, as for a shell's >: the temporary file is
// created with mode 0666 and the kernel applies the umask itself. No
// umask is read, so nothing races with other goroutines (reading it means
// setting it, process-wide). A replaced file keeps its permission bits.

// maxLinks bounds the symbolic links followed, as the kernel does (40).
const maxLinks = 40

// outputKind is what [WriteOutput] does with a path.
type outputKind int

const (
	outputNew     outputKind = iota // no file yet: create it atomically
	outputReplace                   // a regular file: replace it atomically
	outputDirect                    // a character device or FIFO: write in place
)

// CheckOutput tells whether path can be written by [WriteOutput], without
// writing anything: commands call it for every output before any AWS call,
// so that a path that can never work costs nothing. The error is one line
// saying what is wrong with the path and what to name instead.
func CheckOutput(path string) error {
	_, _, _, err := resolveOutput(path)
	return err
}

// resolveOutput follows symbolic links from path and says what is at the
// end: the path to write, its kind and, when it exists, its file info.
func resolveOutput(path string) (string, outputKind, fs.FileInfo, error) {
	if path == "" {
		return "", 0, nil, errors.New("empty file name")
	}
	if strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) {
		return "", 0, nil, fmt.Errorf("%s names a directory: name a file", path)
	}
	p := path
	for range maxLinks {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			dir := filepath.Dir(p)
			di, err := os.Stat(dir)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return "", 0, nil, fmt.Errorf("%s: directory %s does not exist: create it first", path, dir)
			case err != nil:
				return "", 0, nil, fmt.Errorf("%s: %w", path, err)
			case !di.IsDir():
				return "", 0, nil, fmt.Errorf("%s: %s is not a directory", path, dir)
			}
			if err := checkWritable(path, dir); err != nil {
				return "", 0, nil, err
			}
			return p, outputNew, nil, nil
		}
		if err != nil {
			return "", 0, nil, fmt.Errorf("%s: %w", path, err)
		}
		m := fi.Mode()
		switch {
		case m&fs.ModeSymlink != 0 && isFDLink(p):
			return fdOutput(path, p)
		case m&fs.ModeSymlink != 0:
			dest, err := os.Readlink(p)
			if err != nil {
				return "", 0, nil, fmt.Errorf("%s: %w", path, err)
			}
			if !filepath.IsAbs(dest) {
				// Relative to the link's real directory, as the kernel
				// resolves it (not lexically: the directory may be a link).
				dir := filepath.Dir(p)
				if real, err := filepath.EvalSymlinks(dir); err == nil {
					dir = real
				}
				dest = filepath.Join(dir, dest)
			}
			p = dest
			continue
		case m.IsRegular():
			// A file nobody may write was made so to keep it: a shell's >
			// refuses it too (renaming over it would not).
			if m.Perm()&0o222 == 0 {
				return "", 0, nil, fmt.Errorf("%s is read-only (mode %04o): make it writable (chmod u+w) or name another file", path, m.Perm())
			}
			// Replacing takes a new file in the directory, not write
			// permission on the old one.
			if err := checkWritable(path, filepath.Dir(p)); err != nil {
				return "", 0, nil, err
			}
			return p, outputReplace, fi, nil
		case m&fs.ModeCharDevice != 0, m&fs.ModeNamedPipe != 0:
			return p, outputDirect, fi, nil
		case m.IsDir():
			return "", 0, nil, fmt.Errorf("%s is a directory: name a file in it", path)
		case m&fs.ModeSocket != 0:
			return "", 0, nil, fmt.Errorf("%s is a socket: name a regular file, a FIFO or a character device", path)
		case m&fs.ModeDevice != 0:
			return "", 0, nil, fmt.Errorf("%s is a block device: name a regular file, a FIFO or a character device", path)
		}
		return "", 0, nil, fmt.Errorf("%s is not a regular file (mode %s): name a regular file, a FIFO or a character device", path, m.Type())
	}
	return "", 0, nil, fmt.Errorf("%s: more than %d levels of symbolic links", path, maxLinks)
}

// isFDLink reports whether p is a link to an open file descriptor
// (/dev/fd/N, /proc/self/fd/N, /proc/PID/fd/N; /dev/stdout leads to one).
// Its target is not a path (a pipe reads "pipe:[1234]"): only opening it
// reaches the file.
func isFDLink(p string) bool {
	dir := filepath.Dir(p)
	if dir == "/dev/fd" || dir == "/proc/self/fd" || dir == "/proc/thread-self/fd" {
		return true
	}
	pid, ok := strings.CutPrefix(dir, "/proc/")
	pid, ok2 := strings.CutSuffix(pid, "/fd")
	if !ok || !ok2 || pid == "" {
		return false
	}
	_, err := strconv.ParseUint(pid, 10, 32)
	return err == nil
}

// fdOutput decides a file-descriptor link (p, reached from path) by what
// the descriptor is open on: a terminal, a pipe or a FIFO is written
// through the link; a regular file is refused, since renaming over it
// would leave the descriptor on the old file and writing through it would
// mix with the command's own output there (the plan table before the
// plan, say): name the file itself instead.
func fdOutput(path, p string) (string, outputKind, fs.FileInfo, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	m := fi.Mode()
	switch {
	case m&fs.ModeCharDevice != 0, m&fs.ModeNamedPipe != 0:
		return p, outputDirect, fi, nil
	case m.IsRegular():
		return "", 0, nil, fmt.Errorf("%s is a file descriptor open on a regular file (a redirected stdout?): name the file itself", path)
	}
	return "", 0, nil, fmt.Errorf("%s is a file descriptor open on a %s: name a regular file, a FIFO or a terminal", path, kindName(m))
}

// kindName names a file type for an error line.
func kindName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "file of type " + m.Type().String()
}

// WriteOutput writes what write produces to path, as described at the top
// of this file: atomically for a file (if write or any step fails, the
// temporary file is removed and a file already at path is untouched; an
// interrupted write never leaves a truncated file), directly for a device
// or FIFO. Errors name path.
func WriteOutput(path string, write func(io.Writer) error) error {
	return WriteOutputContext(context.Background(), path, write)
}

// WriteOutputContext is [WriteOutput] that stops waiting for a FIFO's
// reader when ctx is done (a FIFO with no reader then fails at once): a
// stopped command is never stuck on a pipe nobody reads.
func WriteOutputContext(ctx context.Context, path string, write func(io.Writer) error) error {
	target, kind, fi, err := resolveOutput(path)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if kind == outputDirect {
		return writeDirect(ctx, path, target, fi, write)
	}
	return writeAtomic(path, target, fi, write)
}

// writeDirect writes to a device or FIFO in place. Opening a FIFO waits
// for its reader, as a shell's > does, until ctx is done. What is opened
// must still be a device or FIFO: a regular file put at the path since it
// was checked is left untouched (it would be written over in place).
func writeDirect(ctx context.Context, path, target string, fi fs.FileInfo, write func(io.Writer) error) error {
	f, err := openDirect(ctx, target, fi)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if now, err := f.Stat(); err != nil || now.Mode()&(fs.ModeCharDevice|fs.ModeNamedPipe) == 0 {
		f.Close()
		if err == nil {
			err = fmt.Errorf("it was replaced by a %s after it was checked; nothing written", kindName(now.Mode()))
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces target (a regular file, or none yet) through a
// temporary file in its directory. fi is target's info when it exists.
func writeAtomic(path, target string, fi fs.FileInfo, write func(io.Writer) error) error {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	// A new file gets 0666 less the umask, applied by the kernel at
	// creation. A replaced file keeps its bits: the temporary file starts
	// private and is given them once complete.
	perm := fs.FileMode(0o666)
	if fi != nil {
		perm = 0o600
	}
	f, tmp, err := createTemp(dir, "."+tempStem(base)+".tmp-", perm)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: directory %s does not exist: %w", path, dir, err)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close() // already closed on most paths; the error is moot
			os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if fi != nil && runtime.GOOS != "windows" {
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	committed = true
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

// tempStem is the start of a temporary file's name for base: base itself
// when short, else its first 64 bytes (whole characters), so that the
// temporary name stays within the file system's name limit (255 bytes)
// whenever base does.
func tempStem(base string) string {
	const max = 64
	if len(base) <= max {
		return base
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(base[cut]) {
		cut--
	}
	return base[:cut]
}

// createTemp is os.CreateTemp with a chosen mode (os.CreateTemp always
// uses 0600, which would hide the umask's answer).
func createTemp(dir, prefix string, perm fs.FileMode) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("create a temporary file in %s: too many name collisions", dir)
}
