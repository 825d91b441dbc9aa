package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Default metadata option values: what EC2 gives an instance launched
// without metadata options from an AMI without ImdsSupport=v2.0.
const (
	DefaultHttpTokens              = "optional"
	DefaultHttpEndpoint            = "enabled"
	DefaultHttpPutResponseHopLimit = int32(1)
	DefaultHttpProtocolIpv6        = "disabled"
	DefaultInstanceMetadataTags    = "disabled"
)

// DefaultAccessKeyID is the access key that selects an account which lists
// no accessKeyIds: "AKIASIM" followed by the 12-digit account id padded
// with a leading 0 to 13 characters (20 characters in all, like a real key).
func DefaultAccessKeyID(accountID string) string {
	return "AKIASIM" + fmt.Sprintf("%013s", accountID)
}

// AccessKeys returns the access keys that select the account: its
// AccessKeyIDs, or DefaultAccessKeyID when it lists none.
func (a *Account) AccessKeys() []string {
	if len(a.AccessKeyIDs) > 0 {
		return a.AccessKeyIDs
	}
	return []string{DefaultAccessKeyID(a.ID)}
}

// WithDefaults returns m with every empty field set to EC2's default.
func (m MetadataOptions) WithDefaults() MetadataOptions {
	if m.HttpTokens == "" {
		m.HttpTokens = DefaultHttpTokens
	}
	if m.HttpEndpoint == "" {
		m.HttpEndpoint = DefaultHttpEndpoint
	}
	if m.HttpPutResponseHopLimit == 0 {
		m.HttpPutResponseHopLimit = DefaultHttpPutResponseHopLimit
	}
	if m.HttpProtocolIpv6 == "" {
		m.HttpProtocolIpv6 = DefaultHttpProtocolIpv6
	}
	if m.InstanceMetadataTags == "" {
		m.InstanceMetadataTags = DefaultInstanceMetadataTags
	}
	return m
}

// ApplyDefaults fills in every instance's missing metadata options
// (optional, enabled, hop limit 1, IPv6 disabled, tags disabled), numbers
// launch template versions left unnumbered, and gives every instance that
// names its Auto Scaling group or launch template EC2's auto tags for
// them. It is idempotent.
func (f *Fleet) ApplyDefaults() {
	for a := range f.Accounts {
		for r := range f.Accounts[a].Regions {
			reg := &f.Accounts[a].Regions[r]
			ins := reg.Instances
			for i := range ins {
				ins[i].MetadataOptions = ins[i].MetadataOptions.WithDefaults()
			}
			reg.applyLaunchDefaults()
		}
	}
}

// Load reads a fleet in the JSON format of docs/fleet-format.md, fills in
// default metadata options and validates it. Unknown fields are errors, so
// that a misspelt field does not silently fall back to a default.
func Load(r io.Reader) (*Fleet, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read fleet: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f Fleet
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse fleet JSON: %w", describeJSONError(data, err))
	}
	if dec.More() {
		return nil, errors.New("parse fleet JSON: extra data after the top-level object")
	}
	f.ApplyDefaults()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// LoadFile is Load on the named file.
func LoadFile(path string) (*Fleet, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open fleet file: %w", err)
	}
	defer fh.Close()
	f, err := Load(fh)
	if err != nil {
		return nil, fmt.Errorf("fleet file %s: %w", path, err)
	}
	return f, nil
}

// describeJSONError adds a line:column position to JSON errors that carry
// an offset.
func describeJSONError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

var (
	accountIDRe  = regexp.MustCompile(`^[0-9]{12}$`)
	instanceIDRe = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	regionNameRe = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// ValidInstanceID reports whether id has EC2's instance id form
// (i- followed by 8 or 17 hex digits).
func ValidInstanceID(id string) bool { return instanceIDRe.MatchString(id) }

// instanceStates are EC2's instance state names.
var instanceStates = map[string]int32{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

// StateCode returns EC2's numeric code of an instance state name.
func StateCode(state string) (int32, bool) {
	c, ok := instanceStates[state]
	return c, ok
}

// maxProblems caps how many problems Validate lists.
const maxProblems = 20

type problems struct{ list []string }

func (p *problems) add(format string, args ...any) {
	if len(p.list) <= maxProblems {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	msgs := p.list
	more := ""
	if len(msgs) > maxProblems {
		msgs = msgs[:maxProblems]
		more = "\n  (more problems not listed)"
	}
	return fmt.Errorf("invalid fleet:\n  %s%s", strings.Join(msgs, "\n  "), more)
}

// Validate checks every account, Region, instance and knob, and reports
// all problems found (up to 20), each naming where it is and what is
// allowed. Empty metadata option fields are accepted: they mean EC2's
// defaults (see [MetadataOptions.WithDefaults]).
func (f *Fleet) Validate() error {
	var p problems
	if len(f.Accounts) == 0 {
		p.add("accounts: at least one account is required")
	}
	validateKnobs(&p, "knobs", &f.Knobs)
	f.validateOrg(&p)
	switch f.EnabledRegions {
	case "", EnabledListed, EnabledAWS:
	default:
		p.add("enabledRegions %q: want %q (only the Regions each account lists) or %q (every Region that needs no opt-in, as on AWS)", f.EnabledRegions, EnabledListed, EnabledAWS)
	}
	seenAcct := map[string]bool{}
	seenKey := map[string]string{}
	for ai := range f.Accounts {
		a := &f.Accounts[ai]
		where := fmt.Sprintf("accounts[%d] (account %s)", ai, a.ID)
		if !accountIDRe.MatchString(a.ID) {
			p.add("%s: id %q: want 12 digits", where, a.ID)
		}
		if seenAcct[a.ID] {
			p.add("%s: id %s appears twice", where, a.ID)
		}
		seenAcct[a.ID] = true
		for _, k := range a.AccessKeyIDs {
			if k == "" {
				p.add("%s: accessKeyIds: empty key", where)
			}
			if other, ok := seenKey[k]; ok && other != a.ID {
				p.add("%s: access key %s is also listed by account %s", where, k, other)
			}
			seenKey[k] = a.ID
		}
		for _, role := range a.Roles {
			if role == "" || strings.ContainsAny(role, ": ") {
				p.add("%s: roles: %q is not a role name (want e.g. \"imdsfleet-scan\")", where, role)
			}
		}
		seenRegion := map[string]bool{}
		for ri := range a.Regions {
			r := &a.Regions[ri]
			rwhere := fmt.Sprintf("account %s, Region %s", a.ID, r.Name)
			if !regionNameRe.MatchString(r.Name) {
				p.add("account %s, regions[%d]: name %q is not a Region name (want e.g. \"us-east-1\")", a.ID, ri, r.Name)
			}
			if seenRegion[r.Name] {
				p.add("%s: Region listed twice", rwhere)
			}
			seenRegion[r.Name] = true
			optIn := OptInRegion(r.Name)
			switch r.OptInStatus {
			case "":
			case "opt-in-not-required":
				if optIn {
					p.add("%s: optInStatus opt-in-not-required: %s is an opt-in Region (want opted-in or not-opted-in)", rwhere, r.Name)
				}
			case "opted-in":
				if !optIn && KnownRegion(r.Name) {
					p.add("%s: optInStatus opted-in: %s needs no opt-in (want opt-in-not-required, or leave it out)", rwhere, r.Name)
				}
			case "not-opted-in":
				if f.EnabledRegions == EnabledAWS && !optIn && KnownRegion(r.Name) {
					p.add("%s: optInStatus not-opted-in: with enabledRegions \"aws\" a Region that needs no opt-in is always enabled", rwhere)
				}
				if len(r.Instances) > 0 {
					p.add("%s: optInStatus not-opted-in: a Region that is not opted in holds no instances", rwhere)
				}
			default:
				p.add("%s: optInStatus %q: want opt-in-not-required, opted-in or not-opted-in", rwhere, r.OptInStatus)
			}
			zones := map[string]bool{}
			for _, z := range r.AvailabilityZones {
				if !strings.HasPrefix(z, r.Name) || len(z) != len(r.Name)+1 || z[len(r.Name)] < 'a' || z[len(r.Name)] > 'z' {
					p.add("%s: availabilityZones: %q is not a zone of %s (want e.g. %q)", rwhere, z, r.Name, r.Name+"a")
				}
				if zones[z] {
					p.add("%s: availabilityZones: %s listed twice", rwhere, z)
				}
				zones[z] = true
			}
			for ii := range r.Instances {
				in := &r.Instances[ii]
				if z := in.AvailabilityZone; z != "" && !slices.Contains(r.Zones(), z) {
					p.add("%s, instance %s: availabilityZone %q: want one of %s", rwhere, in.ID, z, strings.Join(r.Zones(), ", "))
				}
			}
			if r.Knobs != nil {
				validateKnobs(&p, rwhere+": knobs", r.Knobs)
			}
			if d := r.Defaults; d != nil {
				validateDefaults(&p, rwhere+": defaults", d)
			}
			validateLaunch(&p, rwhere, r)
			seenInst := make(map[string]bool, len(r.Instances))
			for ii := range r.Instances {
				validateInstance(&p, f.PartitionName(), rwhere, ii, &r.Instances[ii], seenInst)
			}
		}
	}
	return p.err()
}

func validateInstance(p *problems, partition, rwhere string, ii int, in *Instance, seen map[string]bool) {
	where := fmt.Sprintf("%s, instance %s", rwhere, in.ID)
	if in.ID == "" {
		where = fmt.Sprintf("%s, instances[%d]", rwhere, ii)
	}
	if !instanceIDRe.MatchString(in.ID) {
		p.add("%s: id %q: want i- followed by 8 or 17 hex digits", where, in.ID)
	}
	if seen[in.ID] {
		p.add("%s: id appears twice in the Region", where)
	}
	seen[in.ID] = true
	if _, ok := instanceStates[in.State]; !ok {
		p.add("%s: state %q: want pending, running, shutting-down, terminated, stopping or stopped", where, in.State)
	}
	if in.Platform != "" && in.Platform != "windows" {
		p.add("%s: platform %q: want \"windows\" or nothing", where, in.Platform)
	}
	if arn := in.InstanceProfileArn; arn != "" && !strings.HasPrefix(arn, "arn:"+partition+":iam::") {
		p.add("%s: instanceProfileArn %q: want arn:%s:iam::<account>:instance-profile/<name> (the fleet's partition)", where, arn, partition)
	}
	validateOptions(p, where+": metadataOptions", in.MetadataOptions)
	for i, iv := range in.Running {
		if before(iv.To, iv.From) {
			p.add("%s: running[%d]: to (%s) is before from (%s)", where, i, iv.To, iv.From)
		}
	}
	if in.HiddenCaller != nil {
		if err := in.HiddenCaller.validate(where); err != nil {
			p.add("%v", err)
		}
	}
	for i, iv := range in.StatusCheckFailed {
		if before(iv.To, iv.From) {
			p.add("%s: statusCheckFailed[%d]: to (%s) is before from (%s)", where, i, iv.To, iv.From)
		}
	}
	for i, u := range in.Usage {
		if u.Metric != MetricNoToken && u.Metric != MetricNoTokenRejected {
			p.add("%s: usage[%d]: metric %q: want %s or %s", where, i, u.Metric, MetricNoToken, MetricNoTokenRejected)
		}
		if u.PerHour < 0 {
			p.add("%s: usage[%d]: perHour %v: must not be negative", where, i, u.PerHour)
		}
		if before(u.To, u.From) {
			p.add("%s: usage[%d]: to (%s) is before from (%s)", where, i, u.To, u.From)
		}
	}
}

// before reports whether a is certainly before b: both relative or both
// absolute (mixed forms depend on the clock and are not compared).
func before(a, b RelTime) bool {
	if a.hasAbs != b.hasAbs {
		return false
	}
	if a.hasAbs {
		return a.abs.Before(b.abs)
	}
	return a.rel < b.rel
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func validateOptions(p *problems, where string, m MetadataOptions) {
	if !oneOf(m.HttpTokens, "", "optional", "required") {
		p.add("%s: httpTokens %q: want optional or required", where, m.HttpTokens)
	}
	if !oneOf(m.HttpEndpoint, "", "enabled", "disabled") {
		p.add("%s: httpEndpoint %q: want enabled or disabled", where, m.HttpEndpoint)
	}
	if m.HttpPutResponseHopLimit < 0 || m.HttpPutResponseHopLimit > 64 {
		p.add("%s: httpPutResponseHopLimit %d: want 1..64", where, m.HttpPutResponseHopLimit)
	}
	if !oneOf(m.HttpProtocolIpv6, "", "enabled", "disabled") {
		p.add("%s: httpProtocolIpv6 %q: want enabled or disabled", where, m.HttpProtocolIpv6)
	}
	if !oneOf(m.InstanceMetadataTags, "", "enabled", "disabled") {
		p.add("%s: instanceMetadataTags %q: want enabled or disabled", where, m.InstanceMetadataTags)
	}
}

func validateDefaults(p *problems, where string, d *MetadataDefaults) {
	if !oneOf(d.HttpTokens, "", "optional", "required", "no-preference") {
		p.add("%s: httpTokens %q: want optional, required or no-preference", where, d.HttpTokens)
	}
	if !oneOf(d.HttpEndpoint, "", "enabled", "disabled", "no-preference") {
		p.add("%s: httpEndpoint %q: want enabled, disabled or no-preference", where, d.HttpEndpoint)
	}
	if d.HttpPutResponseHopLimit < -1 || d.HttpPutResponseHopLimit > 64 {
		p.add("%s: httpPutResponseHopLimit %d: want 1..64, or -1 for no preference", where, d.HttpPutResponseHopLimit)
	}
	if !oneOf(d.InstanceMetadataTags, "", "enabled", "disabled", "no-preference") {
		p.add("%s: instanceMetadataTags %q: want enabled, disabled or no-preference", where, d.InstanceMetadataTags)
	}
	if !oneOf(d.HttpTokensEnforced, "", "enabled", "disabled", "no-preference") {
		p.add("%s: httpTokensEnforced %q: want enabled, disabled or no-preference", where, d.HttpTokensEnforced)
	}
	if !oneOf(d.ManagedBy, "", "account", "declarative-policy") {
		p.add("%s: managedBy %q: want account or declarative-policy", where, d.ManagedBy)
	}
	if d.ManagedExceptionMessage != "" && d.ManagedBy != "declarative-policy" {
		p.add("%s: managedExceptionMessage: only a declarative policy (managedBy declarative-policy) has one", where)
	}
}

func validateKnobs(p *problems, where string, k *Knobs) {
	if l := k.Latency; l != nil {
		if l.Fixed < 0 || l.PerKiB < 0 || l.Jitter < 0 {
			p.add("%s: latency: fixed, perKiB and jitter must not be negative", where)
		}
	}
	if k.TimeScale < 0 {
		p.add("%s: timeScale %v: must not be negative (0 means 1)", where, k.TimeScale)
	}
	if k.ApplyDelay != nil && *k.ApplyDelay < 0 {
		p.add("%s: applyDelay %s: must not be negative", where, k.ApplyDelay.D())
	}
	for i, api := range k.DenyAPIs {
		if api == "" || strings.ContainsAny(api, " ,") {
			p.add("%s: denyApis[%d]: %q: want an operation name such as \"DescribeImages\", or \"ec2:*\" or \"autoscaling:*\"", where, i, api)
		}
	}
	for i, fl := range k.Faults {
		if fl.API == "" {
			p.add("%s: faults[%d]: api is required (an operation name such as \"DescribeInstances\", or \"*\")", where, i)
		}
		if fl.Rate < 0 || fl.Rate > 1 {
			p.add("%s: faults[%d]: rate %v: want a probability in [0, 1]", where, i, fl.Rate)
		}
		if fl.Status != 0 && (fl.Status < 400 || fl.Status > 599) {
			p.add("%s: faults[%d]: status %d: want an HTTP error status 400..599", where, i, fl.Status)
		}
		if fl.Reset && (fl.Code != "" || fl.Status != 0) {
			p.add("%s: faults[%d]: reset closes the connection; it takes no code or status", where, i)
		}
		if fl.ResetAfterApply && (fl.Reset || fl.Code != "" || fl.Status != 0) {
			p.add("%s: faults[%d]: resetAfterApply answers nothing after the call succeeds; it takes no reset, code or status", where, i)
		}
	}
}
