// Package sim is the simulated AWS that tests, benchmarks, the demo and
// `imdsfleet sim` run against. It speaks the real wire protocols over HTTP:
// EC2 Query (DescribeRegions, DescribeInstances,
// ModifyInstanceMetadataOptions, GetInstanceMetadataDefaults, the launch
// source reads and writes), Auto Scaling awsQuery, STS awsQuery
// (GetCallerIdentity, AssumeRole) and CloudWatch over Smithy RPC v2 CBOR and
// awsJson 1.0 (GetMetricData, GetMetricStatistics, handlers in package
// cwsim). Requests are attributed to an account by their SigV4 access key
// and to a Region by their SigV4 credential scope; signatures are not
// verified.
//
// One operation is one handler in its service's registry (registry.go,
// which also shows how to add one); the wire codecs live in package wire;
// every call goes through one middleware chain (middleware.go): counters,
// authentication, the Region's deny switches, token buckets, injected
// faults, then latency. An unknown service or action answers AWS's error
// for it in the request's protocol.
//
// Realism knobs (latency, AWS's token buckets, fault injection, denied
// Regions) come from the fleet and can be changed at run time with
// [Server.SetKnobs]. The server holds the fleet's instances in memory and
// never stores metric datapoints.
//
// The package prints nothing and starts no goroutines; it is an
// http.Handler the caller serves.
package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/sim/wire"
)

// Options tune a Server beyond what the fleet file says.
type Options struct {
	// Seed seeds jitter, fault injection and issued credentials
	// (deterministic per seed).
	Seed int64
	// Now overrides the clock (nil: fleet.Clock if set, else time.Now).
	Now func() time.Time
	// Wall overrides the clock that token buckets refill on and pending
	// metadata changes turn applied on (nil: time.Now). Tests pass a
	// simulated clock (simtest.Clock) so that refill and apply delays follow
	// the calls the server sees, not how fast a loaded machine runs.
	Wall func() time.Time
	// Logger receives one debug line per request (nil: discard).
	Logger *slog.Logger
}

// ModifyCall is one ModifyInstanceMetadataOptions request the server
// received, whatever its outcome.
type ModifyCall struct {
	Account    string
	Region     string
	InstanceID string
	DryRun     bool
	// Params holds the metadata option fields the call sent (HttpTokens,
	// HttpEndpoint, HttpPutResponseHopLimit, HttpProtocolIpv6,
	// InstanceMetadataTags), as sent.
	Params map[string]string
	// Outcome is "ok" or the AWS error code answered (DryRunOperation,
	// RequestLimitExceeded, InvalidInstanceID.NotFound, …; "reset" for an
	// injected connection reset; OutcomeResetAfterApply for a change that
	// was made but whose answer was replaced by a reset).
	Outcome string
}

// Server is the simulated AWS. It is safe for concurrent use.
type Server struct {
	fleetKnobs fleet.Knobs
	now        func() time.Time
	wall       func() time.Time // buckets and apply delays
	log        *slog.Logger

	accounts []*accountState
	byID     map[string]*accountState
	byKey    map[string]*accountState // static access keys; immutable after New

	mu          sync.Mutex // guards assumed, modify and sourceCalls
	assumed     map[string]assumedKey
	modify      []ModifyCall
	sourceCalls []SourceCall

	rngMu sync.Mutex
	rng   *rand.Rand

	stats stats
	seq   atomic.Uint64
	seed  int64

	services services     // the registries of every service, by route
	mws      []middleware // the chain every call goes through

	partition string    // every ARN's partition (fleet.Partition)
	org       *orgState // nil: no organization
}

// assumedKey is a temporary access key issued by AssumeRole.
type assumedKey struct {
	account *accountState
	roleArn string
	role    string
	session string
}

type accountState struct {
	id    string
	roles []string
	// Organization membership (see fleet.Account).
	name, state, parent string
	denyAssumeRole      bool
	// fleet is the account as the fleet describes it (read only); with
	// enabledRegions it decides each Region's opt-in status.
	fleet          *fleet.Account
	enabledRegions string

	mu      sync.Mutex // guards regions (Regions unknown to the fleet are added lazily)
	regions map[string]*regionState
	order   []*regionState // the fleet's Regions in file order
}

// regionState is one account's Region. insts is sorted by id and never
// resized after New; the mutable fields of its records, the account
// defaults (ModifyInstanceMetadataDefaults changes them) and the knobs and
// buckets are guarded by mu; launch has its own lock.
type regionState struct {
	name  string
	optIn string // as DescribeRegions reports it
	// callsAllowed is false when EC2 and CloudWatch calls into the Region
	// answer as in a disabled Region (fleet.Account.CallsAllowed).
	callsAllowed bool
	zones        []string // Availability Zone names, in order (zone ids follow it)
	defaults     *fleet.MetadataDefaults
	launch       *launchState // immutable after New

	insts []instRec

	mu       sync.Mutex
	override *fleet.Knobs
	knobs    fleet.Knobs
	buckets  map[string]*bucket
}

// instRec is an instance as the server holds it: the fleet's immutable
// description plus the current metadata options.
type instRec struct {
	in           *fleet.Instance
	az           string   // Availability Zone
	tagKeys      []string // sorted
	opts         fleet.MetadataOptions
	pendingUntil time.Time // on Server.wall; zero: applied
	changes      []optChange
}

// New validates f and returns a server for it. The server reads f's
// instances in place: the caller must not modify f afterwards.
func New(f *fleet.Fleet, opts Options) (*Server, error) {
	if f == nil {
		f = &fleet.Fleet{}
	}
	// A fleet built in Go gets what Load gives a file: numbered template
	// versions and the auto tags of the instances that name their group or
	// template (idempotent).
	f.ApplyDefaults()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		fleetKnobs: f.Knobs,
		log:        opts.Logger,
		byID:       map[string]*accountState{},
		byKey:      map[string]*accountState{},
		assumed:    map[string]assumedKey{},
		rng:        rand.New(rand.NewSource(opts.Seed)),
		seed:       opts.Seed,
		wall:       opts.Wall,
	}
	if s.wall == nil {
		s.wall = time.Now
	}
	s.stats.init()
	s.partition = f.PartitionName()
	s.services = newServices(s.ec2Service(), s.stsService(), s.cloudWatchService(), s.organizationsService(), s.autoScalingService())
	s.mws = s.chain()
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case opts.Now != nil:
		s.now = opts.Now
	case f.Clock != nil:
		c := *f.Clock
		s.now = func() time.Time { return c }
	default:
		s.now = time.Now
	}
	for ai := range f.Accounts {
		a := &f.Accounts[ai]
		as := &accountState{id: a.ID, roles: a.Roles, fleet: a, enabledRegions: f.EnabledRegions, regions: map[string]*regionState{},
			name: a.Name, state: a.AccountState(), parent: a.Parent, denyAssumeRole: a.DenyAssumeRole}
		for _, k := range a.AccessKeys() {
			s.byKey[k] = as
		}
		for ri := range a.Regions {
			r := &a.Regions[ri]
			rs := newRegionState(r.Name, a.RegionStatus(f.EnabledRegions, r.Name), f.Knobs, r.Knobs)
			rs.callsAllowed = a.CallsAllowed(f.EnabledRegions, r.Name)
			if r.Defaults != nil {
				d := *r.Defaults // a copy: ModifyInstanceMetadataDefaults changes it
				rs.defaults = &d
			}
			rs.zones = r.Zones()
			rs.launch = newLaunchState(r)
			rs.insts = make([]instRec, len(r.Instances))
			for ii := range r.Instances {
				in := &r.Instances[ii]
				rec := instRec{in: in, az: r.ZoneOf(in), opts: in.MetadataOptions.WithDefaults()}
				if len(in.Tags) > 0 {
					rec.tagKeys = make([]string, 0, len(in.Tags))
					for k := range in.Tags {
						rec.tagKeys = append(rec.tagKeys, k)
					}
					sort.Strings(rec.tagKeys)
				}
				rs.insts[ii] = rec
			}
			sort.Slice(rs.insts, func(i, j int) bool { return rs.insts[i].in.ID < rs.insts[j].in.ID })
			as.regions[r.Name] = rs
			as.order = append(as.order, rs)
		}
		s.accounts = append(s.accounts, as)
		s.byID[a.ID] = as
	}
	s.org = newOrgState(f)
	return s, nil
}

func newRegionState(name, optIn string, base fleet.Knobs, override *fleet.Knobs) *regionState {
	if optIn == "" {
		optIn = "opt-in-not-required"
	}
	return &regionState{
		launch:   newLaunchState(&fleet.Region{}),
		name:     name,
		optIn:    optIn,
		zones:    (&fleet.Region{Name: name}).Zones(),
		override: override,
		knobs:    base.Merge(override),
		buckets:  map[string]*bucket{},
	}
}

// region returns the account's Region, adding an empty one for a name the
// fleet does not list: a Region without instances, whose calls are
// answered or refused as fleet.Account.CallsAllowed says.
func (s *Server) region(a *accountState, name string) *regionState {
	a.mu.Lock()
	defer a.mu.Unlock()
	rs, ok := a.regions[name]
	if !ok {
		rs = newRegionState(name, a.fleet.RegionStatus(a.enabledRegions, name), s.fleetKnobs, nil)
		rs.callsAllowed = a.fleet.CallsAllowed(a.enabledRegions, name)
		a.regions[name] = rs
	}
	return rs
}

// lookupRegion returns the account's Region without adding it.
func lookupRegion(a *accountState, name string) (*regionState, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rs, ok := a.regions[name]
	return rs, ok
}

// find returns the index of id in the Region's sorted instances.
func (rs *regionState) find(id string) (int, bool) {
	i := sort.Search(len(rs.insts), func(i int) bool { return rs.insts[i].in.ID >= id })
	return i, i < len(rs.insts) && rs.insts[i].in.ID == id
}

// Now returns the server's clock: Options.Now, the fleet's fixed clock, or
// the wall clock.
func (s *Server) Now() time.Time { return s.now() }

// Instance returns a snapshot of an instance with its current metadata
// options (State is not part of fleet.MetadataOptions; see MetadataState).
func (s *Server) Instance(account, region, id string) (fleet.Instance, bool) {
	a, ok := s.byID[account]
	if !ok {
		return fleet.Instance{}, false
	}
	rs, ok := lookupRegion(a, region)
	if !ok {
		return fleet.Instance{}, false
	}
	i, ok := rs.find(id)
	if !ok {
		return fleet.Instance{}, false
	}
	rs.mu.Lock()
	rec := rs.insts[i]
	rs.mu.Unlock()
	out := *rec.in
	out.MetadataOptions = rec.opts
	if rec.in.Tags != nil {
		out.Tags = make(map[string]string, len(rec.in.Tags))
		for k, v := range rec.in.Tags {
			out.Tags[k] = v
		}
	}
	out.Running = append([]fleet.Interval(nil), rec.in.Running...)
	out.Usage = append([]fleet.UsageSegment(nil), rec.in.Usage...)
	return out, true
}

// MetadataState returns "pending" while a ModifyInstanceMetadataOptions
// change has not yet been applied, "applied" otherwise, and "" for an
// unknown instance.
func (s *Server) MetadataState(account, region, id string) string {
	a, ok := s.byID[account]
	if !ok {
		return ""
	}
	rs, ok := lookupRegion(a, region)
	if !ok {
		return ""
	}
	i, ok := rs.find(id)
	if !ok {
		return ""
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return metadataState(rs.insts[i].pendingUntil, s.wall())
}

func metadataState(pendingUntil, wall time.Time) string {
	if wall.Before(pendingUntil) {
		return "pending"
	}
	return "applied"
}

// SetKnobs replaces a Region's knobs at run time: k overrides the fleet's
// knobs field by field, as a Region's knobs in the fleet file do. The
// Region's token buckets keep their level (AWS's state, not a knob) and
// refill at the new TimeScale from now on.
func (s *Server) SetKnobs(account, region string, k fleet.Knobs) {
	a, ok := s.byID[account]
	if !ok {
		return
	}
	rs := s.region(a, region)
	rs.setKnobs(&k, s.fleetKnobs.Merge(&k), s.wall())
}

// setKnobs installs a Region's knobs at time now (Server.wall). The buckets
// are first refilled up to now at the old TimeScale, so that the time
// before the change does not count at the new rate.
func (rs *regionState) setKnobs(override *fleet.Knobs, merged fleet.Knobs, now time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, b := range rs.buckets {
		b.refill(now, rs.knobs.TimeScale)
	}
	rs.override = override
	rs.knobs = merged
}

// ModifyCalls returns every ModifyInstanceMetadataOptions call received,
// in order.
func (s *Server) ModifyCalls() []ModifyCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ModifyCall, len(s.modify))
	copy(out, s.modify)
	return out
}

func (s *Server) recordModify(c ModifyCall) {
	s.mu.Lock()
	s.modify = append(s.modify, c)
	s.mu.Unlock()
}

// maxBody caps a request body.
const maxBody = 16 << 20

// ServeHTTP answers the services' requests in their protocols (see
// registry.go), and GET /_sim/stats (the counters as JSON).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/stats" {
		s.serveStats(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, ok := wire.Identify(r, body)
	if !ok {
		http.Error(w, "the simulated AWS answers POST / (EC2 Query, awsQuery), POST with X-Amz-Target (awsJson), POST /service/…/operation/… (RPC v2 CBOR) and GET /_sim/stats", http.StatusMethodNotAllowed)
		return
	}
	scope, signed := parseAuth(r)
	c := &call{s: s, req: req, scope: scope, signed: signed, api: req.Operation}
	if c.api == "" {
		c.api = "(none)"
	}
	svc, known := s.services.route(&req, scope)
	if !known {
		name := scope.service
		if req.Protocol.Document() {
			name = req.Target
		}
		svc = unknownService(req.Protocol, name)
	}
	c.svc = svc
	if !svc.global {
		c.statsRegion = scope.region
	}
	codec, speaks := svc.codecFor(req.Protocol)
	if !speaks {
		// A service known here in a protocol it does not speak here: answer
		// in that protocol's shape with the service's explanation.
		codec = unknownService(req.Protocol, "").query
		if req.Protocol.Document() {
			codec = wire.Codec{Protocol: req.Protocol}
		}
		c.codec = codec
		c.op = &operation{handle: func(_ *Server, c *call) string { return wrongProtocol(c) }}
		s.serve(w, r, c)
		return
	}
	c.codec = codec
	if op, ok := svc.ops[req.Operation]; ok {
		c.op = &op
	}
	s.serve(w, r, c)
}

// wrongProtocol answers a request to a known service in a protocol it does
// not speak here.
func wrongProtocol(c *call) string {
	msg := c.svc.wrongProtocol
	if msg == "" {
		msg = fmt.Sprintf("The simulated %s does not speak the %s protocol.", c.svc.iamPrefix, c.req.Protocol)
	}
	if c.codec.Protocol.Document() {
		return c.fail(http.StatusBadRequest, "UnknownOperationException", msg)
	}
	return c.fail(http.StatusBadRequest, "InvalidAction", msg)
}

// caller resolves the account of an access key.
func (s *Server) caller(accessKey string) (*accountState, *assumedKey) {
	if a, ok := s.byKey[accessKey]; ok {
		return a, nil
	}
	s.mu.Lock()
	ak, ok := s.assumed[accessKey]
	s.mu.Unlock()
	if ok {
		return ak.account, &ak
	}
	if len(s.accounts) > 0 {
		return s.accounts[0], nil
	}
	return nil, nil
}

// serveStats answers GET /_sim/stats with the counters as JSON; DELETE
// resets them (benchmarks measure one scan at a time).
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		http.Error(w, "GET or DELETE only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Stats())
}

// requestID returns a fresh AWS-style request id.
func (s *Server) requestID() string {
	n := s.seq.Add(1)
	const hex = "0123456789abcdef"
	var b [36]byte
	v := uint64(s.seed)*0x9e3779b97f4a7c15 ^ n*0xbf58476d1ce4e5b9
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		case 14:
			b[i] = '4'
		default:
			b[i] = hex[v&15]
			v = v>>4 | v<<60
			if i%8 == 7 {
				v ^= n * 0x94d049bb133111eb
			}
		}
	}
	return string(b[:])
}

// randString returns n characters from alphabet, from the seeded RNG.
func (s *Server) randString(n int, alphabet string) string {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(alphabet[s.rng.Intn(len(alphabet))])
	}
	return b.String()
}

// chance reports true with probability p, from the seeded RNG.
func (s *Server) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < p
}

// jitter returns a uniform duration in [0, max).
func (s *Server) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return time.Duration(s.rng.Int63n(int64(max)))
}
