package main

// The HTML report is a page people open in a browser: this test renders
// it, from a real scan of the simulated AWS with hostile names, in
// headless Chromium (Debian's chromium package; .ci/run installs it) and
// checks what a person would get: no injected script runs, the page's own
// script sorts and filters the instance table, and the page asks for
// nothing over the network.
//
// The page is served by a local server that is also Chromium's proxy for
// every URL (--proxy-bypass-list=<-loopback> sends loopback through it
// too), so that any request the page makes, to any host, is seen. A
// wrapper page on the same origin loads the report in an iframe and, once
// it has loaded, clicks a column header and types in the filter box; it
// writes what it saw into its own DOM, which --dump-dom prints.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/report"
)

// findChromium is the headless browser on PATH, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// pageServer serves fixed pages on one origin and is the browser's proxy:
// it records every request, and any request for another host, another
// path or through CONNECT is foreign.
type pageServer struct {
	host  string
	pages map[string][]byte

	mu      sync.Mutex
	served  []string
	foreign []string
}

func (s *pageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	host := r.Host
	if r.URL.Host != "" {
		host = r.URL.Host
	}
	if browserOwn(host, r.URL.Path) {
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	body, ok := s.pages[r.URL.Path]
	if r.Method == http.MethodConnect || host != s.host || !ok {
		s.foreign = append(s.foreign, r.Method+" "+host+r.URL.RequestURI())
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	s.served = append(s.served, r.URL.Path)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(body)
}

// browserOwn reports whether a request is Chromium's own rather than the
// page's: its update, sign-in and time services (Google hosts; the flags
// below silence most but not all of them) and the favicon it asks every
// origin for. A page payload aims elsewhere (see browserNames).
func browserOwn(hostport, path string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	for _, suffix := range []string{".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return path == "/favicon.ico"
}

// runChromium runs headless Chromium with args added to the flags that
// keep it quiet and off the network, through the proxy at proxy.
func runChromium(t *testing.T, bin, proxy string, args ...string) []byte {
	t.Helper()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--no-default-browser-check",
		"--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-pings",
		"--disable-breakpad", "--metrics-recording-only", "--safebrowsing-disable-auto-update",
		"--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,OptimizationGuideModelDownloading,SafeBrowsing",
		"--user-data-dir=" + t.TempDir(),
		"--proxy-server=http://" + proxy, "--proxy-bypass-list=<-loopback>",
		// Belt and braces: no name resolves, should a request bypass the proxy.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	}
	// A bound, not a timing assertion: a wedged browser must not hang the suite.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// browserNames are the hostile Name tags the page must show as text.
var browserNames = []struct{ key, name string }{
	{"script", `<script>document.title='PWNED';document.body.appendChild(document.createElement('pwned'))</script>`},
	{"img", `"><img src=//evil.example/x onerror="document.title='PWNED';document.body.appendChild(document.createElement('pwned'))">`},
	{"attr", `' autofocus onfocus='document.title="PWNED"' x='`},
	{"esc", "\x1b[31mRED\x1b[0m\x1b]0;title\x07"},
	{"rlo", "invoice\u202egpj.exe"},
	{"japanese", "本番サーバー"},
	{"emoji", "🚀デプロイ👍🏽"},
	{"tags", "web\U000E0068\U000E0069"},
	{"long", strings.Repeat("長", 400)},
	{"css", `<style>@import "http://evil.example/x.css";</style><link rel=stylesheet href=/x.css>`},
	{"plain", "web-1"},
}

// wrapperPage loads the report in an iframe, exercises it, and writes a
// JSON summary into <pre id="result">.
const wrapperPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>wrapper</title></head><body>
<iframe id="r" src="/report.html" style="width:1400px;height:900px"></iframe>
<pre id="result">pending</pre>
<script>
document.getElementById("r").addEventListener("load", function () {
  var frame = this;
  // Let anything the page scheduled (an injected handler, say) run first.
  setTimeout(function () {
    var out = {};
    try {
      var d = frame.contentDocument;
      var q = function (sel) { return d.querySelectorAll(sel); };
      out.title = d.title;
      out.scripts = q("script").length;
      // The page's own SVG is its charts, each in a figure.chart: any
      // other svg, and any element a chart should not hold, is injected.
      out.injected = q("img, svg, body style,  iframe, object, embed, a, link, base, form, pwned, [onerror], [onload], [onfocus], [onmouseover], [onclick]").length -
        q("figure.chart > svg").length;
      out.chartElements = [];
      q("figure.chart svg *").forEach(function (e) {
        if (out.chartElements.indexOf(e.localName) < 0) { out.chartElements.push(e.localName); }
      });
      out.charts = {};
      q("figure.chart").forEach(function (fig) {
        var svg = fig.querySelector("svg"), box = svg.getBoundingClientRect();
        var c = { width: box.width, height: box.height, bars: [] };
        svg.querySelectorAll("g.bar").forEach(function (g) {
          var bar = { label: g.querySelector("text.lbl").textContent, value: g.querySelector("text.val").textContent, segs: {}, drawn: 0 };
          g.querySelectorAll("rect.seg").forEach(function (r) {
            var k = r.getAttribute("data-class");
            bar.segs[k] = (bar.segs[k] || 0) + parseInt(r.getAttribute("data-n"), 10);
            if (r.getBBox().width > 0) { bar.drawn++; }
          });
          c.bars.push(bar);
        });
        out.charts[fig.id] = c;
      });
      // Wave 3 (find the v1 callers) holds every hostile name.
      var t = d.querySelector("#wave-3 table.filterable");
      var col = function (i) { return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[i].textContent; }); };
      out.ids = col(0);
      out.names = col(1);
      var th = t.tHead.rows[0].cells[0];
      th.click(); out.asc = col(0); out.ascDir = th.getAttribute("data-dir");
      th.click(); out.desc = col(0); out.descDir = th.getAttribute("data-dir");
      var f = d.getElementById("filter");
      var shown = function (text) {
        f.value = text;
        f.dispatchEvent(new Event("input"));
        return Array.prototype.filter.call(q("table.filterable tbody tr"), function (r) { return !r.hidden; })
          .map(function (r) { return r.cells[0].textContent; });
      };
      out.filterJapanese = shown("本番サ");
      out.filterWorkload = shown("本番-asg");
      out.filterScript = shown("<script>");
      out.filterNothing = shown("no-such-instance");
      out.filterCleared = shown("");

      // The workloads: first on the page, sorted by clicking, filtered by
      // their own box.
      var wt = d.getElementById("workload-table");
      out.workloadsFirst = !!(d.getElementById("workloads").compareDocumentPosition(d.getElementById("waves")) & Node.DOCUMENT_POSITION_FOLLOWING);
      var wnames = function () {
        return Array.prototype.filter.call(wt.tBodies[0].rows, function (r) { return !r.hidden; })
          .map(function (r) { return r.cells[0].firstChild.textContent; });
      };
      var wcol = function (i) { return Array.prototype.map.call(wt.tBodies[0].rows, function (r) { return r.cells[i].textContent; }); };
      out.workloads = wnames();
      var wth = wt.tHead.rows[0].cells[4]; // Instances
      wth.click(); out.wAsc = wcol(4); out.wAscDir = wth.getAttribute("data-dir");
      wth.click(); out.wDesc = wcol(4);
      // From the keyboard: Enter on a header sorts, and says so to a screen reader.
      var kth = wt.tHead.rows[0].cells[0];
      kth.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
      out.wKeySort = kth.getAttribute("aria-sort") + " " + kth.tabIndex + " " + wth.hasAttribute("aria-sort");
      var wf = d.getElementById("workload-filter");
      var wshown = function (text) { wf.value = text; wf.dispatchEvent(new Event("input")); return wnames(); };
      out.wFilterJapanese = wshown("本番");
      out.wFilterOwner = wshown("payments");
      out.wFilterNothing = wshown("no-such-workload");
      out.wFilterCleared = wshown("");
      // The instance filter leaves the workloads alone.
      shown("no-such-instance");
      out.wAfterInstanceFilter = wnames();
      shown("");
      out.sources = Array.prototype.map.call(q("#sources-fix tbody tr"), function (r) {
        return r.cells[0].firstChild.textContent + " | " + r.cells[0].querySelector(".sub").textContent;
      });
      // The accounts not scanned, in no unit, and the organization's
      // notes: each item as the reader sees it.
      var items = function (sel) { return Array.prototype.map.call(q(sel), function (li) { return li.textContent; }); };
      out.skipped = items("div.note:not(#org-notes) li");
      out.unplaced = items("#unplaced li");
      out.orgNotes = items("#org-notes li");
      out.titleAfter = d.title;
    } catch (e) {
      out.error = String(e);
    }
    document.getElementById("result").textContent = JSON.stringify(out);
  }, 500);
});
</script>
</body></html>
`

// browserChart is a chart as the browser drew it.
type browserChart struct {
	Width, Height float64
	Bars          []struct {
		Label, Value string
		Segs         map[string]int
		Drawn        int // segments with a width on the page
	}
}

// browserResult is what the wrapper page saw.
type browserResult struct {
	Title, TitleAfter      string
	Scripts, Injected      int
	ChartElements          []string
	Charts                 map[string]browserChart
	IDs, Names, Asc, Desc  []string
	AscDir, DescDir, Error string
	FilterJapanese         []string
	FilterWorkload         []string
	FilterScript           []string
	FilterNothing          []string
	FilterCleared          []string

	WorkloadsFirst                 bool
	Workloads, WAsc, WDesc         []string
	WAscDir, WKeySort              string
	WFilterJapanese, WFilterOwner  []string
	WFilterNothing, WFilterCleared []string
	WAfterInstanceFilter           []string
	Sources                        []string
	Skipped, Unplaced, OrgNotes    []string
}

// TestHTMLReportInBrowser: the scan's HTML report, with hostile names, in
// headless Chromium.
func TestHTMLReportInBrowser(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		t.Skip("chromium not on PATH: the HTML report is not checked in a browser (apt-get install chromium; .ci/run does)")
	}
	// A real scan of the simulated AWS with the hostile names.
	// Every hostile instance calls IMDSv1, each at its own rate, so that
	// their names are drawn in the top callers chart too; a second Region
	// holds one ready and one enforced instance.
	// They belong to three Auto Scaling groups, owned by two teams: web-asg
	// launches from a template version that allows IMDSv1 ($Default),
	// 本番-asg from one that requires v2 ($Latest), and a group with a
	// hostile name from a launch configuration that allows v1. So the
	// sources to fix are web-asg, the template's version 1, the group with
	// the hostile name and its launch configuration (and the account
	// defaults, which set nothing).
	groups := []string{"web-asg", "本番-asg", `<img src=x onerror="document.title='PWNED'">`}
	const ami, lt = "ami-0123456789abcdef0", "lt-0123456789abcdef0"
	launchOpts := func(tokens string) *fleet.LaunchMetadataOptions {
		return &fleet.LaunchMetadataOptions{HttpTokens: tokens}
	}
	east := fleet.Region{Name: "us-east-1",
		Images: []fleet.Image{{ID: ami, Name: "base", CreationDate: fleet.Rel(-90 * 24 * time.Hour)}},
		LaunchTemplates: []fleet.LaunchTemplate{{ID: lt, Name: "web-template", DefaultVersion: 1, CreateTime: fleet.Rel(-60 * 24 * time.Hour),
			Versions: []fleet.LaunchTemplateVersion{
				{Number: 1, ImageID: ami, MetadataOptions: launchOpts("optional"), CreateTime: fleet.Rel(-60 * 24 * time.Hour)},
				{Number: 2, ImageID: ami, MetadataOptions: launchOpts("required"), CreateTime: fleet.Rel(-50 * 24 * time.Hour)},
			}}},
		LaunchConfigurations: []fleet.LaunchConfiguration{{Name: "legacy-lc", ImageID: ami, MetadataOptions: launchOpts("optional"),
			CreatedTime: fleet.Rel(-400 * 24 * time.Hour)}},
		AutoScalingGroups: []fleet.AutoScalingGroup{
			{Name: groups[0], LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt, Version: fleet.VersionDefault}, CreatedTime: fleet.Rel(-60 * 24 * time.Hour)},
			{Name: groups[1], LaunchTemplate: &fleet.LaunchTemplateRef{ID: lt, Version: fleet.VersionLatest}, CreatedTime: fleet.Rel(-60 * 24 * time.Hour)},
			{Name: groups[2], LaunchConfigurationName: "legacy-lc", CreatedTime: fleet.Rel(-400 * 24 * time.Hour)},
		},
	}
	ids := map[string]string{} // id → exact name
	byKey := map[string]string{}
	for n, bn := range browserNames {
		id := remID("browser", n+1)
		ids[id], byKey[bn.key] = bn.name, id
		tags := map[string]string{"Name": bn.name, "team": "payments"}
		if n%len(groups) == 2 {
			tags["team"] = `<b>ops</b>`
		}
		east.Instances = append(east.Instances, fleet.Instance{ID: id, State: "running", LaunchTime: fleet.Rel(-40 * 24 * time.Hour),
			InstanceProfileArn: "arn:aws:iam::" + remAcct + ":instance-profile/web", ImageID: ami,
			AutoScalingGroup: groups[n%len(groups)], Tags: tags, MetadataOptions: optional(1),
			Usage: []fleet.UsageSegment{{Metric: fleet.MetricNoToken, From: fleet.Rel(-30 * 24 * time.Hour), To: fleet.Rel(0), PerHour: float64(n + 1)}}})
	}
	required := optional(2)
	required.HttpTokens = "required"
	west := []fleet.Instance{
		{ID: remID("west", 1), State: "running", LaunchTime: fleet.Rel(-40 * 24 * time.Hour), Tags: map[string]string{"Name": "calm"}, MetadataOptions: optional(2)},
		{ID: remID("west", 2), State: "running", LaunchTime: fleet.Rel(-40 * 24 * time.Hour), Tags: map[string]string{"Name": "done"}, MetadataOptions: required},
	}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, AccessKeyIDs: []string{remKey},
		Regions: []fleet.Region{east, {Name: "us-west-2", Instances: west}}}}}
	f.ApplyDefaults() // the groups' and templates' auto tags on their instances
	_, url := simtest.Start(t, f, sim.Options{Seed: 7})
	remEnv(t, url)
	dir := t.TempDir()
	if r := remCLI(t, context.Background(), "", false, "scan", "--regions", "us-east-1,us-west-2", "--retry-max-backoff", "50ms",
		"--output", filepath.Join(dir, "r.json"), "--output", filepath.Join(dir, "scan.html")); r.code != exitOK {
		t.Fatalf("scan exit %d", r.code)
	}
	// XML cannot carry ESC: the scan delivers U+FFFD for it. Put the exact
	// names back, as an edited report would, and write the page from it.
	rep, err := report.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rep.Instances {
		in := &rep.Instances[i]
		if name, ok := ids[in.InstanceID]; ok {
			in.Name, in.Tags["Name"] = name, name
		}
	}
	// Accounts the scan did not scan, accounts in no unit and the
	// organization's notes carry the same names (account names are their
	// owners' choice; a report may have been edited).
	rep.Organization = &report.Organization{ID: "o-aaaaaaaaaa", ManagementAccount: remAcct,
		Units: []report.OrgUnit{{ID: "r-aaaa", Name: "Root", Accounts: []string{remAcct}}}}
	for n, bn := range browserNames {
		id := fmt.Sprintf("9000000000%02d", n)
		rep.SkippedAccounts = append(rep.SkippedAccounts, report.SkippedAccount{Account: id, Name: bn.name, State: "SUSPENDED", Reason: "the account is SUSPENDED in the organization, not ACTIVE"})
		rep.Organization.Unplaced = append(rep.Organization.Unplaced, report.UnplacedAccount{ID: fmt.Sprintf("8000000000%02d", n), Name: bn.name, Reason: report.UnplacedReason})
		rep.Organization.Notes = append(rep.Organization.Notes, "note "+bn.key+": "+bn.name)
	}
	page := filepath.Join(dir, "report.html")
	if err := report.WriteFile(page, report.FormatHTML, rep); err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &pageServer{host: l.Addr().String(), pages: map[string][]byte{
		"/wrapper.html": []byte(wrapperPage),
		"/report.html":  mustRead(t, page),
		"/scan.html":    mustRead(t, filepath.Join(dir, "scan.html")),
	}}
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	origin := "http://" + srv.host

	// The wrapper, after the page's own script and anything injected ran.
	dom := runChromium(t, bin, srv.host, "--virtual-time-budget=10000", "--dump-dom", origin+"/wrapper.html")
	m := regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no result in the wrapper's DOM:\n%.2000s", dom)
	}
	var got browserResult
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &got); err != nil {
		t.Fatalf("wrapper result %.500q: %v", m[1], err)
	}
	if got.Error != "" {
		t.Fatalf("the wrapper could not drive the page: %s", got.Error)
	}

	t.Run("no injected script runs", func(t *testing.T) {
		for _, title := range []string{got.Title, got.TitleAfter} {
			if !strings.HasPrefix(title, "IMDS migration plan") {
				t.Errorf("page title %q: an injected script changed it", title)
			}
		}
		if got.Scripts != 1 {
			t.Errorf("%d script elements, want the page's own one", got.Scripts)
		}
		if got.Injected != 0 {
			t.Errorf("%d elements a payload would create (img, svg, a, pwned, body styles, event handlers), want none", got.Injected)
		}
		chartOwn := []string{"title", "desc", "defs", "pattern", "rect", "circle", "g", "text"}
		for _, e := range got.ChartElements {
			if !slices.Contains(chartOwn, e) {
				t.Errorf("a chart holds a <%s> element: a name broke out of its label", e)
			}
		}
	})

	t.Run("accounts not scanned, in no unit, and notes shown as text", func(t *testing.T) {
		for _, list := range []struct {
			what, prefix string
			got          []string
		}{{"skipped", "9000000000", got.Skipped}, {"unplaced", "8000000000", got.Unplaced}, {"notes", "note ", got.OrgNotes}} {
			if len(list.got) != len(browserNames) {
				t.Errorf("%s: %d items shown, want %d: %q", list.what, len(list.got), len(browserNames), list.got)
				continue
			}
			for n, bn := range browserNames {
				item := list.got[n]
				// The name as text, escaped where it must be: its
				// first runes as report.Sanitize writes them.
				head := []rune(report.Sanitize(bn.name))
				head = head[:min(len(head), 8)]
				if !strings.Contains(item, string(head)) {
					t.Errorf("%s item %d %q does not show the name %q as text", list.what, n, item, string(head))
				}
				if strings.ContainsAny(item, "\x1b\x07\u202e") {
					t.Errorf("%s item %d %q carries a raw control or bidi character", list.what, n, item)
				}
			}
		}
		if len(got.Unplaced) > 0 && !strings.Contains(got.Unplaced[0], "800000000000: ") {
			t.Errorf("unplaced item %q does not start with the account", got.Unplaced[0])
		}
	})

	t.Run("charts drawn from the report", func(t *testing.T) {
		// Classification by Region: one bar per Region, each segment the
		// report's count of that classification there, drawn.
		region, ok := got.Charts["chart-region"]
		if !ok || region.Width == 0 || region.Height == 0 {
			t.Fatalf("Region chart missing or not drawn: %+v", region)
		}
		want := map[string]map[string]int{}
		for _, in := range rep.Instances {
			if want[in.Region] == nil {
				want[in.Region] = map[string]int{}
			}
			want[in.Region][in.Classification]++
		}
		gotRegions := map[string]map[string]int{}
		for _, b := range region.Bars {
			gotRegions[b.Label] = b.Segs
			if b.Drawn != len(b.Segs) {
				t.Errorf("Region %s: %d of %d segments have a width", b.Label, b.Drawn, len(b.Segs))
			}
		}
		if fmt.Sprint(gotRegions) != fmt.Sprint(want) {
			t.Errorf("Region chart %v, want %v", gotRegions, want)
		}
		// Top v1 callers: the ten instances with the most calls, most
		// first, each labelled with its id and showing its count.
		callers, ok := got.Charts["chart-callers"]
		if !ok || callers.Width == 0 {
			t.Fatalf("callers chart missing or not drawn: %+v", callers)
		}
		byCalls := slices.Clone(rep.Instances)
		slices.SortStableFunc(byCalls, func(a, b report.Instance) int { return cmp.Compare(b.Usage.NoTokenCalls, a.Usage.NoTokenCalls) })
		if len(callers.Bars) != 10 {
			t.Fatalf("%d caller bars, want 10", len(callers.Bars))
		}
		for i, b := range callers.Bars {
			in := byCalls[i]
			if !strings.HasPrefix(b.Label, in.InstanceID) || b.Value != report.FormatCount(in.Usage.NoTokenCalls) || b.Drawn != 1 {
				t.Errorf("caller %d: %q = %s (drawn %d), want %s = %s", i+1, b.Label, b.Value, b.Drawn, in.InstanceID, report.FormatCount(in.Usage.NoTokenCalls))
			}
		}
	})

	t.Run("names show as text", func(t *testing.T) {
		shown := map[string]string{}
		for i, id := range got.IDs {
			if i < len(got.Names) {
				shown[id] = got.Names[i]
			}
		}
		want := map[string]string{
			"script":   browserNames[0].name,
			"img":      browserNames[1].name,
			"attr":     browserNames[2].name,
			"esc":      `\x1b[31mRED\x1b[0m\x1b]0;title\x07`,
			"rlo":      `invoice\u202egpj.exe`,
			"japanese": "本番サーバー",
			"emoji":    "🚀デプロイ👍🏽",
			"tags":     `web\U000e0068\U000e0069`,
			"plain":    "web-1",
		}
		for key, w := range want {
			if s := shown[byKey[key]]; s != w {
				t.Errorf("%s name shown as %q, want %q", key, s, w)
			}
		}
		long := shown[byKey["long"]]
		if !strings.HasSuffix(long, "…") || report.DisplayWidth(long) > 256 {
			t.Errorf("long name shown as %d columns (%.30q…), want it capped with …", report.DisplayWidth(long), long)
		}
		for id, s := range shown {
			if strings.ContainsAny(s, "\x1b\x07\u202e") {
				t.Errorf("%s shown with a raw control or bidi character: %q", id, s)
			}
		}
	})

	t.Run("workloads", func(t *testing.T) {
		if !got.WorkloadsFirst {
			t.Error("the workloads do not come before the waves")
		}
		// Every workload of the report, in the table.
		var names []string
		for _, w := range rep.Workloads {
			names = append(names, w.Name)
		}
		shown := slices.Sorted(slices.Values(got.Workloads))
		if slices.Sort(names); !slices.Equal(shown, names) {
			t.Errorf("workload table shows %q, want %q", shown, names)
		}
		if !slices.Contains(got.Workloads, groups[2]) {
			t.Errorf("the hostile group name is not shown as text: %q", got.Workloads)
		}
		// Sorted by a number column, both ways.
		nums := func(col []string) []int {
			var out []int
			for _, c := range col {
				n, _ := strconv.Atoi(c)
				out = append(out, n)
			}
			return out
		}
		if asc := nums(got.WAsc); got.WAscDir != "asc" || !slices.IsSorted(asc) || len(asc) != len(names) {
			t.Errorf("Instances ascending: dir %q, %v", got.WAscDir, got.WAsc)
		}
		if got.WKeySort != "ascending 0 false" {
			t.Errorf("Enter on the Workload header: aria-sort, tabIndex, other header sorted = %q, want \"ascending 0 false\"", got.WKeySort)
		}
		desc := nums(got.WDesc)
		slices.Reverse(desc)
		if !slices.IsSorted(desc) {
			t.Errorf("Instances descending: %v", got.WDesc)
		}
		// Filtered by name and by owner; the instance filter leaves them be.
		if w := []string{"本番-asg"}; !slices.Equal(got.WFilterJapanese, w) {
			t.Errorf("workload filter 本番 shows %q, want %q", got.WFilterJapanese, w)
		}
		if w := []string{"web-asg", "本番-asg"}; !slices.Equal(slices.Sorted(slices.Values(got.WFilterOwner)), w) {
			t.Errorf("workload filter payments shows %q, want %q", got.WFilterOwner, w)
		}
		if len(got.WFilterNothing) != 0 || len(got.WFilterCleared) != len(names) || len(got.WAfterInstanceFilter) != len(names) {
			t.Errorf("workload filter: nothing %q, cleared %q, after the instance filter %q", got.WFilterNothing, got.WFilterCleared, got.WAfterInstanceFilter)
		}
		// The chart: a bar per workload with its counts.
		chart, ok := got.Charts["chart-workload"]
		if !ok || chart.Width == 0 || len(chart.Bars) != len(rep.Workloads) {
			t.Fatalf("workload chart: %+v, want %d bars", chart, len(rep.Workloads))
		}
		want := map[string]string{}
		for _, w := range rep.Workloads {
			m := map[string]int{}
			for k, n := range w.ByClassification {
				if n > 0 {
					m[k] = n
				}
			}
			want[fmt.Sprint(w.Instances, m)] = w.Name
		}
		for _, b := range chart.Bars {
			total := 0
			for _, n := range b.Segs {
				total += n
			}
			if _, ok := want[fmt.Sprint(total, b.Segs)]; !ok || b.Drawn != len(b.Segs) {
				t.Errorf("workload bar %q: %v (drawn %d), matches no workload of the report %v", b.Label, b.Segs, b.Drawn, want)
			}
		}
	})

	t.Run("sources to fix", func(t *testing.T) {
		// Every source the report says to fix, by kind, and only those:
		// the group web-asg and its template's version 1, the group with
		// the hostile name and its launch configuration, the account
		// defaults of both Regions (they set nothing).
		if rep.ScanOptions == nil || !rep.ScanOptions.LaunchSources {
			t.Fatal("the scan did not read launch sources (scanOptions.launchSources false): the page has no sources to fix to check")
		}
		var want []string
		for _, s := range rep.LaunchSources {
			if s.ToFix() {
				want = append(want, s.Kind)
			}
		}
		slices.Sort(want)
		var kinds []string
		hostile := false
		for _, row := range got.Sources {
			name, kind, _ := strings.Cut(row, " | ")
			kinds = append(kinds, kind)
			hostile = hostile || name == groups[2]
		}
		slices.Sort(kinds)
		if w := []string{"account-default", "account-default", "auto-scaling-group", "auto-scaling-group", "launch-configuration", "launch-template"}; !slices.Equal(want, w) || !slices.Equal(kinds, w) {
			t.Errorf("sources to fix shown %q, in the report %q, want %q", got.Sources, want, w)
		}
		if !hostile {
			t.Errorf("the group with the hostile name is not among the sources to fix as text: %q", got.Sources)
		}
	})

	t.Run("sort and filter work", func(t *testing.T) {
		want := slices.Clone(got.IDs)
		sort.Strings(want)
		if got.AscDir != "asc" || !slices.Equal(got.Asc, want) {
			t.Errorf("first click on Instance: dir %q, order %v; want asc, %v", got.AscDir, got.Asc, want)
		}
		slices.Reverse(want)
		if got.DescDir != "desc" || !slices.Equal(got.Desc, want) {
			t.Errorf("second click on Instance: dir %q, order %v; want desc, %v", got.DescDir, got.Desc, want)
		}
		if w := []string{byKey["japanese"]}; !slices.Equal(got.FilterJapanese, w) {
			t.Errorf("filter 本番サ shows %v, want %v", got.FilterJapanese, w)
		}
		// The wave tables name each instance's workload: filtering on it
		// shows that workload's instances.
		var inGroup []string
		for _, in := range rep.Instances {
			if in.Tags["aws:autoscaling:groupName"] == "本番-asg" {
				inGroup = append(inGroup, in.InstanceID)
			}
		}
		if shown := slices.Sorted(slices.Values(got.FilterWorkload)); len(inGroup) == 0 || !slices.Equal(shown, inGroup) {
			t.Errorf("filter 本番-asg shows %v, want the group's instances %v", shown, inGroup)
		}
		if w := []string{byKey["script"]}; !slices.Equal(got.FilterScript, w) {
			t.Errorf("filter <script> shows %v, want %v", got.FilterScript, w)
		}
		if len(got.FilterNothing) != 0 {
			t.Errorf("a filter matching nothing shows %v", got.FilterNothing)
		}
		if len(got.FilterCleared) != len(rep.Instances) {
			t.Errorf("a cleared filter shows %d rows, want %d", len(got.FilterCleared), len(rep.Instances))
		}
	})

	// A screenshot of each page, as a person would see it: kept in
	// $IMDSFLEET_SCREENSHOT_DIR when set, for a look.
	shotDir := os.Getenv("IMDSFLEET_SCREENSHOT_DIR")
	if shotDir == "" {
		shotDir = t.TempDir()
	}
	for _, name := range []string{"report", "scan"} {
		shot := filepath.Join(shotDir, name+".png")
		runChromium(t, bin, srv.host, "--virtual-time-budget=5000", "--hide-scrollbars", "--window-size=1400,1600",
			"--screenshot="+shot, origin+"/"+name+".html")
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 10<<10 {
			t.Errorf("screenshot of %s.html: %v (want a rendered page)", name, err)
		} else {
			t.Logf("screenshot: %s", shot)
		}
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.foreign) > 0 {
		t.Errorf("the page made requests of its own (it must be self-contained): %s", strings.Join(srv.foreign, ", "))
	}
	if want := fmt.Sprint([]string{"/wrapper.html", "/report.html", "/report.html", "/scan.html"}); fmt.Sprint(srv.served) != want {
		t.Errorf("served %v, want %s: each page fetched once, nothing else", srv.served, want)
	}
}
