package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Format names accepted by [Write] and returned by [FormatFromPath].
const (
	FormatJSON     = "json"
	FormatCSV      = "csv"
	FormatMarkdown = "markdown"
	FormatTable    = "table"
	FormatHTML     = "html"
)

// Formats lists every format name [Write] accepts.
func Formats() []string {
	return []string{FormatTable, FormatJSON, FormatCSV, FormatMarkdown, FormatHTML}
}

// FormatFromPath picks the format of a report file from its extension
// (case-insensitive): .json, .csv, .md or .markdown, .html or .htm, and
// .txt for the plain-text table.
func FormatFromPath(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".json":
		return FormatJSON, nil
	case ".csv":
		return FormatCSV, nil
	case ".md", ".markdown":
		return FormatMarkdown, nil
	case ".html", ".htm":
		return FormatHTML, nil
	case ".txt":
		return FormatTable, nil
	case "":
		return "", fmt.Errorf("report file %q has no extension: name it .json, .csv, .md, .html or .txt to choose the format", path)
	}
	return "", fmt.Errorf("report file %q: unknown extension %q; use .json, .csv, .md, .html (or .htm) or .txt", path, ext)
}

// Write writes r to w in the named format ("json", "csv", "markdown",
// "table" or "html"); opts is used by "table" only.
func Write(w io.Writer, format string, r *Report, opts TableOptions) error {
	switch format {
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatCSV:
		return WriteCSV(w, r)
	case FormatMarkdown:
		return WriteMarkdown(w, r)
	case FormatTable:
		return WriteTable(w, r, opts)
	case FormatHTML:
		return WriteHTML(w, r)
	}
	return fmt.Errorf("unknown report format %q: use one of %s", format, strings.Join(Formats(), ", "))
}

// WriteFile writes r to path in the named format, atomically (see
// [AtomicWriteFile]): a reader of path sees the old file or the complete
// new one, never a partial report. The table format is written without
// colour or width limit.
func WriteFile(path, format string, r *Report) error {
	// Reject an unknown format before touching the file system.
	if !isFormat(format) {
		return fmt.Errorf("write %s: unknown report format %q: use one of %s", path, format, strings.Join(Formats(), ", "))
	}
	return AtomicWriteFile(path, func(w io.Writer) error {
		return Write(w, format, r, TableOptions{})
	})
}

func isFormat(f string) bool {
	for _, g := range Formats() {
		if f == g {
			return true
		}
	}
	return false
}

// AtomicWriteFile replaces the file at path with what write produces, so
// that an interrupted or failed write never leaves a truncated file:
// write goes to a temporary file in the same directory (buffered), which
// is then flushed, fsynced, closed and renamed over path, and the
// directory is fsynced so the rename survives a crash.
//
// If write (or any step) fails, the temporary file is removed, the error
// is returned and a file already at path is untouched. A new file gets mode
// 0644; a replaced file keeps its mode. If path is a symbolic link, the
// link itself is replaced.
func AtomicWriteFile(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("write %q: the path names a directory, not a file", path)
	}
	mode := fs.FileMode(0o644)
	if fi, statErr := os.Stat(path); statErr == nil {
		if fi.IsDir() {
			return fmt.Errorf("write %s: it is a directory", path)
		}
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: directory %s does not exist: %w", path, dir, err)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
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
	if err := f.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
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
