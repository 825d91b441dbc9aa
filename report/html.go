package report

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
)

//go:embed html.tmpl
var htmlSource string

// htmlMaxRows caps each wave's instance table: a page of a hundred
// thousand rows is no longer a planning tool (and slow to open). The JSON
// and CSV reports hold every instance.
const htmlMaxRows = 2000

// Caps of the page's text cells, in columns (see [SanitizeCell]): names
// are free text, and 2,000 rows of 10 MB names would be no page at all.
const (
	htmlCellWidth = 256
	htmlTextWidth = 1000
)

// htmlText makes fleet text fit to show: html/template escapes what HTML
// would parse (< > & quotes), but passes control characters and bidi
// overrides through, which would reorder the text on the page.
func htmlText(s string, max int) string { return SanitizeCell(s, max) }

// WriteHTML writes a single self-contained page for migration planning:
// headline counts, the instances grouped into migration waves, and a table
// per (account, Region). Waves, in the order to work through them:
//
//   - wave 1, enforce now: ready instances;
//   - wave 2, fix the hop limit then re-measure: v1-in-use container hosts
//     with hop limit 1 (risk container-hop-limit);
//   - wave 3, find and fix the v1 callers: the other v1-in-use instances,
//     with their call counts and last call;
//   - wave 4, need evidence: no-data;
//   - already done: enforced; leave alone: disabled.
//
// The page loads nothing from the network: the CSS and a small script
// (click a column header to sort, type in the box to filter) are inline,
// and a Content-Security-Policy forbids anything else. All report text is
// escaped by html/template, after [SanitizeCell] (control and bidi
// characters escaped, cells capped). Figures are computed from r.Instances; r is not
// modified.
func WriteHTML(w io.Writer, r *Report) error {
	tmpl, csp, err := htmlTemplate()
	if err != nil {
		return err
	}
	v := buildHTMLView(r)
	v.CSP = csp
	v.Guardrails = htmlGuardrailsOf(r)
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := tmpl.Execute(bw, v); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

// htmlTemplate parses the page and computes its Content-Security-Policy.
// The policy names the page's one <style> and one <script> by their
// SHA-256 instead of allowing any inline code ('unsafe-inline'): should
// fleet text ever get past the escaping as markup, a script or style
// element it forms still does not run, and nothing may be loaded
// (default-src 'none'; the charts are inline SVG).
func htmlTemplate() (*template.Template, template.HTMLAttr, error) {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"labelX": func() int { return chartLabelW - 8 },
		"barH":   func() int { return chartBarH },
	}).Parse(htmlSource)
	if err != nil {
		return nil, "", fmt.Errorf("parse html template: %w", err)
	}
	if tmpl, err = tmpl.Parse(htmlGuardrailsSource); err != nil {
		return nil, "", fmt.Errorf("parse html template: %w", err)
	}
	// The hashes must be of the text exactly as html/template writes it
	// (it drops JavaScript comments, for one), and that text holds no
	// report data: read it from the page of an empty report.
	var page bytes.Buffer
	if err := tmpl.Execute(&page, buildHTMLView(&Report{})); err != nil {
		return nil, "", fmt.Errorf("write html: %w", err)
	}
	style, err := inlineHash(page.String(), "<style>", "</style>")
	if err != nil {
		return nil, "", err
	}
	script, err := inlineHash(page.String(), "<script>", "</script>")
	if err != nil {
		return nil, "", err
	}
	csp := template.HTMLAttr(`content="default-src 'none'; style-src '` + style + `'; script-src '` + script + `'; base-uri 'none'; form-action 'none'"`)
	return tmpl, csp, nil
}

// inlineHash is the CSP source expression ('sha256-…', without quotes)
// of the one element of page that starts with open.
func inlineHash(page, open, closing string) (string, error) {
	i := strings.Index(page, open)
	j := strings.Index(page, closing)
	if i < 0 || j < i || strings.Count(page, open) != 1 {
		return "", fmt.Errorf("html template: want exactly one %s element", open)
	}
	sum := sha256.Sum256([]byte(page[i+len(open) : j]))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:]), nil
}

type htmlView struct {
	CSP                     template.HTMLAttr // content="…": our own text, no fleet text
	Tool, Generated, Window string
	Instances               int
	Targets                 int
	Failed                  []Target
	Cards                   []htmlCard
	Risks                   []htmlRisk
	Waves                   []*htmlWave
	Classifications         []string
	RiskNames               []string
	Regions                 []htmlRegion
	MaxRows                 int
	Callers, RegionChart    svgChart
	Guardrails              *htmlGuardrails // html_guardrails.go

	// Skipped are the accounts not scanned, SkippedUnits the OUs not
	// fully read and Unplaced the accounts in no unit, one sanitized line
	// each; UnplacedMeaning says what the last mean.
	Skipped, SkippedUnits, Unplaced []string
	UnplacedMeaning                 string
	// OrgNotes are the organization's notes, OrgNotesIntro what they are.
	OrgNotes      []string
	OrgNotesIntro string

	// The launch-source parts (schema version 2).
	LaunchErrors        []string
	Workloads           []htmlWorkload
	WorkloadsMore       int
	WorkloadChart       svgChart
	NoWorkloads         string
	HasWorkloads        bool
	Sources, Unresolved []htmlLaunchSource
	NoSources           string
}

type htmlCard struct {
	Key, Meaning, CSS string
	Count             int
}

// htmlRisk is one risk and its count ("not read" for next-launch-v1 when
// the launch sources were not read).
type htmlRisk struct{ Key, Meaning, Count string }

type htmlWave struct {
	ID, Label, Title, Action, CSS string
	Open                          bool
	Count                         int
	Rows                          []htmlRow
	More                          int
}

type htmlRow struct {
	ID, Name, Account, Region, State, Tokens, Hop string
	Risks                                         string
	Calls, Rejected, Days, Observed, LastCall     string
	CallsV, RejectedV, DaysV, ObservedV, HopV     float64
	Recommendation                                string
	Workload                                      string
}

type htmlRegion struct {
	Account, Region, Status, StatusCSS, Error string
	Counts, RiskCounts                        []int
	Total                                     int
}

func buildHTMLView(r *Report) *htmlView {
	sum := summarize(r.Instances)
	v := &htmlView{
		Tool:            htmlText(toolText(r.Tool), htmlCellWidth),
		Generated:       shortTime(r.GeneratedAt),
		Window:          windowText(r.Window),
		Instances:       sum.Instances,
		Targets:         len(r.Targets),
		Failed:          htmlTargets(failedTargets(r)),
		Classifications: Classifications,
		RiskNames:       Risks,
		MaxRows:         htmlMaxRows,
	}
	for _, c := range Classifications {
		v.Cards = append(v.Cards, htmlCard{Key: c, Meaning: DescribeClassification(c), CSS: cssName(c), Count: sum.ByClassification[c]})
	}
	for _, k := range Risks {
		v.Risks = append(v.Risks, htmlRisk{Key: k, Meaning: DescribeRisk(k), Count: riskCount(r, sum, k)})
	}

	enforce := &htmlWave{ID: "wave-1", Label: "Wave 1", Title: "Enforce now", CSS: "ready", Open: true,
		Action: "No IMDSv1 calls over enough observed days: require IMDSv2 (imdsfleet remediate). Container hosts keep hop limit 1 unless their pods need the node's credentials."}
	hop := &htmlWave{ID: "wave-2", Label: "Wave 2", Title: "Fix the hop limit, then re-measure", CSS: "v1-in-use", Open: true,
		Action: "Container hosts using IMDSv1 with hop limit 1: their pods cannot get a v2 token, so their v1 calls may be SDK fallback. Raise the hop limit to 2, then scan again to see what v1 use is left."}
	callers := &htmlWave{ID: "wave-3", Label: "Wave 3", Title: "Find and fix the v1 callers", CSS: "v1-in-use", Open: true,
		Action: "Something on these instances still calls IMDSv1: update the software (SDKs, agents, scripts) that makes the calls, then scan again."}
	evidence := &htmlWave{ID: "wave-4", Label: "Wave 4", Title: "Need evidence", CSS: "no-data", Open: true,
		Action: "Too few observed days (stopped, new, or metrics unreadable) to know whether IMDSv1 is used: run them, or wait, and scan again."}
	done := &htmlWave{ID: "done", Label: "Done", Title: "Already enforced", CSS: "enforced",
		Action: "IMDSv2 is required: nothing to do."}
	alone := &htmlWave{ID: "leave-alone", Label: "Leave alone", Title: "Metadata endpoint disabled", CSS: "disabled",
		Action: "The endpoint is off: leave it. Disabling is never the fix, since it also removes the role's credentials."}
	v.Waves = []*htmlWave{enforce, hop, callers, evidence, done, alone}

	waveOf := func(in *Instance) *htmlWave {
		switch in.Classification {
		case ClassReady:
			return enforce
		case ClassV1InUse:
			if in.HasRisk(RiskContainerHopLimit) {
				return hop
			}
			return callers
		case ClassNoData:
			return evidence
		case ClassEnforced:
			return done
		case ClassDisabled:
			return alone
		}
		return nil
	}
	// The wave tables name each instance's workload, so that the filter
	// finds a workload's instances in every wave.
	workloadNames := make(map[string]string, len(r.Workloads))
	for _, w := range r.Workloads {
		workloadNames[w.ID] = w.Name
	}
	v.HasWorkloads = len(r.Workloads) > 0
	byWave := map[*htmlWave][]*Instance{}
	for i := range r.Instances {
		in := &r.Instances[i]
		if wv := waveOf(in); wv != nil {
			byWave[wv] = append(byWave[wv], in)
		}
	}
	for _, wv := range v.Waves {
		list := byWave[wv]
		if wv == hop || wv == callers {
			// Heaviest users first; equal counts keep report order.
			slices.SortStableFunc(list, byCallsDesc)
		}
		wv.Count = len(list)
		for i, in := range list {
			if i == htmlMaxRows {
				wv.More = len(list) - htmlMaxRows
				break
			}
			row := htmlRowOf(in)
			row.Workload = htmlText(workloadNames[in.Workload], htmlCellWidth)
			wv.Rows = append(wv.Rows, row)
		}
	}

	v.Callers = callersChart(r)
	v.RegionChart = regionChart(r)
	for _, e := range launchErrors(r) {
		v.LaunchErrors = append(v.LaunchErrors, htmlText(e, htmlTextWidth))
	}
	for _, sa := range r.SkippedAccounts {
		v.Skipped = append(v.Skipped, skippedAccountText(sa, htmlCellWidth, htmlTextWidth))
	}
	v.SkippedUnits = skippedUnits(r, htmlCellWidth, htmlTextWidth)
	for _, u := range unplacedAccounts(r, htmlCellWidth, htmlTextWidth) {
		v.Unplaced = append(v.Unplaced, u.String())
	}
	v.UnplacedMeaning = strings.Join(unplacedMeaning, " ")
	v.OrgNotes, v.OrgNotesIntro = orgNotes(r, htmlTextWidth), orgNotesIntro
	v.Workloads, v.WorkloadsMore = htmlWorkloads(r)
	v.WorkloadChart = workloadChart(r)
	switch {
	case len(r.Instances) == 0:
		v.NoWorkloads = "No instances, so no workloads."
	case len(r.Workloads) == 0:
		v.NoWorkloads = "This report has no workloads: it was written before imdsfleet grouped instances into workloads (schema version 1). Scan again to get them."
	}
	v.Sources, v.Unresolved = htmlSources(r)
	switch {
	case !launchRead(r):
		v.NoSources = "The scan did not read launch sources (--no-launch-sources, or a report written before imdsfleet read them): what the next instance of each workload would get is unknown. Scan again without --no-launch-sources to see the sources to fix."
	case len(v.Sources) == 0:
		v.NoSources = "No launch source would launch an instance that allows IMDSv1."
	}
	for _, row := range regionRows(r) {
		hr := htmlRegion{Account: htmlText(row.Account, htmlCellWidth), Region: htmlText(row.Region, htmlCellWidth),
			Status: htmlText(row.Status, htmlCellWidth), Error: htmlText(row.Error, htmlTextWidth), Total: row.Total, StatusCSS: "ok"}
		switch row.Status {
		case TargetError:
			hr.StatusCSS = "error"
		case TargetSkipped:
			hr.StatusCSS = ""
		case "":
			hr.Status, hr.StatusCSS = "not a target", ""
		}
		for _, c := range Classifications {
			hr.Counts = append(hr.Counts, row.ByClass[c])
		}
		for _, k := range Risks {
			hr.RiskCounts = append(hr.RiskCounts, row.ByRisk[k])
		}
		v.Regions = append(v.Regions, hr)
	}
	return v
}

func htmlRowOf(in *Instance) htmlRow {
	row := htmlRow{
		ID: htmlText(in.InstanceID, htmlCellWidth), Name: htmlText(in.Name, htmlCellWidth),
		Account: htmlText(in.Account, htmlCellWidth), Region: htmlText(in.Region, htmlCellWidth), State: htmlText(in.State, htmlCellWidth),
		Tokens: htmlText(in.MetadataOptions.HttpTokens, htmlCellWidth), Hop: hopText(in), HopV: float64(in.MetadataOptions.HttpPutResponseHopLimit),
		Risks: htmlText(strings.Join(in.Risks, ", "), htmlTextWidth),
		Calls: callsText(in), LastCall: lastCallText(in), Recommendation: htmlText(recommendationText(in), htmlTextWidth),
		CallsV: in.Usage.NoTokenCalls, RejectedV: in.Usage.NoTokenRejected,
		DaysV: float64(in.Usage.DaysWithCalls), ObservedV: float64(in.Usage.Datapoints),
		Rejected: FormatCount(in.Usage.NoTokenRejected),
		Days:     fmt.Sprint(in.Usage.DaysWithCalls), Observed: fmt.Sprint(in.Usage.Datapoints),
	}
	if in.Usage.Status == UsageError || in.Usage.Status == UsageNone {
		row.Rejected, row.Days, row.Observed = "?", "?", "?"
		row.CallsV, row.RejectedV, row.DaysV, row.ObservedV = -1, -1, -1, -1
	}
	return row
}

// htmlTargets returns ts with their text made fit to show.
func htmlTargets(ts []Target) []Target {
	out := make([]Target, len(ts))
	for i, t := range ts {
		out[i] = Target{Account: htmlText(t.Account, htmlCellWidth), Region: htmlText(t.Region, htmlCellWidth), Error: htmlText(t.Error, htmlTextWidth)}
	}
	return out
}

// cssName maps a classification to its CSS class; unknown values get none.
func cssName(c string) string {
	if isClassification(c) {
		return c
	}
	return ""
}
