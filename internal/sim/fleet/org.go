package fleet

import (
	"fmt"
	"regexp"
	"slices"
)

// Organization makes a fleet's accounts one AWS Organization: every
// account of the fleet is a member, in the OU its Account.Parent names.
type Organization struct {
	// ID is the organization's id (o-…; default o-imdsfleetsim).
	ID string `json:"id,omitempty"`
	// RootID is the root's id (r-…; default r-sim0).
	RootID string `json:"rootId,omitempty"`
	// ManagementAccount is the management account's id (default: the
	// first account).
	ManagementAccount string `json:"managementAccount,omitempty"`
	// DelegatedAdministrators may list the organization's accounts too.
	DelegatedAdministrators []string `json:"delegatedAdministrators,omitempty"`
	// OUs are the organizational units.
	OUs []OU `json:"ous,omitempty"`
	// EmptyPageEvery makes every n-th page of a List call an empty page
	// that still carries a NextToken, as AWS may answer (0: never).
	EmptyPageEvery int `json:"emptyPageEvery,omitempty"`
}

// OU is one organizational unit.
type OU struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Parent is the id of the OU it sits in ("" for the root).
	Parent string `json:"parent,omitempty"`
	// DeletedDuringWalk is a fault knob: the OU is deleted right after
	// its parent lists it. ListOrganizationalUnitsForParent of its parent
	// still names it, but every call that names it (ListAccountsForParent,
	// ListOrganizationalUnitsForParent and ListChildren with it as
	// ParentId) answers ParentNotFoundException, and
	// DescribeOrganizationalUnit OrganizationalUnitNotFoundException, as
	// AWS answers for an id it no longer has.
	DeletedDuringWalk bool `json:"deletedDuringWalk,omitempty"`
}

// Account states as Organizations reports them in Account.State.
const (
	AccountActive            = "ACTIVE"
	AccountSuspended         = "SUSPENDED"
	AccountPendingClosure    = "PENDING_CLOSURE"
	AccountClosed            = "CLOSED"
	AccountPendingActivation = "PENDING_ACTIVATION"
)

// Defaults of an Organization's ids.
const (
	DefaultOrganizationID = "o-imdsfleetsim"
	DefaultRootID         = "r-sim0"
)

// Partitions a fleet may be in.
const (
	PartitionAWS   = "aws"
	PartitionGov   = "aws-us-gov"
	PartitionChina = "aws-cn"
)

var (
	orgIDRe  = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	rootIDRe = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	ouIDRe   = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
)

// OrgID returns the organization's id, or its default.
func (o *Organization) OrgID() string {
	if o.ID != "" {
		return o.ID
	}
	return DefaultOrganizationID
}

// Root returns the root's id, or its default.
func (o *Organization) Root() string {
	if o.RootID != "" {
		return o.RootID
	}
	return DefaultRootID
}

// AccountState returns a's Organizations state (ACTIVE when unset).
func (a *Account) AccountState() string {
	if a.State == "" {
		return AccountActive
	}
	return a.State
}

// PartitionName returns the fleet's partition ("aws" when unset).
func (f *Fleet) PartitionName() string {
	if f.Partition == "" {
		return PartitionAWS
	}
	return f.Partition
}

func (f *Fleet) validateOrg(p *problems) {
	switch f.Partition {
	case "", PartitionAWS, PartitionGov, PartitionChina:
	default:
		p.add("partition %q: want aws, aws-us-gov or aws-cn", f.Partition)
	}
	o := f.Organization
	if o == nil {
		for _, a := range f.Accounts {
			if a.State != "" || a.Parent != "" {
				p.add("account %s: state and parent need an organization", a.ID)
				break
			}
		}
		return
	}
	if o.ID != "" && !orgIDRe.MatchString(o.ID) {
		p.add("organization: id %q: want o- and 10 to 32 lowercase letters or digits", o.ID)
	}
	if o.RootID != "" && !rootIDRe.MatchString(o.RootID) {
		p.add("organization: rootId %q: want r- and 4 to 32 lowercase letters or digits", o.RootID)
	}
	if o.EmptyPageEvery < 0 {
		p.add("organization: emptyPageEvery %d: want 0 (never) or more", o.EmptyPageEvery)
	}
	ids := map[string]bool{}
	for _, a := range f.Accounts {
		ids[a.ID] = true
	}
	if o.ManagementAccount != "" && !ids[o.ManagementAccount] {
		p.add("organization: managementAccount %s is not one of the accounts", o.ManagementAccount)
	}
	for _, d := range o.DelegatedAdministrators {
		if !ids[d] {
			p.add("organization: delegated administrator %s is not one of the accounts", d)
		}
	}
	ous := map[string]bool{}
	for _, ou := range o.OUs {
		if !ouIDRe.MatchString(ou.ID) {
			p.add("organization: OU id %q: want ou-xxxx-yyyyyyyy", ou.ID)
		}
		if ous[ou.ID] {
			p.add("organization: OU %s appears twice", ou.ID)
		}
		ous[ou.ID] = true
	}
	for _, ou := range o.OUs {
		if ou.Parent != "" && !ous[ou.Parent] && ou.Parent != o.Root() {
			p.add("organization: OU %s: parent %s is not an OU", ou.ID, ou.Parent)
		}
	}
	// A parent chain must end at the root (no cycle).
	parent := map[string]string{}
	for _, ou := range o.OUs {
		parent[ou.ID] = ou.Parent
	}
	for _, ou := range o.OUs {
		seen := map[string]bool{}
		for cur := ou.ID; cur != "" && cur != o.Root(); cur = parent[cur] {
			if seen[cur] {
				p.add("organization: OU %s is its own ancestor", ou.ID)
				break
			}
			seen[cur] = true
		}
	}
	states := []string{AccountActive, AccountSuspended, AccountPendingClosure, AccountClosed, AccountPendingActivation}
	for _, a := range f.Accounts {
		if a.State != "" && !slices.Contains(states, a.State) {
			p.add("account %s: state %q: want one of %v", a.ID, a.State, states)
		}
		if a.Parent != "" && !ous[a.Parent] && a.Parent != o.Root() {
			p.add("account %s: parent %s is not an OU of the organization", a.ID, a.Parent)
		}
		if a.MovingTo != "" && !ous[a.MovingTo] && a.MovingTo != o.Root() {
			p.add("account %s: movingTo %s is not an OU of the organization", a.ID, a.MovingTo)
		}
		if a.MovesDuringWalkTo != "" && !ous[a.MovesDuringWalkTo] && a.MovesDuringWalkTo != o.Root() {
			p.add("account %s: movesDuringWalkTo %s is not an OU of the organization", a.ID, a.MovesDuringWalkTo)
		}
	}
}

// Management returns the management account's id.
func (f *Fleet) Management() string {
	if f.Organization != nil && f.Organization.ManagementAccount != "" {
		return f.Organization.ManagementAccount
	}
	if len(f.Accounts) > 0 {
		return f.Accounts[0].ID
	}
	return ""
}

// SyntheticOU returns the id of a synthetic organization's i-th OU.
func SyntheticOU(i int) string { return fmt.Sprintf("ou-sim0-%08d", i) }
