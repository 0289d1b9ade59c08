// The Go SDK probe for tests/sdk/test_probe.py: one program whose request path picks what it
// exercises (/request, /body, /respond, /bad-header, /log, /kv). Mirrors probe.c and probe.zig.
package main

import (
	"encoding/json"
	"errors"
	"unsafe"

	"pyjinn"
	"pyjinn/abi"
)

func handle(request pyjinn.Request) pyjinn.Response {
	switch request.Path {
	case "/request":
		return describe(request)
	case "/body":
		kind := request.Header("Content-Type")
		if kind == "" {
			kind = "text/plain"
		}
		return pyjinn.Binary(200, kind, request.Body)
	case "/respond":
		return pyjinn.Response{
			Status: 201,
			Headers: []pyjinn.Header{
				{"X-Multi", "one"},
				{"Content-Type", "text/plain; charset=utf-8"},
				{"x-multi", "two"},
				{"X-Quote", "say \"hi\" \\ caf\u00e9"},
			},
			Body: []byte("line\n\t\"quoted\" \\ \x01 caf\u00e9 \U0001f600"),
		}
	case "/bad-header":
		bad := pyjinn.Response{Status: 200, Headers: []pyjinn.Header{{"X-Bad", "\xff"}}}
		if _, err := bad.Encode(); errors.Is(err, pyjinn.ErrInvalidHeader) {
			return pyjinn.Response{Status: 200, Body: []byte("InvalidHeader")}
		}
		return bad
	case "/log":
		pyjinn.Log(pyjinn.LevelDebug, "probe: debug")
		pyjinn.Log(pyjinn.LevelInfo, "probe: info")
		pyjinn.Log(pyjinn.LevelWarn, "probe: warn")
		pyjinn.Logf(pyjinn.LevelError, "probe: %s", "error")
		refused := []byte("probe: refused")
		abi.Log(7, unsafe.Pointer(&refused[0]), int32(len(refused)))
		return pyjinn.Response{Status: 200, Body: []byte(pyjinn.LastError())}
	case "/kv":
		return keyValue(request)
	}
	return pyjinn.Text(404, "no such probe")
}

func describe(request pyjinn.Request) pyjinn.Response {
	pairs := func(fields []pyjinn.Field) [][2]string {
		list := [][2]string{}
		for _, field := range fields {
			list = append(list, [2]string{field.Name, field.Value})
		}
		return list
	}
	optional := func(values []string) any {
		if len(values) == 0 {
			return nil
		}
		return values[0]
	}
	probeHeaders := request.HeaderValues("x-probe")
	if probeHeaders == nil {
		probeHeaders = []string{}
	}
	return pyjinn.JSON(200, map[string]any{
		"body_length":   len(request.Body),
		"method":        request.Method,
		"uri":           request.URI,
		"path":          request.Path,
		"remote_addr":   request.RemoteAddr,
		"trace_id":      request.TraceID,
		"tenant":        request.Tenant,
		"probe_header":  optional(request.HeaderValues("x-PROBE")),
		"absent_header": optional(request.HeaderValues("X-Absent")),
		"q":             optional(request.QueryValues("q")),
		"absent_query":  optional(request.QueryValues("Q")),
		"probe_headers": probeHeaders,
		"headers":       pairs(request.Headers),
		"query":         pairs(request.Query),
	})
}

// ?op=get|set|delete|list&key=K (the body is the value to set). Answers the status's name in
// X-Status, and the value, the keys as JSON, or the host's error message in the body.
func keyValue(request pyjinn.Request) pyjinn.Response {
	op, key := request.QueryParam("op"), request.QueryParam("key")
	var body []byte
	var err error
	switch op {
	case "get":
		body, err = pyjinn.KVGet(key)
	case "set":
		err = pyjinn.KVSet(key, request.Body)
	case "delete":
		err = pyjinn.KVDelete(key)
	case "list":
		var keys []string
		if keys, err = pyjinn.KVList(key); err == nil {
			body, _ = json.Marshal(keys)
		}
	default:
		return pyjinn.Text(400, "no such op")
	}
	status := "OK"
	var failure *pyjinn.Error
	if errors.As(err, &failure) {
		status, body = failure.Code.String(), []byte(failure.Message)
	}
	return pyjinn.Binary(200, "application/octet-stream", body).WithHeader("X-Status", status)
}

func main() {
	pyjinn.Run(handle)
}
