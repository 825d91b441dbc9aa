package policy

import (
	"fmt"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// DiffFailOn is a `report diff --fail-on` predicate: which changes between
// two reports make a CI gate fail.
type DiffFailOn string

// report diff --fail-on values.
const (
	// DiffFailOnRegression: an instance went from enforced back to tokens
	// optional, or its next launch from required to optional.
	DiffFailOnRegression DiffFailOn = "regression"
	// DiffFailOnNewV1: an instance is newly v1-in-use (new instances
	// included).
	DiffFailOnNewV1 DiffFailOn = "new-v1"
)

// DiffFailOnValues lists every value, for help and completion.
var DiffFailOnValues = []string{string(DiffFailOnRegression), string(DiffFailOnNewV1)}

// ParseDiffFailOn reads --fail-on values (each may be a comma list).
func ParseDiffFailOn(values []string) ([]DiffFailOn, error) {
	var out []DiffFailOn
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			switch f := DiffFailOn(strings.TrimSpace(s)); f {
			case DiffFailOnRegression, DiffFailOnNewV1:
				out = append(out, f)
			default:
				return nil, fmt.Errorf("--fail-on %q: want regression or new-v1 (or both: regression,new-v1)", s)
			}
		}
	}
	return out, nil
}

// Count returns how many instances of d the predicate matches (an
// instance with both kinds of regression counts once).
func (f DiffFailOn) Count(d *report.Diff) int {
	switch f {
	case DiffFailOnRegression:
		return d.CountInstances(report.ChangeRegression, report.ChangeNextLaunchRegression)
	case DiffFailOnNewV1:
		return d.CountInstances(report.ChangeNewV1)
	}
	return 0
}
