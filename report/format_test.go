package report_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestFormatFromPath(t *testing.T) {
	tests := []struct {
		path, want, err string
	}{
		{"out/report.json", "json", ""},
		{"REPORT.JSON", "json", ""},
		{"r.csv", "csv", ""},
		{"r.md", "markdown", ""},
		{"r.markdown", "markdown", ""},
		{"r.html", "html", ""},
		{"r.htm", "html", ""},
		{"r.txt", "table", ""},
		{"r.xlsx", "", `unknown extension ".xlsx"; use .json, .csv, .md, .html (or .htm) or .txt`},
		{"report", "", "has no extension: name it .json, .csv, .md, .html or .txt"},
		{"dir.d/report", "", "has no extension"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := report.FormatFromPath(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	err := report.Write(io.Discard, "yaml", normalized(t), report.TableOptions{})
	if err == nil || !strings.Contains(err.Error(), `unknown report format "yaml": use one of table, json, csv, markdown, html`) {
		t.Fatalf("error = %v", err)
	}
	path := filepath.Join(t.TempDir(), "r.yaml")
	if err := report.WriteFile(path, "yaml", normalized(t)); err == nil {
		t.Fatal("WriteFile accepted an unknown format")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("WriteFile created a file for an unknown format")
	}
}

// TestWriteFile: every format written to a file equals what Write gives,
// and a JSON file reads back.
func TestWriteFile(t *testing.T) {
	r := normalized(t)
	dir := t.TempDir()
	for _, name := range []string{"r.json", "r.csv", "r.md", "r.html", "r.txt"} {
		path := filepath.Join(dir, name)
		format, err := report.FormatFromPath(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := report.WriteFile(path, format, r); err != nil {
			t.Fatalf("WriteFile(%s): %v", name, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := render(t, format, r, report.TableOptions{}); string(got) != want {
			t.Errorf("%s differs from Write's output", name)
		}
	}
	if _, err := report.ReadFile(filepath.Join(dir, "r.json")); err != nil {
		t.Errorf("ReadFile of a written report: %v", err)
	}
	assertNoTempFiles(t, dir, 5)
}

func assertNoTempFiles(t *testing.T, dir string, want int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != want {
		t.Errorf("directory holds %v, want %d files and no temporary ones", names, want)
	}
}

func TestWriteOutput(t *testing.T) {
	t.Run("a failing write leaves the old file and no temp file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "report.json")
		if err := os.WriteFile(path, []byte("old report\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("scan interrupted")
		err := report.WriteOutput(path, func(w io.Writer) error {
			// Far more than any buffer: part of it reaches the temp file.
			if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("error %v does not wrap the write's error", err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != "old report\n" {
			t.Errorf("old file changed: %.40q", got)
		}
		assertNoTempFiles(t, dir, 1)
	})

	t.Run("a panicking write leaves no temp file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "plan.json")
		func() {
			defer func() { recover() }()
			report.WriteOutput(path, func(w io.Writer) error {
				fmt.Fprint(w, "partial")
				panic("bug")
			})
		}()
		assertNoTempFiles(t, dir, 0)
	})

	t.Run("success replaces the file and keeps its mode", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "report.json")
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := report.WriteOutput(path, func(w io.Writer) error {
			_, err := io.WriteString(w, "new")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if string(got) != "new" || fi.Mode().Perm() != 0o600 {
			t.Errorf("content %q mode %v, want \"new\" 0600", got, fi.Mode().Perm())
		}
		assertNoTempFiles(t, dir, 1)
	})

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope", "report.json")
		err := report.WriteOutput(path, func(io.Writer) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("error = %v", err)
		}
	})

	t.Run("path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		err := report.WriteOutput(dir, func(io.Writer) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("error = %v", err)
		}
		if err := report.WriteOutput(dir+"/", func(io.Writer) error { return nil }); err == nil {
			t.Fatal("a path ending in / was accepted")
		}
	})

	t.Run("relative path in the working directory", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if err := report.WriteOutput("r.md", func(w io.Writer) error {
			_, err := io.WriteString(w, "# hi\n")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile("r.md"); string(got) != "# hi\n" {
			t.Errorf("content %q", got)
		}
	})
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestWriterErrorsSurface: a full disk or a closed pipe is reported by
// every writer, not swallowed.
func TestWriterErrorsSurface(t *testing.T) {
	full := errors.New("no space left on device")
	for _, format := range report.Formats() {
		t.Run(format, func(t *testing.T) {
			err := report.Write(failingWriter{full}, format, bigFleet(300), report.TableOptions{})
			if !errors.Is(err, full) {
				t.Fatalf("error = %v, want one wrapping %v", err, full)
			}
		})
	}
}
