package wire

import (
	"bytes"
	"net/http"
	"strconv"
)

// Codec is one service's way of answering in one protocol: the protocol
// plus what differs between services that share it (the XML namespace, the
// awsJson/CBOR error type names, the awsQueryCompatible error header).
type Codec struct {
	Protocol Protocol
	// Namespace is the xmlns of EC2 Query and awsQuery answers
	// ("http://ec2.amazonaws.com/doc/2016-11-15/").
	Namespace string
	// ErrorType maps an error code to the __type of a document protocol's
	// error (a modeled error's shape id, so the SDK builds its typed
	// error); nil sends the code itself.
	ErrorType func(code string) string
	// QueryCompatible marks a service with Smithy's awsQueryCompatible
	// trait (CloudWatch): its document errors also carry the awsQuery code
	// in X-Amzn-Query-Error, which the SDKs report as ErrorCode().
	QueryCompatible bool
}

// ContentType is the Content-Type of the codec's answers.
func (c Codec) ContentType() string {
	switch c.Protocol {
	case AWSJSON10:
		return "application/x-amz-json-1.0"
	case AWSJSON11:
		return "application/x-amz-json-1.1"
	case RPCv2CBOR:
		return "application/cbor"
	case EC2Query:
		return "text/xml;charset=UTF-8"
	}
	return "text/xml"
}

// SetHeaders sets the headers every answer of the codec carries.
func (c Codec) SetHeaders(h http.Header) {
	if c.Protocol == RPCv2CBOR {
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
	}
	h.Set("Content-Type", c.ContentType())
}

// Decode turns a document protocol's body into plain values
// (map[string]any, []any, string, float64, bool, time.Time).
func (c Codec) Decode(body []byte) (map[string]any, error) {
	if c.Protocol == RPCv2CBOR {
		return DecodeCBOR(body)
	}
	return DecodeJSON(body)
}

// Writer returns a document writer for an answer of about size bytes.
func (c Codec) Writer(size int) DocWriter {
	if c.Protocol == RPCv2CBOR {
		return &cborWriter{b: make([]byte, 0, size)}
	}
	return &jsonWriter{b: make([]byte, 0, size+size/2)}
}

// WriteDoc sends a document answer (HTTP 200).
func (c Codec) WriteDoc(w http.ResponseWriter, doc []byte) {
	c.SetHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

// StartXML starts an XML answer (HTTP 200) with root element root in the
// codec's namespace. EC2 Query answers carry their requestId first; an
// awsQuery answer ends with [Codec.EndXML], which adds ResponseMetadata.
func (c Codec) StartXML(w http.ResponseWriter, buf *bytes.Buffer, root, requestID string) XML {
	c.SetHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	x := XML{buf}
	x.B.WriteString(XMLHeader)
	x.B.WriteString("<" + root + ` xmlns="` + c.Namespace + `">`)
	if c.Protocol == EC2Query {
		x.Elem("requestId", requestID)
	}
	return x
}

// EndXML closes an answer StartXML began.
func (c Codec) EndXML(x XML, root, requestID string) {
	if c.Protocol != EC2Query {
		x.Open("ResponseMetadata")
		x.Elem("RequestId", requestID)
		x.Close("ResponseMetadata")
	}
	x.Close(root)
}

// WriteError writes an AWS error in the codec's shape.
func (c Codec) WriteError(w http.ResponseWriter, status int, code, message, requestID string) {
	switch c.Protocol {
	case EC2Query:
		writeEC2Error(w, status, code, message, requestID)
	case AWSJSON10, AWSJSON11, RPCv2CBOR:
		c.writeDocError(w, status, code, message, requestID)
	default:
		writeQueryError(w, c.Namespace, status, code, message, requestID)
	}
}

// writeEC2Error writes EC2's error shape.
func writeEC2Error(w http.ResponseWriter, status int, code, message, requestID string) {
	var b bytes.Buffer
	x := XML{&b}
	b.WriteString(XMLHeader)
	x.Open("Response")
	x.Open("Errors")
	x.Open("Error")
	x.Elem("Code", code)
	x.Elem("Message", message)
	x.Close("Error")
	x.Close("Errors")
	x.Elem("RequestID", requestID)
	x.Close("Response")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeQueryError writes awsQuery's error shape.
func writeQueryError(w http.ResponseWriter, ns string, status int, code, message, requestID string) {
	var b bytes.Buffer
	x := XML{&b}
	b.WriteString(XMLHeader)
	if ns != "" {
		b.WriteString(`<ErrorResponse xmlns="` + ns + `">`)
	} else {
		x.Open("ErrorResponse")
	}
	x.Open("Error")
	if status >= 500 {
		x.Elem("Type", "Receiver")
	} else {
		x.Elem("Type", "Sender")
	}
	x.Elem("Code", code)
	x.Elem("Message", message)
	x.Close("Error")
	x.Elem("RequestId", requestID)
	x.Close("ErrorResponse")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeDocError writes an awsJson or RPC v2 CBOR error: a map {__type,
// message, Message}; for awsJson also the X-Amzn-ErrorType header, for an
// awsQueryCompatible service X-Amzn-Query-Error: <Code>;Sender (Receiver
// for 5xx).
func (c Codec) writeDocError(w http.ResponseWriter, status int, code, message, requestID string) {
	typ := code
	if c.ErrorType != nil {
		typ = c.ErrorType(code)
	}
	wr := c.Writer(64 + len(typ) + 2*len(message))
	wr.MapStart(3)
	wr.Key("__type")
	wr.Str(typ)
	// "message" for the protocols' generic error readers, "Message" for the
	// members of modeled errors that spell it so.
	wr.Key("message")
	wr.Str(message)
	wr.Key("Message")
	wr.Str(message)
	wr.MapEnd()
	out := wr.Bytes()
	h := w.Header()
	c.SetHeaders(h)
	if c.QueryCompatible {
		fault := "Sender"
		if status >= 500 {
			fault = "Receiver"
		}
		h.Set("X-Amzn-Query-Error", code+";"+fault)
	}
	if c.Protocol != RPCv2CBOR {
		h.Set("X-Amzn-ErrorType", typ)
	}
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
