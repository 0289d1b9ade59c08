package pyjinn

import (
	"bytes"
	"encoding/json"

	"pyjinn/abi"
)

// HTTPResponse is an answer to an outbound request: its status, its headers (lower-case
// names, each with its values in order) and its body.
type HTTPResponse struct {
	Status  int
	Headers map[string][]string
	Body    []byte
}

// Header is the first value of header name (lower case), or "".
func (response *HTTPResponse) Header(name string) string {
	if values := response.Headers[name]; len(values) > 0 {
		return values[0]
	}
	return ""
}

// HTTPRequest sends a request (permissions { http }; only to the hosts allow_host lists).
// headers may be nil; body may be empty. Any status is an answer; the refusals are errors with
// their own codes: Denied (a host or a redirect's target not listed), AddressRefused, Limit
// (over 8 MiB, more than 5 redirects), Timeout, Unavailable, Invalid.
func HTTPRequest(method, url string, headers map[string][]string, body []byte) (*HTTPResponse, error) {
	var fields []byte
	if len(headers) > 0 {
		encoded, err := json.Marshal(headers)
		if err != nil {
			return nil, &Error{Code: Invalid, Message: "headers: " + err.Error()}
		}
		fields = encoded
	}
	answer, err := takeResult(abi.HTTPRequest(
		text(method), size(method), text(url), size(url),
		pointer(fields), size(fields), pointer(body), size(body),
	))
	if err != nil {
		return nil, err
	}
	// A JSON line {"status", "headers"}, a newline, then the body (docs/abi.md).
	malformed := &Error{Code: Internal, Message: "http_request: the host sent no answer"}
	newline := bytes.IndexByte(answer, '\n')
	if newline < 0 {
		return nil, malformed
	}
	var head struct {
		Status  int                 `json:"status"`
		Headers map[string][]string `json:"headers"`
	}
	if json.Unmarshal(answer[:newline], &head) != nil {
		return nil, malformed
	}
	return &HTTPResponse{Status: head.Status, Headers: head.Headers, Body: answer[newline+1:]}, nil
}

// HTTPGet is HTTPRequest("GET", url, nil, nil).
func HTTPGet(url string) (*HTTPResponse, error) {
	return HTTPRequest("GET", url, nil, nil)
}
