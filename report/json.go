package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// Errors returned (wrapped) by [Read] and [ReadFile]; test for them with
// errors.Is. The error's own message is the one to show a user: it names
// the file, what is wrong with it and what to do.
var (
	// ErrNotReport: the input is empty, not JSON, truncated, or JSON that
	// is not an imdsfleet report (no schemaVersion).
	ErrNotReport = errors.New("not an imdsfleet report")
	// ErrSchemaVersion: the report was written by a newer (or unknown)
	// imdsfleet whose schema this one cannot read.
	ErrSchemaVersion = errors.New("unsupported report schema version")
	// ErrInvalid: the report parses but breaks the schema: a field of the
	// wrong type, an instance without account, Region or ID, an unknown
	// classification, risk or status, a duplicate instance.
	ErrInvalid = errors.New("invalid report")
)

// readError carries a complete user-facing message and unwraps to both
// its kind (one of the Err* sentinels) and its cause, if any.
type readError struct {
	msg   string
	kind  error
	cause error
}

func (e *readError) Error() string { return e.msg }

func (e *readError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// WriteJSON writes r as indented JSON with a trailing newline. It writes r
// as given (call [Normalize] first for sorted instances and a fresh
// summary) except that nil slices and maps are written as [] and {}. The
// long lists (targets, account defaults, launch sources, workloads,
// instances) are encoded one element at a time straight to w, so writing
// a large fleet's report needs no copy of the document in memory (an
// organization's report is hundreds of MB). The bytes are those of one
// indented encoding of the whole report. HTML characters are not escaped:
// the file is JSON, not a web page.
func WriteJSON(w io.Writer, r *Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	head := *r
	head.Targets = []Target{}
	head.AccountDefaults = []AccountDefaults{}
	head.LaunchSources = []LaunchSource{}
	head.Workloads = []Workload{}
	head.Instances = []Instance{}
	if head.Summary.ByClassification == nil {
		head.Summary.ByClassification = map[string]int{}
	}
	if head.Summary.ByRisk == nil {
		head.Summary.ByRisk = map[string]int{}
	}
	b, err := encodeIndented(head)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	// Each list was encoded empty in the head, as a top-level line
	// `  "key": []` (a key nested deeper is indented further, and no
	// string holds a raw newline): write the head up to each, then the
	// list in its place, one element at a time (or a packed report's
	// bytes, which are those elements' encodings).
	e := newElementEncoder()
	rest := b
	for l := -1; l < numPackedLists; l++ {
		key, n := "targets", len(r.Targets)
		if l >= 0 {
			key, n = packedListNames[l], listLen(r, l)
			if r.packed != nil {
				n = r.packed.n[l]
			}
		}
		marker := []byte("\n  \"" + key + "\": []")
		at := bytes.Index(rest, marker)
		if at < 0 {
			return fmt.Errorf("encode report: unexpected layout (no top-level %q list)", key)
		}
		bw.Write(rest[:at+len(marker)-len("[]")])
		rest = rest[at+len(marker):]
		if n == 0 {
			bw.WriteString("[]")
			continue
		}
		bw.WriteString("[\n")
		i := 0
		// write writes one element; bufio keeps the first write error:
		// stop at it, not at the end.
		write := func(el []byte) error {
			bw.WriteString("    ")
			bw.Write(el)
			if i < n-1 {
				bw.WriteString(",")
			}
			i++
			if _, err := bw.WriteString("\n"); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			return nil
		}
		if l >= 0 && r.packed != nil {
			if err := r.packed.each(l, write); err != nil {
				return err
			}
		} else {
			for j := range n {
				var v any
				var what string
				if l < 0 {
					v, what = r.Targets[j], "target "+r.Targets[j].Account+"/"+r.Targets[j].Region
				} else {
					v, what = listElement(r, l, j)
				}
				el, err := e.encode(v)
				if err != nil {
					return fmt.Errorf("encode %s: %w", what, err)
				}
				if err := write(el); err != nil {
					return err
				}
			}
		}
		if i != n {
			return fmt.Errorf("write report: %d of %d %s unpacked", i, n, key)
		}
		bw.WriteString("  ]")
	}
	bw.Write(rest)
	bw.WriteString("\n")
	return flushJSON(bw)
}

func flushJSON(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// encodeIndented is json.MarshalIndent without HTML escaping and without
// the encoder's trailing newline.
func encodeIndented(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MaxReportSize is the largest report [Read] and [ReadFile] accept: about
// two million instances. Reading one holds it in memory several times
// over; beyond this a device or a damaged file is more likely than a
// fleet, and reading on would end in running out of memory.
const MaxReportSize = 2 << 30

// ReadFile reads and checks the JSON report at path. Errors name the file;
// see [Read] for what is checked.
func ReadFile(path string) (*Report, error) {
	r, _, err := ReadFileData(path)
	return r, err
}

// ReadFileData is [ReadFile] that also returns the bytes it read, so that a
// caller needing them (to name a journal after the report) does not read
// the file twice: a pipe or a FIFO can be read only once.
func ReadFileData(path string) (*Report, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && path == "-" {
			// "-" is not standard input here: a report is read from a
			// file (remediate keeps its journal beside it).
			return nil, nil, fmt.Errorf("report -: reports are read from files, not standard input, and there is no file named -: name the report's file: %w", err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("report %s does not exist; write one with `imdsfleet scan --output %s`: %w", path, path, err)
		}
		return nil, nil, fmt.Errorf("read report %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxReportSize {
		return nil, nil, &readError{
			msg:  fmt.Sprintf("%s is %d bytes, larger than any report imdsfleet reads (%d bytes); check the path, or split the scan with --regions", path, fi.Size(), int64(MaxReportSize)),
			kind: ErrNotReport,
		}
	}
	data, err := readReport(f, path, sizeHint(f), MaxReportSize)
	if err != nil {
		return nil, nil, err
	}
	r, err := parse(data, path)
	if err != nil {
		return nil, nil, err
	}
	return r, data, nil
}

// sizeHint is the size of a regular file, else 0.
func sizeHint(f *os.File) int64 {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		return fi.Size()
	}
	return 0
}

// readReport reads a report's bytes from r: up to limit, and
// only as far as the first byte that is not blank when that byte cannot
// begin JSON (a device such as /dev/zero or /dev/urandom: parse names the
// byte, as it would for the whole input).
func readReport(r io.Reader, name string, sizeHint, limit int64) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var data []byte
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read report %s: %w", name, err)
		}
		data = append(data, b)
		if isBlank(b) || len(data) <= len(bom) && bytes.HasPrefix(bom, data) {
			if len(data) > 64<<10 {
				break // a file of blanks: read the rest as it comes
			}
			continue
		}
		if !strings.ContainsRune(`{["-0123456789tfn`, rune(b)) {
			return data, nil
		}
		break
	}
	// Read in chunks and join them once: a stream of unknown size costs
	// twice its size at most (a growing buffer costs up to four times), and
	// one that goes on past the limit only the limit.
	const chunk = 16 << 20
	chunks := [][]byte{data}
	total := int64(len(data))
	for {
		c := make([]byte, min(max(sizeHint-total, 0)+bytes.MinRead, chunk))
		n, err := io.ReadFull(br, c)
		chunks = append(chunks, c[:n])
		total += int64(n)
		if total > limit {
			return nil, &readError{
				msg:  fmt.Sprintf("%s goes on beyond %d bytes, more than any report imdsfleet reads; check the path (a device?), or split the scan with --regions", name, limit),
				kind: ErrNotReport,
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read report %s: %w", name, err)
		}
	}
	if len(chunks) == 2 && len(chunks[0]) == 0 {
		return chunks[1], nil
	}
	return bytes.Join(chunks, nil), nil
}

var bom = []byte("\ufeff")

func isBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// Read reads and checks a JSON report. It accepts only what [WriteJSON]
// writes: one JSON object with a schemaVersion in [SchemaVersionsRead]
// (a version 1 report reads with no launch sources or workloads), every
// instance with an account, a Region and an ID, known classification, risk,
// usage status and target status values, no instance twice, and no key
// that other JSON tools read differently (a key twice in one object, or a
// key matching a field only case-insensitively: see keyProblem). Fields it
// does not know are ignored, so that a report from a later imdsfleet with
// the same schema version (additive changes only) still reads. Errors wrap
// [ErrNotReport], [ErrSchemaVersion] or [ErrInvalid].
//
// Nil slices and maps in the input come back empty, not nil; instances and
// the summary are otherwise returned as written (not re-sorted or
// re-counted).
func Read(r io.Reader) (*Report, error) {
	data, err := readReport(r, "report", 0, MaxReportSize)
	if err != nil {
		return nil, err
	}
	return parse(data, "report")
}

func parse(data []byte, name string) (*Report, error) {
	// A UTF-8 byte-order mark (an editor's) is not part of the JSON text.
	data = bytes.TrimPrefix(data, bom)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &readError{
			msg:  fmt.Sprintf("%s is empty, not an imdsfleet report; re-run the scan", name),
			kind: ErrNotReport,
		}
	}
	// First only the version, so that a future schema is named as such
	// rather than reported as a field of the wrong type.
	var probe struct {
		SchemaVersion json.RawMessage `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			// Offset counts the bytes read, the offending one included:
			// it is that byte's 1-based position.
			line, col := position(data, syn.Offset-1)
			return nil, &readError{
				msg: fmt.Sprintf("%s is truncated or not JSON: %s at byte %d (line %d, column %d); re-run the scan",
					name, syn.Error(), syn.Offset, line, col),
				kind: ErrNotReport, cause: err,
			}
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, &readError{
				msg:  fmt.Sprintf("%s is not an imdsfleet report: it holds a JSON %s, not an object", name, typ.Value),
				kind: ErrNotReport, cause: err,
			}
		}
		return nil, &readError{msg: fmt.Sprintf("%s is not an imdsfleet report: %v", name, err), kind: ErrNotReport, cause: err}
	}
	var version int
	if len(probe.SchemaVersion) == 0 || string(probe.SchemaVersion) == "null" {
		return nil, &readError{
			msg:  fmt.Sprintf("%s is not an imdsfleet report: it has no schemaVersion (expected %d)", name, SchemaVersion),
			kind: ErrNotReport,
		}
	}
	if err := json.Unmarshal(probe.SchemaVersion, &version); err != nil {
		return nil, &readError{
			msg:  fmt.Sprintf("%s is not an imdsfleet report: schemaVersion is %s, expected the number %d", name, probe.SchemaVersion, SchemaVersion),
			kind: ErrNotReport, cause: err,
		}
	}
	switch {
	case version <= 0:
		return nil, &readError{
			msg:  fmt.Sprintf("%s is not an imdsfleet report: schemaVersion is %d (expected %d)", name, version, SchemaVersion),
			kind: ErrNotReport,
		}
	case !slices.Contains(SchemaVersionsRead, version):
		return nil, &readError{
			msg: fmt.Sprintf("%s: report schema version %d is not supported by this imdsfleet (supports %s); upgrade imdsfleet",
				name, version, versionList()),
			kind: ErrSchemaVersion,
		}
	}

	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		var typ *json.UnmarshalTypeError
		var perr *time.ParseError
		switch {
		case errors.As(err, &typ):
			return nil, &readError{
				msg: fmt.Sprintf("%s is not a valid imdsfleet report: field %s holds a JSON %s, expected %s (at byte %d)",
					name, typ.Field, typ.Value, typeName(typ), typ.Offset),
				kind: ErrInvalid, cause: err,
			}
		case errors.As(err, &perr):
			return nil, &readError{
				msg: fmt.Sprintf("%s is not a valid imdsfleet report: time %q is not RFC 3339 (like 2026-01-02T15:04:05Z)",
					name, perr.Value),
				kind: ErrInvalid, cause: err,
			}
		}
		return nil, &readError{msg: fmt.Sprintf("%s is not a valid imdsfleet report: %v", name, err), kind: ErrInvalid, cause: err}
	}
	if p := keyProblem(data); p != "" {
		return nil, &readError{
			msg:  fmt.Sprintf("%s is not a valid imdsfleet report: %s; re-run the scan, or fix the file by hand", name, p),
			kind: ErrInvalid,
		}
	}
	if problems := validate(&rep, version); len(problems) > 0 {
		const show = 5
		msg := strings.Join(problems[:min(show, len(problems))], "; ")
		if len(problems) > show {
			msg += fmt.Sprintf("; and %d more problems", len(problems)-show)
		}
		return nil, &readError{
			msg:  fmt.Sprintf("%s is not a valid imdsfleet report: %s; re-run the scan, or fix the file by hand", name, msg),
			kind: ErrInvalid,
		}
	}
	fillEmpty(&rep)
	return &rep, nil
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "int", "int32", "int64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "a list"
	}
	return e.Type.String()
}

// position turns a 0-based byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// validate lists every way rep breaks the schema; each entry names the
// instance or target and the field.
//
// The problems quote values from the file: they go through [SanitizeCell]
// (see quoted), since an error line is shown like any human output.
func validate(rep *Report, version int) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if rep.SchemaVersion != version {
		// The probe and the full decode disagree: a second schemaVersion
		// key, which keyProblem names; nothing more to check.
		return nil
	}
	for i, t := range rep.Targets {
		where := fmt.Sprintf("targets[%d]", i)
		if t.Account == "" {
			add("%s has no account", where)
		}
		if t.Region == "" {
			add("%s has no region", where)
		}
		if t.Status != TargetOK && t.Status != TargetError && t.Status != TargetSkipped {
			add("%s has status %s (expected %q, %q or %q)", where, quoted(t.Status), TargetOK, TargetError, TargetSkipped)
		}
	}
	badShard := func(s Shard) bool { return s.Count < 1 || s.Count > MaxShards || s.Index < 1 || s.Index > s.Count }
	if s := rep.Shard; s != nil && badShard(*s) {
		add("shard is %d/%d (expected I/N with 1 <= I <= N <= %d)", s.Index, s.Count, MaxShards)
	}
	for i, m := range rep.MergedFrom {
		if s := m.Shard; s != nil && badShard(*s) {
			add("mergedFrom[%d].shard is %d/%d (expected I/N with 1 <= I <= N <= %d)", i, s.Index, s.Count, MaxShards)
		}
	}
	if rep.ScanOptions != nil && rep.ScanOptions.Selection != nil {
		for i, s := range rep.ScanOptions.Selection.Shards {
			if badShard(s) {
				add("scanOptions.selection.shards[%d] is %d/%d (expected I/N with 1 <= I <= N <= %d)", i, s.Index, s.Count, MaxShards)
			}
		}
	}
	seen := make(map[[3]string]int, len(rep.Instances))
	for i := range rep.Instances {
		in := &rep.Instances[i]
		where := fmt.Sprintf("instances[%d]", i)
		if in.InstanceID != "" {
			where += " (" + SanitizeCell(in.InstanceID, 40) + ")"
		}
		var missing []string
		if in.Account == "" {
			missing = append(missing, "account")
		}
		if in.Region == "" {
			missing = append(missing, "region")
		}
		if in.InstanceID == "" {
			missing = append(missing, "instanceId")
		}
		if len(missing) > 0 {
			add("%s has no %s", where, strings.Join(missing, ", no "))
		}
		if !isClassification(in.Classification) {
			add("%s has classification %s (expected one of %s)", where, quoted(in.Classification), strings.Join(Classifications, ", "))
		}
		for _, k := range in.Risks {
			if !isRisk(k) || version < 2 && k == RiskNextLaunchV1 {
				add("%s has risk %s (expected one of %s)", where, quoted(k), strings.Join(risksOf(version), ", "))
			}
		}
		switch in.Usage.Status {
		case UsageComplete, UsagePartial, UsageNone, UsageError, "":
		default:
			add("%s has usage status %s (expected one of %s, %s, %s, %s)", where, quoted(in.Usage.Status),
				UsageComplete, UsagePartial, UsageNone, UsageError)
		}
		if version < 2 && (in.LaunchSource != nil || in.NextLaunch != nil) {
			add("%s has launchSource or nextLaunch, which schema version %d does not have", where, version)
		}
		if in.LaunchSource != nil && !isInstanceSourceKind(in.LaunchSource.Kind) {
			add("%s has launchSource.kind %s (expected one of %s)", where, quoted(in.LaunchSource.Kind), strings.Join(instanceSourceKinds, ", "))
		}
		if in.NextLaunch != nil {
			for _, p := range nextLaunchProblems(in.NextLaunch) {
				add("%s nextLaunch %s", where, p)
			}
		}
		if len(missing) == 0 {
			key := [3]string{in.Account, in.Region, in.InstanceID}
			if j, dup := seen[key]; dup {
				add("%s appears twice (also instances[%d])", where, j)
			} else {
				seen[key] = i
			}
		}
	}
	problems = append(problems, validateLaunch(rep, version)...)
	return problems
}

// quoted is a value from the file, sanitized, capped and in quotes, for an
// error line.
func quoted(s string) string { return `"` + SanitizeCell(s, 40) + `"` }

// fillEmpty replaces nil slices and maps with empty ones, so that a report
// read back equals the normalized one that was written.
func fillEmpty(r *Report) {
	if r.Targets == nil {
		r.Targets = []Target{}
	}
	if r.Instances == nil {
		r.Instances = []Instance{}
	}
	if r.Summary.ByClassification == nil {
		r.Summary.ByClassification = map[string]int{}
	}
	if r.Summary.ByRisk == nil {
		r.Summary.ByRisk = map[string]int{}
	}
	fillLaunchEmpty(r)
	for i := range r.Instances {
		if r.Instances[i].Tags == nil {
			r.Instances[i].Tags = map[string]string{}
		}
		if r.Instances[i].Risks == nil {
			r.Instances[i].Risks = []string{}
		}
	}
}
