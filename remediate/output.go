package remediate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// WritePlanJSON writes p as indented JSON.
func WritePlanJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// WritePlanTable writes the plan for a terminal: the changes, the skipped
// instances with their reasons, and counts. Every text from the report
// (ids, names, Regions) is sanitized and capped (see [report.SanitizeCell]):
// a name cannot drive the terminal, forge a line or flood the output.
func WritePlanTable(w io.Writer, p *Plan) error {
	var t textTable
	t.line(fmt.Sprintf("PLAN: %d change(s), %d skipped", len(p.Changes), len(p.Skipped)))
	if len(p.Changes) > 0 {
		t.row("ACCOUNT", "REGION", "INSTANCE", "NAME", "CLASS", "ACTION", "SETS")
		for _, it := range p.Changes {
			t.row(cell(it.Account), cell(it.Region), cell(it.InstanceID), cell(dash(it.Name)), cell(it.Classification), string(it.Action), it.Change.String())
		}
		t.end()
	}
	if len(p.Skipped) > 0 {
		t.line("")
		t.line("SKIPPED")
		t.row("ACCOUNT", "REGION", "INSTANCE", "NAME", "CLASS", "REASON", "DETAIL")
		for _, it := range p.Skipped {
			t.row(cell(it.Account), cell(it.Region), cell(it.InstanceID), cell(dash(it.Name)), cell(it.Classification), it.Reason, text(it.Detail))
		}
		t.end()
	}
	writeWarnings(&t, p)
	writeSourcePlan(&t, p)
	if err := t.flush(w); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// WriteResultsTable writes one row per instance and the summary, with the
// report's text sanitized and capped like [WritePlanTable].
func WriteResultsTable(w io.Writer, o *Outcome) error {
	var t textTable
	mode := "DRY RUN"
	if o.Live {
		mode = "LIVE"
	}
	t.line(fmt.Sprintf("RESULTS (%s)", mode))
	t.row("ACCOUNT", "REGION", "INSTANCE", "ACTION", "SETS", "STATUS", "DETAIL")
	for _, r := range o.Results {
		detail := r.Message
		if r.Reason != "" {
			detail = r.Reason + ": " + detail
		}
		if r.Code != "" {
			detail = r.Code + ": " + detail
		}
		t.row(cell(r.Account), cell(r.Region), cell(r.InstanceID), cell(string(r.Action)), dash(r.Change.String()), cell(string(r.Status)), text(detail))
	}
	t.end()
	if err := t.flush(w); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return WriteSummary(w, o)
}

// Caps of the tables' cells, in columns: ids, names and Regions are short
// in any real fleet; details carry AWS's error messages.
const (
	cellWidth = 40
	textWidth = 300
)

func cell(s string) string { return report.SanitizeCell(s, cellWidth) }
func text(s string) string { return report.SanitizeCell(s, textWidth) }

// textTable collects blocks of rows and lays each out in columns with
// [report.AlignColumns]. Cells must be sanitized already: the table adds
// only spaces and line ends.
type textTable struct {
	out   bytes.Buffer
	block [][]string
}

func (t *textTable) line(s string) {
	t.out.WriteString(s)
	t.out.WriteByte('\n')
}

func (t *textTable) row(cells ...string) { t.block = append(t.block, cells) }

// end writes the block.
func (t *textTable) end() {
	for _, l := range report.AlignColumns(t.block) {
		t.line(l)
	}
	t.block = t.block[:0]
}

func (t *textTable) flush(w io.Writer) error {
	_, err := w.Write(t.out.Bytes())
	return err
}

// WriteSummary writes the counts line(s).
func WriteSummary(w io.Writer, o *Outcome) error {
	s := o.Summary
	_, err := fmt.Fprintf(w, "\nSUMMARY: planned %d, changed %d, would change %d, denied %d, failed %d, skipped %d\n",
		s.Planned, s.Changed, s.WouldChange, s.Denied, s.Failed, sumValues(s.Skipped))
	for _, k := range slices.Sorted(maps.Keys(s.Skipped)) {
		if err == nil {
			_, err = fmt.Fprintf(w, "  skipped %-22s %d\n", cell(k)+":", s.Skipped[k])
		}
	}
	if err == nil && o.Interrupted {
		_, err = fmt.Fprintln(w, "INTERRUPTED: not every change was attempted")
	}
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// WriteResultsJSON writes the outcome as indented JSON.
func WriteResultsJSON(w io.Writer, o *Outcome) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(o); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// ResultsCSVHeader is the header row of [WriteResultsCSV].
var ResultsCSVHeader = []string{"account", "region", "instance_id", "name", "action", "http_tokens", "hop_limit", "status", "reason", "code", "message",
	"previous_http_tokens", "previous_hop_limit", "verified_http_tokens", "verified_hop_limit", "verified_state"}

// WriteResultsCSV writes one row per instance. Every text cell goes
// through [report.CSVCell], the scan CSV's guard against formula
// injection: names and ids come from whoever can tag an instance or edit
// a report.
func WriteResultsCSV(w io.Writer, o *Outcome) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(ResultsCSVHeader)
	c := report.CSVCell
	for _, r := range o.Results {
		row := []string{c(r.Account), c(r.Region), c(r.InstanceID), c(r.Name), c(string(r.Action)), c(r.Change.HttpTokens), hop(r.Change.HttpPutResponseHopLimit),
			c(string(r.Status)), c(r.Reason), c(r.Code), c(r.Message), "", "", "", "", ""}
		if r.Previous != nil {
			row[11], row[12] = c(r.Previous.HttpTokens), hop(r.Previous.HttpPutResponseHopLimit)
		}
		if r.Verified != nil {
			row[13], row[14], row[15] = c(r.Verified.HttpTokens), hop(r.Verified.HttpPutResponseHopLimit), c(r.Verified.State)
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

func hop(h int32) string {
	if h == 0 {
		return ""
	}
	return strconv.Itoa(int(h))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// WriteWavesTable writes a rollout's waves: their sizes, stages and first
// instances.
func WriteWavesTable(w io.Writer, p *Plan, waves []Wave) error {
	if len(waves) == 0 {
		return nil
	}
	var t textTable
	t.line("")
	t.line(fmt.Sprintf("WAVES: %d", len(waves)))
	srcWave := SourceWaves(p, waves)
	steps := map[int][]string{} // wave → its source steps, after its instances
	var after []string          // after the last wave's bake
	for i := range p.Sources {
		it := &p.Sources[i]
		name := it.Region + " " + it.ID
		if it.Wave == SourceWaveLast {
			after = append(after, name)
		} else {
			steps[srcWave[i]] = append(steps[srcWave[i]], name)
		}
	}
	if len(p.Sources) > 0 {
		t.row("WAVE", "STAGE", "KIND", "INSTANCES", "FIRST", "SOURCE STEPS")
	} else {
		t.row("WAVE", "STAGE", "KIND", "INSTANCES", "FIRST")
	}
	for _, wv := range waves {
		kind := "wave"
		if wv.Canary {
			kind = "canary"
		}
		first := ""
		for n, i := range wv.Items {
			if n == 3 {
				first += fmt.Sprintf(" … (+%d)", len(wv.Items)-3)
				break
			}
			if n > 0 {
				first += " "
			}
			first += p.Changes[i].InstanceID
		}
		if len(p.Sources) > 0 {
			t.row(strconv.Itoa(wv.N), cell(dash(wv.Stage)), kind, strconv.Itoa(len(wv.Items)), text(first), stepList(steps[wv.N]))
		} else {
			t.row(strconv.Itoa(wv.N), cell(dash(wv.Stage)), kind, strconv.Itoa(len(wv.Items)), text(first))
		}
	}
	t.end()
	if len(after) > 0 {
		t.line(fmt.Sprintf("after wave %d's bake passes: %s", len(waves), stepList(after)))
	}
	if err := t.flush(w); err != nil {
		return fmt.Errorf("write waves: %w", err)
	}
	return nil
}

// stepList names up to 3 source steps, then how many more.
func stepList(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	s := ""
	for n, name := range names {
		if n == 3 {
			s += fmt.Sprintf(" … (+%d)", len(names)-3)
			break
		}
		if n > 0 {
			s += ", "
		}
		s += name
	}
	return text(s)
}

// WriteRolloutTable writes what a rollout did: each wave's status and
// bake, the instances that broke with their rejected calls, and the
// rollback. Nothing for nil (a run without waves).
func WriteRolloutTable(w io.Writer, r *RolloutReport) error {
	if r == nil {
		return nil
	}
	var t textTable
	t.line("")
	head := fmt.Sprintf("ROLLOUT (plan %s): %s", r.Plan, strings.ToUpper(r.State))
	if r.SourceStepsFailed > 0 {
		head += fmt.Sprintf(": %d launch source step(s) failed; re-run apply to retry them", r.SourceStepsFailed)
	}
	t.line(head)
	if r.SourceStepsNotRun > 0 {
		t.line(fmt.Sprintf("wave %d: launch source steps not run (%d): its instance changes did not all apply; re-run apply once they can", r.StoppedAt, r.SourceStepsNotRun))
	}
	t.row("WAVE", "STAGE", "INSTANCES", "STATUS", "BAKE")
	for _, wv := range r.Waves {
		bake := "-"
		if wv.BakeStart != nil && wv.BakeUntil != nil {
			bake = wv.BakeStart.UTC().Format(time.RFC3339) + " → " + wv.BakeUntil.UTC().Format(time.RFC3339)
		}
		t.row(strconv.Itoa(wv.N), cell(dash(wv.Stage)), strconv.Itoa(wv.Instances), wv.Status, bake)
	}
	t.end()
	if len(r.Breaking) > 0 {
		writeBreaking(&t, r.StoppedAt, r.Breaking)
		switch {
		case r.RolledBack:
			t.line(fmt.Sprintf("Wave %d was rolled back (journaled in the rollback journal).", r.StoppedAt))
		case r.Rollback != nil:
			t.line(fmt.Sprintf("Wave %d was NOT fully rolled back: %d restored, %d failed, %d denied.", r.StoppedAt, r.Rollback.Summary.Changed, r.Rollback.Summary.Failed, r.Rollback.Summary.Denied))
		default:
			t.line(fmt.Sprintf("Wave %d was left as it is.", r.StoppedAt))
		}
	}
	if len(r.NoData) > 0 {
		writeNoData(&t, r.StoppedAt, r.NoData)
	}
	if err := t.flush(w); err != nil {
		return fmt.Errorf("write rollout: %w", err)
	}
	if r.Rollback != nil && len(r.Rollback.Results) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "ROLLBACK OF WAVE", r.StoppedAt)
		return WriteResultsTable(w, r.Rollback)
	}
	return nil
}

// BreakageAdvice is what the breakage output tells owners: what their
// software saw, and how to find it.
const BreakageAdvice = "An IMDSv1 caller on these instances got HTTP 401 once IMDSv2 was required (in a container at hop limit 1, the token PUT times out and SDKs fall back to v1 after a delay). Find the calling process (AWS's IMDS packet analyzer), update it to an SDK that uses IMDSv2, then scan and plan again: see docs/troubleshooting.md."

// NoDataAdvice is what the output says about instances a bake could not see.
const NoDataAdvice = "CloudWatch returned no MetadataNoTokenRejected or StatusCheckFailed_Instance datapoint for these instances since their bake started (stopped, or not publishing metrics): an absent signal is not a clean one, so the rollout is held, nothing is rolled back and later waves are not started. Start them (or wait until their metrics appear) and run the same apply again: it re-reads the bake; or leave them out of a new plan."

func writeNoData(t *textTable, wave int, ns []NoBakeData) {
	t.line("")
	t.line(fmt.Sprintf("NO BAKE DATA in wave %d: %d instance(s)", wave, len(ns)))
	t.row("ACCOUNT", "REGION", "INSTANCE", "NAME")
	for _, n := range ns {
		t.row(cell(n.Account), cell(n.Region), cell(n.InstanceID), cell(dash(n.Name)))
	}
	t.end()
	t.line(NoDataAdvice)
}

func writeBreaking(t *textTable, wave int, bs []Breakage) {
	t.line("")
	t.line(fmt.Sprintf("BREAKAGE in wave %d: %d instance(s)", wave, len(bs)))
	t.row("ACCOUNT", "REGION", "INSTANCE", "NAME", "REJECTED V1 CALLS", "FAILED CHECKS", "SEEN")
	for _, b := range bs {
		seen := "-"
		if b.FirstAt != nil {
			seen = b.FirstAt.Format(time.RFC3339) + " → " + b.LastAt.Format(time.RFC3339)
		}
		t.row(cell(b.Account), cell(b.Region), cell(b.InstanceID), cell(dash(b.Name)), strconv.FormatFloat(b.RejectedCalls, 'f', -1, 64), strconv.Itoa(b.StatusCheckFailed), seen)
	}
	t.end()
	t.line(BreakageAdvice)
}
