package sim

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
)

// xw writes XML by hand into a buffer: the answers are large (a page of
// 1,000 instances) and encoding/xml's reflection is the slow part.
type xw struct{ b *bytes.Buffer }

func (x xw) open(tag string) {
	x.b.WriteByte('<')
	x.b.WriteString(tag)
	x.b.WriteByte('>')
}

func (x xw) close(tag string) {
	x.b.WriteString("</")
	x.b.WriteString(tag)
	x.b.WriteByte('>')
}

// elem writes <tag>escaped value</tag>.
func (x xw) elem(tag, v string) {
	x.open(tag)
	x.text(v)
	x.close(tag)
}

func (x xw) elemInt(tag string, v int64) {
	x.open(tag)
	var buf [20]byte
	x.b.Write(strconv.AppendInt(buf[:0], v, 10))
	x.close(tag)
}

// text writes v escaped; the common case (nothing to escape) copies it.
func (x xw) text(v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '<' || c == '>' || c == '&' || c == '\'' || c == '"' || c < 0x20 || c >= 0x80 {
			_ = xml.EscapeText(x.b, []byte(v))
			return
		}
	}
	x.b.WriteString(v)
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// writeEC2Error writes EC2's error shape.
func writeEC2Error(w http.ResponseWriter, status int, code, message, requestID string) {
	var b bytes.Buffer
	x := xw{&b}
	b.WriteString(xmlHeader)
	x.open("Response")
	x.open("Errors")
	x.open("Error")
	x.elem("Code", code)
	x.elem("Message", message)
	x.close("Error")
	x.close("Errors")
	x.elem("RequestID", requestID)
	x.close("Response")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeSTSError writes STS's (awsquery) error shape.
func writeSTSError(w http.ResponseWriter, status int, code, message, requestID string) {
	var b bytes.Buffer
	x := xw{&b}
	b.WriteString(xmlHeader)
	b.WriteString(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`)
	x.open("Error")
	if status >= 500 {
		x.elem("Type", "Receiver")
	} else {
		x.elem("Type", "Sender")
	}
	x.elem("Code", code)
	x.elem("Message", message)
	x.close("Error")
	x.elem("RequestId", requestID)
	x.close("ErrorResponse")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
