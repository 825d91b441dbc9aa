package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/imdsfleet/imdsfleet/report"
)

// SourceEC2API is the part of the EC2 client that source changes use.
type SourceEC2API interface {
	DescribeLaunchTemplateVersions(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	CreateLaunchTemplateVersion(ctx context.Context, in *ec2.CreateLaunchTemplateVersionInput, optFns ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error)
	ModifyLaunchTemplate(ctx context.Context, in *ec2.ModifyLaunchTemplateInput, optFns ...func(*ec2.Options)) (*ec2.ModifyLaunchTemplateOutput, error)
	GetInstanceMetadataDefaults(ctx context.Context, in *ec2.GetInstanceMetadataDefaultsInput, optFns ...func(*ec2.Options)) (*ec2.GetInstanceMetadataDefaultsOutput, error)
	ModifyInstanceMetadataDefaults(ctx context.Context, in *ec2.ModifyInstanceMetadataDefaultsInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataDefaultsOutput, error)
}

// AutoScalingAPI is the part of the Auto Scaling client that source
// changes use.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	UpdateAutoScalingGroup(ctx context.Context, in *autoscaling.UpdateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error)
}

var (
	_ SourceEC2API   = (*ec2.Client)(nil)
	_ AutoScalingAPI = (*autoscaling.Client)(nil)
)

// SourceClients hands out the clients of source changes per account and
// Region; an error wrapping [ErrNoAccess] skips that account's steps.
type SourceClients interface {
	SourceEC2(account, region string) (SourceEC2API, error)
	AutoScaling(account, region string) (AutoScalingAPI, error)
}

// Call rates per (account, Region), at each API's own refill rate (see
// docs/aws-facts.md#ec2-request-limits): CreateLaunchTemplateVersion and
// ModifyLaunchTemplate share the bucket of EC2's other mutating calls (5
// per second), ModifyInstanceMetadataDefaults has its own (2 per second).
// Auto Scaling publishes no rate: one UpdateAutoScalingGroup per second.
const (
	rateTemplateCalls = 5
	rateDefaultsCalls = 2
	rateGroupCalls    = 1
)

// SourceRecord is a launch source step's journal content: the change and
// the state it replaced, so that a rollback needs only the line.
type SourceRecord struct {
	Action     Action `json:"action"`
	TemplateID string `json:"templateId,omitempty"`
	// Version is the version copied (create), the default version
	// before the change (set-default), or the group's version before it
	// (update-group).
	Version int64 `json:"version,omitempty"`
	// NewVersion is the version created, or pointed at.
	NewVersion int64  `json:"newVersion,omitempty"`
	Group      string `json:"group,omitempty"`
	// GroupVersion is the group's version string before the change.
	GroupVersion string `json:"groupVersion,omitempty"`
	// ClientToken makes CreateLaunchTemplateVersion idempotent: a resumed
	// run that sends it again gets the same version back.
	ClientToken string          `json:"clientToken,omitempty"`
	Change      *Change         `json:"change,omitempty"`
	Defaults    *DefaultsChange `json:"defaults,omitempty"`
	// PreviousDefaults are the account defaults before the change.
	PreviousDefaults *report.AccountDefaults `json:"previousDefaults,omitempty"`
}

// same reports whether two records describe the same request.
func (r *SourceRecord) same(o *SourceRecord) bool {
	if r == nil || o == nil || r.Action != o.Action {
		return false
	}
	switch r.Action {
	case ActionCreateVersion:
		return r.ClientToken == o.ClientToken
	case ActionSetAccountDefaults:
		return r.Defaults != nil && o.Defaults != nil && *r.Defaults == *o.Defaults
	}
	return r.TemplateID == o.TemplateID && r.NewVersion == o.NewVersion && r.Group == o.Group
}

// clientToken derives the CreateLaunchTemplateVersion token of a step
// from what it asks for, so that the same request always carries the same
// token (at most 64 characters).
func clientToken(it *SourceItem) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%d|%s", it.Account, it.Region, it.TemplateID, it.Version, it.Change))
	return "imdsfleet-" + hex.EncodeToString(sum[:20])
}

// SourceRunOptions tune [ExecuteSources]; the fields mean what they mean
// in [RunOptions].
type SourceRunOptions struct {
	Live         bool
	Journal      *Journal
	Prior        *JournalState
	WaitTimeout  time.Duration
	PollInterval time.Duration
	Concurrency  int
	Logger       *slog.Logger
	Now          func() time.Time
	// Rates override the per-API call rates (tests); zero keeps each.
	TemplateRate, DefaultsRate, GroupRate float64
	// Wave is the rollout wave the steps belong to, written on their
	// journal lines (0: no rollout).
	Wave int
	// Held lists the (account, Region)s where a source step of an earlier
	// wave did not succeed: their account defaults are not set, as when
	// the step fails in the same run.
	Held map[[2]string]bool
	// OnHeld, if set, is told each (account, Region) where a step did not
	// succeed (calls are serialized).
	OnHeld func(account, region string)
}

// ExecuteSources carries out the plan's source steps: per (account,
// Region), concurrently across Regions and in plan order within one, each
// step re-reads what it changes (drift check), journals its intent with
// the state it replaces, makes the call (DryRun=true in a dry run; no call
// at all for UpdateAutoScalingGroup, which has no dry run), journals the
// result and verifies it. A step that points users at a new version runs
// only once that version exists; the account defaults only once every
// other step of the Region succeeded. The error is non-nil only when the
// journal could not be written.
func ExecuteSources(ctx context.Context, clients SourceClients, items []SourceItem, o SourceRunOptions) ([]Result, error) {
	if o.Live && o.Journal == nil {
		return nil, errors.New("execute: a live run needs a journal")
	}
	o = defaultsOf(o)
	x := &sourceExec{o: o, items: items, results: make([]Result, len(items))}
	for i := range items {
		it := &items[i]
		x.results[i] = Result{Account: it.Account, Region: it.Region, InstanceID: it.ID, Name: it.TemplateName, Action: it.Action,
			Change: it.Change, State: StatePlanned}
	}
	groups := map[[2]string][]int{}
	var order [][2]string
	for i := range items {
		k := [2]string{items[i].Account, items[i].Region}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var g errgroup.Group
	g.SetLimit(o.Concurrency)
	for _, k := range order {
		g.Go(func() error {
			x.region(ctx, clients, k[0], k[1], groups[k])
			return nil
		})
	}
	_ = g.Wait()
	return x.results, x.journalErr
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func cmpOr(v, d float64) float64 {
	if v > 0 {
		return v
	}
	return d
}

type sourceExec struct {
	o          SourceRunOptions
	items      []SourceItem
	results    []Result
	errMu      sync.Mutex
	journalErr error
}

// regionRun is one (account, Region)'s state during a run.
type regionRun struct {
	x       *sourceExec
	ec2     SourceEC2API
	asg     AutoScalingAPI
	account string
	region  string
	// newVersion is each create step's new (or, in a dry run, would-be)
	// version, by step ID; 0 when it was not created.
	newVersion map[string]int64
	ok         map[string]bool // step ID → succeeded (or would)
	anyFailed  bool
	limT       *Limiter
	limD       *Limiter
	limG       *Limiter
	log        *slog.Logger
}

func (x *sourceExec) region(ctx context.Context, clients SourceClients, account, region string, idx []int) {
	rr := &regionRun{x: x, account: account, region: region, newVersion: map[string]int64{}, ok: map[string]bool{},
		limT: NewLimiter(x.o.TemplateRate, 1, x.o.Now), limD: NewLimiter(x.o.DefaultsRate, 1, x.o.Now), limG: NewLimiter(x.o.GroupRate, 1, x.o.Now),
		log: x.o.Logger.With("account", account, "region", region), anyFailed: x.o.Held[[2]string{account, region}]}
	var err error
	rr.ec2, err = clients.SourceEC2(account, region)
	if err == nil {
		rr.asg, err = clients.AutoScaling(account, region)
	}
	for _, i := range idx {
		r := &x.results[i]
		switch {
		case err != nil && errors.Is(err, ErrNoAccess):
			x.skip(i, SkipAccount, err.Error())
		case err != nil:
			x.fail(i, err)
		case ctx.Err() != nil:
			x.skip(i, SkipInterrupted, "stopped before this change was started")
		case x.journalFailed():
			x.skip(i, SkipInterrupted, "stopped: the journal could not be written")
		default:
			rr.step(ctx, i)
		}
		if r.Status == StatusFailed || r.Status == StatusDenied {
			rr.anyFailed = true
		}
	}
	if rr.anyFailed && x.o.OnHeld != nil {
		x.errMu.Lock()
		x.o.OnHeld(account, region)
		x.errMu.Unlock()
	}
}

func (x *sourceExec) journalFailed() bool {
	x.errMu.Lock()
	defer x.errMu.Unlock()
	return x.journalErr != nil
}

func (x *sourceExec) journal(r Record) error {
	if r.Op == OpRemediateSource || r.Op == OpRollbackSource {
		r.Wave = x.o.Wave
	}
	err := x.o.Journal.Append(r)
	if err != nil {
		x.errMu.Lock()
		if x.journalErr == nil {
			x.journalErr = err
		}
		x.errMu.Unlock()
	}
	return err
}

func (x *sourceExec) skip(i int, reason, msg string) {
	r := &x.results[i]
	r.Status, r.Reason, r.Message, r.State = StatusSkipped, reason, msg, StateSkipped
}

func (x *sourceExec) fail(i int, err error) {
	r := &x.results[i]
	r.Status, r.State = StatusFailed, StateFailed
	r.Code, r.Message = errorCode(err)
	if r.Code == "" {
		r.Message = err.Error()
	}
}

// current is what a step's drift check read.
type current struct {
	// create: the source version's metadata options.
	opts *types.LaunchTemplateInstanceMetadataOptions
	// set-default: the template's default version.
	defaultVersion int64
	// update-group: the group's template reference.
	groupTemplate *astypes.LaunchTemplateSpecification
	// set-account-defaults: the Region's defaults.
	defaults *report.AccountDefaults
}

// step runs one source step.
func (rr *regionRun) step(ctx context.Context, i int) {
	x := rr.x
	it := &x.items[i]
	r := &x.results[i]
	rec := &SourceRecord{Action: it.Action, TemplateID: it.TemplateID, Version: it.Version, Group: it.Group}
	switch it.Action {
	case ActionCreateVersion:
		c := it.Change
		rec.Change, rec.ClientToken = &c, clientToken(it)
	case ActionSetDefault, ActionUpdateGroup:
		nv, ok := rr.newVersion[it.After]
		if !ok || !rr.ok[it.After] {
			x.skip(i, SkipDependsOn, fmt.Sprintf("%s did not succeed: no new version to point at", it.After))
			return
		}
		rec.NewVersion = nv
		if it.Action == ActionUpdateGroup {
			rec.GroupVersion = strconv.FormatInt(it.Version, 10)
		}
	case ActionSetAccountDefaults:
		if rr.anyFailed {
			x.skip(i, SkipDependsOn, "another source change in this Region failed, was denied or found its source changed since the scan: the account defaults are set once every other change there stands")
			return
		}
		d := *it.Defaults
		rec.Defaults = &d
	default:
		x.fail(i, fmt.Errorf("unknown source action %q", it.Action))
		return
	}
	r.Source = rec
	key := Key{OpRemediateSource, it.Account, it.Region, it.ID}
	ent := x.o.Prior.Get(key)
	// Resume: a step the journal shows done (the same request) is not
	// made again; its new version carries on to the steps after it.
	if ent != nil && ent.Done != nil && ent.Done.Source.same(rec) {
		*rec = *ent.Done.Source
		rr.newVersion[it.ID] = rec.NewVersion
		rr.ok[it.ID] = true
		x.skip(i, SkipDoneEarlier, fmt.Sprintf("journal shows it done at %s (run %s)", ent.Done.Time.Format(time.RFC3339), ent.Done.Run))
		r.State = ent.StateOf()
		if x.o.Live && !ent.DoneVerified {
			rr.verify(ctx, i, rec)
		}
		return
	}
	cur, err := rr.read(ctx, it)
	if err != nil {
		if isCode(err, "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.VersionNotFound") || errors.Is(err, errGone) {
			x.skip(i, SkipGone, err.Error())
			return
		}
		x.fail(i, fmt.Errorf("drift check: %w", err))
		return
	}
	pending := ent != nil && ent.Unsettled != nil && ent.Unsettled.Source.same(rec)
	if done, why := rr.drift(it, rec, cur); why != "" {
		if done && pending && x.o.Live {
			// An earlier run's call took effect; its answer was lost.
			rr.recordDone(ctx, i, rec, "an earlier run's call took effect (its result was missing or an error); no new call made")
			return
		}
		if done {
			why = "already " + why + " (set outside this journal)"
		} else if it.Action == ActionSetDefault || it.Action == ActionUpdateGroup {
			// Its users still launch what someone else chose, which may
			// allow v1: the account defaults (HttpTokensEnforced above
			// all) must not go ahead as if it were fixed.
			rr.anyFailed = true
		}
		x.skip(i, SkipDrift, why)
		return
	}
	if it.Action == ActionSetAccountDefaults {
		prev := *cur.defaults
		rec.PreviousDefaults = &prev
	}
	if !x.o.Live {
		rr.dryRun(ctx, i, rec, cur)
		return
	}
	if it.Action == ActionCreateVersion {
		// A version imdsfleet already made from this source version (an
		// earlier run whose journal is gone, or whose ClientToken EC2 no
		// longer remembers) is reused: a second copy would be made
		// otherwise.
		nv, err := rr.earlierCopy(ctx, it)
		if err != nil {
			x.fail(i, fmt.Errorf("looking for a version made by an earlier run: %w", err))
			return
		}
		if nv != 0 {
			rec.NewVersion = nv
			rr.recordDone(ctx, i, rec, fmt.Sprintf("reused version %d of %s, which imdsfleet made earlier from version %d with IMDSv2 required; no new version created", nv, it.TemplateID, it.Version))
			return
		}
	}
	base := Record{Op: OpRemediateSource, Account: it.Account, Region: it.Region, InstanceID: it.ID, Action: it.Action, Source: rec}
	intent := base
	intent.Kind = KindIntent
	if err := x.journal(intent); err != nil {
		x.fail(i, fmt.Errorf("not changed: %w", err))
		return
	}
	r.State = StateSent
	nv, err := rr.call(ctx, it, rec, cur, false)
	res := base
	res.Kind = KindResult
	if err != nil {
		res.Outcome = OutcomeError
		res.Code, res.Message = errorCode(err)
		if res.Code == "" {
			res.Message = err.Error()
		}
	} else {
		res.Outcome = OutcomeOK
		if it.Action == ActionCreateVersion {
			rec.NewVersion = nv
		}
	}
	jerr := x.journal(res)
	switch {
	case err != nil && isCode(err, "UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
		r.Status, r.Code, r.Message, r.State = StatusDenied, res.Code, res.Message, StateFailed
	case err != nil:
		x.fail(i, err)
	default:
		r.Status, r.State = StatusChanged, StateApplied
		rr.newVersion[it.ID] = rec.NewVersion
		rr.ok[it.ID] = true
		if jerr != nil {
			r.Message = "changed, but the result line could not be journaled: " + jerr.Error()
		}
		rr.verify(ctx, i, rec)
	}
}

// recordDone journals an unanswered intent found in effect, without a call.
func (rr *regionRun) recordDone(ctx context.Context, i int, rec *SourceRecord, msg string) {
	x := rr.x
	it := &x.items[i]
	res := Record{Op: OpRemediateSource, Kind: KindResult, Account: it.Account, Region: it.Region, InstanceID: it.ID, Action: it.Action,
		Source: rec, Outcome: OutcomeAlreadyApplied, Message: msg}
	if err := x.journal(res); err != nil {
		x.fail(i, err)
		return
	}
	r := &x.results[i]
	r.Status, r.State, r.Message = StatusChanged, StateApplied, msg
	rr.newVersion[it.ID] = rec.NewVersion
	rr.ok[it.ID] = true
	rr.verify(ctx, i, rec)
}

var errGone = errors.New("gone")

// versionDescription is the VersionDescription of the version imdsfleet
// creates from source version v; earlierCopy looks for it.
func versionDescription(v int64) string {
	return fmt.Sprintf("imdsfleet: version %d with IMDSv2 required", v)
}

// earlierCopy returns the newest version of the step's template that
// imdsfleet made from the step's source version (its VersionDescription)
// and that requires IMDSv2 with the hop limit the step sets, or 0.
func (rr *regionRun) earlierCopy(ctx context.Context, it *SourceItem) (int64, error) {
	want := versionDescription(it.Version)
	var found int64
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(rr.ec2, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(it.TemplateID), MinVersion: aws.String(strconv.FormatInt(it.Version+1, 10))})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, v := range out.LaunchTemplateVersions {
			if aws.ToString(v.VersionDescription) != want || v.LaunchTemplateData == nil || v.LaunchTemplateData.MetadataOptions == nil {
				continue
			}
			mo := v.LaunchTemplateData.MetadataOptions
			if mo.HttpTokens != types.LaunchTemplateHttpTokensStateRequired {
				continue
			}
			if h := it.Change.HttpPutResponseHopLimit; h != 0 && aws.ToInt32(mo.HttpPutResponseHopLimit) != h {
				continue
			}
			found = max(found, aws.ToInt64(v.VersionNumber))
		}
	}
	return found, nil
}

// read is a step's drift check read.
func (rr *regionRun) read(ctx context.Context, it *SourceItem) (current, error) {
	switch it.Action {
	case ActionCreateVersion:
		v, err := rr.version(ctx, it.TemplateID, it.Version)
		if err != nil {
			return current{}, err
		}
		opts := &types.LaunchTemplateInstanceMetadataOptions{}
		if v.LaunchTemplateData != nil && v.LaunchTemplateData.MetadataOptions != nil {
			opts = v.LaunchTemplateData.MetadataOptions
		}
		return current{opts: opts}, nil
	case ActionSetDefault:
		out, err := rr.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{it.TemplateID}})
		if err != nil {
			return current{}, err
		}
		if len(out.LaunchTemplates) == 0 {
			return current{}, fmt.Errorf("launch template %s is %w", it.TemplateID, errGone)
		}
		return current{defaultVersion: aws.ToInt64(out.LaunchTemplates[0].DefaultVersionNumber)}, nil
	case ActionUpdateGroup:
		out, err := rr.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{it.Group}})
		if err != nil {
			return current{}, err
		}
		if len(out.AutoScalingGroups) == 0 {
			return current{}, fmt.Errorf("group %s is %w", it.Group, errGone)
		}
		g := out.AutoScalingGroups[0]
		if g.LaunchTemplate == nil {
			return current{groupTemplate: &astypes.LaunchTemplateSpecification{}}, nil
		}
		return current{groupTemplate: g.LaunchTemplate}, nil
	case ActionSetAccountDefaults:
		d, err := rr.defaults(ctx)
		return current{defaults: d}, err
	}
	return current{}, fmt.Errorf("unknown source action %q", it.Action)
}

func (rr *regionRun) version(ctx context.Context, templateID string, v int64) (*types.LaunchTemplateVersion, error) {
	out, err := rr.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(templateID), Versions: []string{strconv.FormatInt(v, 10)}})
	if err != nil {
		return nil, err
	}
	for i := range out.LaunchTemplateVersions {
		if aws.ToInt64(out.LaunchTemplateVersions[i].VersionNumber) == v {
			return &out.LaunchTemplateVersions[i], nil
		}
	}
	return nil, fmt.Errorf("launch template %s version %d is %w", templateID, v, errGone)
}

func (rr *regionRun) defaults(ctx context.Context) (*report.AccountDefaults, error) {
	out, err := rr.ec2.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		return nil, err
	}
	d := &report.AccountDefaults{Account: rr.account, Region: rr.region}
	if a := out.AccountLevel; a != nil {
		d.HttpTokens = noPreference(string(a.HttpTokens))
		d.HttpPutResponseHopLimit = max(aws.ToInt32(a.HttpPutResponseHopLimit), 0)
		d.HttpEndpoint = noPreference(string(a.HttpEndpoint))
		d.InstanceMetadataTags = noPreference(string(a.InstanceMetadataTags))
		d.HttpTokensEnforced = noPreference(string(a.HttpTokensEnforced))
		d.ManagedBy = string(a.ManagedBy)
		d.ManagedExceptionMessage = aws.ToString(a.ManagedExceptionMessage)
	}
	return d, nil
}

func noPreference(s string) string {
	if s == "no-preference" {
		return ""
	}
	return s
}

// drift compares what a step reads now with what the plan expects. done
// says the step's change is already in place; why is "" when the step can
// go ahead.
func (rr *regionRun) drift(it *SourceItem, rec *SourceRecord, cur current) (done bool, why string) {
	switch it.Action {
	case ActionCreateVersion:
		if string(cur.opts.HttpTokens) == "required" {
			return false, fmt.Sprintf("version %d of %s already requires IMDSv2", it.Version, it.TemplateID)
		}
		return false, ""
	case ActionSetDefault:
		switch cur.defaultVersion {
		case rec.NewVersion:
			return true, fmt.Sprintf("default version of %s is %d", it.TemplateID, rec.NewVersion)
		case it.Version:
			return false, ""
		}
		return false, fmt.Sprintf("default version of %s changed since the scan: %d→%d", it.TemplateID, it.Version, cur.defaultVersion)
	case ActionUpdateGroup:
		lt := cur.groupTemplate
		id := aws.ToString(lt.LaunchTemplateId)
		sameTemplate := id == it.TemplateID || (id == "" && aws.ToString(lt.LaunchTemplateName) != "" && aws.ToString(lt.LaunchTemplateName) == it.TemplateName)
		v := aws.ToString(lt.Version)
		switch {
		case sameTemplate && v == strconv.FormatInt(rec.NewVersion, 10):
			return true, fmt.Sprintf("group %s launches from %s version %d", it.Group, it.TemplateID, rec.NewVersion)
		case sameTemplate && v == rec.GroupVersion:
			return false, ""
		}
		return false, fmt.Sprintf("group %s changed since the scan: it launches from %s version %s, not %s version %d", it.Group, orNone(id), orNone(v), it.TemplateID, it.Version)
	case ActionSetAccountDefaults:
		d, s := cur.defaults, it.ScannedDefaults
		want := it.Defaults
		if (want.HttpTokens == "" || d.HttpTokens == want.HttpTokens) && (want.HttpTokensEnforced == "" || d.HttpTokensEnforced == want.HttpTokensEnforced) {
			return true, "the account defaults have " + want.String()
		}
		if d.ManagedBy == "declarative-policy" {
			return false, "the account defaults are now managed by a declarative policy"
		}
		if d.HttpTokens != s.HttpTokens || d.HttpTokensEnforced != s.HttpTokensEnforced {
			return false, fmt.Sprintf("account defaults changed since the scan: HttpTokens %s→%s, HttpTokensEnforced %s→%s", orNone(s.HttpTokens), orNone(d.HttpTokens), orNone(s.HttpTokensEnforced), orNone(d.HttpTokensEnforced))
		}
		return false, ""
	}
	return false, ""
}

// metadataRequest is the new version's MetadataOptions: the source
// version's, field by field, with HttpTokens=required and the hop limit
// the step sets. CreateLaunchTemplateVersion replaces MetadataOptions as
// a whole when it is given, so every field is sent again.
func metadataRequest(src *types.LaunchTemplateInstanceMetadataOptions, ch Change) *types.LaunchTemplateInstanceMetadataOptionsRequest {
	req := &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: types.LaunchTemplateHttpTokensStateRequired}
	if src != nil {
		req.HttpEndpoint = src.HttpEndpoint
		req.HttpProtocolIpv6 = src.HttpProtocolIpv6
		req.HttpPutResponseHopLimit = src.HttpPutResponseHopLimit
		req.InstanceMetadataTags = src.InstanceMetadataTags
	}
	if ch.HttpPutResponseHopLimit != 0 {
		req.HttpPutResponseHopLimit = aws.Int32(ch.HttpPutResponseHopLimit)
	}
	return req
}

// call sends the step's change (DryRun=true when dry). It returns the new
// version of a create.
func (rr *regionRun) call(ctx context.Context, it *SourceItem, rec *SourceRecord, cur current, dry bool) (int64, error) {
	var dryRun *bool
	if dry {
		dryRun = aws.Bool(true)
	}
	var nv int64
	lim := rr.limT
	var send func(c context.Context) error
	switch it.Action {
	case ActionCreateVersion:
		in := &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId: aws.String(it.TemplateID), SourceVersion: aws.String(strconv.FormatInt(it.Version, 10)),
			ClientToken: aws.String(rec.ClientToken), DryRun: dryRun,
			VersionDescription: aws.String(versionDescription(it.Version)),
			LaunchTemplateData: &types.RequestLaunchTemplateData{MetadataOptions: metadataRequest(cur.opts, it.Change)},
		}
		send = func(c context.Context) error {
			out, err := rr.ec2.CreateLaunchTemplateVersion(c, in)
			if err == nil && out.LaunchTemplateVersion != nil {
				nv = aws.ToInt64(out.LaunchTemplateVersion.VersionNumber)
			}
			return err
		}
	case ActionSetDefault:
		target := rec.NewVersion
		if dry {
			target = it.Version // the new version does not exist in a dry run
		}
		send = func(c context.Context) error {
			_, err := rr.ec2.ModifyLaunchTemplate(c, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(it.TemplateID),
				DefaultVersion: aws.String(strconv.FormatInt(target, 10)), DryRun: dryRun})
			return err
		}
	case ActionUpdateGroup:
		lim = rr.limG
		send = func(c context.Context) error {
			_, err := rr.asg.UpdateAutoScalingGroup(c, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(it.Group),
				LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(it.TemplateID), Version: aws.String(strconv.FormatInt(rec.NewVersion, 10))}})
			return err
		}
	case ActionSetAccountDefaults:
		lim = rr.limD
		in := &ec2.ModifyInstanceMetadataDefaultsInput{DryRun: dryRun}
		if rec.Defaults.HttpTokens != "" {
			in.HttpTokens = types.MetadataDefaultHttpTokensState(rec.Defaults.HttpTokens)
		}
		if rec.Defaults.HttpTokensEnforced != "" {
			in.HttpTokensEnforced = types.DefaultHttpTokensEnforcedState(rec.Defaults.HttpTokensEnforced)
		}
		send = func(c context.Context) error {
			_, err := rr.ec2.ModifyInstanceMetadataDefaults(c, in)
			return err
		}
	}
	err := sendPaced(ctx, lim, send, rr.log)
	return nv, err
}

// sendPaced sends one call behind the API's rate limiter. A call still
// throttled after the SDK's retries waits for the limiter again instead of
// failing: throttling only slows a run down. The call itself is not cut
// when ctx is cancelled (its result must be journaled).
func sendPaced(ctx context.Context, lim *Limiter, send func(context.Context) error, log *slog.Logger) error {
	if err := lim.Wait(ctx); err != nil {
		return err
	}
	flight := context.WithoutCancel(ctx)
	for {
		err := send(flight)
		if err == nil || retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
			return err
		}
		log.Warn("still throttled after the SDK's retries; queued again", "err", err)
		if lim.Wait(ctx) != nil {
			return err
		}
	}
}

// dryRun checks the step with DryRun=true (no call for
// UpdateAutoScalingGroup, which has no dry run).
func (rr *regionRun) dryRun(ctx context.Context, i int, rec *SourceRecord, cur current) {
	x := rr.x
	it := &x.items[i]
	r := &x.results[i]
	if it.Action == ActionUpdateGroup {
		r.Status, r.Message = StatusWouldChange, "UpdateAutoScalingGroup has no dry run: not sent, so its permission (and iam:PassRole for a template with an instance profile) is not checked"
		rr.ok[it.ID] = true
		return
	}
	_, err := rr.call(ctx, it, rec, cur, true)
	code, msg := errorCode(err)
	switch {
	case code == "DryRunOperation":
		r.Status = StatusWouldChange
		rr.ok[it.ID] = true
		if it.Action == ActionCreateVersion {
			rr.newVersion[it.ID] = 0
		}
	case code == "UnauthorizedOperation":
		r.Status, r.Code, r.Message, r.State = StatusDenied, code, msg, StateFailed
	case err == nil:
		r.Status, r.Message, r.State = StatusFailed, "the endpoint ignored DryRun=true and answered success: the change may have been made", StateFailed
	default:
		x.fail(i, err)
	}
}

// verify waits until a read shows the step's change in place, and
// journals what it saw.
func (rr *regionRun) verify(ctx context.Context, i int, rec *SourceRecord) {
	x := rr.x
	it := &x.items[i]
	r := &x.results[i]
	deadline := x.o.Now().Add(x.o.WaitTimeout)
	var last string
	for {
		ok, what, err := rr.check(ctx, it, rec)
		if err != nil {
			last = err.Error()
		} else {
			last = what
		}
		if ok || !x.o.Now().Before(deadline) || ctx.Err() != nil {
			line := Record{Op: OpRemediateSource, Kind: KindVerify, Account: it.Account, Region: it.Region, InstanceID: it.ID, Action: it.Action, Source: rec}
			if ok {
				line.Outcome = OutcomeApplied
				r.State = StateVerified
			} else {
				line.Outcome, line.Message = OutcomeNotApplied, last
				r.Status, r.Reason, r.State = StatusFailed, ReasonNotApplied, StateFailed
				r.Message = "change accepted but not seen in place: " + last
				if ctx.Err() != nil {
					r.Status, r.Reason, r.State = StatusChanged, "", StateApplied
					r.Message = "change accepted; not verified (the run was stopped)"
					return
				}
			}
			_ = x.journal(line)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(x.o.PollInterval):
		}
	}
}

// check reads whether the step's change is in place.
func (rr *regionRun) check(ctx context.Context, it *SourceItem, rec *SourceRecord) (bool, string, error) {
	switch it.Action {
	case ActionCreateVersion:
		v, err := rr.version(ctx, it.TemplateID, rec.NewVersion)
		if err != nil {
			return false, "", err
		}
		var mo *types.LaunchTemplateInstanceMetadataOptions
		if v.LaunchTemplateData != nil {
			mo = v.LaunchTemplateData.MetadataOptions
		}
		if mo == nil || mo.HttpTokens != types.LaunchTemplateHttpTokensStateRequired {
			return false, fmt.Sprintf("version %d does not require IMDSv2", rec.NewVersion), nil
		}
		if it.Change.HttpPutResponseHopLimit != 0 && aws.ToInt32(mo.HttpPutResponseHopLimit) != it.Change.HttpPutResponseHopLimit {
			return false, fmt.Sprintf("version %d has hop limit %d", rec.NewVersion, aws.ToInt32(mo.HttpPutResponseHopLimit)), nil
		}
		return true, "", nil
	case ActionSetDefault:
		cur, err := rr.read(ctx, it)
		if err != nil {
			return false, "", err
		}
		return cur.defaultVersion == rec.NewVersion, fmt.Sprintf("default version is %d", cur.defaultVersion), nil
	case ActionUpdateGroup:
		cur, err := rr.read(ctx, it)
		if err != nil {
			return false, "", err
		}
		v := aws.ToString(cur.groupTemplate.Version)
		return v == strconv.FormatInt(rec.NewVersion, 10), "group launches from version " + orNone(v), nil
	case ActionSetAccountDefaults:
		d, err := rr.defaults(ctx)
		if err != nil {
			return false, "", err
		}
		ok := (rec.Defaults.HttpTokens == "" || d.HttpTokens == rec.Defaults.HttpTokens) && (rec.Defaults.HttpTokensEnforced == "" || d.HttpTokensEnforced == rec.Defaults.HttpTokensEnforced)
		return ok, fmt.Sprintf("account defaults HttpTokens=%s HttpTokensEnforced=%s", orNone(d.HttpTokens), orNone(d.HttpTokensEnforced)), nil
	}
	return false, "", nil
}

// SkippedSourceResults turns the plan's skipped sources into results.
func SkippedSourceResults(items []SourceItem) []Result {
	out := make([]Result, 0, len(items))
	for _, it := range items {
		msg := it.Detail
		if len(it.Blockers) > 0 {
			msg += "; blocked by: " + strings.Join(it.Blockers, ", ")
		}
		out = append(out, Result{Account: it.Account, Region: it.Region, InstanceID: it.ID, Name: it.TemplateName,
			Status: StatusSkipped, State: StateSkipped, Reason: it.Reason, Message: msg})
	}
	return out
}

// AddSources puts the results of source steps (run before the
// instances) first in o, counting them as planned tasks.
func (o *Outcome) AddSources(rs []Result) {
	planned := o.Summary.Planned + len(rs)
	o.Results = append(slices.Clip(rs), o.Results...)
	o.Summary = summarize(o.Results)
	o.Summary.Planned = planned
}

// ForgetSourcesRolledBack is [JournalState.ForgetRolledBack] for source
// steps: a step rolled back since is planned again.
func (s *JournalState) ForgetSourcesRolledBack(rb *JournalState) int {
	return s.forget(rb, OpRemediateSource, OpRollbackSource)
}
