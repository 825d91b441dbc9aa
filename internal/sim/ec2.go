package sim

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ec2Service is EC2 (EC2 Query protocol): its registry and its error
// conventions.
func (s *Server) ec2Service() *service {
	return &service{
		signingName: "ec2",
		iamPrefix:   "ec2",
		version:     "2016-11-15",
		query:       wire.Codec{Protocol: wire.EC2Query, Namespace: ec2Namespace},
		unsigned: wire.Error{Status: http.StatusUnauthorized, Code: "AuthFailure",
			Message: "AWS was not able to validate the provided access credentials (the request carries no SigV4 Authorization header)"},
		deny:      ec2Deny,
		throttled: wire.Error{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded."},
		bucket:    func(c *call) (string, bucketSpec) { return ec2Bucket(c.api, false) },
		ops: map[string]operation{
			"DescribeRegions": {handle: (*Server).describeRegions},
			"DescribeInstances": {handle: (*Server).describeInstances,
				bucket: func(c *call) (string, bucketSpec) { return ec2Bucket(c.api, pagedOrFiltered(c.form())) }},
			"DescribeAvailabilityZones":      {handle: (*Server).describeAvailabilityZones},
			"DescribeTags":                   {handle: (*Server).describeTags},
			"DescribeInstanceStatus":         {handle: (*Server).describeInstanceStatus},
			"GetInstanceMetadataDefaults":    {handle: (*Server).getMetadataDefaults},
			"DescribeLaunchTemplateVersions": {handle: (*Server).describeLaunchTemplateVersions},
			"DescribeLaunchTemplates":        {handle: (*Server).describeLaunchTemplates},
			"DescribeImages":                 {handle: (*Server).describeImages},
			"ModifyInstanceMetadataOptions":  {handle: (*Server).modifyOptions, settled: (*Server).recordModifyCall},
			"CreateLaunchTemplateVersion":    {handle: (*Server).createLaunchTemplateVersion, settled: (*Server).recordSourceCall},
			"ModifyLaunchTemplate":           {handle: (*Server).modifyLaunchTemplate, settled: (*Server).recordSourceCall},
			"ModifyInstanceMetadataDefaults": {handle: (*Server).modifyMetadataDefaults, settled: (*Server).recordSourceCall},
		},
	}
}

// ec2Deny answers EC2 calls in a Region not enabled for the account and in
// a Region whose knobs deny EC2 (or ModifyInstanceMetadataOptions).
func ec2Deny(_ *Server, c *call) string {
	if !c.region.callsAllowed {
		return c.fail(http.StatusUnauthorized, "AuthFailure",
			"AWS was not able to validate the provided access credentials (Region "+c.region.name+" is not enabled for this account)")
	}
	if c.knobs.AuthFailure {
		return c.fail(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
	}
	if c.knobs.UnauthorizedOperation || (c.knobs.DenyModify && c.api == "ModifyInstanceMetadataOptions") {
		return c.fail(http.StatusForbidden, "UnauthorizedOperation",
			"You are not authorized to perform this operation. User: "+principalArn(c)+" is not authorized to perform: ec2:"+c.api)
	}
	return launchDenied(c)
}

// recordModifyCall records a ModifyInstanceMetadataOptions call with its
// outcome before the answer leaves: a client that has its answer (or its
// reset) finds the call in ModifyCalls.
func (s *Server) recordModifyCall(c *call, outcome string) {
	if c.account == nil {
		return // unsigned: AWS never saw whose call it was
	}
	form := c.form()
	mc := ModifyCall{
		Account:    accountID(c.account),
		Region:     c.scope.region,
		InstanceID: form.Get("InstanceId"),
		DryRun:     formBool(form, "DryRun"),
		Params:     map[string]string{},
		Outcome:    outcome,
	}
	for _, p := range modifyParams {
		if v, ok := form[p]; ok && len(v) > 0 {
			mc.Params[p] = v[0]
		}
	}
	s.recordModify(mc)
}

func formBool(form url.Values, key string) bool {
	v := form.Get(key)
	return strings.EqualFold(v, "true")
}

// pagedOrFiltered reports whether a DescribeInstances call uses paging,
// filters or ids (AWS throttles those in the larger bucket).
func pagedOrFiltered(form url.Values) bool {
	for k := range form {
		if k == "MaxResults" || k == "NextToken" || strings.HasPrefix(k, "Filter.") || strings.HasPrefix(k, "InstanceId.") {
			return true
		}
	}
	return false
}

// describeRegions answers as AWS does: every Region of the account's
// partition (and any other Region the fleet lists) with its opt-in status;
// without AllRegions only the enabled ones, unless RegionName.N names
// Regions, which are listed whatever their status.
func (s *Server) describeRegions(c *call) string {
	form := c.form()
	all := c.formBool("AllRegions")
	names := indexed(form, "RegionName")
	filters, code, msg := parseFilters(form)
	if code != "" {
		return c.fail(http.StatusBadRequest, code, msg)
	}
	for _, f := range filters {
		switch f.name {
		case "region-name", "opt-in-status", "endpoint":
		default:
			return c.fail(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	x := c.startXML("DescribeRegionsResponse")
	x.Open("regionInfo")
	for _, name := range accountRegions(s.partition, c.account.fleet) {
		optIn := c.account.fleet.RegionStatus(c.account.enabledRegions, name)
		if len(names) > 0 && !contains(names, name) {
			continue
		}
		if !all && optIn == "not-opted-in" && len(names) == 0 {
			continue
		}
		endpoint := regionEndpoint(name)
		ok := true
		for _, f := range filters {
			var v string
			switch f.name {
			case "region-name":
				v = name
			case "opt-in-status":
				v = optIn
			case "endpoint":
				v = endpoint
			}
			if !matchAny(f.values, v) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		x.Open("item")
		x.Elem("regionName", name)
		x.Elem("regionEndpoint", endpoint)
		x.Elem("optInStatus", optIn)
		x.Close("item")
	}
	x.Close("regionInfo")
	c.endXML(x, "DescribeRegionsResponse")
	return "ok"
}

// accountRegions lists the Regions DescribeRegions knows for an account:
// the fleet's partition's, then any other Region the account lists, sorted.
func accountRegions(partition string, a *fleet.Account) []string {
	var names []string
	for _, r := range fleet.PartitionRegions(partition) {
		names = append(names, r.Name)
	}
	var extra []string
	for _, r := range a.Regions {
		if !contains(names, r.Name) {
			extra = append(extra, r.Name)
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

// regionEndpoint is EC2's endpoint host in a Region.
func regionEndpoint(name string) string {
	if fleet.PartitionOf(name) == "aws-cn" {
		return "ec2." + name + ".amazonaws.com.cn"
	}
	return "ec2." + name + ".amazonaws.com"
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// indexed returns the values of prefix.1, prefix.2, … in index order.
func indexed(form url.Values, prefix string) []string {
	type kv struct {
		n int
		v string
	}
	var got []kv
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok || len(v) == 0 {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			continue
		}
		got = append(got, kv{n, v[0]})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].n < got[j].n })
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = g.v
	}
	return out
}

// filter is one Filter.N of a Describe call.
type filter struct {
	name   string
	tagKey string // for tag:KEY
	values []string
}

// parseFilters reads Filter.N.Name / Filter.N.Value.M.
func parseFilters(form url.Values) ([]filter, string, string) {
	byN := map[int]*filter{}
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, "Filter.")
		if !ok || len(v) == 0 {
			continue
		}
		nStr, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(nStr)
		if err != nil {
			return nil, "InvalidParameterValue", fmt.Sprintf("Invalid filter parameter %q", k)
		}
		f := byN[n]
		if f == nil {
			f = &filter{}
			byN[n] = f
		}
		switch {
		case field == "Name":
			f.name = v[0]
		case strings.HasPrefix(field, "Value."):
		default:
			return nil, "InvalidParameterValue", fmt.Sprintf("Invalid filter parameter %q", k)
		}
	}
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]filter, 0, len(ns))
	for _, n := range ns {
		f := byN[n]
		f.values = indexed(form, fmt.Sprintf("Filter.%d.Value", n))
		if f.name == "" {
			return nil, "InvalidParameterValue", fmt.Sprintf("Filter.%d has values but no Name", n)
		}
		if len(f.values) == 0 {
			return nil, "InvalidParameterValue", fmt.Sprintf("The filter '%s' requires at least one value", f.name)
		}
		if k, ok := strings.CutPrefix(f.name, "tag:"); ok {
			f.tagKey = k
		}
		out = append(out, *f)
	}
	return out, "", ""
}

// instanceFilters are the DescribeInstances filters the server evaluates.
var instanceFilters = map[string]bool{
	"availability-zone":              true,
	"instance-state-name":            true,
	"instance-state-code":            true,
	"instance-id":                    true,
	"image-id":                       true,
	"instance-type":                  true,
	"iam-instance-profile.arn":       true,
	"tag-key":                        true,
	"metadata-options.http-tokens":   true,
	"metadata-options.http-endpoint": true,
	"metadata-options.http-put-response-hop-limit": true,
	"metadata-options.http-protocol-ipv6":          true,
	"metadata-options.instance-metadata-tags":      true,
}

// match evaluates f against an instance with options o.
func (f *filter) match(rec *instRec, o *fleet.MetadataOptions) bool {
	in := rec.in
	switch f.name {
	case "availability-zone":
		return matchAny(f.values, rec.az)
	case "instance-state-name":
		return matchAny(f.values, in.State)
	case "instance-state-code":
		code, _ := fleet.StateCode(in.State)
		return matchAny(f.values, strconv.Itoa(int(code)))
	case "instance-id":
		return matchAny(f.values, in.ID)
	case "image-id":
		return matchAny(f.values, in.ImageID)
	case "instance-type":
		return matchAny(f.values, instanceType(in))
	case "iam-instance-profile.arn":
		return in.InstanceProfileArn != "" && matchAny(f.values, in.InstanceProfileArn)
	case "tag-key":
		for _, k := range rec.tagKeys {
			if matchAny(f.values, k) {
				return true
			}
		}
		return false
	case "metadata-options.http-tokens":
		return matchAny(f.values, o.HttpTokens)
	case "metadata-options.http-endpoint":
		return matchAny(f.values, o.HttpEndpoint)
	case "metadata-options.http-put-response-hop-limit":
		return matchAny(f.values, strconv.Itoa(int(o.HttpPutResponseHopLimit)))
	case "metadata-options.http-protocol-ipv6":
		return matchAny(f.values, o.HttpProtocolIpv6)
	case "metadata-options.instance-metadata-tags":
		return matchAny(f.values, o.InstanceMetadataTags)
	}
	if f.tagKey != "" {
		v, ok := in.Tags[f.tagKey]
		return ok && matchAny(f.values, v)
	}
	return false
}

// matchAny reports whether s matches one of the values; values may use
// EC2's wildcards * and ?.
func matchAny(values []string, s string) bool {
	for _, v := range values {
		if v == s {
			return true
		}
		if strings.ContainsAny(v, "*?") && wildMatch(v, s) {
			return true
		}
	}
	return false
}

// wildMatch matches s against a pattern with * (any run) and ? (one byte).
func wildMatch(p, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

func instanceType(in *fleet.Instance) string {
	if in.InstanceType != "" {
		return in.InstanceType
	}
	return "t3.micro"
}

const tokenPrefix = "imdsfleet-sim/1/"

func encodeToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + lastID))
}

func decodeToken(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(string(b), tokenPrefix)
	return id, ok && id != ""
}

// pageItem is one instance of an answer, with its options copied under
// the Region's lock.
type pageItem struct {
	rec   *instRec
	opts  fleet.MetadataOptions
	state string
}

func (s *Server) describeInstances(c *call) string {
	form := c.form()
	bad := func(code, msg string) string {
		return c.fail(http.StatusBadRequest, code, msg)
	}
	ids := indexed(form, "InstanceId")
	maxResults := 0
	if v, ok := form["MaxResults"]; ok && len(v) > 0 {
		if len(ids) > 0 {
			return bad("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 5 || n > 1000 {
			return bad("InvalidParameterValue", fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v[0]))
		}
		maxResults = n
	}
	after := ""
	if tok := form.Get("NextToken"); tok != "" {
		id, ok := decodeToken(tok)
		if !ok {
			return bad("InvalidPaginationToken", fmt.Sprintf("The specified pagination token is not valid or is expired: %q", tok))
		}
		after = id
		if maxResults == 0 {
			maxResults = 1000
		}
	}
	filters, code, msg := parseFilters(form)
	if code != "" {
		return bad(code, msg)
	}
	for _, f := range filters {
		if !instanceFilters[f.name] && f.tagKey == "" {
			return bad("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	for _, id := range ids {
		if !fleet.ValidInstanceID(id) {
			return bad("InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", id))
		}
	}

	if formBool(form, "DryRun") {
		return c.dryRunOK()
	}
	rs := c.region
	wall := s.wall()
	var page []pageItem
	next := ""
	clockNow := s.now()
	matches := func(rec *instRec) bool {
		// An instance whose launch time is after the server's clock has
		// not been launched yet (moving the clock launches it, as tests of
		// a scan with launches under way do).
		if rec.in.LaunchTime.At(clockNow).After(clockNow) {
			return false
		}
		for i := range filters {
			if !filters[i].match(rec, &rec.opts) {
				return false
			}
		}
		return true
	}
	rs.mu.Lock()
	if len(ids) > 0 {
		sort.Strings(ids)
		var missing []string
		for i, id := range ids {
			if i > 0 && id == ids[i-1] {
				continue
			}
			j, ok := rs.find(id)
			if !ok {
				missing = append(missing, id)
				continue
			}
			rec := &rs.insts[j]
			if matches(rec) {
				page = append(page, pageItem{rec, rec.opts, metadataState(rec.pendingUntil, wall)})
			}
		}
		if len(missing) > 0 {
			rs.mu.Unlock()
			if len(missing) == 1 {
				return bad("InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", missing[0]))
			}
			return bad("InvalidInstanceID.NotFound", fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")))
		}
	} else {
		start := 0
		if after != "" {
			start = sort.Search(len(rs.insts), func(i int) bool { return rs.insts[i].in.ID > after })
		}
		for i := start; i < len(rs.insts); i++ {
			rec := &rs.insts[i]
			if !matches(rec) {
				continue
			}
			if maxResults > 0 && len(page) == maxResults {
				next = encodeToken(page[len(page)-1].rec.in.ID)
				break
			}
			page = append(page, pageItem{rec, rec.opts, metadataState(rec.pendingUntil, wall)})
		}
	}
	rs.mu.Unlock()

	now := s.now()
	x := c.startXML("DescribeInstancesResponse")
	x.Open("reservationSet")
	for _, group := range byReservation(page) {
		x.Open("item")
		x.Elem("reservationId", reservationID(page[group[0]].rec.in))
		x.Elem("ownerId", c.account.id)
		x.Raw("<groupSet/>")
		x.Open("instancesSet")
		for _, k := range group {
			writeInstance(x, &page[k], now)
		}
		x.Close("instancesSet")
		x.Close("item")
	}
	x.Close("reservationSet")
	if next != "" {
		x.Elem("nextToken", next)
	}
	c.endXML(x, "DescribeInstancesResponse")
	return "ok"
}

// byReservation groups a page's items by reservation, as EC2 does: one
// reservation element per reservation id on the page, in the order of
// their first instance, holding every instance of the page that shares it
// (instances of one reservation need not have neighbouring ids).
func byReservation(page []pageItem) [][]int {
	groups := make([][]int, 0, len(page))
	at := make(map[string]int, len(page))
	for k := range page {
		rid := reservationID(page[k].rec.in)
		g, ok := at[rid]
		if !ok {
			g = len(groups)
			at[rid] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], k)
	}
	return groups
}

func reservationID(in *fleet.Instance) string {
	if in.ReservationID != "" {
		return in.ReservationID
	}
	return "r-" + strings.TrimPrefix(in.ID, "i-")
}

const awsTime = "2006-01-02T15:04:05.000Z"

func writeInstance(x wire.XML, it *pageItem, now time.Time) {
	in := it.rec.in
	x.Open("item")
	x.Elem("instanceId", in.ID)
	if in.ImageID != "" {
		x.Elem("imageId", in.ImageID)
	}
	x.Open("instanceState")
	code, _ := fleet.StateCode(in.State)
	x.ElemInt("code", int64(code))
	x.Elem("name", in.State)
	x.Close("instanceState")
	if r := stateReason(in, now); r != "" {
		x.Elem("reason", r)
	}
	x.ElemInt("amiLaunchIndex", 0)
	x.Elem("instanceType", instanceType(in))
	x.Elem("launchTime", in.LaunchTime.At(now).UTC().Format(awsTime))
	x.Open("placement")
	x.Elem("availabilityZone", it.rec.az)
	x.Elem("tenancy", "default")
	x.Close("placement")
	if in.Platform != "" {
		x.Elem("platform", in.Platform)
		x.Elem("platformDetails", "Windows")
	} else {
		x.Elem("platformDetails", "Linux/UNIX")
	}
	x.Open("monitoring")
	x.Elem("state", "disabled")
	x.Close("monitoring")
	if in.InstanceProfileArn != "" {
		x.Open("iamInstanceProfile")
		x.Elem("arn", in.InstanceProfileArn)
		x.Elem("id", profileID(in.InstanceProfileArn))
		x.Close("iamInstanceProfile")
	}
	if len(it.rec.tagKeys) > 0 {
		x.Open("tagSet")
		for _, k := range it.rec.tagKeys {
			x.Open("item")
			x.Elem("key", k)
			x.Elem("value", in.Tags[k])
			x.Close("item")
		}
		x.Close("tagSet")
	}
	writeMetadataOptions(x, "metadataOptions", it.state, &it.opts)
	x.Close("item")
}

// writeMetadataOptions writes EC2's InstanceMetadataOptionsResponse shape
// (DescribeInstances' metadataOptions, ModifyInstanceMetadataOptions'
// instanceMetadataOptions) under tag.
func writeMetadataOptions(x wire.XML, tag, state string, o *fleet.MetadataOptions) {
	x.Open(tag)
	x.Elem("state", state)
	x.Elem("httpTokens", o.HttpTokens)
	x.ElemInt("httpPutResponseHopLimit", int64(o.HttpPutResponseHopLimit))
	x.Elem("httpEndpoint", o.HttpEndpoint)
	x.Elem("httpProtocolIpv6", o.HttpProtocolIpv6)
	x.Elem("instanceMetadataTags", o.InstanceMetadataTags)
	x.Close(tag)
}

// stateReason is EC2's StateTransitionReason for a stopped or terminated
// instance: "User initiated (YYYY-MM-DD HH:MM:SS GMT)" at the end of its
// last running interval.
func stateReason(in *fleet.Instance, now time.Time) string {
	switch in.State {
	case "stopped", "stopping", "terminated", "shutting-down":
	default:
		return ""
	}
	at := in.LaunchTime.At(now)
	for i, iv := range in.Running {
		if t := iv.To.At(now); i == 0 || t.After(at) {
			at = t
		}
	}
	if at.After(now) {
		at = now
	}
	return "User initiated (" + at.UTC().Format("2006-01-02 15:04:05") + " GMT)"
}

// profileID derives a stable instance profile id ("AIPA…") from its ARN.
func profileID(arn string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(arn))
	v := h.Sum64()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [21]byte
	copy(b[:], "AIPA")
	for i := 4; i < len(b); i++ {
		b[i] = alphabet[v&31]
		v = v>>5 | v<<59
	}
	return string(b[:])
}

// modifyParams are ModifyInstanceMetadataOptions' option fields.
var modifyParams = []string{"HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "HttpProtocolIpv6", "InstanceMetadataTags"}

func (s *Server) modifyOptions(c *call) string {
	form := c.form()
	bad := func(code, msg string) string {
		return c.fail(http.StatusBadRequest, code, msg)
	}
	id := form.Get("InstanceId")
	if id == "" {
		return bad("MissingParameter", "The request must contain the parameter InstanceId")
	}
	enum := func(param string, allowed ...string) (string, bool) {
		v, ok := form[param]
		if !ok || len(v) == 0 {
			return "", true
		}
		if contains(allowed, v[0]) {
			return v[0], true
		}
		return v[0], false
	}
	tokens, ok := enum("HttpTokens", "optional", "required")
	if !ok {
		return bad("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter HttpTokens is invalid. Valid values: optional, required.", tokens))
	}
	endpoint, ok := enum("HttpEndpoint", "enabled", "disabled")
	if !ok {
		return bad("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter HttpEndpoint is invalid. Valid values: enabled, disabled.", endpoint))
	}
	ipv6, ok := enum("HttpProtocolIpv6", "enabled", "disabled")
	if !ok {
		return bad("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter HttpProtocolIpv6 is invalid. Valid values: enabled, disabled.", ipv6))
	}
	tags, ok := enum("InstanceMetadataTags", "enabled", "disabled")
	if !ok {
		return bad("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter InstanceMetadataTags is invalid. Valid values: enabled, disabled.", tags))
	}
	var hop int32
	if vs, ok := form["HttpPutResponseHopLimit"]; ok && len(vs) > 0 {
		v := vs[0]
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return bad("InvalidParameterValue", fmt.Sprintf("The HttpPutResponseHopLimit value (%s) is invalid. It must be an integer from 1 to 64.", v))
		}
		hop = int32(n)
	}
	if !fleet.ValidInstanceID(id) {
		return bad("InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", id))
	}
	rs := c.region
	rs.mu.Lock()
	i, found := rs.find(id)
	if !found {
		rs.mu.Unlock()
		return bad("InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
	}
	rec := &rs.insts[i]
	if st := rec.in.State; st == "terminated" || st == "shutting-down" {
		rs.mu.Unlock()
		return bad("IncorrectInstanceState", fmt.Sprintf("The instance '%s' is not in a state from which its metadata options can be modified (state: %s).", id, st))
	}
	if formBool(form, "DryRun") {
		rs.mu.Unlock()
		return c.dryRunOK()
	}
	o := rec.opts
	if tokens != "" {
		o.HttpTokens = tokens
	}
	if endpoint != "" {
		o.HttpEndpoint = endpoint
	}
	if ipv6 != "" {
		o.HttpProtocolIpv6 = ipv6
	}
	if tags != "" {
		o.InstanceMetadataTags = tags
	}
	if hop != 0 {
		o.HttpPutResponseHopLimit = hop
	}
	rec.recordChange(rec.opts, o, s.now())
	rec.opts = o
	delay := time.Duration(0)
	if d := rs.knobs.ApplyDelay; d != nil {
		delay = d.D()
	}
	rec.pendingUntil = s.wall().Add(delay)
	rs.mu.Unlock()

	x := c.startXML("ModifyInstanceMetadataOptionsResponse")
	x.Elem("instanceId", id)
	writeMetadataOptions(x, "instanceMetadataOptions", "pending", &o)
	c.endXML(x, "ModifyInstanceMetadataOptionsResponse")
	return "ok"
}

func (s *Server) getMetadataDefaults(c *call) string {
	form := c.form()
	if formBool(form, "DryRun") {
		return c.dryRunOK()
	}
	rs := c.region
	rs.mu.Lock()
	var d *fleet.MetadataDefaults
	if rs.defaults != nil {
		cp := *rs.defaults
		d = &cp
	}
	rs.mu.Unlock()
	x := c.startXML("GetInstanceMetadataDefaultsResponse")
	x.Open("accountLevel")
	if d != nil {
		opt := func(tag, v string) {
			if v != "" {
				x.Elem(tag, v)
			}
		}
		opt("httpTokens", d.HttpTokens)
		if d.HttpPutResponseHopLimit != 0 {
			x.ElemInt("httpPutResponseHopLimit", int64(d.HttpPutResponseHopLimit))
		}
		opt("httpEndpoint", d.HttpEndpoint)
		opt("instanceMetadataTags", d.InstanceMetadataTags)
		opt("httpTokensEnforced", d.HttpTokensEnforced)
		opt("managedBy", d.ManagedBy)
		opt("managedExceptionMessage", d.ManagedExceptionMessage)
	}
	x.Close("accountLevel")
	c.endXML(x, "GetInstanceMetadataDefaultsResponse")
	return "ok"
}
