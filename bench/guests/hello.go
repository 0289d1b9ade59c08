// hello in Go with the Go SDK (sdk/go), for the per-language figures: decodes the request as
// every SDK function does, and answers 200 text/plain "hello". Built by bench/guests.py from
// `pyjinn init --lang go`'s template (GOOS=wasip1, function names kept).
package main

import "pyjinn"

func handle(request pyjinn.Request) pyjinn.Response {
	return pyjinn.Binary(200, "text/plain", []byte("hello"))
}

func main() {
	pyjinn.Run(handle)
}
