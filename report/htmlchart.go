package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The HTML page's charts are drawn here, as geometry for inline SVG that
// html.tmpl writes: no chart library, nothing loaded, and every label goes
// through [SanitizeCell] and html/template's escaping like any other cell.
// Colour is never the only cue: each classification also has its own fill
// pattern (stripes, dots, hatching), its name in the legend, its count
// printed in the segment when it fits and a <title> on every segment.

// Chart geometry, in SVG user units (about a CSS pixel at full width).
const (
	chartWidth     = 760
	chartLabelW    = 220 // the label column, right-aligned against the bars
	chartValueW    = 90  // the value after each bar
	chartRowH      = 22
	chartBarH      = 16
	chartLegendH   = 26
	chartLabelCols = 28 // a label is cut to this many columns
	chartMaxBars   = 25 // more bars than this are no longer read
	chartMaxCalls  = 10 // the top v1 callers shown
	// chartDigitW is the width of a digit of the segment counts (12px
	// bold system font, generously): a count is printed in its segment
	// only when it fits.
	chartDigitW = 8
)

// chartOther is the legend key of instances whose classification is none
// of the known ones (an edited report): counted, never dropped.
const chartOther = "other"

// svgChart is one chart: its bars, legend and text.
type svgChart struct {
	ID            string // unique on the page; prefixes the pattern ids
	Title, Desc   string
	Width, Height int
	Legend        []svgLegend
	Bars          []svgBar
	// Note says what was left out ("… and 4 more: see the table below").
	Note string
	// Empty is shown instead of the chart when there is nothing to draw.
	Empty string
}

type svgLegend struct {
	Class, Label string
	// Pattern is the id of the class's fill pattern in this chart.
	Pattern  string
	X, TextX int
}

type svgBar struct {
	Label, Title string
	Y, TextY     int
	Segs         []svgSeg
	Value        string
	ValueX       string
	Failed       bool
}

type svgSeg struct {
	Class, Title, Label string
	X, W, TextX         string
	N                   int
}

// chartClasses are the stacked series, in legend order.
func chartClasses() []string { return append(slices.Clone(Classifications), chartOther) }

// stackRow is one bar of a stacked chart before layout.
type stackRow struct {
	Label, Title string // exact text; made fit to show in layout
	ByClass      map[string]int
	Total        int
	Failed       bool
}

// stackedChart lays out one horizontal bar per row, split by
// classification, on one scale: bar lengths compare row sizes. Rows are
// drawn in the order given, at most chartMaxBars of them; what is left
// out is counted in the note.
func stackedChart(id, title, desc, what, more string, rows []stackRow) svgChart {
	c := svgChart{ID: id, Title: title, Desc: desc, Width: chartWidth}
	if len(rows) == 0 {
		c.Empty = "Nothing to draw: no " + what + "."
		return c
	}
	if len(rows) > chartMaxBars {
		c.Note = fmt.Sprintf("… and %d more %s: %s", len(rows)-chartMaxBars, what, more)
		rows = rows[:chartMaxBars]
	}
	present := map[string]bool{}
	maxTotal := 0
	for _, row := range rows {
		maxTotal = max(maxTotal, row.Total)
		for k, n := range row.ByClass {
			if n > 0 {
				present[k] = true
			}
		}
	}
	x := 0
	for _, k := range chartClasses() {
		if k == chartOther && !present[k] {
			continue
		}
		c.Legend = append(c.Legend, svgLegend{Class: k, Label: k, Pattern: id + "-" + k, X: x, TextX: x + 18})
		x += 18 + 8*len(k) + 16
	}
	area := float64(chartWidth - chartLabelW - chartValueW)
	scale := 0.0
	if maxTotal > 0 {
		scale = area / float64(maxTotal)
	}
	for i, row := range rows {
		y := chartLegendH + i*chartRowH
		bar := svgBar{Label: htmlText(row.Label, chartLabelCols), Title: htmlText(row.Title, htmlTextWidth),
			Y: y, TextY: y + chartBarH - 4, Failed: row.Failed}
		done := 0
		for _, k := range chartClasses() {
			n := row.ByClass[k]
			if n == 0 {
				continue
			}
			x0, x1 := float64(chartLabelW)+float64(done)*scale, float64(chartLabelW)+float64(done+n)*scale
			seg := svgSeg{Class: k, N: n, X: px(x0), W: px(x1 - x0), TextX: px((x0 + x1) / 2),
				Title: htmlText(fmt.Sprintf("%s: %s %s of %d", row.Title, plural(n, "instance"), k, row.Total), htmlTextWidth)}
			if label := strconv.Itoa(n); x1-x0 >= float64(chartDigitW*len(label)+6) {
				seg.Label = label
			}
			bar.Segs = append(bar.Segs, seg)
			done += n
		}
		bar.ValueX = px(float64(chartLabelW) + float64(row.Total)*scale + 6)
		bar.Value = strconv.Itoa(row.Total)
		if row.Failed {
			bar.Value = "scan failed"
			if row.Total > 0 {
				bar.Value = strconv.Itoa(row.Total) + " (scan failed)"
			}
		}
		c.Bars = append(c.Bars, bar)
	}
	c.Height = chartLegendH + len(c.Bars)*chartRowH + 4
	return c
}

// regionChart is the classification of the instances of each (account,
// Region): the Regions with the most v1-in-use instances first, then the
// largest; a failed target is drawn too, with what its scan found.
func regionChart(r *Report) svgChart {
	var rows []stackRow
	accounts := map[string]bool{}
	for _, rr := range regionRows(r) {
		if rr.Total == 0 && rr.Status != TargetError {
			continue
		}
		accounts[rr.Account] = true
		row := stackRow{Label: rr.Account + " " + rr.Region, Title: rr.Region + " (account " + rr.Account + ")",
			ByClass: chartCounts(rr.ByClass), Total: rr.Total, Failed: rr.Status == TargetError}
		if row.Failed {
			row.Title += ", scan failed: " + rr.Error
		}
		rows = append(rows, row)
	}
	if len(accounts) == 1 {
		// One account: its number on every bar is noise.
		for i := range rows {
			_, rows[i].Label, _ = strings.Cut(rows[i].Label, " ")
		}
	}
	sortStackRows(rows)
	return stackedChart("chart-region", "Classification by Region",
		"One bar per account and Region, split by classification; the Regions with the most v1-in-use instances come first. The By Region table below has every figure.",
		"Regions", "see the table below.", rows)
}

// sortStackRows puts the rows with the most v1-in-use instances first,
// then the largest; equal rows keep their order.
func sortStackRows(rows []stackRow) {
	slices.SortStableFunc(rows, func(a, b stackRow) int {
		return cmp.Or(cmp.Compare(b.ByClass[ClassV1InUse], a.ByClass[ClassV1InUse]), cmp.Compare(b.Total, a.Total))
	})
}

// chartCounts folds the classifications a chart has no series for into
// chartOther.
func chartCounts(byClass map[string]int) map[string]int {
	out := make(map[string]int, len(byClass))
	for k, n := range byClass {
		if !isClassification(k) {
			k = chartOther
		}
		out[k] += n
	}
	return out
}

// callersChart is the instances with the most IMDSv1 calls in the window,
// on one linear scale: where finding the callers pays most.
func callersChart(r *Report) svgChart {
	c := svgChart{ID: "chart-callers", Title: "Top IMDSv1 callers by calls",
		Desc:  fmt.Sprintf("The %d instances with the most IMDSv1 calls in the usage window, one bar each, longest first.", chartMaxCalls),
		Width: chartWidth}
	var list []*Instance
	for i := range r.Instances {
		in := &r.Instances[i]
		if in.Usage.NoTokenCalls > 0 && in.Usage.Status != UsageError && in.Usage.Status != UsageNone {
			list = append(list, in)
		}
	}
	if len(list) == 0 {
		c.Empty = "No instance made IMDSv1 calls in the usage window."
		return c
	}
	slices.SortStableFunc(list, byCallsDesc)
	if len(list) > chartMaxCalls {
		c.Note = fmt.Sprintf("… and %d more instances with IMDSv1 calls: see waves 2 and 3 below.", len(list)-chartMaxCalls)
		list = list[:chartMaxCalls]
	}
	c.Desc = fmt.Sprintf("The %s with the most IMDSv1 calls in the usage window, one bar each, longest first.", plural(len(list), "instance"))
	area := float64(chartWidth - chartLabelW - chartValueW)
	top := list[0].Usage.NoTokenCalls
	for i, in := range list {
		y := chartLegendH + i*chartRowH
		label := in.InstanceID
		if in.Name != "" {
			label += " " + in.Name
		}
		calls := FormatCount(in.Usage.NoTokenCalls)
		// Linear, so that lengths compare; at least a sliver, so that a
		// caller dwarfed by the top one still shows.
		w := max(area*in.Usage.NoTokenCalls/top, 2)
		title := fmt.Sprintf("%s (%s) in %s %s: %s IMDSv1 calls on %s, last call %s",
			in.InstanceID, in.Name, in.Account, in.Region, calls, plural(in.Usage.DaysWithCalls, "day"), lastCallText(in))
		c.Bars = append(c.Bars, svgBar{
			Label: htmlText(label, chartLabelCols), Title: htmlText(title, htmlTextWidth), Y: y, TextY: y + chartBarH - 4,
			Segs:  []svgSeg{{Class: ClassV1InUse, N: 1, X: px(chartLabelW), W: px(w), TextX: px(chartLabelW + w/2), Title: htmlText(title, htmlTextWidth)}},
			Value: calls, ValueX: px(chartLabelW + w + 6),
		})
	}
	c.Legend = []svgLegend{{Class: ClassV1InUse, Label: "IMDSv1 calls in the window", Pattern: c.ID + "-" + ClassV1InUse, X: 0, TextX: 18}}
	c.Height = chartLegendH + len(c.Bars)*chartRowH + 4
	return c
}

// px formats a coordinate to a tenth of a unit: deterministic, short text.
func px(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}
