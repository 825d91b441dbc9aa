package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// examplesDir is the repository's examples/ from this package's directory.
const examplesDir = "../../examples"

// TestExamples: every file under examples/ parses (YAML, every document,
// or JSON), and every imdsfleet command in a workflow step (run:) or a
// container's command or args names a command the binary has and only
// flags that command takes. A renamed flag breaks this test, not a user's
// pipeline.
func TestExamples(t *testing.T) {
	var files []string
	err := filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	commands := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(path) {
		case ".yml", ".yaml":
			docs := parseYAML(t, path, data)
			var cmds []string
			for _, d := range docs {
				cmds = append(cmds, shellScripts(d, "")...)
			}
			for _, script := range cmds {
				for _, line := range imdsfleetCommands(script) {
					commands++
					if err := checkCommandLine(line); err != nil {
						t.Errorf("%s: %q: %v", path, line, err)
					}
				}
			}
		case ".json":
			if !json.Valid(data) {
				t.Errorf("%s: not valid JSON", path)
			}
		case ".md":
		default:
			t.Errorf("%s: an example of a kind this test does not check", path)
		}
	}
	if commands < 8 {
		t.Errorf("found %d imdsfleet commands in examples/, want the workflow's and the Jobs' (at least 8)", commands)
	}
}

// TestExamplesShape: the workflow is a matrix of shard scans whose
// artifacts a merge job joins, renders and diffs into the step summary;
// the Kubernetes scan is an Indexed Job whose completions are the shard
// count.
func TestExamplesShape(t *testing.T) {
	read := func(name string) []map[string]any {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(examplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, m)
		}
		return out
	}
	wf := read("github-actions/imdsfleet-org-scan.yml")[0]
	jobs := wf["jobs"].(map[string]any)
	scan, merge := jobs["scan"].(map[string]any), jobs["merge"].(map[string]any)
	shards := scan["strategy"].(map[string]any)["matrix"].(map[string]any)["shard"].([]any)
	if len(shards) != 4 || wf["env"].(map[string]any)["SHARDS"] != "4" {
		t.Errorf("matrix %v and SHARDS %v disagree", shards, wf["env"])
	}
	text := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	if s := text(scan); !strings.Contains(s, "--shard") || !strings.Contains(s, "upload-artifact") {
		t.Error("the scan job does not scan a shard and upload its report")
	}
	if s := text(merge); merge["needs"] != "scan" || !strings.Contains(s, "download-artifact") || !strings.Contains(s, "report merge") ||
		!strings.Contains(s, "report render") || !strings.Contains(s, "report diff") || !strings.Contains(s, "GITHUB_STEP_SUMMARY") {
		t.Error("the merge job does not download, merge, render and diff into the step summary")
	}
	var job map[string]any
	for _, d := range read("kubernetes/scan-indexed-job.yaml") {
		if d["kind"] == "Job" {
			job = d
		}
	}
	spec := job["spec"].(map[string]any)
	if spec["completionMode"] != "Indexed" || spec["completions"] != 4 || spec["parallelism"] != 4 {
		t.Errorf("scan Job spec %v: want an Indexed Job of 4 completions, all in parallel", spec)
	}
	if !strings.Contains(text(job), "JOB_COMPLETION_INDEX + 1") {
		t.Error("the scan Job does not derive --shard from JOB_COMPLETION_INDEX")
	}
}

func parseYAML(t *testing.T, path string, data []byte) []*yaml.Node {
	t.Helper()
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("%s: YAML does not parse: %v", path, err)
			break
		}
		docs = append(docs, &n)
	}
	if len(docs) == 0 {
		t.Errorf("%s: no YAML document", path)
	}
	return docs
}

// shellScripts returns the scalars a shell runs: a workflow step's run:,
// and the items of a container's command: or args:.
func shellScripts(n *yaml.Node, key string) []string {
	var out []string
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = append(out, shellScripts(c, key)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, shellScripts(n.Content[i+1], n.Content[i].Value)...)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, shellScripts(c, key)...)
		}
	case yaml.ScalarNode:
		if key == "run" || key == "args" || key == "command" {
			out = append(out, n.Value)
		}
	}
	return out
}

var shellSeparator = regexp.MustCompile(`\s*(?:\|\||&&|;|\||>>|2>|>)\s*`)

// imdsfleetCommands returns each imdsfleet command line of a shell script
// (continuation lines joined, cut at the next separator or redirection).
func imdsfleetCommands(script string) []string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out []string
	for _, line := range strings.Split(script, "\n") {
		for _, part := range shellSeparator.Split(line, -1) {
			part = strings.TrimSpace(part)
			if strings.HasPrefix(part, "imdsfleet ") {
				out = append(out, part)
			}
		}
	}
	return out
}

// checkCommandLine checks one "imdsfleet …" line against the command
// tree: the command path must name a command that runs, and every flag
// must be one of its own or inherited flags.
func checkCommandLine(line string) error {
	fields := strings.Fields(line)[1:]
	g := &globals{streams: &streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}}
	root := newRootCmd(g)
	var path []string
	for _, f := range fields {
		if strings.HasPrefix(f, "-") {
			break
		}
		path = append(path, f)
	}
	cmd, _, err := root.Find(path)
	if err != nil || cmd == root || !cmd.Runnable() {
		return errors.New("names no imdsfleet command")
	}
	var bad []string
	for _, f := range fields {
		if !strings.HasPrefix(f, "-") || f == "-" {
			continue
		}
		if !hasFlag(cmd, f) {
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		return errors.New("unknown flag " + strings.Join(bad, ", ") + " for " + cmd.CommandPath())
	}
	return nil
}

func hasFlag(cmd *cobra.Command, f string) bool {
	name, _, _ := strings.Cut(f, "=")
	if long, ok := strings.CutPrefix(name, "--"); ok {
		return cmd.Flags().Lookup(long) != nil || cmd.InheritedFlags().Lookup(long) != nil || slices.Contains([]string{"help"}, long)
	}
	short := strings.TrimPrefix(name, "-")
	return len(short) == 1 && (cmd.Flags().ShorthandLookup(short) != nil || cmd.InheritedFlags().ShorthandLookup(short) != nil)
}
