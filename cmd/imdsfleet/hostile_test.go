package main

// Hostile names: anyone allowed ec2:CreateTags chooses the Name tag, and
// anyone who can edit a report chooses ids. These tests give the simulated
// fleet such names, run scan, remediate and rollback in-process the way a
// user does, and check every output: the human ones (tables, Markdown,
// HTML) show the names escaped, bounded and aligned; CSV guards formulas;
// JSON keeps the exact data.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/simtest"
	"github.com/imdsfleet/imdsfleet/remediate"
	"github.com/imdsfleet/imdsfleet/report"
)

// hostileNames are the Name tags of the hostile fleet, by what they try.
func hostileNames() map[string]string {
	return map[string]string{
		"ansi":     "\x1b[31mRED\x1b[0m\x1b[2J",
		"forged":   "web\nSUMMARY: planned 0, changed 999, would change 0, denied 0, failed 0, skipped 0",
		"rlo":      "invoice\u202egpj.exe",
		"formula":  "=cmd|' /C calc'!A0",
		"huge":     strings.Repeat("A", 10<<20),
		"japanese": "本番サーバー",
		"emoji":    "🚀デプロイ👍🏽",
		"links":    "see http://evil.example www.evil.example me@evil.example",
		"plain":    "web-1",
	}
}

// hostileForged is a line no output may contain as a line of its own.
const hostileForged = "SUMMARY: planned 0, changed 999"

// checkHuman checks a human output: no raw control or bidi character, no
// forged line, a bounded size, and the names shown (ansi is how the ANSI
// name is expected to look; form turns an expected text into the output's
// own escaping, nil for none).
func checkHuman(t *testing.T, what, out string, maxBytes int, ansi string, form func(string) string) {
	t.Helper()
	if len(out) > maxBytes {
		t.Errorf("%s: %d bytes, want at most %d (a 10 MB name must not flood it)", what, len(out), maxBytes)
	}
	for _, bad := range []string{"\x1b", "\u202e", "\r"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s: contains a raw %q", what, bad)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), hostileForged) {
			t.Errorf("%s: a name forged a line: %q", what, line)
		}
	}
	for _, want := range []string{ansi, `\u202e`, "本番サーバー", "🚀デプロイ👍🏽", "AAAA…", `web\nSUMMARY`} {
		if form != nil {
			want = form(want)
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: lacks %q", what, want)
		}
	}
}

// columnStarts returns, for each line holding one of the names, the
// display column where marker starts: equal columns mean aligned tables.
func columnStarts(out, marker string, names []string) map[string]int {
	starts := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		for _, n := range names {
			if i := strings.Index(line, marker); i >= 0 && strings.Contains(line, n) {
				starts[n] = report.DisplayWidth(line[:i])
			}
		}
	}
	return starts
}

func checkAligned(t *testing.T, what, out, marker, ansi string) {
	t.Helper()
	starts := columnStarts(out, " "+marker, []string{"本番サーバー", "🚀デプロイ👍🏽", "web-1", ansi, `invoice\u202egpj`})
	if len(starts) != 5 {
		t.Fatalf("%s: found %d of the 5 rows: %v\n%s", what, len(starts), starts, out)
	}
	first := -1
	for n, s := range starts {
		if first < 0 {
			first = s
		}
		if s != first {
			t.Errorf("%s: column %q starts at %v: not aligned (row %q)", what, marker, starts, n)
			break
		}
	}
}

// checkCSV parses a CSV output and checks that no cell, nor any part of a
// cell after a separator, starts with a formula character; it returns the
// rows.
func checkCSV(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, row := range rows[1:] {
		for _, c := range row {
			for _, part := range strings.FieldsFunc(c, func(r rune) bool { return strings.ContainsRune(",;\t\r\n\"", r) }) {
				if part != "" && strings.ContainsRune("=+-@", rune(part[0])) && c[0] != '\'' {
					t.Errorf("%s: cell %.60q has a formula part %.30q", path, c, part)
				}
			}
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("%s: cell %.60q starts with a formula character", path, c)
			}
		}
	}
	return rows
}

// TestHostileNames runs scan (every format), remediate (plan and result
// tables, --output csv/json, --plan-out) and rollback on a fleet whose
// Name tags hold ANSI escapes, a newline and a forged SUMMARY line, a
// right-to-left override, a spreadsheet formula, 10 MB, Japanese, emoji and
// bare links.
func TestHostileNames(t *testing.T) {
	names := hostileNames()
	var insts []fleet.Instance
	ids := map[string]string{} // id → name
	n := 0
	for _, key := range []string{"ansi", "forged", "rlo", "formula", "huge", "japanese", "emoji", "links", "plain"} {
		n++
		id := remID("hostile", n)
		ids[id] = names[key]
		insts = append(insts, fleet.Instance{ID: id, State: "running", LaunchTime: fleet.Rel(-40 * 24 * time.Hour),
			// An instance profile makes it role-exposed, so the tables list it.
			InstanceProfileArn: "arn:aws:iam::" + remAcct + ":instance-profile/web",
			Tags:               map[string]string{"Name": names[key]}, MetadataOptions: optional(1)})
	}
	f := &fleet.Fleet{Accounts: []fleet.Account{{ID: remAcct, AccessKeyIDs: []string{remKey},
		Regions: []fleet.Region{{Name: "us-east-1", Instances: insts}}}}}
	_, url := simtest.Start(t, f, sim.Options{Seed: 5})
	remEnv(t, url)
	dir := t.TempDir()
	out := func(name string) string { return filepath.Join(dir, name) }

	// scan, every format.
	r := remCLI(t, context.Background(), "", false, "scan", "--regions", "us-east-1", "--retry-max-backoff", "50ms",
		"--output", out("r.json"), "--output", out("r.csv"), "--output", out("r.md"), "--output", out("r.html"), "--output", out("r.txt"))
	if r.code != exitOK {
		t.Fatalf("scan exit %d", r.code)
	}
	const humanMax = 256 << 10 // nine instances: a few KiB each at most
	// XML 1.0 cannot carry ESC: DescribeInstances delivers U+FFFD in its
	// place (the sim as AWS would), so the scan's outputs show that; the
	// ESC itself reaches remediate through an edited report, below, and the
	// report package's tests render it in every format.
	const scanANSI = "\uFFFD[31mRED"
	delivered := func(name string) string { return strings.ReplaceAll(name, "\x1b", "\uFFFD") }
	t.Run("scan table", func(t *testing.T) {
		checkHuman(t, "stdout table", r.stdout, humanMax, scanANSI, nil)
		checkAligned(t, "stdout table", r.stdout, "us-east-1", scanANSI)
		txt := string(mustRead(t, out("r.txt")))
		checkHuman(t, "report.txt", txt, humanMax, scanANSI, nil)
	})
	t.Run("scan markdown", func(t *testing.T) {
		md := string(mustRead(t, out("r.md")))
		checkHuman(t, "report.md", md, humanMax, scanANSI, strings.NewReplacer(`\`, `\\`, "[", `\[`).Replace)
		for _, want := range []string{`http\://evil.example`, `www\.evil.example`, "me`@`evil.example"} {
			if !strings.Contains(md, want) {
				t.Errorf("report.md lacks %q: a link would be made", want)
			}
		}
		// A real GitHub-flavoured renderer, when there is one: no link.
		if bin, err := exec.LookPath("cmark-gfm"); err == nil {
			cmd := exec.Command(bin, "-e", "table", "-e", "autolink")
			cmd.Stdin = strings.NewReader(md)
			html, err := cmd.Output()
			if err != nil {
				t.Fatalf("cmark-gfm: %v", err)
			}
			if bytes.Contains(html, []byte("<a ")) {
				t.Errorf("cmark-gfm made a link of a name:\n%s", html)
			}
		} else {
			t.Log("cmark-gfm not on PATH: the rendering check is skipped (apt-get install cmark-gfm)")
		}
	})
	t.Run("scan html", func(t *testing.T) {
		page := string(mustRead(t, out("r.html")))
		checkHuman(t, "report.html", page, humanMax+64<<10, scanANSI, nil)
		if strings.Contains(page, "href=") {
			t.Error("report.html has a link")
		}
	})
	t.Run("scan csv", func(t *testing.T) {
		rows := checkCSV(t, out("r.csv"))
		got := map[string]string{}
		for _, row := range rows[1:] {
			got[row[2]] = row[3]
		}
		for id, name := range ids {
			want := report.CSVCell(delivered(name))
			if got[id] != want {
				t.Errorf("csv name of %s: %.40q (%d bytes), want %.40q (%d bytes)", id, got[id], len(got[id]), want, len(want))
			}
		}
		if got[remID("hostile", 4)] != "'=cmd|' /C calc'!A0" {
			t.Errorf("formula name written as %q", got[remID("hostile", 4)])
		}
	})
	t.Run("scan json keeps the exact names", func(t *testing.T) {
		rep, err := report.ReadFile(out("r.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range rep.Instances {
			if in.Name != delivered(ids[in.InstanceID]) {
				t.Errorf("json name of %s: %.40q (%d bytes), want the exact tag (%d bytes)", in.InstanceID, in.Name, len(in.Name), len(ids[in.InstanceID]))
			}
		}
	})

	// remediate: the report edited to hold the exact names (ESC included);
	// a dry run with every output, then live, then rollback.
	rep, err := report.ReadFile(out("r.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rep.Instances {
		in := &rep.Instances[i]
		in.Name, in.Tags["Name"] = ids[in.InstanceID], ids[in.InstanceID]
	}
	if err := report.WriteFile(out("hostile.json"), report.FormatJSON, rep); err != nil {
		t.Fatal(err)
	}
	// The live run and its rollback go without the 10 MB name: the dry
	// run's outputs already cover it through the same writers (rollback's
	// tables show no names), and under -race each 10 MB JSON line of the
	// journal costs seconds.
	small := *rep
	small.Instances = nil
	for _, in := range rep.Instances {
		if len(in.Name) < 1<<20 {
			small.Instances = append(small.Instances, in)
		}
	}
	report.Normalize(&small)
	if err := report.WriteFile(out("small.json"), report.FormatJSON, &small); err != nil {
		t.Fatal(err)
	}
	const ansi = `\x1b[31mRED`
	t.Run("remediate", func(t *testing.T) {
		r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", out("hostile.json"),
			"--output", out("res.csv"), "--output", out("res.json"), "--plan-out", out("plan.json"))...)
		if r.code != exitOK {
			t.Fatalf("remediate exit %d", r.code)
		}
		checkHuman(t, "plan and results", r.stdout, humanMax, ansi, nil)
		checkAligned(t, "plan table", r.stdout, "ready", ansi)
		if n := strings.Count(r.stdout, "\nSUMMARY:"); n != 1 {
			t.Errorf("%d SUMMARY lines, want 1", n)
		}
		checkCSV(t, out("res.csv"))
		o := readResults(t, out("res.json"))
		for _, res := range o.Results {
			if res.Name != ids[res.InstanceID] {
				t.Errorf("results json name of %s: %.40q, want the exact tag", res.InstanceID, res.Name)
			}
		}
		var plan remediate.Plan
		if err := json.Unmarshal(mustRead(t, out("plan.json")), &plan); err != nil || len(plan.Changes) != len(ids) {
			t.Errorf("plan.json: %v, %d changes, want %d", err, len(plan.Changes), len(ids))
		}

		journal := out("fix.jsonl")
		r = remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", out("small.json"), "--live", "--yes", "--journal", journal,
			"--output", out("live.csv"))...)
		if r.code != exitOK {
			t.Fatalf("live remediate exit %d", r.code)
		}
		if len(r.stdout) > humanMax || strings.ContainsAny(r.stdout, "\x1b\u202e\r") {
			t.Errorf("live results: %d bytes, raw controls: %v", len(r.stdout), strings.ContainsAny(r.stdout, "\x1b\u202e\r"))
		}
		checkCSV(t, out("live.csv"))

		r = remCLI(t, context.Background(), "", false, remArgs("rollback", "--journal", journal, "--live", "--yes",
			"--output", out("rb.csv"), "--output", out("rb.json"))...)
		if r.code != exitOK {
			t.Fatalf("rollback exit %d", r.code)
		}
		if len(r.stdout) > humanMax || strings.ContainsAny(r.stdout, "\x1b\u202e\r") {
			t.Errorf("rollback stdout: %d bytes, raw controls: %v", len(r.stdout), strings.ContainsAny(r.stdout, "\x1b\u202e\r"))
		}
		if n := strings.Count(r.stdout, "\nSUMMARY:"); n != 1 {
			t.Errorf("rollback: %d SUMMARY lines, want 1", n)
		}
		checkCSV(t, out("rb.csv"))
	})

	// The confirmation prompt lists accounts and Regions from the report.
	t.Run("confirmation prompt", func(t *testing.T) {
		crafted := small
		crafted.Instances = slices.Clone(small.Instances)
		for i := range crafted.Instances {
			crafted.Instances[i].Region = "us-east-1\x1b[2J\n" + hostileForged + "\u202e"
		}
		report.Normalize(&crafted)
		path := out("prompt.json")
		if err := report.WriteFile(path, report.FormatJSON, &crafted); err != nil {
			t.Fatal(err)
		}
		r := remCLI(t, context.Background(), "no\n", true, remArgs("remediate", "--report", path, "--live", "--journal", out("prompt.jsonl"))...)
		if r.code == exitUsage {
			t.Skipf("the crafted report was refused as bad usage: %s", r.stderr)
		}
		if !strings.Contains(r.stderr, "About to change") || !strings.Contains(r.stderr, `us-east-1\x1b[2J\nSUMMARY`) {
			t.Fatalf("no prompt listing the crafted Region:\n%s", r.stderr)
		}
		for _, out := range []string{r.stdout, r.stderr} {
			if strings.ContainsAny(out, "\x1b\u202e\r") {
				t.Errorf("raw control characters in the prompt or tables:\n%q", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), hostileForged) {
					t.Errorf("the Region forged a line: %q", line)
				}
			}
		}
	})

	// A crafted id in an edited report: it reaches the plan and result
	// tables (the drift check finds no such instance) and must not forge a
	// row there either.
	t.Run("hostile id", func(t *testing.T) {
		evil := rep.Instances[0]
		evil.InstanceID = "i-0\x1b[2J\n" + hostileForged + ", \u202eevil"
		evil.Name = "crafted"
		rep.Instances = []report.Instance{evil}
		report.Normalize(rep)
		path := out("crafted.json")
		if err := report.WriteFile(path, report.FormatJSON, rep); err != nil {
			t.Fatal(err)
		}
		r := remCLI(t, context.Background(), "", false, remArgs("remediate", "--report", path, "--output", out("crafted.csv"))...)
		if r.code == exitUsage {
			t.Skipf("the crafted report was refused as bad usage: %s", r.stderr)
		}
		if strings.ContainsAny(r.stdout, "\x1b\u202e\r") {
			t.Errorf("raw control characters in the tables:\n%q", r.stdout)
		}
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(line, hostileForged) {
				t.Errorf("the id forged a line: %q", line)
			}
		}
		if !strings.Contains(r.stdout, `i-0\x1b[2J\nSUMMARY`) {
			t.Errorf("the crafted id is not shown escaped:\n%s", r.stdout)
		}
		checkCSV(t, out("crafted.csv"))
	})
}

// TestHostileJournalText: a journal's .lock description and its lines are
// anyone's to write; what the tool quotes from them reaches the terminal
// escaped and capped, and a FIFO planted as the .lock file does not block
// the run that reports the lock's holder.
func TestHostileJournalText(t *testing.T) {
	s := outputSetup(t)
	evil := "evil\x1b[31mRED\x1b]0;title\x07\nSUMMARY: forged\u202eEVIL" + strings.Repeat("x", 1<<20)
	clean := func(t *testing.T, what, out string) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("%s carries a raw control or bidi character:\n%.300q", what, out)
		}
		if len(out) > 16<<10 {
			t.Errorf("%s is %d bytes: a hostile value was not capped", what, len(out))
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "SUMMARY: forged") {
				t.Errorf("%s: a line was forged: %q", what, l)
			}
		}
	}
	live := remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", s.journal)

	t.Run("lock holder", func(t *testing.T) {
		lk, err := remediate.LockJournal(s.journal, remediate.Holder{PID: 1, Host: evil, Command: evil, Started: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Release()
		r := remCLI(t, context.Background(), "", false, live...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "in use by a live run") {
			t.Fatalf("exit %d, want %d naming the holder:\n%.500s", r.code, exitUsage, r.stderr)
		}
		clean(t, "stderr", r.stderr)
	})

	t.Run("FIFO as the lock file", func(t *testing.T) {
		lk, err := remediate.LockJournal(s.journal, remediate.ThisProcess("test", time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Release()
		info := s.journal + ".lock"
		os.Remove(info)
		if err := syscall.Mkfifo(info, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		defer os.Remove(info)
		done := make(chan remRun, 1)
		go func() { done <- remCLI(t, context.Background(), "", false, live...) }()
		select {
		case r := <-done:
			if r.code != exitUsage || !strings.Contains(r.stderr, "in use by a live run") {
				t.Fatalf("exit %d, want %d naming the lock:\n%s", r.code, exitUsage, r.stderr)
			}
		case <-time.After(time.Minute):
			// Release the reader the run is stuck on, so the test ends.
			if w, err := os.OpenFile(info, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			t.Fatal("the run blocked on the FIFO planted as the journal's .lock file")
		}
	})

	t.Run("journal line", func(t *testing.T) {
		// A version 1 line (no checksum) with a hostile kind: skipped
		// and named, its text escaped and capped.
		line, _ := json.Marshal(map[string]any{"v": 1, "kind": evil, "op": "remediate", "account": remAcct, "region": "us-east-1", "instanceId": "i-x"})
		f, err := os.OpenFile(s.journal, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(append(line, '\n'))
		f.Close()
		for _, args := range [][]string{
			remArgs("remediate", "--report", s.report, "--journal", s.journal),
			remArgs("rollback", "--journal", s.journal),
		} {
			r := remCLI(t, context.Background(), "", false, args...)
			if !strings.Contains(r.stderr, "corrupt journal line skipped") {
				t.Fatalf("%s: exit %d, no warning for the bad line:\n%.500s", args[0], r.code, r.stderr)
			}
			clean(t, args[0]+" stderr", r.stderr)
		}
	})
}
