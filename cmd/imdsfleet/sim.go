package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsfleet/imdsfleet/internal/sim"
	"github.com/imdsfleet/imdsfleet/internal/sim/fleet"
	"github.com/imdsfleet/imdsfleet/internal/simclock"
)

// simOptions are the sim command's flags.
type simOptions struct {
	fleetFile     string
	synthetic     int
	regions       int
	accounts      int
	seed          int64
	addr          string
	latency       time.Duration
	latencyPerKiB time.Duration
	jitter        time.Duration
	throttle      bool
	timeScale     float64
	applyDelay    time.Duration
	// Fault injection: --fault specs for every Region, and Regions (by
	// name, in every account) that always fail one way.
	faults            []string
	authFailure       []string
	unauthorized      []string
	cloudWatchDenied  []string
	denyModify        []string
	autoScalingDenied []string
	// hiddenCallers are ID[=AFTER]: instances given a hidden IMDSv1 caller
	// that starts AFTER once IMDSv2 is enforced on them.
	hiddenCallers []string
	// denyAssumeRole are accounts AssumeRole refuses whatever the role.
	denyAssumeRole []string
}

// defaultSynthetic is the fleet size served when neither --fleet nor
// --synthetic is given.
const defaultSynthetic = 1000

func newSimCmd(g *globals) *cobra.Command {
	o := &simOptions{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Serve a simulated AWS (EC2, Auto Scaling, CloudWatch, STS) for demos and tests",
		Long: `sim serves a simulated AWS on one HTTP endpoint: EC2 (DescribeRegions,
DescribeAvailabilityZones, DescribeInstances, DescribeTags,
DescribeInstanceStatus, ModifyInstanceMetadataOptions,
GetInstanceMetadataDefaults, ModifyInstanceMetadataDefaults,
DescribeLaunchTemplates, DescribeLaunchTemplateVersions,
CreateLaunchTemplateVersion, ModifyLaunchTemplate, DescribeImages), Auto
Scaling (DescribeAutoScalingGroups, DescribeLaunchConfigurations,
UpdateAutoScalingGroup), CloudWatch
(GetMetricData, GetMetricStatistics over RPC v2 CBOR and JSON) and STS
(GetCallerIdentity, AssumeRole), speaking the real wire protocols, so the
AWS SDKs and the AWS CLI work against it unchanged.

The fleet comes from --fleet (the JSON format of docs/fleet-format.md) or is
generated with --synthetic N (deterministic for a --seed). A request's account
is chosen by its access key (or by credentials AssumeRole returned), its
Region by its SigV4 signature. Realism flags override the fleet's top-level
knobs: --latency, --latency-per-kib, --jitter, --throttle (AWS's token
buckets), --time-scale (bucket refill speed-up), --apply-delay (how long a
metadata options change stays "pending").

Fault injection from flags (the fleet file can also set them per Region):
--fault API:RATE[:CODE[:STATUS]], API:RATE:reset or API:RATE:reset-after-apply
(the call is carried out, then the connection is reset instead of the
answer; every Region; API "*" for all), and Regions that always fail one
way, in every account:
--auth-failure, --unauthorized (EC2 UnauthorizedOperation),
--cloudwatch-denied (AccessDenied), --autoscaling-denied (AccessDenied),
--deny-modify (ModifyInstanceMetadataOptions UnauthorizedOperation, DryRun or
not).

Organizations: --synthetic N --accounts A (A > 1) makes the accounts one
organization (the first is the management account, whose keys sim prints;
the others sit in OUs, most small and a few large, every 50th SUSPENDED and
every 97th CLOSED), for imdsfleet scan --org / --ou. --deny-assume-role
ACCOUNTS makes AssumeRole into those accounts answer AccessDenied.

Once listening, sim prints the environment a client needs on stdout, one
KEY=value per line (AWS_ENDPOINT_URL first), and serves until interrupted.
Counters: GET /_sim/stats.`,
		Example: `  imdsfleet sim --synthetic 5000 --regions 4
  imdsfleet sim --fleet testdata/fleets/demo.json --addr 127.0.0.1:0 > sim.env &
  set -a; . ./sim.env; set +a; imdsfleet scan          # once sim.env has 5 lines
  imdsfleet sim --synthetic 100000 --latency 150ms --latency-per-kib 1ms --throttle
  imdsfleet sim --fault GetMetricData:0.2:InternalError:500 --fault DescribeInstances:0.05:reset \
      --auth-failure eu-west-1 --cloudwatch-denied ap-northeast-1
  imdsfleet sim --synthetic 200000 --accounts 1000 --regions 17 --deny-assume-role 124567900123`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("sim takes no arguments, got %q (a fleet file goes with --fleet)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := o.fleet(cmd)
			if err != nil {
				return err
			}
			return runSim(cmd.Context(), g, o, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.fleetFile, "fleet", "", "fleet JSON file (docs/fleet-format.md)")
	fl.IntVar(&o.synthetic, "synthetic", 0, fmt.Sprintf("generate a fleet of N instances (default %d when --fleet is not given)", defaultSynthetic))
	fl.IntVar(&o.regions, "regions", 4, fmt.Sprintf("with --synthetic: Regions per account (1..%d)", len(fleet.SyntheticRegions)))
	fl.IntVar(&o.accounts, "accounts", 1, "with --synthetic: number of accounts (1..1000)")
	fl.Int64Var(&o.seed, "seed", 1, "seed of the synthetic fleet, jitter and fault injection")
	fl.StringVar(&o.addr, "addr", "127.0.0.1:4566", "listen address HOST:PORT (port 0 picks a free one)")
	fl.DurationVar(&o.latency, "latency", 0, "fixed latency added to every answer (e.g. 150ms)")
	fl.DurationVar(&o.latencyPerKiB, "latency-per-kib", 0, "latency added per KiB of answer (e.g. 1ms)")
	fl.DurationVar(&o.jitter, "jitter", 0, "uniform random latency in [0, D) added to every answer")
	fl.BoolVar(&o.throttle, "throttle", false, "enforce AWS's API token buckets (RequestLimitExceeded / Throttling)")
	fl.Float64Var(&o.timeScale, "time-scale", 1, "run the simulated clock N times as fast: token buckets refill N× as fast, and metrics (a bake) advance N× (prints IMDSFLEET_SIM_CLOCK for apply --sim-clock)")
	fl.DurationVar(&o.applyDelay, "apply-delay", 2*time.Second, "how long a ModifyInstanceMetadataOptions change stays pending")
	fl.StringArrayVar(&o.faults, "fault", nil, "inject errors into an API in every Region: API:RATE[:CODE[:STATUS]], API:RATE:reset or API:RATE:reset-after-apply, e.g. GetMetricData:0.1:InternalError:500 (repeatable)")
	fl.StringArrayVar(&o.authFailure, "auth-failure", nil, "every EC2 call in this Region answers AuthFailure (repeatable)")
	fl.StringArrayVar(&o.unauthorized, "unauthorized", nil, "every EC2 call in this Region answers UnauthorizedOperation (repeatable)")
	fl.StringArrayVar(&o.cloudWatchDenied, "cloudwatch-denied", nil, "every CloudWatch call in this Region answers AccessDenied (repeatable)")
	fl.StringArrayVar(&o.autoScalingDenied, "autoscaling-denied", nil, "every Auto Scaling call in this Region answers AccessDenied (repeatable)")
	fl.StringArrayVar(&o.denyModify, "deny-modify", nil, "ModifyInstanceMetadataOptions in this Region answers UnauthorizedOperation (repeatable)")
	fl.StringArrayVar(&o.hiddenCallers, "hidden-caller", nil, "give instance ID a hidden IMDSv1 caller (60 calls an hour) that starts AFTER (default 10m) once IMDSv2 is enforced on it: ID[=AFTER] (repeatable)")
	fl.StringSliceVar(&o.denyAssumeRole, "deny-assume-role", nil, "AssumeRole into these account ids answers AccessDenied (comma list; a missing or untrusting role)")
	return cmd
}

// fleet loads or generates the fleet and applies the realism flags.
func (o *simOptions) fleet(cmd *cobra.Command) (*fleet.Fleet, error) {
	fl := cmd.Flags()
	synthetic := fl.Changed("synthetic")
	if o.fleetFile != "" && synthetic {
		return nil, usageError("--fleet and --synthetic exclude each other: serve a fleet file or generate one")
	}
	if o.fleetFile != "" && (fl.Changed("regions") || fl.Changed("accounts")) {
		return nil, usageError("--regions and --accounts size a --synthetic fleet; a --fleet file lists its own")
	}
	if synthetic && (o.synthetic < 0 || o.synthetic > 5_000_000) {
		return nil, usageError("--synthetic %d: want 0..5000000 instances", o.synthetic)
	}
	if o.regions < 1 || o.regions > len(fleet.SyntheticRegions) {
		return nil, usageError("--regions %d: want 1..%d", o.regions, len(fleet.SyntheticRegions))
	}
	if o.accounts < 1 || o.accounts > 1000 {
		return nil, usageError("--accounts %d: want 1..1000", o.accounts)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--latency", o.latency}, {"--latency-per-kib", o.latencyPerKiB}, {"--jitter", o.jitter}, {"--apply-delay", o.applyDelay}} {
		if d.v < 0 {
			return nil, usageError("%s %s: must not be negative", d.name, d.v)
		}
	}
	if math.IsNaN(o.timeScale) || math.IsInf(o.timeScale, 0) || o.timeScale <= 0 {
		return nil, usageError("--time-scale %v: want a positive factor (1 is AWS's speed)", o.timeScale)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return nil, usageError("--addr %q: want HOST:PORT, e.g. 127.0.0.1:4566 (port 0 picks a free one)", o.addr)
	}

	var f *fleet.Fleet
	if o.fleetFile != "" {
		var err error
		f, err = fleet.LoadFile(o.fleetFile)
		if err != nil {
			return nil, usageError("%w", err)
		}
	} else {
		n := o.synthetic
		if !synthetic {
			n = defaultSynthetic
		}
		f = fleet.Synthetic(fleet.SyntheticOptions{Instances: n, Regions: o.regions, Accounts: o.accounts, Seed: o.seed})
	}

	k := &f.Knobs
	if fl.Changed("latency") || fl.Changed("latency-per-kib") || fl.Changed("jitter") {
		l := fleet.Latency{}
		if k.Latency != nil {
			l = *k.Latency
		}
		if fl.Changed("latency") {
			l.Fixed = fleet.Duration(o.latency)
		}
		if fl.Changed("latency-per-kib") {
			l.PerKiB = fleet.Duration(o.latencyPerKiB)
		}
		if fl.Changed("jitter") {
			l.Jitter = fleet.Duration(o.jitter)
		}
		k.Latency = &l
	}
	if fl.Changed("throttle") {
		k.Throttle = &o.throttle
	}
	if fl.Changed("time-scale") {
		k.TimeScale = o.timeScale
	}
	if fl.Changed("apply-delay") || k.ApplyDelay == nil {
		d := fleet.Duration(o.applyDelay)
		k.ApplyDelay = &d
	}
	for _, spec := range o.hiddenCallers {
		id, after, hasAfter := strings.Cut(spec, "=")
		d := 10 * time.Minute
		if hasAfter {
			v, err := time.ParseDuration(after)
			if err != nil || v < 0 {
				return nil, usageError("--hidden-caller %q: want ID[=AFTER] with AFTER a duration such as 10m", spec)
			}
			d = v
		}
		if !setHiddenCaller(f, id, &fleet.HiddenCaller{Starts: fleet.HiddenAfterEnforcement, After: fleet.Duration(d), PerHour: 60}) {
			return nil, usageError("--hidden-caller %q: no instance %s in the fleet", spec, id)
		}
	}
	for _, spec := range o.faults {
		fault, err := parseFault(spec)
		if err != nil {
			return nil, usageError("--fault %q: %v", spec, err)
		}
		k.Faults = append(k.Faults, fault)
	}
	for _, id := range o.denyAssumeRole {
		i := slices.IndexFunc(f.Accounts, func(a fleet.Account) bool { return a.ID == strings.TrimSpace(id) })
		if i < 0 {
			return nil, usageError("--deny-assume-role %q: the fleet has no such account (synthetic accounts are %s, %s, …)", id, fleet.SyntheticAccountID(0), fleet.SyntheticAccountID(1))
		}
		f.Accounts[i].DenyAssumeRole = true
	}
	for _, rf := range []struct {
		flag    string
		regions []string
		set     func(*fleet.Knobs)
	}{
		{"--auth-failure", o.authFailure, func(k *fleet.Knobs) { k.AuthFailure = true }},
		{"--unauthorized", o.unauthorized, func(k *fleet.Knobs) { k.UnauthorizedOperation = true }},
		{"--cloudwatch-denied", o.cloudWatchDenied, func(k *fleet.Knobs) { k.CloudWatchDenied = true }},
		{"--autoscaling-denied", o.autoScalingDenied, func(k *fleet.Knobs) { k.AutoScalingDenied = true }},
		{"--deny-modify", o.denyModify, func(k *fleet.Knobs) { k.DenyModify = true }},
	} {
		for _, name := range rf.regions {
			if !setRegionKnob(f, name, rf.set) {
				return nil, usageError("%s %q: no account of the fleet has that Region", rf.flag, name)
			}
		}
	}
	return f, nil
}

// parseFault reads API:RATE[:CODE[:STATUS]], API:RATE:reset or
// API:RATE:reset-after-apply. A fault
// without a code is a 500 InternalError, as AWS answers a server fault.
func parseFault(spec string) (fleet.Fault, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 4 || parts[0] == "" {
		return fleet.Fault{}, errors.New("want API:RATE[:CODE[:STATUS]], API:RATE:reset or API:RATE:reset-after-apply, e.g. GetMetricData:0.1:InternalError:500")
	}
	rate, err := strconv.ParseFloat(parts[1], 64)
	if err != nil || !(rate >= 0 && rate <= 1) { // NaN fails both
		return fleet.Fault{}, fmt.Errorf("rate %q: want a probability from 0 to 1", parts[1])
	}
	f := fleet.Fault{API: parts[0], Rate: rate, Code: "InternalError", Status: http.StatusInternalServerError}
	if len(parts) >= 3 {
		if parts[2] == "reset" || parts[2] == "reset-after-apply" {
			if len(parts) == 4 {
				return fleet.Fault{}, errors.New("a reset takes no status")
			}
			if parts[2] == "reset-after-apply" {
				return fleet.Fault{API: parts[0], Rate: rate, ResetAfterApply: true}, nil
			}
			return fleet.Fault{API: parts[0], Rate: rate, Reset: true}, nil
		}
		f.Code = parts[2]
	}
	if len(parts) == 4 {
		st, err := strconv.Atoi(parts[3])
		if err != nil || st < 400 || st > 599 {
			return fleet.Fault{}, fmt.Errorf("status %q: want an HTTP error status from 400 to 599", parts[3])
		}
		f.Status = st
	}
	return f, nil
}

// setHiddenCaller gives instance id a hidden caller and reports whether
// the fleet has it.
func setHiddenCaller(f *fleet.Fleet, id string, h *fleet.HiddenCaller) bool {
	for ai := range f.Accounts {
		for ri := range f.Accounts[ai].Regions {
			for ii := range f.Accounts[ai].Regions[ri].Instances {
				if in := &f.Accounts[ai].Regions[ri].Instances[ii]; in.ID == id {
					in.HiddenCaller = h
					return true
				}
			}
		}
	}
	return false
}

// setRegionKnob applies set to the knobs of every account's Region called
// name and reports whether there was one.
func setRegionKnob(f *fleet.Fleet, name string, set func(*fleet.Knobs)) bool {
	found := false
	for ai := range f.Accounts {
		for ri := range f.Accounts[ai].Regions {
			r := &f.Accounts[ai].Regions[ri]
			if r.Name != name {
				continue
			}
			if r.Knobs == nil {
				r.Knobs = &fleet.Knobs{}
			}
			set(r.Knobs)
			found = true
		}
	}
	return found
}

// runSim serves f until ctx is cancelled.
func runSim(ctx context.Context, g *globals, o *simOptions, f *fleet.Fleet) error {
	opts := sim.Options{Seed: o.seed, Logger: g.log}
	var clock *simclock.Clock
	if o.timeScale != 1 {
		// The whole simulated clock runs fast, metrics included, so that
		// a bake of hours passes in seconds (apply --sim-clock follows it).
		base := time.Now()
		if f.Clock != nil {
			base = *f.Clock
		}
		clock = simclock.New(base, o.timeScale)
		opts.Now = clock.Now
	}
	srv, err := sim.New(f, opts)
	if err != nil {
		return usageError("%w", err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another sim running? --addr 127.0.0.1:0 picks a free port)", o.addr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	instances := 0
	for _, a := range f.Accounts {
		for _, r := range a.Regions {
			instances += len(r.Instances)
		}
	}
	region := "us-east-1"
	key := ""
	if len(f.Accounts) > 0 {
		key = f.Accounts[0].AccessKeys()[0]
		// The first Region the account can use: a not-opted-in one answers
		// every EC2 call with AuthFailure.
		for _, r := range f.Accounts[0].Regions {
			if r.OptInStatus != "not-opted-in" {
				region = r.Name
				break
			}
		}
	}
	// AWS_DEFAULT_REGION too: the AWS CLI v1 (botocore) reads only that
	// one, the Go SDK either. One write, so a reader never sees half.
	env := fmt.Sprintf("AWS_ENDPOINT_URL=http://%s\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=sim\nAWS_REGION=%s\nAWS_DEFAULT_REGION=%s\n",
		ln.Addr().String(), key, region, region)
	if clock != nil {
		env += "IMDSFLEET_SIM_CLOCK=" + clock.String() + "\n"
	}
	_, err = io.WriteString(g.streams.Out, env)
	if err != nil {
		_ = hs.Close()
		return fmt.Errorf("write the environment to stdout: %w", err)
	}
	g.log.Info("simulated AWS listening", "addr", ln.Addr().String(), "accounts", len(f.Accounts), "instances", instances)

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	g.log.Info("simulated AWS stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		_ = hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}
