package report

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// endless is a device that never ends: every byte is b.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

// TestReadReportLimit: a report is read up to a limit, so a device that
// never ends (a FIFO fed by `yes '{'`) is refused once past it instead of
// filling memory; a stream that cannot begin JSON (/dev/zero) is refused
// at its first byte.
func TestReadReportLimit(t *testing.T) {
	const limit = 1 << 20
	_, err := readReport(endless('{'), "/dev/fd/63", 0, limit)
	if !errors.Is(err, ErrNotReport) || !strings.Contains(err.Error(), "/dev/fd/63 goes on beyond 1048576 bytes") {
		t.Errorf("endless '{': error %v", err)
	}
	data, err := readReport(endless(0), "/dev/zero", 0, limit)
	if err != nil || len(data) != 1 {
		t.Errorf("endless NUL: read %d bytes, error %v; want the first byte only", len(data), err)
	}
	if _, err := parse(data, "/dev/zero"); !errors.Is(err, ErrNotReport) || !strings.Contains(err.Error(), `invalid character '\x00' looking for beginning of value at byte 1`) {
		t.Errorf("endless NUL: parse error %v", err)
	}
	// Exactly the limit is read whole; blanks and a byte-order mark first
	// do not stop the read.
	in := "\ufeff \n" + strings.Repeat(" ", limit-len("\ufeff \n{}")) + "{}"
	if data, err := readReport(io.MultiReader(strings.NewReader(in)), "x", 0, limit); err != nil || string(data) != in {
		t.Errorf("a report of exactly the limit: %d bytes, error %v", len(data), err)
	}
	if _, err := readReport(strings.NewReader(in+" "), "x", int64(len(in)+1), limit); err == nil {
		t.Error("one byte past the limit was read")
	}
}
