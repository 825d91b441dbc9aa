package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestShellQuoteHostile: the resume command quotes every value so that it
// prints no control or bidi character and a shell reads back the exact
// value (checked with bash when it is installed).
func TestShellQuoteHostile(t *testing.T) {
	values := []string{
		"plain.json", "with space", "it's", `back\slash`, "",
		"esc\x1b[31mred", "new\nline; rm -rf /", "tab\tcr\r", "rlo\u202eevil",
		"bad\xffbyte", "本番サーバー.json", `$(touch /tmp/x)` + "`id`", "mix'\\\n",
	}
	bash, _ := exec.LookPath("bash")
	for _, v := range values {
		q := shellQuote(v)
		if strings.ContainsAny(q, "\x1b\n\r\t\u202e") || strings.Contains(q, "\xff") {
			t.Errorf("shellQuote(%q) = %q: prints a raw control or bidi character", v, q)
		}
		if bash == "" {
			continue
		}
		out, err := exec.Command(bash, "-c", "printf %s "+q).Output()
		if err != nil || string(out) != v {
			t.Errorf("bash reads shellQuote(%q) = %s back as %q (%v)", v, q, out, err)
		}
	}
	if bash == "" {
		t.Log("bash not installed: round trip not checked")
	}
}
