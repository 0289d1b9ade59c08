package pyjinn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
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
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return Request{}, errors.New("cannot read stdin: " + err.Error())
	}
	return ParseRequest(input)
}

// envelope is the request as the host writes it.
type envelope struct {
	Method       *string         `json:"method"`
	URI          *string         `json:"uri"`
	Path         *string         `json:"path"`
	Query        json.RawMessage `json:"query"`
	Headers      json.RawMessage `json:"headers"`
	Body         *string         `json:"body"`
	BodyEncoding *string         `json:"body_encoding"`
	RemoteAddr   *string         `json:"remote_addr"`
	TraceID      *string         `json:"trace_id"`
	Tenant       *string         `json:"tenant"`
}

// ParseRequest decodes a request from its JSON text (what ReadRequest does after reading stdin).
func ParseRequest(input []byte) (Request, error) {
	var raw envelope
	if err := json.Unmarshal(input, &raw); err != nil {
		return Request{}, errors.New("not a request object: " + err.Error())
	}
	request := Request{
		Method:     value(raw.Method),
		URI:        value(raw.URI),
		Path:       value(raw.Path),
		RemoteAddr: value(raw.RemoteAddr),
		TraceID:    value(raw.TraceID),
		Tenant:     value(raw.Tenant),
	}
	var err error
	if request.Query, err = fields(raw.Query); err != nil {
		return Request{}, errors.New("field \"query\": " + err.Error())
	}
	if request.Headers, err = fields(raw.Headers); err != nil {
		return Request{}, errors.New("field \"headers\": " + err.Error())
	}
	switch encoding := value(raw.BodyEncoding); encoding {
	case "":
		request.Body = []byte(value(raw.Body))
	case "base64":
		if request.Body, err = base64.StdEncoding.DecodeString(value(raw.Body)); err != nil {
			return Request{}, errors.New("field \"body\" is not base64")
		}
	default:
		return Request{}, errors.New("unknown body_encoding " + encoding)
	}
	return request, nil
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

func value(text *string) string {
	if text == nil {
		return ""
	}
	return *text
}

// fields reads an object of name -> list of strings (or one string), keeping the order.
func fields(raw json.RawMessage) ([]Field, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	if token, err := decoder.Token(); err != nil || token != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var list []Field
	for decoder.More() {
		token, err := decoder.Token()
		if err != nil {
			return nil, err
		}
		name, _ := token.(string)
		var values json.RawMessage
		if err := decoder.Decode(&values); err != nil {
			return nil, err
		}
		var one string
		var many []string
		if json.Unmarshal(values, &one) == nil {
			list = append(list, Field{name, one})
		} else if json.Unmarshal(values, &many) == nil {
			for _, item := range many {
				list = append(list, Field{name, item})
			}
		} else {
			return nil, errors.New("the values of " + name + " are not strings")
		}
	}
	return list, nil
}
