package scanner

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/imdsfleet/imdsfleet/report"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]report.Shard{"": {}, "1/1": {Index: 1, Count: 1}, "2/4": {Index: 2, Count: 4}, " 3 / 4 ": {Index: 3, Count: 4}} {
		if got, err := ParseShard(in); err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0/4", "5/4", "4", "a/b", "1/0", "-1/4", "1/10001"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

// TestShardOfStable: N shards cover every account exactly once, fairly
// evenly, and an account keeps its shard when accounts are added.
func TestShardOfStable(t *testing.T) {
	const n = 4
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("%012d", 100000000000+i*7919)
	}
	before := map[string]int{}
	counts := make([]int, n+1)
	for _, id := range ids {
		covered := 0
		for i := 1; i <= n; i++ {
			if inShard(report.Shard{Index: i, Count: n}, id) {
				covered++
				before[id] = i
				counts[i]++
			}
		}
		if covered != 1 {
			t.Fatalf("account %s is in %d shards", id, covered)
		}
	}
	for i := 1; i <= n; i++ {
		if counts[i] < 200 || counts[i] > 300 {
			t.Errorf("shard %d/%d holds %d of 1000 accounts", i, n, counts[i])
		}
	}
	// Adding accounts moves none of the old ones.
	for i := range 500 {
		_ = ShardOf(strconv.Itoa(900000000000+i), n)
	}
	for _, id := range ids {
		if ShardOf(id, n) != before[id] {
			t.Fatalf("account %s changed shard", id)
		}
	}
}

// fakeOrg pages like AWS: at most MaxResults per page, and empty pages
// that still carry a NextToken.
type fakeOrg struct {
	accounts map[string][]orgtypes.Account // by parent
	children map[string][]string
	calls    int
}

func page[T any](items []T, token *string, max *int32) ([]T, *string) {
	// Every other page is empty: token "e<i>" means "empty page, then i".
	i := 0
	if token != nil {
		s := *token
		if s[0] == 'e' {
			i, _ = strconv.Atoi(s[1:])
			return nil, aws.String(strconv.Itoa(i))
		}
		i, _ = strconv.Atoi(s)
	}
	n := int(aws.ToInt32(max))
	if n < 1 || n > 20 {
		panic("MaxResults out of 1..20")
	}
	end := min(i+n, len(items))
	if end == len(items) {
		return items[i:end], nil
	}
	return items[i:end], aws.String("e" + strconv.Itoa(end))
}

func (f *fakeOrg) ListRoots(_ context.Context, in *organizations.ListRootsInput, _ ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	f.calls++
	return &organizations.ListRootsOutput{Roots: []orgtypes.Root{{Id: aws.String("r-root"), Name: aws.String("Root")}}}, nil
}

func (f *fakeOrg) DescribeOrganizationalUnit(_ context.Context, in *organizations.DescribeOrganizationalUnitInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	f.calls++
	id := aws.ToString(in.OrganizationalUnitId)
	return &organizations.DescribeOrganizationalUnitOutput{OrganizationalUnit: &orgtypes.OrganizationalUnit{Id: aws.String(id), Name: aws.String("name of " + id)}}, nil
}

func (f *fakeOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.calls++
	a, next := page(f.accounts[aws.ToString(in.ParentId)], in.NextToken, in.MaxResults)
	return &organizations.ListAccountsForParentOutput{Accounts: a, NextToken: next}, nil
}

// ListAccounts lists every account of every parent, by id.
func (f *fakeOrg) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.calls++
	var all []orgtypes.Account
	for _, list := range f.accounts {
		all = append(all, list...)
	}
	slices.SortFunc(all, func(a, b orgtypes.Account) int { return strings.Compare(aws.ToString(a.Id), aws.ToString(b.Id)) })
	a, next := page(all, in.NextToken, in.MaxResults)
	return &organizations.ListAccountsOutput{Accounts: a, NextToken: next}, nil
}

func (f *fakeOrg) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	f.calls++
	ids, next := page(f.children[aws.ToString(in.ParentId)], in.NextToken, in.MaxResults)
	var ous []orgtypes.OrganizationalUnit
	for _, id := range ids {
		ous = append(ous, orgtypes.OrganizationalUnit{Id: aws.String(id), Name: aws.String("name of " + id)})
	}
	return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: ous, NextToken: next}, nil
}

// TestDiscoverAccountsPaging is the paging logic alone; the end-to-end
// tests run it against the simulated Organizations over HTTP.
func TestDiscoverAccountsPaging(t *testing.T) {
	f := &fakeOrg{accounts: map[string][]orgtypes.Account{}, children: map[string][]string{
		"r-root":           {"ou-root-00000001", "ou-other-0000005"},
		"ou-root-00000001": {"ou-root-00000002", "ou-root-00000003"},
		"ou-root-00000002": {"ou-root-00000004"},
	}}
	var all []string
	for i := range 45 {
		id := fmt.Sprintf("%012d", 200000000000+i)
		all = append(all, id)
		a := orgtypes.Account{Id: aws.String(id), Name: aws.String("acct" + strconv.Itoa(i)), State: orgtypes.AccountStateActive}
		parent := []string{"ou-root-00000001", "ou-root-00000002", "ou-root-00000003", "ou-root-00000004", "ou-other-0000005"}[i%5]
		f.accounts[parent] = append(f.accounts[parent], a)
	}
	got, org, err := DiscoverAccounts(context.Background(), f, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, all) {
		t.Errorf("the walk from the root found %d accounts, want all 45", len(ids))
	}
	if n := len(org.Units); n != 6 { // the root and five OUs
		t.Errorf("the walk recorded %d units, want 6: %+v", n, org.Units)
	}
	got, org, err = DiscoverAccounts(context.Background(), f, []string{"ou-root-00000001", "ou-root-00000002"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 36 { // every account but the ones under ou-other
		t.Errorf("--ou found %d accounts, want 36", len(got))
	}
	// ou-root-00000002 was given, and found under ou-root-00000001: its
	// parent is known.
	for _, u := range org.Units {
		if u.ID == "ou-root-00000002" && u.ParentID != "ou-root-00000001" {
			t.Errorf("ou-root-00000002's parent = %q, want ou-root-00000001", u.ParentID)
		}
	}
}
