package pyjinn

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Field is one header or query parameter value. A name with several values has one Field per
// value, in the order they arrived.
type Field struct {
	Name  string
	Value string
}

// Request is one HTTP request, decoded from the JSON on stdin (docs/contract.md). Missing text
// fields are "".
type Request struct {
	Method string // GET, POST, ...
	URI    string // the request target as sent: path and query
	Path   string // the decoded path
	Query  []Field
	// Headers have their names in canonical form: Content-Type.
	Headers    []Field
	Body       []byte // decoded when it travelled as base64
	RemoteAddr string // the client's ip:port
	TraceID    string // 32 hex digits
	Tenant     string // the tenant the request acts for ("" when not sent)
}

// ReadRequest reads the whole request from stdin and decodes it.
func ReadRequest() (Request, error) {
	input, err := readStdin()
	if err != nil {
		return Request{}, errors.New("cannot read stdin: " + err.Error())
	}
	return ParseRequest(input)
}

// ParseRequest decodes a request from its JSON text (what ReadRequest does after reading stdin).
// Unknown fields are skipped; a missing or null text field is "".
func ParseRequest(input []byte) (Request, error) {
	var request Request
	var body, encoding string
	r := reader{data: input}
	if !r.take('{') {
		return Request{}, errors.New("not a JSON object")
	}
	if !r.take('}') {
		for {
			name, err := r.str()
			if err != nil || !r.take(':') {
				return Request{}, errors.New("malformed JSON")
			}
			if err := request.field(&r, name, &body, &encoding); err != nil {
				return Request{}, errors.New("field \"" + name + "\": " + err.Error())
			}
			if r.take('}') {
				break
			}
			if !r.take(',') {
				return Request{}, errors.New("malformed JSON")
			}
		}
	}
	if r.space(); r.at != len(r.data) {
		return Request{}, errors.New("text after the JSON object")
	}
	switch encoding {
	case "":
		request.Body = []byte(body)
	case "base64":
		decoded, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return Request{}, errors.New("field \"body\" is not base64")
		}
		request.Body = decoded
	default:
		return Request{}, errors.New("unknown body_encoding " + encoding)
	}
	return request, nil
}

// field reads the value of member name into the request.
func (request *Request) field(r *reader, name string, body, encoding *string) error {
	var err error
	switch name {
	case "method":
		request.Method, err = r.optionalString()
	case "uri":
		request.URI, err = r.optionalString()
	case "path":
		request.Path, err = r.optionalString()
	case "remote_addr":
		request.RemoteAddr, err = r.optionalString()
	case "trace_id":
		request.TraceID, err = r.optionalString()
	case "tenant":
		request.Tenant, err = r.optionalString()
	case "body":
		*body, err = r.optionalString()
	case "body_encoding":
		*encoding, err = r.optionalString()
	case "headers":
		request.Headers, err = r.fields()
	case "query":
		request.Query, err = r.fields()
	default:
		err = r.skip(0) // a field this SDK does not know yet
	}
	return err
}

// Header is the first value of header name, compared without regard to ASCII case ("" when
// there is none).
func (request Request) Header(name string) string {
	values := request.HeaderValues(name)
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// HeaderValues is every value of header name, compared without regard to ASCII case.
func (request Request) HeaderValues(name string) []string {
	var values []string
	for _, field := range request.Headers {
		if strings.EqualFold(field.Name, name) {
			values = append(values, field.Value)
		}
	}
	return values
}

// QueryParam is the first value of query parameter name, compared exactly ("" when none).
func (request Request) QueryParam(name string) string {
	values := request.QueryValues(name)
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// QueryValues is every value of query parameter name, compared exactly.
func (request Request) QueryValues(name string) []string {
	var values []string
	for _, field := range request.Query {
		if field.Name == name {
			values = append(values, field.Value)
		}
	}
	return values
}

// HasQueryParam reports whether query parameter name was sent (with any value, even "").
func (request Request) HasQueryParam(name string) bool {
	return len(request.QueryValues(name)) > 0
}
