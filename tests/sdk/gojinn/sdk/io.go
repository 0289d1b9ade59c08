package sdk

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Parse reads the request from stdin.
func Parse() (Request, error) {
	var request Request
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return request, err
	}
	err = json.Unmarshal(input, &request)
	return request, err
}

// Log writes a formatted line to stderr, prefixed USER_LOG.
func Log(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "USER_LOG: %s\n", fmt.Sprintf(format, args...))
}

// SendJSON answers 200 with data encoded as JSON.
func SendJSON(data interface{}) {
	body, _ := json.Marshal(data)
	send(200, "application/json", string(body))
}

// SendHTML answers 200 with an HTML body.
func SendHTML(html string) {
	send(200, "text/html; charset=utf-8", html)
}

// SendError answers status with {"error": message}.
func SendError(status int, message string) {
	body, _ := json.Marshal(map[string]string{"error": message})
	send(status, "application/json", string(body))
}

func send(status int, contentType, body string) {
	json.NewEncoder(os.Stdout).Encode(Response{
		Status:  status,
		Headers: map[string][]string{"Content-Type": {contentType}, "X-Powered-By": {"Gojinn SDK"}},
		Body:    body,
	})
}
