package scanner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/report"
)

// OrgOptions select the accounts to scan from AWS Organizations.
type OrgOptions struct {
	// OUs are organizational units (or roots) whose accounts are scanned,
	// recursively. Empty: every account of the organization (ListAccounts,
	// which only the management account or a delegated administrator may
	// call).
	OUs []string
}

// orgPageSize is the largest page Organizations' List* calls take
// (MaxResults 1–20, docs/aws-facts.md#organizations).
const orgPageSize = 20

// OrgAccount is one account as Organizations lists it.
type OrgAccount struct {
	ID   string
	Name string
	// State is the account's state (ACTIVE, SUSPENDED, …). The retired
	// Status field is never read.
	State string
}

// AccountStateActive is the only state whose accounts are scanned.
const AccountStateActive = string(orgtypes.AccountStateActive)

var (
	ouPattern   = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	rootPattern = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
)

// CheckOU checks an --ou value: an OU id (ou-xxxx-yyyyyyyy) or a root id
// (r-xxxx).
func CheckOU(id string) error {
	if !ouPattern.MatchString(id) && !rootPattern.MatchString(id) {
		return fmt.Errorf("--ou %q: want an organizational unit id such as ou-ab12-cdef3456 (or a root id such as r-ab12)", id)
	}
	return nil
}

// OrgError is an Organizations call that failed, with what it means for
// --org or --ou.
type OrgError struct {
	Op  string // e.g. "organizations:ListAccounts"
	Err error
	// BadParent is the --ou value Organizations does not know, if that is
	// the failure (a usage error).
	BadParent string
}

func (e *OrgError) Error() string {
	var ae smithy.APIError
	code := ""
	if errors.As(e.Err, &ae) {
		code = ae.ErrorCode()
	}
	switch code {
	case "AWSOrganizationsNotInUseException":
		return fmt.Sprintf("the caller's account is not in an organization (%s from %s): run from the management account of an organization, or use --accounts", code, e.Op)
	case "AccessDeniedException":
		return fmt.Sprintf("the caller may not list the organization's accounts (%s from %s): run from the management account or a delegated administrator for AWS Organizations, with organizations:ListAccounts, ListAccountsForParent and ListChildren allowed", code, e.Op)
	case "ParentNotFoundException", "TargetNotFoundException":
		return fmt.Sprintf("--ou %s: the organization has no such organizational unit (%s from %s): check the id with `aws organizations list-organizational-units-for-parent`", e.BadParent, code, e.Op)
	}
	return fmt.Sprintf("list the organization's accounts (%s): %s", e.Op, awsconfig.Explain(e.Err))
}

func (e *OrgError) Unwrap() error { return e.Err }

// IsUsage reports whether the failure is a bad --ou value.
func (e *OrgError) IsUsage() bool {
	var ae smithy.APIError
	return e.BadParent != "" && errors.As(e.Err, &ae) &&
		(ae.ErrorCode() == "ParentNotFoundException" || ae.ErrorCode() == "TargetNotFoundException")
}

// DiscoverAccounts lists the organization's accounts (ous empty) or the
// accounts under ous, recursively, sorted by id and each once. Pages are
// read with the SDK's paginators, which follow NextToken through empty
// pages until it is absent. call is invoked once per API call made.
func DiscoverAccounts(ctx context.Context, c OrganizationsAPI, ous []string, call func()) ([]OrgAccount, error) {
	if call == nil {
		call = func() {}
	}
	byID := map[string]OrgAccount{}
	add := func(as []orgtypes.Account) {
		for _, a := range as {
			id := aws.ToString(a.Id)
			byID[id] = OrgAccount{ID: id, Name: aws.ToString(a.Name), State: string(a.State)}
		}
	}
	if len(ous) == 0 {
		p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{MaxResults: aws.Int32(orgPageSize)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			call()
			if err != nil {
				return nil, &OrgError{Op: "organizations:ListAccounts", Err: err}
			}
			add(page.Accounts)
		}
	} else {
		// Walk the tree breadth first from each --ou; an OU given twice,
		// or under another given OU, is read once.
		seen := map[string]bool{}
		queue := []struct{ id, given string }{}
		for _, ou := range ous {
			queue = append(queue, struct{ id, given string }{ou, ou})
		}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			if seen[cur.id] {
				continue
			}
			seen[cur.id] = true
			pa := organizations.NewListAccountsForParentPaginator(c, &organizations.ListAccountsForParentInput{
				ParentId: aws.String(cur.id), MaxResults: aws.Int32(orgPageSize),
			})
			for pa.HasMorePages() {
				page, err := pa.NextPage(ctx)
				call()
				if err != nil {
					return nil, &OrgError{Op: "organizations:ListAccountsForParent", Err: err, BadParent: cur.given}
				}
				add(page.Accounts)
			}
			pc := organizations.NewListChildrenPaginator(c, &organizations.ListChildrenInput{
				ParentId: aws.String(cur.id), ChildType: orgtypes.ChildTypeOrganizationalUnit, MaxResults: aws.Int32(orgPageSize),
			})
			for pc.HasMorePages() {
				page, err := pc.NextPage(ctx)
				call()
				if err != nil {
					return nil, &OrgError{Op: "organizations:ListChildren", Err: err, BadParent: cur.given}
				}
				for _, ch := range page.Children {
					queue = append(queue, struct{ id, given string }{aws.ToString(ch.Id), cur.given})
				}
			}
		}
	}
	out := make([]OrgAccount, 0, len(byID))
	for _, a := range byID {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b OrgAccount) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ParseShard reads --shard I/N (1 <= I <= N <= 10000). The empty string is
// no sharding (the zero Shard).
func ParseShard(s string) (report.Shard, error) {
	if s == "" {
		return report.Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || n > 10000 || i < 1 || i > n {
		return report.Shard{}, fmt.Errorf("--shard %q: want I/N with 1 <= I <= N, e.g. --shard 2/4 for the second of four jobs", s)
	}
	return report.Shard{Index: i, Count: n}, nil
}

// ShardOf returns the shard (1..count) account belongs to: the FNV-1a
// 32-bit hash of its id modulo count, plus one. It depends on the id
// alone, so an account stays in its shard when others are added or
// removed, and N jobs with --shard 1/N … N/N cover every account once.
func ShardOf(account string, count int) int {
	if count <= 1 {
		return 1
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32()%uint32(count)) + 1
}

// inShard reports whether account belongs to s (the zero Shard holds
// every account).
func inShard(s report.Shard, account string) bool {
	return s.Count == 0 || ShardOf(account, s.Count) == s.Index
}
