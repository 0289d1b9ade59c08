//go:build wasip1

package sdk

import "unsafe"

//go:wasmimport gojinn host_http_get
func hostHTTPGet(urlPtr, urlLen, outPtr, outMax uint32) uint64

// HttpGet fetches url and returns up to 2 MiB of its body; "" on any error (Gojinn's
// successor's API).
func HttpGet(url string) string {
	buffer := make([]byte, 2*1024*1024)
	written := hostHTTPGet(address(url), uint32(len(url)),
		uint32(uintptr(unsafe.Pointer(&buffer[0]))), uint32(len(buffer)))
	return string(buffer[:written])
}
