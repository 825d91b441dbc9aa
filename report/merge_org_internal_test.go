package report

import (
	"slices"
	"testing"
)

// TestMergeOrganizationsKeepsUnplaced: an account one shard's walk found
// in no unit stays unplaced in the merge (its unit is still not known),
// once, and every input's notes are kept.
func TestMergeOrganizationsKeepsUnplaced(t *testing.T) {
	units := func() []OrgUnit {
		return []OrgUnit{{ID: "r-ab12", Name: "Root", Accounts: []string{"111111111111"}}}
	}
	a := &Report{Organization: &Organization{Units: units(),
		Unplaced: []UnplacedAccount{{ID: "222222222222", Reason: UnplacedReason}},
		Notes:    []string{"account 333333333333 left"}}}
	b := &Report{Organization: &Organization{Units: units(),
		Unplaced: []UnplacedAccount{{ID: "222222222222", Name: "payments", Reason: UnplacedReason}, {ID: "444444444444", Reason: UnplacedReason}}}}
	m, err := mergeOrganizations([]MergeInput{{Name: "a.json", Report: a}, {Name: "b.json", Report: b}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range m.Unplaced {
		ids = append(ids, u.ID)
	}
	if !slices.Equal(ids, []string{"222222222222", "444444444444"}) || !slices.Equal(m.Notes, []string{"account 333333333333 left"}) {
		t.Errorf("merged unplaced %v notes %q, want 222222222222 and 444444444444 once, and a's note", ids, m.Notes)
	}
	// a (first) does not name 222222222222, b does: the name is kept.
	if len(m.Unplaced) == 0 || m.Unplaced[0].Name != "payments" {
		t.Errorf("merged unplaced %+v, want 222222222222 with the name b gave it", m.Unplaced)
	}
}

// TestMergeOrganizationsPlacedElsewhere: an account one shard's walk found
// in no unit (it was moving) and a later shard's walk found in a unit is
// placed in the merge: not unplaced, so guardrails can judge the units.
// An account no input placed stays unplaced.
func TestMergeOrganizationsPlacedElsewhere(t *testing.T) {
	a := &Report{Organization: &Organization{
		Units:    []OrgUnit{{ID: "r-ab12", Name: "Root", Accounts: []string{"111111111111"}}, {ID: "ou-ab12-00000001", Name: "B", ParentID: "r-ab12", Accounts: []string{}}},
		Unplaced: []UnplacedAccount{{ID: "222222222222", Reason: UnplacedReason}, {ID: "444444444444", Reason: UnplacedReason}}}}
	b := &Report{Organization: &Organization{
		Units: []OrgUnit{{ID: "r-ab12", Name: "Root", Accounts: []string{"111111111111"}}, {ID: "ou-ab12-00000001", Name: "B", ParentID: "r-ab12", Accounts: []string{"222222222222"}}}}}
	for _, in := range [][]MergeInput{{{Name: "a.json", Report: a}, {Name: "b.json", Report: b}}, {{Name: "b.json", Report: b}, {Name: "a.json", Report: a}}} {
		m, err := mergeOrganizations(in)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, u := range m.Unplaced {
			ids = append(ids, u.ID)
		}
		if !slices.Equal(ids, []string{"444444444444"}) {
			t.Errorf("%s first: merged unplaced %v, want 444444444444 only (222222222222 is in ou-ab12-00000001)", in[0].Name, ids)
		}
		if u := m.Units[0]; u.ID != "ou-ab12-00000001" || !slices.Equal(u.Accounts, []string{"222222222222"}) {
			t.Errorf("merged unit %+v, want ou-ab12-00000001 holding 222222222222", u)
		}
	}
}

// TestMergeOrganizationsUnplacedOrderFree: inputs that record one
// unplaced account with other names or reasons (edited, or an older
// imdsfleet) merge to the same entry in either order.
func TestMergeOrganizationsUnplacedOrderFree(t *testing.T) {
	units := func() []OrgUnit { return []OrgUnit{{ID: "r-ab12", Name: "Root", Accounts: []string{"111111111111"}}} }
	for _, c := range [][2]UnplacedAccount{
		{{ID: "222222222222", Name: "a", Reason: "y"}, {ID: "222222222222", Name: "a", Reason: "x"}},
		{{ID: "222222222222", Name: "", Reason: "x"}, {ID: "222222222222", Name: "b", Reason: "y"}},
		{{ID: "222222222222", Name: "c", Reason: "x"}, {ID: "222222222222", Name: "b", Reason: "y"}},
	} {
		var got []UnplacedAccount
		for _, order := range [][2]UnplacedAccount{{c[0], c[1]}, {c[1], c[0]}} {
			a := &Report{Organization: &Organization{Units: units(), Unplaced: []UnplacedAccount{order[0]}}}
			b := &Report{Organization: &Organization{Units: units(), Unplaced: []UnplacedAccount{order[1]}}}
			m, err := mergeOrganizations([]MergeInput{{Name: "a.json", Report: a}, {Name: "b.json", Report: b}})
			if err != nil || len(m.Unplaced) != 1 {
				t.Fatalf("%+v: %v %+v", c, err, m)
			}
			got = append(got, m.Unplaced[0])
		}
		if got[0] != got[1] {
			t.Errorf("%+v: merged %+v in one order and %+v in the other", c, got[0], got[1])
		}
	}
}
