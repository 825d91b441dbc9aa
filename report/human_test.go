package report_test

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imdsfleet/imdsfleet/internal/launch"
	"github.com/imdsfleet/imdsfleet/report"
)

// bigFleet is a report of n v1-in-use instances (call counts 1..n) plus one
// ready instance, for the row caps.
func bigFleet(n int) *report.Report {
	r := &report.Report{SchemaVersion: 1, Targets: []report.Target{{Account: "1", Region: "r", Status: report.TargetOK}}}
	for i := 1; i <= n; i++ {
		r.Instances = append(r.Instances, report.Instance{
			Account: "1", Region: "r", InstanceID: fmt.Sprintf("i-%04d", i), Name: "n",
			MetadataOptions: report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 2},
			Usage:           report.Usage{Status: report.UsageComplete, NoTokenCalls: float64(i), DaysWithCalls: 1, Datapoints: 14},
			Classification:  report.ClassV1InUse,
			Recommendation:  strings.Repeat("word ", 40),
		})
	}
	r.Instances = append(r.Instances, report.Instance{Account: "1", Region: "r", InstanceID: "i-ready", Classification: report.ClassReady})
	report.Normalize(r)
	return r
}

func render(t *testing.T, format string, r *report.Report, opts report.TableOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, format, r, opts); err != nil {
		t.Fatalf("Write(%s): %v", format, err)
	}
	return buf.String()
}

// mdCells splits a Markdown table row on its unescaped pipes.
func mdCells(line string) []string {
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line):
			cur.WriteByte(line[i])
			cur.WriteByte(line[i+1])
			i++
		case line[i] == '|':
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, cur.String())
}

// TestMarkdownTablesHold: every row of every table has as many cells as its
// header, whatever the instance names contain (pipes, newlines, HTML).
func TestMarkdownTablesHold(t *testing.T) {
	md := render(t, report.FormatMarkdown, normalized(t), report.TableOptions{})
	// The workloads and sources to fix hold as well.
	md += "\n" + render(t, report.FormatMarkdown, launchFixture(t), report.TableOptions{})
	want := 0
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = 0
			continue
		}
		n := len(mdCells(line))
		if want == 0 {
			want = n
		}
		if n != want {
			t.Errorf("line %d has %d cells, its table %d:\n%s", i+1, n, want, line)
		}
	}
	for _, bad := range []string{"<b>", "<script", "\n-2+3 second"} {
		if strings.Contains(md, bad) {
			t.Errorf("Markdown contains unescaped %q", bad)
		}
	}
	for _, want := range []string{
		"❌ error | 0 | describe instances in eu-west-1",
		"| `ready` | 2 |", "| `role-exposed` | 3 |",
		"## v1-in-use (2)", "## no-data (2)", "## other instances with risks (2)",
		"usage error: AccessDenied",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

func TestMarkdownCapsRows(t *testing.T) {
	md := render(t, report.FormatMarkdown, bigFleet(75), report.TableOptions{})
	if !strings.Contains(md, "… and 25 more (see the JSON/CSV report)") {
		t.Errorf("no cap line:\n%s", md)
	}
	rows := regexp.MustCompile(`(?m)^\| i-\d{4} `).FindAllString(md, -1)
	if len(rows) != 50 {
		t.Errorf("%d instance rows, want 50", len(rows))
	}
	// Heaviest v1 users first.
	if !strings.Contains(md, "| i-0075 |") || strings.Contains(md, "| i-0001 |") {
		t.Error("the rows shown are not the 50 with the most v1 calls")
	}
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestTable(t *testing.T) {
	r := normalized(t)
	r.Instances[0].Name = "evil\x1b[2Jname" // must not reach the terminal as an escape
	plain := render(t, report.FormatTable, r, report.TableOptions{})

	t.Run("colour does not move anything", func(t *testing.T) {
		colour := render(t, report.FormatTable, r, report.TableOptions{Color: true})
		if !strings.Contains(colour, "\x1b[31mv1-in-use\x1b[0m") {
			t.Fatal("no colour in the coloured table")
		}
		if got := ansiRE.ReplaceAllString(colour, ""); got != plain {
			t.Errorf("coloured table without its colours differs from the plain one:\n%s", firstDiff(plain, got))
		}
		if strings.Contains(plain, "\x1b") {
			t.Error("plain table has escape codes")
		}
	})

	t.Run("width", func(t *testing.T) {
		for _, width := range []int{60, 100, 140} {
			for _, c := range []bool{false, true} {
				out := render(t, report.FormatTable, r, report.TableOptions{Width: width, Color: c})
				for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
					if w := displayWidth(ansiRE.ReplaceAllString(line, "")); w > width {
						t.Errorf("width %d colour %v: line of %d columns:\n%s", width, c, w, line)
					}
				}
			}
		}
		out := render(t, report.FormatTable, r, report.TableOptions{Width: 200})
		if !strings.Contains(out, "Raise the hop limit to 2 first") || !strings.Contains(out, "…") {
			t.Errorf("width 200: recommendation missing or nothing cut:\n%s", out)
		}
	})

	t.Run("attention list", func(t *testing.T) {
		for _, want := range []string{
			"NEEDS ATTENTION: 6 instances",
			"i-0a00000000000v1eks", "i-0e00000000000stopped", "i-0f00000000000uerr", "i-1000000000000enf", "i-0d00000000000ready2",
			"0 (17 rejected)", "error 111111111111/eu-west-1: describe instances",
		} {
			if !strings.Contains(plain, want) {
				t.Errorf("table lacks %q", want)
			}
		}
		for _, absent := range []string{"i-0c00000000000ready ", "i-1100000000000dis", "i-1200000000000html"} {
			if strings.Contains(plain, absent) {
				t.Errorf("table lists %q, which needs no attention", absent)
			}
		}
	})

	t.Run("unicode names keep the columns aligned", func(t *testing.T) {
		var starts []int
		for _, line := range strings.Split(plain, "\n") {
			if strings.HasPrefix(line, "i-") || strings.HasPrefix(line, "INSTANCE") {
				i := strings.Index(line, "optional")
				if i < 0 {
					i = strings.Index(line, "required")
				}
				if i < 0 {
					i = strings.Index(line, "TOKENS")
				}
				starts = append(starts, displayWidth(line[:i]))
			}
		}
		for _, s := range starts {
			if s != starts[0] {
				t.Fatalf("the TOKENS column starts at different columns: %v", starts)
			}
		}
	})

	t.Run("max rows", func(t *testing.T) {
		out := render(t, report.FormatTable, bigFleet(30), report.TableOptions{MaxRows: 10})
		if n := len(regexp.MustCompile(`(?m)^i-\d{4} `).FindAllString(out, -1)); n != 10 {
			t.Errorf("%d rows, want 10", n)
		}
		if !strings.Contains(out, "… and 20 more") || !strings.Contains(out, "i-0030") || strings.Contains(out, "i-0020 ") {
			t.Errorf("wrong rows or no cap line:\n%s", out)
		}
	})
}

// displayWidth mirrors the table's rule for wide characters, for the
// characters the fixture uses.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x3000 && r <= 0x9fff {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func TestHTML(t *testing.T) {
	page := render(t, report.FormatHTML, normalized(t), report.TableOptions{})

	t.Run("self-contained", func(t *testing.T) {
		// url(#id) names a fill pattern of the page's own charts; any
		// other url( would load something.
		for _, re := range []string{`(?i)<(script|img|link|iframe)[^>]+src=`, `(?i)<link`, `(?i)url\(\s*['"]?[^#'"\s]`, `(?i)@import`, `(?i)(href|src)="?(https?:)?//`} {
			if m := regexp.MustCompile(re).FindString(page); m != "" {
				t.Errorf("page loads something from outside: %q", m)
			}
		}
		if !strings.Contains(page, `http-equiv="Content-Security-Policy" content="default-src 'none'`) {
			t.Error("no Content-Security-Policy")
		}
	})

	t.Run("escaped", func(t *testing.T) {
		if strings.Contains(page, `<script>alert`) || strings.Contains(page, "<b>bold") {
			t.Error("instance text reached the page unescaped")
		}
		if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;q&#39;") {
			t.Error("escaped name not found")
		}
	})

	t.Run("waves", func(t *testing.T) {
		// Each wave section holds exactly its instances.
		want := map[string][]string{
			"wave-1":      {"i-0c00000000000ready", "i-0d00000000000ready2"},
			"wave-2":      {"i-0a00000000000v1eks"},
			"wave-3":      {"i-0b00000000000formula"},
			"wave-4":      {"i-0e00000000000stopped", "i-0f00000000000uerr"},
			"done":        {"i-1000000000000enf", "i-1200000000000html"},
			"leave-alone": {"i-1100000000000dis"},
		}
		ids := regexp.MustCompile(`<td class="id">([^<]+)</td>`)
		for id, instances := range want {
			start := strings.Index(page, `id="`+id+`"`)
			if start < 0 {
				t.Errorf("no section %s", id)
				continue
			}
			end := start + strings.Index(page[start:], "</details>")
			var got []string
			for _, m := range ids.FindAllStringSubmatch(page[start:end], -1) {
				got = append(got, m[1])
			}
			if strings.Join(got, " ") != strings.Join(instances, " ") {
				t.Errorf("%s lists %v, want %v", id, got, instances)
			}
			if !strings.Contains(page[start:end], fmt.Sprintf(`<span class="count">(%d)</span>`, len(instances))) {
				t.Errorf("%s: count %d not shown", id, len(instances))
			}
		}
	})

	t.Run("failed target and regions", func(t *testing.T) {
		for _, want := range []string{
			"1 target(s) failed", "111111111111 / eu-west-1: describe instances in eu-west-1",
			`<td class="nw">ap-southeast-2</td><td><span class="tag ok">ok</span></td>`,
			`<td class="nw">eu-west-1</td><td><span class="tag error">error</span></td>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})

	t.Run("row cap", func(t *testing.T) {
		page := render(t, report.FormatHTML, bigFleet(2005), report.TableOptions{})
		if !strings.Contains(page, "… and 5 more (see the JSON/CSV report).") {
			t.Error("no cap line")
		}
	})
}

// TestEmptyReport: a scan that found nothing (or a zero Report) renders in
// every format without error, and says so.
func TestEmptyReport(t *testing.T) {
	for _, r := range []*report.Report{{}, emptyNormalized()} {
		for _, format := range report.Formats() {
			out := render(t, format, r, report.TableOptions{Width: 80, Color: true, MaxRows: 5})
			if out == "" {
				t.Errorf("%s: empty output", format)
			}
		}
	}
	if out := render(t, report.FormatTable, emptyNormalized(), report.TableOptions{}); !strings.Contains(out, "No instance needs attention.") {
		t.Errorf("table of an empty report:\n%s", out)
	}
}

// TestHostileNamesEveryFormat renders a report whose names hold what an
// attacker with ec2:CreateTags (or a report editor) would put there, in
// every format: the human ones show it escaped and bounded, CSV guards
// it, JSON keeps it exactly.
func TestHostileNamesEveryFormat(t *testing.T) {
	names := []string{
		"\x1b[31mRED\x1b[0m\x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
		"web\nSUMMARY: forged\r\n| forged | row |",
		"invoice\u202egpj.exe\u2066",
		"=cmd|' /C calc'!A0",
		strings.Repeat("A", 10<<20),
		"本番サーバー",
		"see http://evil.example www.evil.example me@evil.example",
	}
	r := &report.Report{SchemaVersion: report.SchemaVersion, Targets: []report.Target{{Account: "1", Region: "r", Status: report.TargetOK}}}
	// The names are also group, launch configuration and owner names, so
	// that the workloads and the sources to fix show them too.
	inv := &launch.Inventory{Account: "1", Region: "r", Defaults: &launch.AccountDefaults{}}
	for i, n := range names {
		inv.Groups = append(inv.Groups, launch.Group{Name: n, LaunchConfigurationName: n})
		inv.LaunchConfigs = append(inv.LaunchConfigs, launch.LaunchConfig{Name: n, ImageID: "ami-1"})
		r.Instances = append(r.Instances, report.Instance{
			Account: "1", Region: "r", InstanceID: "i-" + strings.Repeat("0", i+1), Name: n,
			Tags:            map[string]string{"Name": n, launch.TagAutoScalingGroup: n, "owner": n},
			MetadataOptions: report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1},
			Usage:           report.Usage{Status: report.UsageComplete, NoTokenCalls: 5, DaysWithCalls: 1, Datapoints: 14},
			Classification:  report.ClassV1InUse,
		})
	}
	inv.Images = []launch.Image{{ID: "ami-1"}}
	res := launch.Resolve(inv, r.Instances)
	r.LaunchSources = res.Sources
	r.Workloads = launch.Workloads(r, launch.WorkloadOptions{})
	report.Normalize(r)
	if len(r.Workloads) != len(names) || len(r.LaunchSources) != 2*len(names)+1 {
		t.Fatalf("test setup: %d workloads, %d sources", len(r.Workloads), len(r.LaunchSources))
	}
	for _, c := range []struct {
		format string
		opts   report.TableOptions
	}{
		{report.FormatTable, report.TableOptions{}},
		{report.FormatTable, report.TableOptions{Width: 100, Color: true}},
		{report.FormatMarkdown, report.TableOptions{}},
		{report.FormatHTML, report.TableOptions{}},
	} {
		out := ansiRE.ReplaceAllString(render(t, c.format, r, c.opts), "")
		if len(out) > 128<<10 {
			t.Errorf("%s: %d bytes for 7 instances", c.format, len(out))
		}
		for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e", "\u2066"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s %+v: raw %q in the output", c.format, c.opts, bad)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "SUMMARY") || strings.HasPrefix(line, "| forged") {
				t.Errorf("%s: a name forged a line: %q", c.format, line)
			}
		}
	}
	// CSV and JSON keep the data: checked without the 10 MB name, which
	// costs seconds under -race and is covered by the commands' tests.
	r.Instances = slices.DeleteFunc(r.Instances, func(in report.Instance) bool { return len(in.Name) > 1<<20 })
	r.LaunchSources, r.Workloads = nil, nil
	for i := range r.Instances {
		r.Instances[i].LaunchSource, r.Instances[i].NextLaunch, r.Instances[i].Workload = nil, nil, ""
	}
	// CSV: guarded, otherwise exact.
	csvOut := render(t, report.FormatCSV, r, report.TableOptions{})
	if !strings.Contains(csvOut, `'=cmd|' /C calc'!A0`) || strings.Contains(csvOut, ",=cmd") {
		t.Error("CSV: the formula name is not guarded")
	}
	// JSON: exact.
	back, err := report.Read(strings.NewReader(render(t, report.FormatJSON, r, report.TableOptions{})))
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range back.Instances {
		if in.Name != r.Instances[i].Name {
			t.Errorf("JSON round trip changed name %d: %.40q", i, in.Name)
		}
	}
}
