package remediate

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// detailWidth caps a source step's detail in the table: it carries the
// whole command to run instead, which must not be cut.
const detailWidth = 1200

func detailCell(s string) string { return report.SanitizeCell(s, detailWidth) }

// WriteSourcePlanTable writes a plan's launch source steps and skips (apply
// shows them with the waves); nothing for a plan without sources.
func WriteSourcePlanTable(w io.Writer, p *Plan) error {
	var t textTable
	writeSourcePlan(&t, p)
	if err := t.flush(w); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// writeWarnings lists the instance plan's warnings (next-launch-v1), if any.
func writeWarnings(t *textTable, p *Plan) {
	n := 0
	for _, list := range [][]Item{p.Changes, p.Skipped} {
		for _, it := range list {
			n += len(it.Warnings)
		}
	}
	if n == 0 {
		return
	}
	t.line("")
	t.line(fmt.Sprintf("WARNINGS: %d", n))
	t.row("ACCOUNT", "REGION", "INSTANCE", "WARNING")
	for _, list := range [][]Item{p.Changes, p.Skipped} {
		for _, it := range list {
			for _, w := range it.Warnings {
				t.row(cell(it.Account), cell(it.Region), cell(it.InstanceID), text(w))
			}
		}
	}
	t.end()
}

// writeSourcePlan writes the launch source steps in the order they run,
// then the sources left alone with the change to make instead.
func writeSourcePlan(t *textTable, p *Plan) {
	if !p.Options.HasScope(ScopeSources) {
		return
	}
	t.line("")
	t.line(fmt.Sprintf("SOURCES: %d step(s), %d skipped", len(p.Sources), len(p.SourcesSkipped)))
	if len(p.Sources) > 0 {
		t.row("ACCOUNT", "REGION", "STEP", "ACTION", "SETS", "INSTANCES", "WAVE", "DETAIL")
		for _, it := range p.Sources {
			sets := it.Change.String()
			if it.Defaults != nil {
				sets = it.Defaults.String()
			}
			d := it.Detail
			if len(it.Blockers) > 0 {
				d += "; --force overrides: " + strings.Join(it.Blockers, ", ")
			}
			t.row(cell(it.Account), cell(it.Region), cell(it.ID), string(it.Action), dash(sets), strconv.Itoa(it.Instances), cell(dash(it.Wave)), detailCell(d))
		}
		t.end()
	}
	if len(p.SourcesSkipped) > 0 {
		t.line("")
		t.line("SOURCES SKIPPED")
		t.row("ACCOUNT", "REGION", "SOURCE", "REASON", "DETAIL")
		for _, it := range p.SourcesSkipped {
			d := it.Detail
			if len(it.Blockers) > 0 {
				d += "; blocked by: " + strings.Join(it.Blockers, ", ")
			}
			t.row(cell(it.Account), cell(it.Region), cell(it.ID), it.Reason, detailCell(d))
		}
		t.end()
	}
}
