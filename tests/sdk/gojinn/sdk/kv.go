//go:build wasip1

package sdk

import "unsafe"

//go:wasmimport gojinn host_kv_set
func hostKVSet(keyPtr, keyLen, valuePtr, valueLen uint32)

//go:wasmimport gojinn host_kv_get
func hostKVGet(keyPtr, keyLen, outPtr, outMax uint32) uint32

type kvStore struct{}

// KV is the host's key-value store.
var KV = kvStore{}

// Set writes a key; failures are not reported.
func (kvStore) Set(key, value string) {
	hostKVSet(address(key), uint32(len(key)), address(value), uint32(len(value)))
}

// Get reads up to 4 KiB of a key's value; found is false when it has none.
func (kvStore) Get(key string) (value string, found bool) {
	buffer := make([]byte, 4096)
	length := hostKVGet(address(key), uint32(len(key)),
		uint32(uintptr(unsafe.Pointer(&buffer[0]))), uint32(len(buffer)))
	if length == 0xFFFFFFFF {
		return "", false
	}
	return string(buffer[:length]), true
}

func address(text string) uint32 {
	if text == "" {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(text))))
}
