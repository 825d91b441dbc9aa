package fleet

import (
	"slices"
	"testing"
)

// TestSyntheticOrganization: a synthetic fleet of many accounts is a valid
// organization holding exactly the instances asked for, all in ACTIVE
// accounts, most accounts small and a few large.
func TestSyntheticOrganization(t *testing.T) {
	f := Synthetic(SyntheticOptions{Instances: 20000, Regions: 3, Accounts: 200, Seed: 3})
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if f.Organization == nil || len(f.Organization.OUs) == 0 {
		t.Fatal("no organization with OUs")
	}
	total := 0
	var sizes []int
	inactive := 0
	parents := map[string]int{}
	for _, a := range f.Accounts {
		n := 0
		for _, r := range a.Regions {
			n += len(r.Instances)
		}
		total += n
		parents[a.Parent]++
		if a.AccountState() != AccountActive {
			inactive++
			if n != 0 {
				t.Errorf("%s account %s holds %d instances", a.State, a.ID, n)
			}
			continue
		}
		sizes = append(sizes, n)
	}
	if total != 20000 {
		t.Errorf("%d instances, want 20000", total)
	}
	if inactive == 0 {
		t.Error("no suspended or closed account")
	}
	if len(parents) != len(f.Organization.OUs)+1 {
		t.Errorf("accounts under %d parents, want every OU and the root", len(parents))
	}
	slices.Sort(sizes)
	median, largest := sizes[len(sizes)/2], sizes[len(sizes)-1]
	if largest < 10*median || median > 100 {
		t.Errorf("median account %d instances, largest %d: want most small and a few large", median, largest)
	}
	if f.Management() != f.Accounts[0].ID {
		t.Errorf("management account %s", f.Management())
	}
	one := Synthetic(SyntheticOptions{Instances: 500, Regions: 2, Seed: 3})
	if one.Organization != nil {
		t.Error("a one-account fleet is an organization")
	}
}

// TestSyntheticAccountIDs: the 1,000 accounts sim --accounts allows have
// distinct 12-digit ids (they used to overflow to 13 digits from the
// 790th on, and the fleet was refused).
func TestSyntheticAccountIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		id := SyntheticAccountID(i)
		if len(id) != 12 || seen[id] {
			t.Fatalf("account %d: id %q (length %d, seen before %v)", i, id, len(id), seen[id])
		}
		seen[id] = true
	}
	f := Synthetic(SyntheticOptions{Instances: 2000, Regions: 1, Accounts: 1000, Seed: 1})
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
}
