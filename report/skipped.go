package report

import "fmt"

// skippedShown caps the skipped accounts the table and Markdown name; the
// JSON lists them all, and the HTML page names them all.
const skippedShown = 50

// skippedAccountText is one skipped account as every human format shows
// it: "ID (NAME, STATE): REASON", each part sanitized and capped to width
// (the name and state left out when not known).
func skippedAccountText(sa SkippedAccount, cellWidth, textWidth int) string {
	s := SanitizeCell(sa.Account, cellWidth)
	switch {
	case sa.Name != "" && sa.State != "":
		s += fmt.Sprintf(" (%s, %s)", SanitizeCell(sa.Name, cellWidth), SanitizeCell(sa.State, cellWidth))
	case sa.Name != "":
		s += " (" + SanitizeCell(sa.Name, cellWidth) + ")"
	case sa.State != "":
		s += " (" + SanitizeCell(sa.State, cellWidth) + ")"
	}
	return s + ": " + SanitizeCell(sa.Reason, textWidth)
}

// skippedUnits lists the organizational units the scan could not fully
// read, each as "ID (NAME): REASON", sanitized.
func skippedUnits(r *Report, cellWidth, textWidth int) []string {
	if r.Organization == nil {
		return nil
	}
	var out []string
	for _, u := range r.Organization.Units {
		if u.Skipped == "" {
			continue
		}
		s := SanitizeCell(u.ID, cellWidth)
		if u.Name != "" {
			s += " (" + SanitizeCell(u.Name, cellWidth) + ")"
		}
		out = append(out, s+": "+SanitizeCell(u.Skipped, textWidth))
	}
	return out
}
