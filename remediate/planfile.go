package remediate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// A plan file is [Plan] as JSON, the only input of `imdsfleet apply`
// (like Terraform's saved plan): apply carries out exactly its changes,
// never re-planning from a report. It says where it came from (the scan
// report's path, SHA-256 and time), what shaped it (the options and the
// command-line flags), when it was made and for which accounts, and it
// ends with a checksum over all of that: a plan damaged or edited after
// remediate wrote it is refused. The checksum guards against accidents,
// not against someone who recomputes it: review plans like code.
const (
	// PlanFormat is the "format" member of every plan file.
	PlanFormat = "imdsfleet-plan"
	// PlanVersion is the plan file version this release writes and reads.
	PlanVersion = 1
)

// PlanSource is the scan report a plan was made from.
type PlanSource struct {
	Path string `json:"path"`
	// SHA256 is the hex SHA-256 of the report's bytes as read.
	SHA256 string `json:"sha256"`
	// GeneratedAt is when the scan wrote the report.
	GeneratedAt time.Time `json:"generatedAt"`
}

// ErrNotPlan marks a file given as a plan that is not one, or not a sound
// one (damaged, edited, of an unknown version).
var ErrNotPlan = errors.New("not a usable plan")

// MaxPlanSize caps what [ReadPlanFile] reads (a plan of two million
// instances is well below it).
const MaxPlanSize = 4 << 30

// Describe fills the plan's provenance: the report (its path and bytes),
// the flags that shaped the plan, and the accounts it covers.
func (p *Plan) Describe(reportPath string, reportData []byte, reportAt time.Time, flags []string) {
	sum := sha256.Sum256(reportData)
	p.Format, p.Version = PlanFormat, PlanVersion
	p.Source = &PlanSource{Path: reportPath, SHA256: hex.EncodeToString(sum[:]), GeneratedAt: reportAt.UTC()}
	p.Flags = append([]string{}, flags...)
	accts := map[string]bool{}
	for _, it := range append(slices.Clip(p.Changes), p.Skipped...) {
		accts[it.Account] = true
	}
	for _, it := range append(slices.Clip(p.Sources), p.SourcesSkipped...) {
		accts[it.Account] = true
	}
	p.Accounts = []string{}
	for a := range accts {
		p.Accounts = append(p.Accounts, a)
	}
	slices.Sort(p.Accounts)
}

// checksum is the hex SHA-256 of the plan's JSON with Checksum empty.
func (p *Plan) checksum() (string, error) {
	c := *p
	c.Checksum = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Seal stamps the plan's checksum; call it last, just before writing.
func (p *Plan) Seal() error {
	sum, err := p.checksum()
	if err != nil {
		return fmt.Errorf("seal plan: %w", err)
	}
	p.Checksum = sum
	return nil
}

// ID is a short name of the plan (the start of its checksum), used in
// journal lines and default journal names.
func (p *Plan) ID() string {
	if len(p.Checksum) < 12 {
		return p.Checksum
	}
	return p.Checksum[:12]
}

// ReadPlanFile reads and checks the plan at path: its format and version,
// its checksum, and that every change is one imdsfleet makes. Any problem
// is one line naming the file, wrapping [ErrNotPlan] (a missing file
// wraps os.ErrNotExist too).
func ReadPlanFile(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plan %s does not exist; write one with 'imdsfleet remediate --report scan.json --plan-out %s': %w", path, path, errors.Join(ErrNotPlan, err))
		}
		return nil, fmt.Errorf("read plan %s: %w", path, errors.Join(ErrNotPlan, err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("plan %s is not a regular file: %w", path, ErrNotPlan)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, errors.Join(ErrNotPlan, err))
	}
	if len(data) > MaxPlanSize {
		return nil, fmt.Errorf("plan %s is larger than any plan imdsfleet writes: %w", path, ErrNotPlan)
	}
	p, err := parsePlan(data)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w: %w", path, err, ErrNotPlan)
	}
	return p, nil
}

func parsePlan(data []byte) (*Plan, error) {
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"planVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a plan file (not JSON: %v); write one with 'imdsfleet remediate --plan-out'", err)
	}
	if head.Format != PlanFormat {
		return nil, errors.New("not an imdsfleet plan file (no \"format\": \"" + PlanFormat + "\"); write one with 'imdsfleet remediate --plan-out' (plans written before apply existed cannot be applied: plan again)")
	}
	if head.Version != PlanVersion {
		return nil, fmt.Errorf("plan version %d: this release applies version %d (plan again with this release)", head.Version, PlanVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("damaged or edited (%v): plan again with 'imdsfleet remediate --plan-out'", err)
	}
	sum, err := p.checksum()
	if err != nil {
		return nil, err
	}
	if p.Checksum == "" || sum != p.Checksum {
		return nil, errors.New("checksum mismatch: the plan was edited or damaged since remediate wrote it; plan again with 'imdsfleet remediate --plan-out' (review the new plan, do not edit it)")
	}
	return &p, p.check()
}

// check refuses a plan whose changes imdsfleet would never plan: a sealed
// plan can still have been written by hand.
func (p *Plan) check() error {
	if p.GeneratedAt.IsZero() {
		return errors.New("no creation time")
	}
	seen := map[Key]bool{}
	for _, it := range append(slices.Clip(p.Changes), p.Skipped...) {
		if it.Account == "" || it.Region == "" || it.InstanceID == "" {
			return fmt.Errorf("an item without account, Region or instance id (%s/%s/%s)", report.SanitizeCell(it.Account, 40), report.SanitizeCell(it.Region, 40), report.SanitizeCell(it.InstanceID, 40))
		}
		k := Key{OpRemediate, it.Account, it.Region, it.InstanceID}
		if seen[k] {
			return fmt.Errorf("instance %s listed twice", report.SanitizeCell(it.InstanceID, 40))
		}
		seen[k] = true
	}
	if err := p.checkSources(); err != nil {
		return err
	}
	for _, it := range p.Changes {
		ok := false
		switch it.Action {
		case ActionEnforce:
			ok = it.Change.HttpTokens == "required" && (it.Change.HttpPutResponseHopLimit == 0 || it.Change.HttpPutResponseHopLimit == 2)
		case ActionRaiseHopLimit:
			ok = it.Change.HttpTokens == "" && it.Change.HttpPutResponseHopLimit == 2
		}
		if !ok {
			return fmt.Errorf("instance %s: %q setting %s is not a change imdsfleet plans", report.SanitizeCell(it.InstanceID, 40), report.SanitizeCell(string(it.Action), 40), report.SanitizeCell(it.Change.String(), 60))
		}
		if it.Scanned.HttpTokens == "" {
			return fmt.Errorf("instance %s: no scanned options to check drift against", report.SanitizeCell(it.InstanceID, 40))
		}
	}
	return nil
}
