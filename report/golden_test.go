package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

// TestGolden writes the fixture in every format and compares with the
// files under testdata/golden (go test ./report -update rewrites them).
// A reviewer reads those files: they are what a user sees.
func TestGolden(t *testing.T) {
	tests := []struct {
		file   string
		format string
		opts   report.TableOptions
	}{
		{"report.json", report.FormatJSON, report.TableOptions{}},
		{"report.csv", report.FormatCSV, report.TableOptions{}},
		{"report.md", report.FormatMarkdown, report.TableOptions{}},
		{"report.txt", report.FormatTable, report.TableOptions{}},
		{"report.html", report.FormatHTML, report.TableOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := normalized(t)
			var buf bytes.Buffer
			if err := report.Write(&buf, tt.format, r, tt.opts); err != nil {
				t.Fatalf("Write(%s): %v", tt.format, err)
			}
			golden(t, tt.file, buf.Bytes())
		})
		// The same with launch sources and workloads (schema version 2);
		// the HTML page has its own launch fixture (report-launch.html).
		if tt.format == report.FormatHTML {
			continue
		}
		launchFile := "launch" + strings.TrimPrefix(tt.file, "report")
		t.Run(launchFile, func(t *testing.T) {
			r := launchFixture(t)
			var buf bytes.Buffer
			if err := report.Write(&buf, tt.format, r, tt.opts); err != nil {
				t.Fatalf("Write(%s): %v", tt.format, err)
			}
			golden(t, launchFile, buf.Bytes())
		})
	}
}
