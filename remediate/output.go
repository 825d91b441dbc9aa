package remediate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
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
// instances with their reasons, and counts.
func WritePlanTable(w io.Writer, p *Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PLAN: %d change(s), %d skipped\n", len(p.Changes), len(p.Skipped))
	if len(p.Changes) > 0 {
		fmt.Fprintln(tw, "ACCOUNT\tREGION\tINSTANCE\tNAME\tCLASS\tACTION\tSETS")
		for _, it := range p.Changes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Account, it.Region, it.InstanceID, dash(it.Name), it.Classification, it.Action, it.Change)
		}
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintln(tw, "\nSKIPPED\nACCOUNT\tREGION\tINSTANCE\tNAME\tCLASS\tREASON\tDETAIL")
		for _, it := range p.Skipped {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Account, it.Region, it.InstanceID, dash(it.Name), it.Classification, it.Reason, it.Detail)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// WriteResultsTable writes one row per instance and the summary.
func WriteResultsTable(w io.Writer, o *Outcome) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mode := "DRY RUN"
	if o.Live {
		mode = "LIVE"
	}
	fmt.Fprintf(tw, "RESULTS (%s)\n", mode)
	fmt.Fprintln(tw, "ACCOUNT\tREGION\tINSTANCE\tACTION\tSETS\tSTATUS\tDETAIL")
	for _, r := range o.Results {
		detail := r.Message
		if r.Reason != "" {
			detail = r.Reason + ": " + detail
		}
		if r.Code != "" {
			detail = r.Code + ": " + detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.Region, r.InstanceID, r.Action, dash(r.Change.String()), r.Status, detail)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return WriteSummary(w, o)
}

// WriteSummary writes the counts line(s).
func WriteSummary(w io.Writer, o *Outcome) error {
	s := o.Summary
	_, err := fmt.Fprintf(w, "\nSUMMARY: planned %d, changed %d, would change %d, denied %d, failed %d, skipped %d\n",
		s.Planned, s.Changed, s.WouldChange, s.Denied, s.Failed, sumValues(s.Skipped))
	for _, k := range slices.Sorted(maps.Keys(s.Skipped)) {
		if err == nil {
			_, err = fmt.Fprintf(w, "  skipped %-22s %d\n", k+":", s.Skipped[k])
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

// WriteResultsCSV writes one row per instance.
func WriteResultsCSV(w io.Writer, o *Outcome) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(ResultsCSVHeader)
	for _, r := range o.Results {
		row := []string{r.Account, r.Region, r.InstanceID, r.Name, r.Action, r.Change.HttpTokens, hop(r.Change.HttpPutResponseHopLimit),
			r.Status, r.Reason, r.Code, r.Message, "", "", "", "", ""}
		if r.Previous != nil {
			row[11], row[12] = r.Previous.HttpTokens, hop(r.Previous.HttpPutResponseHopLimit)
		}
		if r.Verified != nil {
			row[13], row[14], row[15] = r.Verified.HttpTokens, hop(r.Verified.HttpPutResponseHopLimit), r.Verified.State
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
