package fleet

import "fmt"

// A synthetic fleet of several accounts is an AWS Organization shaped like
// a real one: most accounts small, a few large; OUs for production (with a
// nested one), development, sandboxes and security; a few accounts
// suspended or closed.

// syntheticInactive returns the Organizations state of the synthetic
// fleet's i-th account: every 50th is SUSPENDED and every 97th CLOSED
// (the management account, 0, never); "" for ACTIVE.
func syntheticInactive(i int) string {
	switch {
	case i == 0:
		return ""
	case i%97 == 96:
		return AccountClosed
	case i%50 == 49:
		return AccountSuspended
	}
	return ""
}

// syntheticAccountSizes spreads n instances over the accounts: the i-th
// ACTIVE account weighs 1/(i+1) (Zipf), so with 1,000 accounts the largest
// holds about an eighth of the fleet and the median a few dozen instances.
// Accounts that are not ACTIVE hold none (nothing could scan them). One
// account holds them all.
func syntheticAccountSizes(n, accounts int) []int {
	sizes := make([]int, accounts)
	if accounts == 1 {
		sizes[0] = n
		return sizes
	}
	var wsum float64
	rank := 0
	weights := make([]float64, accounts)
	for i := range accounts {
		if syntheticInactive(i) != "" {
			continue
		}
		weights[i] = 1 / float64(rank+1)
		wsum += weights[i]
		rank++
	}
	left := n
	for i := range accounts {
		if weights[i] == 0 {
			continue
		}
		sizes[i] = int(float64(n) * weights[i] / wsum)
		left -= sizes[i]
	}
	// The rounding's remainder goes to the largest account.
	sizes[0] += left
	return sizes
}

// syntheticOUs are a synthetic organization's OUs.
var syntheticOUs = []OU{
	{ID: SyntheticOU(1), Name: "Production"},
	{ID: SyntheticOU(2), Name: "Production EU", Parent: SyntheticOU(1)},
	{ID: SyntheticOU(3), Name: "Development"},
	{ID: SyntheticOU(4), Name: "Sandbox"},
	{ID: SyntheticOU(5), Name: "Security"},
}

// SyntheticEmptyPageEvery is the synthetic organization's
// Organization.EmptyPageEvery: after every third page of a List call comes
// an empty page with a NextToken, as AWS may answer.
const SyntheticEmptyPageEvery = 3

// syntheticOrganization makes f's accounts an organization: the first is
// the management account (at the root), the others go round the OUs and
// the root; every third List page is an empty page with a NextToken.
func syntheticOrganization(f *Fleet) {
	f.Organization = &Organization{OUs: append([]OU(nil), syntheticOUs...), EmptyPageEvery: SyntheticEmptyPageEvery}
	for i := range f.Accounts {
		a := &f.Accounts[i]
		a.Name = fmt.Sprintf("synthetic-%04d", i)
		a.State = syntheticInactive(i)
		if i == 0 {
			a.Name = "management"
			continue
		}
		if k := i % (len(syntheticOUs) + 1); k < len(syntheticOUs) {
			a.Parent = syntheticOUs[k].ID
		}
	}
}
