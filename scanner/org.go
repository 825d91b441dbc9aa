package scanner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
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
		return fmt.Sprintf("the caller may not list the organization's accounts (%s from %s): run from the management account or a delegated administrator for AWS Organizations, with organizations:ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent, ListAccounts and DescribeOrganizationalUnit allowed", code, e.Op)
	case "ParentNotFoundException", "TargetNotFoundException", "OrganizationalUnitNotFoundException":
		return fmt.Sprintf("--ou %s: the organization has no such organizational unit (%s from %s): check the id with `aws organizations list-organizational-units-for-parent`", e.BadParent, code, e.Op)
	}
	return fmt.Sprintf("list the organization's accounts (%s): %s", e.Op, awsconfig.Explain(e.Err))
}

func (e *OrgError) Unwrap() error { return e.Err }

// IsUsage reports whether the failure is a bad --ou value.
func (e *OrgError) IsUsage() bool {
	var ae smithy.APIError
	return e.BadParent != "" && errors.As(e.Err, &ae) &&
		(ae.ErrorCode() == "ParentNotFoundException" || ae.ErrorCode() == "TargetNotFoundException" ||
			ae.ErrorCode() == "OrganizationalUnitNotFoundException")
}

// DiscoverAccounts walks the organization from its roots (ous empty) or
// from each of ous, breadth first, and returns the accounts found, sorted
// by id and each once, with the units walked. Per unit it makes one
// ListOrganizationalUnitsForParent and one ListAccountsForParent call
// (more for units of over 20 children); with ous empty one ListRoots
// call finds the roots, and each --ou costs one DescribeOrganizationalUnit
// (ListRoots for a root id) for its name. ListAccounts lists every account
// but not where it sits, so it does not replace the walk; with ous empty it
// is called after the walk to catch an account that moved during the walk
// from a unit not yet read into one already read (listed in neither): such
// an account is returned (to be scanned) and recorded in the
// organization's Unplaced, and an account the walk saw but ListAccounts
// does not is kept, with a note. Pages are read with
// the SDK's paginators, which follow NextToken through empty pages until
// it is absent. call is invoked once per API call made.
func DiscoverAccounts(ctx context.Context, c OrganizationsAPI, ous []string, call func()) ([]OrgAccount, *report.Organization, error) {
	if call == nil {
		call = func() {}
	}
	type unit struct{ id, name, parent, given string }
	var queue []unit
	// The organization's id and management account come from the ARNs
	// the walk lists anyway (no DescribeOrganization call, no permission
	// more): the first one that parses names them.
	var orgID, mgmt string
	fromARN := func(s *string) {
		if orgID == "" {
			orgID, mgmt = orgOfARN(aws.ToString(s))
		}
	}
	var roots []orgtypes.Root
	if len(ous) == 0 || slices.ContainsFunc(ous, rootPattern.MatchString) {
		p := organizations.NewListRootsPaginator(c, &organizations.ListRootsInput{MaxResults: aws.Int32(orgPageSize)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			call()
			if err != nil {
				return nil, nil, &OrgError{Op: "organizations:ListRoots", Err: err}
			}
			roots = append(roots, page.Roots...)
			for _, r := range page.Roots {
				fromARN(r.Arn)
			}
		}
	}
	if len(ous) == 0 {
		for _, r := range roots {
			queue = append(queue, unit{id: aws.ToString(r.Id), name: aws.ToString(r.Name)})
		}
	}
	for _, ou := range ous {
		u := unit{id: ou, given: ou}
		if rootPattern.MatchString(ou) {
			i := slices.IndexFunc(roots, func(r orgtypes.Root) bool { return aws.ToString(r.Id) == ou })
			if i < 0 {
				return nil, nil, &OrgError{Op: "organizations:ListRoots", BadParent: ou,
					Err: &smithy.GenericAPIError{Code: "ParentNotFoundException", Message: "no root " + ou}}
			}
			u.name = aws.ToString(roots[i].Name)
		} else {
			out, err := c.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(ou)})
			call()
			if err != nil {
				return nil, nil, &OrgError{Op: "organizations:DescribeOrganizationalUnit", Err: err, BadParent: ou}
			}
			if out.OrganizationalUnit != nil {
				u.name = aws.ToString(out.OrganizationalUnit.Name)
				fromARN(out.OrganizationalUnit.Arn)
			}
		}
		queue = append(queue, u)
	}
	byID := map[string]OrgAccount{}
	// inUnit is the unit each account was first listed in.
	inUnit := map[string]string{}
	// An OU given twice, or under another given OU, is read once: as
	// found under its parent when that was walked first.
	units := map[string]*report.OrgUnit{}
	// skip records that u could not be read (deleted while the walk went
	// on): the walk goes on without its branch, and the report says so.
	skip := func(u *report.OrgUnit, op string, err error) {
		var ae smithy.APIError
		errors.As(err, &ae)
		u.Skipped = joinReason(u.Skipped, fmt.Sprintf("%s answered %s for it: it was deleted or moved while the organization was read, so its accounts and the units below it were not all read; re-scan", op, ae.ErrorCode()))
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if u, ok := units[cur.id]; ok {
			if u.ParentID == "" {
				u.ParentID = cur.parent
			}
			continue
		}
		u := &report.OrgUnit{ID: cur.id, Name: cur.name, ParentID: cur.parent, Accounts: []string{}}
		units[cur.id] = u
		pa := organizations.NewListAccountsForParentPaginator(c, &organizations.ListAccountsForParentInput{
			ParentId: aws.String(cur.id), MaxResults: aws.Int32(orgPageSize),
		})
		gone := false
		for pa.HasMorePages() {
			page, err := pa.NextPage(ctx)
			call()
			if err != nil {
				if unitGone(err) {
					skip(u, "organizations:ListAccountsForParent", err)
					gone = true
					break
				}
				return nil, nil, &OrgError{Op: "organizations:ListAccountsForParent", Err: err, BadParent: cur.given}
			}
			for _, a := range page.Accounts {
				id := aws.ToString(a.Id)
				fromARN(a.Arn)
				if first, ok := inUnit[id]; ok && first != cur.id {
					// Listed in two units: it moved between the two
					// listings. Kept in the first; both say so.
					why := fmt.Sprintf("account %s was listed both in %s and in %s: it moved while the organization was read, so where it sits now is not known; re-scan", id, first, cur.id)
					units[first].Skipped = joinReason(units[first].Skipped, why)
					u.Skipped = joinReason(u.Skipped, why)
					continue
				}
				inUnit[id] = cur.id
				byID[id] = OrgAccount{ID: id, Name: aws.ToString(a.Name), State: string(a.State)}
				u.Accounts = append(u.Accounts, id)
			}
		}
		if gone {
			slices.Sort(u.Accounts)
			u.Accounts = slices.Compact(u.Accounts)
			continue
		}
		pc := organizations.NewListOrganizationalUnitsForParentPaginator(c, &organizations.ListOrganizationalUnitsForParentInput{
			ParentId: aws.String(cur.id), MaxResults: aws.Int32(orgPageSize),
		})
		for pc.HasMorePages() {
			page, err := pc.NextPage(ctx)
			call()
			if err != nil {
				if unitGone(err) {
					skip(u, "organizations:ListOrganizationalUnitsForParent", err)
					break
				}
				return nil, nil, &OrgError{Op: "organizations:ListOrganizationalUnitsForParent", Err: err, BadParent: cur.given}
			}
			for _, ch := range page.OrganizationalUnits {
				queue = append(queue, unit{id: aws.ToString(ch.Id), name: aws.ToString(ch.Name), parent: cur.id, given: cur.given})
			}
		}
		slices.Sort(u.Accounts)
		u.Accounts = slices.Compact(u.Accounts)
	}
	org := &report.Organization{Units: make([]report.OrgUnit, 0, len(units))}
	if len(ous) == 0 {
		// The whole organization: cross-check the walk with ListAccounts,
		// after it. An account that moved during the walk from a unit not
		// yet read into one already read is in no unit's listing; it is
		// scanned all the same, and recorded as not placed.
		listed := map[string]bool{}
		p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{MaxResults: aws.Int32(orgPageSize)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			call()
			if err != nil {
				return nil, nil, &OrgError{Op: "organizations:ListAccounts", Err: err}
			}
			for _, a := range page.Accounts {
				id := aws.ToString(a.Id)
				fromARN(a.Arn)
				listed[id] = true
				if _, ok := byID[id]; ok {
					continue
				}
				byID[id] = OrgAccount{ID: id, Name: aws.ToString(a.Name), State: string(a.State)}
				org.Unplaced = append(org.Unplaced, report.UnplacedAccount{ID: id, Name: aws.ToString(a.Name), Reason: report.UnplacedReason})
			}
		}
		for id := range inUnit {
			if !listed[id] {
				org.Notes = append(org.Notes, fmt.Sprintf("account %s was listed in %s during the walk but not by ListAccounts after it: it left the organization during the scan; it is kept", id, inUnit[id]))
			}
		}
		slices.SortFunc(org.Unplaced, func(a, b report.UnplacedAccount) int { return strings.Compare(a.ID, b.ID) })
		slices.Sort(org.Notes)
	}
	org.ID, org.ManagementAccount = orgID, mgmt
	out := make([]OrgAccount, 0, len(byID))
	for _, a := range byID {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b OrgAccount) int { return strings.Compare(a.ID, b.ID) })
	for _, u := range units {
		org.Units = append(org.Units, *u)
	}
	slices.SortFunc(org.Units, func(a, b report.OrgUnit) int { return strings.Compare(a.ID, b.ID) })
	return out, org, nil
}

// orgOfARN returns the organization id and management account an
// Organizations ARN names (arn:PARTITION:organizations::MANAGEMENT:
// root/o-ID/r-…, ou/o-ID/ou-…, account/o-ID/ACCOUNT), or "" and "" for any
// other string.
func orgOfARN(s string) (orgID, mgmt string) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "organizations" {
		return "", ""
	}
	parts := strings.Split(a.Resource, "/")
	if len(parts) < 3 || !strings.HasPrefix(parts[1], "o-") {
		return "", ""
	}
	return parts[1], a.AccountID
}

// unitGone reports whether err is Organizations saying that the root or
// OU named in the call no longer exists: ParentNotFoundException for a
// ParentId (ListAccountsForParent, ListOrganizationalUnitsForParent,
// ListChildren) and ChildNotFoundException for a ChildId (ListParents),
// the error names of the Organizations API Reference.
func unitGone(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "ParentNotFoundException" || ae.ErrorCode() == "ChildNotFoundException")
}

// joinReason adds why to the reasons in have ("" for none), once.
func joinReason(have, why string) string {
	switch {
	case have == "":
		return why
	case strings.Contains(have, why):
		return have
	}
	return have + "; " + why
}

// ParseShard reads --shard I/N (1 <= I <= N <= report.MaxShards). The empty string is
// no sharding (the zero Shard).
func ParseShard(s string) (report.Shard, error) {
	if s == "" {
		return report.Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || n > report.MaxShards || i < 1 || i > n {
		return report.Shard{}, fmt.Errorf("--shard %q: want I/N with 1 <= I <= N, e.g. --shard 2/4 for the second of four jobs", s)
	}
	return report.Shard{Index: i, Count: n}, nil
}

// ShardOf returns the shard (1..count) account belongs to; see
// [report.ShardOf], which holds the rule so that report readers can tell
// which shard an account was left to.
func ShardOf(account string, count int) int { return report.ShardOf(account, count) }

// inShard reports whether account belongs to s (the zero Shard holds
// every account).
func inShard(s report.Shard, account string) bool {
	return s.Count == 0 || ShardOf(account, s.Count) == s.Index
}
