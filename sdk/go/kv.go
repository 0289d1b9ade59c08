package pyjinn

import (
	"encoding/json"

	"pyjinn/abi"
)

// Keys are 1 to 256 of A-Z a-z 0-9 _ - . / = (docs/abi.md); the function's permissions grant
// namespaces: kv_read notes covers "notes" and "notes/...".

// KVGet reads a key's value; an error with code NotFound when it has none.
func KVGet(key string) ([]byte, error) {
	return takeResult(abi.KVGet(text(key), size(key)))
}

// KVSet writes a key.
func KVSet(key string, value []byte) error {
	return check(abi.KVSet(text(key), size(key), pointer(value), size(value)))
}

// KVDelete deletes a key; deleting a missing key is not an error.
func KVDelete(key string) error {
	return check(abi.KVDelete(text(key), size(key)))
}

// KVList returns the readable keys that start with prefix ("" for all).
func KVList(prefix string) ([]string, error) {
	listed, err := takeResult(abi.KVList(text(prefix), size(prefix)))
	if err != nil {
		return nil, err
	}
	var keys []string
	if json.Unmarshal(listed, &keys) != nil {
		return nil, malformed("kv_list")
	}
	return keys, nil
}

func malformed(call string) error {
	return &Error{Code: Internal, Message: call + ": the host sent a result this SDK cannot read"}
}
