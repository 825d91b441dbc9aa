package remediate

import (
	"errors"
	"os"
	"path/filepath"
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
	j, _, warns, err := OpenJournal(path, "run-1", func() time.Time { return time.Unix(0, 0) })
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
	st, warn, _, err := ReadJournal(path)
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
	f.WriteString(`{"v":1,"time":"2026-01-01T00:00:00Z","run":"run-1","op":"remediate","kind":"res`)
	f.Close()

	st, warn, _, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if warn == nil || !warn.Torn || warn.Line != 4 || !strings.Contains(warn.String(), path+":4") {
		t.Fatalf("warning = %v, want torn line 4 named as file:line", warn)
	}
	if st.Records != 3 || st.Get(key("i-1")).Done == nil || st.Get(key("i-2")).Pending == nil {
		t.Fatalf("lost records before the torn line: %+v", st)
	}
	// Appending after a torn line must not glue onto it, and must not need a backup.
	j, st2, warns, err := OpenJournal(path, "run-2", nil)
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
	st3, warn, _, err := ReadJournal(path)
	if err != nil || warn != nil {
		t.Fatalf("after append: %v %v", err, warn)
	}
	if st3.Records != 4 || st3.Get(key("i-2")).Done == nil {
		t.Fatalf("after append: %d records, i-2 %+v", st3.Records, st3.Get(key("i-2")))
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Errorf("a torn line made a backup: %v", m)
	}
}

func TestJournalCompleteLastLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	writeJournal(t, path, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK))
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-1], 0o600)
	j, st, warns, err := OpenJournal(path, "run-2", nil)
	if err != nil || len(warns) != 0 || st.Get(key("i-1")).Done == nil {
		t.Fatalf("OpenJournal: %v %v %+v", err, warns, st)
	}
	j.Append(rec(KindIntent, "i-2", ""))
	j.Close()
	st, warn, _, _ := ReadJournal(path)
	if warn != nil || st.Records != 3 {
		t.Fatalf("after append: %v, %d records", warn, st.Records)
	}
}

func TestJournalCorruptMiddleLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.jsonl")
	writeJournal(t, path, rec(KindIntent, "i-1", ""), rec(KindResult, "i-1", OutcomeOK))
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("this is not json\n")
	f.Close()
	// A good line after the bad one: still not used (valid prefix only).
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, append(data, lines[0]...), 0o600)

	st, warn, validLen, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if warn == nil || warn.Torn || warn.Line != 3 || !strings.Contains(warn.String(), path+":3") || !strings.Contains(warn.String(), "corrupt") {
		t.Fatalf("warning = %v, want corrupt line 3", warn)
	}
	if st.Records != 2 || st.Get(key("i-1")).Done == nil {
		t.Fatalf("valid prefix not used: %+v", st)
	}
	if validLen != int64(len(lines[0])+len(lines[1])) {
		t.Errorf("validLen %d", validLen)
	}
	// Appending first saves the original and cuts back to the valid prefix,
	// so new lines are never hidden behind the bad one.
	j, _, warns, err := OpenJournal(path, "run-2", func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 2 || !strings.Contains(warns[1], ".corrupt-20260102T030405Z") {
		t.Fatalf("warnings %v", warns)
	}
	j.Append(rec(KindIntent, "i-2", ""))
	j.Close()
	st, warn, _, _ = ReadJournal(path)
	if warn != nil || st.Records != 3 || st.Get(key("i-2")).Pending == nil {
		t.Fatalf("after append: %v %+v", warn, st)
	}
	backup, err := os.ReadFile(path + ".corrupt-20260102T030405Z")
	if err != nil || !strings.Contains(string(backup), "this is not json") {
		t.Fatalf("backup: %v %q", err, backup)
	}
}

func TestJournalBadRecords(t *testing.T) {
	for _, tc := range []struct{ name, line string }{
		{"wrong version", `{"v":2,"op":"remediate","kind":"intent","region":"r","instanceId":"i","requested":{}}`},
		{"unknown kind", `{"v":1,"op":"remediate","kind":"maybe","region":"r","instanceId":"i","requested":{}}`},
		{"no instance", `{"v":1,"op":"remediate","kind":"intent","region":"r","requested":{}}`},
		{"result without outcome", `{"v":1,"op":"remediate","kind":"result","region":"r","instanceId":"i","requested":{}}`},
		{"not an object", `[1,2]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.jsonl")
			os.WriteFile(path, []byte(tc.line+"\n"), 0o600)
			st, warn, _, err := ReadJournal(path)
			if err != nil || warn == nil || warn.Line != 1 || st.Records != 0 {
				t.Fatalf("got %v %v %+v", err, warn, st)
			}
		})
	}
}

func TestReadJournalMissingFile(t *testing.T) {
	st, warn, _, err := ReadJournal(filepath.Join(t.TempDir(), "none.jsonl"))
	if err != nil || warn != nil || st.Records != 0 {
		t.Fatalf("%v %v %+v", err, warn, st)
	}
}

// Two runs appending to one journal at once (an operator re-running while
// the first is still going) must not overwrite each other's lines.
func TestJournalTwoWritersDoNotOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	a, _, _, err := OpenJournal(path, "run-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _, _, err := OpenJournal(path, "run-b", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		if err := a.Append(rec(KindIntent, id, "")); err != nil {
			t.Fatal(err)
		}
		if err := b.Append(rec(KindIntent, id+"b", "")); err != nil {
			t.Fatal(err)
		}
	}
	st, warn, _, err := ReadJournal(path)
	if err != nil || warn != nil || st.Records != 6 {
		t.Fatalf("after two writers: %v %v, %d records, want 6", err, warn, st.Records)
	}
}

// A file with no valid journal line (a report passed as --journal) is never
// cut back or appended to.
func TestOpenJournalRefusesAFileThatIsNoJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scan.json")
	content := "{\n  \"schemaVersion\": 1\n}\n"
	os.WriteFile(path, []byte(content), 0o600)
	if _, _, _, err := OpenJournal(path, "run-1", nil); !errors.Is(err, ErrNotJournal) || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenJournal = %v, want ErrNotJournal naming the file", err)
	}
	if got, _ := os.ReadFile(path); string(got) != content {
		t.Fatalf("the file was changed: %q", got)
	}
}
