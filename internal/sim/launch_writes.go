package sim

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
)

// The write operations on launch sources: EC2's CreateLaunchTemplateVersion,
// ModifyLaunchTemplate and ModifyInstanceMetadataDefaults, and Auto
// Scaling's UpdateAutoScalingGroup (autoscaling_writes.go). What each one
// does, and where AWS documents it, is in docs/simulated-aws.md#write-operations-on-launch-sources.

// SourceCall is one call of a launch-source write operation the server
// received, whatever its outcome (recorded before its answer leaves).
type SourceCall struct {
	Account string
	Region  string
	// API is CreateLaunchTemplateVersion, ModifyLaunchTemplate,
	// ModifyInstanceMetadataDefaults or UpdateAutoScalingGroup.
	API    string
	DryRun bool
	// ClientToken is the call's idempotency token ("" when it sent none).
	ClientToken string
	// Params holds every request parameter as sent (Query form keys such
	// as "LaunchTemplateData.MetadataOptions.HttpTokens"), without Action,
	// Version, DryRun and ClientToken.
	Params map[string]string
	// Outcome is "ok" or the AWS error code answered (DryRunOperation,
	// RequestLimitExceeded, ValidationError…; "reset" for an injected
	// connection reset; OutcomeResetAfterApply for a change made whose
	// answer was replaced by a reset).
	Outcome string
	// Replayed is true when the call repeated an earlier call's client
	// token and was answered that call's result without a change.
	Replayed bool
}

// idemEntry is what a client token produced: the request's parameters
// (to detect a token reused for another request) and its result.
type idemEntry struct {
	params string
	lt     *fleet.LaunchTemplate
	number int64
}

// idemKey scopes a client token to its operation.
func idemKey(api, token string) string { return api + "\x00" + token }

// paramsFingerprint is a request's parameters without the ones that do not
// make it another request (Action, Version, DryRun, ClientToken).
func paramsFingerprint(form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		switch k {
		case "Action", "Version", "DryRun", "ClientToken":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.Join(form[k], ","))
		b.WriteByte('&')
	}
	return b.String()
}

// clientToken reads ClientToken: at most 128 ASCII characters.
func clientToken(c *call) (string, string) {
	tok := c.form().Get("ClientToken")
	if len(tok) > 128 {
		return "", c.fail(http.StatusBadRequest, "InvalidParameterValue", "Value for parameter ClientToken is invalid. The value must be at most 128 ASCII characters.")
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x20 || tok[i] > 0x7e {
			return "", c.fail(http.StatusBadRequest, "InvalidParameterValue", "Value for parameter ClientToken is invalid. The value must be at most 128 ASCII characters.")
		}
	}
	return tok, ""
}

// findTemplate finds the template a request names by LaunchTemplateId or
// LaunchTemplateName, answering EC2's errors for a malformed id and for a
// template that does not exist. The caller holds ls.mu.
func findTemplate(c *call, ls *launchState, id, name string) (*fleet.LaunchTemplate, string) {
	bad := func(code, msg string) string { return c.fail(http.StatusBadRequest, code, msg) }
	switch {
	case id != "" && name != "":
		return nil, bad("InvalidParameterCombination", "You can specify either a launch template ID or a launch template name in the request, but not both.")
	case id == "" && name == "":
		return nil, bad("MissingParameter", "The request must include either a launch template ID or a launch template name.")
	case id != "":
		if !strings.HasPrefix(id, "lt-") {
			return nil, bad("InvalidLaunchTemplateId.Malformed", fmt.Sprintf("The specified ID for the launch template (%s) is not valid. Launch template IDs start with 'lt-'.", id))
		}
		if lt := ls.templateByID[id]; lt != nil {
			return lt, ""
		}
		return nil, bad("InvalidLaunchTemplateId.NotFound", fmt.Sprintf("The specified launch template, with template ID %s, does not exist.", id))
	}
	if lt := ls.templateByName[name]; lt != nil {
		return lt, ""
	}
	return nil, bad("InvalidLaunchTemplateName.NotFoundException", fmt.Sprintf("The specified launch template, with template name %s, does not exist.", name))
}

// versionNotFound is EC2's answer for a version a template does not have.
func versionNotFound(c *call, lt *fleet.LaunchTemplate, spec string) string {
	return c.fail(http.StatusBadRequest, "InvalidLaunchTemplateId.VersionNotFound",
		fmt.Sprintf("Could not find the specified version %s for the launch template with ID %s.", spec, lt.ID))
}

// cloneTemplate copies a template deeply enough that appending versions and
// changing the default version leave the fleet's template as it was.
func cloneTemplate(src *fleet.LaunchTemplate) *fleet.LaunchTemplate {
	lt := *src
	lt.Versions = make([]fleet.LaunchTemplateVersion, len(src.Versions))
	for i, v := range src.Versions {
		if v.MetadataOptions != nil {
			m := *v.MetadataOptions
			v.MetadataOptions = &m
		}
		lt.Versions[i] = v
	}
	return &lt
}

// launchTemplateDataFields are the LaunchTemplateData parameters the
// simulated AWS holds (fleet.LaunchTemplateVersion); a request that sets
// any other is refused rather than silently losing it.
var launchTemplateDataFields = map[string]bool{
	"ImageId": true, "InstanceType": true,
	"MetadataOptions.HttpTokens": true, "MetadataOptions.HttpPutResponseHopLimit": true,
	"MetadataOptions.HttpEndpoint": true, "MetadataOptions.HttpProtocolIpv6": true,
	"MetadataOptions.InstanceMetadataTags": true,
}

// launchTemplateData reads LaunchTemplateData.* into the parts of a
// version it sets: which top-level parameters are given, and their values.
// A given MetadataOptions replaces the source version's whole
// MetadataOptions, as every launch parameter given replaces the inherited
// one (docs/aws-facts.md#launch-source-writes).
func launchTemplateData(c *call) (data fleet.LaunchTemplateVersion, given map[string]bool, out string) {
	bad := func(msg string) string { return c.fail(http.StatusBadRequest, "InvalidParameterValue", msg) }
	given = map[string]bool{}
	form := c.form()
	for k, vs := range form {
		field, ok := strings.CutPrefix(k, "LaunchTemplateData.")
		if !ok {
			continue
		}
		if !launchTemplateDataFields[field] {
			return data, nil, bad(fmt.Sprintf("The simulated AWS does not hold the launch template parameter %s (it holds ImageId, InstanceType and MetadataOptions); leave it out of the request.", field))
		}
		top, _, _ := strings.Cut(field, ".")
		given[top] = true
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		enabledDisabled := func(name string) bool {
			if v != "enabled" && v != "disabled" {
				out = bad(fmt.Sprintf("Value (%s) for parameter %s is invalid. Valid values: enabled, disabled.", v, name))
				return false
			}
			return true
		}
		if data.MetadataOptions == nil && top == "MetadataOptions" {
			data.MetadataOptions = &fleet.LaunchMetadataOptions{}
		}
		m := data.MetadataOptions
		switch field {
		case "ImageId":
			if !fleet.ValidImageID(v) {
				return data, nil, c.fail(http.StatusBadRequest, "InvalidAMIID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", v))
			}
			data.ImageID = v
		case "InstanceType":
			data.InstanceType = v
		case "MetadataOptions.HttpTokens":
			if v != "optional" && v != "required" {
				return data, nil, bad(fmt.Sprintf("Value (%s) for parameter HttpTokens is invalid. Valid values: optional, required.", v))
			}
			m.HttpTokens = v
		case "MetadataOptions.HttpPutResponseHopLimit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 64 {
				return data, nil, bad(fmt.Sprintf("The HttpPutResponseHopLimit value (%s) is invalid. It must be an integer from 1 to 64.", v))
			}
			m.HttpPutResponseHopLimit = int32(n)
		case "MetadataOptions.HttpEndpoint":
			if !enabledDisabled("HttpEndpoint") {
				return data, nil, out
			}
			m.HttpEndpoint = v
		case "MetadataOptions.HttpProtocolIpv6":
			if !enabledDisabled("HttpProtocolIpv6") {
				return data, nil, out
			}
			m.HttpProtocolIpv6 = v
		case "MetadataOptions.InstanceMetadataTags":
			if !enabledDisabled("InstanceMetadataTags") {
				return data, nil, out
			}
			m.InstanceMetadataTags = v
		}
	}
	return data, given, ""
}

// createLaunchTemplateVersion adds a version to a template: the source
// version's parameters (SourceVersion) with the given ones replacing them.
// The new version's number is the template's highest plus one, so it
// becomes $Latest; the default version does not move.
func (s *Server) createLaunchTemplateVersion(c *call) string {
	form := c.form()
	bad := func(code, msg string) string { return c.fail(http.StatusBadRequest, code, msg) }
	token, out := clientToken(c)
	if out != "" {
		return out
	}
	desc := form.Get("VersionDescription")
	if len(desc) > 255 {
		return bad("InvalidParameterValue", "Value for parameter VersionDescription is invalid. The description can be at most 255 characters long.")
	}
	data, given, out := launchTemplateData(c)
	if out != "" {
		return out
	}
	ls := c.region.launch
	ls.mu.Lock()
	defer ls.mu.Unlock()
	lt, out := findTemplate(c, ls, form.Get("LaunchTemplateId"), form.Get("LaunchTemplateName"))
	if out != "" {
		return out
	}
	var src *fleet.LaunchTemplateVersion
	if spec := form.Get("SourceVersion"); spec != "" {
		v, ok := lt.Version(spec)
		if !ok {
			return versionNotFound(c, lt, spec)
		}
		src = v
	}
	fp := paramsFingerprint(form)
	if token != "" {
		if e, ok := ls.idem[idemKey(c.api, token)]; ok {
			if e.params != fp || e.lt != lt {
				return bad("IdempotentParameterMismatch", "The client token "+token+" was already used for a different request.")
			}
			if c.dryRun() {
				return c.dryRunOK()
			}
			v, ok := e.lt.Version(strconv.FormatInt(e.number, 10))
			if !ok {
				return versionNotFound(c, e.lt, strconv.FormatInt(e.number, 10))
			}
			c.replayed = true
			return s.answerVersion(c, e.lt, v)
		}
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	nv := fleet.LaunchTemplateVersion{}
	if src != nil {
		nv = *src
		if src.MetadataOptions != nil {
			m := *src.MetadataOptions
			nv.MetadataOptions = &m
		}
	}
	if given["ImageId"] {
		nv.ImageID = data.ImageID
	}
	if given["InstanceType"] {
		nv.InstanceType = data.InstanceType
	}
	if given["MetadataOptions"] {
		nv.MetadataOptions = data.MetadataOptions
	}
	nv.Number = lt.Latest() + 1
	nv.Description = desc
	nv.CreateTime = fleet.Abs(s.now())
	lt.Versions = append(lt.Versions, nv)
	if token != "" {
		ls.idem[idemKey(c.api, token)] = idemEntry{params: fp, lt: lt, number: nv.Number}
	}
	return s.answerVersion(c, lt, &lt.Versions[len(lt.Versions)-1])
}

func (s *Server) answerVersion(c *call, lt *fleet.LaunchTemplate, v *fleet.LaunchTemplateVersion) string {
	x := c.startXML("CreateLaunchTemplateVersionResponse")
	writeLaunchTemplateVersion(x, "launchTemplateVersion", c, ltVersion{lt, v}, s.now())
	c.endXML(x, "CreateLaunchTemplateVersionResponse")
	return "ok"
}

// modifyLaunchTemplate sets a template's default version
// (SetDefaultVersion, a version number the template has).
func (s *Server) modifyLaunchTemplate(c *call) string {
	form := c.form()
	bad := func(code, msg string) string { return c.fail(http.StatusBadRequest, code, msg) }
	token, out := clientToken(c)
	if out != "" {
		return out
	}
	for k := range form {
		if strings.HasPrefix(k, "LaunchOptions.") || strings.HasPrefix(k, "Metadata.") {
			return bad("InvalidParameterValue", fmt.Sprintf("The simulated AWS does not hold the parameter %s of ModifyLaunchTemplate (it sets SetDefaultVersion only); leave it out of the request.", k))
		}
	}
	ls := c.region.launch
	ls.mu.Lock()
	defer ls.mu.Unlock()
	lt, out := findTemplate(c, ls, form.Get("LaunchTemplateId"), form.Get("LaunchTemplateName"))
	if out != "" {
		return out
	}
	var number int64
	if spec, ok := form["SetDefaultVersion"]; ok && len(spec) > 0 {
		n, err := strconv.ParseInt(spec[0], 10, 64)
		if err != nil || n < 1 {
			return versionNotFound(c, lt, spec[0])
		}
		if _, ok := lt.Version(spec[0]); !ok {
			return versionNotFound(c, lt, spec[0])
		}
		number = n
	}
	fp := paramsFingerprint(form)
	if token != "" {
		if e, ok := ls.idem[idemKey(c.api, token)]; ok {
			if e.params != fp || e.lt != lt {
				return bad("IdempotentParameterMismatch", "The client token "+token+" was already used for a different request.")
			}
			if c.dryRun() {
				return c.dryRunOK()
			}
			c.replayed = true
			return s.answerTemplate(c, lt)
		}
	}
	if c.dryRun() {
		return c.dryRunOK()
	}
	if number != 0 {
		lt.DefaultVersion = number
	}
	if token != "" {
		ls.idem[idemKey(c.api, token)] = idemEntry{params: fp, lt: lt, number: number}
	}
	return s.answerTemplate(c, lt)
}

func (s *Server) answerTemplate(c *call, lt *fleet.LaunchTemplate) string {
	x := c.startXML("ModifyLaunchTemplateResponse")
	x.Open("launchTemplate")
	x.Elem("launchTemplateId", lt.ID)
	x.Elem("launchTemplateName", lt.Name)
	x.Elem("createTime", lt.CreateTime.At(s.now()).UTC().Format("2006-01-02T15:04:05.000Z"))
	x.Elem("createdBy", simUserArn(c))
	x.ElemInt("defaultVersionNumber", lt.Default())
	x.ElemInt("latestVersionNumber", lt.Latest())
	writeTagSet(x, lt.Tags)
	x.Close("launchTemplate")
	c.endXML(x, "ModifyLaunchTemplateResponse")
	return "ok"
}

// recordSourceCall records a launch-source write call with its outcome
// before the answer leaves (SourceCalls).
func (s *Server) recordSourceCall(c *call, outcome string) {
	if c.account == nil {
		return // unsigned: AWS never saw whose call it was
	}
	form := c.form()
	sc := SourceCall{
		Account:     accountID(c.account),
		Region:      c.scope.region,
		API:         c.api,
		DryRun:      formBool(form, "DryRun"),
		ClientToken: form.Get("ClientToken"),
		Params:      map[string]string{},
		Outcome:     outcome,
		Replayed:    c.replayed,
	}
	for k, v := range form {
		switch k {
		case "Action", "Version", "DryRun", "ClientToken":
			continue
		}
		if len(v) > 0 {
			sc.Params[k] = v[0]
		}
	}
	s.mu.Lock()
	s.sourceCalls = append(s.sourceCalls, sc)
	s.mu.Unlock()
}

// SourceCalls returns every call of a launch-source write operation
// (CreateLaunchTemplateVersion, ModifyLaunchTemplate,
// ModifyInstanceMetadataDefaults, UpdateAutoScalingGroup) received, in
// order, whatever its outcome.
func (s *Server) SourceCalls() []SourceCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SourceCall(nil), s.sourceCalls...)
}

// LaunchTemplate returns a copy of a template as the server holds it now,
// found by id or by name: its versions (with those created since), its
// default version (DefaultVersion; Default() resolves it) and its $Latest
// (Latest()).
func (s *Server) LaunchTemplate(account, region, idOrName string) (fleet.LaunchTemplate, bool) {
	ls, ok := s.launchOf(account, region)
	if !ok {
		return fleet.LaunchTemplate{}, false
	}
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	lt := ls.templateByID[idOrName]
	if lt == nil {
		lt = ls.templateByName[idOrName]
	}
	if lt == nil {
		return fleet.LaunchTemplate{}, false
	}
	out := *cloneTemplate(lt)
	out.DefaultVersion = lt.Default()
	return out, true
}

// AutoScalingGroup returns a copy of a group as the server holds it now
// (its launch template reference, mixed instances policy or launch
// configuration, with the changes UpdateAutoScalingGroup made).
func (s *Server) AutoScalingGroup(account, region, name string) (fleet.AutoScalingGroup, bool) {
	ls, ok := s.launchOf(account, region)
	if !ok {
		return fleet.AutoScalingGroup{}, false
	}
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	g := ls.groupByName[name]
	if g == nil {
		return fleet.AutoScalingGroup{}, false
	}
	out := *g
	if g.LaunchTemplate != nil {
		ref := *g.LaunchTemplate
		out.LaunchTemplate = &ref
	}
	if m := g.MixedInstancesPolicy; m != nil {
		mc := *m
		mc.Overrides = make([]fleet.Override, len(m.Overrides))
		for i, o := range m.Overrides {
			if o.LaunchTemplate != nil {
				ref := *o.LaunchTemplate
				o.LaunchTemplate = &ref
			}
			mc.Overrides[i] = o
		}
		out.MixedInstancesPolicy = &mc
	}
	return out, true
}

// launchOf returns an account's Region's launch sources.
func (s *Server) launchOf(account, region string) (*launchState, bool) {
	a, ok := s.byID[account]
	if !ok {
		return nil, false
	}
	rs, ok := lookupRegion(a, region)
	if !ok {
		return nil, false
	}
	return rs.launch, true
}

// Account defaults (ModifyInstanceMetadataDefaults).

// defaultsManagedCode is the error answered when the Region's defaults are
// managed by a declarative policy (docs/aws-facts.md#launch-source-writes:
// the code is not documented by AWS; keep it here, in one place).
const defaultsManagedCode = "UnauthorizedOperation"

// modifyMetadataDefaults changes the account's IMDS defaults in the
// Region: a field given replaces the default, "no-preference" (-1 for the
// hop limit) clears it, a field left out keeps its value.
func (s *Server) modifyMetadataDefaults(c *call) string {
	form := c.form()
	bad := func(msg string) string { return c.fail(http.StatusBadRequest, "InvalidParameterValue", msg) }
	type field struct {
		param string
		valid []string
		set   func(d *fleet.MetadataDefaults, v string)
	}
	fields := []field{
		{"HttpTokens", []string{"optional", "required", "no-preference"}, func(d *fleet.MetadataDefaults, v string) { d.HttpTokens = v }},
		{"HttpEndpoint", []string{"enabled", "disabled", "no-preference"}, func(d *fleet.MetadataDefaults, v string) { d.HttpEndpoint = v }},
		{"InstanceMetadataTags", []string{"enabled", "disabled", "no-preference"}, func(d *fleet.MetadataDefaults, v string) { d.InstanceMetadataTags = v }},
		{"HttpTokensEnforced", []string{"enabled", "disabled", "no-preference"}, func(d *fleet.MetadataDefaults, v string) { d.HttpTokensEnforced = v }},
	}
	var changes []func(d *fleet.MetadataDefaults)
	for _, f := range fields {
		vs, ok := form[f.param]
		if !ok || len(vs) == 0 {
			continue
		}
		v := vs[0]
		if !contains(f.valid, v) {
			return bad(fmt.Sprintf("Value (%s) for parameter %s is invalid. Valid values: %s.", v, f.param, strings.Join(f.valid, ", ")))
		}
		if v == "no-preference" {
			v = ""
		}
		set := f.set
		changes = append(changes, func(d *fleet.MetadataDefaults) { set(d, v) })
	}
	if vs, ok := form["HttpPutResponseHopLimit"]; ok && len(vs) > 0 {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n != -1 && (n < 1 || n > 64) {
			return bad(fmt.Sprintf("The HttpPutResponseHopLimit value (%s) is invalid. It must be an integer from 1 to 64, or -1 for no preference.", vs[0]))
		}
		if n == -1 {
			n = 0
		}
		changes = append(changes, func(d *fleet.MetadataDefaults) { d.HttpPutResponseHopLimit = int32(n) })
	}
	rs := c.region
	rs.mu.Lock()
	if d := rs.defaults; d != nil && d.ManagedBy == "declarative-policy" {
		msg := "The instance metadata defaults of this Region are managed by a declarative policy and can't be modified by the account."
		if d.ManagedExceptionMessage != "" {
			msg += " " + d.ManagedExceptionMessage
		}
		rs.mu.Unlock()
		return c.fail(http.StatusForbidden, defaultsManagedCode, msg)
	}
	if c.dryRun() {
		rs.mu.Unlock()
		return c.dryRunOK()
	}
	d := fleet.MetadataDefaults{}
	if rs.defaults != nil {
		d = *rs.defaults
	}
	for _, ch := range changes {
		ch(&d)
	}
	rs.defaults = &d
	rs.mu.Unlock()
	x := c.startXML("ModifyInstanceMetadataDefaultsResponse")
	x.ElemBool("return", true)
	c.endXML(x, "ModifyInstanceMetadataDefaultsResponse")
	return "ok"
}

// MetadataDefaults returns the account's IMDS defaults in a Region as the
// server holds them now (false: the Region has none set).
func (s *Server) MetadataDefaults(account, region string) (fleet.MetadataDefaults, bool) {
	a, ok := s.byID[account]
	if !ok {
		return fleet.MetadataDefaults{}, false
	}
	rs, ok := lookupRegion(a, region)
	if !ok {
		return fleet.MetadataDefaults{}, false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.defaults == nil {
		return fleet.MetadataDefaults{}, false
	}
	return *rs.defaults, true
}

// ExpireClientTokens makes the server forget the client tokens of the
// launch-source write operations of a Region, as EC2 does some time after
// a call: a call sent again with the same token is then a new request.
func (s *Server) ExpireClientTokens(account, region string) {
	ls, ok := s.launchOf(account, region)
	if !ok {
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	clear(ls.idem)
}
