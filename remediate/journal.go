package remediate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// The journal is JSON Lines, one [Record] per line, each line written with
// one write(2) and fsynced before the next step:
//
//	{"v":2,"seq":7,"time":…,"run":"<run id>","op":"remediate","kind":"intent","account":"111111111111","region":"us-east-1",
//	 "instanceId":"i-…","action":"enforce","previous":{"httpTokens":"optional","httpEndpoint":"enabled",
//	 "httpPutResponseHopLimit":1,…,"state":"applied"},"requested":{"httpTokens":"required"},"crc":"1a2b3c4d"}
//	{… "kind":"result","outcome":"ok" …}                    (or "error" with code and message)
//	{… "kind":"verify","outcome":"applied","verified":{…}}  (or "not-applied")
//
// Every line checks itself: "seq" numbers the lines of the file (1, 2, …)
// and "crc", always the last member, is the CRC-32C (Castagnoli) in hex of
// the line's bytes with the `,"crc":"…"` member cut out. A line that is not
// JSON, whose checksum does not match, that falls out of the longest run
// of lines whose seqs increase (a line repeated, swapped, or pasted from
// another journal with a seq far ahead), or whose version is unknown is
// skipped and named (file:line);
// the lines after it still count, and the file is never cut back or
// rewritten: later runs only append, starting on a fresh line. Version 1
// lines (no seq, no crc; written by releases before version 2) are read as
// they are.
//
// An intent is written before the call, a result after it, a verify line
// once DescribeInstances shows the change applied (or the wait ran out).
// On resume an instance with an ok (or already-applied) result for the same
// change is skipped (and verified again if no verify line shows it
// applied); an intent without a result, or with an error result (the call
// may still have taken effect), is decided by re-reading the instance: if it
// already has the requested values a result "already-applied" is written
// without a call, otherwise the change is made again. Rollback journals the
// same way with "op":"rollback" in its own file, <journal>.rollback.jsonl by
// default, which remediate reads too: a change rolled back since is planned
// again. Rollback lines carry "remediateSeq", the last seq of the remediate
// journal the rollback read under its lock, which orders the two files
// without trusting clocks.
//
// A live run holds an exclusive lock (flock(2)) on its journal for as long
// as it runs, and writes who holds it (pid, host, start time, command) into
// <journal>.lock; a second live run on the same journal is refused naming
// that holder. The kernel releases the lock when the process ends, however
// it ends, so a run killed with SIGKILL leaves nothing that blocks the next.

// ErrNotJournal marks a file given as a journal that holds no valid
// journal line at all.
var ErrNotJournal = errors.New("not a journal")

// ErrNotRegular marks a journal path that exists but is not a regular file
// (a directory, a FIFO, a device, a socket).
var ErrNotRegular = errors.New("not a regular file")

// JournalVersion is the "v" of every journal line this package writes.
// Version 1 lines (no seq, no crc) are still read.
const JournalVersion = 2

// Journal record kinds.
const (
	KindIntent = "intent" // written before the call
	KindResult = "result" // written after the call
	KindVerify = "verify" // written when the change is seen applied (or not)

	// Rollout lines (apply with waves): they carry no instance of their
	// own; see [RolloutState].
	KindWave  = "wave"  // a wave starts: its number and instances
	KindBake  = "bake"  // the wave's changes are verified; its bake runs until BakeUntil
	KindBaked = "baked" // the bake ended: outcome passed, breakage (with Breaking) or no-data (with NoData)
	KindStop  = "stop"  // the rollout stopped on breakage: outcome rolled-back or stopped
	// KindFinished: the steps that wait for the last wave's bake (account
	// defaults) were handled (done, skipped or failed: their own lines
	// say which); written only when the plan has such steps (AfterBake).
	KindFinished = "finished"
)

// Outcomes of rollout lines.
const (
	OutcomePassed     = "passed"      // baked: no breakage seen
	OutcomeBreakage   = "breakage"    // baked: Breaking lists what broke
	OutcomeNoData     = "no-data"     // baked: NoData lists instances the bake saw no datapoint of; the rollout is held
	OutcomeRolledBack = "rolled-back" // stop: the wave was rolled back
	OutcomeStopped    = "stopped"     // stop: the wave was left as it is (--on-breakage stop), or its rollback failed
)

// Journal operations.
const (
	OpRemediate = "remediate"
	OpRollback  = "rollback"
	// Launch source changes (--scope sources) journal under their own
	// operations, so that their lines never mix with an instance's: the
	// line's instanceId is then the step's ID ([SourceItem.ID]) and
	// Source holds what was changed.
	OpRemediateSource = "remediate-source"
	OpRollbackSource  = "rollback-source"
)

// Result outcomes in journal lines.
const (
	OutcomeOK             = "ok"              // the call succeeded
	OutcomeError          = "error"           // the call failed; Code and Message say why
	OutcomeAlreadyApplied = "already-applied" // resume: an unanswered intent found already in effect; no call made
	OutcomeApplied        = "applied"         // verify: DescribeInstances shows the requested values applied
	OutcomeNotApplied     = "not-applied"     // verify: never seen applied within the wait
)

// Record is one journal line. Every line is self-contained: a result line
// repeats the previous and requested options so rollback needs only it.
type Record struct {
	V int `json:"v"`
	// Seq numbers the lines of one file from 1 (version 2 lines).
	Seq        int64     `json:"seq,omitempty"`
	Time       time.Time `json:"time"`
	Run        string    `json:"run"`
	Op         string    `json:"op"`
	Kind       string    `json:"kind"`
	Account    string    `json:"account"`
	Region     string    `json:"region"`
	InstanceID string    `json:"instanceId"`
	Action     Action    `json:"action"`
	// Previous are the instance's options just before the change.
	Previous *report.MetadataOptions `json:"previous,omitempty"`
	// Requested are the fields the call sets.
	Requested *Change `json:"requested,omitempty"`
	Outcome   string  `json:"outcome,omitempty"`
	Code      string  `json:"code,omitempty"`
	Message   string  `json:"message,omitempty"`
	// Verified is the state DescribeInstances showed (verify lines).
	Verified *report.MetadataOptions `json:"verified,omitempty"`
	// RemediateSeq, on rollback lines, is the last seq of the remediate
	// journal the rollback read under its lock: the remediate lines up to
	// it came before this line, the ones after it later. It orders the two
	// journals without trusting clocks (see [laterThan]).
	RemediateSeq int64 `json:"remediateSeq,omitempty"`
	// Plan is the ID of the plan a rollout line belongs to ([Plan.ID]).
	Plan string `json:"plan,omitempty"`
	// Wave numbers a rollout line's wave from 1; Waves is how many there are.
	Wave  int `json:"wave,omitempty"`
	Waves int `json:"waves,omitempty"`
	// AfterBake (rollout lines) counts the launch source steps that wait
	// for the last wave's bake (account defaults), so that status knows
	// they are still to run when a run ends between that bake and them.
	AfterBake int `json:"afterBake,omitempty"`
	// Stage is the wave's --wave-by stage.
	Stage string `json:"stage,omitempty"`
	// Instances are a wave line's instances, as "account/Region/id".
	Instances []string `json:"instances,omitempty"`
	// BakeUntil is when a bake line's bake ends (it started at Time).
	BakeUntil *time.Time `json:"bakeUntil,omitempty"`
	// Breaking lists, on a baked line, the instances that broke.
	Breaking []Breakage `json:"breaking,omitempty"`
	// NoData lists, on a baked line of outcome no-data, the instances
	// whose change stands but that published no datapoint in the bake.
	NoData []NoBakeData `json:"noData,omitempty"`
	// Source is a launch source step's change and the state it replaced
	// (ops remediate-source and rollback-source).
	Source *SourceRecord `json:"source,omitempty"`
	// CRC is the line's checksum (version 2); it must stay the last field.
	CRC string `json:"crc,omitempty"`
}

// Key identifies an instance in a journal.
type Key struct{ Op, Account, Region, InstanceID string }

func (r *Record) key() Key { return Key{r.Op, r.Account, r.Region, r.InstanceID} }

func (r *Record) validate() error {
	switch r.V {
	case 1:
	case JournalVersion:
		if r.Seq < 1 {
			return errors.New("missing seq")
		}
	default:
		return fmt.Errorf("journal version %d: this release reads versions 1 and %d (a newer imdsfleet wrote it?)", r.V, JournalVersion)
	}
	switch r.Kind {
	case KindIntent, KindResult, KindVerify:
	case KindWave, KindBake, KindBaked, KindStop, KindFinished:
		return r.validateRollout()
	default:
		return fmt.Errorf("unknown kind %q", r.Kind)
	}
	switch r.Op {
	case OpRemediate, OpRollback:
	case OpRemediateSource, OpRollbackSource:
		if r.InstanceID == "" || r.Region == "" || r.Source == nil {
			return errors.New("source line without step id, region or source")
		}
		return nil
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	if r.InstanceID == "" || r.Region == "" {
		return errors.New("missing instanceId or region")
	}
	if r.Kind != KindVerify && r.Requested == nil {
		return errors.New("missing requested options")
	}
	if r.Kind == KindResult && r.Outcome == "" {
		return errors.New("result without outcome")
	}
	return nil
}

func (r *Record) validateRollout() error {
	if r.Op != OpRemediate {
		return fmt.Errorf("%s line of op %q", r.Kind, r.Op)
	}
	if r.Wave < 1 {
		return fmt.Errorf("%s line without a wave number", r.Kind)
	}
	switch {
	case r.Kind == KindWave && len(r.Instances) == 0:
		return errors.New("wave line without instances")
	case r.Kind == KindBake && r.BakeUntil == nil:
		return errors.New("bake line without bakeUntil")
	case (r.Kind == KindBaked || r.Kind == KindStop) && r.Outcome == "":
		return fmt.Errorf("%s line without outcome", r.Kind)
	case r.Kind == KindBaked && r.Outcome == OutcomeNoData && len(r.NoData) == 0:
		return errors.New("baked line of outcome no-data without its instances")
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcMember is how the checksum member starts; it closes the line's object.
const crcMember = `,"crc":"`

// encodeLine renders r as one checked line, newline included.
func encodeLine(r Record) ([]byte, error) {
	r.CRC = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	sum := crc32.Checksum(b, castagnoli)
	line := make([]byte, 0, len(b)+len(crcMember)+12)
	line = append(line, b[:len(b)-1]...)
	line = fmt.Appendf(line, `%s%08x"}`, crcMember, sum)
	return append(line, '\n'), nil
}

// decodeLine parses one line (without its newline) and checks it.
func decodeLine(content []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(content, &rec); err != nil {
		return rec, fmt.Errorf("not JSON: %w", err)
	}
	if rec.V >= 2 || rec.CRC != "" {
		// The checksum covers the bytes as written: cut the member out
		// (it is always last) and close the object again.
		i := bytes.LastIndex(content, []byte(crcMember))
		if i < 0 || !bytes.Equal(content[i+len(crcMember)+8:], []byte(`"}`)) {
			return rec, errors.New(`no "crc" member at the end of the line`)
		}
		canon := append(bytes.Clone(content[:i]), '}')
		if got := fmt.Sprintf("%08x", crc32.Checksum(canon, castagnoli)); got != rec.CRC {
			return rec, fmt.Errorf("checksum mismatch (crc %s, the line sums to %s): the line was changed or damaged", rec.CRC, got)
		}
	}
	return rec, rec.validate()
}

// Entry is what a journal says about one instance.
type Entry struct {
	// Done is the last successful result (ok or already-applied), if any.
	Done *Record
	// DoneVerified is true when a verify line after Done shows its change
	// applied. A done change without one is verified again on resume.
	DoneVerified bool
	// Changes are all the successful results, oldest first: a journal
	// reused for a later run can hold several changes of one instance.
	Changes []*Record
	// Pending is an intent with no result after it: the call may or may not
	// have reached AWS.
	Pending *Record
	// LastError is the last failed result.
	LastError *Record
	// Unsettled is the last intent or failed result with no successful
	// result after it. Either way the call may have reached AWS: a failed
	// result can follow an attempt that took effect but whose answer was
	// lost (the SDK retried and the retries failed).
	Unsettled *Record
	// Verify is the last verify line.
	Verify *Record
	// Undone is set by [JournalState.ForgetRolledBack] and
	// [JournalState.ForgetRedone]: the other journal's later line that
	// undid this entry's Done (which is then nil).
	Undone *Record
}

// JournalState folds a journal's records per instance.
type JournalState struct {
	Entries map[Key]*Entry
	// Order lists the keys in the order they first appear.
	Order []Key
	// Records counts the valid lines.
	Records int
	// Ops counts the valid lines per operation (OpRemediate, OpRollback).
	Ops map[string]int
	// LastSeq is the highest seq read (0 for none).
	LastSeq int64
	// Rollout is what the rollout lines say (apply with waves).
	Rollout RolloutState
}

// Get returns the entry for k, or nil.
func (s *JournalState) Get(k Key) *Entry {
	if s == nil {
		return nil
	}
	return s.Entries[k]
}

func newJournalState() *JournalState {
	return &JournalState{Entries: map[Key]*Entry{}, Ops: map[string]int{}}
}

func (s *JournalState) add(r Record) {
	s.Records++
	s.Ops[r.Op]++
	s.LastSeq = max(s.LastSeq, r.Seq)
	switch r.Kind {
	case KindWave, KindBake, KindBaked, KindStop, KindFinished:
		s.Rollout.add(r)
		return
	}
	k := r.key()
	e := s.Entries[k]
	if e == nil {
		e = &Entry{}
		s.Entries[k] = e
		s.Order = append(s.Order, k)
	}
	switch r.Kind {
	case KindIntent:
		e.Pending = &r
		e.Unsettled = &r
	case KindResult:
		e.Pending = nil
		if r.Outcome == OutcomeOK || r.Outcome == OutcomeAlreadyApplied {
			e.Done = &r
			e.DoneVerified = false
			e.Changes = append(e.Changes, &r)
			e.Unsettled = nil
		} else {
			e.LastError = &r
			e.Unsettled = &r
		}
	case KindVerify:
		e.Verify = &r
		if e.Done != nil && (r.Requested == nil || sameChange(e.Done, *r.Requested)) {
			e.DoneVerified = r.Outcome == OutcomeApplied
		}
	}
}

// last returns the entry's latest change or unsettled call, in file
// order (a success clears Unsettled, so one still set came after Done).
func (e *Entry) last() *Record {
	if e.Unsettled != nil {
		return e.Unsettled
	}
	return e.Done
}

// laterThan reports whether x, a line of one journal, was written after y,
// a line of the other (a remediate journal and its rollback journal). A
// rollback line names the remediate journal's last seq it read, under that
// journal's lock (RemediateSeq), which orders the two without clocks: a
// rollback run on a machine whose clock is behind still comes after the
// changes it undid. Lines without it (older releases) are ordered by time.
func laterThan(x, y *Record) bool {
	switch {
	case undoOp(x.Op) && !undoOp(y.Op) && x.RemediateSeq > 0 && y.Seq > 0:
		return y.Seq <= x.RemediateSeq
	case !undoOp(x.Op) && undoOp(y.Op) && y.RemediateSeq > 0 && x.Seq > 0:
		return x.Seq > y.RemediateSeq
	}
	return x.Time.After(y.Time)
}

// undoOp reports whether op is a rollback journal's (instances or sources).
func undoOp(op string) bool { return op == OpRollback || op == OpRollbackSource }

// ForgetRolledBack makes s, a remediate journal's state, forget every
// change that rb (its rollback journal's state) shows rolled back after it:
// such an instance is no longer done, so a rerun plans it again. It returns
// how many were forgotten.
func (s *JournalState) ForgetRolledBack(rb *JournalState) int {
	return s.forget(rb, OpRemediate, OpRollback)
}

// ForgetRedone makes s, a rollback journal's state, forget every restore
// that rem (the remediate journal's state) shows changed again after it:
// a later rollback must restore those instances again. It returns how many
// were forgotten.
func (s *JournalState) ForgetRedone(rem *JournalState) int {
	return s.forget(rem, OpRollback, OpRemediate)
}

func (s *JournalState) forget(other *JournalState, op, otherOp string) int {
	if s == nil || other == nil {
		return 0
	}
	n := 0
	for k, e := range s.Entries {
		if k.Op != op || e.Done == nil {
			continue
		}
		ok := k
		ok.Op = otherOp
		oe := other.Get(ok)
		if oe == nil {
			continue
		}
		if l := oe.last(); l != nil && laterThan(l, e.Done) {
			e.Undone = oe.Done
			if oe.Unsettled != nil {
				// The undoing call's outcome is unknown: this change may
				// still stand. Leave it to the drift check, as an
				// unsettled call of this journal (re-read: the instance
				// still has its values → recorded without a call).
				e.Undone = oe.Unsettled
				if e.Unsettled == nil {
					e.Unsettled = e.Done
				}
			}
			e.Done, e.DoneVerified = nil, false
			n++
		}
	}
	return n
}

// Warning names a journal line that was skipped (or, for a seq gap, used
// but preceded by missing lines).
type Warning struct {
	File string
	Line int
	// Torn is true for an unterminated last line (a crash mid-write).
	Torn bool
	// Gap is the number of lines missing before this one (its seq jumps);
	// the line itself is used.
	Gap int64
	Err error
}

// String quotes the journal's own text (a field of the bad line) only
// through [report.SanitizeCell]: a crafted journal line cannot drive the
// terminal or flood it.
func (w Warning) String() string {
	file := report.SanitizeCell(w.File, 256)
	why := ""
	if w.Err != nil {
		why = report.SanitizeCell(w.Err.Error(), 200)
	}
	switch {
	case w.Torn:
		return fmt.Sprintf("%s:%d: torn last line (the run was killed while writing it) ignored; every line before it is used", file, w.Line)
	case w.Gap > 0:
		return fmt.Sprintf("%s:%d: %d journal line(s) missing before this one (%s); the lines around them are used", file, w.Line, w.Gap, why)
	}
	return fmt.Sprintf("%s:%d: corrupt journal line skipped (%s); the lines before and after it are used", file, w.Line, why)
}

// CheckJournalFile reports whether path exists and refuses anything that is
// not a regular file (a symlink to one is followed): a directory, a FIFO
// (opening it would block), a device (/dev/full would be read forever) or a
// socket. It never opens the file.
func CheckJournalFile(path string) (exists bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("journal %s: %w", path, err)
	}
	if err := regular(path, fi); err != nil {
		return true, err
	}
	return true, nil
}

func regular(path string, fi os.FileInfo) error {
	m := fi.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&os.ModeCharDevice != 0, m&os.ModeDevice != 0:
		what = "a device"
	case m&os.ModeSocket != 0:
		what = "a socket"
	}
	return &notRegularError{path: path, what: what}
}

type notRegularError struct{ path, what string }

func (e *notRegularError) Error() string {
	return fmt.Sprintf("journal %s is %s: a journal is a regular file (or a path that does not exist yet)", e.path, e.what)
}

func (e *notRegularError) Is(target error) bool { return target == ErrNotRegular }

// openChecked opens path with flag without ever blocking (a FIFO swapped in
// after CheckJournalFile) and makes sure it is a regular file.
func openChecked(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|openNonblock, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = regular(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadJournal reads the journal at path. A missing file is an empty
// journal. Bad lines are skipped and named in the returned warnings; the
// lines after them still count.
func ReadJournal(path string) (*JournalState, []Warning, error) {
	exists, err := CheckJournalFile(path)
	if err != nil {
		return nil, nil, err
	}
	if !exists {
		return newJournalState(), nil, nil
	}
	f, err := openChecked(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return newJournalState(), nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	return readJournal(f, path)
}

func readJournal(r io.Reader, name string) (*JournalState, []Warning, error) {
	type valid struct {
		line int
		rec  Record
	}
	var (
		warns []Warning
		recs  []valid
	)
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("read journal %s: %w", name, err)
		}
		torn := errors.Is(err, io.EOF) // no trailing newline
		content := bytes.TrimSpace(b)
		if len(content) == 0 && !torn {
			continue
		}
		rec, perr := decodeLine(content)
		if perr != nil {
			// An unterminated last line that does not parse is a crash
			// mid-write; a complete record missing only its newline is
			// kept (the next append starts on a fresh line).
			warns = append(warns, Warning{File: name, Line: line, Torn: torn, Err: perr})
			continue
		}
		recs = append(recs, valid{line, rec})
	}
	// The lines as written have increasing seqs. Keep the longest run of
	// lines whose seqs increase (preferring earlier lines among equals):
	// a line repeated, swapped, or pasted from another journal falls out
	// of it and is skipped and named, and never costs the lines after it.
	// Version 1 lines (no seq) are all kept.
	keep := make([]bool, len(recs))
	var tails []int // tails[k]: index in recs of the smallest last seq of a run of length k+1
	prev := make([]int, len(recs))
	for i, v := range recs {
		if v.rec.Seq == 0 {
			keep[i] = true
			continue
		}
		k := sort.Search(len(tails), func(k int) bool { return recs[tails[k]].rec.Seq >= v.rec.Seq })
		if k < len(tails) && recs[tails[k]].rec.Seq == v.rec.Seq {
			prev[i] = -2 // a repeat of a seq already placed: never better
			continue
		}
		prev[i] = -1
		if k > 0 {
			prev[i] = tails[k-1]
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			keep[i] = true
		}
	}
	st := newJournalState()
	skipped := false // a line was skipped since the last one used
	wi := 0
	for i, v := range recs {
		// Keep the warnings in line order.
		for wi < len(warns) && warns[wi].Line < v.line {
			wi++
			skipped = true
		}
		if !keep[i] {
			var last int64
			for j := i - 1; j >= 0; j-- {
				if keep[j] && recs[j].rec.Seq > 0 {
					last = recs[j].rec.Seq
					break
				}
			}
			w := Warning{File: name, Line: v.line, Err: fmt.Errorf("seq %d after seq %d: a repeated or misplaced line", v.rec.Seq, last)}
			warns = slices.Insert(warns, wi, w)
			wi++
			skipped = true
			continue
		}
		if !skipped && v.rec.Seq > 0 && st.LastSeq > 0 && v.rec.Seq > st.LastSeq+1 {
			warns = slices.Insert(warns, wi, Warning{File: name, Line: v.line, Gap: v.rec.Seq - st.LastSeq - 1,
				Err: fmt.Errorf("seq jumps from %d to %d", st.LastSeq, v.rec.Seq)})
			wi++
		}
		skipped = false
		st.add(v.rec)
	}
	return st, warns, nil
}

// Holder describes the process that holds a journal's lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
}

// ThisProcess describes the calling process running command.
func ThisProcess(command string, now time.Time) Holder {
	host, _ := os.Hostname()
	return Holder{PID: os.Getpid(), Host: host, Started: now.UTC(), Command: command}
}

// String shows the holder as its .lock file describes it: that file is
// anyone's to write, so its text goes through [report.SanitizeCell].
func (h *Holder) String() string {
	return fmt.Sprintf("pid %d on %s, started %s: %s", h.PID, report.SanitizeCell(h.Host, 64),
		h.Started.Format(time.RFC3339), report.SanitizeCell(h.Command, 200))
}

// LockedError is returned when another live run holds a journal's lock.
type LockedError struct {
	Path string
	// Holder is nil when the holder did not say who it is (yet).
	Holder *Holder
}

func (e *LockedError) Error() string {
	who := "another imdsfleet process"
	if e.Holder != nil {
		who = who + " (" + e.Holder.String() + ")"
	}
	return fmt.Sprintf("journal %s is in use by a live run of %s: wait for it to finish (or stop it), then run again; two runs on one journal would change instances twice", e.Path, who)
}

// LockInfoPath is where the holder of a journal's lock describes itself.
func LockInfoPath(journal string) string { return journal + ".lock" }

// Lock is an exclusive lock on a journal file, held until Release.
type Lock struct {
	f    *os.File
	info string
	mine []byte
}

// lock takes the exclusive lock on f (the journal at path) without
// waiting, and writes h into <path>.lock.
func lock(f *os.File, path string, h Holder) (*Lock, error) {
	if err := flock(f); err != nil {
		if errors.Is(err, errLocked) {
			return nil, &LockedError{Path: path, Holder: readHolder(LockInfoPath(path))}
		}
		return nil, fmt.Errorf("lock journal %s: %w", path, err)
	}
	l := &Lock{f: f, info: LockInfoPath(path)}
	b, _ := json.Marshal(h)
	b = append(b, '\n')
	// Only a description: the lock itself is the flock on the journal, so
	// a stale or missing .lock file never blocks anything.
	if writeLockInfo(l.info, b) == nil {
		l.mine = b
	}
	return l, nil
}

// readHolder reads the lock holder's description. The holder writes it
// just after taking the lock, so a description not there yet (or being
// written) is read again for up to a second before giving up on it.
func readHolder(path string) *Holder {
	for try := 0; ; try++ {
		if b, err := readCapped(path, 64<<10); err == nil {
			var h Holder
			if json.Unmarshal(b, &h) == nil && h.PID != 0 {
				return &h
			}
		}
		if try == 100 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeLockInfo writes b into path, a lock description, only when path is
// absent or a regular file of its own: anything else there (a symlink, a
// directory, a FIFO, a hard link to some other file, planted beside the
// journal or left by chance) is left alone, since writing the description
// through it would overwrite what it points to. The open never follows a
// symlink, so one swapped in after a check is not followed either.
func writeLockInfo(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|openNofollow|openNonblock, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || links(fi) > 1 {
		return errors.New("not a file of its own")
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.Write(b)
	return err
}

// LockJournal takes the exclusive lock on an existing journal that this
// process only reads (rollback locks the remediate journal it undoes, so
// that no remediate run appends to it meanwhile). Another holder is a
// [*LockedError].
func LockJournal(path string, h Holder) (*Lock, error) {
	f, err := openChecked(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	l, err := lock(f, path, h)
	if err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// Release drops the lock (and the description of its holder).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	if l.mine != nil {
		// Remove the description only while it is still ours.
		if b, err := readCapped(l.info, 64<<10); err == nil && bytes.Equal(b, l.mine) {
			_ = os.Remove(l.info)
		}
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// Journal appends records to a JSON Lines file, one write and one fsync per
// line. It is safe for concurrent use. The file is opened O_APPEND and
// locked for the life of the Journal.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	lk   *Lock
	path string
	run  string
	seq  int64
	now  func() time.Time
	// remSeq is stamped as RemediateSeq on every line.
	remSeq int64
	// lost is set once the file was found no longer at path: every later
	// Append fails with it.
	lost error
}

// JournalOptions are the settings of [OpenJournal].
type JournalOptions struct {
	// RunID names this run in every line.
	RunID string
	// Holder describes this process in <journal>.lock.
	Holder Holder
	// Now stamps the lines (default time.Now).
	Now func() time.Time
	// Op, when set, refuses ([ErrWrongOp]) a journal that holds lines of
	// the other operation, before anything is written.
	Op string
	// RemediateSeq, for a rollback journal, is stamped on every line (see
	// [Record.RemediateSeq]): the last seq of the remediate journal read.
	RemediateSeq int64
}

// ErrWrongOp marks a journal of the other operation: a rollback journal
// given to remediate, or a remediate journal as rollback's own.
var ErrWrongOp = errors.New("journal of the other operation")

// CheckOp refuses (with [ErrWrongOp]) a journal state that holds lines of
// the operation other than op.
func (s *JournalState) CheckOp(path, op string) error {
	switch {
	case op == OpRemediate && s.Ops[OpRollback]+s.Ops[OpRollbackSource] > 0:
		return wrongOpError(fmt.Sprintf("%s is a rollback journal (%d rollback line(s)): pass the remediate journal, or a new file, as --journal", path, s.Ops[OpRollback]+s.Ops[OpRollbackSource]))
	case op == OpRollback && s.Ops[OpRemediate]+s.Ops[OpRemediateSource] > 0:
		return wrongOpError(fmt.Sprintf("%s is a remediate journal (%d remediate line(s)): rollback keeps its own journal; pass a new file as --rollback-journal", path, s.Ops[OpRemediate]+s.Ops[OpRemediateSource]))
	}
	return nil
}

type wrongOpError string

func (e wrongOpError) Error() string        { return string(e) }
func (e wrongOpError) Is(target error) bool { return target == ErrWrongOp }

// OpenJournal opens (creating it 0600 if needed) the journal at path for
// appending, takes its exclusive lock (a [*LockedError] when another run
// holds it), and returns what it already holds with warnings for the lines
// it skipped. The file is never cut back nor rewritten; if it ends without
// a newline, appends start on a fresh line. A file that holds lines but not
// one valid journal line is refused ([ErrNotJournal]), and so is anything
// but a regular file ([ErrNotRegular]).
func OpenJournal(path string, o JournalOptions) (*Journal, *JournalState, []Warning, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	existed, err := CheckJournalFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := openChecked(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open journal %s for appending: %w", path, err)
	}
	fail := func(err error) (*Journal, *JournalState, []Warning, error) {
		f.Close()
		return nil, nil, nil, err
	}
	if !existed {
		// A new file: make its directory entry durable too, or a crash
		// could lose the whole journal along with its fsynced lines.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fail(fmt.Errorf("create journal %s: %w", path, err))
		}
	}
	// Lock before reading, so that what is read is not being added to,
	// and describe the holder at once, so that a run refused meanwhile
	// can name it.
	lk, err := lock(f, path, o.Holder)
	if err != nil {
		return fail(err)
	}
	fail = func(err error) (*Journal, *JournalState, []Warning, error) {
		lk.Release() // closes f
		return nil, nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("journal %s: %w", path, err))
	}
	st, warns, err := readJournal(io.NewSectionReader(f, 0, fi.Size()), path)
	if err != nil {
		return fail(err)
	}
	if st.Records == 0 && len(warns) > 0 && !(len(warns) == 1 && warns[0].Torn) {
		// Not one valid line: this is some other file (a report passed as
		// the journal, say), not a journal with a bad line. Never touch it.
		return fail(fmt.Errorf("%s is not an imdsfleet journal (line %d: %v): refusing to write to it; pass a new or existing journal file: %w", path, warns[0].Line, warns[0].Err, ErrNotJournal))
	}
	if o.Op != "" {
		if err := st.CheckOp(path, o.Op); err != nil {
			return fail(err)
		}
	}
	if size := fi.Size(); size > 0 {
		// A torn or complete last line without its newline: start a fresh line.
		last := make([]byte, 1)
		if _, err = f.ReadAt(last, size-1); err == nil && last[0] != '\n' {
			_, err = f.Write([]byte("\n"))
		}
		if err != nil {
			lk.Release()
			return nil, nil, nil, fmt.Errorf("prepare journal %s: %w", path, err)
		}
	}
	return &Journal{f: f, lk: lk, path: path, run: o.RunID, seq: st.LastSeq, now: o.Now, remSeq: o.RemediateSeq}, st, warns, nil
}

// syncDir fsyncs a directory. Systems that cannot sync a directory
// (Windows) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && runtime.GOOS != "windows" {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// LastSeq returns the seq of the last line written (or read).
func (j *Journal) LastSeq() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq
}

// Append writes r as one line (stamping V, Seq, Time, Run and CRC) with a
// single write, then fsyncs the file.
func (j *Journal) Append(r Record) error {
	r.V = JournalVersion
	r.Time = j.now().UTC()
	r.Run = j.run
	r.RemediateSeq = j.remSeq
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	if err := j.stillThere(); err != nil {
		return err
	}
	r.Seq = j.seq + 1
	b, err := encodeLine(r)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal %s: write: %w", j.path, err)
	}
	j.seq++
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// stillThere makes sure the open file is still the journal at j.path
// before a line is added: a journal deleted (or renamed, or replaced) while
// the run holds it would take every later line with it, and changes made
// without a journal a rollback can find must not be made. The lines
// written so far are saved to j.path if that is free again, otherwise
// beside it, and the error says where.
func (j *Journal) stillThere() error {
	if j.lost != nil {
		return j.lost
	}
	fi, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if pi, err := os.Stat(j.path); err == nil && os.SameFile(fi, pi) {
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	saved, serr := j.saveCopy()
	if serr != nil {
		j.lost = fmt.Errorf("journal %s was deleted or replaced while this run was writing it, and its lines could not be saved (%v): stopping before any further change; run 'imdsfleet scan' to see the fleet as it is", j.path, serr)
	} else {
		j.lost = fmt.Errorf("journal %s was deleted or replaced while this run was writing it: stopping before any further change; its lines so far are saved in %s (resume or roll back with --journal %s)", j.path, saved, saved)
	}
	return j.lost
}

// saveCopy writes what the open journal holds to j.path if nothing is
// there, otherwise to a new file beside it, and returns the file's name.
func (j *Journal) saveCopy() (string, error) {
	for _, name := range []string{j.path, j.path + "." + strings.NewReplacer("/", "_", ":", "_").Replace(j.run) + ".saved.jsonl"} {
		out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = io.Copy(out, io.NewSectionReader(j.f, 0, 1<<62))
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = syncDir(filepath.Dir(name))
		}
		return name, err
	}
	return "", errors.New("both the journal path and the file beside it are taken")
}

// Close closes the file and releases its lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.lk.Release() // closes j.f
	j.f = nil
	return err
}

// RollbackJournalPath is the default journal of a rollback of the remediate
// journal at path. Remediate reads it too, to know what was rolled back.
func RollbackJournalPath(path string) string { return path + ".rollback.jsonl" }

// readCapped reads at most max bytes of the regular file at path (a
// description that is not a regular file, or is larger, is not read).
func readCapped(path string, max int64) ([]byte, error) {
	f, err := openChecked(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, err
}
