package sim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// The read calls common automation makes besides DescribeInstances
// (docs/aws-facts.md#availability-zones-tags-and-instance-status).

// pageToken encodes where a paged answer of kind stopped; the kinds keep a
// token of one operation from being taken by another.
func pageToken(kind, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("imdsfleet-sim/" + kind + "/1/" + last))
}

func readPageToken(kind, tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	last, ok := strings.CutPrefix(string(b), "imdsfleet-sim/"+kind+"/1/")
	return last, ok && last != ""
}

// paging reads MaxResults (5–1000, as AWS checks it) and NextToken. max is
// 0 for an unpaged call; a NextToken without MaxResults pages at 1000.
func paging(c *call, kind string) (max int, after string, failed string) {
	form := c.form()
	if v, ok := form["MaxResults"]; ok && len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 5 || n > 1000 {
			return 0, "", c.fail(http.StatusBadRequest, "InvalidParameterValue",
				fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v[0]))
		}
		max = n
	}
	if tok := form.Get("NextToken"); tok != "" {
		last, ok := readPageToken(kind, tok)
		if !ok {
			return 0, "", c.fail(http.StatusBadRequest, "InvalidPaginationToken", fmt.Sprintf("The specified pagination token is not valid or is expired: %q", tok))
		}
		after = last
		if max == 0 {
			max = 1000
		}
	}
	return max, after, ""
}

// checkFilters parses Filter.N and refuses a name not in allowed (tag:KEY
// passes when tags is set).
func checkFilters(c *call, allowed []string, tags bool) ([]filter, string) {
	filters, code, msg := parseFilters(c.form())
	if code != "" {
		return nil, c.fail(http.StatusBadRequest, code, msg)
	}
	for _, f := range filters {
		if !contains(allowed, f.name) && (!tags || f.tagKey == "") {
			return nil, c.fail(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	return filters, ""
}

// describeAvailabilityZones lists the zones of the caller's Region.
func (s *Server) describeAvailabilityZones(c *call) string {
	form := c.form()
	names, ids := indexed(form, "ZoneName"), indexed(form, "ZoneId")
	filters, failed := checkFilters(c, []string{"group-name", "message", "opt-in-status", "region-name", "state", "zone-id", "zone-name", "zone-type"}, false)
	if failed != "" {
		return failed
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	rs := c.region
	for _, n := range names {
		if !contains(rs.zones, n) {
			return c.fail(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The zone '%s' does not exist.", n))
		}
	}
	x := c.startXML("DescribeAvailabilityZonesResponse")
	x.Open("availabilityZoneInfo")
	for i, name := range rs.zones {
		id := fleet.ZoneID(rs.name, i)
		if len(names) > 0 && !contains(names, name) || len(ids) > 0 && !contains(ids, id) {
			continue
		}
		fields := map[string]string{
			"group-name": rs.name, "message": "", "opt-in-status": "opt-in-not-required", "region-name": rs.name,
			"state": "available", "zone-id": id, "zone-name": name, "zone-type": "availability-zone",
		}
		ok := true
		for _, f := range filters {
			ok = ok && matchAny(f.values, fields[f.name])
		}
		if !ok {
			continue
		}
		x.Open("item")
		x.Elem("optInStatus", "opt-in-not-required")
		x.Elem("zoneId", id)
		x.Elem("groupName", rs.name)
		x.Elem("groupLongName", rs.name)
		x.Elem("networkBorderGroup", rs.name)
		x.Elem("zoneType", "availability-zone")
		x.Elem("zoneName", name)
		x.Elem("regionName", rs.name)
		x.Elem("zoneState", "available")
		x.Raw("<messageSet/>")
		x.Close("item")
	}
	x.Close("availabilityZoneInfo")
	c.endXML(x, "DescribeAvailabilityZonesResponse")
	return "ok"
}

// tagItem is one tag of one resource, as DescribeTags lists it.
type tagItem struct{ id, key, value string }

// describeTags lists the tags of the Region's resources (the instances),
// by resource id then key, paged.
func (s *Server) describeTags(c *call) string {
	max, after, failed := paging(c, "tags")
	if failed != "" {
		return failed
	}
	filters, failed := checkFilters(c, []string{"key", "resource-id", "resource-type", "value"}, true)
	if failed != "" {
		return failed
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	afterID, afterKey, _ := strings.Cut(after, "\x00")
	rs := c.region
	var page []tagItem
	next := ""
	// Instances and their tags are immutable after New: no lock needed.
	start := sort.Search(len(rs.insts), func(i int) bool { return rs.insts[i].in.ID >= afterID })
scan:
	for i := start; i < len(rs.insts); i++ {
		rec := &rs.insts[i]
		for _, k := range rec.tagKeys {
			if rec.in.ID == afterID && k <= afterKey {
				continue
			}
			t := tagItem{rec.in.ID, k, rec.in.Tags[k]}
			if !matchTag(filters, rec, t) {
				continue
			}
			if max > 0 && len(page) == max {
				last := page[len(page)-1]
				next = pageToken("tags", last.id+"\x00"+last.key)
				break scan
			}
			page = append(page, t)
		}
	}
	x := c.startXML("DescribeTagsResponse")
	x.Open("tagSet")
	for _, t := range page {
		x.Open("item")
		x.Elem("resourceId", t.id)
		x.Elem("resourceType", "instance")
		x.Elem("key", t.key)
		x.Elem("value", t.value)
		x.Close("item")
	}
	x.Close("tagSet")
	if next != "" {
		x.Elem("nextToken", next)
	}
	c.endXML(x, "DescribeTagsResponse")
	return "ok"
}

// matchTag evaluates DescribeTags' filters on one tag of rec.
func matchTag(filters []filter, rec *instRec, t tagItem) bool {
	for _, f := range filters {
		var ok bool
		switch f.name {
		case "key":
			ok = matchAny(f.values, t.key)
		case "value":
			ok = matchAny(f.values, t.value)
		case "resource-id":
			ok = matchAny(f.values, t.id)
		case "resource-type":
			ok = matchAny(f.values, "instance")
		default: // tag:KEY — the resource carries the tag with one of the values
			v, has := rec.in.Tags[f.tagKey]
			ok = has && matchAny(f.values, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// statusItem is one instance of a DescribeInstanceStatus answer.
type statusItem struct {
	rec            *instRec
	zoneID         string
	system, status string // ok, impaired, initializing, not-applicable
}

// instanceStatus is the status checks' verdict for an instance at now:
// running instances pass unless one of the fleet's statusCheckFailed
// intervals covers now (impaired; an interval without an end lasts),
// pending ones are initializing, the others have none. The system check
// follows the state alone.
func instanceStatus(in *fleet.Instance, now time.Time) (system, instance string) {
	switch in.State {
	case "running":
		for _, iv := range in.StatusCheckFailed {
			if !iv.From.At(now).After(now) && !iv.To.At(now).Before(now) {
				return "ok", "impaired"
			}
		}
		return "ok", "ok"
	case "pending":
		return "initializing", "initializing"
	}
	return "not-applicable", "not-applicable"
}

// reachability is a status summary's reachability detail.
func reachability(status string) string {
	switch status {
	case "ok":
		return "passed"
	case "impaired":
		return "failed"
	}
	return status
}

// describeInstanceStatus answers the status checks of the Region's
// instances: running ones only unless IncludeAllInstances, paged.
func (s *Server) describeInstanceStatus(c *call) string {
	form := c.form()
	ids := indexed(form, "InstanceId")
	if _, ok := form["MaxResults"]; ok && len(ids) > 0 {
		return c.fail(http.StatusBadRequest, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	max, after, failed := paging(c, "status")
	if failed != "" {
		return failed
	}
	filters, failed := checkFilters(c, []string{"availability-zone", "event.code", "instance-state-code", "instance-state-name",
		"instance-status.reachability", "instance-status.status", "system-status.reachability", "system-status.status"}, false)
	if failed != "" {
		return failed
	}
	for _, id := range ids {
		if !fleet.ValidInstanceID(id) {
			return c.fail(http.StatusBadRequest, "InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", id))
		}
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	all := c.formBool("IncludeAllInstances")
	rs := c.region
	zoneID := func(az string) string {
		for i, z := range rs.zones {
			if z == az {
				return fleet.ZoneID(rs.name, i)
			}
		}
		return ""
	}
	now := s.now()
	keep := func(rec *instRec) (statusItem, bool) {
		if !all && rec.in.State != "running" {
			return statusItem{}, false
		}
		sys, st := instanceStatus(rec.in, now)
		code, _ := fleet.StateCode(rec.in.State)
		for _, f := range filters {
			var v string
			switch f.name {
			case "availability-zone":
				v = rec.az
			case "event.code":
				return statusItem{}, false // no scheduled events here
			case "instance-state-code":
				v = strconv.Itoa(int(code))
			case "instance-state-name":
				v = rec.in.State
			case "instance-status.status":
				v = st
			case "system-status.status":
				v = sys
			case "instance-status.reachability":
				v = reachability(st)
			case "system-status.reachability":
				v = reachability(sys)
			}
			if !matchAny(f.values, v) {
				return statusItem{}, false
			}
		}
		return statusItem{rec: rec, zoneID: zoneID(rec.az), system: sys, status: st}, true
	}
	var page []statusItem
	next := ""
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
			if it, ok := keep(&rs.insts[j]); ok {
				page = append(page, it)
			}
		}
		if len(missing) > 0 {
			return c.fail(http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")))
		}
	} else {
		start := sort.Search(len(rs.insts), func(i int) bool { return rs.insts[i].in.ID > after })
		for i := start; i < len(rs.insts); i++ {
			it, ok := keep(&rs.insts[i])
			if !ok {
				continue
			}
			if max > 0 && len(page) == max {
				next = pageToken("status", page[len(page)-1].rec.in.ID)
				break
			}
			page = append(page, it)
		}
	}
	x := c.startXML("DescribeInstanceStatusResponse")
	x.Open("instanceStatusSet")
	for _, it := range page {
		in := it.rec.in
		code, _ := fleet.StateCode(in.State)
		x.Open("item")
		x.Elem("instanceId", in.ID)
		x.Elem("availabilityZone", it.rec.az)
		x.Elem("availabilityZoneId", it.zoneID)
		x.Open("instanceState")
		x.ElemInt("code", int64(code))
		x.Elem("name", in.State)
		x.Close("instanceState")
		writeStatusSummary(x, "systemStatus", it.system)
		writeStatusSummary(x, "instanceStatus", it.status)
		x.Close("item")
	}
	x.Close("instanceStatusSet")
	if next != "" {
		x.Elem("nextToken", next)
	}
	c.endXML(x, "DescribeInstanceStatusResponse")
	return "ok"
}

// writeStatusSummary writes an InstanceStatusSummary: its status and, for
// a checked instance, the reachability detail.
func writeStatusSummary(x wire.XML, tag, status string) {
	x.Open(tag)
	x.Elem("status", status)
	x.Open("details")
	if status != "not-applicable" {
		x.Open("item")
		x.Elem("name", "reachability")
		x.Elem("status", reachability(status))
		x.Close("item")
	}
	x.Close("details")
	x.Close(tag)
}
