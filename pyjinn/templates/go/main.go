// {{name}}: a pyjinn function in Go, built by `pyjinn build` (GOOS=wasip1 GOARCH=wasm).
//
// handle gets the request (method, path, query, headers, body, ...) and returns the response;
// pyjinn.Run reads the one from stdin and writes the other to stdout. The SDK's docs: sdk/go,
// and docs/languages.md.
package main

import "pyjinn"

func handle(request pyjinn.Request) pyjinn.Response {
	return pyjinn.Text(200, "Hello from {{name}} ("+request.Method+" "+request.Path+")")
}

func main() {
	pyjinn.Run(handle)
}
