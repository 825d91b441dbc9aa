package remediate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

// The journal is JSON Lines, one [Record] per line, each line written with
// one write(2) and fsynced before the next step:
//
//	{"v":1,"time":…,"run":"<run id>","op":"remediate","kind":"intent","account":"111111111111","region":"us-east-1",
//	 "instanceId":"i-…","action":"enforce","previous":{"httpTokens":"optional","httpEndpoint":"enabled",
//	 "httpPutResponseHopLimit":1,…,"state":"applied"},"requested":{"httpTokens":"required"}}
//	{… "kind":"result","outcome":"ok" …}                    (or "error" with code and message)
//	{… "kind":"verify","outcome":"applied","verified":{…}}  (or "not-applied")
//
// An intent is written before the call, a result after it, a verify line
// once DescribeInstances shows the change applied (or the wait ran out).
// On resume an instance with an ok (or already-applied) result for the same
// change is skipped; an intent without a result, or with an error result
// (the call may still have taken effect), is decided by re-reading the
// instance: if it already has the requested values a result
// "already-applied" is written without a call, otherwise the change is
// made again. Rollback journals
// the same way with "op":"rollback" in its own file.

// ErrNotJournal marks a file given as a journal that holds no valid
// journal line at all.
var ErrNotJournal = errors.New("not a journal")

// JournalVersion is the "v" of every journal line this package writes.
const JournalVersion = 1

// Journal record kinds.
const (
	KindIntent = "intent" // written before the call
	KindResult = "result" // written after the call
	KindVerify = "verify" // written when the change is seen applied (or not)
)

// Journal operations.
const (
	OpRemediate = "remediate"
	OpRollback  = "rollback"
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
	V          int       `json:"v"`
	Time       time.Time `json:"time"`
	Run        string    `json:"run"`
	Op         string    `json:"op"`
	Kind       string    `json:"kind"`
	Account    string    `json:"account"`
	Region     string    `json:"region"`
	InstanceID string    `json:"instanceId"`
	Action     string    `json:"action"`
	// Previous are the instance's options just before the change.
	Previous *report.MetadataOptions `json:"previous,omitempty"`
	// Requested are the fields the call sets.
	Requested *Change `json:"requested,omitempty"`
	Outcome   string  `json:"outcome,omitempty"`
	Code      string  `json:"code,omitempty"`
	Message   string  `json:"message,omitempty"`
	// Verified is the state DescribeInstances showed (verify lines).
	Verified *report.MetadataOptions `json:"verified,omitempty"`
}

// Key identifies an instance in a journal.
type Key struct{ Op, Account, Region, InstanceID string }

func (r *Record) key() Key { return Key{r.Op, r.Account, r.Region, r.InstanceID} }

func (r *Record) validate() error {
	if r.V != JournalVersion {
		return fmt.Errorf("journal version %d, want %d", r.V, JournalVersion)
	}
	switch r.Kind {
	case KindIntent, KindResult, KindVerify:
	default:
		return fmt.Errorf("unknown kind %q", r.Kind)
	}
	switch r.Op {
	case OpRemediate, OpRollback:
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

// Entry is what a journal says about one instance.
type Entry struct {
	// Done is the last successful result (ok or already-applied), if any.
	Done *Record
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
}

// JournalState folds a journal's records per instance.
type JournalState struct {
	Entries map[Key]*Entry
	// Order lists the keys in the order they first appear.
	Order []Key
	// Records counts the valid lines.
	Records int
}

// Get returns the entry for k, or nil.
func (s *JournalState) Get(k Key) *Entry {
	if s == nil {
		return nil
	}
	return s.Entries[k]
}

func newJournalState() *JournalState { return &JournalState{Entries: map[Key]*Entry{}} }

func (s *JournalState) add(r Record) {
	s.Records++
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
			e.Changes = append(e.Changes, &r)
			e.Unsettled = nil
		} else {
			e.LastError = &r
			e.Unsettled = &r
		}
	case KindVerify:
		e.Verify = &r
	}
}

// Warning names a journal line that was not used.
type Warning struct {
	File string
	Line int
	// Torn is true for an unterminated last line (a crash mid-write).
	Torn bool
	Err  error
}

func (w Warning) String() string {
	if w.Torn {
		return fmt.Sprintf("%s:%d: torn last line (the run was killed while writing it) ignored; every line before it is used", w.File, w.Line)
	}
	return fmt.Sprintf("%s:%d: corrupt journal line (%v): only the %d lines before it are used", w.File, w.Line, w.Err, w.Line-1)
}

// ReadJournal reads the journal at path. A missing file is an empty
// journal. A bad line ends the valid prefix: the records before it are
// used and the line is named in the returned warning; validLen is the byte
// length of that prefix.
func ReadJournal(path string) (st *JournalState, warn *Warning, validLen int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return newJournalState(), nil, 0, nil
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	st, warn, validLen, err = readJournal(f, path)
	return st, warn, validLen, err
}

func readJournal(r io.Reader, name string) (*JournalState, *Warning, int64, error) {
	st := newJournalState()
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return st, nil, off, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, 0, fmt.Errorf("read journal %s: %w", name, err)
		}
		torn := errors.Is(err, io.EOF) // no trailing newline
		content := bytes.TrimSpace(b)
		if len(content) == 0 && !torn {
			off += int64(len(b))
			continue
		}
		var rec Record
		perr := json.Unmarshal(content, &rec)
		if perr == nil {
			perr = rec.validate()
		}
		if perr != nil || torn {
			if perr == nil {
				// A complete record missing only its newline: keep it, the
				// next append starts on a fresh line.
				st.add(rec)
				return st, nil, off + int64(len(b)), nil
			}
			w := &Warning{File: name, Line: line, Torn: torn, Err: perr}
			return st, w, off, nil
		}
		st.add(rec)
		off += int64(len(b))
	}
}

// Journal appends records to a JSON Lines file, one write and one fsync per
// line. It is safe for concurrent use. The file is opened O_APPEND, so even
// two processes writing one journal never overwrite each other's lines.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	run  string
	now  func() time.Time
}

// OpenJournal opens (creating if needed) the journal at path for appending
// and returns what it already holds. If the file ends in a torn or corrupt
// line, the file is cut back to its valid prefix before appending, after
// saving the whole original next to it as <path>.corrupt-<UTC time> when
// anything but a torn last line would be lost; the warning says so.
func OpenJournal(path, runID string, now func() time.Time) (*Journal, *JournalState, []string, error) {
	if now == nil {
		now = time.Now
	}
	st, warn, validLen, err := ReadJournal(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if warn != nil && !warn.Torn && st.Records == 0 {
		// Not one valid line: this is some other file (a report passed as
		// the journal, say), not a journal with a bad line. Never cut it.
		return nil, nil, nil, fmt.Errorf("%s is not an imdsfleet journal (line 1: %v): refusing to write to it; pass a new or existing journal file: %w", path, warn.Err, ErrNotJournal)
	}
	var warnings []string
	if warn != nil {
		warnings = append(warnings, warn.String())
		if !warn.Torn {
			backup := fmt.Sprintf("%s.corrupt-%s", path, now().UTC().Format("20060102T150405Z"))
			data, rerr := os.ReadFile(path)
			if rerr != nil {
				return nil, nil, nil, fmt.Errorf("back up corrupt journal: %w", rerr)
			}
			if werr := os.WriteFile(backup, data, 0o600); werr != nil {
				return nil, nil, nil, fmt.Errorf("back up corrupt journal: %w", werr)
			}
			warnings = append(warnings, fmt.Sprintf("%s: saved the original as %s and cut the journal back to its valid prefix before appending", path, backup))
		}
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open journal %s for appending: %w", path, err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file: make its directory entry durable too, or a crash
		// could lose the whole journal along with its fsynced lines.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, nil, nil, fmt.Errorf("create journal %s: %w", path, err)
		}
	}
	if warn != nil {
		if err := f.Truncate(validLen); err != nil {
			f.Close()
			return nil, nil, nil, fmt.Errorf("cut journal %s back to its valid prefix: %w", path, err)
		}
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err == nil && end > 0 {
		// A complete last record without its newline: start a fresh line.
		last := make([]byte, 1)
		if _, err = f.ReadAt(last, end-1); err == nil && last[0] != '\n' {
			_, err = f.Write([]byte("\n"))
		}
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("prepare journal %s: %w", path, err)
	}
	return &Journal{f: f, path: path, run: runID, now: now}, st, warnings, nil
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

// Append writes r as one line (stamping V, Time and Run) with a single
// write, then fsyncs the file.
func (j *Journal) Append(r Record) error {
	r.V = JournalVersion
	r.Time = j.now().UTC()
	r.Run = j.run
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal %s: write: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
