package report

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
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
	}
	// The human formats need every element at once.
	r, err := r.unpacked()
	if err != nil {
		return err
	}
	switch format {
	case FormatMarkdown:
		return WriteMarkdown(w, r)
	case FormatTable:
		return WriteTable(w, r, opts)
	case FormatHTML:
		return WriteHTML(w, r)
	}
	return fmt.Errorf("unknown report format %q: use one of %s", format, strings.Join(Formats(), ", "))
}

// WriteFile writes r to path in the named format through [WriteOutput]: a
// file is replaced atomically (a reader of path sees the old file or the
// complete new one, never a partial report), a device or FIFO is written
// directly. The table format is written without colour or width limit.
func WriteFile(path, format string, r *Report) error {
	return WriteFileContext(context.Background(), path, format, r)
}

// WriteFileContext is [WriteFile] that stops waiting for a FIFO's reader
// when ctx is done (see [WriteOutputContext]).
func WriteFileContext(ctx context.Context, path, format string, r *Report) error {
	// Reject an unknown format before touching the file system.
	if !isFormat(format) {
		return fmt.Errorf("write %s: unknown report format %q: use one of %s", path, format, strings.Join(Formats(), ", "))
	}
	return WriteOutputContext(ctx, path, func(w io.Writer) error {
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
