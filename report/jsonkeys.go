package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// keyProblem returns the first key of data (JSON that decoded into a
// [Report] without error) that encoding/json reads differently from other
// JSON tools, or "": a key given twice in one object (tools disagree on
// which one counts; Go takes the last), or a key that names a field of the
// schema only when compared case-insensitively ("NoTokenCalls", or "riſks"
// with a long s: Go reads it into the field, jq, Python and a reviewer's
// eyes do not). Either lets a report say one thing to whoever reviews it
// and another to remediate. Keys the schema does not know are otherwise
// allowed (a later imdsfleet may add fields); map keys (tags) are compared
// exactly, as Go reads them.
//
// It scans the bytes itself rather than through json.Decoder.Token, which
// is several times slower than decoding the report.
func keyProblem(data []byte) string {
	s := keyScanner{data: data}
	s.value(reflect.TypeFor[Report]())
	return s.problem
}

type keyScanner struct {
	data    []byte
	i       int
	path    []pathElem
	keys    [][]byte // the keys of the objects being scanned, outermost first
	problem string
}

// pathElem is one step of a JSON path: an object key or an array index.
type pathElem struct {
	key   []byte
	index int // when key is nil
}

func (s *keyScanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one JSON value whose Go type is t (nil: not read by Go).
func (s *keyScanner) value(t reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s.ws()
	if s.i >= len(s.data) {
		return
	}
	switch s.data[s.i] {
	case '{':
		s.i++
		s.object(t)
	case '[':
		s.i++
		s.array(t)
	case '"':
		s.str()
	default: // number, true, false, null
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}

// str scans a string at its opening quote and returns its raw contents
// and whether they hold an escape.
func (s *keyScanner) str() (raw []byte, escaped bool) {
	s.i++
	start := s.i
	// Fast path: the next quote, with no backslash before it.
	if q := bytes.IndexByte(s.data[start:], '"'); q >= 0 && bytes.IndexByte(s.data[start:start+q], '\\') < 0 {
		s.i = start + q + 1
		return s.data[start : start+q], false
	}
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\\':
			escaped = true
			s.i += 2
			continue
		case '"':
			raw = s.data[start:s.i]
			s.i++
			return raw, escaped
		}
		s.i++
	}
	return s.data[start:], escaped
}

func (s *keyScanner) array(t reflect.Type) {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return
	}
	for n := 0; s.i < len(s.data); n++ {
		s.path = append(s.path, pathElem{index: n})
		s.value(elem)
		s.path = s.path[:len(s.path)-1]
		if s.problem != "" {
			return
		}
		s.ws()
		if s.i < len(s.data) && s.data[s.i] == ',' {
			s.i++
			continue
		}
		s.i++ // ]
		return
	}
}

func (s *keyScanner) object(t reflect.Type) {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return
	}
	// The object's keys: on the scanner's shared stack while few (no
	// allocation per object), in a map beyond.
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	var many map[string]bool
	seen := func(key []byte) bool {
		if many != nil {
			return many[string(key)]
		}
		for _, k := range s.keys[first:] {
			if bytes.Equal(k, key) {
				return true
			}
		}
		return false
	}
	add := func(key []byte) {
		switch {
		case many != nil:
			many[string(key)] = true
		case len(s.keys)-first < 32:
			s.keys = append(s.keys, key)
		default:
			many = make(map[string]bool, 64)
			for _, k := range s.keys[first:] {
				many[string(k)] = true
			}
			many[string(key)] = true
		}
	}
	for s.i < len(s.data) {
		s.ws()
		raw, escaped := s.str()
		key := raw
		if escaped || !utf8.Valid(raw) {
			// As encoding/json reads it: escapes decoded, invalid UTF-8
			// replaced.
			var k string
			_ = json.Unmarshal(s.data[s.i-len(raw)-2:s.i], &k)
			key = []byte(k)
		}
		switch {
		case seen(key):
			s.problem = fmt.Sprintf("%s has the key %s twice (JSON tools disagree on which one counts)", s.where(), quoted(string(key)))
			return
		case fields != nil:
			if ft, ok := fields[string(key)]; ok {
				elem = ft
				break
			}
			elem = nil
			for name := range fields {
				if strings.EqualFold(name, string(key)) {
					s.problem = fmt.Sprintf("%s has the key %s, which differs from %q only in case (Go's JSON reader takes it for %s, other JSON tools do not)",
						s.where(), quoted(string(key)), name, name)
					return
				}
			}
		}
		add(key)
		s.ws()
		s.i++ // :
		s.path = append(s.path, pathElem{key: key})
		s.value(elem)
		s.path = s.path[:len(s.path)-1]
		if s.problem != "" {
			return
		}
		s.ws()
		if s.i < len(s.data) && s.data[s.i] == ',' {
			s.i++
			continue
		}
		s.i++ // }
		return
	}
}

// where names the current object for a problem line: "the report",
// "instances[3].usage".
func (s *keyScanner) where() string {
	if len(s.path) == 0 {
		return "the report"
	}
	var b strings.Builder
	for i, p := range s.path {
		switch {
		case p.key == nil:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case i > 0:
			b.WriteString(".")
			fallthrough
		default:
			b.Write(p.key)
		}
	}
	return SanitizeCell(b.String(), 80)
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of struct type t's fields to their types,
// as encoding/json names them (the tag's name, else the field's name).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
