package remediate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ASGTag is the tag EC2 puts on every instance an Auto Scaling group
// launched (docs/aws-facts.md#launch-sources).
const ASGTag = "aws:autoscaling:groupName"

// WaveSize is one cumulative step of --waves: a count of instances, or a
// percentage of the planned changes.
type WaveSize struct {
	Count   int
	Percent float64 // used when Count is 0
}

func (w WaveSize) String() string {
	if w.Count > 0 {
		return strconv.Itoa(w.Count)
	}
	return strconv.FormatFloat(w.Percent, 'f', -1, 64) + "%"
}

// target is how many of n changes the waves up to this one cover.
func (w WaveSize) target(n int) int {
	if w.Count > 0 {
		return min(w.Count, n)
	}
	return min(int(math.Ceil(w.Percent*float64(n)/100-1e-9)), n)
}

// ParseWaves parses --waves: cumulative counts or percentages, e.g.
// "1,10%,50%,100%". The first step, when a count, is the canary: that many
// instances of every workload (Auto Scaling group, Region). The steps must
// grow, and the last must be 100%, so that the rollout covers the plan
// (use --until-wave to stop earlier).
func ParseWaves(s string) ([]WaveSize, error) {
	var out []WaveSize
	prevPct := 0.0
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		var w WaveSize
		if p, ok := strings.CutSuffix(part, "%"); ok {
			v, err := strconv.ParseFloat(p, 64)
			if err != nil || math.IsNaN(v) || v <= 0 || v > 100 {
				return nil, fmt.Errorf("--waves %q: %q is not a percentage in (0, 100]", s, part)
			}
			if v <= prevPct {
				return nil, fmt.Errorf("--waves %q: the steps are cumulative and must grow (%s after %v%%)", s, part, prevPct)
			}
			prevPct, w.Percent = v, v
		} else {
			n, err := strconv.Atoi(part)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--waves %q: %q is neither a count (1 or more) nor a percentage (10%%)", s, part)
			}
			if prevPct > 0 {
				return nil, fmt.Errorf("--waves %q: a count (%s) after a percentage; give counts first, then percentages", s, part)
			}
			if i > 0 && n <= out[i-1].Count {
				return nil, fmt.Errorf("--waves %q: the steps are cumulative and must grow (%d after %d)", s, n, out[i-1].Count)
			}
			w.Count = n
		}
		out = append(out, w)
	}
	if last := out[len(out)-1]; last.Percent != 100 {
		return nil, fmt.Errorf("--waves %q: the last step must be 100%% so the rollout covers the plan (stop earlier with --until-wave)", s)
	}
	return out, nil
}

// WaveBy is --wave-by tag:KEY=V1,KEY=V2,…: stages of instances by one tag's
// value, in order; instances with none of the values form a last stage.
type WaveBy struct {
	Key    string
	Values []string
}

// ParseWaveBy parses --wave-by "tag:env=dev,env=staging,env=prod".
func ParseWaveBy(s string) (*WaveBy, error) {
	rest, ok := strings.CutPrefix(s, "tag:")
	if !ok {
		return nil, fmt.Errorf("--wave-by %q: want tag:KEY=VALUE,KEY=VALUE,… (e.g. tag:env=dev,env=staging,env=prod)", s)
	}
	w := &WaveBy{}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--wave-by %q: %q is not KEY=VALUE", s, part)
		}
		if w.Key == "" {
			w.Key = k
		} else if k != w.Key {
			return nil, fmt.Errorf("--wave-by %q: one tag key per rollout (%q and %q)", s, w.Key, k)
		}
		if seen[v] {
			return nil, fmt.Errorf("--wave-by %q: value %q given twice", s, v)
		}
		seen[v] = true
		w.Values = append(w.Values, v)
	}
	return w, nil
}

// Wave is one step of a rollout: indices into the plan's Changes.
type Wave struct {
	// N numbers the waves from 1.
	N int
	// Stage names the --wave-by stage ("env=dev"), or "" for none.
	Stage string
	// Canary is true for a stage's first wave of one instance per workload.
	Canary bool
	Items  []int
}

// CanaryKey is the group an item is canaried in: its workload when the
// report has one, else its Auto Scaling group, else its Region.
func (it *Item) CanaryKey() string {
	switch {
	case it.Workload != "":
		return "workload:" + it.Workload
	case it.Tags[ASGTag] != "":
		return "asg:" + it.Account + "/" + it.Region + "/" + it.Tags[ASGTag]
	}
	return "region:" + it.Account + "/" + it.Region
}

// observable reports whether the instance was running (or in a state
// that publishes metrics) when scanned; an unknown state counts as running.
func (it *Item) observable() bool {
	switch it.State {
	case "stopped", "stopping", "shutting-down", "terminated":
		return false
	}
	return true
}

// AssignWaves splits the plan's changes into waves, deterministically (so
// a resumed rollout finds the same waves): stages by --wave-by (in its
// order, then the rest), each split by sizes (cumulative over the stage's
// changes, in the plan's order). A first count step is the canary: that
// many instances of every canary group ([Item.CanaryKey]). No sizes: one
// wave per stage; neither: one wave of everything. Empty waves are dropped.
func AssignWaves(p *Plan, sizes []WaveSize, by *WaveBy) []Wave {
	var stages [][]int
	var names []string
	if by == nil {
		all := make([]int, len(p.Changes))
		for i := range all {
			all[i] = i
		}
		stages, names = [][]int{all}, []string{""}
	} else {
		pos := map[string]int{}
		for i, v := range by.Values {
			pos[v] = i
		}
		stages = make([][]int, len(by.Values)+1)
		for i := range p.Changes {
			s := len(by.Values)
			if v, ok := p.Changes[i].Tags[by.Key]; ok {
				if j, ok := pos[v]; ok {
					s = j
				}
			}
			stages[s] = append(stages[s], i)
		}
		for _, v := range by.Values {
			names = append(names, by.Key+"="+v)
		}
		names = append(names, "other")
	}
	var waves []Wave
	add := func(w Wave) {
		if len(w.Items) > 0 {
			w.N = len(waves) + 1
			waves = append(waves, w)
		}
	}
	for si, stage := range stages {
		if len(sizes) == 0 {
			add(Wave{Stage: names[si], Items: stage})
			continue
		}
		taken := make([]bool, len(stage))
		done := 0
		steps := sizes
		if sizes[0].Count > 0 {
			// The canary: the first instances of every group, running ones
			// first (a stopped instance publishes nothing a bake could
			// read), in the plan's order.
			per := map[string]int{}
			var w Wave
			w.Stage, w.Canary = names[si], true
			for _, running := range []bool{true, false} {
				for j, i := range stage {
					it := &p.Changes[i]
					k := it.CanaryKey()
					if !taken[j] && it.observable() == running && per[k] < sizes[0].Count {
						per[k]++
						taken[j] = true
						w.Items = append(w.Items, i)
					}
				}
			}
			slices.Sort(w.Items)
			done = len(w.Items)
			add(w)
			steps = sizes[1:]
		}
		for _, sz := range steps {
			target := sz.target(len(stage))
			w := Wave{Stage: names[si]}
			for j, i := range stage {
				if done >= target {
					break
				}
				if !taken[j] {
					taken[j] = true
					w.Items = append(w.Items, i)
					done++
				}
			}
			add(w)
		}
	}
	return waves
}
