package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imdsfleet/imdsfleet/report"
)

// checkShown is how many instances a [Check] error names.
const checkShown = 3

// Check recomputes every instance's verdict from the report's own
// evidence (metadata options, usage, tags, instance profile) with the
// rules its scanOptions record, and returns those rules when every verdict
// agrees. It returns an error when the report cannot be trusted to act on:
// it lacks scanOptions, an instance lacks the metadata options the rules
// read (httpTokens), or an instance's classification or risks differ from
// what its evidence gives. A report edited by hand (an instance marked
// "ready" that made v1 calls) or written by a scanner with other rules is
// refused rather than acted on.
//
// The error is one line naming the first few instances and what
// disagrees, e.g. "i-0abc: report says ready but its evidence (1201 v1
// calls) makes it v1-in-use". Instance ids that are not plain text are
// quoted, so a crafted id cannot forge output lines.
func Check(r *report.Report) (Rules, error) {
	rules, err := RulesOf(r)
	if err != nil {
		return Rules{}, err
	}
	var problems []string
	for i := range r.Instances {
		if p := checkOne(&r.Instances[i], rules); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) == 0 {
		return rules, nil
	}
	msg := strings.Join(problems[:min(checkShown, len(problems))], "; ")
	if n := len(problems) - checkShown; n > 0 {
		msg += fmt.Sprintf("; and %d more instances", n)
	}
	return Rules{}, fmt.Errorf("%w: %d of %d instances disagree with their own evidence: %s; re-run the scan instead of editing the report",
		ErrUntrusted, len(problems), len(r.Instances), msg)
}

// checkOne returns what is wrong with one instance, or "".
func checkOne(in *report.Instance, rules Rules) string {
	mo := in.MetadataOptions
	switch mo.HttpTokens {
	case "optional", "required":
	case "":
		return fmt.Sprintf("%s: metadataOptions has no httpTokens, which its classification depends on", idOf(in))
	default:
		return fmt.Sprintf("%s: metadataOptions.httpTokens %q is neither optional nor required", idOf(in), mo.HttpTokens)
	}
	switch mo.HttpEndpoint {
	case "", "enabled", "disabled": // "" is EC2's default, enabled
	default:
		return fmt.Sprintf("%s: metadataOptions.httpEndpoint %q is neither enabled nor disabled", idOf(in), mo.HttpEndpoint)
	}
	v := Judge(in, rules)
	if Class(in.Classification) != v.Class {
		return fmt.Sprintf("%s: report says %s but its evidence (%s) makes it %s", idOf(in), in.Classification, evidence(in, rules), v.Class)
	}
	want := make([]string, len(v.Risks))
	for i, k := range v.Risks {
		want[i] = string(k)
	}
	got := slices.Clone(in.Risks)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Sprintf("%s: report says risks %s but its evidence (%s) gives %s", idOf(in), riskList(in.Risks), riskEvidence(in, v), riskList(want))
	}
	return ""
}

// evidence describes the facts the classification rules read, for the
// verdict they give.
func evidence(in *report.Instance, rules Rules) string {
	mo, u := in.MetadataOptions, in.Usage
	switch {
	case !EndpointEnabled(mo):
		return "httpEndpoint disabled"
	case TokensRequired(mo):
		return "httpTokens required"
	case usageReadable(u) && u.NoTokenCalls > 0:
		return fmt.Sprintf("%s v1 calls", num(u.NoTokenCalls))
	case u.Status != report.UsageComplete:
		return fmt.Sprintf("httpTokens optional, usage %s", orNone(u.Status))
	default:
		return fmt.Sprintf("no v1 calls on %d observed days, %d needed", u.Datapoints, rules.minDays())
	}
}

// riskEvidence describes the facts the risk rules read.
func riskEvidence(in *report.Instance, v Verdict) string {
	mo := in.MetadataOptions
	host := "not a container host"
	if v.ContainerHost {
		host = "container host"
	}
	profile := "no instance profile"
	if in.InstanceProfileArn != "" {
		profile = "instance profile"
	}
	return fmt.Sprintf("%s, httpTokens %s, httpEndpoint %s, hop limit %d, %s, %s v1 calls rejected",
		host, mo.HttpTokens, orNone(mo.HttpEndpoint), mo.HttpPutResponseHopLimit, profile, num(in.Usage.NoTokenRejected))
}

func riskList(risks []string) string {
	if len(risks) == 0 {
		return "none"
	}
	return strings.Join(risks, ",")
}

// idOf is the instance id as it can be shown on one line.
func idOf(in *report.Instance) string {
	// The id comes from the report file: escaped and capped like every
	// human output, and quoted when it needed escaping.
	if c := report.SanitizeCell(in.InstanceID, 40); c != in.InstanceID {
		return `"` + c + `"`
	}
	return in.InstanceID
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}
