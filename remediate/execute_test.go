package remediate

// Execute against an in-memory EC2 (fakeEC2): the cases the simulated AWS
// cannot stage from outside (an instance terminated or changed between the
// drift check and the call, a call that landed but answered an error).

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/imdsfleet/imdsfleet/report"
)

const (
	fakeAcct   = "111111111111"
	fakeRegion = "us-east-1"
)

// fakeEC2 holds instances in memory. Changes apply at once ("applied").
type fakeEC2 struct {
	mu    sync.Mutex
	insts map[string]*View
	// modified counts the non-dry-run calls that changed an instance.
	modified map[string]int
	// modifyErr, when set, answers a live call for that instance with the
	// error after (landed) or instead of (!landed) making the change.
	modifyErr map[string]error
	landed    bool
	// throttle answers that many live calls per instance with
	// RequestLimitExceeded before letting one through.
	throttle map[string]int
	// onModify runs (under the lock) after every live change.
	onModify func(f *fakeEC2, id string)
}

func newFakeEC2() *fakeEC2 {
	return &fakeEC2{insts: map[string]*View{}, modified: map[string]int{}, modifyErr: map[string]error{}, throttle: map[string]int{}}
}

func (f *fakeEC2) add(id, state string, o report.MetadataOptions) {
	o.State = "applied"
	f.insts[id] = &View{State: state, Options: o}
}

func (f *fakeEC2) options(id string) report.MetadataOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.insts[id].Options
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := in.InstanceIds
	for _, fl := range in.Filters {
		ids = append(ids, fl.Values...)
	}
	var res types.Reservation
	for _, id := range ids {
		v, ok := f.insts[id]
		if !ok {
			if len(in.InstanceIds) > 0 {
				return nil, &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "The instance ID '" + id + "' does not exist"}
			}
			continue
		}
		o := v.Options
		res.Instances = append(res.Instances, types.Instance{
			InstanceId: aws.String(id),
			State:      &types.InstanceState{Name: types.InstanceStateName(v.State)},
			MetadataOptions: &types.InstanceMetadataOptionsResponse{
				HttpTokens: types.HttpTokensState(o.HttpTokens), HttpEndpoint: types.InstanceMetadataEndpointState(o.HttpEndpoint),
				HttpPutResponseHopLimit: aws.Int32(o.HttpPutResponseHopLimit), State: types.InstanceMetadataOptionsState(o.State),
			},
		})
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{res}}, nil
}

func (f *fakeEC2) ModifyInstanceMetadataOptions(_ context.Context, in *ec2.ModifyInstanceMetadataOptionsInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataOptionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.InstanceId)
	v, ok := f.insts[id]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "The instance ID '" + id + "' does not exist"}
	}
	if v.gone() {
		return nil, &smithy.GenericAPIError{Code: "IncorrectInstanceState", Message: "The instance '" + id + "' is not in a state from which its metadata options can be modified (state: " + v.State + ")."}
	}
	if aws.ToBool(in.DryRun) {
		return nil, &smithy.GenericAPIError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}
	}
	if f.throttle[id] > 0 {
		f.throttle[id]--
		return nil, &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
	}
	err := f.modifyErr[id]
	if err != nil && !f.landed {
		return nil, err
	}
	if in.HttpTokens != "" {
		v.Options.HttpTokens = string(in.HttpTokens)
	}
	if in.HttpPutResponseHopLimit != nil {
		v.Options.HttpPutResponseHopLimit = *in.HttpPutResponseHopLimit
	}
	f.modified[id]++
	if f.onModify != nil {
		f.onModify(f, id)
	}
	if err != nil {
		return nil, err
	}
	return &ec2.ModifyInstanceMetadataOptionsOutput{InstanceId: in.InstanceId}, nil
}

func (f *fakeEC2) clients() Clients {
	return ClientsFunc(func(account, region string) (EC2API, error) { return f, nil })
}

var optionalHop1 = report.MetadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1}

func enforceTask(id string, scanned report.MetadataOptions) Task {
	return Task{Op: OpRemediate, Account: fakeAcct, Region: fakeRegion, InstanceID: id, Action: ActionEnforce,
		Change: Change{HttpTokens: "required"}, Expect: scanned, ExpectReason: SkipDrift}
}

// liveRun executes tasks live against f with a journal at path.
func liveRun(t *testing.T, f *fakeEC2, path string, tasks []Task, mod ...func(*RunOptions)) *Outcome {
	t.Helper()
	j, prior, _, err := OpenJournal(path, JournalOptions{RunID: "run-" + time.Now().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	o := RunOptions{Live: true, Rate: 1000, Journal: j, Prior: prior, PollInterval: time.Millisecond, WaitTimeout: 10 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	out, err := Execute(context.Background(), f.clients(), tasks, o)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func resultOf(t *testing.T, out *Outcome, id string) Result {
	t.Helper()
	for _, r := range out.Results {
		if r.InstanceID == id {
			return r
		}
	}
	t.Fatalf("no result for %s", id)
	return Result{}
}

// A journal reused for a later remediation of the same instance (another
// report, another change) must not pass the new change off as done, and
// rollback must then restore every field either change set.
func TestExecuteJournalOfAnotherChange(t *testing.T) {
	f := newFakeEC2()
	f.add("i-1", "running", optionalHop1)
	path := filepath.Join(t.TempDir(), "fix.jsonl")
	raise := Task{Op: OpRemediate, Account: fakeAcct, Region: fakeRegion, InstanceID: "i-1", Action: ActionRaiseHopLimit,
		Change: Change{HttpPutResponseHopLimit: 2}, Expect: optionalHop1, ExpectReason: SkipDrift}
	if out := liveRun(t, f, path, []Task{raise}); !out.OK() || out.Summary.Changed != 1 {
		t.Fatalf("first run: %+v", out.Results)
	}
	// The next scan finds it ready: enforce, same journal.
	hop2 := optionalHop1
	hop2.HttpPutResponseHopLimit = 2
	out := liveRun(t, f, path, []Task{enforceTask("i-1", hop2)})
	if r := resultOf(t, out, "i-1"); r.Status != StatusChanged || r.State != StateVerified {
		t.Fatalf("enforce after an earlier raise-hop-limit in the same journal: %s/%s/%s %s", r.Status, r.State, r.Reason, r.Message)
	}
	if got := f.options("i-1"); got.HttpTokens != "required" || got.HttpPutResponseHopLimit != 2 {
		t.Fatalf("options %+v", got)
	}
	// Resuming it again changes nothing more.
	if out := liveRun(t, f, path, []Task{enforceTask("i-1", hop2)}); out.Summary.Skipped[SkipDoneEarlier] != 1 || f.modified["i-1"] != 2 {
		t.Fatalf("resume: %+v, %d calls", out.Results, f.modified["i-1"])
	}
	// Rollback restores both fields to what they were before the first change.
	st, _, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	items := RollbackTasks(st, false)
	if len(items) != 1 {
		t.Fatalf("rollback items %+v", items)
	}
	var tasks []Task
	for _, it := range items {
		tasks = append(tasks, it.Task)
	}
	if out := liveRun(t, f, filepath.Join(t.TempDir(), "rb.jsonl"), tasks); !out.OK() {
		t.Fatalf("rollback: %+v", out.Results)
	}
	if got := f.options("i-1"); got.HttpTokens != "optional" || got.HttpPutResponseHopLimit != 1 {
		t.Fatalf("after rollback %+v, want optional and hop limit 1", got)
	}
}

// A call that reached AWS but answered an error (the response was lost and
// the SDK's retries ran out, say): the run reports it failed; the resumed
// run must see the change in effect, record it as imdsfleet's without a
// new call, and keep the previous options for rollback.
func TestExecuteResumeAfterErrorThatLanded(t *testing.T) {
	f := newFakeEC2()
	f.add("i-1", "running", optionalHop1)
	f.add("i-2", "running", optionalHop1)
	f.landed = true
	f.modifyErr["i-1"] = errors.New("operation error EC2: ModifyInstanceMetadataOptions, exceeded maximum number of attempts, 30, read tcp: connection reset by peer")
	path := filepath.Join(t.TempDir(), "fix.jsonl")
	tasks := []Task{enforceTask("i-1", optionalHop1), enforceTask("i-2", optionalHop1)}
	out := liveRun(t, f, path, tasks)
	if r := resultOf(t, out, "i-1"); r.Status != StatusFailed || !strings.Contains(r.Message, "connection reset") {
		t.Fatalf("first run i-1: %+v", r)
	}
	delete(f.modifyErr, "i-1")
	out = liveRun(t, f, path, tasks)
	if r := resultOf(t, out, "i-1"); r.Status != StatusChanged {
		t.Fatalf("resumed i-1: %s/%s %s, want changed (recorded without a call)", r.Status, r.Reason, r.Message)
	}
	if f.modified["i-1"] != 1 || f.modified["i-2"] != 1 {
		t.Fatalf("calls %v, want one each", f.modified)
	}
	st, _, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	e := st.Get(Key{OpRemediate, fakeAcct, fakeRegion, "i-1"})
	if e == nil || e.Done == nil || e.Done.Outcome != OutcomeAlreadyApplied || e.Done.Previous == nil || e.Done.Previous.HttpTokens != "optional" {
		t.Fatalf("journal entry for i-1: %+v", e)
	}
	if items := RollbackTasks(st, false); len(items) != 2 {
		t.Fatalf("rollback sees %d changes, want 2", len(items))
	}
}

// An instance terminated after the drift check read it answers
// IncorrectInstanceState: it is gone, skipped with that reason, not a
// failure (the issue: an instance that is gone is skipped with the reason).
func TestExecuteTerminatedAfterDriftCheck(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(map[bool]string{false: "dry run", true: "live"}[live], func(t *testing.T) {
			f := newFakeEC2()
			f.add("i-1", "running", optionalHop1)
			f.add("i-2", "running", optionalHop1)
			f.add("i-3", "running", optionalHop1)
			first := true
			terminate := func(f *fakeEC2) {
				if first {
					first = false
					f.insts["i-2"].State = "terminated"
					delete(f.insts, "i-3")
				}
			}
			tasks := []Task{enforceTask("i-1", optionalHop1), enforceTask("i-2", optionalHop1), enforceTask("i-3", optionalHop1)}
			var out *Outcome
			if live {
				f.onModify = func(f *fakeEC2, _ string) { terminate(f) }
				out = liveRun(t, f, filepath.Join(t.TempDir(), "fix.jsonl"), tasks, func(o *RunOptions) { o.Workers = 1 })
			} else {
				// The dry run's first call terminates them.
				var err error
				wrapped := ClientsFunc(func(string, string) (EC2API, error) { return dryHook{f, terminate}, nil })
				out, err = Execute(context.Background(), wrapped, tasks, RunOptions{Rate: 1000, Workers: 1})
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"i-2", "i-3"} {
				if r := resultOf(t, out, id); r.Status != StatusSkipped || r.Reason != SkipGone {
					t.Errorf("%s: %s/%s %s %s, want skipped gone", id, r.Status, r.Reason, r.Code, r.Message)
				}
			}
			if !out.OK() {
				t.Errorf("outcome not OK: %+v", out.Summary)
			}
		})
	}
}

// dryHook runs hook before the first dry-run call reaches f.
type dryHook struct {
	*fakeEC2
	hook func(*fakeEC2)
}

func (d dryHook) ModifyInstanceMetadataOptions(ctx context.Context, in *ec2.ModifyInstanceMetadataOptionsInput, o ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataOptionsOutput, error) {
	out, err := d.fakeEC2.ModifyInstanceMetadataOptions(ctx, in, o...)
	d.mu.Lock()
	d.hook(d.fakeEC2)
	d.mu.Unlock()
	return out, err
}

// The drift check must be fresh at the time of the call, not only at the
// start of a Region that takes half an hour at 5 changes/s: someone enables
// v1 on purpose (hop limit 3) on i-3 while i-1 is being changed; i-3 must
// then be skipped, not overwritten.
func TestExecuteDriftCheckedJustBeforeTheCall(t *testing.T) {
	f := newFakeEC2()
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		f.add(id, "running", optionalHop1)
	}
	f.onModify = func(f *fakeEC2, id string) {
		if id == "i-1" {
			f.insts["i-3"].Options.HttpPutResponseHopLimit = 3
		}
	}
	tasks := []Task{enforceTask("i-1", optionalHop1), enforceTask("i-2", optionalHop1), enforceTask("i-3", optionalHop1)}
	out := liveRun(t, f, filepath.Join(t.TempDir(), "fix.jsonl"), tasks, func(o *RunOptions) { o.Workers, o.DriftBatch = 1, 1 })
	if r := resultOf(t, out, "i-3"); r.Status != StatusSkipped || r.Reason != SkipDrift {
		t.Errorf("i-3 changed by someone after the Region started: %s/%s %s, want skipped %s", r.Status, r.Reason, r.Message, SkipDrift)
	}
	if got := f.options("i-3"); got.HttpTokens != "optional" || f.modified["i-3"] != 0 {
		t.Errorf("i-3 was modified: %+v", got)
	}
	if f.modified["i-1"] != 1 || f.modified["i-2"] != 1 {
		t.Errorf("calls %v", f.modified)
	}
}

// A call still throttled when the SDK's retries run out is not a failure:
// it goes back behind the rate limiter until it gets through.
func TestExecuteThrottledBeyondSDKRetries(t *testing.T) {
	f := newFakeEC2()
	f.add("i-1", "running", optionalHop1)
	f.add("i-2", "running", optionalHop1)
	f.throttle["i-1"] = 3
	out := liveRun(t, f, filepath.Join(t.TempDir(), "fix.jsonl"), []Task{enforceTask("i-1", optionalHop1), enforceTask("i-2", optionalHop1)})
	if r := resultOf(t, out, "i-1"); r.Status != StatusChanged {
		t.Fatalf("i-1: %s %s %s, want changed after the throttling passed", r.Status, r.Code, r.Message)
	}
	if !out.OK() || f.options("i-1").HttpTokens != "required" || f.modified["i-1"] != 1 {
		t.Fatalf("summary %+v, i-1 %+v after %d changes", out.Summary, f.options("i-1"), f.modified["i-1"])
	}
}

// A landed change the resumed run records without a call is verified like a
// change it makes: one stuck pending is reported not applied.
func TestExecuteRecordedChangeIsVerified(t *testing.T) {
	f := newFakeEC2()
	f.add("i-1", "running", optionalHop1)
	f.landed = true
	f.modifyErr["i-1"] = errors.New("read tcp: connection reset by peer")
	path := filepath.Join(t.TempDir(), "fix.jsonl")
	tasks := []Task{enforceTask("i-1", optionalHop1)}
	liveRun(t, f, path, tasks)
	delete(f.modifyErr, "i-1")
	f.insts["i-1"].Options.State = "pending" // and it stays so
	out := liveRun(t, f, path, tasks, func(o *RunOptions) { o.WaitTimeout = 50 * time.Millisecond })
	if r := resultOf(t, out, "i-1"); r.Status != StatusFailed || r.Reason != ReasonNotApplied {
		t.Fatalf("recorded change stuck pending: %s/%s %s, want failed %s", r.Status, r.Reason, r.Message, ReasonNotApplied)
	}
	if f.modified["i-1"] != 1 {
		t.Fatalf("%d calls, want 1", f.modified["i-1"])
	}
}
