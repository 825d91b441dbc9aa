package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// organizationsTarget is the awsJson 1.1 X-Amz-Target prefix of AWS
// Organizations.
const organizationsTarget = "AWSOrganizationsV20161128"

// orgMaxResults is the largest page Organizations' List calls accept
// (docs/aws-facts.md#organizations).
const orgMaxResults = 20

// organizationsService is AWS Organizations (awsJson 1.1): account
// discovery for imdsfleet scan --org and --ou. It is global: its calls
// count under Region "", are never throttled, and take latency and faults
// from the signing Region's knobs.
func (s *Server) organizationsService() *service {
	return &service{
		signingName: "organizations",
		iamPrefix:   "organizations",
		version:     "2016-11-28",
		query:       wire.Codec{Protocol: wire.Query},
		target:      organizationsTarget,
		docCodec: func(p wire.Protocol) (wire.Codec, bool) {
			return wire.Codec{Protocol: p}, p == wire.AWSJSON11
		},
		global:        true,
		unsigned:      wire.Error{Status: http.StatusBadRequest, Code: "MissingAuthenticationTokenException", Message: "Request is missing Authentication Token"},
		wrongProtocol: "The simulated Organizations speaks awsJson1_1 (what the SDKs send), not this protocol.",
		ops: map[string]operation{
			"ListAccounts":                     {handle: (*Server).orgListAccounts},
			"ListAccountsForParent":            {handle: (*Server).orgListAccountsForParent},
			"ListChildren":                     {handle: (*Server).orgListChildren},
			"ListRoots":                        {handle: (*Server).orgListRoots},
			"ListOrganizationalUnitsForParent": {handle: (*Server).orgListOUsForParent},
			"DescribeOrganizationalUnit":       {handle: (*Server).orgDescribeOU},
			"DescribeOrganization":             {handle: (*Server).orgDescribeOrganization},
		},
	}
}

// orgState is the organization the fleet describes, immutable after New
// but for the accounts moved during a walk (fleet.Account.MovesDuringWalkTo).
type orgState struct {
	id, root, mgmt string
	admins         []string
	emptyEvery     int
	ous            []fleet.OU                  // sorted by id
	ouParent       map[string]string           // OU id → parent id (the root's id for the root)
	deleted        map[string]bool             // OUs deleted during a walk (fleet.OU.DeletedDuringWalk)
	accounts       []*fleet.Account            // sorted by id
	byParent       map[string][]*fleet.Account // parent id → its accounts, sorted by id
	joined         time.Time

	movedMu sync.Mutex
	moved   map[string]bool // accounts whose MovesDuringWalkTo move happened
	movers  bool            // some account has MovesDuringWalkTo
}

func newOrgState(f *fleet.Fleet) *orgState {
	o := f.Organization
	if o == nil {
		return nil
	}
	st := &orgState{
		id: o.OrgID(), root: o.Root(), mgmt: f.Management(), admins: o.DelegatedAdministrators,
		emptyEvery: o.EmptyPageEvery, ouParent: map[string]string{}, byParent: map[string][]*fleet.Account{}, deleted: map[string]bool{},
		moved: map[string]bool{}, joined: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	st.ous = slices.Clone(o.OUs)
	slices.SortFunc(st.ous, func(a, b fleet.OU) int { return strings.Compare(a.ID, b.ID) })
	for _, ou := range st.ous {
		p := ou.Parent
		if p == "" {
			p = st.root
		}
		st.ouParent[ou.ID] = p
		if ou.DeletedDuringWalk {
			st.deleted[ou.ID] = true
		}
	}
	for i := range f.Accounts {
		a := &f.Accounts[i]
		st.accounts = append(st.accounts, a)
		p := a.Parent
		if p == "" {
			p = st.root
		}
		st.byParent[p] = append(st.byParent[p], a)
		if a.MovesDuringWalkTo != "" && a.MovesDuringWalkTo != p {
			st.movers = true
		}
		if a.MovingTo != "" && a.MovingTo != p {
			st.byParent[a.MovingTo] = append(st.byParent[a.MovingTo], a)
		}
	}
	byID := func(a, b *fleet.Account) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(st.accounts, byID)
	for _, list := range st.byParent {
		slices.SortFunc(list, byID)
	}
	return st
}

// orgAccess answers what AWS answers a caller that may not make a List
// call: no organization, or not the management account or a delegated
// administrator. "" lets the call through.
func (s *Server) orgAccess(c *call, listing bool) string {
	if s.org == nil {
		return c.fail(http.StatusBadRequest, "AWSOrganizationsNotInUseException",
			"Your account is not a member of an organization.")
	}
	if listing && c.account.id != s.org.mgmt && !slices.Contains(s.org.admins, c.account.id) {
		return c.fail(http.StatusBadRequest, "AccessDeniedException",
			"You don't have permissions to access this resource. Only the management account or a delegated administrator of the organization can call "+c.api+".")
	}
	return ""
}

// orgInputError answers an InvalidInputException with its Reason, as
// Organizations does for values out of range and bad tokens.
func orgInputError(c *call, reason, msg string) string {
	c.codec.SetHeaders(c.w.Header())
	body, _ := json.Marshal(map[string]string{"__type": "InvalidInputException", "message": msg, "Message": msg, "Reason": reason})
	c.w.Header().Set("X-Amzn-ErrorType", "InvalidInputException")
	c.w.Header().Set("X-Amzn-Requestid", c.requestID())
	c.w.WriteHeader(http.StatusBadRequest)
	_, _ = c.w.Write(body)
	return "InvalidInputException"
}

// orgPage reads MaxResults and NextToken and returns the offset to start
// at, the page size and whether this page is one of the empty ones. A
// token is base64 of "offset:empty" where empty says the page it asks for
// is an injected empty page.
func (s *Server) orgPage(c *call) (offset, size int, empty bool, fail string) {
	size = orgMaxResults
	if v, ok := c.doc["MaxResults"]; ok && v != nil {
		f, isNum := v.(float64)
		switch {
		case !isNum || f != float64(int(f)):
			return 0, 0, false, orgInputError(c, "INVALID_INPUT", "MaxResults must be a whole number.")
		case f < 1:
			return 0, 0, false, orgInputError(c, "MIN_VALUE_EXCEEDED", fmt.Sprintf("You provided a value that is less than the minimum allowed value: MaxResults %d, minimum 1.", int(f)))
		case f > orgMaxResults:
			return 0, 0, false, orgInputError(c, "MAX_VALUE_EXCEEDED", fmt.Sprintf("You provided a value that exceeds the maximum allowed value: MaxResults %d, maximum %d.", int(f), orgMaxResults))
		}
		size = int(f)
	}
	if v, ok := c.doc["NextToken"].(string); ok && v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		off, emp, ok2 := strings.Cut(string(b), ":")
		n, err2 := strconv.Atoi(off)
		if err != nil || !ok2 || err2 != nil || n < 0 {
			return 0, 0, false, orgInputError(c, "INVALID_PAGINATION_TOKEN", "The specified pagination token is not valid.")
		}
		return n, size, emp == "e", ""
	}
	return 0, size, false, ""
}

// orgPageOf serves one page of up to size of n items starting at offset:
// [lo, hi) and the next token ("" at the end). With emptyEvery k, the page
// after every k-th page is an empty page carrying a NextToken (also after
// the last page, as AWS may answer), whose own token resumes where it was.
func (s *Server) orgPageOf(offset, size, n int, empty bool) (lo, hi int, next string) {
	token := func(off int, empty bool) string {
		e := ""
		if empty {
			e = "e"
		}
		return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(off) + ":" + e))
	}
	if empty {
		return offset, offset, token(offset, false)
	}
	lo = min(offset, n)
	hi = min(lo+size, n)
	k := s.org.emptyEvery
	if k > 0 && hi > lo && ((hi+size-1)/size)%k == 0 {
		return lo, hi, token(hi, true)
	}
	if hi >= n {
		return lo, hi, ""
	}
	return lo, hi, token(hi, false)
}

// orgAccountJSON is an Account as Organizations answers it: State and the
// retired Status, which says ACTIVE for a PENDING_ACTIVATION account and
// SUSPENDED for a CLOSED one, so a reader of Status is caught.
type orgAccountJSON struct {
	ID              string  `json:"Id"`
	Arn             string  `json:"Arn"`
	Email           string  `json:"Email"`
	Name            string  `json:"Name"`
	State           string  `json:"State"`
	Status          string  `json:"Status"`
	JoinedMethod    string  `json:"JoinedMethod"`
	JoinedTimestamp float64 `json:"JoinedTimestamp"`
}

func (s *Server) orgAccount(a *fleet.Account) orgAccountJSON {
	state := a.AccountState()
	status := state
	switch state {
	case fleet.AccountPendingActivation:
		status = fleet.AccountActive
	case fleet.AccountClosed:
		status = fleet.AccountSuspended
	}
	name := a.Name
	if name == "" {
		name = "account-" + a.ID
	}
	return orgAccountJSON{
		ID: a.ID, Arn: fmt.Sprintf("arn:%s:organizations::%s:account/%s/%s", s.partition, s.org.mgmt, s.org.id, a.ID),
		Email: "aws+" + a.ID + "@example.com", Name: name, State: state, Status: status,
		JoinedMethod: "CREATED", JoinedTimestamp: float64(s.org.joined.Unix()),
	}
}

func (s *Server) orgWrite(c *call, v any) string {
	body, err := json.Marshal(v)
	if err != nil {
		return c.fail(http.StatusInternalServerError, "ServiceException", err.Error())
	}
	c.codec.WriteDoc(c.w, body)
	return "ok"
}

func (s *Server) orgAccounts(c *call, list []*fleet.Account) string {
	off, size, empty, fail := s.orgPage(c)
	if fail != "" {
		return fail
	}
	lo, hi, next := s.orgPageOf(off, size, len(list), empty)
	out := struct {
		Accounts  []orgAccountJSON `json:"Accounts"`
		NextToken *string          `json:"NextToken,omitempty"`
	}{Accounts: []orgAccountJSON{}}
	for _, a := range list[lo:hi] {
		out.Accounts = append(out.Accounts, s.orgAccount(a))
	}
	if next != "" {
		out.NextToken = &next
	}
	return s.orgWrite(c, out)
}

func (s *Server) orgListAccounts(c *call) string {
	if out := s.orgAccess(c, true); out != "" {
		return out
	}
	return s.orgAccounts(c, s.org.accounts)
}

var (
	orgParentRe = regexp.MustCompile(`^(?:r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
)

// orgParent reads ParentId: a root or OU of the organization.
func (s *Server) orgParent(c *call) (string, string) {
	p, _ := c.doc["ParentId"].(string)
	if p == "" {
		return "", c.fail(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'parentId' failed to satisfy constraint: Member must not be null")
	}
	if !orgParentRe.MatchString(p) {
		return "", orgInputError(c, "INVALID_PATTERN", fmt.Sprintf("You provided a value that does not match the required pattern: ParentId %q.", p))
	}
	if _, ok := s.org.ouParent[p]; (!ok && p != s.org.root) || s.org.deleted[p] {
		return "", c.fail(http.StatusBadRequest, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
	}
	return p, ""
}

func (s *Server) orgListAccountsForParent(c *call) string {
	if out := s.orgAccess(c, true); out != "" {
		return out
	}
	p, fail := s.orgParent(c)
	if fail != "" {
		return fail
	}
	list := s.org.inParent(p)
	out := s.orgAccounts(c, list)
	if out == "ok" && s.org.movers {
		s.moveInto(c, p, len(list))
	}
	return out
}

// inParent lists the accounts directly in p now, sorted by id: as the
// fleet places them, with the MovesDuringWalkTo moves made so far.
func (o *orgState) inParent(p string) []*fleet.Account {
	if !o.movers {
		return o.byParent[p]
	}
	o.movedMu.Lock()
	defer o.movedMu.Unlock()
	var out []*fleet.Account
	for _, a := range o.byParent[p] {
		if !o.moved[a.ID] {
			out = append(out, a)
		}
	}
	for _, a := range o.accounts {
		if o.moved[a.ID] && a.MovesDuringWalkTo == p && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *fleet.Account) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// moveInto makes the MovesDuringWalkTo moves into p once a
// ListAccountsForParent of p has served the last of its n accounts.
func (s *Server) moveInto(c *call, p string, n int) {
	off, size, empty, _ := s.orgPage(c)
	if empty || min(off, n)+size < n {
		return
	}
	o := s.org
	o.movedMu.Lock()
	defer o.movedMu.Unlock()
	for _, a := range o.accounts {
		if a.MovesDuringWalkTo == p {
			o.moved[a.ID] = true
		}
	}
}

func (s *Server) orgListChildren(c *call) string {
	if out := s.orgAccess(c, true); out != "" {
		return out
	}
	p, fail := s.orgParent(c)
	if fail != "" {
		return fail
	}
	type child struct {
		ID   string `json:"Id"`
		Type string `json:"Type"`
	}
	var children []child
	switch t, _ := c.doc["ChildType"].(string); t {
	case "ACCOUNT":
		for _, a := range s.org.inParent(p) {
			children = append(children, child{a.ID, t})
		}
	case "ORGANIZATIONAL_UNIT":
		for _, ou := range s.org.ous {
			if s.org.ouParent[ou.ID] == p {
				children = append(children, child{ou.ID, t})
			}
		}
	default:
		return c.fail(http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%s' at 'childType' failed to satisfy constraint: Member must satisfy enum value set: [ACCOUNT, ORGANIZATIONAL_UNIT]", t))
	}
	off, size, empty, fail := s.orgPage(c)
	if fail != "" {
		return fail
	}
	lo, hi, next := s.orgPageOf(off, size, len(children), empty)
	out := struct {
		Children  []child `json:"Children"`
		NextToken *string `json:"NextToken,omitempty"`
	}{Children: append([]child{}, children[lo:hi]...)}
	if next != "" {
		out.NextToken = &next
	}
	return s.orgWrite(c, out)
}

func (s *Server) orgListRoots(c *call) string {
	if out := s.orgAccess(c, true); out != "" {
		return out
	}
	if _, _, _, fail := s.orgPage(c); fail != "" {
		return fail
	}
	type root struct {
		ID          string `json:"Id"`
		Arn         string `json:"Arn"`
		Name        string `json:"Name"`
		PolicyTypes []any  `json:"PolicyTypes"`
	}
	return s.orgWrite(c, struct {
		Roots []root `json:"Roots"`
	}{[]root{{ID: s.org.root, Arn: fmt.Sprintf("arn:%s:organizations::%s:root/%s/%s", s.partition, s.org.mgmt, s.org.id, s.org.root), Name: "Root", PolicyTypes: []any{}}}})
}

func (s *Server) orgDescribeOrganization(c *call) string {
	if out := s.orgAccess(c, false); out != "" {
		return out
	}
	type org struct {
		ID                   string `json:"Id"`
		Arn                  string `json:"Arn"`
		FeatureSet           string `json:"FeatureSet"`
		MasterAccountArn     string `json:"MasterAccountArn"`
		MasterAccountID      string `json:"MasterAccountId"`
		MasterAccountEmail   string `json:"MasterAccountEmail"`
		AvailablePolicyTypes []any  `json:"AvailablePolicyTypes"`
	}
	return s.orgWrite(c, struct {
		Organization org `json:"Organization"`
	}{org{
		ID: s.org.id, Arn: fmt.Sprintf("arn:%s:organizations::%s:organization/%s", s.partition, s.org.mgmt, s.org.id),
		FeatureSet:       "ALL",
		MasterAccountArn: fmt.Sprintf("arn:%s:organizations::%s:account/%s/%s", s.partition, s.org.mgmt, s.org.id, s.org.mgmt),
		MasterAccountID:  s.org.mgmt, MasterAccountEmail: "aws+" + s.org.mgmt + "@example.com", AvailablePolicyTypes: []any{},
	}})
}

// orgOUJSON is an OrganizationalUnit as Organizations answers it.
type orgOUJSON struct {
	ID   string `json:"Id"`
	Arn  string `json:"Arn"`
	Name string `json:"Name"`
}

func (s *Server) orgOU(ou fleet.OU) orgOUJSON {
	return orgOUJSON{ID: ou.ID, Name: ou.Name,
		Arn: fmt.Sprintf("arn:%s:organizations::%s:ou/%s/%s", s.partition, s.org.mgmt, s.org.id, ou.ID)}
}

// orgListOUsForParent answers ListOrganizationalUnitsForParent: the OUs
// directly under ParentId, with their names, paged like every List call.
func (s *Server) orgListOUsForParent(c *call) string {
	if out := s.orgAccess(c, true); out != "" {
		return out
	}
	p, fail := s.orgParent(c)
	if fail != "" {
		return fail
	}
	var ous []orgOUJSON
	for _, ou := range s.org.ous {
		if s.org.ouParent[ou.ID] == p {
			ous = append(ous, s.orgOU(ou))
		}
	}
	off, size, empty, fail := s.orgPage(c)
	if fail != "" {
		return fail
	}
	lo, hi, next := s.orgPageOf(off, size, len(ous), empty)
	out := struct {
		OrganizationalUnits []orgOUJSON `json:"OrganizationalUnits"`
		NextToken           *string     `json:"NextToken,omitempty"`
	}{OrganizationalUnits: append([]orgOUJSON{}, ous[lo:hi]...)}
	if next != "" {
		out.NextToken = &next
	}
	return s.orgWrite(c, out)
}

var orgOURe = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)

// orgDescribeOU answers DescribeOrganizationalUnit. Like the List calls,
// only the management account or a delegated administrator may call it.
func (s *Server) orgDescribeOU(c *call) string {
	if out := s.orgAccess(c, true); out != "" {
		return out
	}
	id, _ := c.doc["OrganizationalUnitId"].(string)
	if id == "" {
		return c.fail(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'organizationalUnitId' failed to satisfy constraint: Member must not be null")
	}
	if !orgOURe.MatchString(id) {
		return orgInputError(c, "INVALID_PATTERN", fmt.Sprintf("You provided a value that does not match the required pattern: OrganizationalUnitId %q.", id))
	}
	i := slices.IndexFunc(s.org.ous, func(ou fleet.OU) bool { return ou.ID == id })
	if i < 0 || s.org.deleted[id] {
		return c.fail(http.StatusBadRequest, "OrganizationalUnitNotFoundException", "We can't find an organizational unit (OU) with the OrganizationalUnitId that you specified.")
	}
	return s.orgWrite(c, struct {
		OrganizationalUnit orgOUJSON `json:"OrganizationalUnit"`
	}{s.orgOU(s.org.ous[i])})
}
