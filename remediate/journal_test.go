package remediate

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsfleet/imdsfleet/report"
)

func rec(kind, id, outcome string) Record {
	r := Record{Op: OpRemediate, Kind: kind, Account: "111111111111", Region: "us-east-1", InstanceID: id, Action: ActionEnforce,
		Previous: &report.MetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: 1}, Requested: &Change{HttpTokens: "required"}, Outcome: outcome}
	if kind == KindVerify {
		r.Requested = nil
	}
	return r
}

func writeJournal(t *testing.T, path string, recs ...Record) {
	t.Helper()
	j, _, warns, err := OpenJournal(path, JournalOptions{RunID: "run-1", Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Fatalf("unexpected warnings %v", warns)
	}
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func key(id string) Key { return Key{OpRemediate, "111111111111", "us-east-1", id} }

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path,
		rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK), rec(KindVerify, "i-1", OutcomeApplied),
		rec(KindIntent, "i-2", ""), rec(KindResult, "i-2", OutcomeError),
		rec(KindIntent, "i-3", ""),
	)
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 6 {
		t.Fatalf("journal has %d lines, want 6:\n%s", n, data)
	}
	st, warn, err := ReadJournal(path)
	if err != nil || warn != nil {
		t.Fatalf("ReadJournal: %v %v", err, warn)
	}
	if e := st.Get(key("i-1")); e == nil || e.Done == nil || e.Pending != nil || e.Verify == nil {
		t.Errorf("i-1 = %+v, want done and verified", e)
	}
	if e := st.Get(key("i-2")); e == nil || e.Done != nil || e.LastError == nil || e.Pending != nil {
		t.Errorf("i-2 = %+v, want failed", e)
	}
	if e := st.Get(key("i-3")); e == nil || e.Done != nil || e.Pending == nil {
		t.Errorf("i-3 = %+v, want pending intent", e)
	}
	if st.Get(key("i-4")) != nil {
		t.Error("unknown instance has an entry")
	}
	if e := st.Get(key("i-1")); e.Done.Run != "run-1" || e.Done.V != JournalVersion {
		t.Errorf("stamps missing: %+v", e.Done)
	}
}

func TestJournalTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK), rec(KindIntent, "i-2", ""))
	// A crash in the middle of writing the fourth line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"v":2,"seq":4,"time":"2026-01-01T00:00:00Z","run":"run-1","op":"remediate","kind":"res`)
	f.Close()

	st, warns, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !warns[0].Torn || warns[0].Line != 4 || !strings.Contains(warns[0].String(), path+":4") {
		t.Fatalf("warnings = %v, want torn line 4 named as file:line", warns)
	}
	if st.Records != 3 || st.Get(key("i-1")).Done == nil || st.Get(key("i-2")).Pending == nil {
		t.Fatalf("lost records before the torn line: %+v", st)
	}
	// Appending after a torn line must not glue onto it.
	j, st2, warns, err := OpenJournal(path, JournalOptions{RunID: "run-2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || st2.Records != 3 {
		t.Fatalf("OpenJournal warnings %v records %d", warns, st2.Records)
	}
	if err := j.Append(rec(KindResult, "i-2", OutcomeOK)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	st3, warns, err := ReadJournal(path)
	if err != nil || len(warns) != 1 || warns[0].Line != 4 || warns[0].Torn {
		t.Fatalf("after append: %v, warnings %v (want only the old line 4, now complete but corrupt)", err, warns)
	}
	if st3.Records != 4 || st3.Get(key("i-2")).Done == nil || st3.Get(key("i-2")).Done.Seq != 4 {
		t.Fatalf("after append: %d records, i-2 %+v", st3.Records, st3.Get(key("i-2")))
	}
}

func TestJournalCompleteLastLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK))
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-1], 0o600)
	j, st, warns, err := OpenJournal(path, JournalOptions{RunID: "run-2"})
	if err != nil || len(warns) != 0 || st.Get(key("i-1")).Done == nil {
		t.Fatalf("OpenJournal: %v %v %+v", err, warns, st)
	}
	j.Append(rec(KindIntent, "i-2", ""))
	j.Close()
	st, warns, _ = ReadJournal(path)
	if len(warns) != 0 || st.Records != 3 {
		t.Fatalf("after append: %v, %d records", warns, st.Records)
	}
}

// One bad line in the middle is skipped and named; every line after it
// still counts, and opening the journal to append never cuts it back.
func TestJournalCorruptMiddleLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path,
		rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK),
		rec(KindIntent, "i-2", ""), rec(KindResult, "i-2", OutcomeOK),
		rec(KindIntent, "i-3", ""), rec(KindResult, "i-3", OutcomeOK))
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	lines[2] = "this is not json\n"
	corrupt := []byte(strings.Join(lines, ""))
	os.WriteFile(path, corrupt, 0o600)

	st, warns, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Torn || warns[0].Line != 3 || !strings.Contains(warns[0].String(), path+":3") || !strings.Contains(warns[0].String(), "corrupt") {
		t.Fatalf("warnings = %v, want corrupt line 3 only", warns)
	}
	if st.Records != 5 || st.Get(key("i-3")).Done == nil {
		t.Fatalf("lines after the corrupt one not used: %d records", st.Records)
	}
	// i-2's intent was the bad line; its result still makes it done.
	if st.Get(key("i-2")).Done == nil {
		t.Errorf("i-2 lost")
	}
	j, _, warns, err := OpenJournal(path, JournalOptions{RunID: "run-2"})
	if err != nil || len(warns) != 1 {
		t.Fatalf("OpenJournal: %v %v", err, warns)
	}
	j.Append(rec(KindIntent, "i-4", ""))
	j.Close()
	after, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(after), string(corrupt)) {
		t.Fatalf("the journal was rewritten:\n%s", after)
	}
	st, warns, _ = ReadJournal(path)
	if len(warns) != 1 || st.Records != 6 || st.Get(key("i-4")).Pending == nil {
		t.Fatalf("after append: %v %+v", warns, st)
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Errorf("files beside the journal: %v", m)
	}
}

// A changed byte inside a well-formed line is caught by its checksum; a
// dropped line by the seq numbers; a line copied again by its seq.
func TestJournalLinesCheckThemselves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK), rec(KindIntent, "i-2", ""), rec(KindResult, "i-2", OutcomeOK))
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	for _, l := range lines[:4] {
		if !strings.Contains(l, `"seq":`) || !strings.HasSuffix(l, "\"}\n") || !strings.Contains(l, `,"crc":"`) {
			t.Fatalf("line without seq and trailing crc: %s", l)
		}
	}
	tests := []struct {
		name  string
		lines []string
		line  int
		want  string
		used  int
	}{
		{"flipped value", []string{lines[0], strings.Replace(lines[1], `"outcome":"ok"`, `"outcome":"ko"`, 1), lines[2], lines[3]}, 2, "checksum mismatch", 3},
		{"checksum removed", []string{lines[0], strings.Replace(lines[1], `,"crc":"`, `,"xrc":"`, 1), lines[2], lines[3]}, 2, "crc", 3},
		{"line repeated", []string{lines[0], lines[1], lines[1], lines[2], lines[3]}, 3, "repeated or misplaced", 4},
		{"line lost", []string{lines[0], lines[2], lines[3]}, 2, "missing", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "j.jsonl")
			os.WriteFile(p, []byte(strings.Join(tc.lines, "")), 0o600)
			st, warns, err := ReadJournal(p)
			if err != nil || len(warns) != 1 || warns[0].Line != tc.line || !strings.Contains(warns[0].String(), tc.want) || st.Records != tc.used {
				t.Fatalf("got %v, %d records, warnings %v; want one naming line %d (%q), %d records", err, st.Records, warns, tc.line, tc.want, tc.used)
			}
		})
	}
}

// Journals written by the release before version 2 are still read, and
// appending to one goes on in version 2.
func TestJournalReadsVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	v1 := `{"v":1,"time":"2026-01-01T00:00:00Z","run":"old","op":"remediate","kind":"intent","account":"111111111111","region":"us-east-1","instanceId":"i-1","action":"enforce","previous":{"httpTokens":"optional","httpPutResponseHopLimit":1},"requested":{"httpTokens":"required"}}
{"v":1,"time":"2026-01-01T00:00:01Z","run":"old","op":"remediate","kind":"result","account":"111111111111","region":"us-east-1","instanceId":"i-1","action":"enforce","previous":{"httpTokens":"optional","httpPutResponseHopLimit":1},"requested":{"httpTokens":"required"},"outcome":"ok"}
`
	os.WriteFile(path, []byte(v1), 0o600)
	j, st, warns, err := OpenJournal(path, JournalOptions{RunID: "new"})
	if err != nil || len(warns) != 0 || st.Get(key("i-1")).Done == nil {
		t.Fatalf("v1 journal: %v %v %+v", err, warns, st)
	}
	j.Append(rec(KindIntent, "i-2", ""))
	j.Close()
	st, warns, _ = ReadJournal(path)
	if len(warns) != 0 || st.Records != 3 || st.Get(key("i-2")).Pending.V != JournalVersion {
		t.Fatalf("after append: %v %d", warns, st.Records)
	}
}

func TestJournalBadRecords(t *testing.T) {
	for _, tc := range []struct{ name, line string }{
		{"unknown version", `{"v":3,"op":"remediate","kind":"intent","region":"r","instanceId":"i","requested":{}}`},
		{"version 2 without checksum", `{"v":2,"seq":1,"op":"remediate","kind":"intent","region":"r","instanceId":"i","requested":{}}`},
		{"unknown kind", `{"v":1,"op":"remediate","kind":"maybe","region":"r","instanceId":"i","requested":{}}`},
		{"no instance", `{"v":1,"op":"remediate","kind":"intent","region":"r","requested":{}}`},
		{"result without outcome", `{"v":1,"op":"remediate","kind":"result","region":"r","instanceId":"i","requested":{}}`},
		{"not an object", `[1,2]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.jsonl")
			os.WriteFile(path, []byte(tc.line+"\n"), 0o600)
			st, warns, err := ReadJournal(path)
			if err != nil || len(warns) != 1 || warns[0].Line != 1 || st.Records != 0 {
				t.Fatalf("got %v %v %+v", err, warns, st)
			}
			if _, _, _, err := OpenJournal(path, JournalOptions{}); !errors.Is(err, ErrNotJournal) {
				t.Errorf("OpenJournal of a file with no valid line = %v, want ErrNotJournal", err)
			}
		})
	}
}

func TestReadJournalMissingFile(t *testing.T) {
	st, warns, err := ReadJournal(filepath.Join(t.TempDir(), "none.jsonl"))
	if err != nil || warns != nil || st.Records != 0 {
		t.Fatalf("%v %v %+v", err, warns, st)
	}
}

// A second live run on a journal is refused, naming the holder; once the
// first closes it (or dies: the kernel drops the lock), it opens.
func TestJournalLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	h := Holder{PID: 4242, Host: "ops-1", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Command: "imdsfleet remediate --report r.json"}
	a, _, _, err := OpenJournal(path, JournalOptions{RunID: "run-a", Holder: h})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = OpenJournal(path, JournalOptions{RunID: "run-b"})
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil || le.Holder.PID != 4242 || !strings.Contains(err.Error(), "pid 4242 on ops-1") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second open = %v, want LockedError naming pid 4242", err)
	}
	if _, err := LockJournal(path, Holder{}); !errors.As(err, &le) {
		t.Fatalf("LockJournal while held = %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("holder description left behind: %v", err)
	}
	// A stale description (a run killed with SIGKILL) does not block.
	os.WriteFile(path+".lock", []byte(`{"pid":1,"host":"gone"}`), 0o600)
	b, _, _, err := OpenJournal(path, JournalOptions{RunID: "run-b"})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	b.Close()
}

func TestJournalCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path, rec(KindIntent, "i-1", ""))
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v (%v), want 0600", fi.Mode(), err)
	}
}

// A file with no valid journal line (a report passed as --journal) is never
// cut back or appended to.
func TestOpenJournalRefusesAFileThatIsNoJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scan.json")
	content := "{\n  \"schemaVersion\": 1\n}\n"
	os.WriteFile(path, []byte(content), 0o600)
	if _, _, _, err := OpenJournal(path, JournalOptions{}); !errors.Is(err, ErrNotJournal) || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenJournal = %v, want ErrNotJournal naming the file", err)
	}
	if got, _ := os.ReadFile(path); string(got) != content {
		t.Fatalf("the file was changed: %q", got)
	}
}

// Anything but a regular file is refused without opening it (a FIFO would
// block, /dev/full would be read forever); a symlink to a journal is
// followed.
func TestJournalNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	for _, p := range []string{dir, fifo, "/dev/full", "/dev/null"} {
		if _, _, err := ReadJournal(p); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadJournal(%s) = %v, want ErrNotRegular", p, err)
		}
		if _, _, _, err := OpenJournal(p, JournalOptions{}); !errors.Is(err, ErrNotRegular) {
			t.Errorf("OpenJournal(%s) = %v, want ErrNotRegular", p, err)
		}
	}
	real := filepath.Join(dir, "j.jsonl")
	writeJournal(t, real, rec(KindIntent, "i-1", ""))
	link := filepath.Join(dir, "link.jsonl")
	os.Symlink(real, link)
	j, st, _, err := OpenJournal(link, JournalOptions{})
	if err != nil || st.Records != 1 {
		t.Fatalf("symlink to a journal: %v", err)
	}
	j.Append(rec(KindResult, "i-1", OutcomeOK))
	j.Close()
	if st, _, _ := ReadJournal(real); st.Records != 2 {
		t.Errorf("append through the symlink did not reach the journal: %d records", st.Records)
	}
}

// Rollback journal lines after a change make it not done for remediate;
// a later change makes a restore not done for rollback.
func TestForgetRolledBackAndRedone(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	rem := filepath.Join(dir, "fix.jsonl")
	rb := RollbackJournalPath(rem)
	appendAt := func(path string, recs ...Record) {
		j, _, _, err := OpenJournal(path, JournalOptions{RunID: "r", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			j.Append(r)
		}
		j.Close()
	}
	rbRec := func(kind, outcome string) Record {
		r := rec(kind, "i-1", outcome)
		r.Op, r.Action, r.Requested = OpRollback, ActionRollback, &Change{HttpTokens: "optional"}
		return r
	}
	appendAt(rem, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK), rec(KindIntent, "i-2", ""), rec(KindResult, "i-2", OutcomeOK))
	appendAt(rb, rbRec(KindIntent, ""), rbRec(KindResult, OutcomeOK))
	remSt, _, _ := ReadJournal(rem)
	rbSt, _, _ := ReadJournal(rb)
	if n := remSt.ForgetRolledBack(rbSt); n != 1 || remSt.Get(key("i-1")).Done != nil || remSt.Get(key("i-2")).Done == nil {
		t.Fatalf("ForgetRolledBack = %d; i-1 %+v", n, remSt.Get(key("i-1")))
	}
	// Remediate again: the restore is no longer done.
	appendAt(rem, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK))
	remSt, _, _ = ReadJournal(rem)
	rbSt, _, _ = ReadJournal(rb)
	if n := remSt.ForgetRolledBack(rbSt); n != 0 {
		t.Errorf("a change made after the rollback is forgotten")
	}
	rbKey := Key{OpRollback, "111111111111", "us-east-1", "i-1"}
	if n := rbSt.ForgetRedone(remSt); n != 1 || rbSt.Get(rbKey).Done != nil || rbSt.Get(rbKey).Unsettled != nil {
		t.Fatalf("ForgetRedone = %d", n)
	}
	// A rollback killed in flight: its outcome unknown, the change is no
	// longer taken as done but as unsettled (the drift check re-reads it).
	appendAt(rb, rbRec(KindIntent, ""))
	remSt, _, _ = ReadJournal(rem)
	rbSt, _, _ = ReadJournal(rb)
	if n := remSt.ForgetRolledBack(rbSt); n != 1 {
		t.Fatalf("ForgetRolledBack after an unsettled rollback = %d", n)
	}
	if e := remSt.Get(key("i-1")); e.Done != nil || e.Unsettled == nil || e.Unsettled.Kind != KindResult || e.Undone.Kind != KindIntent {
		t.Errorf("i-1 after an unsettled rollback: %+v", e)
	}
}

// A well-formed line from another journal pasted into the middle (its seq
// far ahead, its checksum valid) is skipped and named; the lines after it
// still count, and appending goes on from this journal's own last seq.
func TestJournalLineFromAnotherJournal(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.jsonl")
	var many []Record
	for range 50 {
		many = append(many, rec(KindIntent, "i-other", ""))
	}
	writeJournal(t, other, many...)
	otherLines := strings.SplitAfter(string(mustReadFile(t, other)), "\n")

	path := filepath.Join(dir, "j.jsonl")
	writeJournal(t, path,
		rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK),
		rec(KindIntent, "i-2", ""), rec(KindResult, "i-2", OutcomeOK),
		rec(KindIntent, "i-3", ""), rec(KindResult, "i-3", OutcomeOK))
	lines := strings.SplitAfter(string(mustReadFile(t, path)), "\n")
	for _, tc := range []struct {
		name   string
		pasted string
		at     int
	}{{"seq far ahead", otherLines[40], 2}, {"seq behind", otherLines[0], 4}, {"first line", otherLines[40], 0}} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "j.jsonl")
			damaged := slices.Concat(lines[:tc.at], []string{tc.pasted}, lines[tc.at:])
			os.WriteFile(p, []byte(strings.Join(damaged, "")), 0o600)
			st, warns, err := ReadJournal(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != 1 || warns[0].Line != tc.at+1 || !strings.Contains(warns[0].String(), "misplaced") {
				t.Fatalf("warnings %v, want one naming line %d", warns, tc.at+1)
			}
			for _, id := range []string{"i-1", "i-2", "i-3"} {
				if e := st.Get(key(id)); e == nil || e.Done == nil || e.Pending != nil {
					t.Errorf("%s: %+v, want done", id, e)
				}
			}
			if st.Get(key("i-other")) != nil || st.Records != 6 || st.LastSeq != 6 {
				t.Errorf("the pasted line was used: %d records, last seq %d", st.Records, st.LastSeq)
			}
			j, _, _, err := OpenJournal(p, JournalOptions{RunID: "run-2"})
			if err != nil {
				t.Fatal(err)
			}
			j.Append(rec(KindIntent, "i-4", ""))
			j.Close()
			if st, warns, _ = ReadJournal(p); len(warns) != 1 || st.Get(key("i-4")) == nil || st.LastSeq != 7 {
				t.Errorf("after an append: %v, last seq %d", warns, st.LastSeq)
			}
		})
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What sits at <journal>.lock is only ever written when it is a file of
// its own: a hard link or a symlink to some other file is not written
// through, a FIFO there blocks nothing, and a stale description (a run
// killed with SIGKILL) is replaced and then removed.
func TestJournalLockDescriptionNeverWritesThrough(t *testing.T) {
	const precious = "precious data\n"
	open := func(t *testing.T, path string) {
		t.Helper()
		j, _, _, err := OpenJournal(path, JournalOptions{RunID: "r", Holder: Holder{PID: 77, Host: "h"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("hard link", func(t *testing.T) {
		dir := t.TempDir()
		path, victim := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "victim")
		os.WriteFile(victim, []byte(precious), 0o644)
		if err := os.Link(victim, path+".lock"); err != nil {
			t.Skip(err)
		}
		open(t, path)
		if b := mustReadFile(t, victim); string(b) != precious {
			t.Errorf("the file hard-linked as .lock was overwritten: %q", b)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		path, victim := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "victim")
		os.WriteFile(victim, []byte(precious), 0o644)
		os.Symlink(victim, path+".lock")
		open(t, path)
		if b := mustReadFile(t, victim); string(b) != precious {
			t.Errorf("the symlink's target was overwritten: %q", b)
		}
		if fi, err := os.Lstat(path + ".lock"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the symlink was removed or replaced: %v", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "j.jsonl")
		if err := mkfifo(path + ".lock"); err != nil {
			t.Skip(err)
		}
		a, _, _, err := OpenJournal(path, JournalOptions{RunID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		// The second run reads the holder's description: a FIFO there must
		// not block it.
		_, _, _, err = OpenJournal(path, JournalOptions{RunID: "b"})
		var le *LockedError
		if !errors.As(err, &le) || le.Holder != nil {
			t.Fatalf("second open = %v, want LockedError without a holder", err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "j.jsonl")
		os.WriteFile(path+".lock", []byte(`{"pid":999999,"host":"gone"}`+"\n"), 0o600)
		j, _, _, err := OpenJournal(path, JournalOptions{RunID: "r", Holder: Holder{PID: 77, Host: "h"}})
		if err != nil {
			t.Fatal(err)
		}
		if b := mustReadFile(t, path+".lock"); !strings.Contains(string(b), `"pid":77`) || strings.Contains(string(b), "gone") {
			t.Errorf("stale description not replaced: %q", b)
		}
		j.Close()
		if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("description left behind: %v", err)
		}
	})
}

// A journal deleted, or replaced by another file, while open: the next
// Append fails and adds nothing; the lines so far are saved at the path
// when it is free, beside it otherwise, and the other file is untouched.
func TestJournalDeletedOrReplacedWhileOpen(t *testing.T) {
	for _, replaced := range []bool{false, true} {
		t.Run(map[bool]string{false: "deleted", true: "replaced"}[replaced], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.jsonl")
			j, _, _, err := OpenJournal(path, JournalOptions{RunID: "run-1"})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			j.Append(rec(KindIntent, "i-1", ""))
			j.Append(rec(KindResult, "i-1", OutcomeOK))
			os.Remove(path)
			if replaced {
				os.WriteFile(path, []byte("someone else's\n"), 0o600)
			}
			err = j.Append(rec(KindIntent, "i-2", ""))
			if err == nil || !strings.Contains(err.Error(), "deleted or replaced") {
				t.Fatalf("Append after the journal went = %v", err)
			}
			if err2 := j.Append(rec(KindIntent, "i-3", "")); err2 == nil {
				t.Fatal("a later Append succeeded")
			}
			saved := path
			if replaced {
				saved = path + ".run-1.saved.jsonl"
				if b := mustReadFile(t, path); string(b) != "someone else's\n" {
					t.Errorf("the file now at the path was changed: %q", b)
				}
			}
			if !strings.Contains(err.Error(), saved) {
				t.Errorf("error %v does not name %s", err, saved)
			}
			st, warns, err := ReadJournal(saved)
			if err != nil || len(warns) > 0 || st.Records != 2 || st.Get(key("i-1")).Done == nil || st.Get(key("i-2")) != nil {
				t.Fatalf("saved journal: %v %v %+v", err, warns, st)
			}
		})
	}
}
