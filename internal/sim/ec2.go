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
)

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ec2Actions are the EC2 operations the server implements.
var ec2Actions = map[string]bool{
	"DescribeRegions":               true,
	"DescribeInstances":             true,
	"ModifyInstanceMetadataOptions": true,
	"GetInstanceMetadataDefaults":   true,
}

func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, action string, form url.Values, scope sigScope, signed bool) {
	if action == "" {
		action = "(none)"
	}
	c := &call{proto: protoEC2, api: action, statsRegion: scope.region}
	var acct *accountState
	if signed {
		acct, _ = s.caller(scope.accessKey)
	}
	if acct == nil {
		s.dispatch(w, r, c, func(bw *bufWriter) string {
			return s.writeError(bw, protoEC2, http.StatusUnauthorized, "AuthFailure",
				"AWS was not able to validate the provided access credentials (the request carries no SigV4 Authorization header)")
		})
		return
	}
	c.account = acct
	c.region = s.region(acct, scope.region)
	if scope.service == "monitoring" {
		// CloudWatch over the Query protocol (awsquery): not spoken here;
		// say so in that protocol's error shape instead of EC2's
		// "not valid for this web service".
		s.dispatch(w, r, c, func(bw *bufWriter) string {
			return s.writeError(bw, protoSTS, http.StatusBadRequest, "InvalidAction",
				fmt.Sprintf("The simulated CloudWatch speaks Smithy RPC v2 CBOR (the SDKs' default) and awsJson1_0, not the Query protocol this %s request uses (imdsfleet scan: --cloudwatch-protocol cbor or json).", action))
		})
		return
	}
	if !ec2Actions[action] {
		s.dispatch(w, r, c, func(bw *bufWriter) string {
			return s.writeError(bw, protoEC2, http.StatusBadRequest, "InvalidAction",
				fmt.Sprintf("The action %s is not valid for this web service.", action))
		})
		return
	}
	c.bucket, c.spec = ec2Bucket(action, action == "DescribeInstances" && pagedOrFiltered(form))
	switch action {
	case "DescribeRegions":
		s.dispatch(w, r, c, func(bw *bufWriter) string { return s.describeRegions(bw, c, form) })
	case "DescribeInstances":
		s.dispatch(w, r, c, func(bw *bufWriter) string { return s.describeInstances(bw, c, form) })
	case "GetInstanceMetadataDefaults":
		s.dispatch(w, r, c, func(bw *bufWriter) string { return s.getMetadataDefaults(bw, c, form) })
	case "ModifyInstanceMetadataOptions":
		mc := ModifyCall{
			Account:    acct.id,
			Region:     scope.region,
			InstanceID: form.Get("InstanceId"),
			DryRun:     formBool(form, "DryRun"),
			Params:     map[string]string{},
		}
		for _, p := range modifyParams {
			if v, ok := form[p]; ok && len(v) > 0 {
				mc.Params[p] = v[0]
			}
		}
		// Recorded before the answer leaves: a client that has its answer
		// (or its reset) finds the call in ModifyCalls.
		c.settled = func(outcome string) {
			mc.Outcome = outcome
			s.recordModify(mc)
		}
		s.dispatch(w, r, c, func(bw *bufWriter) string { return s.modifyOptions(bw, c, form) })
	}
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

// startEC2 writes the XML header, the root element and requestId.
func (s *Server) startEC2(bw *bufWriter, root string) xw {
	bw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	bw.WriteHeader(http.StatusOK)
	x := xw{&bw.buf}
	x.b.WriteString(xmlHeader)
	x.b.WriteString("<" + root + ` xmlns="` + ec2Namespace + `">`)
	x.elem("requestId", s.requestID())
	return x
}

func (s *Server) describeRegions(bw *bufWriter, c *call, form url.Values) string {
	all := formBool(form, "AllRegions")
	names := indexed(form, "RegionName")
	filters, code, msg := parseFilters(form)
	if code != "" {
		return s.writeError(bw, protoEC2, http.StatusBadRequest, code, msg)
	}
	for _, f := range filters {
		switch f.name {
		case "region-name", "opt-in-status", "endpoint":
		default:
			return s.writeError(bw, protoEC2, http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	if formBool(form, "DryRun") {
		return s.dryRun(bw)
	}
	x := s.startEC2(bw, "DescribeRegionsResponse")
	x.open("regionInfo")
	for _, rs := range c.account.order {
		if !all && rs.optIn == "not-opted-in" && len(names) == 0 {
			continue
		}
		if len(names) > 0 && !contains(names, rs.name) {
			continue
		}
		endpoint := "ec2." + rs.name + ".amazonaws.com"
		ok := true
		for _, f := range filters {
			var v string
			switch f.name {
			case "region-name":
				v = rs.name
			case "opt-in-status":
				v = rs.optIn
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
		x.open("item")
		x.elem("regionName", rs.name)
		x.elem("regionEndpoint", endpoint)
		x.elem("optInStatus", rs.optIn)
		x.close("item")
	}
	x.close("regionInfo")
	x.close("DescribeRegionsResponse")
	return "ok"
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

func (s *Server) describeInstances(bw *bufWriter, c *call, form url.Values) string {
	bad := func(code, msg string) string {
		return s.writeError(bw, protoEC2, http.StatusBadRequest, code, msg)
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
		return s.dryRun(bw)
	}
	rs := c.region
	wall := s.wall()
	var page []pageItem
	next := ""
	matches := func(rec *instRec) bool {
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
	x := s.startEC2(bw, "DescribeInstancesResponse")
	x.open("reservationSet")
	for _, group := range byReservation(page) {
		x.open("item")
		x.elem("reservationId", reservationID(page[group[0]].rec.in))
		x.elem("ownerId", c.account.id)
		x.b.WriteString("<groupSet/>")
		x.open("instancesSet")
		for _, k := range group {
			writeInstance(x, &page[k], rs.name, now)
		}
		x.close("instancesSet")
		x.close("item")
	}
	x.close("reservationSet")
	if next != "" {
		x.elem("nextToken", next)
	}
	x.close("DescribeInstancesResponse")
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

func writeInstance(x xw, it *pageItem, region string, now time.Time) {
	in := it.rec.in
	x.open("item")
	x.elem("instanceId", in.ID)
	if in.ImageID != "" {
		x.elem("imageId", in.ImageID)
	}
	x.open("instanceState")
	code, _ := fleet.StateCode(in.State)
	x.elemInt("code", int64(code))
	x.elem("name", in.State)
	x.close("instanceState")
	if r := stateReason(in, now); r != "" {
		x.elem("reason", r)
	}
	x.elemInt("amiLaunchIndex", 0)
	x.elem("instanceType", instanceType(in))
	x.elem("launchTime", in.LaunchTime.At(now).UTC().Format(awsTime))
	x.open("placement")
	x.elem("availabilityZone", region+"a")
	x.elem("tenancy", "default")
	x.close("placement")
	if in.Platform != "" {
		x.elem("platform", in.Platform)
		x.elem("platformDetails", "Windows")
	} else {
		x.elem("platformDetails", "Linux/UNIX")
	}
	x.open("monitoring")
	x.elem("state", "disabled")
	x.close("monitoring")
	if in.InstanceProfileArn != "" {
		x.open("iamInstanceProfile")
		x.elem("arn", in.InstanceProfileArn)
		x.elem("id", profileID(in.InstanceProfileArn))
		x.close("iamInstanceProfile")
	}
	if len(it.rec.tagKeys) > 0 {
		x.open("tagSet")
		for _, k := range it.rec.tagKeys {
			x.open("item")
			x.elem("key", k)
			x.elem("value", in.Tags[k])
			x.close("item")
		}
		x.close("tagSet")
	}
	writeMetadataOptions(x, "metadataOptions", it.state, &it.opts)
	x.close("item")
}

// writeMetadataOptions writes EC2's InstanceMetadataOptionsResponse shape
// (DescribeInstances' metadataOptions, ModifyInstanceMetadataOptions'
// instanceMetadataOptions) under tag.
func writeMetadataOptions(x xw, tag, state string, o *fleet.MetadataOptions) {
	x.open(tag)
	x.elem("state", state)
	x.elem("httpTokens", o.HttpTokens)
	x.elemInt("httpPutResponseHopLimit", int64(o.HttpPutResponseHopLimit))
	x.elem("httpEndpoint", o.HttpEndpoint)
	x.elem("httpProtocolIpv6", o.HttpProtocolIpv6)
	x.elem("instanceMetadataTags", o.InstanceMetadataTags)
	x.close(tag)
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

func (s *Server) modifyOptions(bw *bufWriter, c *call, form url.Values) string {
	bad := func(code, msg string) string {
		return s.writeError(bw, protoEC2, http.StatusBadRequest, code, msg)
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
		return s.dryRun(bw)
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

	x := s.startEC2(bw, "ModifyInstanceMetadataOptionsResponse")
	x.elem("instanceId", id)
	writeMetadataOptions(x, "instanceMetadataOptions", "pending", &o)
	x.close("ModifyInstanceMetadataOptionsResponse")
	return "ok"
}

// dryRun answers a permitted DryRun call as AWS does: HTTP 412.
func (s *Server) dryRun(bw *bufWriter) string {
	return s.writeError(bw, protoEC2, http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}

func (s *Server) getMetadataDefaults(bw *bufWriter, c *call, form url.Values) string {
	if formBool(form, "DryRun") {
		return s.dryRun(bw)
	}
	x := s.startEC2(bw, "GetInstanceMetadataDefaultsResponse")
	x.open("accountLevel")
	if d := c.region.defaults; d != nil {
		opt := func(tag, v string) {
			if v != "" {
				x.elem(tag, v)
			}
		}
		opt("httpTokens", d.HttpTokens)
		if d.HttpPutResponseHopLimit != 0 {
			x.elemInt("httpPutResponseHopLimit", int64(d.HttpPutResponseHopLimit))
		}
		opt("httpEndpoint", d.HttpEndpoint)
		opt("instanceMetadataTags", d.InstanceMetadataTags)
		opt("httpTokensEnforced", d.HttpTokensEnforced)
		opt("managedBy", d.ManagedBy)
	}
	x.close("accountLevel")
	x.close("GetInstanceMetadataDefaultsResponse")
	return "ok"
}
