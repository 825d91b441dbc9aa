package remediate

import (
	"bytes"
	"strings"
	"testing"
)

// TestSourcePlanTableHostileNames: names from a report (template, group,
// node pool, a declarative policy's message) cannot drive the terminal or
// forge lines in the plan table.
func TestSourcePlanTableHostileNames(t *testing.T) {
	evil := "web\x1b[31mRED\x1b[0m\nFAKE LINE\u202eevil"
	p := &Plan{Options: PlanOptions{Scope: []string{ScopeSources}},
		Sources: []SourceItem{{Account: "111111111111", Region: "us-east-1", ID: "update-group/" + evil, Action: ActionUpdateGroup,
			TemplateID: "lt-0", Version: 1, Group: evil, Detail: "group " + evil + strings.Repeat("x", 5000)}},
		SourcesSkipped: []SourceItem{{Account: "111111111111", Region: "us-east-1", ID: "account-defaults", Reason: SkipDeclarativePolicy,
			Detail: "its message: " + evil, Blockers: []string{evil}}},
	}
	var b bytes.Buffer
	if err := WritePlanTable(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\u202e") || strings.Contains(out, "\nFAKE LINE") {
		t.Errorf("hostile text reached the table raw:\n%q", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > 2*detailWidth {
			t.Errorf("a line of %d characters: a long name is not capped", len([]rune(l)))
		}
	}
}
