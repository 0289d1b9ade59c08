// links: a link shortener on the key-value store, written with the Go SDK (sdk/go).
//
//	POST /links          the body is an http(s) URL: answers 201 {"code": CODE, "url": URL}
//	GET  /links/CODE     redirects (302) to the URL
//	GET  /links          the codes, as a JSON array
//
// CODE is the first 10 hex digits of the URL's SHA-256, so shortening a URL twice gives the
// same code. Link CODE is key "links/CODE"; the Caddyfile grants kv_read and kv_write on the
// namespace "links". Host errors become HTTP statuses, with the host's message.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"

	"pyjinn"
)

const namespace = "links/"

func handle(request pyjinn.Request) pyjinn.Response {
	code := strings.TrimPrefix(strings.TrimPrefix(request.Path, "/links"), "/")
	switch {
	case request.Method == "POST" && code == "":
		return shorten(strings.TrimSpace(string(request.Body)))
	case request.Method == "GET" && code == "":
		return list()
	case request.Method == "GET":
		return follow(code)
	}
	return failure(405, "use POST /links, GET /links or GET /links/CODE")
}

func shorten(target string) pyjinn.Response {
	parsed, err := url.Parse(target)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return failure(400, "the body must be an http or https URL")
	}
	digest := sha256.Sum256([]byte(target))
	code := hex.EncodeToString(digest[:5])
	if err := pyjinn.KVSet(namespace+code, []byte(target)); err != nil {
		return hostFailure(err)
	}
	pyjinn.Logf(pyjinn.LevelInfo, "links: %s is %s", code, target)
	return pyjinn.JSON(201, map[string]string{"code": code, "url": target})
}

func follow(code string) pyjinn.Response {
	target, err := pyjinn.KVGet(namespace + code)
	if err != nil {
		return hostFailure(err)
	}
	return pyjinn.Text(302, "see "+string(target)).WithHeader("Location", string(target))
}

func list() pyjinn.Response {
	keys, err := pyjinn.KVList(namespace)
	if err != nil {
		return hostFailure(err)
	}
	codes := make([]string, 0, len(keys))
	for _, key := range keys {
		codes = append(codes, strings.TrimPrefix(key, namespace))
	}
	return pyjinn.JSON(200, codes)
}

func hostFailure(err error) pyjinn.Response {
	var failed *pyjinn.Error
	if !errors.As(err, &failed) {
		return failure(500, err.Error())
	}
	status := map[pyjinn.Code]int{
		pyjinn.NotFound:    404,
		pyjinn.Denied:      403,
		pyjinn.Invalid:     400,
		pyjinn.Unavailable: 503,
		pyjinn.Limit:       413,
	}[failed.Code]
	if status == 0 {
		status = 500
	}
	return failure(status, failed.Message)
}

func failure(status int, message string) pyjinn.Response {
	return pyjinn.JSON(status, map[string]string{"error": message})
}

func main() {
	pyjinn.Run(handle)
}
