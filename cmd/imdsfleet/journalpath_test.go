package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestJournalPathShownSanitized: a journal path with control characters
// (a file name is anyone's choice) is shown escaped in every line that
// names it, never raw.
func TestJournalPathShownSanitized(t *testing.T) {
	s := outputSetup(t)
	journal := filepath.Join(s.dir, "fix\x1b[31m\nSUMMARY: forged.jsonl")
	for _, args := range [][]string{
		remArgs("remediate", "--report", s.report, "--live", "--yes", "--journal", journal),
		remArgs("rollback", "--journal", journal),
		remArgs("rollback", "--journal", journal, "--live", "--yes"),
	} {
		r := remCLI(t, context.Background(), "", false, args...)
		out := r.stdout + r.stderr
		if !strings.Contains(out, `fix\x1b[31m\nSUMMARY`) {
			t.Errorf("%s: exit %d, the journal is not named escaped:\n%s", args[0], r.code, out)
		}
		if strings.Contains(out, "\x1b") || strings.Contains(out, "\nSUMMARY: forged") {
			t.Errorf("%s: the journal path reached the output raw:\n%q", args[0], out)
		}
	}
}
