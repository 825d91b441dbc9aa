package remediate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// wavePlan: changes of workloads w1 (i-1, i-2), w2 (i-3) and w3 (i-4);
// template steps of w1, of w2 and w3 together, of w9 (no planned
// instance), and the account defaults.
func wavePlan() *Plan {
	ch := func(id, wl, env string) Item {
		return Item{Account: "111111111111", Region: "us-east-1", InstanceID: id, Action: ActionEnforce, Change: Change{HttpTokens: "required"},
			Scanned: optionalHop1, Workload: wl, Tags: map[string]string{"env": env}, State: "running"}
	}
	src := func(id string, a Action, after string, wls ...string) SourceItem {
		it := SourceItem{Account: "111111111111", Region: "us-east-1", ID: id, Action: a, After: after, Workloads: wls, TemplateID: "lt-1", Version: 1}
		switch a {
		case ActionCreateVersion:
			it.Change = Change{HttpTokens: "required"}
		case ActionUpdateGroup:
			it.Group = "g"
		case ActionSetAccountDefaults:
			it.Defaults, it.ScannedDefaults = &DefaultsChange{HttpTokens: "required"}, nil
		}
		return it
	}
	p := &Plan{Changes: []Item{ch("i-1", "w1", "dev"), ch("i-2", "w1", "prod"), ch("i-3", "w2", "prod"), ch("i-4", "w3", "dev")}}
	p.Sources = []SourceItem{
		src("create-version/lt-1/1", ActionCreateVersion, "", "w1"),
		src("set-default/lt-1", ActionSetDefault, "create-version/lt-1/1", "w1"),
		src("create-version/lt-2/1", ActionCreateVersion, "", "w2", "w3"),
		src("update-group/g", ActionUpdateGroup, "create-version/lt-2/1", "w2", "w3"),
		src("create-version/lt-9/1", ActionCreateVersion, "", "w9"),
		src("account-defaults", ActionSetAccountDefaults, ""),
	}
	assignSourceWaves(p)
	return p
}

func TestSourceWaves(t *testing.T) {
	p := wavePlan()
	var rules []string
	for _, it := range p.Sources {
		rules = append(rules, it.Wave)
	}
	if got := strings.Join(rules, " "); got != "with-workloads with-workloads with-workloads with-workloads first last" {
		t.Fatalf("rules %s", got)
	}
	for name, c := range map[string]struct {
		sizes []WaveSize
		by    *WaveBy
		want  string
	}{
		"one wave":          {want: "[1 1 1 1 1 1]"},
		"canary first":      {sizes: []WaveSize{{Count: 1}, {Percent: 100}}, want: "[1 1 1 1 1 2]"},
		"by env, dev first": {by: &WaveBy{Key: "env", Values: []string{"dev", "prod"}}, want: "[1 1 1 1 1 2]"},
		// prod first: w1's first instance in prod is i-2 (wave 1); w2 is
		// in prod (wave 1); w3 only in dev (wave 2); lt-2 goes with the
		// earliest of its workloads.
		"by env, prod first": {by: &WaveBy{Key: "env", Values: []string{"prod", "dev"}}, want: "[1 1 1 1 1 2]"},
		"counts":             {sizes: []WaveSize{{Count: 1}, {Percent: 50}, {Percent: 100}}, by: &WaveBy{Key: "env", Values: []string{"prod", "dev"}}, want: "[1 1 1 1 1 2]"},
	} {
		waves := AssignWaves(p, c.sizes, c.by)
		if got := fmt.Sprint(SourceWaves(p, waves)); got != c.want {
			t.Errorf("%s: waves %v: source waves %s, want %s", name, waves, got, c.want)
		}
	}
	// A workload first planned in wave 2 puts its steps there, and the
	// steps after its create step follow it.
	p.Changes = p.Changes[2:] // w2 (prod), w3 (dev)
	waves := AssignWaves(p, nil, &WaveBy{Key: "env", Values: []string{"dev", "prod"}})
	if got := fmt.Sprint(SourceWaves(p, waves)); got != "[1 1 1 1 1 2]" {
		t.Errorf("w1 unplanned: %s", got)
	}
	p.Sources[2].Workloads, p.Sources[3].Workloads = []string{"w2"}, []string{"w2"}
	if got := fmt.Sprint(SourceWaves(p, waves)); got != "[1 1 2 2 1 2]" {
		t.Errorf("lt-2 of w2 only (prod, wave 2): %s", got)
	}
	if got := fmt.Sprint(SourceWaves(p, nil)); got != "[0 0 0 0 0 0]" {
		t.Errorf("no waves: %s", got)
	}
	// An older plan: no rule, every step in wave 1.
	for i := range p.Sources {
		p.Sources[i].Wave = ""
	}
	if !p.SourcesWithoutWaves() || fmt.Sprint(SourceWaves(p, waves)) != "[1 1 1 1 1 1]" {
		t.Errorf("older plan: %v %v", p.SourcesWithoutWaves(), SourceWaves(p, waves))
	}
}

// TestPlanFileSourceWaveChecked: a sealed plan whose source step names a
// wave rule imdsfleet never writes is refused with one line.
func TestPlanFileSourceWaveChecked(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for name, edit := range map[string]func(p *Plan){
		"as planned":           func(*Plan) {},
		"unknown rule":         func(p *Plan) { p.Sources[0].Wave = "second\x1b[31m" },
		"defaults not last":    func(p *Plan) { p.Sources[5].Wave = SourceWaveFirst },
		"a template step last": func(p *Plan) { p.Sources[0].Wave = SourceWaveLast },
	} {
		p := wavePlan()
		p.GeneratedAt = now
		p.Sources[5].ScannedDefaults = &report.AccountDefaults{Account: "111111111111", Region: "us-east-1"}
		edit(p)
		p.Describe("scan.json", []byte("{}"), now, nil)
		if err := p.Seal(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "plan.json")
		f, _ := os.Create(path)
		if err := WritePlanJSON(f, p); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err := ReadPlanFile(path)
		if name == "as planned" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || strings.ContainsAny(err.Error(), "\n\x1b") || !strings.Contains(err.Error(), "wave") {
			t.Errorf("%s: %v, want one clean line about the wave", name, err)
		}
	}
}
