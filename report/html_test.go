package report_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/report"
)

// chartBar is one bar of a chart as the page draws it.
type chartBar struct {
	Label string
	Segs  map[string]int // classification → instances
	Value string
}

// pageChart is a chart of the page, read back from its SVG.
type pageChart struct {
	SVG  string
	Bars []chartBar
	Note string
}

var (
	figureRE  = regexp.MustCompile(`(?s)<figure class="chart" id="([^"]+)">(.*?)</figure>`)
	barRE     = regexp.MustCompile(`(?s)<g class="bar[^"]*">(.*?)</g>`)
	labelRE   = regexp.MustCompile(`<text class="lbl"[^>]*>([^<]*)</text>`)
	segRE     = regexp.MustCompile(`<rect class="seg" data-class="([^"]+)" data-n="(\d+)"`)
	valueRE   = regexp.MustCompile(`<text class="val"[^>]*>([^<]*)</text>`)
	captionRE = regexp.MustCompile(`(?s)<figcaption>(.*?)</figcaption>`)
)

// pageCharts reads every chart of an HTML page, by figure id.
func pageCharts(t *testing.T, page string) map[string]pageChart {
	t.Helper()
	out := map[string]pageChart{}
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		c := pageChart{SVG: m[2][:strings.Index(m[2], "</svg>")+len("</svg>")]}
		for _, b := range barRE.FindAllStringSubmatch(m[2], -1) {
			bar := chartBar{Segs: map[string]int{}}
			if l := labelRE.FindStringSubmatch(b[1]); l != nil {
				bar.Label = html.UnescapeString(l[1])
			}
			for _, s := range segRE.FindAllStringSubmatch(b[1], -1) {
				n, _ := strconv.Atoi(s[2])
				bar.Segs[s[1]] += n
			}
			if v := valueRE.FindStringSubmatch(b[1]); v != nil {
				bar.Value = html.UnescapeString(v[1])
			}
			c.Bars = append(c.Bars, bar)
		}
		if cm := captionRE.FindStringSubmatch(m[2]); cm != nil {
			c.Note = html.UnescapeString(cm[1])
		}
		out[m[1]] = c
	}
	return out
}

// checkSVG parses a chart's SVG as XML (a label that broke out of its
// element would leave it malformed or add elements) and checks that every
// fill pattern it uses is defined in it.
func checkSVG(t *testing.T, name, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	defined, used := map[string]bool{}, map[string]bool{}
	allowed := map[string]bool{"svg": true, "title": true, "desc": true, "defs": true, "pattern": true, "rect": true,
		"circle": true, "g": true, "text": true}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: SVG is not well-formed: %v", name, err)
			return
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !allowed[se.Name.Local] {
			t.Errorf("%s: unexpected element <%s> in the SVG", name, se.Name.Local)
		}
		for _, a := range se.Attr {
			switch {
			case se.Name.Local == "pattern" && a.Name.Local == "id":
				defined[a.Value] = true
			case a.Name.Local == "fill" && strings.HasPrefix(a.Value, "url("):
				used[strings.TrimSuffix(strings.TrimPrefix(a.Value, "url(#"), ")")] = true
			case strings.HasPrefix(a.Name.Local, "on") || a.Name.Local == "href" || a.Name.Local == "style":
				t.Errorf("%s: attribute %s in the SVG", name, a.Name.Local)
			}
		}
	}
	for id := range used {
		if !defined[id] {
			t.Errorf("%s: fill url(#%s) names no pattern of the chart", name, id)
		}
	}
}

// regionCounts is what the Region chart should draw, from the report.
func regionCounts(r *report.Report, withAccount bool) map[string]map[string]int {
	want := map[string]map[string]int{}
	for _, in := range r.Instances {
		k := in.Region
		if withAccount {
			k = in.Account + " " + in.Region
		}
		if want[k] == nil {
			want[k] = map[string]int{}
		}
		want[k][in.Classification]++
	}
	return want
}

func TestHTMLCharts(t *testing.T) {
	r := normalized(t)
	page := render(t, report.FormatHTML, r, report.TableOptions{})
	charts := pageCharts(t, page)
	for name, c := range charts {
		checkSVG(t, name, c.SVG)
		if !strings.Contains(c.SVG, `role="img" aria-labelledby="`+name+`-title `+name+`-desc"`) ||
			!strings.Contains(c.SVG, `<title id="`+name+`-title">`) || !strings.Contains(c.SVG, `<desc id="`+name+`-desc">`) {
			t.Errorf("%s: no accessible title and description", name)
		}
	}

	t.Run("classification by Region", func(t *testing.T) {
		c, ok := charts["chart-region"]
		if !ok {
			t.Fatal("no Region chart")
		}
		want := regionCounts(r, true)
		got := map[string]map[string]int{}
		var labels []string
		for _, b := range c.Bars {
			labels = append(labels, b.Label)
			if len(b.Segs) > 0 {
				got[b.Label] = b.Segs
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("bars %v, want %v", got, want)
		}
		// Most v1-in-use first, then the largest; the failed target
		// is drawn, and says so.
		if w := "[111111111111 us-east-1 111111111111 ap-southeast-2 222222222222 us-west-2 111111111111 eu-west-1]"; fmt.Sprint(labels) != w {
			t.Errorf("bar order %v, want %s", labels, w)
		}
		if last := c.Bars[len(c.Bars)-1]; last.Value != "scan failed" {
			t.Errorf("failed target's bar says %q, want scan failed", last.Value)
		}
		for _, k := range report.Classifications {
			if !strings.Contains(c.SVG, `<text x="`) || !strings.Contains(c.SVG, `>`+k+`</text>`) {
				t.Errorf("legend lacks %s", k)
			}
		}
	})

	t.Run("top v1 callers", func(t *testing.T) {
		c, ok := charts["chart-callers"]
		if !ok {
			t.Fatal("no callers chart")
		}
		var got []string
		for _, b := range c.Bars {
			got = append(got, b.Label+"="+b.Value)
		}
		want := "[i-0a00000000000v1eks eks-no…=1234567 i-0b00000000000formula =HYP…=42]"
		if fmt.Sprint(got) != want {
			t.Errorf("callers %v, want %s", got, want)
		}
	})

	t.Run("caps", func(t *testing.T) {
		big := bigFleet(2005)
		charts := pageCharts(t, render(t, report.FormatHTML, big, report.TableOptions{}))
		c := charts["chart-callers"]
		if len(c.Bars) != 10 {
			t.Fatalf("%d caller bars, want the top 10", len(c.Bars))
		}
		for i, b := range c.Bars {
			if w := fmt.Sprintf("i-%04d n", 2005-i); b.Label != w || b.Value != strconv.Itoa(2005-i) {
				t.Errorf("caller %d: %s=%s, want %s=%d", i+1, b.Label, b.Value, w, 2005-i)
			}
		}
		if !strings.Contains(c.Note, "… and 1995 more instances with IMDSv1 calls") {
			t.Errorf("callers note %q", c.Note)
		}
		// 30 Regions: 25 bars and a note.
		many := &report.Report{SchemaVersion: 1}
		for i := range 30 {
			many.Instances = append(many.Instances, report.Instance{Account: "1", Region: fmt.Sprintf("r-%02d", i),
				InstanceID: fmt.Sprintf("i-%d", i), Classification: report.ClassReady})
		}
		report.Normalize(many)
		c = pageCharts(t, render(t, report.FormatHTML, many, report.TableOptions{}))["chart-region"]
		if len(c.Bars) != 25 || !strings.Contains(c.Note, "… and 5 more Regions") {
			t.Errorf("30 Regions: %d bars, note %q; want 25 and the 5 left out", len(c.Bars), c.Note)
		}
		if c.Bars[0].Label != "r-00" {
			t.Errorf("one account: label %q, want the Region alone", c.Bars[0].Label)
		}
	})

	t.Run("empty", func(t *testing.T) {
		page := render(t, report.FormatHTML, emptyNormalized(), report.TableOptions{})
		if n := strings.Count(page, "<svg"); n != 0 {
			t.Errorf("%d charts in an empty report", n)
		}
		for _, want := range []string{"No instance made IMDSv1 calls in the usage window.", "Nothing to draw: no Regions."} {
			if !strings.Contains(page, want) {
				t.Errorf("empty report lacks %q", want)
			}
		}
	})
}

// TestHTMLChartsHostile: text from the fleet (or an edited report) in
// every place a chart shows it cannot add elements to the SVG or break
// it, and an unknown classification is counted, not dropped.
func TestHTMLChartsHostile(t *testing.T) {
	hostile := []string{
		`</text></g></svg><script>alert(1)</script>`,
		`"><rect onclick="alert(1)" x="`,
		`]]><!-- <![CDATA[ &amp; &#0; &bogus;`,
		"\x1b[31m\u202eRTL\u2066",
		strings.Repeat("長", 500),
	}
	r := &report.Report{SchemaVersion: 1}
	for i, h := range hostile {
		r.Targets = append(r.Targets, report.Target{Account: h, Region: h, Status: report.TargetOK})
		r.Instances = append(r.Instances, report.Instance{
			Account: h, Region: h, InstanceID: fmt.Sprintf("i-%d%s", i, h), Name: h,
			MetadataOptions: report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1},
			Usage:           report.Usage{Status: report.UsageComplete, NoTokenCalls: float64(i + 1), DaysWithCalls: 1, Datapoints: 14},
			Classification:  report.ClassV1InUse,
		})
	}
	r.Instances[0].Classification = `x" fill="url(https://evil.example/p)`
	report.Normalize(r)
	page := render(t, report.FormatHTML, r, report.TableOptions{})
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d script elements, want the page's own", n)
	}
	charts := pageCharts(t, page)
	for _, name := range []string{"chart-region", "chart-callers"} {
		c, ok := charts[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		checkSVG(t, name, c.SVG)
		if len(c.Bars) != len(hostile) {
			t.Errorf("%s: %d bars, want %d", name, len(c.Bars), len(hostile))
		}
		for _, b := range c.Bars {
			if report.DisplayWidth(b.Label) > 28 || strings.ContainsAny(b.Label, "\x1b\u202e\u2066") {
				t.Errorf("%s: label %q not sanitized and capped", name, b.Label)
			}
		}
	}
	other := 0
	for _, b := range charts["chart-region"].Bars {
		other += b.Segs["other"]
	}
	if other != 1 {
		t.Errorf("unknown classification: %d in other, want 1", other)
	}
	if regexp.MustCompile(`fill="url\([^#]`).MatchString(page) {
		t.Error("a fill names something other than the chart's own pattern")
	}
}

// TestHTMLPolicy: the page's Content-Security-Policy allows its own style
// and script, by hash, and nothing else: no inline code it does not
// name, no network load.
func TestHTMLPolicy(t *testing.T) {
	page := render(t, report.FormatHTML, normalized(t), report.TableOptions{})
	m := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no Content-Security-Policy")
	}
	csp := m[1]
	for _, el := range []string{"style", "script"} {
		bodies := regexp.MustCompile(`(?s)<`+el+`>(.*?)</`+el+`>`).FindAllStringSubmatch(page, -1)
		if len(bodies) != 1 {
			t.Fatalf("%d %s elements, want 1", len(bodies), el)
		}
		sum := sha256.Sum256([]byte(bodies[0][1]))
		if want := el + "-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %s: the browser would block the page's own %s", csp, want, el)
		}
	}
	for _, want := range []string{"default-src 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") || strings.Contains(csp, "data:") {
		t.Errorf("policy %q allows more than the page's own code", csp)
	}
	if strings.Contains(page, ` style="`) {
		t.Error("a style attribute: the policy blocks it")
	}
}
