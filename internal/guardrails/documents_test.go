package guardrails_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
)

// documentedList reads the first column of the table under a "## title"
// heading of docs/guardrails.md: the condition keys or operators the
// documents may use.
func documentedList(t *testing.T, title string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../../docs/guardrails.md")
	if err != nil {
		t.Fatalf("read docs/guardrails.md: %v", err)
	}
	_, section, ok := strings.Cut(string(data), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("docs/guardrails.md has no %q section", title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	cell := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	out := map[string]bool{}
	for _, m := range cell.FindAllStringSubmatch(section, -1) {
		out[m[1]] = true
	}
	if len(out) == 0 {
		t.Fatalf("docs/guardrails.md: no entries in the %q table", title)
	}
	return out
}

// paramSets are the parameter sets every document test runs on: the
// defaults, and every exception and option at once.
func paramSets() map[string]guardrails.Params {
	all := guardrails.DefaultParams()
	all.BreakGlassRoles = []string{"arn:aws:iam::*:role/BreakGlass", "arn:aws:iam::111122223333:role/Admin*"}
	all.ExemptTagKey, all.ExemptTagValue = "imdsfleet:exempt", "true"
	all.MaxHopLimit = 2
	all.ExceptionMessage = "IMDSv1 is not allowed here: see https://wiki.example/imds"
	anyValue := all
	anyValue.ExemptTagValue = ""
	anyValue.TokensEnforced = false
	anyValue.DeclarativeHopLimit = -1
	gov := guardrails.DefaultParams()
	gov.Partition = "aws-us-gov"
	gov.BreakGlassRoles = []string{"arn:aws-us-gov:iam::*:role/BreakGlass"}
	return map[string]guardrails.Params{"defaults": guardrails.DefaultParams(), "all options": all, "any-value tag": anyValue, "GovCloud": gov}
}

// TestDocumentsUseOnlyDocumentedKeys parses every generated document and
// checks that each SCP condition uses a key and an operator listed in
// docs/guardrails.md, and that every document fits its AWS size quota.
func TestDocumentsUseOnlyDocumentedKeys(t *testing.T) {
	keys := documentedList(t, "Condition keys")
	ops := documentedList(t, "Condition operators")
	tagKey := regexp.MustCompile(`^(aws:(?:RequestTag|ResourceTag|PrincipalTag))/.+$`)
	for name, p := range paramSets() {
		t.Run(name, func(t *testing.T) {
			docs, err := guardrails.Documents(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 4 {
				t.Fatalf("got %d documents, want 4", len(docs))
			}
			for _, d := range docs {
				if !json.Valid(d.Content) {
					t.Fatalf("%s: not valid JSON:\n%s", d.File, d.Content)
				}
				if n := utf8.RuneCount(d.Content); n != d.Chars || n > d.Quota {
					t.Errorf("%s: %d characters (reported %d), quota %d", d.File, n, d.Chars, d.Quota)
				}
				if d.Type == guardrails.TypeDeclarative {
					checkDeclarative(t, p, d)
					continue
				}
				var pol struct {
					Version   string
					Statement []struct {
						Sid, Effect, Action, Resource string
						Condition                     map[string]map[string]json.RawMessage
					}
				}
				if err := json.Unmarshal(d.Content, &pol); err != nil {
					t.Fatalf("%s: %v", d.File, err)
				}
				if pol.Version != "2012-10-17" || len(pol.Statement) == 0 {
					t.Fatalf("%s: version %q, %d statements", d.File, pol.Version, len(pol.Statement))
				}
				for _, st := range pol.Statement {
					if st.Effect != "Deny" || st.Sid == "" || len(st.Condition) == 0 {
						t.Errorf("%s: statement %+v: want a Deny with a Sid and conditions", d.File, st)
					}
					if st.Action != "*" && st.Resource != "arn:"+p.Partition+":ec2:*:*:instance/*" {
						t.Errorf("%s: %s on %q: an EC2 action must name the instance resource of partition %s", d.File, st.Action, st.Resource, p.Partition)
					}
					for op, conds := range st.Condition {
						if !ops[op] {
							t.Errorf("%s: operator %s is not listed in docs/guardrails.md", d.File, op)
						}
						for k := range conds {
							doc := tagKey.ReplaceAllString(k, "${1}/$${TagKey}")
							if !keys[doc] {
								t.Errorf("%s: condition key %s (%s) is not listed in docs/guardrails.md", d.File, k, doc)
							}
						}
					}
				}
			}
		})
	}
}

func checkDeclarative(t *testing.T, p guardrails.Params, d guardrails.Document) {
	t.Helper()
	var top map[string]map[string]json.RawMessage
	if err := json.Unmarshal(d.Content, &top); err != nil {
		t.Fatalf("%s: %v", d.File, err)
	}
	if len(top) != 1 || top["ec2_attributes"] == nil {
		t.Fatalf("%s: want one top-level key ec2_attributes, got %s", d.File, d.Content)
	}
	var imds map[string]map[string]string
	if err := json.Unmarshal(top["ec2_attributes"]["instance_metadata_defaults"], &imds); err != nil {
		t.Fatalf("%s: instance_metadata_defaults: %v", d.File, err)
	}
	if got := imds["http_tokens"]["@@assign"]; got != "required" {
		t.Errorf("%s: http_tokens %q, want required", d.File, got)
	}
	if _, ok := imds["http_tokens_enforced"]; ok != p.TokensEnforced {
		t.Errorf("%s: http_tokens_enforced present %v, want %v", d.File, ok, p.TokensEnforced)
	}
	wantHop := "-1" // AWS's spelling of "no preference" for the hop limit
	if p.DeclarativeHopLimit > 0 {
		wantHop = fmt.Sprint(p.DeclarativeHopLimit)
	}
	if got := imds["http_put_response_hop_limit"]["@@assign"]; got != wantHop {
		t.Errorf("%s: hop limit %q, want %q", d.File, got, wantHop)
	}
	var msg map[string]string
	if raw, ok := top["ec2_attributes"]["exception_message"]; ok != (p.ExceptionMessage != "") {
		t.Errorf("%s: exception_message present %v, want %v", d.File, ok, p.ExceptionMessage != "")
	} else if ok {
		if err := json.Unmarshal(raw, &msg); err != nil || msg["@@assign"] != p.ExceptionMessage {
			t.Errorf("%s: exception_message %s, want %q", d.File, raw, p.ExceptionMessage)
		}
	}
}

// TestDocumentsExceptions checks what each exception adds: ArnNotLike on
// aws:PrincipalArn in every SCP statement, and the exempt tag on the key
// of each SCP's resource (request, resource or principal tag).
func TestDocumentsExceptions(t *testing.T) {
	p := paramSets()["all options"]
	docs, err := guardrails.Documents(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[guardrails.ID]string{
		guardrails.RequireV2AtLaunch: `"aws:RequestTag/imdsfleet:exempt": "true"`,
		guardrails.DenyV1Reenable:    `"aws:ResourceTag/imdsfleet:exempt": "true"`,
		guardrails.DenyV1Credentials: `"aws:PrincipalTag/imdsfleet:exempt": "true"`,
	}
	for _, d := range docs {
		s := string(d.Content)
		if tag, ok := want[d.Guardrail]; ok {
			if !strings.Contains(s, tag) || strings.Count(s, `"ArnNotLike"`) != strings.Count(s, `"Sid"`) ||
				!strings.Contains(s, "arn:aws:iam::*:role/BreakGlass") {
				t.Errorf("%s lacks an exception:\n%s", d.File, s)
			}
		}
	}
	if s := string(docs[0].Content); !strings.Contains(s, `"ec2:MetadataHttpPutResponseHopLimit": "2"`) {
		t.Errorf("no hop limit ceiling in %s:\n%s", docs[0].File, s)
	}
}

// TestDocumentsSizeQuota: many long break-glass ARNs still fit as compact
// JSON, and beyond the quota Documents refuses with the fix.
func TestDocumentsSizeQuota(t *testing.T) {
	p := guardrails.DefaultParams()
	for i := range 40 {
		p.BreakGlassRoles = append(p.BreakGlassRoles, fmt.Sprintf("arn:aws:iam::%012d:role/platform/break-glass/EmergencyAccess%02d", 100000000000+i, i))
	}
	docs, err := guardrails.Documents(p)
	if err != nil {
		t.Fatalf("40 ARNs: %v", err)
	}
	for _, d := range docs {
		if d.Chars > d.Quota {
			t.Errorf("%s: %d > %d", d.File, d.Chars, d.Quota)
		}
	}
	for i := range 100 {
		p.BreakGlassRoles = append(p.BreakGlassRoles, fmt.Sprintf("arn:aws:iam::%012d:role/platform/break-glass/MoreEmergencyAccess%02d", 200000000000+i, i))
	}
	_, err = guardrails.Documents(p)
	if err == nil || !strings.Contains(err.Error(), "5120") || !strings.Contains(err.Error(), "wildcard") {
		t.Fatalf("140 ARNs: err %v, want the quota named with the fix", err)
	}
}

func TestParamsValidate(t *testing.T) {
	base := guardrails.DefaultParams()
	cases := []struct {
		name string
		edit func(*guardrails.Params)
		want string
	}{
		{"not an ARN", func(p *guardrails.Params) { p.BreakGlassRoles = []string{"BreakGlass"} }, "not an ARN"},
		{"not IAM", func(p *guardrails.Params) { p.BreakGlassRoles = []string{"arn:aws:s3:::bucket"} }, "IAM principal"},
		{"other partition", func(p *guardrails.Params) { p.BreakGlassRoles = []string{"arn:aws-cn:iam::*:role/X"} }, "--partition"},
		{"aws: tag", func(p *guardrails.Params) { p.ExemptTagKey = "aws:autoscaling:groupName" }, "reserved"},
		{"wildcard tag", func(p *guardrails.Params) { p.ExemptTagKey = "exempt*" }, "literally"},
		{"hop ceiling", func(p *guardrails.Params) { p.MaxHopLimit = 65 }, "1 to 64"},
		{"declarative hop", func(p *guardrails.Params) { p.DeclarativeHopLimit = 0 }, "no preference"},
		{"partition", func(p *guardrails.Params) { p.Partition = "aws-iso" }, "aws-us-gov"},
		{"window", func(p *guardrails.Params) { p.MinWindowDays = 0 }, "at least 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base
			c.edit(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one naming %q", err, c.want)
			}
		})
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// TestParamsRefuseHostileExceptions: break-glass roles and exempt tags that
// would make an exception silently wrong (never matching, a policy
// variable, every role exempt) are refused with one line.
func TestParamsRefuseHostileExceptions(t *testing.T) {
	for _, c := range []struct {
		role, tagKey, tagValue, want string
	}{
		{role: "arn:aws:iam::*:role/*", want: "wildcards only"},
		{role: "arn:aws:iam::*:user/**", want: "wildcards only"},
		{role: "arn:aws:iam::*:*", want: "role/NAME"},
		{role: `arn:aws:iam::*:role/a"b`, want: "cannot be in an IAM name"},
		{role: "arn:aws:iam::123456789012:role/x\ny", want: "cannot be in an IAM name"},
		{role: "arn:aws:iam::123456789012:role/${aws:username}", want: "policy variable"},
		{role: "arn:aws:iam::1:role/x", want: "12 digits"},
		{role: "arn:aws:sts::123456789012:assumed-role/ops/me", want: "assumed-role"},
		{role: "arn:aws:iam:us-east-1:123456789012:role/x", want: "no Region"},
		{tagKey: "k", tagValue: "${aws:username}", want: "variable"},
		{tagKey: "k\nx", tagValue: "1", want: "control character"},
	} {
		p := guardrails.DefaultParams()
		if c.role != "" {
			p.BreakGlassRoles = []string{c.role}
		}
		p.ExemptTagKey, p.ExemptTagValue = c.tagKey, c.tagValue
		_, err := guardrails.Documents(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q %q=%q: %v, want one line with %q", c.role, c.tagKey, c.tagValue, err, c.want)
		}
	}
	p := guardrails.DefaultParams()
	p.BreakGlassRoles = []string{"arn:aws:iam::*:role/BreakGlass*", "arn:aws:iam::123456789012:role/ops/break-glass", "arn:aws:iam::1234567890??:user/admin@x"}
	if _, err := guardrails.Documents(p); err != nil {
		t.Errorf("valid break-glass roles refused: %v", err)
	}
}

// TestDeclarativeUsesOnlyDocumentedValues checks every field and value of
// the generated declarative policies against the "Declarative policy
// fields" table of docs/guardrails.md, which lists what AWS's declarative
// policy syntax page documents for instance_metadata_defaults: a hop
// limit is an integer from -1 (no preference) to 64 written as a string,
// the other fields take the listed words (no_preference among them).
func TestDeclarativeUsesOnlyDocumentedValues(t *testing.T) {
	data, err := os.ReadFile("../../docs/guardrails.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Declarative policy fields\n")
	if !ok {
		t.Fatal(`docs/guardrails.md has no "Declarative policy fields" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([^|]+) \\|")
	word := regexp.MustCompile("`([^`]+)`")
	allowed := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, w := range word.FindAllStringSubmatch(m[2], -1) {
			allowed[m[1]] = append(allowed[m[1]], w[1])
		}
	}
	if len(allowed) == 0 {
		t.Fatal("docs/guardrails.md: the Declarative policy fields table is empty")
	}
	for name, p := range paramSets() {
		docs, err := guardrails.Documents(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if d.Type != guardrails.TypeDeclarative {
				continue
			}
			var top map[string]map[string]json.RawMessage
			if err := json.Unmarshal(d.Content, &top); err != nil {
				t.Fatal(err)
			}
			var imds map[string]map[string]string
			if err := json.Unmarshal(top["ec2_attributes"]["instance_metadata_defaults"], &imds); err != nil {
				t.Fatalf("%s: instance_metadata_defaults: %v", name, err)
			}
			for field, op := range imds {
				if len(op) != 1 || op["@@assign"] == "" {
					t.Errorf("%s: %s is %v, want one @@assign", name, field, op)
					continue
				}
				v := op["@@assign"]
				vals, ok := allowed[field]
				switch {
				case !ok:
					t.Errorf("%s: field %s is not in docs/guardrails.md", name, field)
				case strings.Join(vals, " ") == "-1 64":
					i, err := strconv.Atoi(v)
					if err != nil || strconv.Itoa(i) != v || i < -1 || i > 64 || i == 0 {
						t.Errorf("%s: %s is %q, want an integer from -1 (no preference) to 64", name, field, v)
					}
				default:
					found := false
					for _, a := range vals {
						found = found || a == v
					}
					if !found {
						t.Errorf("%s: %s is %q, want one of %v (docs/guardrails.md)", name, field, v, vals)
					}
				}
			}
		}
	}
}
