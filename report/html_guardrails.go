package report

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/guardrails"
)

// The HTML page's guardrails section: readiness of the organization
// policies per scope, as `imdsfleet guardrails` judges it with the default
// parameters. It is a separate template block (html_guardrails.tmpl) so
// that the page's layout and this section change apart.

//go:embed html_guardrails.tmpl
var htmlGuardrailsSource string

type htmlGuardrails struct {
	Guardrails []htmlGuardrail
	Columns    []string
	Scopes     []htmlGuardrailScope
	Details    []htmlGuardrailDetail
}

type htmlGuardrail struct{ ID, Type, Denies, Breaks string }

type htmlGuardrailScope struct {
	Label     string
	Cells     []htmlGuardrailCell
	Instances int
}

type htmlGuardrailCell struct {
	Status, CSS, Title string
	Count              int
}

type htmlGuardrailDetail struct {
	Scope string
	Lines []string
}

// htmlGuardrailsOf judges r's guardrails for the page, as of the end of its
// window (the page describes the scan, so its age is not held against it).
// Nil when the report has no targets: there is nothing to judge.
func htmlGuardrailsOf(r *Report) *htmlGuardrails {
	if len(r.Targets) == 0 {
		return nil
	}
	a, err := guardrails.Assess(GuardrailEvidence(r), guardrails.DefaultParams(), r.Window.End)
	if err != nil {
		return nil // the defaults are valid; nothing a report holds fails them
	}
	v := &htmlGuardrails{}
	for _, g := range a.Guardrails {
		v.Guardrails = append(v.Guardrails, htmlGuardrail{ID: string(g.ID), Type: g.Type, Denies: g.Denies, Breaks: strings.Join(g.Breaks, "; ")})
		v.Columns = append(v.Columns, strings.ToLower(guardrailShort[g.ID]))
	}
	for _, s := range a.Scopes {
		label := scopeLabel(s)
		if s.Kind == guardrails.ScopeRegion {
			label = s.Account + " / " + s.Region
		}
		row := htmlGuardrailScope{Label: htmlText(label, htmlCellWidth), Instances: s.Instances}
		for _, rd := range s.Readiness {
			c := htmlGuardrailCell{Status: string(rd.Status), Title: htmlText(byKindText(rd), htmlTextWidth)}
			switch rd.Status {
			case guardrails.Safe:
				c.CSS = "ready"
			case guardrails.Blocked:
				c.CSS, c.Count = "v1-in-use", rd.Blockers
			default:
				c.CSS = "no-data"
			}
			row.Cells = append(row.Cells, c)
		}
		v.Scopes = append(v.Scopes, row)
	}
	for _, s := range detailScopes(a) {
		d := htmlGuardrailDetail{Scope: htmlText(scopeLabel(s), htmlCellWidth)}
		common := commonGaps(s)
		for _, u := range common {
			d.Lines = append(d.Lines, htmlText("unknown for every guardrail: "+u, htmlTextWidth))
		}
		for i, rd := range s.Readiness {
			if rd.Status == guardrails.Safe || saysNothingMore(rd, common) {
				continue
			}
			line := fmt.Sprintf("%s: %s", a.Guardrails[i].ID, rd.Status)
			if txt := byKindText(rd); txt != "" {
				line += ": " + txt
			}
			var names []string
			for j, b := range rd.Items {
				if j == guardrailNamedBlockers {
					break
				}
				names = append(names, b.ID)
			}
			if len(names) > 0 {
				line += " (" + strings.Join(names, ", ")
				if rd.Blockers > len(names) {
					line += ", …"
				}
				line += ")"
			}
			d.Lines = append(d.Lines, htmlText(line, htmlTextWidth))
			for _, u := range rd.Unknown {
				if !slices.Contains(common, u) {
					d.Lines = append(d.Lines, htmlText(fmt.Sprintf("%s: unknown: %s", a.Guardrails[i].ID, u), htmlTextWidth))
				}
			}
		}
		if len(d.Lines) > 0 {
			v.Details = append(v.Details, d)
		}
	}
	return v
}
