package wire

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// XML writes XML by hand into a buffer: the answers are large (a page of
// 1,000 instances) and encoding/xml's reflection is the slow part.
type XML struct{ B *bytes.Buffer }

// Open writes <tag>.
func (x XML) Open(tag string) {
	x.B.WriteByte('<')
	x.B.WriteString(tag)
	x.B.WriteByte('>')
}

// Close writes </tag>.
func (x XML) Close(tag string) {
	x.B.WriteString("</")
	x.B.WriteString(tag)
	x.B.WriteByte('>')
}

// Elem writes <tag>escaped value</tag>.
func (x XML) Elem(tag, v string) {
	x.Open(tag)
	x.Text(v)
	x.Close(tag)
}

// ElemInt writes <tag>v</tag>.
func (x XML) ElemInt(tag string, v int64) {
	x.Open(tag)
	var buf [20]byte
	x.B.Write(strconv.AppendInt(buf[:0], v, 10))
	x.Close(tag)
}

// Text writes v escaped; the common case (nothing to escape) copies it.
func (x XML) Text(v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '<' || c == '>' || c == '&' || c == '\'' || c == '"' || c < 0x20 || c >= 0x80 {
			_ = xml.EscapeText(x.B, []byte(v))
			return
		}
	}
	x.B.WriteString(v)
}

// ElemBool writes <tag>true</tag> or <tag>false</tag>.
func (x XML) ElemBool(tag string, v bool) {
	x.Elem(tag, strconv.FormatBool(v))
}

// Raw writes s as it is (an empty element such as "<groupSet/>").
func (x XML) Raw(s string) { x.B.WriteString(s) }

// XMLHeader starts every XML answer.
const XMLHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
