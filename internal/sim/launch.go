package sim

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// launchState is one Region's launch sources (templates, AMIs, Auto
// Scaling groups and launch configurations) as the server serves them.
// It is built in New from copies of the fleet's templates and groups, which
// the write operations (launch_writes.go) change under mu; handlers that
// read templates or groups hold mu for reading.
type launchState struct {
	mu sync.RWMutex

	images map[string]*fleet.Image
	// implicitImages: the Region lists no AMIs, so every AMI its instances,
	// templates and configurations name is served as available without
	// ImdsSupport (fleets written before images existed).
	implicitImages bool
	named          map[string]bool // AMIs named by instances, templates, configurations
	inUse          map[string]bool // AMIs a live (not terminated) instance runs from

	templates      []*fleet.LaunchTemplate // sorted by id
	templateByID   map[string]*fleet.LaunchTemplate
	templateByName map[string]*fleet.LaunchTemplate

	configs      []*fleet.LaunchConfiguration // sorted by name
	configByName map[string]*fleet.LaunchConfiguration

	groups         []*fleet.AutoScalingGroup // sorted by name
	groupByName    map[string]*fleet.AutoScalingGroup
	groupInstances map[string][]*fleet.Instance

	// idem remembers the client tokens of the write operations
	// (launch_writes.go), per operation.
	idem map[string]idemEntry
}

func newLaunchState(r *fleet.Region) *launchState {
	ls := &launchState{
		images:         map[string]*fleet.Image{},
		implicitImages: len(r.Images) == 0,
		named:          map[string]bool{},
		inUse:          map[string]bool{},
		templateByID:   map[string]*fleet.LaunchTemplate{},
		templateByName: map[string]*fleet.LaunchTemplate{},
		configByName:   map[string]*fleet.LaunchConfiguration{},
		groupByName:    map[string]*fleet.AutoScalingGroup{},
		groupInstances: map[string][]*fleet.Instance{},
		idem:           map[string]idemEntry{},
	}
	for i := range r.Images {
		ls.images[r.Images[i].ID] = &r.Images[i]
	}
	for i := range r.LaunchTemplates {
		lt := cloneTemplate(&r.LaunchTemplates[i])
		ls.templates = append(ls.templates, lt)
		ls.templateByID[lt.ID] = lt
		ls.templateByName[lt.Name] = lt
		for _, v := range lt.Versions {
			ls.named[v.ImageID] = true
		}
	}
	sort.Slice(ls.templates, func(i, j int) bool { return ls.templates[i].ID < ls.templates[j].ID })
	for i := range r.LaunchConfigurations {
		lc := &r.LaunchConfigurations[i]
		ls.configs = append(ls.configs, lc)
		ls.configByName[lc.Name] = lc
		ls.named[lc.ImageID] = true
	}
	sort.Slice(ls.configs, func(i, j int) bool { return ls.configs[i].Name < ls.configs[j].Name })
	for i := range r.AutoScalingGroups {
		g := r.AutoScalingGroups[i] // a copy: UpdateAutoScalingGroup replaces its pointers, never writes through them
		ls.groups = append(ls.groups, &g)
		ls.groupByName[g.Name] = &g
	}
	sort.Slice(ls.groups, func(i, j int) bool { return ls.groups[i].Name < ls.groups[j].Name })
	for i := range r.Instances {
		in := &r.Instances[i]
		ls.named[in.ImageID] = true
		if in.State == "terminated" || in.State == "shutting-down" {
			continue
		}
		ls.inUse[in.ImageID] = true
		if g := in.Tags[fleet.TagAutoScalingGroup]; g != "" {
			ls.groupInstances[g] = append(ls.groupInstances[g], in)
		}
	}
	delete(ls.named, "")
	return ls
}

// imageLookup is what DescribeImages finds for one AMI id.
type imageLookup int

const (
	imageFound    imageLookup = iota
	imageOmitted              // deregistered, still used by a live instance: left out
	imageNotFound             // InvalidAMIID.NotFound when asked for by id
)

// image finds an AMI the way DescribeImages does (docs/aws-facts.md#launch-sources):
// a recently deregistered AMI that instances still use is left out of the
// answer; one nothing uses any more, or one never known, is not found.
func (ls *launchState) image(id string) (*fleet.Image, imageLookup) {
	if im, ok := ls.images[id]; ok {
		switch {
		case !im.Deregistered():
			return im, imageFound
		case ls.inUse[id]:
			return nil, imageOmitted
		}
		return nil, imageNotFound
	}
	if ls.implicitImages && ls.named[id] {
		return &fleet.Image{ID: id}, imageFound
	}
	return nil, imageNotFound
}

// visibleImages lists every AMI DescribeImages shows without ids, sorted.
func (ls *launchState) visibleImages() []*fleet.Image {
	var out []*fleet.Image
	if ls.implicitImages {
		for id := range ls.named {
			out = append(out, &fleet.Image{ID: id})
		}
	} else {
		for _, im := range ls.images {
			if !im.Deregistered() {
				out = append(out, im)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// launchDenied answers the Region's denyApis knob for a launch-source
// read: EC2 answers UnauthorizedOperation, Auto Scaling AccessDenied.
func launchDenied(c *call) string {
	if !contains(c.knobs.DenyAPIs, c.api) && !contains(c.knobs.DenyAPIs, c.svc.iamPrefix+":*") {
		return ""
	}
	user := principalArn(c)
	if c.svc.signingName == "ec2" {
		return c.fail(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. User: "+user+" is not authorized to perform: ec2:"+c.api)
	}
	return c.fail(http.StatusForbidden, "AccessDenied", "User: "+user+" is not authorized to perform: "+c.svc.iamPrefix+":"+c.api+" because no identity-based policy allows the "+c.svc.iamPrefix+":"+c.api+" action")
}

// maxResults reads MaxResults (EC2: 1..limit, else AWS's range error).
// 0 means absent.
func maxResultsParam(c *call, limit int) (int, string) {
	v := c.form().Get("MaxResults")
	if v == "" {
		return 0, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > limit {
		return 0, c.fail(http.StatusBadRequest, "InvalidParameterValue",
			fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 1 and %d.", v, limit))
	}
	return n, ""
}

// pageAfter decodes NextToken into the key the previous page ended with.
func pageAfter(c *call) (string, string) {
	tok := c.form().Get("NextToken")
	if tok == "" {
		return "", ""
	}
	key, ok := decodeToken(tok)
	if !ok {
		return "", c.fail(http.StatusBadRequest, "InvalidPaginationToken", fmt.Sprintf("The specified pagination token is not valid or is expired: %q", tok))
	}
	return key, ""
}

// ltVersion is one launch template version of an answer.
type ltVersion struct {
	lt *fleet.LaunchTemplate
	v  *fleet.LaunchTemplateVersion
}

func (e ltVersion) key() string { return fmt.Sprintf("%s/%020d", e.lt.ID, e.v.Number) }

var ltVersionFilters = map[string]bool{
	"http-tokens": true, "http-endpoint": true, "http-put-response-hop-limit": true,
	"is-default-version": true, "image-id": true, "instance-type": true,
	"launch-template-name": true, "launch-template-id": true,
}

// describeLaunchTemplateVersions answers by template (id or name, with
// version numbers, $Latest, $Default or a MinVersion..MaxVersion range) or,
// with neither id nor name, the $Latest and $Default versions of every
// template in one listing (a version that is both is listed once).
// MaxResults is 1..200 (docs/aws-facts.md#launch-sources).
func (s *Server) describeLaunchTemplateVersions(c *call) string {
	form := c.form()
	bad := func(code, msg string) string { return c.fail(http.StatusBadRequest, code, msg) }
	limit, out := maxResultsParam(c, 200)
	if out != "" {
		return out
	}
	after, out := pageAfter(c)
	if out != "" {
		return out
	}
	filters, code, msg := parseFilters(form)
	if code != "" {
		return bad(code, msg)
	}
	for _, f := range filters {
		if !ltVersionFilters[f.name] {
			return bad("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	id, name := form.Get("LaunchTemplateId"), form.Get("LaunchTemplateName")
	versions := indexed(form, "LaunchTemplateVersion")
	minV, maxV := form.Get("MinVersion"), form.Get("MaxVersion")
	if id != "" && name != "" {
		return bad("InvalidParameterCombination", "You can specify either a launch template ID or a launch template name in the request, but not both.")
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	ls := c.region.launch
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	var items []ltVersion
	if id == "" && name == "" {
		if len(versions) == 0 || minV != "" || maxV != "" || !allAliases(versions) {
			return bad("MissingParameter", "To describe the launch template data for all your launch templates, for '--versions' specify '$Latest', '$Default', or both, and omit '--launch-template-id', '--launch-template-name', and '--version-number'.")
		}
		for _, lt := range ls.templates {
			var seen []int64
			for _, spec := range versions {
				if v, ok := lt.Version(spec); ok && !containsInt(seen, v.Number) {
					seen = append(seen, v.Number)
					items = append(items, ltVersion{lt, v})
				}
			}
		}
	} else {
		lt, out := findTemplate(c, ls, id, name)
		if out != "" {
			return out
		}
		if len(versions) > 0 {
			var seen []int64
			for _, spec := range versions {
				v, ok := lt.Version(spec)
				if !ok {
					return bad("InvalidLaunchTemplateId.VersionNotFound", fmt.Sprintf("Could not find the specified version %s for the launch template with ID %s.", spec, lt.ID))
				}
				if !containsInt(seen, v.Number) {
					seen = append(seen, v.Number)
					items = append(items, ltVersion{lt, v})
				}
			}
		} else {
			lo, hi := int64(1), lt.Latest()
			if minV != "" {
				n, err := strconv.ParseInt(minV, 10, 64)
				if err != nil {
					return bad("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for MinVersion.", minV))
				}
				lo = n
			}
			if maxV != "" {
				n, err := strconv.ParseInt(maxV, 10, 64)
				if err != nil {
					return bad("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for MaxVersion.", maxV))
				}
				hi = n
			}
			for i := range lt.Versions {
				if v := &lt.Versions[i]; v.Number >= lo && v.Number <= hi {
					items = append(items, ltVersion{lt, v})
				}
			}
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key() < items[j].key() })
	now := s.now()
	x := c.startXML("DescribeLaunchTemplateVersionsResponse")
	x.Open("launchTemplateVersionSet")
	n, last, next := 0, "", ""
	for _, it := range items {
		if after != "" && it.key() <= after || !matchVersion(filters, it) {
			continue
		}
		if limit > 0 && n == limit {
			next = encodeToken(last)
			break
		}
		writeLaunchTemplateVersion(x, "item", c, it, now)
		n++
		last = it.key()
	}
	x.Close("launchTemplateVersionSet")
	if next != "" {
		x.Elem("nextToken", next)
	}
	c.endXML(x, "DescribeLaunchTemplateVersionsResponse")
	return "ok"
}

func allAliases(versions []string) bool {
	for _, v := range versions {
		if v != fleet.VersionLatest && v != fleet.VersionDefault {
			return false
		}
	}
	return true
}

func containsInt(list []int64, v int64) bool {
	for _, n := range list {
		if n == v {
			return true
		}
	}
	return false
}

func matchVersion(filters []filter, it ltVersion) bool {
	m := it.v.MetadataOptions
	if m == nil {
		m = &fleet.LaunchMetadataOptions{}
	}
	for _, f := range filters {
		var v string
		switch f.name {
		case "http-tokens":
			v = m.HttpTokens
		case "http-endpoint":
			v = m.HttpEndpoint
		case "http-put-response-hop-limit":
			v = strconv.Itoa(int(m.HttpPutResponseHopLimit))
		case "is-default-version":
			v = strconv.FormatBool(it.v.Number == it.lt.Default())
		case "image-id":
			v = it.v.ImageID
		case "instance-type":
			v = it.v.InstanceType
		case "launch-template-name":
			v = it.lt.Name
		case "launch-template-id":
			v = it.lt.ID
		}
		if !matchAny(f.values, v) {
			return false
		}
	}
	return true
}

func writeLaunchTemplateVersion(x wire.XML, tag string, c *call, it ltVersion, now time.Time) {
	x.Open(tag)
	x.Elem("launchTemplateId", it.lt.ID)
	x.Elem("launchTemplateName", it.lt.Name)
	x.ElemInt("versionNumber", it.v.Number)
	if it.v.Description != "" {
		x.Elem("versionDescription", it.v.Description)
	}
	x.Elem("createTime", it.v.CreateTime.At(now).UTC().Format(time.RFC3339))
	x.Elem("createdBy", simUserArn(c))
	x.ElemBool("defaultVersion", it.v.Number == it.lt.Default())
	x.Open("launchTemplateData")
	if it.v.ImageID != "" {
		x.Elem("imageId", it.v.ImageID)
	}
	if it.v.InstanceType != "" {
		x.Elem("instanceType", it.v.InstanceType)
	}
	if m := it.v.MetadataOptions; m != nil {
		x.Open("metadataOptions")
		x.Elem("state", "applied")
		opt := func(tag, v string) {
			if v != "" {
				x.Elem(tag, v)
			}
		}
		opt("httpTokens", m.HttpTokens)
		if m.HttpPutResponseHopLimit != 0 {
			x.ElemInt("httpPutResponseHopLimit", int64(m.HttpPutResponseHopLimit))
		}
		opt("httpEndpoint", m.HttpEndpoint)
		opt("httpProtocolIpv6", m.HttpProtocolIpv6)
		opt("instanceMetadataTags", m.InstanceMetadataTags)
		x.Close("metadataOptions")
	}
	x.Close("launchTemplateData")
	x.Close(tag)
}

// describeLaunchTemplates answers by ids, by names, or every template,
// paged (MaxResults 1..200).
func (s *Server) describeLaunchTemplates(c *call) string {
	form := c.form()
	bad := func(code, msg string) string { return c.fail(http.StatusBadRequest, code, msg) }
	limit, out := maxResultsParam(c, 200)
	if out != "" {
		return out
	}
	after, out := pageAfter(c)
	if out != "" {
		return out
	}
	filters, code, msg := parseFilters(form)
	if code != "" {
		return bad(code, msg)
	}
	for _, f := range filters {
		if f.name != "launch-template-name" && f.tagKey == "" && f.name != "tag-key" && f.name != "create-time" {
			return bad("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	ids, names := indexed(form, "LaunchTemplateId"), indexed(form, "LaunchTemplateName")
	if c.dryRun() {
		return c.dryRunOK()
	}
	ls := c.region.launch
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	for _, id := range ids {
		if ls.templateByID[id] == nil {
			return bad("InvalidLaunchTemplateId.NotFound", fmt.Sprintf("At least one of the launch templates specified in the request does not exist: %s", id))
		}
	}
	for _, name := range names {
		if ls.templateByName[name] == nil {
			return bad("InvalidLaunchTemplateName.NotFoundException", fmt.Sprintf("At least one of the launch templates specified in the request does not exist: %s", name))
		}
	}
	now := s.now()
	x := c.startXML("DescribeLaunchTemplatesResponse")
	x.Open("launchTemplates")
	n, last, next := 0, "", ""
	for _, lt := range ls.templates {
		if len(ids)+len(names) > 0 && !contains(ids, lt.ID) && !contains(names, lt.Name) {
			continue
		}
		if after != "" && lt.ID <= after || !matchTemplate(filters, lt) {
			continue
		}
		if limit > 0 && n == limit {
			next = encodeToken(last)
			break
		}
		x.Open("item")
		x.Elem("launchTemplateId", lt.ID)
		x.Elem("launchTemplateName", lt.Name)
		x.Elem("createTime", lt.CreateTime.At(now).UTC().Format(time.RFC3339))
		x.Elem("createdBy", simUserArn(c))
		x.ElemInt("defaultVersionNumber", lt.Default())
		x.ElemInt("latestVersionNumber", lt.Latest())
		writeTagSet(x, lt.Tags)
		x.Close("item")
		n++
		last = lt.ID
	}
	x.Close("launchTemplates")
	if next != "" {
		x.Elem("nextToken", next)
	}
	c.endXML(x, "DescribeLaunchTemplatesResponse")
	return "ok"
}

func matchTemplate(filters []filter, lt *fleet.LaunchTemplate) bool {
	for _, f := range filters {
		switch {
		case f.name == "launch-template-name":
			if !matchAny(f.values, lt.Name) {
				return false
			}
		case f.name == "tag-key":
			ok := false
			for k := range lt.Tags {
				ok = ok || matchAny(f.values, k)
			}
			if !ok {
				return false
			}
		case f.tagKey != "":
			v, ok := lt.Tags[f.tagKey]
			if !ok || !matchAny(f.values, v) {
				return false
			}
		}
	}
	return true
}

func writeTagSet(x wire.XML, tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	x.Open("tagSet")
	for _, k := range keys {
		x.Open("item")
		x.Elem("key", k)
		x.Elem("value", tags[k])
		x.Close("item")
	}
	x.Close("tagSet")
}

// describeImages answers by ImageId.N or filters (image-id, name, state,
// owner-id, imds-support), as DescribeImages does: asked for by id, an AMI
// recently deregistered while instances still use it is left out, and one
// that does not exist fails the whole call with InvalidAMIID.NotFound
// naming every missing id (docs/aws-facts.md#launch-sources).
func (s *Server) describeImages(c *call) string {
	form := c.form()
	bad := func(code, msg string) string { return c.fail(http.StatusBadRequest, code, msg) }
	filters, code, msg := parseFilters(form)
	if code != "" {
		return bad(code, msg)
	}
	for _, f := range filters {
		switch f.name {
		case "image-id", "name", "state", "owner-id", "imds-support":
		default:
			return bad("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	ids := indexed(form, "ImageId")
	owners := indexed(form, "Owner")
	for _, id := range ids {
		if !strings.HasPrefix(id, "ami-") {
			return bad("InvalidAMIID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", id))
		}
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	ls := c.region.launch
	var list []*fleet.Image
	if len(ids) > 0 {
		var missing []string
		for _, id := range ids {
			switch im, found := ls.image(id); found {
			case imageFound:
				list = append(list, im)
			case imageNotFound:
				missing = append(missing, id)
			}
		}
		if len(missing) == 1 {
			return bad("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", missing[0]))
		}
		if len(missing) > 1 {
			return bad("InvalidAMIID.NotFound", fmt.Sprintf("The image ids '[%s]' do not exist", strings.Join(missing, ", ")))
		}
	} else {
		list = ls.visibleImages()
	}
	now := s.now()
	x := c.startXML("DescribeImagesResponse")
	x.Open("imagesSet")
	seen := map[string]bool{}
	for _, im := range list {
		owner := im.OwnerID
		if owner == "" {
			owner = accountID(c.account)
		}
		if seen[im.ID] || len(owners) > 0 && !contains(owners, owner) && !(contains(owners, "self") && owner == accountID(c.account)) {
			continue
		}
		seen[im.ID] = true
		if !matchImage(filters, im, owner) {
			continue
		}
		x.Open("item")
		x.Elem("imageId", im.ID)
		x.Elem("imageLocation", owner+"/"+imageName(im))
		x.Elem("imageState", "available")
		x.Elem("imageOwnerId", owner)
		x.Elem("creationDate", im.CreationDate.At(now).UTC().Format("2006-01-02T15:04:05.000Z"))
		x.ElemBool("isPublic", im.OwnerID != "" && im.OwnerID != accountID(c.account))
		x.Elem("architecture", "x86_64")
		x.Elem("imageType", "machine")
		x.Elem("name", imageName(im))
		x.Elem("rootDeviceType", "ebs")
		x.Elem("rootDeviceName", "/dev/xvda")
		x.Elem("virtualizationType", "hvm")
		x.Elem("hypervisor", "xen")
		if im.ImdsSupport != "" {
			x.Elem("imdsSupport", im.ImdsSupport)
		}
		x.Close("item")
	}
	x.Close("imagesSet")
	c.endXML(x, "DescribeImagesResponse")
	return "ok"
}

func imageName(im *fleet.Image) string {
	if im.Name != "" {
		return im.Name
	}
	return im.ID
}

func matchImage(filters []filter, im *fleet.Image, owner string) bool {
	for _, f := range filters {
		var v string
		switch f.name {
		case "image-id":
			v = im.ID
		case "name":
			v = imageName(im)
		case "state":
			v = "available"
		case "owner-id":
			v = owner
		case "imds-support":
			v = im.ImdsSupport
		}
		if !matchAny(f.values, v) {
			return false
		}
	}
	return true
}
