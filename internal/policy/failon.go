package policy

import (
	"fmt"

	"github.com/imdsfleet/imdsfleet/report"
)

// FailOn is a scan --fail-on predicate: which instances make a CI gate
// fail.
type FailOn string

// --fail-on values.
const (
	FailOnNone      FailOn = "none"       // never
	FailOnV1Allowed FailOn = "v1-allowed" // the endpoint is on and tokens are optional
	FailOnV1InUse   FailOn = "v1-in-use"  // classified v1-in-use
	FailOnRisk      FailOn = "risk"       // any risk
)

// FailOnValues lists every --fail-on value, for help and completion.
var FailOnValues = []string{string(FailOnNone), string(FailOnV1Allowed), string(FailOnV1InUse), string(FailOnRisk)}

// ParseFailOn reads a --fail-on value.
func ParseFailOn(s string) (FailOn, error) {
	switch f := FailOn(s); f {
	case FailOnNone, FailOnV1Allowed, FailOnV1InUse, FailOnRisk:
		return f, nil
	}
	return "", fmt.Errorf("--fail-on %q: want none, v1-allowed, v1-in-use or risk", s)
}

// Match reports whether in is an instance f fails on. It reads the
// instance's evidence for v1-allowed (the same test the classification
// rules use) and its recorded verdict for v1-in-use and risk.
func (f FailOn) Match(in *report.Instance) bool {
	switch f {
	case FailOnV1Allowed:
		return V1Allowed(in.MetadataOptions)
	case FailOnV1InUse:
		return Class(in.Classification) == V1InUse
	case FailOnRisk:
		return len(in.Risks) > 0
	}
	return false
}
