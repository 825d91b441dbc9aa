package wire

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Answers are encoded by appending straight into one byte slice sized up
// front: a full scan sends hundreds of 500-query GetMetricData calls, and a
// generic Value tree (or reflection) per datapoint would make the simulator
// the bottleneck.

// CBOR major types (RFC 8949).
const (
	cborUint   = 0 << 5
	cborString = 3 << 5
	cborList   = 4 << 5
	cborMap    = 5 << 5
	cborTag    = 6 << 5
	cborFloat  = 7<<5 | 27
	cborTrue   = 7<<5 | 21
)

func cborHead(b []byte, major byte, n int) []byte {
	u := uint64(n)
	switch {
	case u < 24:
		return append(b, major|byte(u))
	case u <= math.MaxUint8:
		return append(b, major|24, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(u))
	default:
		return binary.BigEndian.AppendUint64(append(b, major|27), u)
	}
}

func cborStr(b []byte, s string) []byte {
	return append(cborHead(b, cborString, len(s)), s...)
}

func cborF64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, cborFloat), math.Float64bits(f))
}

// cborTime writes a timestamp as RPC v2 CBOR does: tag 1 around epoch
// seconds as a float64.
func cborTime(b []byte, t time.Time) []byte {
	return cborF64(append(b, cborTag|1), float64(t.UnixMilli())/1e3)
}

// jsonStr appends s as a JSON string.
func jsonStr(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// jsonNum appends a finite float as a JSON number.
func jsonNum(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// jsonTime appends a timestamp as awsJson does: epoch seconds.
func jsonTime(b []byte, t time.Time) []byte {
	if t.Nanosecond() == 0 {
		return strconv.AppendInt(b, t.Unix(), 10)
	}
	return jsonNum(b, float64(t.UnixMilli())/1e3)
}

// A DocWriter appends one answer in a document protocol's encoding (RPC v2
// CBOR or awsJson). Maps and lists are announced with their length (CBOR
// needs it; JSON ignores it).
type DocWriter interface {
	Bytes() []byte
	MapStart(n int)
	MapEnd()
	ListStart(n int)
	ListEnd()
	Key(k string) // member name, inside a map
	Str(s string)
	Num(f float64)
	Time(t time.Time)
	Bool(v bool)
}

type cborWriter struct{ b []byte }

func (w *cborWriter) Bytes() []byte    { return w.b }
func (w *cborWriter) MapStart(n int)   { w.b = cborHead(w.b, cborMap, n) }
func (w *cborWriter) MapEnd()          {}
func (w *cborWriter) ListStart(n int)  { w.b = cborHead(w.b, cborList, n) }
func (w *cborWriter) ListEnd()         {}
func (w *cborWriter) Key(k string)     { w.b = cborStr(w.b, k) }
func (w *cborWriter) Str(s string)     { w.b = cborStr(w.b, s) }
func (w *cborWriter) Num(f float64)    { w.b = cborF64(w.b, f) }
func (w *cborWriter) Time(t time.Time) { w.b = cborTime(w.b, t) }
func (w *cborWriter) Bool(v bool) {
	if v {
		w.b = append(w.b, cborTrue)
	} else {
		w.b = append(w.b, cborTrue-1)
	}
}

// jsonWriter tracks whether a comma is due before the next element.
type jsonWriter struct {
	b     []byte
	comma bool
}

func (w *jsonWriter) Bytes() []byte { return w.b }
func (w *jsonWriter) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
}
func (w *jsonWriter) MapStart(int)     { w.sep(); w.b = append(w.b, '{'); w.comma = false }
func (w *jsonWriter) MapEnd()          { w.b = append(w.b, '}'); w.comma = true }
func (w *jsonWriter) ListStart(int)    { w.sep(); w.b = append(w.b, '['); w.comma = false }
func (w *jsonWriter) ListEnd()         { w.b = append(w.b, ']'); w.comma = true }
func (w *jsonWriter) Key(k string)     { w.sep(); w.b = append(jsonStr(w.b, k), ':'); w.comma = false }
func (w *jsonWriter) Str(s string)     { w.sep(); w.b = jsonStr(w.b, s); w.comma = true }
func (w *jsonWriter) Num(f float64)    { w.sep(); w.b = jsonNum(w.b, f); w.comma = true }
func (w *jsonWriter) Time(t time.Time) { w.sep(); w.b = jsonTime(w.b, t); w.comma = true }
func (w *jsonWriter) Bool(v bool)      { w.sep(); w.b = strconv.AppendBool(w.b, v); w.comma = true }
