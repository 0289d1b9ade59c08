package pyjinn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Header is one response header value; add a name several times to send several values.
type Header struct {
	Name  string
	Value string
}

// Response is one HTTP response: a status, headers and a body.
type Response struct {
	Status  int
	Headers []Header
	Body    []byte
}

// ErrInvalidHeader is what Encode (and so Respond) returns for a header name or value that is
// not UTF-8: it is refused, not mangled.
var ErrInvalidHeader = errors.New("pyjinn: a response header name or value is not UTF-8")

// Text is a text/plain; charset=utf-8 response.
func Text(status int, body string) Response {
	return Binary(status, "text/plain; charset=utf-8", []byte(body))
}

// JSON is an application/json response with value encoded by encoding/json.
func JSON(status int, value any) Response {
	body, err := json.Marshal(value)
	if err != nil {
		return Text(500, "pyjinn: cannot encode the response as JSON: "+err.Error())
	}
	return Binary(status, "application/json", body)
}

// Binary is a response with the given content type and body (any bytes).
func Binary(status int, contentType string, body []byte) Response {
	return Response{Status: status, Headers: []Header{{"Content-Type", contentType}}, Body: body}
}

// WithHeader returns the response with one more header value.
func (response Response) WithHeader(name, value string) Response {
	response.Headers = append(append([]Header(nil), response.Headers...), Header{name, value})
	return response
}

// Encode is the JSON document pyjinn reads: {"status", "headers", "body"}. Headers of the same
// name (any case) become one list, under the first spelling; a body that is not UTF-8 is
// base64-encoded with "body_encoding": "base64", so any bytes arrive intact.
func (response Response) Encode() ([]byte, error) {
	for _, header := range response.Headers {
		if !utf8.ValidString(header.Name) || !utf8.ValidString(header.Value) {
			return nil, ErrInvalidHeader
		}
	}
	var out bytes.Buffer
	out.Grow(len(response.Body) + 64)
	out.WriteString(`{"status":` + strconv.Itoa(response.Status) + `,"headers":{`)
	var listed []string
	for _, header := range response.Headers {
		if contains(listed, header.Name) {
			continue
		}
		if len(listed) > 0 {
			out.WriteByte(',')
		}
		listed = append(listed, header.Name)
		writeString(&out, header.Name)
		out.WriteString(":[")
		first := true
		for _, other := range response.Headers {
			if strings.EqualFold(other.Name, header.Name) {
				if !first {
					out.WriteByte(',')
				}
				first = false
				writeString(&out, other.Value)
			}
		}
		out.WriteByte(']')
	}
	out.WriteString(`},"body":`)
	if utf8.Valid(response.Body) {
		writeString(&out, string(response.Body))
	} else {
		out.WriteString(`"` + base64.StdEncoding.EncodeToString(response.Body) + `","body_encoding":"base64"`)
	}
	out.WriteString("}\n")
	return out.Bytes(), nil
}

// Respond writes the response to stdout (call it once: the response is one object).
func Respond(response Response) error {
	encoded, err := response.Encode()
	if err != nil {
		return err
	}
	return writeStdout(encoded)
}

// Run reads the request from stdin, calls handle, and writes its response to stdout.
//
// A request that cannot be decoded (which pyjinn never sends) is answered 400 with
// {"error": "invalid request: ..."} without calling handle. A response that cannot be written
// (a header that is not UTF-8, or stdout failing) ends the function with status 1, a failed
// invocation, after saying why on stderr.
func Run(handle func(Request) Response) {
	var response Response
	if request, err := ReadRequest(); err != nil {
		response = JSON(400, map[string]string{"error": "invalid request: " + err.Error()})
	} else {
		response = handle(request)
	}
	if err := Respond(response); err != nil {
		writeStderr("pyjinn: cannot write the response: " + err.Error() + "\n")
		exit(1)
	}
}

func contains(names []string, name string) bool {
	for _, other := range names {
		if strings.EqualFold(other, name) {
			return true
		}
	}
	return false
}

// writeString writes valid UTF-8 text as a JSON string, escaping only what JSON requires.
func writeString(out *bytes.Buffer, text string) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	start := 0
	for index := 0; index < len(text); index++ {
		c := text[index]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out.WriteString(text[start:index])
		switch c {
		case '"', '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		default:
			out.WriteString(`\u00`)
			out.WriteByte(hex[c>>4])
			out.WriteByte(hex[c&15])
		}
		start = index + 1
	}
	out.WriteString(text[start:])
	out.WriteByte('"')
}
