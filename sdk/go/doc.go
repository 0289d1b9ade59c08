// Package pyjinn is the Go SDK for pyjinn functions (host ABI version 1). It uses the standard
// library only, so it builds offline with any Go from 1.21 (GOOS=wasip1 GOARCH=wasm).
// docs/abi.md describes the ABI it binds, docs/languages.md how to build with it.
//
// A function is func handle(request pyjinn.Request) pyjinn.Response, handed to Run:
//
//	package main
//
//	import "pyjinn"
//
//	func handle(request pyjinn.Request) pyjinn.Response {
//		name := request.QueryParam("name")
//		if name == "" {
//			name = "world"
//		}
//		pyjinn.Log(pyjinn.LevelInfo, "greeting "+name)
//		return pyjinn.Text(200, "Hello, "+name+"!")
//	}
//
//	func main() {
//		pyjinn.Run(handle)
//	}
//
// The function's go.mod requires module pyjinn and replaces it with this directory:
//
//	require pyjinn v0.0.0
//	replace pyjinn => ../../sdk/go
//
// Host calls fail with *Error, which carries the ABI's error code and the host's message; test
// for a code with errors.Is(err, pyjinn.ErrNotFound). Results are read into buffers of exactly
// their size: nothing is truncated.
package pyjinn

// ABIVersion is the version of the host ABI this SDK binds.
const ABIVersion = 1
